package token_test

// Helpers shared by the tests of this package: one file, so a newcomer
// finds the harness, fixtures and assertions in one place.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/internal/jwttest"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/token"
)

// times are the four time claims of a forged token, as raw JSON values;
// an empty one is left out.
type times struct{ iat, nbf, exp, authTime string }

// payload writes a token of kind k (access, refresh or code) with tm.
func (f *fixture) payload(k string, tm times) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"iss":%q,"sub":"alice","jti":"j1","client_id":"app"`, f.opts.Issuer)
	switch k {
	case "access":
		b.WriteString(`,"aud":"api","sid":"s1","scope":"read"`)
	case "refresh":
		fmt.Fprintf(&b, `,"aud":%q,"sid":"s1","scope":"read","access_aud":["api"]`, f.opts.Issuer)
	case "code":
		fmt.Fprintf(&b, `,"aud":%q,"access_aud":["api"]`, f.opts.Issuer)
	}
	for _, m := range []struct{ name, v string }{{"iat", tm.iat}, {"nbf", tm.nbf}, {"exp", tm.exp}, {"auth_time", tm.authTime}} {
		if m.v != "" {
			fmt.Fprintf(&b, `,%q:%s`, m.name, m.v)
		}
	}
	return b.String() + "}"
}

// ownedNames are the claim names jwtd writes or reads: RFC 7519 §4.1, the
// RFC 9068 claims, jwtd's own, the RFC 7800/8693 ones with security
// meaning, and every JSON field of the refresh token and handoff code. The
// package derives its list from the struct tags; TestOwnedNamesComplete
// proves it holds at least these.
var ownedNames = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
	"client_id", "auth_time", "scope", "sid", "cnf", "act", "may_act",
	"access_aud", "ext", "code_challenge",
	"active", "token_type", "username",
}

// foldVariants returns spellings of name that encoding/json matches to a
// field tagged name: case changes, U+017F (long s) for s and U+212A
// (Kelvin sign) for k, and mixes of both. The exact name is not among them.
func foldVariants(name string) []string {
	mapRunes := func(f func(i int, r rune) rune) string {
		var b strings.Builder
		for i, r := range []rune(name) {
			b.WriteRune(f(i, r))
		}
		return b.String()
	}
	exotic := func(r rune) rune {
		switch r {
		case 's', 'S':
			return '\u017F'
		case 'k', 'K':
			return '\u212A'
		}
		return r
	}
	vs := []string{
		strings.ToUpper(name),
		mapRunes(func(i int, r rune) rune { // Title
			if i == 0 {
				return unicode.ToUpper(r)
			}
			return r
		}),
		mapRunes(func(i int, r rune) rune { // mIxEd
			if i%2 == 1 {
				return unicode.ToUpper(r)
			}
			return r
		}),
		mapRunes(func(i int, r rune) rune { // last letter upper
			if i == len([]rune(name))-1 {
				return unicode.ToUpper(r)
			}
			return r
		}),
		mapRunes(func(_ int, r rune) rune { return exotic(r) }),
		mapRunes(func(_ int, r rune) rune { return exotic(unicode.ToUpper(r)) }),
		mapRunes(func(i int, r rune) rune { // exotic letters in a mixed-case name
			if i%2 == 0 {
				return exotic(unicode.ToUpper(r))
			}
			return r
		}),
	}
	var out []string
	for _, v := range vs {
		if v != name && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// forgeRaw signs payload byte for byte with the active key of ring, under
// typ: the JSON an attacker holding the key (or a buggy minter) would write,
// duplicate names included, which jwt.MapClaims cannot express.
func forgeRaw(t testing.TB, ring *keys.Ring, typ, payload string) string {
	t.Helper()
	kid, alg, priv, err := ring.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q}`, alg, kid, typ))) + "." + enc([]byte(payload))
	sig, err := jwt.GetSigningMethod(alg).Sign(signing, priv)
	if err != nil {
		t.Fatalf("forgeRaw: %v", err)
	}
	return signing + "." + enc(sig)
}

// kind is one of the three token kinds, with a payload as jwtd mints it.
type kind struct {
	name   string
	base   func(extra string) string // extra members go last, after a comma
	verify func(context.Context, string) error
	ring   *keys.Ring
	typ    string
}

