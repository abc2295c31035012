package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestOAuthRefreshGrant(t *testing.T) {
	h := newHarness(t)
	tr := h.login(`{"sub":"alice","client_id":"app","scope":"read write"}`)
	wantError(t, "no client_id", h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken), nil)),
		401, "invalid_client", "client authentication failed")
	wantError(t, "another public client", h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken, "client_id", "narrow"), nil)),
		400, "invalid_grant", "refresh token was issued to another client")
	wantError(t, "wider scope", h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken, "client_id", "app", "scope", "read admin"), nil)),
		400, "invalid_scope", "scope exceeds the scope granted to the refresh token")

	w := h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken, "client_id", "app", "scope", "read"), nil))
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Pragma") != "no-cache" {
		t.Fatalf("refresh grant: %d %s %v", w.Code, w.Body, w.Header())
	}
	next := decodeToken(t, w.Body.Bytes())
	a, _ := h.verifier.Access(context.Background(), next.AccessToken)
	r, _ := h.verifier.Refresh(context.Background(), next.RefreshToken)
	if next.Scope != "read" || a.Scope != "read" || r.Scope != "read write" {
		t.Fatalf("narrowed refresh: response scope %q, access %q, refresh %q; want read, read, read write", next.Scope, a.Scope, r.Scope)
	}

	// A retry inside the grace with another scope is refused and leaves the session alone.
	wantError(t, "retry with another scope", h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken, "client_id", "app", "scope", "write"), nil)),
		400, "invalid_grant", "refresh token already used")
	if code := h.sessionStatus(next.AccessToken); code != 200 {
		t.Fatalf("session after a mismatched retry: %d, want 200", code)
	}
	if w := h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken, "client_id", "app", "scope", "read"), nil)); w.Code != 200 {
		t.Fatalf("same retry inside the grace: %d %s", w.Code, w.Body)
	}

	// A public client may identify itself by Basic with an empty secret.
	w = h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", next.RefreshToken), map[string]string{"Authorization": basic("app", "")}))
	if w.Code != 200 {
		t.Fatalf("public client by Basic with an empty secret: %d %s", w.Code, w.Body)
	}
	wantError(t, "public client by Basic with a secret", h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", next.RefreshToken),
		map[string]string{"Authorization": basic("app", "x")})), 401, "invalid_client", "client authentication failed")
	wantError(t, "public client at introspect", h.do(h.post("/oauth/introspect", form("token", next.AccessToken), map[string]string{"Authorization": basic("app", "")})),
		401, "invalid_client", "client authentication failed")

	// A confidential client: HTTP Basic or client_secret_post, not both, not neither.
	svc := h.login(`{"sub":"alice","client_id":"svc"}`)
	wantError(t, "confidential by client_id only", h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", svc.RefreshToken, "client_id", "svc"), nil)),
		401, "invalid_client", "client authentication failed")
	w = h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", svc.RefreshToken, "client_id", "svc", "client_secret", backendSecret), nil))
	if w.Code != 200 {
		t.Fatalf("client_secret_post: %d %s", w.Code, w.Body)
	}
	svc2 := decodeToken(t, w.Body.Bytes())
	if w := h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", svc2.RefreshToken), map[string]string{"Authorization": basic("svc", backendSecret)})); w.Code != 200 {
		t.Fatalf("client_secret_basic: %d %s", w.Code, w.Body)
	}
	wantError(t, "two methods", h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", svc2.RefreshToken, "client_secret", backendSecret),
		map[string]string{"Authorization": basic("svc", backendSecret)})), 400, "invalid_request", "more than one client authentication method")
	w = h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", svc2.RefreshToken, "client_id", "svc", "client_secret", "wrong"), nil))
	wantError(t, "wrong post secret", w, 401, "invalid_client", "client authentication failed")
	if w.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("401 without WWW-Authenticate")
	}
}

