package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// TestRequestLabelsBounded sends thousands of requests with distinct odd
// methods and long paths: the request histogram keeps a fixed label set
// (hole 2: every label set is a time series kept forever), and every log
// field taken from the request is bounded.
func TestRequestLabelsBounded(t *testing.T) {
	h := newHarness(t)
	for i := range 2000 {
		method := fmt.Sprintf("X%dM", i)
		if i%10 == 0 {
			method = strings.Repeat("L", 4000) + fmt.Sprint(i)
		}
		paths := []string{"/v1/sessions", "/" + strings.Repeat("p", 3000) + fmt.Sprint(i)}
		h.do(req{method: method, path: paths[i%2]})
	}
	for i := range 200 {
		h.do(req{method: "GET", path: "/nope/" + strings.Repeat("q", 5000) + fmt.Sprint(i)})
	}
	mfs, err := h.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{"GET": true, "POST": true, "HEAD": true, "OPTIONS": true, "other": true}
	series, bad := 0, []string{}
	for _, mf := range mfs {
		if mf.GetName() != "jwtd_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, l := range m.GetLabel() {
				switch v := l.GetValue(); l.GetName() {
				case "method":
					if !methods[v] {
						bad = append(bad, fmt.Sprintf("method %.40q", v))
					}
				case "route":
					if v != "unmatched" && !strings.HasPrefix(v, "/") || len(v) > 64 {
						bad = append(bad, fmt.Sprintf("route %.40q", v))
					}
				}
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d label values outside the fixed set, first %s", len(bad), bad[0])
	}
	if series == 0 || series > 8 {
		t.Errorf("jwtd_http_request_duration_seconds has %d label sets after 2,200 odd requests, want 1 to 8", series)
	}
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(nil, 1<<20)
	lines, long, marked := 0, 0, 0
	for sc.Scan() {
		lines++
		if n := len(sc.Bytes()); n > 1024 {
			if long++; long == 1 {
				t.Errorf("log line of %d bytes, want at most 1024: %.200s", n, sc.Bytes())
			}
		}
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %.200q is not JSON: %v", sc.Bytes(), err)
		}
		if p, _ := line["path"].(string); strings.HasSuffix(p, "...[truncated]") {
			marked++
		}
	}
	if marked < 1200 {
		t.Errorf("%d log lines mark their path truncated, want 1,200", marked)
	}
	if lines < 2200 {
		t.Fatalf("%d log lines, want one per request (2,200)", lines)
	}
}

// TestClientAuthCostsTheSame counts slow-hash evaluations: an unknown id,
// or a public one presented with a secret, costs one check of the dummy,
// like a known bcrypt or argon2id client with a wrong secret (hole 3), so
// neither time nor work tells which ids exist.
func TestClientAuthCostsTheSame(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, id, secret string
		checks           float64
	}{
		{"unknown id with a secret", "ghost", "guess", 1},
		{"unknown id without a secret", "ghost", "", 1},
		{"public client with a secret", "app", "guess", 1},
		{"bcrypt client, wrong secret", "bcrypt-backend", "wrong", 1},
		{"argon2id client, wrong secret", "argon-backend", "wrong", 1},
		{"argon2id client, right secret", "argon-backend", slowSecret, 1},
		{"argon2id client, right secret again (cached)", "argon-backend", slowSecret, 0},
		// A fast hash's failure would answer in microseconds where an
		// unknown id pays the dummy: the id would show. It pays it too.
		{"sha256 client, wrong secret", "backend", "wrong", 1},
		{"sha256 client, right secret", "backend", backendSecret, 0},
		{"public client without a secret", "app", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.slowChecks("checked")
			w := h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"a"}`, ctype: "application/json",
				header: map[string]string{"Authorization": basic(tt.id, tt.secret)}})
			if got := h.slowChecks("checked") - before; got != tt.checks {
				t.Fatalf("POST /v1/sessions as %q with secret %q: %v slow checks, want %v (status %d)", tt.id, tt.secret, got, tt.checks, w.Code)
			}
		})
	}
}

// TestSlowHashSlots fills every slow-hash slot: a check that needs one is
// refused with 503 and Retry-After (hole 3: parallel wrong guesses must
// not each allocate argon2id's memory), while a client whose secret is
// cached, or has a sha256 hash, still gets in.
func TestSlowHashSlots(t *testing.T) {
	h := newHarness(t)
	handlers.SetSlowHashWait(h.srv, 0)
	login := func(id, secret string) *httptest.ResponseRecorder {
		return h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"a"}`, ctype: "application/json",
			header: map[string]string{"Authorization": basic(id, secret)}})
	}
	if w := login("argon-backend", slowSecret); w.Code != http.StatusCreated {
		t.Fatalf("login as argon-backend: %d %s", w.Code, w.Body)
	}
	release := handlers.HoldSlowHashSlots(h.srv)
	defer release()
	for _, c := range []struct{ id, secret string }{{"argon-backend", "wrong"}, {"bcrypt-backend", slowSecret}, {"ghost", "guess"}, {"app", "guess"}} {
		w := login(c.id, c.secret)
		wantError(t, "POST /v1/sessions as "+c.id+" with every slot taken", w, 503, "temporarily_unavailable", "too many client authentications in progress; retry later")
		if w.Header().Get("Retry-After") == "" {
			t.Fatalf("POST /v1/sessions as %s with every slot taken: no Retry-After", c.id)
		}
	}
	if got := h.slowChecks("busy"); got != 4 {
		t.Fatalf("busy slow checks = %v, want 4", got)
	}
	if w := login("argon-backend", slowSecret); w.Code != http.StatusCreated {
		t.Fatalf("cached login as argon-backend with every slot taken: %d %s", w.Code, w.Body)
	}
	if w := login("backend", backendSecret); w.Code != http.StatusCreated {
		t.Fatalf("sha256 login with every slot taken: %d %s", w.Code, w.Body)
	}
}