func (f *fixture) kinds() []kind {
	now := f.now.Unix()
	members := func(m string) func(string) string {
		return func(extra string) string {
			if extra == "" {
				return "{" + m + "}"
			}
			return "{" + m + "," + extra + "}"
		}
	}
	return []kind{
		{"access", members(fmt.Sprintf(`"iss":%q,"sub":"alice","aud":"api","exp":%d,"nbf":%d,"iat":%d,"jti":"a1","client_id":"app","sid":"s1","auth_time":%d,"scope":"read","tenant":"acme"`,
			f.opts.Issuer, now+900, now, now, now)),
			func(ctx context.Context, raw string) error { _, err := f.verifier.Access(ctx, raw); return err }, f.access, token.TypeAccess},
		{"refresh", members(fmt.Sprintf(`"iss":%q,"sub":"alice","aud":%q,"exp":%d,"nbf":%d,"iat":%d,"jti":"r1","client_id":"app","sid":"s1","auth_time":%d,"scope":"read","access_aud":["api"],"ext":{"tenant":"acme"}`,
			f.opts.Issuer, f.opts.Issuer, now+3600, now, now, now)),
			func(ctx context.Context, raw string) error { _, err := f.verifier.Refresh(ctx, raw); return err }, f.refresh, token.TypeRefresh},
		{"code", members(fmt.Sprintf(`"iss":%q,"sub":"alice","aud":%q,"exp":%d,"nbf":%d,"iat":%d,"jti":"c1","client_id":"app","access_aud":["api"],"ext":{"tenant":"acme"}`,
			f.opts.Issuer, f.opts.Issuer, now+60, now, now)),
			func(ctx context.Context, raw string) error { _, err := f.verifier.Code(ctx, raw); return err }, f.refresh, token.TypeCode},
	}
}

// valueFor is a value of the right JSON type for an owned name, so the
// struct decoding accepts it and only the name can be the reason to refuse.
func (f *fixture) valueFor(name string) string {
	switch name {
	case "exp":
		return fmt.Sprint(f.now.Unix() + 60)
	case "iat", "nbf", "auth_time":
		return fmt.Sprint(f.now.Unix())
	case "aud", "access_aud":
		return `"api"`
	case "ext", "cnf", "act", "may_act":
		return `{}`
	}
	return `"x"`
}

type fixture struct {
	now      time.Time
	access   *keys.Ring
	refresh  *keys.Ring
	issuer   *token.Issuer
	verifier *token.Verifier
	opts     token.Options
}

func newFixture(t testing.TB, alg string) *fixture {
	t.Helper()
	f := &fixture{now: t0}
	clock := func() time.Time { return f.now }
	store := keys.NewMemoryStore()
	ring := func(p keys.Purpose) *keys.Ring {
		life := 15*time.Minute + 30*time.Second // access_ttl + leeway
		if p == keys.Refresh {
			life = 24*time.Hour + 30*time.Second // refresh_ttl + leeway
		}
		r, err := keys.NewRing(context.Background(), store, keys.Options{
			Purpose: p, Algorithm: alg, RotateEvery: 24 * time.Hour, PublishAhead: time.Hour,
			Lifetime: life, Now: clock,
		})
		if err != nil {
			t.Fatalf("NewRing: %v", err)
		}
		if err := r.Maintain(context.Background()); err != nil {
			t.Fatalf("Maintain: %v", err)
		}
		return r
	}
	f.access, f.refresh = ring(keys.Access), ring(keys.Refresh)
	f.opts = token.Options{
		Issuer: "https://auth.example", AccessTTL: 15 * time.Minute, RefreshTTL: 24 * time.Hour,
		SessionMaxAge: 72 * time.Hour, Leeway: 30 * time.Second, Audiences: []string{"api", "billing"}, Now: clock,
	}
	f.issuer = token.NewIssuer(f.opts, f.access, f.refresh)
	f.verifier = token.NewVerifier(f.opts, f.access, f.refresh)
	return f
}

func (f *fixture) session() token.Session {
	return token.Session{
		Subject: "alice", ClientID: "app", SID: token.NewID(), Scope: "read", Audience: []string{"api"},
		Claims: map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`)}, AuthTime: f.now,
	}
}

func (f *fixture) mint(t testing.TB) token.Pair {
	t.Helper()
	p, err := f.issuer.Mint(f.session(), f.issuer.NewStamp(), true)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return p
}

// forge signs claims with the header fields given, using golang-jwt, so the
// hostile token is exactly what an attacker's library would produce.
func (f *fixture) forge(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	return jwttest.Forge(t, method, key, header, claims)
}

func (f *fixture) accessClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": f.opts.Issuer, "sub": "mallory", "aud": "api", "exp": f.now.Add(10 * time.Minute).Unix(),
		"iat": f.now.Unix(), "nbf": f.now.Unix(), "jti": "j1", "client_id": "app", "sid": "s1",
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
