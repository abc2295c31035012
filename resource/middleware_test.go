package resource_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/resource"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// TestMiddlewareHeader: every shape of Authorization header gets its RFC
// 6750 answer, and none echoes what was sent.
func TestMiddlewareHeader(t *testing.T) {
	f := newFixture(t, "ES256")
	raw, _ := f.accessToken(t)
	pair := f.mint(t, f.session("read"))
	kid, _, priv, _ := f.access.SigningKey()
	expired := forge(t, jwt.SigningMethodES256, priv, map[string]any{"kid": kid, "typ": "at+jwt"}, with(f.claims(), "exp", f.now.Add(-time.Hour).Unix()))
	h := f.v.Middleware("read")(protected)
	const (
		missing   = "missing bearer token"
		malformed = "malformed bearer token"
	)
	bare := "Bearer"
	badRequest := func(desc string) string {
		return `Bearer error="invalid_request", error_description="` + desc + `"`
	}
	tests := []struct {
		name      string
		authz     []string
		status    int
		code      string
		desc      string
		challenge string
	}{
		{"valid", []string{"Bearer " + raw}, 200, "", "", ""},
		{"lowercase scheme (RFC 9110 §11.1)", []string{"bearer " + raw}, 200, "", "", ""},
		{"uppercase scheme", []string{"BEARER " + raw}, 200, "", "", ""},
		{"two spaces (1*SP)", []string{"Bearer  " + raw}, 200, "", "", ""},
		{"no header", nil, 401, "invalid_token", missing, bare},
		{"Basic credentials", []string{"Basic YWxpY2U6c2VjcmV0"}, 401, "invalid_token", missing, bare},
		{"DPoP scheme", []string{"DPoP " + raw}, 401, "invalid_token", missing, bare},
		{"Bearerx scheme", []string{"Bearerx " + raw}, 401, "invalid_token", missing, bare},
		{"two Authorization headers", []string{"Bearer " + raw, "Bearer " + raw}, 400, "invalid_request", "more than one Authorization header", badRequest("more than one Authorization header")},
		{"Bearer and Basic", []string{"Bearer " + raw, "Basic YWxpY2U6c2VjcmV0"}, 400, "invalid_request", "more than one Authorization header", badRequest("more than one Authorization header")},
		{"Bearer alone", []string{"Bearer"}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"Bearer and a space", []string{"Bearer "}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"a tab for the space", []string{"Bearer\t" + raw}, 400, "invalid_request", "malformed Authorization header", badRequest("malformed Authorization header")},
		{"empty header", []string{""}, 400, "invalid_request", "malformed Authorization header", badRequest("malformed Authorization header")},
		{"a trailing space", []string{"Bearer " + raw + " "}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"two tokens", []string{"Bearer " + raw + " " + raw}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"a comma list", []string{"Bearer " + raw + ", Basic YWxpY2U6c2VjcmV0"}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"a quoted token", []string{`Bearer "` + raw + `"`}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"a control character", []string{"Bearer " + raw[:10] + "\x00" + raw[10:]}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"non-ASCII", []string{"Bearer " + raw + "é"}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"only padding", []string{"Bearer ==="}, 400, "invalid_request", malformed, badRequest(malformed)},
		{"oversize", []string{"Bearer " + strings.Repeat("a", token.MaxTokenBytes+1)}, 401, "invalid_token", "token too large", invalidToken("token too large")},
		{"garbage b64token", []string{"Bearer abc.def.ghi"}, 401, "invalid_token", "token malformed", invalidToken("token malformed")},
		{"padded token", []string{"Bearer " + raw + "=="}, 401, "invalid_token", "token malformed", invalidToken("token malformed")},
		{"refresh token", []string{"Bearer " + pair.Refresh}, 401, "invalid_token", "wrong token type", invalidToken("wrong token type")},
		{"expired", []string{"Bearer " + expired}, 401, "invalid_token", "token expired", invalidToken("token expired")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serve(h, tt.authz...)
			secret := ""
			if len(tt.authz) > 0 {
				secret = raw[len(raw)-20:] // the signature's tail
			}
			wantAnswer(t, "GET /things "+tt.name, got, tt.status, tt.code, tt.desc, tt.challenge, secret)
			if tt.status == 200 && got.body != `alice|read write|"acme"` {
				t.Fatalf("GET /things %s: handler saw %q, want the token's claims", tt.name, got.body)
			}
		})
	}
}

