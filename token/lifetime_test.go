package token_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jwtd/jwtd/token"
)

func unix(t time.Time) string { return fmt.Sprint(t.Unix()) }

// TestVerifyLifetimes: a token signed with jwtd's key but with times jwtd
// never mints is refused; the extreme ones it does mint are accepted.
func TestVerifyLifetimes(t *testing.T) {
	f := newFixture(t, "ES256")
	now := f.now
	at := func(d time.Duration) string { return unix(now.Add(d)) }
	const (
		accessMax  = 15*time.Minute + 30*time.Second // access_ttl + leeway
		refreshMax = 24*time.Hour + 30*time.Second   // refresh_ttl + leeway
		codeMax    = token.CodeTTL + 30*time.Second
		sessionMax = 72*time.Hour + 30*time.Second // session_max_age + leeway
	)
	tests := []struct {
		kind, name string
		tm         times
		want       error
	}{
		{"access", "as minted", times{at(0), at(0), at(15 * time.Minute), at(0)}, nil},
		{"access", "exp ten years out", times{at(0), at(0), at(10 * 365 * 24 * time.Hour), at(0)}, token.ErrLifetime},
		{"access", "exp - iat = access_ttl + leeway", times{at(0), at(0), at(accessMax), at(0)}, nil},
		{"access", "exp - iat one second more", times{at(0), at(0), at(accessMax + time.Second), at(0)}, token.ErrLifetime},
		{"access", "iat an hour ago, exp soon", times{at(-time.Hour), at(-time.Hour), at(time.Minute), at(-time.Hour)}, token.ErrLifetime},
		{"access", "no auth_time", times{at(0), at(0), at(15 * time.Minute), ""}, nil},
		{"access", "no auth_time, exp ten years out", times{at(0), at(0), at(10 * 365 * 24 * time.Hour), ""}, token.ErrLifetime},
		{"access", "auth_time after iat", times{at(-time.Minute), at(-time.Minute), at(time.Minute), at(0)}, token.ErrLifetime},
		{"access", "exp at the session end + leeway", times{at(0), at(0), at(15 * time.Minute), unix(now.Add(15 * time.Minute).Add(-sessionMax))}, nil},
		{"access", "exp past the session end", times{at(0), at(0), at(15 * time.Minute), unix(now.Add(15 * time.Minute).Add(-sessionMax - time.Second))}, token.ErrLifetime},
		{"access", "exp as a string", times{at(0), at(0), `"` + at(10*time.Minute) + `"`, at(0)}, token.ErrMalformed},
		{"access", "exp as the string 1999999999", times{at(0), at(0), `"1999999999"`, at(0)}, token.ErrMalformed},
		{"access", "iat as a string", times{`"` + at(0) + `"`, at(0), at(10 * time.Minute), at(0)}, token.ErrMalformed},
		{"access", "nbf as a string", times{at(0), `"` + at(0) + `"`, at(10 * time.Minute), at(0)}, token.ErrMalformed},
		{"access", "auth_time as a string", times{at(0), at(0), at(10 * time.Minute), `"` + at(0) + `"`}, token.ErrMalformed},
		{"access", "exp as a bool", times{at(0), at(0), `true`, at(0)}, token.ErrMalformed},
		{"access", "exp as an object", times{at(0), at(0), `{"n":1}`, at(0)}, token.ErrMalformed},
		{"access", "exp null", times{at(0), at(0), `null`, at(0)}, token.ErrMalformed},
		{"access", "auth_time null", times{at(0), at(0), at(10 * time.Minute), `null`}, token.ErrMalformed},
		{"access", "exp with a fraction", times{at(0), at(0), at(10*time.Minute) + ".5", at(0)}, nil},
		{"refresh", "as minted", times{at(0), at(0), at(24 * time.Hour), at(0)}, nil},
		{"refresh", "exp - iat = refresh_ttl + leeway", times{at(0), at(0), at(refreshMax), at(0)}, nil},
		{"refresh", "exp - iat one second more", times{at(0), at(0), at(refreshMax + time.Second), at(0)}, token.ErrLifetime},
		{"refresh", "exp ten years out", times{at(0), at(0), at(10 * 365 * 24 * time.Hour), at(0)}, token.ErrLifetime},
		{"refresh", "rotated: auth_time two days ago", times{at(0), at(0), at(24 * time.Hour), at(-48 * time.Hour)}, nil},
		{"refresh", "exp past the session end", times{at(0), at(0), at(24 * time.Hour), at(24*time.Hour - sessionMax - time.Second)}, token.ErrLifetime},
		{"refresh", "auth_time after iat", times{at(-time.Minute), at(-time.Minute), at(time.Hour), at(0)}, token.ErrLifetime},
		{"refresh", "exp as a string", times{at(0), at(0), `"` + at(time.Hour) + `"`, at(0)}, token.ErrMalformed},
		{"refresh", "auth_time as a string", times{at(0), at(0), at(time.Hour), `"` + at(0) + `"`}, token.ErrMalformed},
		{"code", "as minted", times{at(0), at(0), at(token.CodeTTL), ""}, nil},
		{"code", "exp - iat = code ttl + leeway", times{at(0), at(0), at(codeMax), ""}, nil},
		{"code", "exp - iat one second more", times{at(0), at(0), at(codeMax + time.Second), ""}, token.ErrLifetime},
		{"code", "exp a day out", times{at(0), at(0), at(24 * time.Hour), ""}, token.ErrLifetime},
		{"code", "iat as a string", times{`"` + at(0) + `"`, at(0), at(time.Minute), ""}, token.ErrMalformed},
	}
	kinds := map[string]kind{}
	for _, k := range f.kinds() {
		kinds[k.name] = k
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.name, func(t *testing.T) {
			k := kinds[tt.kind]
			payload := f.payload(tt.kind, tt.tm)
			err := k.verify(context.Background(), forgeRaw(t, k.ring, k.typ, payload))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("%s(%s): err = %v, want %v", k.name, payload, err, tt.want)
			}
		})
	}
}

