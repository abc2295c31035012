package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/bcrypt"

	"github.com/jwtd/jwtd/clients"
)

const (
	issuer        = "https://auth.example"
	backendSecret = "backend-secret-0123456789abcdef"
	slowSecret    = "correct horse battery staple"
)

// bcryptHash and argonHash are made once: at the smallest parameters
// ParseSecretHash takes, each costs tens of milliseconds (bcrypt over a
// second under -race). The argon2id one is the slower of the two by
// ParseSecretHash's estimate (7 MiB × 10 passes against 64 × 2^10), so it
// is the dummy checked for unknown ids, and argon2id's assembly keeps that
// cheap under -race.
var bcryptHash = sync.OnceValues(func() (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(slowSecret), 10)
	return string(b), err
})

var argonHash = sync.OnceValues(func() (string, error) {
	return argon2id.CreateHash(slowSecret, &argon2id.Params{Memory: 7 * 1024, Iterations: 10, Parallelism: 1, SaltLength: 16, KeyLength: 32})
})

func TestOpenSession(t *testing.T) {
	h := newHarness(t)
	tr := h.login(`{"sub":"alice","client_id":"app","scope":"read write read","claims":{"tenant":"acme","n":12345678901234567890}}`)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.RefreshExpiresIn != 86400 || tr.Scope != "read write" || tr.SessionID == "" || tr.RefreshToken == "" {
		t.Fatalf("token response = %+v", tr)
	}
	c, err := h.verifier.Access(context.Background(), tr.AccessToken)
	if err != nil {
		t.Fatalf("Access(minted): %v", err)
	}
	if c.Subject != "alice" || c.ClientID != "app" || c.SID != tr.SessionID || c.Audience[0] != "api" || c.AuthTime.Unix() != h.now.Unix() {
		t.Fatalf("access claims = %+v", c)
	}
	if string(c.Extra["n"]) != "12345678901234567890" {
		t.Fatalf("custom claim n = %s, want exactly 12345678901234567890", c.Extra["n"])
	}
	if rc, err := h.verifier.Refresh(context.Background(), tr.RefreshToken); err != nil || rc.SID != tr.SessionID {
		t.Fatalf("Refresh(minted) = %+v, %v", rc, err)
	}

	// A client without the refresh_token grant gets no refresh token.
	w := h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"bob"}`, ctype: "application/json",
		header: map[string]string{"Authorization": basic("backend", backendSecret)}})
	var own map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &own)
	if w.Code != 201 || own["refresh_token"] != nil || own["refresh_expires_in"] != nil || own["scope"] != nil {
		t.Fatalf("session for backend itself: %d %v", w.Code, own)
	}
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Pragma") != "no-cache" {
		t.Fatalf("token response headers = %v", w.Header())
	}
	if strings.Contains(h.logs.String(), tr.AccessToken[:40]) || strings.Contains(h.logs.String(), backendSecret) {
		t.Fatalf("a token or secret reached the log:\n%s", h.logs)
	}
}

func TestOpenSessionRefusals(t *testing.T) {
	h := newHarness(t)
	auth := map[string]string{"Authorization": basic("backend", backendSecret)}
	tests := []struct {
		name   string
		r      req
		status int
		code   string
		desc   string
	}{
		{"no auth", req{body: `{"sub":"a"}`}, 401, "invalid_client", "client authentication failed"},
		{"wrong secret", req{body: `{"sub":"a"}`, header: map[string]string{"Authorization": basic("backend", "nope")}}, 401, "invalid_client", "client authentication failed"},
		{"unknown client", req{body: `{"sub":"a"}`, header: map[string]string{"Authorization": basic("ghost", backendSecret)}}, 401, "invalid_client", "client authentication failed"},
		{"public client", req{body: `{"sub":"a"}`, header: map[string]string{"Authorization": basic("app", "")}}, 401, "invalid_client", "client authentication failed"},
		{"public client with a secret", req{body: `{"sub":"a"}`, header: map[string]string{"Authorization": basic("app", "guess")}}, 401, "invalid_client", "client authentication failed"},
		{"bearer instead of basic", req{body: `{"sub":"a"}`, header: map[string]string{"Authorization": "Bearer abc"}}, 401, "invalid_client", "client authentication failed"},
		{"bad base64", req{body: `{"sub":"a"}`, header: map[string]string{"Authorization": "Basic %%%"}}, 401, "invalid_client", "client authentication failed"},
		{"no sessions grant", req{body: `{"sub":"a"}`, header: map[string]string{"Authorization": basic("gateway", backendSecret)}}, 400, "unauthorized_client", "client lacks the sessions grant"},
		{"unknown field", req{body: `{"sub":"a","admin":true}`, header: auth}, 400, "invalid_request", `unknown field "admin"`},
		{"wrong type", req{body: `{"sub":5}`, header: auth}, 400, "invalid_request", "field sub has the wrong type"},
		{"not json", req{body: `{"sub":`, header: auth}, 400, "invalid_request", "request body is not valid JSON"},
		{"array body", req{body: `[{"sub":"a"}]`, header: auth}, 400, "invalid_request", "request body must be a JSON object"},
		{"null body", req{body: `null`, header: auth}, 400, "invalid_request", "sub is required"},
		{"deep nesting", req{body: `{"sub":"a","claims":{"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}}`, header: auth}, 201, "", ""},
		{"trailing data", req{body: `{"sub":"a"} {}`, header: auth}, 400, "invalid_request", "request body has data after the JSON value"},
		{"empty body", req{body: ``, header: auth}, 400, "invalid_request", "request body is empty"},
		{"form content type", req{body: `{"sub":"a"}`, ctype: "application/x-www-form-urlencoded", header: auth}, 415, "invalid_request", "Content-Type must be application/json"},
		{"latin1 charset", req{body: `{"sub":"a"}`, ctype: "application/json; charset=latin1", header: auth}, 415, "invalid_request", "JSON bodies must be UTF-8"},
		{"invalid utf-8", req{body: "{\"sub\":\"\xff\"}", header: auth}, 400, "invalid_request", "request body is not valid UTF-8"},
		{"no sub", req{body: `{"client_id":"app"}`, header: auth}, 400, "invalid_request", "sub is required"},
		{"control char in sub", req{body: `{"sub":"a\u0000b"}`, header: auth}, 400, "invalid_request", "sub contains control characters"},
		{"long sub", req{body: `{"sub":"` + strings.Repeat("a", 256) + `"}`, header: auth}, 400, "invalid_request", "sub is longer than 255 bytes"},
		{"unknown client_id", req{body: `{"sub":"a","client_id":"ghost"}`, header: auth}, 400, "invalid_request", "unknown client_id"},
		{"scope outside client", req{body: `{"sub":"a","client_id":"narrow","scope":"write"}`, header: auth}, 400, "invalid_scope", "scope exceeds what the client may ask for"},
		{"malformed scope", req{body: `{"sub":"a","scope":"read  write"}`, header: auth}, 400, "invalid_scope", "scope is not a space-separated list of scope tokens"},
		{"audience outside client", req{body: `{"sub":"a","client_id":"app","audience":["billing"]}`, header: auth}, 400, "invalid_target", "audience exceeds what the client may ask for"},
		{"reserved claim", req{body: `{"sub":"a","claims":{"sub":"root"}}`, header: auth}, 400, "invalid_request", `claims: reserved claim name: "sub"`},
		{"reserved claim sid", req{body: `{"sub":"a","claims":{"sid":"x"}}`, header: auth}, 400, "invalid_request", `claims: reserved claim name: "sid"`},
		{"bad delivery", req{body: `{"sub":"a","delivery":"pigeon"}`, header: auth}, 400, "invalid_request", `delivery must be "body", "cookie" or "code"`},
		{"challenge without code", req{body: `{"sub":"a","code_challenge":"x"}`, header: auth}, 400, "invalid_request", `code_challenge goes with "delivery": "code" only`},
		{"too large", req{body: `{"sub":"` + strings.Repeat("a", 5000) + `"}`, header: auth}, 413, "invalid_request", "request body exceeds 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.method, r.path = "POST", "/v1/sessions"
			if r.ctype == "" {
				r.ctype = "application/json"
			}
			w := h.do(r)
			if tt.status == 201 {
				if w.Code != 201 {
					t.Fatalf("POST /v1/sessions %s: %d %s", tt.name, w.Code, w.Body)
				}
				return
			}
			wantError(t, "POST /v1/sessions "+tt.name, w, tt.status, tt.code, tt.desc)
			if tt.status == 401 && w.Header().Get("WWW-Authenticate") != `Basic realm="jwtd", charset="UTF-8"` {
				t.Fatalf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestClientSecretHashes(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"bcrypt-backend", "bcrypt-backend", "argon-backend"} {
		for _, secret := range []string{slowSecret, "wrong"} {
			w := h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"a"}`, ctype: "application/json",
				header: map[string]string{"Authorization": basic(id, secret)}})
			ok := w.Code != http.StatusUnauthorized
			if ok != (secret == slowSecret) {
				t.Fatalf("POST /v1/sessions as %s with secret %q: status %d", id, secret, w.Code)
			}
		}
	}
	for _, bad := range []string{"", "sha256:ABC", "sha256:" + strings.Repeat("A", 64), "md5:abc", "$2a$xx", "$argon2id$v=19$bad", "plain-secret"} {
		if _, err := clients.ParseSecretHash(bad); err == nil {
			t.Errorf("ParseSecretHash(%q): no error", bad)
		}
	}
}

func TestSessionEndpoint(t *testing.T) {
	h := newHarness(t)
	tr := h.login(`{"sub":"alice","client_id":"app","scope":"read","claims":{"tenant":"acme"}}`)
	w := h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}})
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /v1/session: %d %v", w.Code, w.Header())
	}
	var v map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	want := map[string]any{"active": true, "sub": "alice", "sid": tr.SessionID, "client_id": "app", "scope": "read",
		"aud": []any{"api"}, "exp": float64(h.now.Unix() + 900), "iat": float64(h.now.Unix()), "auth_time": float64(h.now.Unix()),
		"claims": map[string]any{"tenant": "acme"}}
	gotJSON, _ := json.Marshal(v)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("GET /v1/session = %s, want %s", gotJSON, wantJSON)
	}

	tests := []struct {
		name, authz, desc string
	}{
		{"missing", "", "missing bearer token"},
		{"basic", basic("backend", backendSecret), "Authorization must use the Bearer scheme"},
		{"no token", "Bearer ", "malformed bearer token"},
		{"bad chars", "Bearer a b", "malformed bearer token"},
		{"garbage", "Bearer abc.def.ghi", "token malformed"},
		{"refresh token", "Bearer " + tr.RefreshToken, "wrong token type"},
		{"lowercase scheme works", "bearer " + tr.AccessToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req{method: "GET", path: "/v1/session", header: map[string]string{}}
			if tt.authz != "" {
				r.header["Authorization"] = tt.authz
			}
			w := h.do(r)
			if tt.desc == "" {
				if w.Code != 200 {
					t.Fatalf("GET /v1/session (%s): %d %s", tt.name, w.Code, w.Body)
				}
				return
			}
			wantError(t, "GET /v1/session "+tt.name, w, 401, "invalid_token", tt.desc)
			wantChallenge := `Bearer realm="jwtd", error="invalid_token", error_description="` + tt.desc + `"`
			if got := w.Header().Get("WWW-Authenticate"); got != wantChallenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, wantChallenge)
			}
			if strings.Contains(w.Body.String(), tr.RefreshToken[:30]) {
				t.Fatalf("error body echoes the token: %s", w.Body)
			}
		})
	}

	h.now = h.now.Add(16 * time.Minute)
	wantError(t, "GET /v1/session expired", h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}),
		401, "invalid_token", "token expired")
	h.now = h.now.Add(-16 * time.Minute)
	if err := h.store.RevokeSession(context.Background(), "alice", tr.SessionID, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantError(t, "GET /v1/session revoked", h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}),
		401, "invalid_token", "token revoked")
}

func TestJWKS(t *testing.T) {
	h := newHarness(t)
	w := h.do(req{method: "GET", path: "/.well-known/jwks.json"})
	if w.Code != 200 || w.Header().Get("Cache-Control") != "public, max-age=900" || w.Header().Get("ETag") == "" {
		t.Fatalf("GET jwks: %d %v", w.Code, w.Header())
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS = %s (%v), want the active and the next key", w.Body, err)
	}
	for _, k := range set.Keys {
		if k["d"] != nil || k["kid"] == nil || k["alg"] != "ES256" || k["use"] != "sig" {
			t.Fatalf("JWKS key %v", k)
		}
	}
	tag := w.Header().Get("ETag")
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		w := h.do(req{method: "GET", path: "/.well-known/jwks.json", header: map[string]string{"If-None-Match": inm}})
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != tag {
			t.Fatalf("If-None-Match %s: %d", inm, w.Code)
		}
	}
	if w := h.do(req{method: "GET", path: "/.well-known/jwks.json", header: map[string]string{"If-None-Match": `"stale"`}}); w.Code != 200 {
		t.Fatalf("stale If-None-Match: %d", w.Code)
	}
}

func TestDiscovery(t *testing.T) {
	h := newHarness(t)
	a := h.do(req{method: "GET", path: "/.well-known/oauth-authorization-server"})
	b := h.do(req{method: "GET", path: "/.well-known/openid-configuration"})
	if a.Code != 200 || b.Code != 200 || a.Body.String() != b.Body.String() {
		t.Fatalf("discovery: %d %d, bodies differ", a.Code, b.Code)
	}
	var doc map[string]any
	_ = json.Unmarshal(a.Body.Bytes(), &doc)
	wants := map[string]any{
		"issuer":                 issuer,
		"jwks_uri":               issuer + "/.well-known/jwks.json",
		"token_endpoint":         issuer + "/oauth/token",
		"revocation_endpoint":    issuer + "/oauth/revoke",
		"introspection_endpoint": issuer + "/oauth/introspect",
	}
	for k, v := range wants {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	for k, v := range map[string]string{
		"grant_types_supported":                 `["refresh_token","client_credentials"]`,
		"response_types_supported":              `[]`,
		"id_token_signing_alg_values_supported": `["ES256"]`,
		"token_endpoint_auth_methods_supported": `["client_secret_basic","client_secret_post","none"]`,
	} {
		got, _ := json.Marshal(doc[k])
		if string(got) != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
}

func TestRotateKeys(t *testing.T) {
	h := newHarness(t)
	tr := h.login(`{"sub":"alice","client_id":"app"}`)
	admin := map[string]string{"Authorization": basic("argon-backend", slowSecret)}
	wantError(t, "rotate without admin", h.do(req{method: "POST", path: "/v1/admin/keys/rotate", header: map[string]string{"Authorization": basic("backend", backendSecret)}}),
		403, "unauthorized_client", "client lacks the admin grant")
	wantError(t, "rotate with bad body", h.do(req{method: "POST", path: "/v1/admin/keys/rotate", body: `{"revoke":true}`, ctype: "application/json", header: admin}),
		400, "invalid_request", `unknown field "revoke"`)

	oldKID, _, _, _ := h.access.SigningKey()
	h.now = h.now.Add(time.Second)
	w := h.do(req{method: "POST", path: "/v1/admin/keys/rotate", header: admin})
	var res map[string]string
	_ = json.Unmarshal(w.Body.Bytes(), &res)
	newKID, _, _, _ := h.access.SigningKey()
	if w.Code != 200 || res["active_kid"] != newKID || newKID == oldKID {
		t.Fatalf("rotate: %d %v (old %s, now %s)", w.Code, res, oldKID, newKID)
	}
	bearer := map[string]string{"Authorization": "Bearer " + tr.AccessToken}
	if w := h.do(req{method: "GET", path: "/v1/session", header: bearer}); w.Code != 200 {
		t.Fatalf("token of the retired key: %d, want 200", w.Code)
	}

	h.now = h.now.Add(time.Second)
	tr2 := h.login(`{"sub":"bob","client_id":"app"}`)
	w = h.do(req{method: "POST", path: "/v1/admin/keys/rotate", body: `{"revoke_current":true}`, ctype: "application/json", header: admin})
	_ = json.Unmarshal(w.Body.Bytes(), &res)
	if w.Code != 200 || res["revoked_kid"] != newKID {
		t.Fatalf("rotate revoke_current: %d %v, want revoked %s", w.Code, res, newKID)
	}
	wantError(t, "token of the revoked key", h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tr2.AccessToken}}),
		401, "invalid_token", "token signed by an unknown key")
	if w := h.do(req{method: "GET", path: "/v1/session", header: bearer}); w.Code != 200 {
		t.Fatalf("token of the older retired key after revoke_current: %d, want 200", w.Code)
	}
	if _, err := h.verifier.Refresh(context.Background(), tr2.RefreshToken); err != nil {
		t.Fatalf("refresh token after revoke_current: %v; sessions must survive", err)
	}
	if strings.Contains(h.do(req{method: "GET", path: "/.well-known/jwks.json"}).Body.String(), newKID) {
		t.Fatalf("revoked key %s still published", newKID)
	}
}

func TestHealthAndErrors(t *testing.T) {
	h := newHarness(t)
	if w := h.do(req{method: "GET", path: "/healthz"}); w.Code != 200 {
		t.Fatalf("healthz: %d", w.Code)
	}
	if w := h.do(req{method: "GET", path: "/readyz"}); w.Code != 200 || !strings.Contains(w.Body.String(), `"ready"`) {
		t.Fatalf("readyz: %d %s", w.Code, w.Body)
	}
	wantError(t, "GET /nope", h.do(req{method: "GET", path: "/nope"}), 404, "invalid_request", "no such endpoint")
	wantError(t, "GET /v1/sessions", h.do(req{method: "GET", path: "/v1/sessions"}), 405, "invalid_request", "method not allowed")
	if w := h.do(req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "abc-123"}}); w.Header().Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id not kept: %q", w.Header().Get("X-Request-Id"))
	}
	if w := h.do(req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "evil\"{}"}}); w.Header().Get("X-Request-Id") == "evil\"{}" {
		t.Fatalf("unsafe request id kept")
	}
}