// TestMiddlewareScope: every required scope must be one of the token's
// space-separated scope-tokens, exactly; 403 names what the route needs.
func TestMiddlewareScope(t *testing.T) {
	f := newFixture(t, "ES256")
	insufficient := func(scope string) string {
		return `Bearer error="insufficient_scope", error_description="token lacks a required scope", scope="` + scope + `"`
	}
	tests := []struct {
		name     string
		granted  string
		required []string
		ok       bool
	}{
		{"none required, none granted", "", nil, true},
		{"one of two", "read write", []string{"read"}, true},
		{"both, in the other order", "read write", []string{"write", "read"}, true},
		{"the last", "read write admin", []string{"admin"}, true},
		{"missing", "read write", []string{"admin"}, false},
		{"one of two missing", "read", []string{"read", "write"}, false},
		{"none granted", "", []string{"read"}, false},
		{"case differs", "READ", []string{"read"}, false},
		{"prefix", "readwrite", []string{"read"}, false},
		{"a longer scope", "read:all", []string{"read"}, false},
		{"tab-separated", "read\twrite", []string{"read"}, false},
		{"tab-separated, the second", "read\twrite", []string{"write"}, false},
		{"comma-separated", "read,write", []string{"read"}, false},
		{"newline-separated", "read\nwrite", []string{"write"}, false},
		{"two spaces between", "read  write", []string{"write"}, true},
		{"a leading space", " read", []string{"read"}, true},
		{"a trailing space", "read ", []string{"read"}, true},
		{"only spaces", "   ", []string{"read"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := f.mint(t, f.session(tt.granted)).Access
			got := serve(f.v.Middleware(tt.required...)(protected), "Bearer "+raw)
			if tt.ok {
				wantAnswer(t, "GET /things "+tt.name, got, 200, "", "", "", "")
				return
			}
			wantAnswer(t, "GET /things "+tt.name, got, 403, "insufficient_scope", "token lacks a required scope",
				insufficient(strings.Join(tt.required, " ")), raw[len(raw)-20:])
		})
	}
}

// TestMiddlewareBadScope: a route scope that can never be granted is a
// programming error, refused when the route is set up.
func TestMiddlewareBadScope(t *testing.T) {
	f := newFixture(t, "ES256")
	for _, s := range []string{"", "read write", `a"b`, `a\b`, "tab\t", "é"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Middleware(%q): no panic, want one", s)
				}
			}()
			f.v.Middleware("read", s)
		}()
	}
	f.v.Middleware("read", "write:all", "a!#$%&'()*+,-./:;<=>?@[]^_`{|}~") // every scope-token character
}

// TestMiddlewareDenylist: a revoked token is 401; a Denylist that cannot
// say is 503 with Retry-After when failing closed, and served when open.
func TestMiddlewareDenylist(t *testing.T) {
	ctx := context.Background()
	stale := downList{errors.New("mirror 5s stale, bound 3s")}
	tests := []struct {
		name      string
		deny      resource.Denylist
		failOpen  bool
		revoke    bool
		status    int
		code      string
		desc      string
		challenge string
	}{
		{"live", nil, false, false, 200, "", "", ""},
		{"session revoked", nil, false, true, 401, "invalid_token", "token revoked", invalidToken("token revoked")},
		{"session revoked, fail open", nil, true, true, 401, "invalid_token", "token revoked", invalidToken("token revoked")},
		{"unavailable", stale, false, false, 503, "temporarily_unavailable", "revocation state unavailable; retry later", ""},
		{"unavailable, fail open", stale, true, false, 200, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "ES256")
			if tt.deny != nil {
				f.opts.Denylist = tt.deny
			}
			f.opts.FailOpen = tt.failOpen
			f.rebuild(t)
			raw, c := f.accessToken(t)
			if tt.revoke {
				if err := f.deny.RevokeSession(ctx, c.Subject, c.SID, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			got := serve(f.v.Middleware("read")(protected), "Bearer "+raw)
			wantAnswer(t, "GET /things "+tt.name, got, tt.status, tt.code, tt.desc, tt.challenge, raw[len(raw)-20:])
			if ra := got.header.Get("Retry-After"); (tt.status == 503) != (ra == "1") {
				t.Errorf("GET /things %s: Retry-After = %q", tt.name, ra)
			}
		})
	}
}

