package handlers_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func refreshCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == "__Host-jwtd_refresh" {
			return c
		}
	}
	t.Fatalf("no refresh cookie in %v", w.Header().Values("Set-Cookie"))
	return nil
}

// wantCookie checks every attribute docs/api.md requires of the refresh cookie.
func wantCookie(t *testing.T, call string, w *httptest.ResponseRecorder, maxAge int) *http.Cookie {
	t.Helper()
	c := refreshCookie(t, w)
	raw := w.Header().Get("Set-Cookie")
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || strings.Contains(strings.ToLower(raw), "domain=") {
		t.Fatalf("%s: cookie %q lacks HttpOnly, Secure, SameSite=Strict, Path=/ or has a Domain", call, raw)
	}
	if maxAge > 0 && (c.MaxAge != maxAge || c.Value == "") {
		t.Fatalf("%s: Max-Age %d, want %d", call, c.MaxAge, maxAge)
	}
	if maxAge < 0 && (c.MaxAge >= 0 || c.Value != "") {
		t.Fatalf("%s: cookie %q is not cleared", call, raw)
	}
	return c
}

func noRefreshInBody(t *testing.T, call string, w *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	var raw map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	if _, ok := raw["refresh_token"]; ok || raw["access_token"] == nil {
		t.Fatalf("%s: body %s must have an access token and no refresh token", call, w.Body)
	}
	return decodeToken(t, w.Body.Bytes())
}

func pkce() (verifier, challenge string) {
	verifier = strings.Repeat("v3rifier-", 6)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestCookieDelivery(t *testing.T) {
	h := newHarness(t, withCookies)
	auth := map[string]string{"Authorization": basic("backend", backendSecret)}
	w := h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"alice","client_id":"app","delivery":"cookie"}`, ctype: "application/json", header: auth})
	if w.Code != 201 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("delivery cookie: %d %s", w.Code, w.Body)
	}
	noRefreshInBody(t, "delivery cookie", w)
	c := wantCookie(t, "delivery cookie", w, 86400)

	// Refresh with the cookie: the new refresh token replaces it.
	w = h.do(req{method: "POST", path: "/v1/refresh", header: spaHeaders(c)})
	if w.Code != 200 {
		t.Fatalf("cookie refresh: %d %s", w.Code, w.Body)
	}
	noRefreshInBody(t, "cookie refresh", w)
	c2 := wantCookie(t, "cookie refresh", w, 86400)
	if c2.Value == c.Value {
		t.Fatalf("cookie refresh did not rotate the cookie")
	}
	if w.Header().Get("Access-Control-Allow-Origin") != spaOrigin || w.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("cookie refresh CORS headers: %v", w.Header())
	}

	// Each missing piece of the CSRF defence is refused.
	const csrf = "a cookie request needs an allowed Origin and the header X-Requested-With: jwtd"
	for name, hdr := range map[string]map[string]string{
		"no Origin":         {"X-Requested-With": "jwtd", "Cookie": c2.Name + "=" + c2.Value},
		"foreign Origin":    {"Origin": "https://evil.example", "X-Requested-With": "jwtd", "Cookie": c2.Name + "=" + c2.Value},
		"no CSRF header":    {"Origin": spaOrigin, "Cookie": c2.Name + "=" + c2.Value},
		"wrong CSRF header": {"Origin": spaOrigin, "X-Requested-With": "XMLHttpRequest", "Cookie": c2.Name + "=" + c2.Value},
	} {
		wantError(t, "cookie refresh, "+name, h.do(req{method: "POST", path: "/v1/refresh", header: hdr}), 403, "invalid_request", csrf)
		wantError(t, "cookie logout, "+name, h.do(req{method: "POST", path: "/v1/logout", header: hdr}), 403, "invalid_request", csrf)
	}

	// A reused cookie revokes the session and clears the cookie. (Spend
	// the child first: a retry of the parent alone is inside the grace.)
	if w := h.do(req{method: "POST", path: "/v1/refresh", header: spaHeaders(c2)}); w.Code != 200 {
		t.Fatalf("refresh the child cookie: %d", w.Code)
	}
	w = h.do(req{method: "POST", path: "/v1/refresh", header: spaHeaders(c)})
	wantError(t, "reused cookie", w, 400, "invalid_grant", "refresh token already used; the session is revoked")
	wantCookie(t, "reused cookie", w, -1)

	// delivery cookie needs a client that may refresh.
	wantError(t, "delivery cookie for backend", h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"a","delivery":"cookie"}`, ctype: "application/json", header: auth}),
		400, "invalid_request", `delivery "cookie" needs a client with the refresh_token grant`)
}