// TestAdminWithoutGrant: a client that authenticates but lacks the admin
// grant is forbidden on the admin endpoints: 403, not 400, since nothing
// is wrong with the request, only with who sent it.
func TestAdminWithoutGrant(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/v1/admin/keys/rotate", "/v1/admin/subjects/alice/revoke"} {
		w := h.do(req{method: "POST", path: path, header: map[string]string{"Authorization": basic("backend", backendSecret)}})
		wantError(t, "POST "+path+" without the admin grant", w, 403, "unauthorized_client", "client lacks the admin grant")
	}
}

// withRedisKeys puts both key rings on a RedisStore of srv.
func withRedisKeys(srv *redistest.Server) func(*harness, *handlers.Options) {
	return func(h *harness, o *handlers.Options) {
		ks, err := keys.NewRedisStore(srv.Client(h.t), fmt.Sprintf("k%d:", prefixSeq.Add(1)), make([]byte, 32))
		if err != nil {
			h.t.Fatal(err)
		}
		ring := func(p keys.Purpose, life time.Duration) *keys.Ring {
			r, err := keys.NewRing(context.Background(), ks, keys.Options{Purpose: p, Algorithm: "ES256", RotateEvery: 24 * time.Hour, PublishAhead: time.Hour, Lifetime: life, Now: h.clock})
			if err != nil {
				h.t.Fatal(err)
			}
			if err := r.Maintain(context.Background()); err != nil {
				h.t.Fatal(err)
			}
			return r
		}
		h.access, h.refresh = ring(keys.Access, 16*time.Minute), ring(keys.Refresh, 25*time.Hour)
		o.AccessKeys, o.RefreshKeys = h.access, h.refresh
		o.Issuer = token.NewIssuer(o.Tokens, h.access, h.refresh)
		h.verifier = token.NewVerifier(o.Tokens, h.access, h.refresh)
		o.Verifier = h.verifier
	}
}

// TestKeyStoreOutage: with the Redis key store down, a rotation answers
// 503 temporarily_unavailable with Retry-After, like every store outage.
func TestKeyStoreOutage(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t, withRedisKeys(srv))
	admin := map[string]string{"Authorization": basic("argon-backend", slowSecret)}
	if w := h.do(req{method: "POST", path: "/v1/admin/keys/rotate", header: admin}); w.Code != 200 {
		t.Fatalf("rotate with the key store up: %d %s", w.Code, w.Body)
	}
	srv.Kill()
	w := h.do(req{method: "POST", path: "/v1/admin/keys/rotate", header: admin})
	wantError(t, "rotate with the key store down", w, 503, "temporarily_unavailable", "key store unavailable; retry later")
	if w.Header().Get("Retry-After") == "" {
		t.Fatalf("rotate with the key store down: no Retry-After")
	}
}

// cancelledStore answers every call as a store does when the request's
// context is cancelled under it: an error wrapping context.Canceled.
type cancelledStore struct {
	revocation.Store
	on atomic.Bool
}

