package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/token"
)

// oauthToken is POST /oauth/token (RFC 6749 §5, form-encoded).
func (s *Server) oauthToken(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	var pair token.Pair
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
		pair, err = s.refreshGrant(c, form)
	case "client_credentials":
		pair, err = s.clientCredentials(c, form)
	case "":
		return errRequest("grant_type is required")
	default:
		return &Error{Status: http.StatusBadRequest, Code: codeUnsupportedGrantType, Description: "grant_type must be refresh_token or client_credentials"}
	}
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, s.tokenResponse(pair))
}

// formClient identifies the caller of a form endpoint: a confidential
// client by its credentials, a public one by client_id (RFC 6749 §3.2.1).
// A confidential client that sends only its client_id has not
// authenticated.
func (s *Server) formClient(c echo.Context, form url.Values) (*clients.Client, error) {
	cl, err := s.authenticate(c, form)
	if err != nil || cl != nil {
		if cl != nil {
			c.Set(ctxClientID, cl.ID)
		}
		return cl, err
	}
	cl, ok := s.clients.Get(form.Get("client_id"))
	if !ok || cl.Confidential() {
		return nil, errClient()
	}
	c.Set(ctxClientID, cl.ID)
	return cl, nil
}

// refreshGrant is grant_type=refresh_token: the same rotation as
// /v1/refresh, for the client the token was issued to, optionally with a
// narrower scope for the new access token (RFC 6749 §6).
func (s *Server) refreshGrant(c echo.Context, form url.Values) (token.Pair, error) {
	cl, err := s.formClient(c, form)
	if err != nil {
		return token.Pair{}, err
	}
	if !cl.Has(clients.GrantRefreshToken) {
		return token.Pair{}, errUnauthorizedClient("client lacks the refresh_token grant")
	}
	raw := form.Get("refresh_token")
	if raw == "" {
		return token.Pair{}, errRequest("refresh_token is required")
	}
	claims, err := s.opts.Verifier.Refresh(c.Request().Context(), raw)
	if err != nil {
		return token.Pair{}, invalidGrant(err)
	}
	if claims.ClientID != cl.ID {
		return token.Pair{}, &Error{Status: http.StatusBadRequest, Code: codeInvalidGrant, Description: "refresh token was issued to another client"}
	}
	scope, err := clients.NarrowScope(form.Get("scope"), strings.Fields(clients.KeepScope(claims.Scope, cl.Scopes)))
	if err != nil {
		return token.Pair{}, errScope("scope exceeds the scope granted to the refresh token")
	}
	return s.rotate(c, claims, cl, scope)
}

// clientCredentials is grant_type=client_credentials: an access token for
// a confidential client itself (sub = its id), no refresh token, no session.
func (s *Server) clientCredentials(c echo.Context, form url.Values) (token.Pair, error) {
	cl, err := s.confidential(c, form, clients.GrantClientCredentials)
	if err != nil {
		return token.Pair{}, err
	}
	scope, err := clients.NarrowScope(form.Get("scope"), cl.Scopes)
	if err != nil {
		return token.Pair{}, refusal(err)
	}
	aud, err := cl.Audience(strings.Fields(form.Get("audience")), s.opts.DefaultAudience)
	if err != nil {
		return token.Pair{}, refusal(err)
	}
	if err := s.opts.Store.Ping(c.Request().Context()); err != nil {
		s.countStoreError("ping", err)
		return token.Pair{}, err
	}
	st := s.opts.Issuer.NewStamp()
	return s.opts.Issuer.Mint(token.Session{Subject: cl.ID, ClientID: cl.ID, Scope: scope, Audience: aud, AuthTime: st.IssuedAt}, st, false)
}

// oauthRevoke is POST /oauth/revoke (RFC 7009). A refresh token revokes
// its whole session; an access token is denylisted until it expires. An
// unknown or invalid token is a 200 too (§2.2); a valid token of another
// client is refused (§2.1).
func (s *Server) oauthRevoke(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	cl, err := s.formClient(c, form)
	if err != nil {
		return err
	}
	raw := form.Get("token")
	if raw == "" {
		return errRequest("token is required")
	}
	// An access token and a refresh token never both verify (their typ
	// and key families differ), so token_type_hint changes nothing and is
	// ignored, as RFC 7009 §2.1 allows.
	ctx := c.Request().Context()
	var owner string
	var revoke func() error
	if ac, err := s.opts.Verifier.Access(ctx, raw); err == nil {
		owner = ac.ClientID
		revoke = func() error { return s.opts.Store.RevokeToken(ctx, ac.ID, s.opts.Tokens.TokenTTL(ac.ExpiresAt.Time)) }
	} else if rc, err := s.opts.Verifier.Refresh(ctx, raw); err == nil {
		owner = rc.ClientID
		revoke = func() error {
			return s.opts.Store.RevokeSession(ctx, rc.Subject, rc.SID, s.opts.Tokens.SessionTTL(rc.AuthTime.Time))
		}
	}
	switch {
	case revoke == nil: // unknown, malformed or expired: nothing to do (§2.2)
	case owner != cl.ID:
		return errRequest("token was issued to another client")
	default:
		if err := s.feedDelayed(c, revoke()); err != nil {
			s.countStoreError("revoke", err)
			return err
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// oauthIntrospect is POST /oauth/introspect (RFC 7662) for confidential
// clients with the introspect grant. Anything that is not a valid access
// token now (revoked, expired, forged, a refresh token, or unchecked while
// the store is down with fail_mode closed) is {"active": false}.
func (s *Server) oauthIntrospect(c echo.Context) error {
	form, err := readForm(c)
	if err != nil {
		return err
	}
	if _, err := s.confidential(c, form, clients.GrantIntrospect); err != nil {
		return err
	}
	raw := form.Get("token")
	if raw == "" {
		return errRequest("token is required")
	}
	c.Response().Header()["Cache-Control"] = noStoreVals
	ac, err := s.verifyAccess(c, raw)
	if err != nil {
		return c.JSON(http.StatusOK, map[string]bool{"active": false})
	}
	// The claims, then the two members RFC 7662 adds: no claim can carry
	// their names (token reserves them), so the object has no duplicate.
	// MarshalJSON writes what json.Marshal would (compact, HTML-safe), so
	// it is called as it is, without json.Marshal's second pass over it.
	body, err := ac.MarshalJSON()
	if err != nil {
		return err
	}
	body = append(body[:len(body)-1], `,"active":true,"token_type":"Bearer"}`...)
	return writeJSON(c, body)
}
