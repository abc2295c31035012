package jwks

import "errors"

var (
	// ErrUnknownKey means the set holds no usable key with the requested
	// kid, even after the refetch an unknown kid may trigger.
	ErrUnknownKey = errors.New("jwks: unknown key id")
	// ErrFetch wraps a failure to get the document: the connection, a
	// status other than 200 (or 304 on revalidation), a timeout.
	ErrFetch = errors.New("jwks: fetch failed")
	// ErrTooLarge refuses a document longer than 1 MiB or a key set with
	// more than 1000 entries.
	ErrTooLarge = errors.New("jwks: document too large")
	// ErrMalformed refuses a document that is not a JSON object of the
	// expected shape: a JWK Set without a "keys" array, metadata without a
	// string jwks_uri.
	ErrMalformed = errors.New("jwks: malformed document")
	// ErrNoUsableKey refuses a key set none of whose keys verifies a
	// signature jwtd makes, so a wrong URL fails loudly instead of
	// refusing every token.
	ErrNoUsableKey = errors.New("jwks: no usable key in the set")
	// ErrInsecureURL refuses a URL that is not absolute https, or http on
	// a loopback host.
	ErrInsecureURL = errors.New("jwks: URL must be https (http only on a loopback host)")
	// ErrIssuerMismatch refuses metadata whose issuer is not exactly the
	// issuer asked for (RFC 8414 §3.3).
	ErrIssuerMismatch = errors.New("jwks: metadata issuer mismatch")
	// ErrOptions refuses Options that cannot work.
	ErrOptions = errors.New("jwks: invalid options")
)