func (s *cancelledStore) err(op string) error {
	if s.on.Load() {
		return fmt.Errorf("revocation: %s: %w", op, context.Canceled)
	}
	return nil
}

func (s *cancelledStore) Ping(ctx context.Context) error {
	if err := s.err("ping"); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

func (s *cancelledStore) Check(ctx context.Context, t revocation.Token) error {
	if err := s.err("check"); err != nil {
		return err
	}
	return s.Store.Check(ctx, t)
}

func (s *cancelledStore) RevokeSession(ctx context.Context, sub, sid string, ttl time.Duration) error {
	if err := s.err("revoke session"); err != nil {
		return err
	}
	return s.Store.RevokeSession(ctx, sub, sid, ttl)
}

func (s *cancelledStore) Spend(ctx context.Context, sp revocation.Spend) (revocation.Outcome, error) {
	if err := s.err("spend"); err != nil {
		return revocation.Outcome{}, err
	}
	return s.Store.Spend(ctx, sp)
}

func (s *cancelledStore) RevokeSubject(ctx context.Context, sub string, notBefore time.Time, ttl time.Duration) error {
	if err := s.err("revoke subject"); err != nil {
		return err
	}
	return s.Store.RevokeSubject(ctx, sub, notBefore, ttl)
}

// TestCancelledRequest: a request whose client hung up is not a store
// outage: no Warn, nothing counted, no fail-open, and the access log shows
// 499 (nginx's "client closed request").
func TestCancelledRequest(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail open %v", failOpen), func(t *testing.T) {
			store := &cancelledStore{}
			h := newHarness(t, func(h *harness, o *handlers.Options) {
				store.Store = o.Store
				o.Store = store
				o.FailOpen = failOpen
			})
			tr := h.login(`{"sub":"alice","client_id":"app"}`)
			store.on.Store(true)
			bearer := map[string]string{"Authorization": "Bearer " + tr.AccessToken}
			tests := []struct {
				name string
				r    req
			}{
				{"session", req{method: "GET", path: "/v1/session", header: bearer}},
				{"refresh", h.refreshReq(tr.RefreshToken, nil)},
				{"login", req{method: "POST", path: "/v1/sessions", body: `{"sub":"a"}`, ctype: "application/json", header: map[string]string{"Authorization": basic("backend", backendSecret)}}},
				{"logout", req{method: "POST", path: "/v1/logout", header: bearer}},
				{"logout/all", req{method: "POST", path: "/v1/logout/all", header: bearer}},
				{"admin revoke", req{method: "POST", path: "/v1/admin/subjects/alice/revoke", header: map[string]string{"Authorization": basic("argon-backend", slowSecret)}}},
			}
			for _, tt := range tests {
				before := len(strings.Split(h.logs.String(), "\n"))
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				hr := httptest.NewRequestWithContext(ctx, tt.r.method, tt.r.path, strings.NewReader(tt.r.body))
				if tt.r.ctype != "" {
					hr.Header.Set("Content-Type", tt.r.ctype)
				}
				for k, v := range tt.r.header {
					hr.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				h.srv.ServeHTTP(w, hr)
				if w.Code != 499 {
					t.Errorf("%s with the request cancelled: status %d, want 499 (%s)", tt.name, w.Code, w.Body)
				}
				lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")[before-1:]
				var access int
				for _, l := range lines {
					var line map[string]any
					if err := json.Unmarshal([]byte(l), &line); err != nil {
						t.Fatalf("log line %q: %v", l, err)
					}
					if line["level"] != "INFO" {
						t.Errorf("%s with the request cancelled logged %s: %s", tt.name, line["level"], l)
					}
					if line["msg"] == "request" {
						access++
						if line["status"] != float64(499) {
							t.Errorf("%s with the request cancelled: access log status %v, want 499", tt.name, line["status"])
						}
					}
				}
				if access != 1 {
					t.Errorf("%s with the request cancelled: %d access log lines, want 1", tt.name, access)
				}
			}
			if n := h.counter("jwtd_revocation_store_errors_total"); n != 0 {
				t.Errorf("jwtd_revocation_store_errors_total = %v after cancelled requests, want 0", n)
			}
			if n := h.counter("jwtd_revocation_fail_open_total"); n != 0 {
				t.Errorf("jwtd_revocation_fail_open_total = %v after cancelled requests, want 0", n)
			}
		})
	}
}

