package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// statusClientClosed is nginx's 499: the client hung up before the
// answer. Nobody reads the body; the status is for the access log.
const statusClientClosed = 499

// The RFC 6749 §5.2 error codes jwtd answers with, and RFC 6750 §3.1's
// invalid_token, RFC 8707 §2's invalid_target and RFC 6749 §4.1.2.1's
// temporarily_unavailable and server_error.
const (
	codeInvalidRequest         = "invalid_request"
	codeInvalidClient          = "invalid_client"
	codeInvalidGrant           = "invalid_grant"
	codeUnauthorizedClient     = "unauthorized_client"
	codeUnsupportedGrantType   = "unsupported_grant_type"
	codeInvalidScope           = "invalid_scope"
	codeInvalidTarget          = "invalid_target"
	codeInvalidToken           = "invalid_token"
	codeTemporarilyUnavailable = "temporarily_unavailable"
	codeServerError            = "server_error"
)

// Why an Authorization header is not HTTP Basic credentials; both answer
// invalid_client.
var (
	errNotBasic = errors.New("handlers: authorization scheme is not Basic")
	errNoColon  = errors.New("handlers: Basic credentials lack the colon")
)

// Error is an RFC 6749 §5.2 error answer. Descriptions are fixed texts or
// name a request field; they never echo a token or a secret.
type Error struct {
	Status      int
	Code        string
	Description string
	challenge   string // WWW-Authenticate value, for 401s
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Description) }

func errRequest(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeInvalidRequest, Description: fmt.Sprintf(format, a...)}
}

func errScope(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeInvalidScope, Description: desc}
}

func errUnauthorizedClient(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeUnauthorizedClient, Description: desc}
}

// errClient is the one answer to every client authentication failure
// (RFC 6749 §5.2): it does not say whether the id or the secret was wrong.
func errClient() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: codeInvalidClient, Description: "client authentication failed",
		challenge: `Basic realm="jwtd", charset="UTF-8"`}
}

// tokenReasons gives the fixed description of each token sentinel.
var tokenReasons = []struct {
	err  error
	desc string
}{
	{token.ErrExpired, "token expired"},
	{token.ErrNotYetValid, "token not valid yet"},
	{token.ErrBadSignature, "token signature invalid"},
	{token.ErrUnknownKey, "token signed by an unknown key"},
	{token.ErrAlgorithmMismatch, "token algorithm not accepted"},
	{token.ErrEmbeddedKey, "token header carries a key"},
	{token.ErrCritical, "token has unsupported critical headers"},
	{token.ErrWrongType, "wrong token type"},
	{token.ErrWrongIssuer, "token issuer not accepted"},
	{token.ErrWrongAudience, "token audience not accepted"},
	{token.ErrMissingClaim, "token lacks a required claim"},
	{token.ErrDuplicateClaim, "token has duplicate claim names"},
	{token.ErrReservedClaim, "token carries a reserved claim name"},
	{token.ErrLifetime, "token lifetime exceeds what jwtd issues"},
	{token.ErrTooLarge, "token too large"},
	{token.ErrMalformed, "token malformed"},
	{token.ErrSessionOver, "session reached its maximum age"},
	{revocation.ErrRevoked, "token revoked"},
	{revocation.ErrReused, "refresh token already used; the session is revoked"},
	{revocation.ErrGraceMismatch, "refresh token already used"},
}

func tokenReason(err error) (string, bool) {
	for _, r := range tokenReasons {
		if errors.Is(err, r.err) {
			return r.desc, true
		}
	}
	return "", false
}

// bearer turns a failure to accept a bearer access token into its 401
// (RFC 6750 §3.1). Store outages pass through unchanged.
func bearer(err error) error {
	if desc, ok := tokenReason(err); ok {
		return errBearer(desc)
	}
	return err
}

func errBearer(desc string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: codeInvalidToken, Description: desc,
		challenge: fmt.Sprintf(`Bearer realm="jwtd", error=%q, error_description=%q`, codeInvalidToken, desc)}
}

