package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/revocation"
)

// downStore fails every Check as a lost Redis would, once down is set.
type downStore struct {
	revocation.Store
	down atomic.Bool
}

func (s *downStore) Check(ctx context.Context, t revocation.Token) error {
	if s.down.Load() {
		return fmt.Errorf("%w: check: connection refused", revocation.ErrUnavailable)
	}
	return s.Store.Check(ctx, t)
}

// TestOutageLoggedOnce: an error on its way out is logged once, by the
// error handler, not also by the code that returned it. A bearer request
// refused because the store is down (fail_mode closed) gives one Warn
// line besides the access log line, and that line says why.
func TestOutageLoggedOnce(t *testing.T) {
	store := &downStore{}
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		store.Store = o.Store
		o.Store = store
	})
	tr := h.login(`{"sub":"alice","client_id":"app"}`)
	store.down.Store(true)
	before := len(h.logs.String())
	w := h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}})
	wantError(t, "GET /v1/session with the store down", w, 503, "temporarily_unavailable", "revocation store unavailable; retry later")
	var warned []string
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()[before:]), "\n") {
		var rec struct{ Level, Msg, Error string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level != "INFO" {
			warned = append(warned, rec.Msg+": "+rec.Error)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "fail_mode closed") {
		t.Fatalf("GET /v1/session with the store down: logged %q, want one line naming fail_mode closed", warned)
	}
}

// accessLines sends each request once through h and returns the access
// log lines it wrote by status, checking that each names the request id
// its answer carries.
func accessLines(t *testing.T, h *harness, reqs []*http.Request) map[int]int {
	t.Helper()
	before := len(h.logs.String())
	ids := map[string]bool{}
	for _, r := range reqs {
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, r)
		ids[w.Header().Get("X-Request-Id")] = true
	}
	got := map[int]int{}
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()[before:]), "\n") {
		var rec struct {
			Msg       string
			Status    int
			RequestID string `json:"request_id"`
		}
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg != "request" {
			continue
		}
		if !ids[rec.RequestID] {
			t.Errorf("access log line %s: request_id %q is not the X-Request-Id of any answer", line, rec.RequestID)
		}
		got[rec.Status]++
	}
	return got
}

// requestsCounted is the number of requests the request histogram holds.
func (h *harness) requestsCounted() uint64 {
	h.t.Helper()
	mfs, err := h.registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == "jwtd_http_request_duration_seconds" {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// TestAccessLogModes: server.access_log on logs every request, off none,
// and sampled every answer of status 400 or more (a 404, a 503 with the
// store down, a 499 for a client that hung up) and the given fraction of
// the successful ones; the request metrics count every request in every
// mode.
func TestAccessLogModes(t *testing.T) {
	const successes = 50
	tests := []struct {
		name        string
		log         handlers.AccessLog
		wantSuccess int
		wantErrors  bool
	}{
		{"zero value is on", handlers.AccessLog{}, successes, true},
		{"on", handlers.AccessLog{Mode: handlers.AccessLogOn, Sample: 0}, successes, true},
		{"off", handlers.AccessLog{Mode: handlers.AccessLogOff, Sample: 1}, 0, false},
		{"sampled 0", handlers.AccessLog{Mode: handlers.AccessLogSampled, Sample: 0}, 0, true},
		{"sampled 1", handlers.AccessLog{Mode: handlers.AccessLogSampled, Sample: 1}, successes, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cancelled := &cancelledStore{}
			down := &downStore{}
			h := newHarness(t, func(_ *harness, o *handlers.Options) {
				cancelled.Store = o.Store
				down.Store = cancelled
				o.Store = down
				o.AccessLog = tt.log
			})
			tr := h.login(`{"sub":"alice","client_id":"app"}`)
			bearer := "Bearer " + tr.AccessToken
			var reqs []*http.Request
			for range successes {
				reqs = append(reqs, httptest.NewRequest("GET", "/healthz", nil))
			}
			reqs = append(reqs, httptest.NewRequest("GET", "/no/such/route", nil))
			counted := h.requestsCounted()
			got := accessLines(t, h, reqs)

			down.down.Store(true)
			r := httptest.NewRequest("GET", "/v1/session", nil)
			r.Header.Set("Authorization", bearer)
			for status, n := range accessLines(t, h, []*http.Request{r}) {
				got[status] += n
			}
			down.down.Store(false)

			cancelled.on.Store(true)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r = httptest.NewRequestWithContext(ctx, "GET", "/v1/session", nil)
			r.Header.Set("Authorization", bearer)
			for status, n := range accessLines(t, h, []*http.Request{r}) {
				got[status] += n
			}

			want := map[int]int{}
			if tt.wantSuccess > 0 {
				want[200] = tt.wantSuccess
			}
			if tt.wantErrors {
				want[404], want[503], want[499] = 1, 1, 1
			}
			if !maps.Equal(got, want) {
				t.Errorf("AccessLog %+v: access log lines by status = %v, want %v", tt.log, got, want)
			}
			if n := h.requestsCounted() - counted; n != successes+3 {
				t.Errorf("AccessLog %+v: jwtd_http_request_duration_seconds counted %d requests, want %d", tt.log, n, successes+3)
			}
		})
	}
}

// TestAccessLogSampled: a sample of 0.5 logs about half of the successful
// requests. The bounds are nine standard deviations wide: the test fails
// when the fraction is ignored, not by chance.
func TestAccessLogSampled(t *testing.T) {
	const n = 1000
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		o.AccessLog = handlers.AccessLog{Mode: handlers.AccessLogSampled, Sample: 0.5}
	})
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", "/healthz", nil)
	}
	if got := accessLines(t, h, reqs)[200]; got < 350 || got > 650 {
		t.Errorf("AccessLog sampled 0.5: %d of %d successful requests logged, want about %d", got, n, n/2)
	}
}