// TestAdminRevokeSubjectDecodesOnce: the subject in the path is decoded
// exactly once (hole 7): "a%2541" revokes "a%41", not "aA", and a subject
// with a "%" can be revoked.
func TestAdminRevokeSubjectDecodesOnce(t *testing.T) {
	h := newHarness(t)
	admin := map[string]string{"Authorization": basic("argon-backend", slowSecret)}
	tests := []struct {
		name, segment, sub string
		spared             []string // subjects a second decoding would hit
	}{
		{"escaped percent", "a%2541", "a%41", []string{"aA"}},
		{"lone percent", "%25", "%", nil},
		{"percent at the end", "100%25", "100%", nil},
		{"escaped escape", "%2525", "%25", []string{"%"}},
		{"escaped letter", "b%41", "bA", nil},
		{"escaped slash", "c%2Fd", "c/d", nil},
		{"escaped space", "e%20f", "e f", nil},
		{"unicode escaped", "%C3%A9t%C3%A9", "été", nil},
		{"unicode raw", "ünï", "ünï", nil},
		{"plus stays", "g+h", "g+h", []string{"g h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.now = h.now.Add(time.Second) // past the cut-offs of the rows before
			quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
			target := h.login(`{"sub":` + quote(tt.sub) + `,"client_id":"app"}`)
			var spared []tokenResponse
			for _, s := range tt.spared {
				spared = append(spared, h.login(`{"sub":`+quote(s)+`,"client_id":"app"}`))
			}
			path := "/v1/admin/subjects/" + tt.segment + "/revoke"
			if w := h.do(req{method: "POST", path: path, header: admin}); w.Code != http.StatusNoContent {
				t.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
			}
			if code := h.sessionStatus(target.AccessToken); code != http.StatusUnauthorized {
				t.Fatalf("POST %s: %q's token answers %d, want 401", path, tt.sub, code)
			}
			for i, s := range tt.spared {
				if code := h.sessionStatus(spared[i].AccessToken); code != http.StatusOK {
					t.Fatalf("POST %s revoked %q too (status %d): the path was decoded twice", path, s, code)
				}
			}
		})
	}
}

// TestAdminRevokeSubjectValidUTF8: a subject path that does not decode to
// UTF-8 is refused; it could name no session (subjects come from JSON,
// always UTF-8), and the feed would publish it as U+FFFD, another subject.
func TestAdminRevokeSubjectValidUTF8(t *testing.T) {
	h := newHarness(t)
	admin := map[string]string{"Authorization": basic("argon-backend", slowSecret)}
	for _, seg := range []string{"%C0%AF", "%FF", "a%E9b"} {
		wantError(t, "POST /v1/admin/subjects/"+seg+"/revoke", h.do(req{method: "POST", path: "/v1/admin/subjects/" + seg + "/revoke", header: admin}),
			400, "invalid_request", "sub is not valid UTF-8")
	}
}

// TestExchangeAfterLogoutAll: a handoff code minted before "log out
// everywhere" of its subject opens no session after it (hole 8); a code
// minted after the cut-off does.
func TestExchangeAfterLogoutAll(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH(withCookies)
		auth := map[string]string{"Authorization": basic("backend", backendSecret)}
		admin := map[string]string{"Authorization": basic("argon-backend", slowSecret)}
		newCode := func() string {
			t.Helper()
			w := h.do(req{method: "POST", path: "/v1/sessions", ctype: "application/json", header: auth,
				body: `{"sub":"alice","client_id":"app","delivery":"code"}`})
			var res struct{ Code string }
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 201 {
				t.Fatalf("delivery code: %d %s", w.Code, w.Body)
			}
			return res.Code
		}
		exchange := func(code string) *httptest.ResponseRecorder {
			return h.do(req{method: "POST", path: "/v1/sessions/exchange", body: `{"code":"` + code + `"}`, ctype: "application/json", header: spaHeaders(nil)})
		}
		tests := []struct {
			name    string
			revoke  func()
			advance time.Duration // between the code and the cut-off
		}{
			{"admin revoke", func() {
				if w := h.do(req{method: "POST", path: "/v1/admin/subjects/alice/revoke", header: admin}); w.Code != 204 {
					t.Fatalf("admin revoke alice: %d %s", w.Code, w.Body)
				}
			}, 0},
			{"logout/all", func() {
				tr := h.login(`{"sub":"alice","client_id":"app"}`)
				if w := h.do(req{method: "POST", path: "/v1/logout/all", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}); w.Code != 204 {
					t.Fatalf("logout/all alice: %d %s", w.Code, w.Body)
				}
			}, 10 * time.Second},
		}
		for _, tt := range tests {
			h.now = h.now.Add(time.Second)
			code := newCode()
			h.now = h.now.Add(tt.advance)
			tt.revoke()
			// A second later, so the new session's tokens would not fall
			// under the cut-off themselves.
			h.now = h.now.Add(time.Second)
			wantError(t, "exchange a code minted before "+tt.name, exchange(code), 400, "invalid_grant", "code is invalid, expired or already used")
			if w := exchange(newCode()); w.Code != 200 {
				t.Fatalf("exchange a code minted after %s: %d %s", tt.name, w.Code, w.Body)
			}
		}
	})
}

