package handlers

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
)

// authenticate finds the calling client from HTTP Basic (RFC 6749 §2.3.1)
// or, when form is not nil, client_secret_post. It returns nil and no
// error when the request carries no client credentials; using two methods
// at once is refused (RFC 6749 §2.3).
func (s *Server) authenticate(c echo.Context, form url.Values) (*clients.Client, error) {
	authz := c.Request().Header.Values("Authorization")
	var postID, postSecret string
	hasPost := false
	if form != nil {
		_, hasPost = form["client_secret"]
		postID, postSecret = form.Get("client_id"), form.Get("client_secret")
	}
	if len(authz) == 0 {
		if !hasPost {
			return nil, nil
		}
		return s.verifyClient(c, postID, postSecret)
	}
	if hasPost || len(authz) > 1 {
		return nil, errRequest("more than one client authentication method")
	}
	id, secret, err := parseBasic(authz[0])
	if err != nil {
		return nil, errClient()
	}
	if form != nil && form.Get("client_id") != "" && form.Get("client_id") != id {
		return nil, errRequest("client_id does not match the authenticated client")
	}
	return s.verifyClient(c, id, secret)
}

func (s *Server) verifyClient(c echo.Context, id, secret string) (*clients.Client, error) {
	cl, ok, err := s.clients.Verify(c.Request().Context(), id, secret)
	if err != nil {
		return nil, refusal(err)
	}
	if !ok {
		return nil, errClient()
	}
	if cl.Confidential() {
		// Only a request that proved the secret spends the client's rate
		// budget: a holder of one of its tokens must not drain it.
		c.Set(ctxAuthenticated, cl.ID)
	}
	return cl, nil
}

// confidential authenticates the caller and requires grant.
func (s *Server) confidential(c echo.Context, form url.Values, grant string) (*clients.Client, error) {
	cl, err := s.authenticate(c, form)
	if err != nil {
		return nil, err
	}
	if cl == nil || !cl.Confidential() {
		return nil, errClient()
	}
	if !cl.Has(grant) {
		e := errUnauthorizedClient(fmt.Sprintf("client lacks the %s grant", grant))
		if grant == clients.GrantAdmin {
			// The admin endpoints are no OAuth grant: the request is fine,
			// its sender may not make it (RFC 9110 §15.5.4).
			e.Status = http.StatusForbidden
		}
		return nil, e
	}
	c.Set(ctxClientID, cl.ID)
	return cl, nil
}

// parseBasic decodes "Basic base64(urlencode(id):urlencode(secret))".
func parseBasic(h string) (id, secret string, err error) {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", errNotBasic
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", err
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errNoColon
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", err
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", err
	}
	return id, secret, nil
}
