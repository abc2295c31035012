package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/redistest"
)

// TestResourceExample builds examples/resource-server, runs it against the
// jwtd binary, and checks what the docs say it does: a token of the read
// scope is served, no token and a bad one are 401, a route needing write
// is 403, and a logout at jwtd reaches the example through the feed.
func TestResourceExample(t *testing.T) {
	bin := buildBinary(t)
	jwtd := startAtIssuer(t, bin, shippedConfigDir(t))

	rs := startResourceServer(t, jwtd.base)
	base := rs.base

	alice, bob := loginPair(t, jwtd.base), loginPair(t, jwtd.base)
	tests := []struct {
		name, method, path, authz string
		status                    int
		body, challenge           string
	}{
		{"read token", "GET", "/hello", "Bearer " + alice.AccessToken, 200, `{"hello":"alice"}`, ""},
		{"no token", "GET", "/hello", "", 401, "missing bearer token", "Bearer"},
		{"bad token", "GET", "/hello", "Bearer abc.def.ghi", 401, "token malformed", `Bearer error="invalid_token", error_description="token malformed"`},
		{"refresh token", "GET", "/hello", "Bearer " + alice.RefreshToken, 401, "wrong token type", `Bearer error="invalid_token", error_description="wrong token type"`},
		{"write route", "POST", "/notes", "Bearer " + alice.AccessToken, 403, "token lacks a required scope",
			`Bearer error="insufficient_scope", error_description="token lacks a required scope", scope="write"`},
	}
	for _, tt := range tests {
		code, h, body := call(t, tt.method, base+tt.path, tt.authz, "")
		if code != tt.status || !strings.Contains(string(body), tt.body) || h.Get("WWW-Authenticate") != tt.challenge {
			t.Errorf("%s %s (%s): %d %q %s, want %d %q %s", tt.method, tt.path, tt.name, code, h.Get("WWW-Authenticate"), body,
				tt.status, tt.challenge, tt.body)
		}
	}

	if code, _, body := call(t, "POST", jwtd.base+"/v1/logout", "Bearer "+alice.AccessToken, ""); code != 204 {
		t.Fatalf("POST /v1/logout: %d %s", code, body)
	}
	// The feed carries the logout to the example in milliseconds; wait
	// for it, bounded.
	if err := redistest.Eventually(10*time.Second, func() error {
		code, h, _ := call(t, "GET", base+"/hello", "Bearer "+alice.AccessToken, "")
		if code != 401 || h.Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="token revoked"` {
			return fmt.Errorf("GET /hello after logout: %d %q", code, h.Get("WWW-Authenticate"))
		}
		return nil
	}); err != nil {
		t.Fatalf("%v\nresource-server:\n%s", err, rs.Logs())
	}
	if code, _, body := call(t, "GET", base+"/hello", "Bearer "+bob.AccessToken, ""); code != 200 {
		t.Errorf("GET /hello with another session's token after the logout: %d %s", code, body)
	}

	if err := rs.stop(t); err != nil {
		t.Errorf("resource-server after SIGTERM: %v\n%s", err, rs.Logs())
	}
}
