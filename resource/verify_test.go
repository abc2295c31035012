package resource_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/resource"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

func TestNewVerifierOptions(t *testing.T) {
	f := newFixture(t, "ES256")
	good := resource.Options{Issuer: issuer, Audiences: []string{"api"}}
	tests := []struct {
		name string
		keys resource.Keys
		edit func(*resource.Options)
		want error
	}{
		{"minimal", f.access, func(*resource.Options) {}, nil},
		{"no keys", nil, func(*resource.Options) {}, resource.ErrOptions},
		{"no issuer", f.access, func(o *resource.Options) { o.Issuer = "" }, resource.ErrOptions},
		{"no audience", f.access, func(o *resource.Options) { o.Audiences = nil }, resource.ErrOptions},
		{"an empty audience", f.access, func(o *resource.Options) { o.Audiences = []string{"api", ""} }, resource.ErrOptions},
		{"negative leeway", f.access, func(o *resource.Options) { o.Leeway = -time.Second }, resource.ErrOptions},
		{"negative max lifetime", f.access, func(o *resource.Options) { o.MaxLifetime = -time.Second }, resource.ErrOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			v, err := resource.NewVerifier(tt.keys, o)
			if !errors.Is(err, tt.want) || (tt.want == nil && (err != nil || v == nil)) {
				t.Fatalf("NewVerifier(%s): err = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

// TestVerify: the resource server refuses every hostile token jwtd's own
// endpoints refuse, and also jwtd's valid tokens for another audience.
func TestVerify(t *testing.T) {
	f := newFixture(t, "ES256")
	kid, _, priv, err := f.access.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	es := jwt.SigningMethodES256
	good := map[string]any{"kid": kid, "typ": "at+jwt"}
	hdr := func(k string, v any) map[string]any { return map[string]any{"kid": kid, "typ": "at+jwt", k: v} }
	c := f.claims()
	pair := f.mint(t, f.session("read write"))
	billing := f.mint(t, f.session("read", "billing"))
	both := f.mint(t, f.session("read", "billing", "api"))
	cc := f.session("read")
	cc.SID = "" // client credentials
	service := f.mint(t, cc)

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"minted by jwtd", pair.Access, nil},
		{"client credentials", service.Access, nil},
		{"for billing and api", both.Access, nil},
		{"forged with the real key", forge(t, es, priv, good, c), nil},
		{"exp ten years out (no MaxLifetime)", forge(t, es, priv, good, with(c, "exp", f.now.Add(10*365*24*time.Hour).Unix())), nil},
		{"jwtd's token for billing only", billing.Access, token.ErrWrongAudience},
		{"refresh token", pair.Refresh, token.ErrWrongType},
		{"alg none", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good, c), token.ErrAlgorithmMismatch},
		{"HS256 keyed with the public key", forge(t, jwt.SigningMethodHS256, pubDER, good, c), token.ErrAlgorithmMismatch},
		{"wrong iss", forge(t, es, priv, good, with(c, "iss", "https://evil.example")), token.ErrWrongIssuer},
		{"iss with a trailing slash", forge(t, es, priv, good, with(c, "iss", issuer+"/")), token.ErrWrongIssuer},
		{"wrong aud", forge(t, es, priv, good, with(c, "aud", "other")), token.ErrWrongAudience},
		{"no aud", forge(t, es, priv, good, with(c, "aud", nil)), token.ErrMissingClaim},
		{"typ JWT", forge(t, es, priv, hdr("typ", "JWT"), c), token.ErrWrongType},
		{"no typ", forge(t, es, priv, map[string]any{"kid": kid, "typ": nil}, c), token.ErrWrongType},
		{"expired", forge(t, es, priv, good, with(c, "exp", f.now.Add(-time.Minute).Unix())), token.ErrExpired},
		{"expired inside leeway", forge(t, es, priv, good, with(c, "exp", f.now.Add(-20*time.Second).Unix())), nil},
		{"future nbf", forge(t, es, priv, good, with(c, "nbf", f.now.Add(time.Minute).Unix())), token.ErrNotYetValid},
		{"no kid", forge(t, es, priv, map[string]any{"kid": nil, "typ": "at+jwt"}, c), token.ErrUnknownKey},
		{"unknown kid", forge(t, es, priv, hdr("kid", "nope"), c), token.ErrUnknownKey},
		{"jku header", forge(t, es, priv, hdr("jku", "https://evil.example/jwks"), c), token.ErrEmbeddedKey},
		{"crit header", forge(t, es, priv, hdr("crit", []string{"exp"}), c), token.ErrCritical},
		{"no sub", forge(t, es, priv, good, with(c, "sub", nil)), token.ErrMissingClaim},
		{"Sub beside sub", forge(t, es, priv, good, with(c, "Sub", "root")), token.ErrDuplicateClaim},
		{"auth_time after iat", forge(t, es, priv, good, with(with(c, "iat", f.now.Add(-time.Minute).Unix()), "auth_time", f.now.Unix())), token.ErrLifetime},
		{"tampered", pair.Access[:len(pair.Access)-4] + "AAAA", token.ErrBadSignature},
		{"too large", strings.Repeat("a", token.MaxTokenBytes+1), token.ErrTooLarge},
		{"empty", "", token.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := f.v.Verify(context.Background(), tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify(%s): err = %v, want %v", tt.name, err, tt.want)
			}
			if tt.want == nil && (claims == nil || claims.Subject == "") {
				t.Fatalf("Verify(%s): claims = %+v", tt.name, claims)
			}
		})
	}
	t.Run("typed claims", func(t *testing.T) {
		claims, err := f.v.Verify(context.Background(), pair.Access)
		if err != nil {
			t.Fatal(err)
		}
		want := pair.AccessClaims
		if claims.Subject != want.Subject || claims.SID != want.SID || claims.ID != want.ID || claims.ClientID != "app" ||
			claims.Scope != "read write" || string(claims.Extra["tenant"]) != `"acme"` || !claims.AuthTime.Equal(want.AuthTime.Time) {
			t.Fatalf("Verify: claims = %+v, want %+v", claims, want)
		}
	})
}

// TestVerifyMaxLifetime: with MaxLifetime (jwtd's access_ttl) a token
// jwtd would never mint is refused; jwtd's own tokens still pass.
func TestVerifyMaxLifetime(t *testing.T) {
	f := newFixture(t, "EdDSA")
	f.opts.MaxLifetime = 15 * time.Minute
	f.rebuild(t)
	kid, alg, priv, _ := f.access.SigningKey()
	m := jwt.GetSigningMethod(alg)
	good := map[string]any{"kid": kid, "typ": "at+jwt"}
	iat := f.now.Unix()
	tests := []struct {
		name string
		exp  time.Duration
		want error
	}{
		{"as jwtd mints", 15 * time.Minute, nil},
		{"at the bound plus leeway", 15*time.Minute + 30*time.Second, nil},
		{"a second more", 15*time.Minute + 31*time.Second, token.ErrLifetime},
		{"ten years", 10 * 365 * 24 * time.Hour, token.ErrLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := forge(t, m, priv, good, with(f.claims(), "exp", iat+int64(tt.exp/time.Second)))
			if _, err := f.v.Verify(context.Background(), raw); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify(%s): err = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	raw, _ := f.accessToken(t)
	if _, err := f.v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("Verify(minted): %v", err)
	}
}

// TestVerifyRevoked: a revocation in a real MemoryStore (session, token,
// subject cut-off) refuses exactly the tokens it covers.
func TestVerifyRevoked(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		revoke func(f *fixture, c *token.AccessClaims) error
		want   error
	}{
		{"nothing revoked", func(*fixture, *token.AccessClaims) error { return nil }, nil},
		{"its session", func(f *fixture, c *token.AccessClaims) error {
			return f.deny.RevokeSession(ctx, c.Subject, c.SID, time.Hour)
		}, revocation.ErrRevoked},
		{"its jti", func(f *fixture, c *token.AccessClaims) error { return f.deny.RevokeToken(ctx, c.ID, time.Hour) }, revocation.ErrRevoked},
		{"its subject, at its iat", func(f *fixture, c *token.AccessClaims) error {
			return f.deny.RevokeSubject(ctx, c.Subject, c.IssuedAt.Time, time.Hour)
		}, revocation.ErrRevoked},
		{"its subject, before its iat", func(f *fixture, c *token.AccessClaims) error {
			return f.deny.RevokeSubject(ctx, c.Subject, c.IssuedAt.Add(-time.Second), time.Hour)
		}, nil},
		{"another session", func(f *fixture, c *token.AccessClaims) error {
			return f.deny.RevokeSession(ctx, c.Subject, token.NewID(), time.Hour)
		}, nil},
		{"another subject", func(f *fixture, c *token.AccessClaims) error {
			return f.deny.RevokeSubject(ctx, "bob", c.IssuedAt.Time, time.Hour)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "ES256")
			raw, c := f.accessToken(t)
			if err := tt.revoke(f, c); err != nil && !errors.Is(err, revocation.ErrFeedDelayed) {
				t.Fatalf("revoke: %v", err)
			}
			if _, err := f.v.Verify(ctx, raw); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify(after revoking %s): err = %v, want %v", tt.name, err, tt.want)
			}
			// Without a Denylist nothing is checked: the doc's warning.
			f.opts.Denylist = nil
			f.rebuild(t)
			if _, err := f.v.Verify(ctx, raw); err != nil {
				t.Fatalf("Verify(no Denylist, after revoking %s): %v", tt.name, err)
			}
		})
	}
}

