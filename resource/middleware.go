package resource

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/jwtd/jwtd/token"
)

type claimsKey struct{}

// ClaimsFrom returns the claims Middleware put in ctx.
func ClaimsFrom(ctx context.Context) (*token.AccessClaims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*token.AccessClaims)
	return c, ok && c != nil
}

// Middleware guards a handler: it reads the bearer token of the request
// (RFC 6750 §2.1: exactly one "Authorization: Bearer <b64token>" header;
// the scheme is case-insensitive, RFC 9110 §11.1), verifies it, requires
// every scope in scopes, and calls next with the claims in the request's
// context (ClaimsFrom). Any refusal is answered by WriteError; next is not
// called.
//
// A scope the route requires must be an RFC 6749 §3.3 scope-token: one
// with a space, a quote, a backslash or a control character can never be
// granted, so Middleware panics on it, as http.ServeMux does on a bad
// pattern: it is a programming error, found when the route is set up.
func (v *Verifier) Middleware(scopes ...string) func(http.Handler) http.Handler {
	for _, s := range scopes {
		if !isScopeToken(s) {
			panic(fmt.Sprintf("resource: Middleware: %q is not a scope-token (RFC 6749 §3.3)", s))
		}
	}
	required := append([]string(nil), scopes...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, err := v.request(r, required)
			if err != nil {
				WriteError(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
		})
	}
}

// request verifies r's bearer token and its scopes.
func (v *Verifier) request(r *http.Request, required []string) (*token.AccessClaims, error) {
	raw, err := bearerToken(r.Header)
	if err != nil {
		return nil, err
	}
	claims, err := v.Verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	if missingScopes(claims.Scope, required) {
		return nil, &scopeError{required: required}
	}
	return claims, nil
}

// bearerToken takes the token of credentials = "Bearer" 1*SP b64token
// (RFC 6750 §2.1). No header, or one of another scheme (RFC 9110 §11.4's
// auth-scheme: a token, up to the first space), is ErrNoToken; anything
// else that is not exactly one such header ("Bearer" with no token, a tab
// for the space, a character outside b64token, an empty header) is
// ErrMalformedRequest. The token's size is Verify's to refuse.
func bearerToken(h http.Header) (string, error) {
	vs := h.Values("Authorization")
	switch {
	case len(vs) == 0:
		return "", ErrNoToken
	case len(vs) > 1:
		return "", errTwoHeaders
	}
	scheme, rest, _ := strings.Cut(vs[0], " ")
	if !isToken(scheme) {
		return "", errBadScheme
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	tok := strings.TrimLeft(rest, " ")
	if !isB64Token(tok) {
		return "", errNotB64Token
	}
	return tok, nil
}

// isB64Token checks RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// isToken checks RFC 9110 §5.6.2's token: 1*tchar.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isScopeToken checks RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B /
// %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// missingScopes reports whether a required scope is not in granted, the
// token's scope claim: scope-tokens separated by single spaces (RFC 6749
// §3.3), compared exactly (scopes are case-sensitive). Only a space
// separates: "read\twrite" or "read,write" is one token that grants
// neither read nor write. An empty element (two spaces in a row) grants
// nothing.
func missingScopes(granted string, required []string) bool {
	for _, want := range required {
		found := false
		for rest := granted; !found && rest != ""; {
			var s string
			s, rest, _ = strings.Cut(rest, " ")
			found = s == want
		}
		if !found {
			return true
		}
	}
	return false
}

// scopeError is the ErrInsufficientScope of a route's required scopes.
type scopeError struct{ required []string }

func (e *scopeError) Error() string {
	return fmt.Sprintf("%v: the route requires %q", ErrInsufficientScope, strings.Join(e.required, " "))
}

func (e *scopeError) Unwrap() error { return ErrInsufficientScope }