// invalidGrant turns a failure to accept a refresh token into invalid_grant.
func invalidGrant(err error) error {
	if desc, ok := tokenReason(err); ok {
		return &Error{Status: http.StatusBadRequest, Code: codeInvalidGrant, Description: desc}
	}
	return err
}

// answers is the table from sentinel to answer, in the order they are
// tried: the clients package's refusals, then the outages.
var answers = []struct {
	err    error
	status int
	code   string
	desc   string
}{
	{clients.ErrScopeSyntax, http.StatusBadRequest, codeInvalidScope, "scope is not a space-separated list of scope tokens"},
	{clients.ErrScopeExceeds, http.StatusBadRequest, codeInvalidScope, "scope exceeds what the client may ask for"},
	{clients.ErrAudienceExceeds, http.StatusBadRequest, codeInvalidTarget, "audience exceeds what the client may ask for"},
	{clients.ErrNoAudienceLeft, http.StatusBadRequest, codeInvalidGrant, "the client may no longer have any of the session's audiences"},
	// A 503, not a 429: the limit is the server's capacity, shared by
	// every caller, not this caller's rate.
	{clients.ErrBusy, http.StatusServiceUnavailable, codeTemporarilyUnavailable, "too many client authentications in progress; retry later"},
	// Before the outages: a store call cut short by the client hanging
	// up is not a store failure.
	{context.Canceled, statusClientClosed, codeInvalidRequest, "request cancelled by the client"},
	{revocation.ErrUnavailable, http.StatusServiceUnavailable, codeTemporarilyUnavailable, "revocation store unavailable; retry later"},
	{keys.ErrUnavailable, http.StatusServiceUnavailable, codeTemporarilyUnavailable, "key store unavailable; retry later"},
}

// refusal turns a refusal of the clients package into its answer at once,
// so callers that look at the answer's code (the refresh cookie is cleared
// on invalid_grant) see it. Other errors pass through unchanged.
func refusal(err error) error {
	if e, ok := answer(err); ok {
		return e
	}
	return err
}

// answer looks err up in answers.
func answer(err error) (*Error, bool) {
	for _, a := range answers {
		if errors.Is(err, a.err) {
			return &Error{Status: a.status, Code: a.code, Description: a.desc}, true
		}
	}
	return nil, false
}

// httpError maps any error to the answer it gets. Unknown errors are 500
// server_error with a fixed text; their cause goes to the log only.
func httpError(err error) *Error {
	var e *Error
	var he *echo.HTTPError
	var mb *http.MaxBytesError
	known, isKnown := answer(err)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &mb):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: codeInvalidRequest,
			Description: fmt.Sprintf("request body exceeds %d bytes", mb.Limit)}
	case isKnown:
		return known
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return &Error{Status: he.Code, Code: codeInvalidRequest, Description: "no such endpoint"}
		case http.StatusMethodNotAllowed:
			return &Error{Status: he.Code, Code: codeInvalidRequest, Description: "method not allowed"}
		case http.StatusRequestEntityTooLarge:
			return &Error{Status: he.Code, Code: codeInvalidRequest, Description: "request body too large"}
		}
		if he.Code >= 400 && he.Code < 500 {
			return &Error{Status: he.Code, Code: codeInvalidRequest, Description: http.StatusText(he.Code)}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: codeServerError, Description: "internal error"}
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// errorHandler is Echo's HTTPErrorHandler: the one place an error becomes
// an answer.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e := httpError(err)
	if e.Status >= 500 {
		level := slog.LevelError
		if e.Status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(c.Request().Context(), level, "request failed",
			slog.String("request_id", requestID(c)), slog.String("error", logValue(err.Error())))
	}
	h := c.Response().Header()
	if e.challenge != "" {
		h.Set("WWW-Authenticate", e.challenge)
	}
	h.Set("Cache-Control", "no-store")
	if e.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	_ = c.JSON(e.Status, errorBody{Error: e.Code, Description: e.Description})
}
