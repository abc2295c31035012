package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// bearerToken takes the token from "Authorization: Bearer <b64token>"
// (RFC 6750 §2.1), the only place jwtd reads an access token from.
func bearerToken(r *http.Request) (string, error) {
	vs := r.Header.Values("Authorization")
	if len(vs) == 0 {
		return "", errBearer("missing bearer token")
	}
	if len(vs) > 1 {
		return "", errBearer("more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(vs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errBearer("Authorization must use the Bearer scheme")
	}
	tok = strings.TrimLeft(tok, " ")
	if !isB64Token(tok) {
		return "", errBearer("malformed bearer token")
	}
	return tok, nil
}

// isB64Token checks RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" || len(s) > token.MaxTokenBytes {
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

// verifyAccess checks an access token: signature, claims, then the
// denylist. While the store is down, revocation.fail_mode decides: closed
// refuses with 503 (the client should retry, not throw its tokens away),
// open accepts the valid signature; both are logged and counted.
func (s *Server) verifyAccess(c echo.Context, raw string) (*token.AccessClaims, error) {
	ctx := c.Request().Context()
	claims, err := s.opts.Verifier.Access(ctx, raw)
	if err != nil {
		return nil, bearer(err)
	}
	err = s.opts.Store.Check(ctx, revocation.Token{SID: claims.SID, JTI: claims.ID, Subject: claims.Subject, IssuedAt: claims.IssuedAt.Time})
	switch {
	case err == nil:
		return claims, nil
	case errors.Is(err, revocation.ErrRevoked):
		return nil, bearer(err)
	case errors.Is(err, context.Canceled):
		// The client hung up: no outage to count, and no token to accept.
		return nil, err
	case errors.Is(err, revocation.ErrUnavailable):
		s.metrics.storeErr.WithLabelValues("check").Inc()
		if s.opts.FailOpen {
			s.metrics.failOpen.Inc()
			s.log.LogAttrs(ctx, slog.LevelWarn, "revocation store down: accepting token unchecked (fail_mode open)",
				slog.String("request_id", requestID(c)), slog.String("sid", claims.SID), slog.String("sub", claims.Subject))
			return claims, nil
		}
		// errorHandler logs it, once, with the request id.
		return nil, fmt.Errorf("refusing token of sid %q sub %q unchecked (fail_mode closed): %w", claims.SID, claims.Subject, err)
	}
	return nil, err
}

// bearerClaims reads and verifies the request's bearer access token.
func (s *Server) bearerClaims(c echo.Context) (*token.AccessClaims, error) {
	raw, err := bearerToken(c.Request())
	if err != nil {
		return nil, err
	}
	claims, err := s.verifyAccess(c, raw)
	if err != nil {
		return nil, err
	}
	c.Set(ctxClientID, claims.ClientID)
	return claims, nil
}
