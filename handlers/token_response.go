package handlers

import (
	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/token"
)

// tokenResponse is the answer of every endpoint that mints (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
	Scope            string `json:"scope,omitempty"`
	SessionID        string `json:"session_id,omitempty"`
}

func (s *Server) tokenResponse(p token.Pair) tokenResponse {
	now := s.now()
	r := tokenResponse{
		AccessToken: p.Access,
		TokenType:   "Bearer",
		ExpiresIn:   secondsUntil(p.AccessClaims.ExpiresAt, now.Unix()),
		Scope:       p.AccessClaims.Scope,
		SessionID:   p.AccessClaims.SID,
	}
	if p.Refresh != "" {
		r.RefreshToken = p.Refresh
		r.RefreshExpiresIn = secondsUntil(p.RefreshClaims.ExpiresAt, now.Unix())
	}
	s.metrics.issued.WithLabelValues("access").Inc()
	if p.Refresh != "" {
		s.metrics.issued.WithLabelValues("refresh").Inc()
	}
	return r
}

func secondsUntil(t *jwt.NumericDate, now int64) int64 {
	if d := t.Unix() - now; d > 0 {
		return d
	}
	return 0
}

// codeResponse is the answer of "delivery": "code".
type codeResponse struct {
	Code      string `json:"code"`
	ExpiresIn int64  `json:"expires_in"`
}

// answerCookie answers a token response whose refresh token travels in
// the cookie only.
func (s *Server) answerCookie(c echo.Context, status int, p token.Pair) error {
	s.setRefreshCookie(c, p)
	res := s.tokenResponse(p)
	res.RefreshToken = ""
	noStore(c)
	return c.JSON(status, res)
}
