package token

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// verificationKeys is what Verify needs: the public key for a kid and the
// algorithm it signs with.
type verificationKeys interface {
	VerificationKey(ctx context.Context, kid string) (key crypto.PublicKey, alg string, err error)
}

// Verifier checks tokens. It is the only place jwtd reads a token.
type Verifier struct {
	opts    Options
	access  verificationKeys
	refresh verificationKeys
}

// NewVerifier returns a Verifier that checks access tokens against access
// and refresh tokens against refresh.
func NewVerifier(opts Options, access, refresh verificationKeys) *Verifier {
	return &Verifier{opts: opts, access: access, refresh: refresh}
}

// Access verifies an access token for any audience jwtd issues.
func (v *Verifier) Access(ctx context.Context, raw string) (*AccessClaims, error) {
	var c AccessClaims
	if err := v.verify(ctx, raw, TypeAccess, v.access, &c, v.opts.Audiences); err != nil {
		return nil, err
	}
	if c.Subject == "" || c.ID == "" || c.ClientID == "" || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: sub, jti, client_id and iat are required", ErrMissingClaim)
	}
	if err := v.lifetime(&c.RegisteredClaims, v.opts.AccessTTL, c.AuthTime, c.SID != ""); err != nil {
		return nil, err
	}
	return &c, nil
}

// Refresh verifies a refresh token: its audience is the issuer itself.
func (v *Verifier) Refresh(ctx context.Context, raw string) (*RefreshClaims, error) {
	var c RefreshClaims
	if err := v.verify(ctx, raw, TypeRefresh, v.refresh, &c, []string{v.opts.Issuer}); err != nil {
		return nil, err
	}
	if c.Subject == "" || c.ID == "" || c.ClientID == "" || c.SID == "" || c.IssuedAt == nil || c.AuthTime == nil {
		return nil, fmt.Errorf("%w: sub, jti, client_id, sid, iat and auth_time are required", ErrMissingClaim)
	}
	if err := v.lifetime(&c.RegisteredClaims, v.opts.RefreshTTL, c.AuthTime, true); err != nil {
		return nil, err
	}
	return &c, nil
}

// lifetime refuses times jwtd never mints, so that a token signed with its
// key but not by its Issuer (a leaked key, a bug, a test tool) cannot live
// for years: exp at most ttl (plus leeway) after iat, no auth_time after
// iat, and, for a token of a session, exp no later than auth_time plus
// tokens.session_max_age (plus leeway). A client-credentials token has no
// session and is not capped by it, as Mint does not cap it.
//
// The bounds are today's configuration: lowering a TTL refuses the longer
// tokens already issued at once (an access token's client refreshes; a
// refresh token's session must log in again), which is what an operator
// who shortens a lifetime after a scare wants.
//
// A zero ttl or Options.SessionMaxAge sets no bound: a verifier outside
// jwtd (package resource) does not know jwtd's configuration. auth_time
// after iat is refused whatever the options.
func (v *Verifier) lifetime(c *jwt.RegisteredClaims, ttl time.Duration, authTime *jwt.NumericDate, session bool) error {
	iat, exp := c.IssuedAt.Time, c.ExpiresAt.Time
	if life := exp.Sub(iat); ttl > 0 && life > ttl+v.opts.Leeway {
		return fmt.Errorf("%w: exp is %s after iat, more than %s", ErrLifetime, life, ttl+v.opts.Leeway)
	}
	if authTime == nil {
		return nil
	}
	if authTime.After(iat) {
		return fmt.Errorf("%w: auth_time is after iat", ErrLifetime)
	}
	if end := authTime.Add(v.opts.SessionMaxAge + v.opts.Leeway); session && v.opts.SessionMaxAge > 0 && exp.After(end) {
		return fmt.Errorf("%w: exp is after the session's end", ErrLifetime)
	}
	return nil
}

func (v *Verifier) verify(ctx context.Context, raw, typ string, keys verificationKeys, claims jwt.Claims, audiences []string) error {
	if len(raw) > MaxTokenBytes {
		return ErrTooLarge
	}
	p := jwt.NewParser(
		jwt.WithIssuer(v.opts.Issuer),
		jwt.WithAudience(audiences...),
		jwt.WithLeeway(v.opts.Leeway),
		jwt.WithTimeFunc(v.opts.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
	_, err := p.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		return keyFor(ctx, t, typ, keys)
	})
	if err != nil {
		return classify(err)
	}
	return nil
}

// keyFor checks the header and returns the key to verify with. The
// algorithm comes from the key, never from the token (RFC 8725 §3.1): a
// header alg that differs from the key's is refused, which stops both
// alg "none" and HMAC signed with a public key. Headers that carry or point
// to a key (jwk, jku, x5u, x5c) are refused rather than ignored (RFC 8725
// §3.10), and so is any crit: jwtd understands no extension (RFC 7515 §4.1.11).
func keyFor(ctx context.Context, t *jwt.Token, typ string, keys verificationKeys) (any, error) {
	for _, name := range []string{"jwk", "jku", "x5u", "x5c"} {
		if _, ok := t.Header[name]; ok {
			return nil, fmt.Errorf("%w: %s", ErrEmbeddedKey, name)
		}
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, ErrCritical
	}
	if got, _ := t.Header["typ"].(string); !typeIs(got, typ) {
		return nil, ErrWrongType
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	key, alg, err := keys.VerificationKey(ctx, kid)
	if err != nil {
		return nil, ErrUnknownKey
	}
	if t.Method == nil || t.Method.Alg() != alg {
		return nil, ErrAlgorithmMismatch
	}
	return key, nil
}

// typeIs compares a typ header with a media type, case-insensitively and
// with or without the "application/" prefix (RFC 7515 §4.1.9, RFC 9068 §4).
func typeIs(got, want string) bool {
	got = strings.ToLower(got)
	return got == want || got == "application/"+want
}

// ours are the sentinels keyFor and the claims UnmarshalJSON methods return;
// classify passes them on.
var ours = []error{ErrTooLarge, ErrUnknownKey, ErrAlgorithmMismatch, ErrEmbeddedKey, ErrCritical, ErrWrongType,
	ErrDuplicateClaim, ErrReservedClaim}

// classify translates golang-jwt's errors into this package's sentinels, so
// no caller imports golang-jwt to choose a status.
func classify(err error) error {
	for _, s := range ours {
		if errors.Is(err, s) {
			return s
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrAlgorithmMismatch // an alg golang-jwt does not know
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrWrongAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ErrMissingClaim
	}
	return ErrMalformed
}
