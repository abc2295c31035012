package handlers

import (
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/jwtd/jwtd/token"
)

// CookieOptions shape the refresh cookie (docs/api.md, "Cookies and CSRF").
type CookieOptions struct {
	Name     string
	SameSite http.SameSite
	Secure   bool
}

// csrfHeader is the header a cookie-borne request must carry. A page on
// another origin cannot send it without a CORS preflight, which only the
// configured origins pass.
const csrfHeader, csrfValue = "X-Requested-With", "jwtd"

// cors answers the configured origins only, with credentials, matching
// each origin exactly (no wildcards, no subdomains).
func (s *Server) cors() echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc:  func(origin string) (bool, error) { return slices.Contains(s.opts.AllowedOrigins, origin), nil },
		AllowCredentials: true,
		AllowMethods:     []string{http.MethodGet, http.MethodPost},
		AllowHeaders:     []string{echo.HeaderContentType, echo.HeaderAuthorization, csrfHeader},
		MaxAge:           600,
	})
}

// cookieRequest enforces the rules for a request that relies on the
// refresh cookie: an Origin among cors.allowed_origins and the CSRF header.
func (s *Server) cookieRequest(c echo.Context) error {
	r := c.Request()
	if !slices.Contains(s.opts.AllowedOrigins, r.Header.Get(echo.HeaderOrigin)) || r.Header.Get(csrfHeader) != csrfValue {
		return &Error{Status: http.StatusForbidden, Code: codeInvalidRequest,
			Description: "a cookie request needs an allowed Origin and the header X-Requested-With: jwtd"}
	}
	return nil
}

// refreshCookie reads the refresh cookie, if any.
func (s *Server) refreshCookie(c echo.Context) string {
	ck, err := c.Cookie(s.opts.Cookie.Name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// setRefreshCookie puts the refresh token in an HttpOnly cookie for jwtd's
// own host: Path=/ and no Domain (which a __Host- name requires).
func (s *Server) setRefreshCookie(c echo.Context, p token.Pair) {
	c.SetCookie(&http.Cookie{
		Name: s.opts.Cookie.Name, Value: p.Refresh, Path: "/",
		MaxAge:   int(p.RefreshClaims.ExpiresAt.Sub(s.now()).Seconds()),
		HttpOnly: true, Secure: s.opts.Cookie.Secure, SameSite: s.opts.Cookie.SameSite,
	})
}

func (s *Server) clearRefreshCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: s.opts.Cookie.Name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: s.opts.Cookie.Secure, SameSite: s.opts.Cookie.SameSite,
	})
}
