package clients_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/jwtd/jwtd/clients"
)

func TestNarrowScope(t *testing.T) {
	allowed := []string{"read", "write", "a:b"}
	tests := []struct {
		name, requested, want string
		err                   error
	}{
		{"none", "", "", nil},
		{"one", "read", "read", nil},
		{"deduplicated in request order", "write read write", "write read", nil},
		{"outside allowed", "read admin", "", clients.ErrScopeExceeds},
		{"double space", "read  write", "", clients.ErrScopeSyntax},
		{"leading space", " read", "", clients.ErrScopeSyntax},
		{"quote", `re"ad`, "", clients.ErrScopeSyntax},
		{"backslash", `re\ad`, "", clients.ErrScopeSyntax},
		{"non-ASCII", "lesé", "", clients.ErrScopeSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clients.NarrowScope(tt.requested, allowed)
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("NarrowScope(%q): %q, %v, want %q, %v", tt.requested, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestAudience(t *testing.T) {
	def := []string{"api"}
	own := &clients.Client{ID: "own", Audiences: []string{"billing", "reports"}}
	none := &clients.Client{ID: "none"}
	both := &clients.Client{ID: "both", Audiences: []string{"api", "billing"}}
	tests := []struct {
		name      string
		cl        *clients.Client
		requested []string
		want      []string
		err       error
	}{
		{"default for a client without audiences", none, nil, def, nil},
		{"default when the client may have it", both, nil, def, nil},
		{"own audiences when it may not", own, nil, []string{"billing", "reports"}, nil},
		{"requested, deduplicated", own, []string{"reports", "billing", "reports"}, []string{"reports", "billing"}, nil},
		{"requested outside its audiences", own, []string{"api"}, nil, clients.ErrAudienceExceeds},
		{"requested outside the default", none, []string{"billing"}, nil, clients.ErrAudienceExceeds},
		{"empty audience", both, []string{""}, nil, clients.ErrAudienceExceeds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cl.Audience(tt.requested, def)
			if !slices.Equal(got, tt.want) || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("%s.Audience(%q): %q, %v, want %q, %v", tt.cl.ID, tt.requested, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestNarrow(t *testing.T) {
	def := []string{"api"}
	tests := []struct {
		name      string
		cl        *clients.Client
		scope     string
		aud       []string
		wantScope string
		wantAud   []string
		err       error
	}{
		{"nothing lost", &clients.Client{Scopes: []string{"read", "write"}, Audiences: []string{"api", "billing"}}, "read write", []string{"api", "billing"}, "read write", []string{"api", "billing"}, nil},
		{"scope and audience cut", &clients.Client{Scopes: []string{"read"}, Audiences: []string{"billing"}}, "read write", []string{"api", "billing"}, "read", []string{"billing"}, nil},
		{"default audience for a client without its own", &clients.Client{Scopes: []string{"read"}}, "read", []string{"api", "billing"}, "read", []string{"api"}, nil},
		{"no audience left", &clients.Client{Scopes: []string{"read"}, Audiences: []string{"reports"}}, "read", []string{"api"}, "", nil, clients.ErrNoAudienceLeft},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scope, aud, err := tt.cl.Narrow(tt.scope, tt.aud, def)
			if scope != tt.wantScope || !slices.Equal(aud, tt.wantAud) || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Narrow(%q, %q): %q, %q, %v, want %q, %q, %v", tt.scope, tt.aud, scope, aud, err, tt.wantScope, tt.wantAud, tt.err)
			}
		})
	}
}
