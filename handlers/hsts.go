package handlers

import "github.com/labstack/echo/v4"

// hsts tells browsers to reach this host over HTTPS only, for a year (RFC
// 6797 §6.1). It is the outermost middleware, so errors and unknown paths
// carry it too. No includeSubDomains: jwtd cannot know what else its domain serves.
func hsts(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header()["Strict-Transport-Security"] = hstsVals
		return next(c)
	}
}

var hstsVals = []string{"max-age=31536000"}
