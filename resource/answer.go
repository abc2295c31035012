package resource

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// The RFC 6750 §3.1 error codes, and RFC 6749 §4.1.2.1's
// temporarily_unavailable.
const (
	codeInvalidRequest         = "invalid_request"
	codeInvalidToken           = "invalid_token"
	codeInsufficientScope      = "insufficient_scope"
	codeTemporarilyUnavailable = "temporarily_unavailable"
)

// answers is the table from error to answer, tried in order. The token
// texts are jwtd's own (docs/api.md, "Token refusal descriptions"), so a
// client reads the same reason from jwtd and from a resource server.
var answers = []struct {
	err    error
	status int
	code   string
	desc   string
}{
	{ErrNoToken, http.StatusUnauthorized, codeInvalidToken, "missing bearer token"},
	{errTwoHeaders, http.StatusBadRequest, codeInvalidRequest, "more than one Authorization header"},
	{errNotB64Token, http.StatusBadRequest, codeInvalidRequest, "malformed bearer token"},
	{ErrMalformedRequest, http.StatusBadRequest, codeInvalidRequest, "malformed Authorization header"},
	{ErrInsufficientScope, http.StatusForbidden, codeInsufficientScope, "token lacks a required scope"},
	{revocation.ErrUnavailable, http.StatusServiceUnavailable, codeTemporarilyUnavailable, "revocation state unavailable; retry later"},
	{revocation.ErrRevoked, http.StatusUnauthorized, codeInvalidToken, "token revoked"},
	{token.ErrExpired, http.StatusUnauthorized, codeInvalidToken, "token expired"},
	{token.ErrNotYetValid, http.StatusUnauthorized, codeInvalidToken, "token not valid yet"},
	{token.ErrBadSignature, http.StatusUnauthorized, codeInvalidToken, "token signature invalid"},
	{token.ErrUnknownKey, http.StatusUnauthorized, codeInvalidToken, "token signed by an unknown key"},
	{token.ErrAlgorithmMismatch, http.StatusUnauthorized, codeInvalidToken, "token algorithm not accepted"},
	{token.ErrEmbeddedKey, http.StatusUnauthorized, codeInvalidToken, "token header carries a key"},
	{token.ErrCritical, http.StatusUnauthorized, codeInvalidToken, "token has unsupported critical headers"},
	{token.ErrWrongType, http.StatusUnauthorized, codeInvalidToken, "wrong token type"},
	{token.ErrWrongIssuer, http.StatusUnauthorized, codeInvalidToken, "token issuer not accepted"},
	{token.ErrWrongAudience, http.StatusUnauthorized, codeInvalidToken, "token audience not accepted"},
	{token.ErrMissingClaim, http.StatusUnauthorized, codeInvalidToken, "token lacks a required claim"},
	{token.ErrDuplicateClaim, http.StatusUnauthorized, codeInvalidToken, "token has duplicate claim names"},
	{token.ErrReservedClaim, http.StatusUnauthorized, codeInvalidToken, "token carries a reserved claim name"},
	{token.ErrLifetime, http.StatusUnauthorized, codeInvalidToken, "token lifetime exceeds what jwtd issues"},
	{token.ErrTooLarge, http.StatusUnauthorized, codeInvalidToken, "token too large"},
	{token.ErrMalformed, http.StatusUnauthorized, codeInvalidToken, "token malformed"},
}

// refused is the answer to an error the table does not know: the request
// is refused, never served and never a 500.
var refused = answers[len(answers)-1]

// WriteError writes the answer to err, an error of Verify or of the
// Middleware's checks, the same for net/http and Echo:
//
//   - 401 invalid_token, with WWW-Authenticate: Bearer error="invalid_token",
//     error_description="…", for a token that is refused (RFC 6750 §3.1);
//   - 401 with a bare "WWW-Authenticate: Bearer" when the request has no
//     bearer token (RFC 6750 §3.1: no error code then);
//   - 400 invalid_request for an Authorization header that is not one
//     "Bearer <b64token>";
//   - 403 insufficient_scope, with the route's scope in the challenge, for
//     a valid token without a scope the route requires;
//   - 503 temporarily_unavailable and Retry-After: 1 when the Denylist
//     cannot say (fail closed): the client retries the same token.
//
// The body is jwtd's error body, {"error": …, "error_description": …}, with
// Cache-Control: no-store. The description is a fixed text: no answer
// echoes the token or the header. An error the table does not know gets
// 401 invalid_token "token malformed".
func WriteError(w http.ResponseWriter, err error) {
	a := refused
	for _, x := range answers {
		if errors.Is(err, x.err) {
			a = x
			break
		}
	}
	h := w.Header()
	switch a.status {
	case http.StatusUnauthorized:
		if a.err == ErrNoToken {
			h.Set("WWW-Authenticate", "Bearer")
		} else {
			h.Set("WWW-Authenticate", challenge(a.code, a.desc, ""))
		}
	case http.StatusBadRequest:
		h.Set("WWW-Authenticate", challenge(a.code, a.desc, ""))
	case http.StatusForbidden:
		var se *scopeError
		scope := ""
		if errors.As(err, &se) {
			scope = strings.Join(se.required, " ")
		}
		h.Set("WWW-Authenticate", challenge(a.code, a.desc, scope))
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(a.status)
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{a.code, a.desc})
	_, _ = w.Write(body)
}

// challenge is an RFC 6750 §3 Bearer challenge. Its values are fixed texts
// and scope-tokens (checked by Middleware), none with a quote or a
// backslash, so they need no escaping.
func challenge(code, desc, scope string) string {
	c := `Bearer error="` + code + `", error_description="` + desc + `"`
	if scope != "" {
		c += `, scope="` + scope + `"`
	}
	return c
}