func TestCookieLogout(t *testing.T) {
	h := newHarness(t, withCookies)
	w := h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"alice","client_id":"app","delivery":"cookie"}`, ctype: "application/json",
		header: map[string]string{"Authorization": basic("backend", backendSecret)}})
	at := decodeToken(t, w.Body.Bytes()).AccessToken
	c := refreshCookie(t, w)
	w = h.do(req{method: "POST", path: "/v1/logout", header: spaHeaders(c)})
	if w.Code != 204 {
		t.Fatalf("cookie logout: %d %s", w.Code, w.Body)
	}
	wantCookie(t, "cookie logout", w, -1)
	if code := h.sessionStatus(at); code != 401 {
		t.Fatalf("access token after cookie logout: %d", code)
	}
	// A bearer logout clears the cookie too.
	tr := h.login(`{"sub":"bob","client_id":"app"}`)
	w = h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}})
	wantCookie(t, "bearer logout", w, -1)
}

func TestCodeDelivery(t *testing.T) {
	h := newHarness(t, withCookies)
	auth := map[string]string{"Authorization": basic("backend", backendSecret)}
	verifier, challenge := pkce()
	newCode := func(extra string) string {
		t.Helper()
		w := h.do(req{method: "POST", path: "/v1/sessions", ctype: "application/json", header: auth,
			body: `{"sub":"alice","client_id":"app","scope":"read","claims":{"tenant":"acme"},"delivery":"code"` + extra + `}`})
		var res map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &res)
		if w.Code != 201 || len(res) != 2 || res["expires_in"] != float64(60) || res["code"] == "" || len(w.Result().Cookies()) != 0 {
			t.Fatalf("delivery code: %d %s", w.Code, w.Body)
		}
		return res["code"].(string)
	}
	exchange := func(code, verifier string, hdr map[string]string) *httptest.ResponseRecorder {
		body := `{"code":"` + code + `"`
		if verifier != "" {
			body += `,"code_verifier":"` + verifier + `"`
		}
		return h.do(req{method: "POST", path: "/v1/sessions/exchange", body: body + "}", ctype: "application/json", header: hdr})
	}
	const bad = "code is invalid, expired or already used"

	code := newCode(`,"code_challenge":"` + challenge + `","code_challenge_method":"S256"`)
	wantError(t, "exchange without CSRF header", exchange(code, verifier, map[string]string{"Origin": spaOrigin}), 403, "invalid_request",
		"a cookie request needs an allowed Origin and the header X-Requested-With: jwtd")
	w := exchange(code, verifier, spaHeaders(nil))
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("exchange: %d %s %v", w.Code, w.Body, w.Header())
	}
	tr := noRefreshInBody(t, "exchange", w)
	c := wantCookie(t, "exchange", w, 86400)
	a, err := h.verifier.Access(t.Context(), tr.AccessToken)
	if err != nil || a.Subject != "alice" || a.ClientID != "app" || a.Scope != "read" || string(a.Extra["tenant"]) != `"acme"` || tr.SessionID == "" {
		t.Fatalf("exchanged session: %+v, %v", a, err)
	}
	if w := h.do(req{method: "POST", path: "/v1/refresh", header: spaHeaders(c)}); w.Code != 200 {
		t.Fatalf("refresh with the exchanged cookie: %d %s", w.Code, w.Body)
	}
	wantError(t, "exchange a spent code", exchange(code, verifier, spaHeaders(nil)), 400, "invalid_grant", bad)

	// Every attempt spends the code: a wrong verifier burns it.
	code = newCode(`,"code_challenge":"` + challenge + `","code_challenge_method":"S256"`)
	wantError(t, "exchange with a wrong verifier", exchange(code, strings.Repeat("x", 43), spaHeaders(nil)), 400, "invalid_grant", bad)
	wantError(t, "exchange after a failed attempt", exchange(code, verifier, spaHeaders(nil)), 400, "invalid_grant", bad)
	code = newCode(`,"code_challenge":"` + challenge + `","code_challenge_method":"S256"`)
	wantError(t, "exchange without the verifier", exchange(code, "", spaHeaders(nil)), 400, "invalid_grant", bad)
	code = newCode("")
	wantError(t, "verifier for a code without challenge", exchange(code, verifier, spaHeaders(nil)), 400, "invalid_grant", bad)
	code = newCode("")
	if w := exchange(code, "", spaHeaders(nil)); w.Code != 200 {
		t.Fatalf("exchange without PKCE: %d %s", w.Code, w.Body)
	}
	code = newCode("")
	h.now = h.now.Add(2 * time.Minute)
	wantError(t, "exchange an expired code", exchange(code, "", spaHeaders(nil)), 400, "invalid_grant", bad)
	fresh := h.login(`{"sub":"alice","client_id":"app"}`)
	for name, forged := range map[string]string{"access token": fresh.AccessToken, "refresh token": fresh.RefreshToken, "tampered": tamperJWT(newCode("")), "garbage": "abc"} {
		wantError(t, "exchange a "+name, exchange(forged, "", spaHeaders(nil)), 400, "invalid_grant", bad)
	}
	for name, body := range map[string]string{
		"plain method":    `,"code_challenge":"` + challenge + `","code_challenge_method":"plain"`,
		"short challenge": `,"code_challenge":"abc","code_challenge_method":"S256"`,
	} {
		w := h.do(req{method: "POST", path: "/v1/sessions", ctype: "application/json", header: auth, body: `{"sub":"a","client_id":"app","delivery":"code"` + body + `}`})
		if w.Code != 400 {
			t.Fatalf("delivery code with %s: %d", name, w.Code)
		}
	}
}

func TestCORS(t *testing.T) {
	h := newHarness(t, withCookies)
	pre := func(origin string) *httptest.ResponseRecorder {
		return h.do(req{method: "OPTIONS", path: "/v1/refresh", header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-requested-with"}})
	}
	w := pre(spaOrigin)
	hd := w.Header()
	if w.Code != 204 || hd.Get("Access-Control-Allow-Origin") != spaOrigin || hd.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(hd.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "X-Requested-With") ||
		!strings.Contains(strings.Join(hd.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight from the SPA: %d %v", w.Code, hd)
	}
	for _, origin := range []string{"https://evil.example", "https://spa.example.evil.example", "http://spa.example", "null"} {
		if w := pre(origin); w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("preflight from %s got CORS headers %v", origin, w.Header())
		}
		if w := h.do(req{method: "GET", path: "/healthz", header: map[string]string{"Origin": origin}}); w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("request from %s got CORS headers", origin)
		}
	}
	// Public documents are readable by any page, credentials or not.
	if w := h.do(req{method: "GET", path: "/.well-known/jwks.json", header: map[string]string{"Origin": "https://other.example"}}); w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("JWKS from another origin: %v", w.Header())
	}
	if w := h.do(req{method: "GET", path: "/.well-known/jwks.json", header: map[string]string{"Origin": spaOrigin}}); w.Header().Get("Access-Control-Allow-Origin") != spaOrigin {
		t.Fatalf("JWKS from the SPA: %v", w.Header())
	}
}
