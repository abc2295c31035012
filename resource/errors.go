package resource

import (
	"errors"
	"fmt"
)

var (
	// ErrOptions refuses Options or a Config NewVerifier or New cannot
	// work with; the detail names the field.
	ErrOptions = errors.New("resource: invalid options")
	// ErrNoToken means the request carries no bearer token: no
	// Authorization header, or one of another scheme (RFC 6750 §3.1: no
	// error code then).
	ErrNoToken = errors.New("resource: no bearer token")
	// ErrMalformedRequest means the Authorization header is not one
	// "Bearer <b64token>" (RFC 6750 §2.1): two headers, no token, a
	// character outside b64token.
	ErrMalformedRequest = errors.New("resource: malformed Authorization header")
	// ErrInsufficientScope means the token is valid but lacks a scope the
	// route requires (RFC 6750 §3.1).
	ErrInsufficientScope = errors.New("resource: insufficient scope")
)

// The ways an Authorization header is malformed; each has its own text in
// the answer.
var (
	errBadScheme   = fmt.Errorf("%w: auth-scheme is not a token", ErrMalformedRequest)
	errTwoHeaders  = fmt.Errorf("%w: more than one Authorization header", ErrMalformedRequest)
	errNotB64Token = fmt.Errorf("%w: not an RFC 6750 b64token", ErrMalformedRequest)
)