// TestEveryAnswerRunsTheMiddleware: the answers no route handles (a 404, a
// 405, a CORS preflight, which the router answers itself) and a routed one
// each carry a request id and HSTS, are logged under that id and are
// counted, as the middleware chain is composed once and wraps whatever the
// router matched.
func TestEveryAnswerRunsTheMiddleware(t *testing.T) {
	h := newHarness(t, withCookies, func(_ *harness, o *handlers.Options) { o.HSTS = true })
	preflight := httptest.NewRequest("OPTIONS", "/v1/refresh", nil)
	preflight.Header.Set("Origin", spaOrigin)
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	reqs := []*http.Request{
		httptest.NewRequest("GET", "/nope", nil),
		httptest.NewRequest("GET", "/v1/sessions", nil),
		preflight,
		httptest.NewRequest("GET", "/.well-known/jwks.json", nil),
	}
	for _, r := range reqs {
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, r)
		if w.Header().Get("X-Request-Id") == "" || w.Header().Get("Strict-Transport-Security") == "" {
			t.Errorf("%s %s: %d without a request id or HSTS: %v", r.Method, r.URL.Path, w.Code, w.Header())
		}
		if r == preflight && (w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != spaOrigin) {
			t.Errorf("preflight: %d %v, want 204 allowing %s", w.Code, w.Header(), spaOrigin)
		}
	}
	before := h.requestsCounted()
	got := accessLines(t, h, reqs)
	if want := map[int]int{404: 1, 405: 1, 204: 1, 200: 1}; !maps.Equal(got, want) {
		t.Errorf("access log lines by status: %v, want %v", got, want)
	}
	if n := h.requestsCounted() - before; n != uint64(len(reqs)) {
		t.Errorf("requests counted: %d, want %d", n, len(reqs))
	}
}

// TestRequestMetricLabels: every request lands in the histogram series
// of its own method, route and status, however many came before it with
// other labels (the series are looked up once and kept).
func TestRequestMetricLabels(t *testing.T) {
	h := newHarness(t)
	bearer := "Bearer " + h.login(`{"sub":"alice","client_id":"app"}`).AccessToken
	session := func(authz string) *http.Request {
		r := httptest.NewRequest("GET", "/v1/session", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		return r
	}
	reqs := []*http.Request{
		session(bearer), session(""), session(bearer), session("Bearer nope"), session(bearer),
		httptest.NewRequest("POST", "/v1/session", nil), httptest.NewRequest("GET", "/nope", nil),
	}
	for _, r := range reqs {
		h.srv.ServeHTTP(httptest.NewRecorder(), r)
	}
	mfs, err := h.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "jwtd_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got[l["method"]+" "+l["route"]+" "+l["status"]] += m.GetHistogram().GetSampleCount()
		}
	}
	want := map[string]uint64{
		"GET /v1/session 200": 3, "GET /v1/session 401": 2, "POST /v1/session 405": 1, "GET unmatched 404": 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("series %q counted %d requests, want %d (all: %v)", k, got[k], n, got)
		}
	}
}