func TestOAuthTokenRefusals(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name         string
		r            req
		status       int
		code, detail string
	}{
		{"no grant_type", h.post("/oauth/token", form("client_id", "app"), nil), 400, "invalid_request", "grant_type is required"},
		{"password grant", h.post("/oauth/token", form("grant_type", "password", "username", "a", "password", "b"), nil), 400, "unsupported_grant_type", "grant_type must be refresh_token or client_credentials"},
		{"json body", req{method: "POST", path: "/oauth/token", body: `{"grant_type":"refresh_token"}`, ctype: "application/json"}, 415, "invalid_request", "Content-Type must be application/x-www-form-urlencoded"},
		{"repeated parameter", h.post("/oauth/token", "grant_type=refresh_token&grant_type=client_credentials", nil), 400, "invalid_request", "parameter grant_type is repeated"},
		{"no refresh_token", h.post("/oauth/token", form("grant_type", "refresh_token", "client_id", "app"), nil), 400, "invalid_request", "refresh_token is required"},
		{"garbage refresh_token", h.post("/oauth/token", form("grant_type", "refresh_token", "client_id", "app", "refresh_token", "x.y.z"), nil), 400, "invalid_grant", "token malformed"},
		{"client without refresh grant", h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", "x"), map[string]string{"Authorization": basic("backend", backendSecret)}), 400, "unauthorized_client", "client lacks the refresh_token grant"},
		{"cc without grant", h.post("/oauth/token", form("grant_type", "client_credentials"), map[string]string{"Authorization": basic("backend", backendSecret)}), 400, "unauthorized_client", "client lacks the client_credentials grant"},
		{"cc public client", h.post("/oauth/token", form("grant_type", "client_credentials", "client_id", "app"), nil), 401, "invalid_client", "client authentication failed"},
		{"cc wider scope", h.post("/oauth/token", form("grant_type", "client_credentials", "scope", "admin"), map[string]string{"Authorization": basic("cc", backendSecret)}), 400, "invalid_scope", "scope exceeds what the client may ask for"},
		{"cc foreign audience", h.post("/oauth/token", form("grant_type", "client_credentials", "audience", "billing"), map[string]string{"Authorization": basic("cc", backendSecret)}), 400, "invalid_target", "audience exceeds what the client may ask for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, "POST /oauth/token "+tt.name, h.do(tt.r), tt.status, tt.code, tt.detail)
		})
	}
}

func TestClientCredentials(t *testing.T) {
	h := newHarness(t)
	w := h.do(h.post("/oauth/token", form("grant_type", "client_credentials", "scope", "read"), map[string]string{"Authorization": basic("cc", backendSecret)}))
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("client_credentials: %d %s", w.Code, w.Body)
	}
	var raw map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	if raw["refresh_token"] != nil || raw["session_id"] != nil || raw["scope"] != "read" || raw["token_type"] != "Bearer" || raw["expires_in"] != float64(900) {
		t.Fatalf("client_credentials response = %v", raw)
	}
	a, err := h.verifier.Access(context.Background(), raw["access_token"].(string))
	if err != nil || a.Subject != "cc" || a.ClientID != "cc" || a.SID != "" || !a.AuthTime.Equal(a.IssuedAt.Time) || a.Audience[0] != "api" {
		t.Fatalf("client_credentials token = %+v, %v", a, err)
	}
	// Logout of a session-less token denylists that token alone.
	at := raw["access_token"].(string)
	if w := h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + at}}); w.Code != 204 {
		t.Fatalf("logout of a client-credentials token: %d", w.Code)
	}
	if code := h.sessionStatus(at); code != 401 {
		t.Fatalf("client-credentials token after logout: %d", code)
	}
}

func TestOAuthRevoke(t *testing.T) {
	h := newHarness(t)
	tr := h.login(`{"sub":"alice","client_id":"app"}`)
	// An access token: denylisted, its session not touched.
	if w := h.do(h.post("/oauth/revoke", form("token", tr.AccessToken, "client_id", "app"), nil)); w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("revoke access token: %d %s", w.Code, w.Body)
	}
	if code := h.sessionStatus(tr.AccessToken); code != 401 {
		t.Fatalf("revoked access token: %d, want 401", code)
	}
	next := h.refreshOK(tr.RefreshToken)
	// A refresh token (with the hint): the whole session goes.
	if w := h.do(h.post("/oauth/revoke", form("token", next.RefreshToken, "token_type_hint", "refresh_token", "client_id", "app"), nil)); w.Code != 200 {
		t.Fatalf("revoke refresh token: %d %s", w.Code, w.Body)
	}
	if code := h.sessionStatus(next.AccessToken); code != 401 {
		t.Fatalf("access token of a revoked session: %d, want 401", code)
	}
	wantError(t, "refresh after revoke", h.do(h.refreshReq(next.RefreshToken, nil)), 400, "invalid_grant", "token revoked")

	// Unknown or invalid tokens are a 200 (RFC 7009 §2.2), with a wrong hint too.
	for _, tok := range []string{"garbage", "a.b.c", tamperJWT(next.AccessToken)} {
		if w := h.do(h.post("/oauth/revoke", form("token", tok, "token_type_hint", "access_token", "client_id", "app"), nil)); w.Code != 200 {
			t.Fatalf("revoke %q: %d", tok, w.Code)
		}
	}
	other := h.login(`{"sub":"bob","client_id":"narrow","audience":"billing"}`)
	wantError(t, "revoke another client's token", h.do(h.post("/oauth/revoke", form("token", other.AccessToken, "client_id", "app"), nil)),
		400, "invalid_request", "token was issued to another client")
	wantError(t, "revoke without token", h.do(h.post("/oauth/revoke", form("client_id", "app"), nil)), 400, "invalid_request", "token is required")
	wantError(t, "revoke as confidential without secret", h.do(h.post("/oauth/revoke", form("token", "x", "client_id", "svc"), nil)), 401, "invalid_client", "client authentication failed")
	wantError(t, "revoke as nobody", h.do(h.post("/oauth/revoke", form("token", "x"), nil)), 401, "invalid_client", "client authentication failed")
}

