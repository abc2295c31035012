package handlers

import "time"

// SetSlowHashWait sets how long a slow check waits for a slot.
func SetSlowHashWait(s *Server, d time.Duration) { s.clients.wait = d }

// HoldSlowHashSlots takes every slow-hash slot until release is called.
func HoldSlowHashSlots(s *Server) (release func()) {
	for range cap(s.clients.slots) {
		s.clients.slots <- struct{}{}
	}
	return func() {
		for range cap(s.clients.slots) {
			<-s.clients.slots
		}
	}
}

// Routes lists every route New registered as "METHOD path", in Echo's
// syntax (":sub"), so the contract test can compare them with
// docs/openapi.yaml.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}
