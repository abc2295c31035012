package resource

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// Keys is where the Verifier finds the public key of a kid and the one
// algorithm it signs with. A remote JWKS (*jwks.Set) and an in-process key
// ring (*keys.Ring) satisfy it.
type Keys interface {
	VerificationKey(ctx context.Context, kid string) (crypto.PublicKey, string, error)
}

// Denylist says whether a token is revoked. *revocation.Mirror and
// *revocation.MemoryStore satisfy it. Check returns an error wrapping
// revocation.ErrRevoked for a revoked token, and one wrapping
// revocation.ErrUnavailable when it cannot say (a mirror staler than its
// bound, or not loaded yet).
type Denylist interface {
	Check(ctx context.Context, t revocation.Token) error
}

// Options configures a Verifier.
type Options struct {
	// Issuer is jwtd's issuer URL, exactly as its tokens' iss.
	Issuer string
	// Audiences are the audiences this resource server answers to; at
	// least one. A token for none of them is refused (RFC 9068 §4), so a
	// token jwtd issued for another API cannot be replayed here.
	Audiences []string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// MaxLifetime, when set, refuses a token whose exp is more than
	// MaxLifetime (plus Leeway) after its iat: set it to jwtd's
	// tokens.access_ttl to refuse what jwtd would never mint (a token signed
	// with a leaked key, living for years). Zero trusts exp.
	MaxLifetime time.Duration
	// Denylist is checked after the signature and claims. NIL MEANS NO
	// REVOCATION CHECK: a logged-out session's access tokens, and the
	// tokens of a subject cut off by an operator, are then accepted until
	// they expire. Leave it nil only where that is acceptable.
	Denylist Denylist
	// FailOpen decides what a token whose revocation state the Denylist
	// cannot give (ErrUnavailable) gets: false (the default) refuses it
	// with 503, so the client retries; true accepts the valid signature
	// unchecked, logged at Warn.
	FailOpen bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the fail-open warnings; nil discards them.
	Logger *slog.Logger
}

// Verifier checks jwtd's access tokens for one resource server. It is safe
// for concurrent use.
type Verifier struct {
	tokens   *token.Verifier
	deny     Denylist
	failOpen bool
	log      *slog.Logger
}

// NewVerifier returns a Verifier of the access tokens signed by keys, with
// jwtd's own checks (package token: the algorithm from the key, typ at+jwt,
// iss, aud, the times, the claim names) and then the Denylist.
func NewVerifier(keys Keys, opts Options) (*Verifier, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: no keys", ErrOptions)
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// AccessTTL is the only lifetime bound a resource server sets; the zero
	// RefreshTTL and SessionMaxAge set none (token.Options).
	t := token.NewVerifier(token.Options{
		Issuer:    opts.Issuer,
		AccessTTL: opts.MaxLifetime,
		Leeway:    opts.Leeway,
		Audiences: append([]string(nil), opts.Audiences...),
		Now:       opts.Now,
	}, keys, nil)
	return &Verifier{tokens: t, deny: opts.Denylist, failOpen: opts.FailOpen, log: log}, nil
}

// Verify checks raw, an access token, and returns its claims. A refusal is
// an error wrapping one of package token's sentinels (token.ErrExpired,
// token.ErrWrongAudience, …), revocation.ErrRevoked, or, when the Denylist
// cannot say and FailOpen is false, revocation.ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (*token.AccessClaims, error) {
	c, err := v.tokens.Access(ctx, raw)
	if err != nil {
		return nil, err
	}
	if v.deny == nil {
		return c, nil
	}
	err = v.deny.Check(ctx, revocation.Token{SID: c.SID, JTI: c.ID, Subject: c.Subject, IssuedAt: c.IssuedAt.Time})
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, revocation.ErrRevoked):
		return nil, err
	case ctx.Err() != nil:
		// The caller gave up: not an outage to fail open on.
		return nil, fmt.Errorf("%w: %w", revocation.ErrUnavailable, ctx.Err())
	case v.failOpen:
		v.log.LogAttrs(ctx, slog.LevelWarn, "revocation denylist unavailable: accepting token unchecked (fail open)",
			slog.String("sid", c.SID), slog.String("sub", c.Subject), slog.String("error", err.Error()))
		return c, nil
	case !errors.Is(err, revocation.ErrUnavailable):
		// A Denylist that fails without saying so cannot say either.
		return nil, fmt.Errorf("%w: %w", revocation.ErrUnavailable, err)
	}
	return nil, err
}

// check refuses Options no Verifier can work with.
func (o Options) check() error {
	if o.Issuer == "" {
		return fmt.Errorf("%w: Issuer is required", ErrOptions)
	}
	if len(o.Audiences) == 0 {
		return fmt.Errorf("%w: at least one audience is required", ErrOptions)
	}
	for _, a := range o.Audiences {
		if a == "" {
			return fmt.Errorf("%w: an audience is empty", ErrOptions)
		}
	}
	if o.Leeway < 0 || o.MaxLifetime < 0 {
		return fmt.Errorf("%w: Leeway and MaxLifetime must not be negative", ErrOptions)
	}
	return nil
}
