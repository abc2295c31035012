// Package resourceecho guards Echo routes with a resource.Verifier: the
// same checks and the same answers as resource.Verifier.Middleware, which
// it wraps. It is its own package so that a resource server on net/http
// does not import Echo.
package resourceecho