// TestWriteError: every error gets a 4xx or 503 with a fixed text, the
// ones the table does not know included: never a 500.
func TestWriteError(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{token.ErrLifetime, 401, "invalid_token"},
		{revocation.ErrRevoked, 401, "invalid_token"},
		{errors.Join(revocation.ErrUnavailable, context.Canceled), 503, "temporarily_unavailable"},
		{resource.ErrNoToken, 401, "invalid_token"},
		{resource.ErrMalformedRequest, 400, "invalid_request"},
		{resource.ErrInsufficientScope, 403, "insufficient_scope"},
		{errors.New("something else"), 401, "invalid_token"},
		{nil, 401, "invalid_token"},
	}
	for _, tt := range tests {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { resource.WriteError(w, tt.err) })
		got := serve(h)
		if got.status != tt.status || !strings.Contains(got.body, `"error":"`+tt.code+`"`) {
			t.Errorf("WriteError(%v): %d %s, want %d %s", tt.err, got.status, got.body, tt.status, tt.code)
		}
		for _, c := range got.header.Get("WWW-Authenticate") {
			if c < 0x20 || c > 0x7e {
				t.Errorf("WriteError(%v): challenge has byte %#x", tt.err, c)
			}
		}
	}
}

// FuzzMiddleware: any Authorization header is answered 200, 400, 401 or
// 403 (never 500, never a panic), a refusal always with a challenge and
// jwtd's error body.
func FuzzMiddleware(f *testing.F) {
	fx := newFixture(f, "ES256")
	raw, _ := fx.accessToken(f)
	for _, s := range []string{"Bearer " + raw, "bearer " + raw, "Bearer", "Bearer ", "Bearer  x", "Basic Zm9vOmJhcg==", "Bearer a.b.c=", "Bearer ===", "", "\x00", "Bearer\t" + raw} {
		f.Add(s)
	}
	h := fx.v.Middleware("read")(protected)
	f.Fuzz(func(t *testing.T, authz string) {
		got := serve(h, authz)
		switch got.status {
		case 200:
			return
		case 400, 401, 403:
		default:
			t.Fatalf("Authorization %q: status %d", authz, got.status)
		}
		if !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer") || !strings.HasPrefix(got.body, `{"error":"`) {
			t.Fatalf("Authorization %q: %d %q %s", authz, got.status, got.header.Get("WWW-Authenticate"), got.body)
		}
	})
}

// TestMiddlewareMirror: with a real revocation.Mirror as the Denylist, a
// mirror not loaded yet or staler than its bound is 503 (fail closed), a
// revocation it holds is 401 even when stale, and FailOpen serves a valid
// token while it is stale.
func TestMiddlewareMirror(t *testing.T) {
	f := newFixture(t, "ES256")
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: 3 * time.Second, Now: f.clock})
	f.opts.Denylist = m
	f.rebuild(t)
	open := *f
	open.opts.FailOpen = true
	open.rebuild(t)
	raw, _ := f.accessToken(t)
	revoked, rc := f.accessToken(t)
	unavailable := func(what string, got answer) {
		t.Helper()
		wantAnswer(t, what, got, 503, "temporarily_unavailable", "revocation state unavailable; retry later", "", raw[len(raw)-20:])
	}
	h, hOpen := f.v.Middleware("read")(protected), open.v.Middleware("read")(protected)

	unavailable("not loaded", serve(h, "Bearer "+raw))
	if err := m.Load(func(emit func(revocation.Entry) error) (string, error) {
		return "0-1", emit(revocation.Entry{Kind: revocation.KindSession, Value: rc.SID, ExpiresAt: f.now.Add(time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, "loaded", serve(h, "Bearer "+raw), 200, "", "", "", "")
	wantAnswer(t, "loaded, revoked", serve(h, "Bearer "+revoked), 401, "invalid_token", "token revoked", invalidToken("token revoked"), "")

	f.now = f.now.Add(4 * time.Second) // past MaxStaleness, no Touch
	unavailable("stale", serve(h, "Bearer "+raw))
	wantAnswer(t, "stale, revoked", serve(h, "Bearer "+revoked), 401, "invalid_token", "token revoked", invalidToken("token revoked"), "")
	wantAnswer(t, "stale, fail open", serve(hOpen, "Bearer "+raw), 200, "", "", "", "")
	wantAnswer(t, "stale, revoked, fail open", serve(hOpen, "Bearer "+revoked), 401, "invalid_token", "token revoked", invalidToken("token revoked"), "")

	m.Touch()
	wantAnswer(t, "touched", serve(h, "Bearer "+raw), 200, "", "", "", "")
}
