package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// logout is POST /v1/logout: revoke the session of a bearer access token
// or of a refresh token in the body. Revoking twice is not an error, so a
// revoked token may log out again; a forged or expired one may not.
func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if len(c.Request().Header.Values("Authorization")) > 0 {
		raw, err := bearerToken(c.Request())
		if err != nil {
			return err
		}
		ac, err := s.opts.Verifier.Access(ctx, raw)
		if err != nil {
			return bearer(err)
		}
		c.Set(ctxClientID, ac.ClientID)
		if ac.SID == "" { // a client-credentials token has no session: revoke it alone
			return s.finishLogout(c, s.opts.Store.RevokeToken(ctx, ac.ID, s.opts.Tokens.TokenTTL(ac.ExpiresAt.Time)))
		}
		return s.finishLogout(c, s.opts.Store.RevokeSession(ctx, ac.Subject, ac.SID, s.opts.Tokens.SessionTTL(authTime(ac))))
	}
	var req refreshRequest
	if err := decodeJSON(c, &req, true); err != nil {
		return err
	}
	raw := req.RefreshToken
	if raw == "" {
		if raw = s.refreshCookie(c); raw == "" {
			return errBearer("missing bearer token or refresh_token")
		}
		if err := s.cookieRequest(c); err != nil {
			return err
		}
	}
	rc, err := s.opts.Verifier.Refresh(ctx, raw)
	if err != nil {
		return bearer(err)
	}
	c.Set(ctxClientID, rc.ClientID)
	return s.finishLogout(c, s.opts.Store.RevokeSession(ctx, rc.Subject, rc.SID, s.opts.Tokens.SessionTTL(rc.AuthTime.Time)))
}

// finishLogout answers a revocation: 204, and the cookie cleared (a
// logout answer goes to the user's browser).
func (s *Server) finishLogout(c echo.Context, err error) error {
	if err = s.feedDelayed(c, err); err != nil {
		return err
	}
	s.clearRefreshCookie(c)
	return s.revoked(c, nil)
}

func (s *Server) revoked(c echo.Context, err error) error {
	if err = s.feedDelayed(c, err); err != nil {
		s.countStoreError("revoke", err)
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusNoContent)
}

// logoutAll is POST /v1/logout/all: revoke every token of the bearer's
// subject issued in or before the current second.
func (s *Server) logoutAll(c echo.Context) error {
	ac, err := s.bearerClaims(c)
	if err != nil {
		return err
	}
	return s.finishLogout(c, s.cutOff(c, ac.Subject))
}

func (s *Server) cutOff(c echo.Context, sub string) error {
	return s.opts.Store.RevokeSubject(c.Request().Context(), sub, s.now().Truncate(time.Second), s.opts.Tokens.SubjectTTL())
}
