package handlers_test

import (
	"testing"

	"github.com/jwtd/jwtd/handlers"
)

// TestHSTS: Strict-Transport-Security (RFC 6797) is on every answer,
// errors and unknown routes included, when HSTS is set, and never otherwise.
func TestHSTS(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := newHarness(t, func(_ *harness, o *handlers.Options) { o.HSTS = on })
		want := map[bool]string{true: "max-age=31536000", false: ""}[on]
		for _, r := range []req{
			{method: "GET", path: "/healthz"},
			{method: "GET", path: "/.well-known/jwks.json"},
			{method: "GET", path: "/nope"},
			{method: "POST", path: "/v1/sessions", body: "{", ctype: "application/json"},
			{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer x"}},
		} {
			if got := h.do(r).Header().Get("Strict-Transport-Security"); got != want {
				t.Errorf("HSTS %v: %s %s: Strict-Transport-Security = %q, want %q", on, r.method, r.path, got, want)
			}
		}
	}
}