// setClient replaces the configured client id.
func setClient(o *handlers.Options, id string, f func(*clients.Client)) {
	for i := range o.Clients {
		if o.Clients[i].ID == id {
			f(&o.Clients[i])
		}
	}
}

// TestRefreshNarrowsToTheClient: a client narrowed in the config narrows
// its sessions at their next refresh (hole 11), on /v1/refresh and
// /oauth/token alike: the access token and the new refresh token carry
// only the scopes and audiences the client still has, and a session left
// with no audience is refused.
func TestRefreshNarrowsToTheClient(t *testing.T) {
	refreshes := map[string]func(h *harness, rt, scope string) *httptest.ResponseRecorder{
		"/v1/refresh": func(h *harness, rt, _ string) *httptest.ResponseRecorder { return h.do(h.refreshReq(rt, nil)) },
		"/oauth/token": func(h *harness, rt, scope string) *httptest.ResponseRecorder {
			return h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", rt, "client_id", "app", "scope", scope), nil))
		},
	}
	for name, refresh := range refreshes {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(_ *harness, o *handlers.Options) {
				setClient(o, "app", func(c *clients.Client) { c.Audiences = []string{"api", "billing"} })
			})
			tr := h.login(`{"sub":"alice","client_id":"app","scope":"read write","audience":["api","billing"]}`)

			h.reconfigure(func(o *handlers.Options) {
				setClient(o, "app", func(c *clients.Client) { c.Scopes, c.Audiences = []string{"read", "admin"}, []string{"billing"} })
			})
			if name == "/oauth/token" {
				wantError(t, "refresh asking a scope the client lost", refresh(h, tr.RefreshToken, "write"), 400, "invalid_scope", "scope exceeds the scope granted to the refresh token")
			}
			w := refresh(h, tr.RefreshToken, "")
			if w.Code != 200 {
				t.Fatalf("refresh after narrowing: %d %s", w.Code, w.Body)
			}
			next := decodeToken(t, w.Body.Bytes())
			a, err := h.verifier.Access(context.Background(), next.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			r, err := h.verifier.Refresh(context.Background(), next.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if a.Scope != "read" || strings.Join(a.Audience, " ") != "billing" || next.Scope != "read" {
				t.Fatalf("access token after narrowing: scope %q aud %v (answer scope %q), want read, [billing]", a.Scope, a.Audience, next.Scope)
			}
			if r.Scope != "read" || strings.Join(r.AccessAudience, " ") != "billing" {
				t.Fatalf("refresh token after narrowing: scope %q access_aud %v, want read, [billing]", r.Scope, r.AccessAudience)
			}

			// No audience of its own: tokens.default_audience (api) is all
			// it may have, and the session has none of it left.
			h.now = h.now.Add(time.Minute)
			h.reconfigure(func(o *handlers.Options) {
				setClient(o, "app", func(c *clients.Client) { c.Audiences = nil })
			})
			wantError(t, "refresh with no audience left", refresh(h, next.RefreshToken, ""), 400, "invalid_grant", "the client may no longer have any of the session's audiences")
		})
	}
}

