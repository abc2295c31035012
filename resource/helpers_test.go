package resource_test

// Helpers shared by the tests of this package: real key rings on a memory
// store, tokens minted by jwtd's own Issuer, a real revocation.MemoryStore.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/internal/jwttest"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/resource"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const issuer = "https://auth.example"

// fixture is a jwtd issuer and a resource server's verifier of its tokens.
type fixture struct {
	now     time.Time
	access  *keys.Ring
	issuer  *token.Issuer
	deny    *revocation.MemoryStore
	opts    resource.Options
	v       *resource.Verifier
	jwtOpts token.Options
}

func (f *fixture) clock() time.Time { return f.now }

func newRing(t testing.TB, p keys.Purpose, alg string, now func() time.Time) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(context.Background(), keys.NewMemoryStore(), keys.Options{
		Purpose: p, Algorithm: alg, RotateEvery: 24 * time.Hour, PublishAhead: time.Hour,
		Lifetime: 25 * time.Hour, Now: now,
	})
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	if err := r.Maintain(context.Background()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	return r
}

// newFixture mints with jwtd's options and verifies for audience "api"
// with a MemoryStore denylist; edit f.opts and call f.rebuild for others.
func newFixture(t testing.TB, alg string) *fixture {
	t.Helper()
	f := &fixture{now: t0}
	f.access = newRing(t, keys.Access, alg, f.clock)
	refresh := newRing(t, keys.Refresh, alg, f.clock)
	f.jwtOpts = token.Options{
		Issuer: issuer, AccessTTL: 15 * time.Minute, RefreshTTL: 24 * time.Hour, SessionMaxAge: 72 * time.Hour,
		Leeway: 30 * time.Second, Audiences: []string{"api", "billing"}, Now: f.clock,
	}
	f.issuer = token.NewIssuer(f.jwtOpts, f.access, refresh)
	f.deny = revocation.NewMemoryStore(f.clock)
	f.opts = resource.Options{Issuer: issuer, Audiences: []string{"api"}, Leeway: 30 * time.Second, Denylist: f.deny, Now: f.clock}
	f.rebuild(t)
	return f
}

func (f *fixture) rebuild(t testing.TB) {
	t.Helper()
	v, err := resource.NewVerifier(f.access, f.opts)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	f.v = v
}

func (f *fixture) session(scope string, aud ...string) token.Session {
	if len(aud) == 0 {
		aud = []string{"api"}
	}
	return token.Session{
		Subject: "alice", ClientID: "app", SID: token.NewID(), Scope: scope, Audience: aud,
		Claims: map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`)}, AuthTime: f.now,
	}
}

// mint returns a pair for s as jwtd mints it.
func (f *fixture) mint(t testing.TB, s token.Session) token.Pair {
	t.Helper()
	p, err := f.issuer.Mint(s, f.issuer.NewStamp(), s.SID != "")
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return p
}

// access is a fresh access token with scope "read write" for "api".
func (f *fixture) accessToken(t testing.TB) (string, *token.AccessClaims) {
	t.Helper()
	p := f.mint(t, f.session("read write"))
	return p.Access, p.AccessClaims
}

// forge signs claims with golang-jwt under header, as an attacker's
// library would.
func forge(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	return jwttest.Forge(t, method, key, header, claims)
}

func (f *fixture) claims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": issuer, "sub": "mallory", "aud": "api", "exp": f.now.Add(10 * time.Minute).Unix(),
		"iat": f.now.Unix(), "nbf": f.now.Unix(), "jti": "j1", "client_id": "app", "sid": "s1", "scope": "read",
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// answer is what a request got.
type answer struct {
	status int
	header http.Header
	body   string
}

// serve sends one request with the given Authorization headers (each one
// a header line) through h.
func serve(h http.Handler, authz ...string) answer {
	r := httptest.NewRequest("GET", "/things", nil)
	for _, a := range authz {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return answer{w.Code, w.Result().Header, string(b)}
}

// protected answers 200 with the subject and scope of the claims
// Middleware put in the context.
var protected = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := resource.ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusTeapot)
		return
	}
	_, _ = io.WriteString(w, c.Subject+"|"+c.Scope+"|"+string(c.Extra["tenant"]))
})

// wantAnswer checks the status, the error body and the challenge of a
// refusal (challenge "" means no WWW-Authenticate), and that nothing of
// secret (a token or a header) is in it.
func wantAnswer(t *testing.T, what string, got answer, status int, code, desc, challenge, secret string) {
	t.Helper()
	if got.status != status {
		t.Fatalf("%s: status = %d, want %d (body %s)", what, got.status, status, got.body)
	}
	if status == http.StatusOK {
		return
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(got.body), &body); err != nil || len(body) != 2 || body["error"] != code || body["error_description"] != desc {
		t.Errorf("%s: body = %s, want {error: %q, error_description: %q}", what, got.body, code, desc)
	}
	if ct, cc := got.header.Get("Content-Type"), got.header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		t.Errorf("%s: Content-Type %q, Cache-Control %q, want application/json and no-store", what, ct, cc)
	}
	if vs := got.header.Values("WWW-Authenticate"); (challenge == "" && len(vs) != 0) || (challenge != "" && (len(vs) != 1 || vs[0] != challenge)) {
		t.Errorf("%s: WWW-Authenticate = %q, want %q", what, vs, challenge)
	}
	if secret != "" {
		for k, vs := range got.header {
			for _, v := range vs {
				if strings.Contains(v, secret) {
					t.Errorf("%s: header %s echoes the credentials", what, k)
				}
			}
		}
		if strings.Contains(got.body, secret) {
			t.Errorf("%s: body echoes the credentials", what)
		}
	}
}

func invalidToken(desc string) string {
	return `Bearer error="invalid_token", error_description="` + desc + `"`
}

// downList is a Denylist that cannot say: the one part no real store
// produces on demand (a MemoryStore is always available).
type downList struct{ err error }

func (d downList) Check(context.Context, revocation.Token) error { return d.err }
