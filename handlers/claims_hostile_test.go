package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtd/jwtd/keys"
)

// ownedClaims are the claim names jwtd owns (token/names_test.go proves
// the token package derives the same list from its struct tags).
var ownedClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
	"client_id", "auth_time", "scope", "sid", "cnf", "act", "may_act",
	"access_aud", "ext", "code_challenge",
	// RFC 7662 §2.2 names an introspection answer carries beside the claims.
	"active", "token_type", "username",
}

// spellings returns name and spellings encoding/json reads as it: upper,
// title and mixed case, and U+017F for s.
func spellings(name string) []string {
	r := []rune(name)
	title := string(unicode.ToUpper(r[0])) + string(r[1:])
	mixed := []rune(name)
	for i := range mixed {
		if i%2 == 1 {
			mixed[i] = unicode.ToUpper(mixed[i])
		}
	}
	out := []string{name, strings.ToUpper(name), title}
	if string(mixed) != title && string(mixed) != name {
		out = append(out, string(mixed))
	}
	if strings.ContainsRune(name, 's') {
		out = append(out, strings.ReplaceAll(name, "s", "\u017F"), strings.ReplaceAll(strings.ToUpper(name), "S", "\u017F"))
	}
	return out
}

// TestSessionsRefuseFoldedClaims: a custom claim spelled like a claim jwtd
// owns, in any case or with U+017F, is a 400 naming only jwtd's spelling.
func TestSessionsRefuseFoldedClaims(t *testing.T) {
	h := newHarness(t)
	auth := map[string]string{"Authorization": basic("backend", backendSecret)}
	type row struct{ name, claims, desc string }
	var rows []row
	for _, owned := range ownedClaims {
		for _, s := range spellings(owned) {
			rows = append(rows, row{owned + " as " + s, fmt.Sprintf(`{"tenant":"acme",%q:""}`, s), fmt.Sprintf(`claims: reserved claim name: %q`, owned)})
		}
	}
	rows = append(rows,
		row{"empty SID, which would outlive logout", `{"SID":""}`, `claims: reserved claim name: "sid"`},
		row{"Kelvin sign", `{"\u212Aind":1,"kind":2}`, "claims: two claim names are equal under case folding"},
		row{"custom claims that fold together", `{"tenant":"a","Tenant":"b"}`, "claims: two claim names are equal under case folding"},
	)
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			for _, delivery := range []string{"body", "code"} {
				body := fmt.Sprintf(`{"sub":"alice","client_id":"app","delivery":%q,"claims":%s}`, delivery, tt.claims)
				w := h.do(req{method: "POST", path: "/v1/sessions", body: body, ctype: "application/json", header: auth})
				wantError(t, "POST /v1/sessions "+body, w, http.StatusBadRequest, "invalid_request", tt.desc)
			}
		})
	}
	t.Logf("%d spellings refused", len(rows))
}

// forge signs payload byte for byte with ring's active key: a token as an
// attacker holding the key would write it, repeated names included.
func forge(t *testing.T, ring *keys.Ring, typ, payload string) string {
	t.Helper()
	kid, alg, priv, err := ring.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q}`, alg, kid, typ))) + "." + enc([]byte(payload))
	sig, err := jwt.GetSigningMethod(alg).Sign(signing, priv)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc(sig)
}

// TestForgedFoldedClaims: a token signed with jwtd's own key whose names
// repeat under folding is refused by every endpoint that reads one, so
// jwtd never reports the attacker's sub, scope or sid.
func TestForgedFoldedClaims(t *testing.T) {
	h := newHarness(t)
	now := h.now.Unix()
	access := func(extra string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":"api","exp":%d,"nbf":%d,"iat":%d,"jti":"a1","client_id":"app","sid":"s1","auth_time":%d,"scope":"read",%s}`,
			issuer, now+900, now, now, now, extra)
	}
	for _, tt := range []struct{ name, extra string }{
		{"empty SID after sid", `"SID":""`},
		{"Sub after sub", `"Sub":"root"`},
		{"sub twice", `"sub":"root"`},
		{"long s scope", `"\u017Fcope":"read write admin"`},
		{"Client_id", `"Client_id":"backend"`},
		{"EXP ten years out", fmt.Sprintf(`"EXP":%d`, now+10*365*86400)},
		{"Aud", `"Aud":"billing"`},
		{"custom claim folded", `"tenant":"acme","TENANT":"evil"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := forge(t, h.access, "at+jwt", access(tt.extra))
			w := h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + raw}})
			wantError(t, "GET /v1/session "+tt.name, w, http.StatusUnauthorized, "invalid_token", "token has duplicate claim names")
			if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="jwtd", error="invalid_token", error_description="token has duplicate claim names"`; got != want {
				t.Fatalf("GET /v1/session %s: WWW-Authenticate = %q, want %q", tt.name, got, want)
			}
			w = h.do(req{method: "POST", path: "/oauth/introspect", body: "token=" + url.QueryEscape(raw), ctype: "application/x-www-form-urlencoded",
				header: map[string]string{"Authorization": basic("backend", backendSecret)}})
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil || len(got) != 1 || got["active"] != false {
				t.Fatalf("POST /oauth/introspect %s: %d %s, want 200 {\"active\":false}", tt.name, w.Code, w.Body)
			}
			w = h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + raw}})
			wantError(t, "POST /v1/logout "+tt.name, w, http.StatusUnauthorized, "invalid_token", "token has duplicate claim names")
		})
	}
	// The control: the same payload without the repeat is accepted.
	raw := forge(t, h.access, "at+jwt", access(`"tenant":"acme"`))
	if w := h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + raw}}); w.Code != http.StatusOK {
		t.Fatalf("GET /v1/session (forged without a repeat): %d %s, want 200", w.Code, w.Body)
	}
}