// TestSubjectsAreNotClientIDs: a user session may not take a client id
// for its subject (hole 6), or logout/all of that "user" would cut off the
// client's own client-credentials tokens, and a resource server could not
// tell the two apart. A session whose subject has since become a client
// id is refused at its next refresh or exchange; logout/all with a
// client-credentials token cuts off that client's tokens only.
func TestSubjectsAreNotClientIDs(t *testing.T) {
	h := newHarness(t, withCookies)
	auth := map[string]string{"Authorization": basic("backend", backendSecret)}
	for _, sub := range []string{"cc", "backend", "app"} {
		w := h.do(req{method: "POST", path: "/v1/sessions", body: `{"sub":"` + sub + `","client_id":"app"}`, ctype: "application/json", header: auth})
		wantError(t, "POST /v1/sessions sub "+sub, w, 400, "invalid_request", "sub must not be a client id")
	}

	tr := h.login(`{"sub":"newsvc","client_id":"app"}`)
	w := h.do(req{method: "POST", path: "/v1/sessions", ctype: "application/json", header: auth, body: `{"sub":"newsvc","client_id":"app","delivery":"code"}`})
	var code struct{ Code string }
	if err := json.Unmarshal(w.Body.Bytes(), &code); err != nil || w.Code != 201 {
		t.Fatalf("delivery code: %d %s", w.Code, w.Body)
	}
	h.reconfigure(func(o *handlers.Options) {
		o.Clients = append(o.Clients, clients.Client{ID: "newsvc", Secret: hashOf(t, "sha256"), Grants: []string{"client_credentials"}})
	})
	wantError(t, "refresh of a session whose sub became a client id", h.do(h.refreshReq(tr.RefreshToken, nil)), 400, "invalid_grant", "the session's subject is now a client id")
	wantError(t, "refresh grant of a session whose sub became a client id",
		h.do(h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken, "client_id", "app"), nil)),
		400, "invalid_grant", "the session's subject is now a client id")
	wantError(t, "exchange of a code whose sub became a client id",
		h.do(req{method: "POST", path: "/v1/sessions/exchange", body: `{"code":"` + code.Code + `"}`, ctype: "application/json", header: spaHeaders(nil)}),
		400, "invalid_grant", "code is invalid, expired or already used")

	alice := h.login(`{"sub":"alice","client_id":"app"}`)
	w = h.do(h.post("/oauth/token", form("grant_type", "client_credentials"), map[string]string{"Authorization": basic("cc", backendSecret)}))
	cc := decodeToken(t, w.Body.Bytes())
	if w := h.do(req{method: "POST", path: "/v1/logout/all", header: map[string]string{"Authorization": "Bearer " + cc.AccessToken}}); w.Code != 204 {
		t.Fatalf("logout/all with a client-credentials token: %d %s", w.Code, w.Body)
	}
	if code := h.sessionStatus(cc.AccessToken); code != 401 {
		t.Fatalf("cc's token after its logout/all: %d, want 401", code)
	}
	if code := h.sessionStatus(alice.AccessToken); code != 200 {
		t.Fatalf("alice's token after cc's logout/all: %d, want 200", code)
	}
}

// TestExchangeNarrowsToTheClient: a handoff code minted before its client
// was narrowed in the configuration opens a session with only what the
// client may have now, like every refresh; with no audience left it opens
// none.
func TestExchangeNarrowsToTheClient(t *testing.T) {
	h := newHarness(t, withCookies, func(_ *harness, o *handlers.Options) {
		setClient(o, "app", func(c *clients.Client) { c.Audiences = []string{"api", "billing"} })
	})
	newCode := func() string {
		t.Helper()
		w := h.do(req{method: "POST", path: "/v1/sessions", ctype: "application/json",
			header: map[string]string{"Authorization": basic("backend", backendSecret)},
			body:   `{"sub":"alice","client_id":"app","scope":"read write","audience":["api","billing"],"delivery":"code"}`})
		var res struct{ Code string }
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 201 {
			t.Fatalf("delivery code: %d %s", w.Code, w.Body)
		}
		return res.Code
	}
	exchange := func(code string) *httptest.ResponseRecorder {
		return h.do(req{method: "POST", path: "/v1/sessions/exchange", body: `{"code":"` + code + `"}`, ctype: "application/json", header: spaHeaders(nil)})
	}
	code, lost := newCode(), newCode()
	h.reconfigure(func(o *handlers.Options) {
		setClient(o, "app", func(c *clients.Client) { c.Scopes, c.Audiences = []string{"read"}, []string{"billing"} })
	})
	w := exchange(code)
	if w.Code != 200 {
		t.Fatalf("exchange after narrowing: %d %s", w.Code, w.Body)
	}
	a, err := h.verifier.Access(context.Background(), decodeToken(t, w.Body.Bytes()).AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if a.Scope != "read" || strings.Join(a.Audience, " ") != "billing" {
		t.Fatalf("access token of a code exchanged after narrowing: scope %q aud %v, want read, [billing]", a.Scope, a.Audience)
	}
	h.reconfigure(func(o *handlers.Options) {
		setClient(o, "app", func(c *clients.Client) { c.Audiences = []string{"reports"} }) // none of the code's
	})
	wantError(t, "exchange with no audience left", exchange(lost), 400, "invalid_grant", "code is invalid, expired or already used")
}
