package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/token"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestVerifyAccess(t *testing.T) {
	f := newFixture(t, "ES256")
	kid, alg, priv, err := f.access.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if alg != "ES256" {
		t.Fatalf("alg = %s", alg)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	refreshKID, _, refreshPriv, _ := f.refresh.SigningKey()
	good := map[string]any{"kid": kid, "typ": "at+jwt"}
	hdr := func(k string, v any) map[string]any {
		h := map[string]any{"kid": kid, "typ": "at+jwt"}
		h[k] = v
		return h
	}
	es := jwt.SigningMethodES256
	c := f.accessClaims()
	pair := f.mint(t)

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid minted", pair.Access, nil},
		{"valid forged with the real key", f.forge(t, es, priv, good, c), nil},
		{"typ application/at+jwt", f.forge(t, es, priv, hdr("typ", "application/AT+JWT"), c), nil},
		{"alg none", f.forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good, c), token.ErrAlgorithmMismatch},
		{"HS256 keyed with the public key", f.forge(t, jwt.SigningMethodHS256, pubDER, good, c), token.ErrAlgorithmMismatch},
		{"ES384 header on an ES256 key", strings.Replace(f.forge(t, es, priv, good, c), "eyJhbGciOiJFUzI1NiIs", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES384",`))[:20], 1), token.ErrAlgorithmMismatch},
		{"unknown alg", f.forge(t, es, priv, hdr("alg", "XS999"), c), token.ErrAlgorithmMismatch},
		{"unknown kid", f.forge(t, es, priv, hdr("kid", "nope"), c), token.ErrUnknownKey},
		{"no kid", f.forge(t, es, priv, map[string]any{"kid": nil, "typ": "at+jwt"}, c), token.ErrUnknownKey},
		{"jku header", f.forge(t, es, priv, hdr("jku", "https://evil.example/jwks"), c), token.ErrEmbeddedKey},
		{"jwk header", f.forge(t, es, priv, hdr("jwk", map[string]any{"kty": "EC"}), c), token.ErrEmbeddedKey},
		{"x5u header", f.forge(t, es, priv, hdr("x5u", "https://evil.example/cert"), c), token.ErrEmbeddedKey},
		{"x5c header", f.forge(t, es, priv, hdr("x5c", []string{"MIIB"}), c), token.ErrEmbeddedKey},
		{"crit header", f.forge(t, es, priv, hdr("crit", []string{"exp"}), c), token.ErrCritical},
		{"typ JWT", f.forge(t, es, priv, hdr("typ", "JWT"), c), token.ErrWrongType},
		{"no typ", f.forge(t, es, priv, map[string]any{"kid": kid, "typ": nil}, c), token.ErrWrongType},
		{"refresh token as access token", pair.Refresh, token.ErrWrongType},
		{"refresh key with at+jwt typ", f.forge(t, es, refreshPriv, map[string]any{"kid": refreshKID, "typ": "at+jwt"}, c), token.ErrUnknownKey},
		{"wrong iss", f.forge(t, es, priv, good, with(c, "iss", "https://evil.example")), token.ErrWrongIssuer},
		{"no iss", f.forge(t, es, priv, good, with(c, "iss", nil)), token.ErrMissingClaim},
		{"wrong aud", f.forge(t, es, priv, good, with(c, "aud", "other")), token.ErrWrongAudience},
		{"no aud", f.forge(t, es, priv, good, with(c, "aud", nil)), token.ErrMissingClaim},
		{"aud array with one accepted", f.forge(t, es, priv, good, with(c, "aud", []string{"x", "billing"})), nil},
		{"expired", f.forge(t, es, priv, good, with(c, "exp", f.now.Add(-time.Minute).Unix())), token.ErrExpired},
		{"expired inside leeway", f.forge(t, es, priv, good, with(c, "exp", f.now.Add(-20*time.Second).Unix())), nil},
		{"no exp", f.forge(t, es, priv, good, with(c, "exp", nil)), token.ErrMissingClaim},
		{"future nbf", f.forge(t, es, priv, good, with(c, "nbf", f.now.Add(time.Minute).Unix())), token.ErrNotYetValid},
		{"future iat", f.forge(t, es, priv, good, with(c, "iat", f.now.Add(time.Hour).Unix())), token.ErrNotYetValid},
		{"no iat", f.forge(t, es, priv, good, with(c, "iat", nil)), token.ErrMissingClaim},
		{"no sub", f.forge(t, es, priv, good, with(c, "sub", nil)), token.ErrMissingClaim},
		{"no client_id", f.forge(t, es, priv, good, with(c, "client_id", nil)), token.ErrMissingClaim},
		{"exp of wrong type", f.forge(t, es, priv, good, with(c, "exp", "tomorrow")), token.ErrMalformed},
		{"tampered payload", tamper(pair.Access), token.ErrBadSignature},
		{"signature of another key", resign(t, pair.Access, otherKey(t)), token.ErrBadSignature},
		{"two parts", "abc.def", token.ErrMalformed},
		{"empty", "", token.ErrMalformed},
		{"not base64", "!!!.???.***", token.ErrMalformed},
		{"too large", strings.Repeat("a", token.MaxTokenBytes+1), token.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := f.verifier.Access(context.Background(), tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Access(%s): err = %v, want %v", tt.name, err, tt.want)
			}
			if tt.want == nil && claims.Subject == "" {
				t.Fatalf("Access(%s): no subject in %+v", tt.name, claims)
			}
		})
	}
}

