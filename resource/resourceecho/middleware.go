package resourceecho

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/resource"
	"github.com/jwtd/jwtd/token"
)

// ClaimsKey is the echo.Context key Middleware stores the claims under.
const ClaimsKey = "jwtd.claims"

// Middleware is v.Middleware(scopes...) for Echo: the same token and scope
// checks and the same answers, written by resource.WriteError straight to
// the response (not through Echo's HTTPErrorHandler, so every Echo
// application answers alike). On success the claims are in
// c.Request().Context() (resource.ClaimsFrom) and under ClaimsKey (Claims).
// Like v.Middleware, it panics on a scope that is not a scope-token.
func Middleware(v *resource.Verifier, scopes ...string) echo.MiddlewareFunc {
	guard := v.Middleware(scopes...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			var err error
			guard(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				claims, _ := resource.ClaimsFrom(r.Context())
				c.SetRequest(r)
				c.Set(ClaimsKey, claims)
				err = next(c)
			})).ServeHTTP(c.Response(), c.Request())
			return err
		}
	}
}

// Claims returns the claims Middleware verified for c.
func Claims(c echo.Context) (*token.AccessClaims, bool) {
	if claims, ok := c.Get(ClaimsKey).(*token.AccessClaims); ok && claims != nil {
		return claims, true
	}
	return resource.ClaimsFrom(c.Request().Context())
}
