package handlers_test

import (
	"encoding/json"
	"testing"
	"time"
)

// TestRotateRevokeRefresh: an operator retires a compromised refresh key
// with revoke_current and purpose. Every refresh token and handoff code it
// signed stops verifying (400 invalid_grant); access tokens keep working
// until they expire, unless purpose is all.
func TestRotateRevokeRefresh(t *testing.T) {
	admin := map[string]string{"Authorization": basic("argon-backend", slowSecret)}
	rotate := func(t *testing.T, h *harness, body string) map[string]string {
		t.Helper()
		w := h.do(req{method: "POST", path: "/v1/admin/keys/rotate", body: body, ctype: "application/json", header: admin})
		var res map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &res)
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("rotate %s: %d %s", body, w.Code, w.Body)
		}
		return res
	}
	t.Run("bad requests", func(t *testing.T) {
		h := newHarness(t)
		for _, tt := range []struct{ name, body, desc string }{
			{"purpose without revoke_current", `{"purpose":"refresh"}`, `purpose goes with "revoke_current": true only`},
			{"purpose with revoke_current false", `{"revoke_current":false,"purpose":"all"}`, `purpose goes with "revoke_current": true only`},
			{"unknown purpose", `{"revoke_current":true,"purpose":"both"}`, `purpose must be "access", "refresh" or "all"`},
			{"purpose of the wrong type", `{"revoke_current":true,"purpose":1}`, "field purpose has the wrong type"},
		} {
			wantError(t, tt.name, h.do(req{method: "POST", path: "/v1/admin/keys/rotate", body: tt.body, ctype: "application/json", header: admin}),
				400, "invalid_request", tt.desc)
		}
	})

	tests := []struct {
		purpose      string
		accessRevoke bool
	}{
		{"refresh", false},
		{"all", true},
	}
	for _, tt := range tests {
		t.Run(tt.purpose, func(t *testing.T) {
			h := newHarness(t, withCookies)
			tr := h.login(`{"sub":"alice","client_id":"app"}`)
			w := h.do(req{method: "POST", path: "/v1/sessions", ctype: "application/json", header: map[string]string{"Authorization": basic("backend", backendSecret)},
				body: `{"sub":"bob","client_id":"app","delivery":"code"}`})
			var coded map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &coded); err != nil || w.Code != 201 {
				t.Fatalf("delivery code: %d %s", w.Code, w.Body)
			}
			oldAccess, _, _, _ := h.access.SigningKey()
			oldRefresh, _, _, _ := h.refresh.SigningKey()

			h.now = h.now.Add(time.Second)
			res := rotate(t, h, `{"revoke_current":true,"purpose":"`+tt.purpose+`"}`)
			newAccess, _, _, _ := h.access.SigningKey()
			newRefresh, _, _, _ := h.refresh.SigningKey()
			if newRefresh == oldRefresh || newAccess == oldAccess || res["active_kid"] != newAccess || res["revoked_refresh_kid"] != oldRefresh {
				t.Fatalf("rotate purpose %s = %v; want active_kid %s, revoked_refresh_kid %s", tt.purpose, res, newAccess, oldRefresh)
			}
			if want := map[bool]string{true: oldAccess, false: ""}[tt.accessRevoke]; res["revoked_kid"] != want {
				t.Fatalf("rotate purpose %s: revoked_kid = %q, want %q", tt.purpose, res["revoked_kid"], want)
			}

			wantError(t, "refresh token of the revoked key", h.do(h.refreshReq(tr.RefreshToken, nil)), 400, "invalid_grant", "token signed by an unknown key")
			wantError(t, "handoff code of the revoked key",
				h.do(req{method: "POST", path: "/v1/sessions/exchange", body: `{"code":"` + coded["code"].(string) + `"}`, ctype: "application/json", header: spaHeaders(nil)}),
				400, "invalid_grant", "code is invalid, expired or already used")
			bearer := map[string]string{"Authorization": "Bearer " + tr.AccessToken}
			if tt.accessRevoke {
				wantError(t, "access token of the revoked key", h.do(req{method: "GET", path: "/v1/session", header: bearer}),
					401, "invalid_token", "token signed by an unknown key")
			} else if code := h.sessionStatus(tr.AccessToken); code != 200 {
				t.Fatalf("access token after revoking the refresh key: %d, want 200 until it expires", code)
			}
			// New sessions work at once with the new keys.
			h.refreshOK(h.login(`{"sub":"carol","client_id":"app"}`).RefreshToken)
		})
	}
}