// tamper changes the subject without re-signing.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"sub":"alice"`, `"sub":"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func otherKey(t testing.TB) crypto.Signer {
	k, err := keys.Generate("ES256", keys.Access, t0, t0)
	if err != nil {
		t.Fatal(err)
	}
	return k.Private
}

// resign keeps header and claims and signs with key.
func resign(t testing.TB, tok string, key crypto.Signer) string {
	parts := strings.Split(tok, ".")
	sig, err := jwt.SigningMethodES256.Sign(parts[0]+"."+parts[1], key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyRefresh(t *testing.T) {
	f := newFixture(t, "ES256")
	pair := f.mint(t)
	kid, _, priv, _ := f.access.SigningKey()
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", pair.Refresh, nil},
		{"access token as refresh token", pair.Access, token.ErrWrongType},
		{"access key with rt+jwt typ", f.forge(t, jwt.SigningMethodES256, priv, map[string]any{"kid": kid, "typ": "rt+jwt"}, f.accessClaims()), token.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.verifier.Refresh(context.Background(), tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Refresh(%s): err = %v, want %v", tt.name, err, tt.want)
			}
			if tt.want == nil && (c.SID == "" || string(c.Claims["tenant"]) != `"acme"` || c.AccessAudience[0] != "api") {
				t.Fatalf("Refresh(%s): claims = %+v", tt.name, c)
			}
		})
	}
	f.now = f.now.Add(25 * time.Hour)
	if _, err := f.verifier.Refresh(context.Background(), pair.Refresh); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("Refresh(after refresh_ttl): err = %v, want %v", err, token.ErrExpired)
	}
}

