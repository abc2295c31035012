package token

import (
	"errors"
	"fmt"
)

// Each reason a token is refused has its own sentinel, so callers and tests
// can tell them apart with errors.Is.
var (
	ErrMalformed         = errors.New("token: malformed")
	ErrTooLarge          = errors.New("token: too large")
	ErrUnknownKey        = errors.New("token: unknown key id")
	ErrAlgorithmMismatch = errors.New("token: alg is not the key's algorithm")
	ErrEmbeddedKey       = errors.New("token: header carries or points to a key")
	ErrCritical          = errors.New("token: unsupported crit header")
	ErrWrongType         = errors.New("token: wrong typ header")
	ErrBadSignature      = errors.New("token: bad signature")
	ErrWrongIssuer       = errors.New("token: wrong issuer")
	ErrWrongAudience     = errors.New("token: wrong audience")
	ErrExpired           = errors.New("token: expired")
	ErrNotYetValid       = errors.New("token: not valid yet")
	ErrMissingClaim      = errors.New("token: required claim missing")

	// ErrReservedClaim refuses a custom claim that would override a
	// registered or jwtd-owned one.
	ErrReservedClaim = errors.New("token: reserved claim name")
	// ErrDuplicateClaim refuses claim names that are equal under the case
	// folding encoding/json matches struct fields with (bytes.EqualFold),
	// exact repeats included: parsers disagree on which one wins (RFC 8259
	// §4 leaves duplicate names undefined; RFC 7519 §4 says to reject them).
	ErrDuplicateClaim = errors.New("token: duplicate claim name")
	// ErrLifetime refuses a validly signed token whose times jwtd would
	// never have minted: exp further from iat than the token kind's TTL,
	// exp past the session's end, auth_time after iat.
	ErrLifetime = errors.New("token: lifetime longer than jwtd issues")
	// ErrSessionOver means the session reached tokens.session_max_age.
	ErrSessionOver = errors.New("token: session reached its maximum age")
	// ErrSigning wraps a failure of the key source or the signer.
	ErrSigning = errors.New("token: signing failed")
)

// ReservedClaimError is the ErrReservedClaim of one custom claim name.
// Name is the owned claim it collides with, as jwtd spells it, never as the
// caller did, so a caller may show it without echoing its input.
type ReservedClaimError struct{ Name string }

func (e *ReservedClaimError) Error() string { return fmt.Sprintf("%v: %q", ErrReservedClaim, e.Name) }

func (e *ReservedClaimError) Unwrap() error { return ErrReservedClaim }
