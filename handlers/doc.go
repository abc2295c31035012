// Package handlers is jwtd's HTTP surface: it decodes requests, calls the
// token, keys, revocation and clients packages, and encodes answers. The
// HTTP side of client authentication (Basic, client_secret_post) is here;
// which client may have what is decided in clients. Every error answer is
// written in one place, errors.go, in the RFC 6749 §5.2 shape, from the
// sentinels of the packages it calls.
package handlers
