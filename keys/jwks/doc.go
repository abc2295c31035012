// Package jwks gives resource servers the keys of a remote jwtd (or any
// issuer that publishes a JWK Set) to verify its access tokens with.
//
// New fetches the set once, synchronously, and keeps it fresh in the
// background with jwx's jwk.Cache, honouring the issuer's Cache-Control
// max-age clamped to [Options.MinRefresh, Options.MaxRefresh]. A Set's
// VerificationKey is what package token's Verifier asks for:
//
//	uri, err := jwks.Discover(ctx, nil, "https://auth.example")
//	set, err := jwks.New(ctx, uri, jwks.Options{})
//	v := token.NewVerifier(opts, set, nil)
//
// Each key's algorithm comes from its JWK (RFC 8725 §3.1): a key without an
// alg jwtd signs with, or not for signatures, is skipped. Lookups read an
// immutable map swapped atomically on each successful fetch, so they take
// no lock; a failed fetch leaves the last good set in place. A kid the set
// lacks triggers one refetch, shared by concurrent callers and spaced by
// Options.UnknownKIDInterval, since kids come from unverified tokens.
//
// The package imports no other jwtd package, so a resource server that
// uses it pulls in neither Redis nor Echo.
package jwks