// TestAllAlgorithms mints and verifies with every algorithm jwtd offers.
func TestAllAlgorithms(t *testing.T) {
	for _, alg := range keys.Algorithms {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			p := f.mint(t)
			c, err := f.verifier.Access(context.Background(), p.Access)
			if err != nil {
				t.Fatalf("Access(%s token): %v", alg, err)
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(p.Access, ".")[0])
			var h map[string]string
			_ = json.Unmarshal(hdr, &h)
			if h["alg"] != alg || h["typ"] != "at+jwt" || h["kid"] == "" {
				t.Fatalf("header = %v, want alg %s, typ at+jwt and a kid", h, alg)
			}
			if c.ClientID != "app" || c.Scope != "read" || string(c.Extra["tenant"]) != `"acme"` {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestMintLifetimes(t *testing.T) {
	f := newFixture(t, "EdDSA")
	s := f.session()
	s.AuthTime = f.now.Add(-71 * time.Hour) // one hour of the 72h session left
	p, err := f.issuer.Mint(s, f.issuer.NewStamp(), true)
	if err != nil {
		t.Fatal(err)
	}
	end := s.AuthTime.Truncate(time.Second).Add(72 * time.Hour).Unix()
	if got := p.RefreshClaims.ExpiresAt.Unix(); got != end {
		t.Errorf("refresh exp = %d, want session end %d", got, end)
	}
	if got, want := p.AccessClaims.ExpiresAt.Unix(), f.now.Add(15*time.Minute).Unix(); got != want {
		t.Errorf("access exp = %d, want %d", got, want)
	}
	s.AuthTime = f.now.Add(-72 * time.Hour)
	if _, err := f.issuer.Mint(s, f.issuer.NewStamp(), true); !errors.Is(err, token.ErrSessionOver) {
		t.Errorf("Mint(past session_max_age): err = %v, want %v", err, token.ErrSessionOver)
	}
	g := f.issuer.NewStamp()
	s = f.session()
	a, _ := f.issuer.Mint(s, g, true)
	b, _ := f.issuer.Mint(s, g, true)
	if a.AccessClaims.ID != b.AccessClaims.ID || a.RefreshClaims.ExpiresAt.Unix() != b.RefreshClaims.ExpiresAt.Unix() {
		t.Errorf("Mint(same grant twice): claims differ")
	}
}

func TestCustomClaimsCannotOverride(t *testing.T) {
	f := newFixture(t, "ES256")
	for _, name := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "sid", "auth_time", "scope", "cnf", ""} {
		s := f.session()
		s.Claims = map[string]json.RawMessage{name: json.RawMessage(`"x"`)}
		if _, err := f.issuer.Mint(s, f.issuer.NewStamp(), false); !errors.Is(err, token.ErrReservedClaim) {
			t.Errorf("Mint(claim %q): err = %v, want %v", name, err, token.ErrReservedClaim)
		}
	}
}

var sentinels = []error{
	token.ErrMalformed, token.ErrTooLarge, token.ErrUnknownKey, token.ErrAlgorithmMismatch, token.ErrEmbeddedKey,
	token.ErrCritical, token.ErrWrongType, token.ErrBadSignature, token.ErrWrongIssuer, token.ErrWrongAudience,
	token.ErrExpired, token.ErrNotYetValid, token.ErrMissingClaim, token.ErrDuplicateClaim, token.ErrReservedClaim,
	token.ErrLifetime,
}

// FuzzVerify: no input panics, and every refusal is one of the sentinels.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, "ES256")
	p := fx.mint(f)
	kid, _, priv, _ := fx.access.SigningKey()
	f.Add(p.Access)
	f.Add(p.Refresh)
	f.Add(tamper(p.Access))
	f.Add(fx.forge(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": kid, "typ": "at+jwt"}, fx.accessClaims()))
	f.Add(fx.forge(f, jwt.SigningMethodES256, priv, map[string]any{"kid": kid, "typ": "at+jwt", "crit": []string{"x"}}, fx.accessClaims()))
	f.Add("e30.e30.")
	now := fx.now.Unix()
	for _, k := range fx.kinds() {
		f.Add(forgeRaw(f, k.ring, k.typ, k.base("")))
		f.Add(forgeRaw(f, k.ring, k.typ, k.base(`"Sub":"root","\u017Fcope":"x","SID":""`)))
		f.Add(forgeRaw(f, k.ring, k.typ, k.base(`"ext":{"Sub":1,"a":2,"A":3}`)))
	}
	f.Add(forgeRaw(f, fx.access, token.TypeAccess, fx.payload("access", times{fmt.Sprint(now), fmt.Sprint(now), fmt.Sprint(now + 1e9), fmt.Sprint(now)})))
	f.Add(forgeRaw(f, fx.access, token.TypeAccess, fx.payload("access", times{fmt.Sprint(now), fmt.Sprint(now), `"1999999999"`, ""})))
	f.Fuzz(func(t *testing.T, raw string) {
		for _, verify := range []func(context.Context, string) error{
			func(ctx context.Context, s string) error { _, err := fx.verifier.Access(ctx, s); return err },
			func(ctx context.Context, s string) error { _, err := fx.verifier.Refresh(ctx, s); return err },
			func(ctx context.Context, s string) error { _, err := fx.verifier.Code(ctx, s); return err },
		} {
			err := verify(context.Background(), raw)
			if err == nil {
				continue
			}
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("Verify(%q): err = %v, not a token sentinel", raw, err)
			}
		}
	})
}

// TestVerifyZeroLifetimeBounds: a Verifier whose AccessTTL, RefreshTTL and
// SessionMaxAge are zero (a resource server's, which does not know jwtd's
// configuration) bounds a token by its exp alone, while jwtd's own
// Verifier still refuses the same tokens; auth_time after iat is refused
// by both.
func TestVerifyZeroLifetimeBounds(t *testing.T) {
	f := newFixture(t, "ES256")
	now := f.now
	at := func(d time.Duration) string { return unix(now.Add(d)) }
	open := f.opts
	open.AccessTTL, open.RefreshTTL, open.SessionMaxAge = 0, 0, 0
	zero := token.NewVerifier(open, f.access, f.refresh)
	decade := 10 * 365 * 24 * time.Hour
	tests := []struct {
		kind, name string
		tm         times
		zeroWant   error // zero bounds
		jwtdWant   error // the fixture's configured bounds
	}{
		{"access", "as minted", times{at(0), at(0), at(15 * time.Minute), at(0)}, nil, nil},
		{"access", "exp ten years out", times{at(0), at(0), at(decade), at(0)}, nil, token.ErrLifetime},
		{"access", "session logged in a year ago", times{at(0), at(0), at(15 * time.Minute), at(-365 * 24 * time.Hour)}, nil, token.ErrLifetime},
		{"access", "auth_time after iat", times{at(-time.Minute), at(-time.Minute), at(time.Minute), at(0)}, token.ErrLifetime, token.ErrLifetime},
		{"access", "expired", times{at(-time.Hour), at(-time.Hour), at(-time.Minute), at(-time.Hour)}, token.ErrExpired, token.ErrExpired},
		{"refresh", "exp ten years out", times{at(0), at(0), at(decade), at(0)}, nil, token.ErrLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.name, func(t *testing.T) {
			ring, typ := f.access, token.TypeAccess
			check := func(v *token.Verifier, raw string) error { _, err := v.Access(context.Background(), raw); return err }
			if tt.kind == "refresh" {
				ring, typ = f.refresh, token.TypeRefresh
				check = func(v *token.Verifier, raw string) error { _, err := v.Refresh(context.Background(), raw); return err }
			}
			raw := forgeRaw(t, ring, typ, f.payload(tt.kind, tt.tm))
			for _, c := range []struct {
				name string
				v    *token.Verifier
				want error
			}{{"zero bounds", zero, tt.zeroWant}, {"jwtd's bounds", f.verifier, tt.jwtdWant}} {
				if err := check(c.v, raw); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
					t.Errorf("%s(%s, %s): err = %v, want %v", tt.kind, tt.name, c.name, err, c.want)
				}
			}
		})
	}
}
