// Package token mints jwtd's access tokens (RFC 9068, typ at+jwt), refresh
// tokens (typ rt+jwt) and the one-time handoff codes of the SPA exchange
// (typ code+jwt), and holds the one verification path every endpoint uses,
// with the session lifetimes they all obey. It knows nothing of HTTP, Redis
// or key storage: keys come through the small interfaces declared here.
package token
