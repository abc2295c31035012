// Package handlers is jwtd's HTTP surface: it decodes requests, calls the
// token, keys and revocation packages, and encodes answers. Every error
// answer is written in one place (errors.go) in the RFC 6749 §5.2 shape.
package handlers
