package handlers

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
)

type rotateRequest struct {
	RevokeCurrent bool   `json:"revoke_current"`
	Purpose       string `json:"purpose"`
}

type rotateResponse struct {
	ActiveKID         string `json:"active_kid"`
	RevokedKID        string `json:"revoked_kid,omitempty"`
	RevokedRefreshKID string `json:"revoked_refresh_kid,omitempty"`
}

// rotateKeys is POST /v1/admin/keys/rotate. Both rings rotate. With
// revoke_current the key that was active is deleted at once, in the ring
// purpose names: "access" (the default) for a compromised access key,
// "refresh" for a compromised refresh key, "all" for both. Revoking a
// refresh key kills every refresh token and handoff code it signed, so
// every session whose newest refresh token it signed must log in again;
// sessions are not otherwise touched, and access tokens keep working until
// they expire unless their key is revoked too.
func (s *Server) rotateKeys(c echo.Context) error {
	if _, err := s.confidential(c, nil, clients.GrantAdmin); err != nil {
		return err
	}
	var req rotateRequest
	if err := decodeJSON(c, &req, true); err != nil {
		return err
	}
	if req.Purpose != "" && !req.RevokeCurrent {
		return errRequest(`purpose goes with "revoke_current": true only`)
	}
	var revokeAccess, revokeRefresh bool
	switch req.Purpose {
	case "", "access":
		revokeAccess = req.RevokeCurrent
	case "refresh":
		revokeRefresh = true
	case "all":
		revokeAccess, revokeRefresh = true, true
	default:
		return errRequest(`purpose must be "access", "refresh" or "all"`)
	}
	active := func(r keyRing) string {
		var id string
		for _, k := range r.List() {
			if k.State == "active" {
				id = k.ID
			}
		}
		return id
	}
	ctx := c.Request().Context()
	oldAccess, oldRefresh := active(s.opts.AccessKeys), active(s.opts.RefreshKeys)
	kid, err := s.opts.AccessKeys.Rotate(ctx, revokeAccess)
	if err != nil {
		return fmt.Errorf("rotate access keys: %w", err)
	}
	if _, err := s.opts.RefreshKeys.Rotate(ctx, revokeRefresh); err != nil {
		return fmt.Errorf("rotate refresh keys: %w", err)
	}
	res := rotateResponse{ActiveKID: kid}
	if revokeAccess {
		res.RevokedKID = oldAccess
	}
	if revokeRefresh {
		res.RevokedRefreshKID = oldRefresh
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, res)
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