// TestVerifyUnavailable: a Denylist that cannot say refuses with
// ErrUnavailable by default and accepts (logged) with FailOpen; a
// cancelled request is never accepted unchecked; a revoked token is
// refused whatever the fail mode.
func TestVerifyUnavailable(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		deny     resource.Denylist
		failOpen bool
		ctx      context.Context
		want     error
		warned   bool
	}{
		{"unavailable, fail closed", downList{fmt.Errorf("%w: mirror 5s stale", revocation.ErrUnavailable)}, false, context.Background(), revocation.ErrUnavailable, false},
		{"unavailable, fail open", downList{fmt.Errorf("%w: mirror 5s stale", revocation.ErrUnavailable)}, true, context.Background(), nil, true},
		{"an unnamed failure, fail closed", downList{errors.New("boom")}, false, context.Background(), revocation.ErrUnavailable, false},
		{"an unnamed failure, fail open", downList{errors.New("boom")}, true, context.Background(), nil, true},
		{"cancelled, fail open", downList{context.Canceled}, true, cancelled, revocation.ErrUnavailable, false},
		{"revoked, fail open", downList{revocation.ErrRevoked}, true, context.Background(), revocation.ErrRevoked, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "ES256")
			var logs bytes.Buffer
			f.opts.Denylist, f.opts.FailOpen = tt.deny, tt.failOpen
			f.opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			f.rebuild(t)
			raw, _ := f.accessToken(t)
			c, err := f.v.Verify(tt.ctx, raw)
			if !errors.Is(err, tt.want) || (tt.want == nil && (err != nil || c == nil)) {
				t.Fatalf("Verify(%s): err = %v, want %v", tt.name, err, tt.want)
			}
			if warned := strings.Contains(logs.String(), `"level":"WARN"`); warned != tt.warned {
				t.Errorf("Verify(%s): warned = %v, want %v; logs: %s", tt.name, warned, tt.warned, logs.String())
			}
			if strings.Contains(logs.String(), raw[strings.LastIndexByte(raw, '.')+1:]) {
				t.Errorf("Verify(%s): the log holds the token", tt.name)
			}
		})
	}
}