// TestForgedRefreshExt: a refresh token whose ext would copy a reserved or
// repeated name into the next access token is refused at the refresh.
func TestForgedRefreshExt(t *testing.T) {
	h := newHarness(t)
	now := h.now.Unix()
	refresh := func(ext string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%d,"nbf":%d,"iat":%d,"jti":"r1","client_id":"app","sid":"s1","auth_time":%d,"scope":"read","access_aud":["api"],"ext":%s}`,
			issuer, issuer, now+3600, now, now, now, ext)
	}
	for _, tt := range []struct{ name, ext, desc string }{
		{"ext with Sub", `{"Sub":"root"}`, "token carries a reserved claim name"},
		{"ext with sid", `{"sid":""}`, "token carries a reserved claim name"},
		{"ext with a repeat", `{"tenant":"a","Tenant":"b"}`, "token has duplicate claim names"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := forge(t, h.refresh, "rt+jwt", refresh(tt.ext))
			w := h.do(req{method: "POST", path: "/v1/refresh", body: fmt.Sprintf(`{"refresh_token":%q}`, raw), ctype: "application/json"})
			wantError(t, "POST /v1/refresh "+tt.name, w, http.StatusBadRequest, "invalid_grant", tt.desc)
			w = h.do(req{method: "POST", path: "/oauth/token", body: "grant_type=refresh_token&client_id=app&refresh_token=" + url.QueryEscape(raw), ctype: "application/x-www-form-urlencoded"})
			wantError(t, "POST /oauth/token "+tt.name, w, http.StatusBadRequest, "invalid_grant", tt.desc)
		})
	}
	raw := forge(t, h.refresh, "rt+jwt", refresh(`{"tenant":"acme"}`))
	if w := h.do(req{method: "POST", path: "/v1/refresh", body: fmt.Sprintf(`{"refresh_token":%q}`, raw), ctype: "application/json"}); w.Code != http.StatusOK {
		t.Fatalf("POST /v1/refresh (forged with a clean ext): %d %s, want 200", w.Code, w.Body)
	}
}

// TestForgedLifetimes: a token signed with jwtd's key that lives longer
// than jwtd issues, or whose times are strings, is refused.
func TestForgedLifetimes(t *testing.T) {
	h := newHarness(t)
	now := h.now.Unix()
	const tenYears = 10 * 365 * 86400
	access := func(iat, exp string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":"api","exp":%s,"nbf":%d,"iat":%s,"jti":"a1","client_id":"app","sid":"s1","auth_time":%d,"scope":"read"}`,
			issuer, exp, now, iat, now)
	}
	refresh := func(exp string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%s,"nbf":%d,"iat":%d,"jti":"r1","client_id":"app","sid":"s1","auth_time":%d,"scope":"read","access_aud":["api"]}`,
			issuer, issuer, exp, now, now, now)
	}
	for _, tt := range []struct{ name, payload, desc string }{
		{"exp ten years out", access(fmt.Sprint(now), fmt.Sprint(now+tenYears)), "token lifetime exceeds what jwtd issues"},
		{"exp an hour out", access(fmt.Sprint(now), fmt.Sprint(now+3600)), "token lifetime exceeds what jwtd issues"},
		{"exp as a string", access(fmt.Sprint(now), `"1999999999"`), "token malformed"},
		{"iat as a string", access(fmt.Sprintf(`"%d"`, now), fmt.Sprint(now+600)), "token malformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := forge(t, h.access, "at+jwt", tt.payload)
			w := h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + raw}})
			wantError(t, "GET /v1/session "+tt.name, w, http.StatusUnauthorized, "invalid_token", tt.desc)
			w = h.do(req{method: "POST", path: "/oauth/introspect", body: "token=" + url.QueryEscape(raw), ctype: "application/x-www-form-urlencoded",
				header: map[string]string{"Authorization": basic("backend", backendSecret)}})
			if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"active":false}` {
				t.Fatalf("POST /oauth/introspect %s: %d %s, want 200 {\"active\":false}", tt.name, w.Code, w.Body)
			}
		})
	}
	for _, tt := range []struct{ name, exp, desc string }{
		{"exp ten years out", fmt.Sprint(now + tenYears), "token lifetime exceeds what jwtd issues"},
		{"exp as a string", fmt.Sprintf(`"%d"`, now+3600), "token malformed"},
	} {
		t.Run("refresh "+tt.name, func(t *testing.T) {
			raw := forge(t, h.refresh, "rt+jwt", refresh(tt.exp))
			w := h.do(req{method: "POST", path: "/v1/refresh", body: fmt.Sprintf(`{"refresh_token":%q}`, raw), ctype: "application/json"})
			wantError(t, "POST /v1/refresh "+tt.name, w, http.StatusBadRequest, "invalid_grant", tt.desc)
		})
	}
}
