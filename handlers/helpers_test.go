package handlers_test

// Helpers shared by the tests of this package: one file, so a newcomer
// finds the harness, fixtures and assertions in one place.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/testlog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

const spaOrigin = "https://spa.example"

func withCookies(_ *harness, o *handlers.Options) {
	o.AllowedOrigins = []string{spaOrigin}
	o.Cookie = handlers.CookieOptions{Name: "__Host-jwtd_refresh", SameSite: http.SameSiteStrictMode, Secure: true}
}

func spaHeaders(cookie *http.Cookie) map[string]string {
	h := map[string]string{"Origin": spaOrigin, "X-Requested-With": "jwtd"}
	if cookie != nil {
		h["Cookie"] = cookie.Name + "=" + cookie.Value
	}
	return h
}

type harness struct {
	t        testing.TB
	now      time.Time
	srv      *handlers.Server
	access   *keys.Ring
	refresh  *keys.Ring
	store    revocation.Store
	verifier *token.Verifier
	logs     *testlog.Buffer
	registry *prometheus.Registry
	opts     handlers.Options
}

func (h *harness) clock() time.Time { return h.now }

func hashOf(t testing.TB, kind string) *clients.SecretHash {
	t.Helper()
	var s string
	var err error
	switch kind {
	case "sha256":
		s = clients.SHA256Hash(backendSecret)
	case "bcrypt":
		s, err = bcryptHash()
	case "argon2id":
		s, err = argonHash()
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := clients.ParseSecretHash(s)
	if err != nil {
		t.Fatalf("ParseSecretHash(%s): %v", kind, err)
	}
	return h
}

func newHarness(t testing.TB, tweak ...func(*harness, *handlers.Options)) *harness {
	t.Helper()
	h := &harness{t: t, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), logs: &testlog.Buffer{}, registry: prometheus.NewRegistry()}
	ctx := context.Background()
	ks := keys.NewMemoryStore()
	ring := func(p keys.Purpose, life time.Duration) *keys.Ring {
		r, err := keys.NewRing(ctx, ks, keys.Options{Purpose: p, Algorithm: "ES256", RotateEvery: 24 * time.Hour, PublishAhead: time.Hour, Lifetime: life, Now: h.clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	h.access, h.refresh = ring(keys.Access, 16*time.Minute), ring(keys.Refresh, 25*time.Hour)
	topts := token.Options{
		Issuer: issuer, AccessTTL: 15 * time.Minute, RefreshTTL: 24 * time.Hour, SessionMaxAge: 72 * time.Hour,
		Leeway: 30 * time.Second, Audiences: []string{"api", "billing"}, Now: h.clock,
	}
	h.verifier = token.NewVerifier(topts, h.access, h.refresh)
	h.store = revocation.NewMemoryStore(h.clock)
	h.opts = handlers.Options{
		Tokens:      topts,
		Issuer:      token.NewIssuer(topts, h.access, h.refresh),
		Verifier:    h.verifier,
		AccessKeys:  h.access,
		RefreshKeys: h.refresh,
		Store:       h.store,
		Clients: []clients.Client{
			{ID: "backend", Secret: hashOf(t, "sha256"), Grants: []string{"sessions", "introspect"}, Scopes: []string{"read", "write"}, Audiences: []string{"api", "billing"}},
			{ID: "bcrypt-backend", Secret: hashOf(t, "bcrypt"), Grants: []string{"sessions"}, Scopes: []string{"read"}},
			{ID: "argon-backend", Secret: hashOf(t, "argon2id"), Grants: []string{"sessions", "admin"}},
			{ID: "svc", Secret: hashOf(t, "sha256"), Grants: []string{"sessions", "refresh_token"}, Scopes: []string{"read"}},
			{ID: "cc", Secret: hashOf(t, "sha256"), Grants: []string{"client_credentials"}, Scopes: []string{"read", "write"}},
			{ID: "gateway", Secret: hashOf(t, "sha256"), Grants: []string{"introspect"}},
			{ID: "app", Grants: []string{"refresh_token"}, Scopes: []string{"read", "write"}, Audiences: []string{"api"}},
			{ID: "narrow", Grants: []string{"refresh_token"}, Scopes: []string{"read"}, Audiences: []string{"billing"}},
		},
		DefaultAudience: []string{"api"},
		ReuseGrace:      10 * time.Second,
		MaxBodyBytes:    4096,
		JWKSMaxAge:      15 * time.Minute,
		Logger:          slog.New(slog.NewJSONHandler(h.logs, nil)),
		Metrics:         h.registry,
		Now:             h.clock,
	}
	for _, f := range tweak {
		f(h, &h.opts)
	}
	h.store = h.opts.Store
	h.srv = handlers.New(h.opts)
	return h
}

type req struct {
	method, path string
	body         string
	ctype        string
	header       map[string]string
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func (h *harness) do(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, hr)
	h.checkContract(hr, r.body, w)
	return w
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	Scope            string `json:"scope"`
	SessionID        string `json:"session_id"`
}

// login opens a session for sub on client app through the backend.
func (h *harness) login(body string) tokenResponse {
	h.t.Helper()
	w := h.do(req{method: "POST", path: "/v1/sessions", body: body, ctype: "application/json",
		header: map[string]string{"Authorization": basic("backend", backendSecret)}})
	if w.Code != http.StatusCreated {
		h.t.Fatalf("POST /v1/sessions %s: status %d %s", body, w.Code, w.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &tr); err != nil {
		h.t.Fatal(err)
	}
	return tr
}

// wantError checks an RFC 6749 §5.2 answer exactly.
func wantError(t *testing.T, call string, w *httptest.ResponseRecorder, status int, code, desc string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status = %d, want %d (body %s)", call, w.Code, status, w.Body)
	}
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("%s: body %q is not JSON: %v", call, w.Body, err)
	}
	want := map[string]string{"error": code, "error_description": desc}
	if len(got) != 2 || got["error"] != want["error"] || got["error_description"] != want["error_description"] {
		t.Fatalf("%s: body = %v, want %v", call, got, want)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("%s: Cache-Control = %q, want no-store", call, cc)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type = %q", call, ct)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func (h *harness) post(path, body string, header map[string]string) req {
	return req{method: "POST", path: path, body: body, ctype: "application/x-www-form-urlencoded", header: header}
}

// checkContract is the hook in (*harness).do: the exchange must be one the
// document describes. It reports with Errorf, which is safe from the
// goroutines some tests call do from.
func (h *harness) checkContract(hr *http.Request, body string, w *httptest.ResponseRecorder) {
	h.t.Helper()
	checkOne.Lock()
	defer checkOne.Unlock()
	if err := validateExchange(h.t, hr, body, w.Code, w.Header(), w.Body.Bytes()); err != nil {
		h.t.Errorf("%s %s: answer %d does not match %s: %v", hr.Method, hr.URL.Path, w.Code, contractPath, err)
	}
}

// doFrom is do with the TCP peer set to remote ("host:port").
func (h *harness) doFrom(remote string, r req) *httptest.ResponseRecorder {
	h.t.Helper()
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	hr.RemoteAddr = remote
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, hr)
	return w
}

// labeled reads one labeled counter of the harness's registry.
func (h *harness) labeled(name, label, value string) float64 {
	h.t.Helper()
	mfs, err := h.registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

var prefixSeq atomic.Int64

// withRedis puts the harness on a redisstore.Store of srv with its own prefix.
// Its short op timeout makes the outage tests answer 503 at once.
func withRedis(srv *redistest.Server) func(*harness, *handlers.Options) {
	return withRedisTimeout(srv, 300*time.Millisecond)
}

// forEachStore runs f once on the memory store and once on a real Redis.
func forEachStore(t *testing.T, f func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness)) {
	t.Run("memory", func(t *testing.T) {
		f(t, func(tw ...func(*harness, *handlers.Options)) *harness { return newHarness(t, tw...) })
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, func(tw ...func(*harness, *handlers.Options)) *harness {
			return newHarness(t, append([]func(*harness, *handlers.Options){withRedis(srv)}, tw...)...)
		})
	})
}

func noGrace(_ *harness, o *handlers.Options) { o.ReuseGrace = 0 }

func (h *harness) refreshReq(rt string, header map[string]string) req {
	return req{method: "POST", path: "/v1/refresh", body: `{"refresh_token":"` + rt + `"}`, ctype: "application/json", header: header}
}

func (h *harness) refreshOK(rt string) tokenResponse {
	h.t.Helper()
	w := h.do(h.refreshReq(rt, nil))
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		h.t.Fatalf("POST /v1/refresh: %d %s", w.Code, w.Body)
	}
	return decodeToken(h.t, w.Body.Bytes())
}

func decodeToken(t testing.TB, b []byte) tokenResponse {
	t.Helper()
	var tr tokenResponse
	if err := jsonUnmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func (h *harness) sessionStatus(at string) int {
	return h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + at}}).Code
}

func (h *harness) counter(name string) float64 {
	mfs, err := h.registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func tamperJWT(tok string) string {
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	if sig[5] == 'A' {
		sig[5] = 'B'
	} else {
		sig[5] = 'A'
	}
	return parts[0] + "." + parts[1] + "." + string(sig)
}

// slowChecks reads jwtd_client_secret_slow_checks_total{outcome}.
func (h *harness) slowChecks(outcome string) float64 {
	h.t.Helper()
	mfs, err := h.registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "jwtd_client_secret_slow_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// reconfigure restarts the handlers on the same keys and store with
// changed options, as a deploy of a new config does.
func (h *harness) reconfigure(f func(o *handlers.Options)) {
	h.t.Helper()
	h.opts.Clients = append([]clients.Client(nil), h.opts.Clients...)
	f(&h.opts)
	h.registry = prometheus.NewRegistry()
	h.opts.Metrics = h.registry
	h.srv = handlers.New(h.opts)
}