// TestMintedLifetimesVerify: what Mint and MintCode write at the edges of
// the session verifies.
func TestMintedLifetimesVerify(t *testing.T) {
	f := newFixture(t, "EdDSA")
	ctx := context.Background()
	for _, age := range []time.Duration{0, time.Hour, 71 * time.Hour, 72*time.Hour - time.Second} {
		s := f.session()
		s.AuthTime = f.now.Add(-age)
		p, err := f.issuer.Mint(s, f.issuer.NewStamp(), true)
		if err != nil {
			t.Fatalf("Mint(auth_time %s ago): %v", age, err)
		}
		if _, err := f.verifier.Access(ctx, p.Access); err != nil {
			t.Errorf("Access(minted, auth_time %s ago): %v", age, err)
		}
		if _, err := f.verifier.Refresh(ctx, p.Refresh); err != nil {
			t.Errorf("Refresh(minted, auth_time %s ago): %v", age, err)
		}
	}
	cc := f.session()
	cc.SID = "" // client credentials: no session cap
	p, err := f.issuer.Mint(cc, f.issuer.NewStamp(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Access(ctx, p.Access); err != nil {
		t.Errorf("Access(client credentials): %v", err)
	}
	code, _, err := f.issuer.MintCode(f.session(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Code(ctx, code); err != nil {
		t.Errorf("Code(minted): %v", err)
	}
}

// TestLowerAccessTTL pins what lowering tokens.access_ttl does: access
// tokens minted under the longer TTL stop verifying at once (their
// clients refresh), refresh tokens are untouched.
func TestLowerAccessTTL(t *testing.T) {
	f := newFixture(t, "ES256")
	p := f.mint(t)
	lower := f.opts
	lower.AccessTTL = 5 * time.Minute
	v := token.NewVerifier(lower, f.access, f.refresh)
	if _, err := v.Access(context.Background(), p.Access); !errors.Is(err, token.ErrLifetime) {
		t.Fatalf("Access(15m token, access_ttl 5m): err = %v, want %v", err, token.ErrLifetime)
	}
	if _, err := v.Refresh(context.Background(), p.Refresh); err != nil {
		t.Fatalf("Refresh(after lowering access_ttl): %v", err)
	}
}