func TestOAuthIntrospect(t *testing.T) {
	h := newHarness(t)
	tr := h.login(`{"sub":"alice","client_id":"app","scope":"read","claims":{"tenant":"acme"}}`)
	intro := func(tok string, header map[string]string) map[string]any {
		t.Helper()
		w := h.do(h.post("/oauth/introspect", form("token", tok), header))
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("introspect: %d %s", w.Code, w.Body)
		}
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return m
	}
	backend := map[string]string{"Authorization": basic("backend", backendSecret)}
	m := intro(tr.AccessToken, backend)
	for k, v := range map[string]any{"active": true, "sub": "alice", "client_id": "app", "scope": "read", "sid": tr.SessionID, "iss": issuer,
		"token_type": "Bearer", "tenant": "acme", "iat": float64(h.now.Unix()), "exp": float64(h.now.Unix() + 900)} {
		if m[k] != v {
			t.Errorf("introspect %s = %v, want %v", k, m[k], v)
		}
	}
	if m["jti"] == nil || m["aud"] == nil || m["auth_time"] == nil {
		t.Errorf("introspect lacks jti, aud or auth_time: %v", m)
	}
	// client_secret_post works for introspection too.
	wantError(t, "introspect without client auth", h.do(h.post("/oauth/introspect", form("token", tr.AccessToken), nil)),
		401, "invalid_client", "client authentication failed")
	w := h.do(h.post("/oauth/introspect", form("token", tr.AccessToken, "client_id", "gateway", "client_secret", backendSecret), nil))
	if !strings.Contains(w.Body.String(), `"active":true`) {
		t.Fatalf("introspect with client_secret_post: %d %s", w.Code, w.Body)
	}
	for name, tok := range map[string]string{"refresh token": tr.RefreshToken, "garbage": "x", "forged": tamperJWT(tr.AccessToken)} {
		if got := intro(tok, backend); len(got) != 1 || got["active"] != false {
			t.Errorf("introspect %s = %v, want exactly {active: false}", name, got)
		}
	}
	h.now = h.now.Add(time.Hour)
	if got := intro(tr.AccessToken, backend); got["active"] != false {
		t.Errorf("introspect expired = %v", got)
	}
	h.now = h.now.Add(-time.Hour)
	_ = h.store.RevokeSession(context.Background(), "alice", tr.SessionID, time.Hour)
	if got := intro(tr.AccessToken, backend); got["active"] != false {
		t.Errorf("introspect revoked = %v", got)
	}
	wantError(t, "introspect by a client without the grant", h.do(h.post("/oauth/introspect", form("token", "x"), map[string]string{"Authorization": basic("svc", backendSecret)})),
		400, "unauthorized_client", "client lacks the introspect grant")
}

// TestOAuthIntrospectAnswerAsEncodingJSON holds the introspection answer to
// what json.Marshal writes of the token's claims (compact, HTML-safe
// escaping), followed by active and token_type, byte for byte: the answer
// is the claims' own MarshalJSON, not re-encoded.
func TestOAuthIntrospectAnswerAsEncodingJSON(t *testing.T) {
	h := newHarness(t)
	tr := h.login(`{"sub":"a<b>&c","client_id":"app","scope":"read","claims":{"note":"<b>&amp;</b>","n":[1, 2.50],"u":"\u2028é"}}`)
	w := h.do(h.post("/oauth/introspect", form("token", tr.AccessToken), map[string]string{"Authorization": basic("backend", backendSecret)}))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("introspect: %d %v %s", w.Code, w.Header(), w.Body)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tr.AccessToken, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(claims) // sorted members; the same set
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("answer is not JSON: %s", w.Body)
	}
	if string(got["active"]) != "true" || string(got["token_type"]) != `"Bearer"` {
		t.Errorf("answer %s lacks active or token_type", w.Body)
	}
	delete(got, "active")
	delete(got, "token_type")
	if again, _ := json.Marshal(got); string(again) != string(want) {
		t.Errorf("claims in the answer:\n got %s\nwant %s", again, want)
	}
	for _, raw := range []string{`"a\u003cb\u003e\u0026c"`, `"\u003cb\u003e\u0026amp;\u003c/b\u003e"`, `[1,2.50]`, `"\u2028é"`} {
		if !strings.Contains(w.Body.String(), raw) {
			t.Errorf("answer %s does not hold %s as encoding/json writes it", w.Body, raw)
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, w.Body.Bytes()); err != nil || compact.String() != w.Body.String() {
		t.Errorf("answer is not compact: %s", w.Body)
	}
}
