// Package resource verifies jwtd's access tokens in a resource server (an
// API behind jwtd), offline: keys from jwtd's JWKS, revocations from a local
// mirror of its revocation feed, and the checks from package token, the same
// code jwtd runs on its own endpoints.
//
// Verifier.Verify checks one token; Verifier.Middleware guards a net/http
// handler with RFC 6750 answers (package resourceecho does the same for
// Echo); New builds a Verifier from jwtd's URL and introspection
// credentials alone.
//
// The package imports neither Echo nor Redis, so a resource server that
// uses it pulls in neither: a resource server never talks to jwtd's Redis,
// it follows the feed over HTTP.
package resource
