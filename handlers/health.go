package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

type status struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, status{Status: "ok"})
}

// readyz is 200 when both key rings can sign and the revocation store
// answers, 503 with the reason otherwise.
func (s *Server) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if !s.opts.AccessKeys.Ready() || !s.opts.RefreshKeys.Ready() {
		return c.JSON(http.StatusServiceUnavailable, status{Status: "unavailable", Reason: "signing keys not loaded"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	ready := s.opts.Store.Ping
	if r, ok := s.opts.Store.(interface{ Ready(context.Context) error }); ok {
		ready = r.Ready // a mirrored store: the mirror current and the store answering
	}
	if err := ready(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, status{Status: "unavailable", Reason: "revocation store unreachable"})
	}
	return c.JSON(http.StatusOK, status{Status: "ready"})
}
