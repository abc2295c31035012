package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh is POST /v1/refresh: spend a refresh token for a new pair of the
// same session.
// The token comes from the body (mobile apps; the answer carries the new
// one) or, when the body has none, from the refresh cookie under the
// cookie rules (SPAs; the new one goes back in the cookie).
func (s *Server) refresh(c echo.Context) error {
	var req refreshRequest
	if err := decodeJSON(c, &req, true); err != nil {
		return err
	}
	raw, fromCookie := req.RefreshToken, false
	if raw == "" {
		if raw = s.refreshCookie(c); raw == "" {
			return errRequest("refresh_token is required")
		}
		if err := s.cookieRequest(c); err != nil {
			return err
		}
		fromCookie = true
	}
	claims, cl, err := s.refreshClaims(c, raw)
	if err == nil {
		var pair token.Pair
		if pair, err = s.rotate(c, claims, cl, ""); err == nil {
			if fromCookie {
				return s.answerCookie(c, http.StatusOK, pair)
			}
			noStore(c)
			return c.JSON(http.StatusOK, s.tokenResponse(pair))
		}
	}
	var e *Error
	if fromCookie && errors.As(err, &e) && e.Code == codeInvalidGrant {
		s.clearRefreshCookie(c) // a dead cookie is of no use to the browser
	}
	return err
}

// refreshClaims verifies a refresh token and the caller's right to spend
// it on /v1/refresh: the token's client must still exist with the
// refresh_token grant, a confidential client must authenticate as itself,
// and a caller authenticated as another client may not spend a public
// client's token (RFC 6749 §6).
func (s *Server) refreshClaims(c echo.Context, raw string) (*token.RefreshClaims, *clients.Client, error) {
	claims, err := s.opts.Verifier.Refresh(c.Request().Context(), raw)
	if err != nil {
		return nil, nil, invalidGrant(err)
	}
	cl, ok := s.clients.Get(claims.ClientID)
	if !ok || !cl.Has(clients.GrantRefreshToken) {
		return nil, nil, &Error{Status: http.StatusBadRequest, Code: codeInvalidGrant, Description: "refresh token's client may not refresh"}
	}
	caller, err := s.authenticate(c, nil)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case cl.Confidential() && (caller == nil || caller.ID != cl.ID):
		return nil, nil, errClient()
	case caller != nil && caller.ID != cl.ID:
		return nil, nil, &Error{Status: http.StatusBadRequest, Code: codeInvalidGrant, Description: "refresh token was issued to another client"}
	}
	c.Set(ctxClientID, cl.ID)
	return claims, cl, nil
}

// rotate spends the refresh token and mints the next pair; accessScope
// narrows the new access token (empty: the granted scope). A retry within
// tokens.reuse_grace answers the same pair: the store returns the recorded
// identifiers and instant, and minting them again gives the same claims.
func (s *Server) rotate(c echo.Context, claims *token.RefreshClaims, cl *clients.Client, accessScope string) (token.Pair, error) {
	ctx := c.Request().Context()
	if _, ok := s.clients.Get(claims.Subject); ok {
		// Opened before a client of the same id was configured: keep the
		// namespaces apart (see openSession) by ending the session.
		return token.Pair{}, &Error{Status: http.StatusBadRequest, Code: codeInvalidGrant, Description: "the session's subject is now a client id"}
	}
	if !s.opts.Tokens.SessionEnd(claims.AuthTime.Time).After(s.now()) {
		return token.Pair{}, invalidGrant(token.ErrSessionOver)
	}
	// No Check first: Spend refuses a revoked session and a subject cut-off
	// in its own atomic step, which a separate Check could race.
	scope, aud, err := cl.Narrow(claims.Scope, claims.AccessAudience, s.opts.DefaultAudience)
	if err != nil {
		return token.Pair{}, refusal(err)
	}
	g := s.opts.Issuer.NewGrant()
	childScope := accessScope
	if childScope == "" {
		childScope = scope
	}
	out, err := s.opts.Store.Spend(ctx, revocation.Spend{
		SID: claims.SID, JTI: claims.ID, Subject: claims.Subject, IssuedAt: claims.IssuedAt.Time,
		Child: revocation.Child{IssuedAt: g.IssuedAt, AccessID: g.AccessID, RefreshID: g.RefreshID, ClientID: cl.ID, Scope: childScope},
		Grace: s.opts.ReuseGrace,
		TTL:   s.opts.Tokens.SessionTTL(claims.AuthTime.Time),
	})
	err = s.feedDelayed(c, err)
	if errors.Is(err, revocation.ErrReused) {
		// A spent refresh token came back: usually a stolen one (RFC 6819
		// §5.2.2.3). The store has revoked the whole session.
		s.metrics.reuse.Inc()
		s.log.LogAttrs(ctx, slog.LevelWarn, "refresh token reuse detected; session revoked",
			slog.String("request_id", requestID(c)), slog.String("sid", claims.SID),
			slog.String("sub", claims.Subject), slog.String("client_id", cl.ID))
	}
	if err != nil {
		s.countStoreError("spend", err)
		return token.Pair{}, invalidGrant(err)
	}
	pair, err := s.opts.Issuer.Mint(token.Session{
		Subject: claims.Subject, ClientID: cl.ID, SID: claims.SID,
		Scope: scope, AccessScope: out.Child.Scope,
		Audience: aud, Claims: claims.Claims, AuthTime: claims.AuthTime.Time,
	}, token.Grant{IssuedAt: out.Child.IssuedAt, AccessID: out.Child.AccessID, RefreshID: out.Child.RefreshID}, true)
	if err != nil {
		return token.Pair{}, invalidGrant(err)
	}
	return pair, nil
}

// countStoreError counts a store outage. A call the client cancelled by
// hanging up is not one, whatever the store wrapped it in.
func (s *Server) countStoreError(op string, err error) {
	if errors.Is(err, revocation.ErrUnavailable) && !errors.Is(err, context.Canceled) {
		s.metrics.storeErr.WithLabelValues(op).Inc()
	}
}

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

// revokeSubject is POST /v1/admin/subjects/{sub}/revoke: logout/all for
// any subject, by an admin client.
func (s *Server) revokeSubject(c echo.Context) error {
	if _, err := s.confidential(c, nil, clients.GrantAdmin); err != nil {
		return err
	}
	sub, err := pathParam(c, "sub")
	if err != nil {
		return errRequest("sub is not a valid path segment")
	}
	if err := checkSubject(sub); err != nil {
		return err
	}
	return s.revoked(c, s.cutOff(c, sub))
}

// pathParam returns a path parameter decoded exactly once. Echo matches
// routes on URL.RawPath when the request has one (net/url keeps it only
// when the path has escapes its default encoding would not make, such as
// %2F or %41) and leaves the parameters as escaped; otherwise it matches
// URL.Path, which net/url has already decoded, and decoding that again
// would turn "a%2541" into "aA" and refuse "%25".
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	return url.PathUnescape(v)
}

func (s *Server) cutOff(c echo.Context, sub string) error {
	return s.opts.Store.RevokeSubject(c.Request().Context(), sub, s.now().Truncate(time.Second), s.opts.Tokens.SubjectTTL())
}

// authTime is the login instant of an access token; a token without one
// (none jwtd minted) counts from its iat.
func authTime(ac *token.AccessClaims) time.Time {
	if ac.AuthTime != nil {
		return ac.AuthTime.Time
	}
	return ac.IssuedAt.Time
}
