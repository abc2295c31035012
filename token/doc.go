// Package token mints jwtd's access tokens (RFC 9068, typ at+jwt) and refresh
// tokens (typ rt+jwt) and holds the one verification path every endpoint
// uses. It knows nothing of HTTP, Redis or key storage: keys come through
// the small interfaces declared here.
package token
