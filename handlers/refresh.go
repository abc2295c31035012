package handlers

import (
	"errors"
	"log/slog"
	"net/http"

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
	st := s.opts.Issuer.NewStamp()
	childScope := accessScope
	if childScope == "" {
		childScope = scope
	}
	out, err := s.opts.Store.Spend(ctx, revocation.Spend{
		SID: claims.SID, JTI: claims.ID, Subject: claims.Subject, IssuedAt: claims.IssuedAt.Time,
		Child: revocation.Child{IssuedAt: st.IssuedAt, AccessID: st.AccessID, RefreshID: st.RefreshID, ClientID: cl.ID, Scope: childScope},
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
	}, token.Stamp{IssuedAt: out.Child.IssuedAt, AccessID: out.Child.AccessID, RefreshID: out.Child.RefreshID}, true)
	if err != nil {
		return token.Pair{}, invalidGrant(err)
	}
	return pair, nil
}
