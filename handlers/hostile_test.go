package handlers_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHostileInputs sends every route a grid of malformed bodies, content
// types and credentials. Nothing may answer 5xx, every 4xx has the RFC
// 6749 §5.2 shape, and no answer echoes the input back.
func TestHostileInputs(t *testing.T) {
	h := newHarness(t, withCookies)
	tr := h.login(`{"sub":"alice","client_id":"app"}`)
	routes := []struct{ method, path string }{
		{"POST", "/v1/sessions"}, {"POST", "/v1/sessions/exchange"}, {"POST", "/v1/refresh"}, {"GET", "/v1/session"},
		{"POST", "/v1/logout"}, {"POST", "/v1/logout/all"}, {"POST", "/oauth/token"}, {"POST", "/oauth/revoke"},
		{"POST", "/oauth/introspect"}, {"GET", "/v1/revocations"}, {"POST", "/v1/admin/keys/rotate"},
		{"POST", "/v1/admin/subjects/%25ZZ/revoke"}, {"POST", "/v1/admin/subjects/" + strings.Repeat("a", 300) + "/revoke"},
		{"GET", "/.well-known/jwks.json"}, {"GET", "/.well-known/openid-configuration"}, {"GET", "/healthz"},
		{"PUT", "/v1/sessions"}, {"DELETE", "/oauth/token"}, {"GET", "/nope"}, {"OPTIONS", "/v1/refresh"},
	}
	const marker = "HOSTILE-MARKER-7c1e"
	bodies := []string{
		"", "{}", "null", "[]", `"x"`, "0", "{", `{"sub":"` + marker + `"}`, `{"refresh_token":"` + marker + `"}`,
		`{"code":"` + marker + `","code_verifier":"x"}`, `{"revoke_current":"yes"}`, "\xff\xfe\x00\x01",
		"grant_type=refresh_token&refresh_token=" + marker, "grant_type=client_credentials&grant_type=x", "token=" + marker + "&token_type_hint=zzz",
		"a=%zz", strings.Repeat("{", 5000), `{"sub":"a","claims":{"` + marker + `":` + strings.Repeat("1", 3000) + `}}`,
	}
	ctypes := []string{"", "application/json", "application/x-www-form-urlencoded", "text/plain", "application/json; charset=utf-16", "multipart/form-data; boundary=x"}
	auths := []string{"", "Basic !!!", "Basic " + marker, basic("backend", backendSecret), basic("argon-backend", slowSecret), basic("app", ""),
		"Bearer " + marker, "Bearer " + tr.AccessToken, "Bearer " + tr.RefreshToken, "Digest x", "Bearer"}
	n := 0
	for _, rt := range routes {
		for _, body := range bodies {
			for _, ct := range ctypes {
				for _, auth := range auths {
					r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
					if ct != "" {
						r.Header.Set("Content-Type", ct)
					}
					if auth != "" {
						r.Header.Set("Authorization", auth)
					}
					r.Header.Set("Origin", spaOrigin)
					w := httptest.NewRecorder()
					h.srv.ServeHTTP(w, r)
					n++
					if w.Code >= 500 {
						t.Fatalf("%s %s body %.40q type %q auth %.30q: %d %s", rt.method, rt.path, body, ct, auth, w.Code, w.Body)
					}
					if strings.Contains(w.Body.String(), marker) || strings.Contains(strings.Join(w.Header().Values("WWW-Authenticate"), " "), marker) {
						t.Fatalf("%s %s echoes the input: %s", rt.method, rt.path, w.Body)
					}
					if w.Code >= 400 {
						var e map[string]string
						if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e["error"] == "" || w.Header().Get("Cache-Control") != "no-store" {
							t.Fatalf("%s %s: %d %q is not an RFC 6749 error answer", rt.method, rt.path, w.Code, w.Body)
						}
					}
				}
			}
		}
	}
	t.Logf("%d hostile requests, no 5xx", n)
}
