package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/internal/redistest"
)

const rateLimitedDesc = "rate limit exceeded; retry later"

func withLimits(l handlers.RateLimits) func(*harness, *handlers.Options) {
	return func(_ *harness, o *handlers.Options) { o.RateLimits = l }
}

// wantRateLimited checks a 429 exactly: RFC 6749 body, no-store, and a
// Retry-After of whole seconds, at least 1.
func wantRateLimited(t *testing.T, call string, w *httptest.ResponseRecorder) {
	t.Helper()
	wantError(t, call, w, http.StatusTooManyRequests, "temporarily_unavailable", rateLimitedDesc)
	ra := w.Header().Get("Retry-After")
	if n, err := strconv.Atoi(ra); err != nil || n < 1 {
		t.Fatalf("%s: Retry-After = %q, want whole seconds >= 1", call, ra)
	}
}

func sessionReq(id, secret string) req {
	return req{method: "POST", path: "/v1/sessions", body: `{"sub":"alice","client_id":"app"}`, ctype: "application/json",
		header: map[string]string{"Authorization": basic(id, secret)}}
}

// garbageRefresh is a refresh that fails cheaply (400 invalid_grant) but
// still counts against the address.
var garbageRefresh = req{method: "POST", path: "/v1/refresh", body: `{"refresh_token":"x.y.z"}`, ctype: "application/json"}

func TestRateLimitFloods(t *testing.T) {
	const peer, other = "198.51.100.7:4000", "203.0.113.9:4000"
	tests := []struct {
		name   string
		limits handlers.RateLimits
		// flood is sent burst times from its address (all pass), then once
		// more (refused with limit); after advancing the clock by one
		// event's interval, once more (passes).
		flood   func(i int) (string, req)
		okCode  int
		burst   int
		limit   string
		another func() (string, req) // still served while the flood is refused
	}{
		{
			name:   "per address on refresh",
			limits: handlers.RateLimits{PerAddress: handlers.RateLimit{Rate: 2, Burst: 5}},
			flood:  func(int) (string, req) { return peer, garbageRefresh },
			okCode: http.StatusBadRequest, burst: 5, limit: "per_address",
			another: func() (string, req) { return other, garbageRefresh },
		},
		{
			name:   "per address on logout",
			limits: handlers.RateLimits{PerAddress: handlers.RateLimit{Rate: 2, Burst: 3}},
			flood: func(int) (string, req) {
				return peer, req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer x.y.z"}}
			},
			okCode: http.StatusUnauthorized, burst: 3, limit: "per_address",
			another: func() (string, req) { return other, garbageRefresh },
		},
		{
			name:   "per client on sessions, from many addresses",
			limits: handlers.RateLimits{PerClient: handlers.RateLimit{Rate: 1, Burst: 4}},
			flood: func(i int) (string, req) {
				return fmt.Sprintf("198.51.100.%d:4000", i+1), sessionReq("backend", backendSecret)
			},
			okCode: http.StatusCreated, burst: 4, limit: "per_client",
			another: func() (string, req) { return peer, sessionReq("svc", backendSecret) },
		},
		{
			name:   "failed client authentication",
			limits: handlers.RateLimits{FailedAuth: handlers.RateLimit{Rate: 1, Burst: 3}},
			flood:  func(int) (string, req) { return peer, sessionReq("backend", "guess") },
			okCode: http.StatusUnauthorized, burst: 3, limit: "failed_auth",
			another: func() (string, req) { return other, sessionReq("backend", backendSecret) },
		},
		{
			name:   "failed client authentication by client_secret_post",
			limits: handlers.RateLimits{FailedAuth: handlers.RateLimit{Rate: 1, Burst: 2}},
			flood: func(int) (string, req) {
				return peer, req{method: "POST", path: "/oauth/introspect", ctype: "application/x-www-form-urlencoded",
					body: form("token", "x", "client_id", "gateway", "client_secret", "guess")}
			},
			okCode: http.StatusUnauthorized, burst: 2, limit: "failed_auth",
			another: func() (string, req) {
				return other, req{method: "POST", path: "/oauth/token", ctype: "application/x-www-form-urlencoded",
					body: form("grant_type", "client_credentials", "client_id", "cc", "client_secret", backendSecret)}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withLimits(tc.limits))
			for i := range tc.burst {
				addr, r := tc.flood(i)
				if w := h.doFrom(addr, r); w.Code != tc.okCode {
					t.Fatalf("%s %s #%d from %s: status %d %s, want %d", r.method, r.path, i, addr, w.Code, w.Body, tc.okCode)
				}
			}
			addr, r := tc.flood(tc.burst)
			call := fmt.Sprintf("%s %s #%d from %s", r.method, r.path, tc.burst, addr)
			wantRateLimited(t, call, h.doFrom(addr, r))
			if got := h.labeled("jwtd_rate_limited_total", "limit", tc.limit); got != 1 {
				t.Fatalf("jwtd_rate_limited_total{limit=%q} = %v, want 1", tc.limit, got)
			}
			a, ar := tc.another()
			if w := h.doFrom(a, ar); w.Code == http.StatusTooManyRequests || w.Code >= 500 {
				t.Fatalf("%s %s from %s while %s floods: status %d %s", ar.method, ar.path, a, addr, w.Code, w.Body)
			}
			h.now = h.now.Add(time.Second) // one event's worth at rates >= 1/s
			addr, r = tc.flood(tc.burst + 1)
			if w := h.doFrom(addr, r); w.Code != tc.okCode {
				t.Fatalf("%s %s from %s a second later: status %d %s, want %d", r.method, r.path, addr, w.Code, w.Body, tc.okCode)
			}
		})
	}
}

// A normal app's traffic at the default-like limits is never refused:
// one backend logging users in steadily, and refreshes from one address.
func TestRateLimitNormalTraffic(t *testing.T) {
	h := newHarness(t, withLimits(handlers.RateLimits{
		PerAddress: handlers.RateLimit{Rate: 100, Burst: 200},
		PerClient:  handlers.RateLimit{Rate: 200, Burst: 400},
		FailedAuth: handlers.RateLimit{Rate: 1, Burst: 10},
	}))
	const backend = "10.0.0.5:5000"
	for i := range 1000 { // 1000 logins at 50/s
		if w := h.doFrom(backend, sessionReq("backend", backendSecret)); w.Code != http.StatusCreated {
			t.Fatalf("login #%d: status %d %s", i, w.Code, w.Body)
		}
		h.now = h.now.Add(20 * time.Millisecond)
	}
	for i := range 5 { // a few typos of a secret are no flood
		if w := h.doFrom(backend, sessionReq("backend", "typo")); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong secret #%d: status %d, want 401", i, w.Code)
		}
	}
	if w := h.doFrom(backend, sessionReq("backend", backendSecret)); w.Code != http.StatusCreated {
		t.Fatalf("login after typos: status %d %s", w.Code, w.Body)
	}
	if got := h.labeled("jwtd_rate_limited_total", "limit", "per_address"); got != 0 {
		t.Fatalf("jwtd_rate_limited_total{per_address} = %v, want 0", got)
	}
}

// Naming a confidential client without its secret spends nothing of that
// client's budget, and a public client is not limited by its id (anyone
// can name it, and all its users share it).
func TestRateLimitPerClientNeedsAuthentication(t *testing.T) {
	h := newHarness(t, withLimits(handlers.RateLimits{PerClient: handlers.RateLimit{Rate: 1, Burst: 3}}))
	for i := range 20 {
		addr := fmt.Sprintf("198.51.100.%d:1", i+1)
		if w := h.doFrom(addr, sessionReq("backend", "guess")); w.Code != http.StatusUnauthorized {
			t.Fatalf("session with a wrong secret #%d: status %d, want 401", i, w.Code)
		}
	}
	for i := range 2 {
		if w := h.doFrom("192.0.2.1:1", sessionReq("backend", backendSecret)); w.Code != http.StatusCreated {
			t.Fatalf("login #%d after 20 failures naming backend: status %d %s", i, w.Code, w.Body)
		}
	}
	tr := h.login(`{"sub":"bob","client_id":"app"}`) // the third and last of the burst
	for range 5 {                                    // app is public: its refreshes are not limited by client id
		tr = h.refreshOK(tr.RefreshToken)
	}
}

// The per-client budget is spent only by requests that authenticated as
// the client: anyone holding one of its tokens (a revoked one will do, since
// logout of a revoked session still answers 204) must not be able to use
// it up and lock the login backend out of POST /v1/sessions.
func TestRateLimitPerClientNotSpentByTokenHolders(t *testing.T) {
	h := newHarness(t, withLimits(handlers.RateLimits{PerClient: handlers.RateLimit{Rate: 1, Burst: 3}}))
	tr := h.login(`{"sub":"dave"}`) // a session of backend itself: its tokens name backend
	logout := req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}
	for i := range 20 {
		if w := h.doFrom(fmt.Sprintf("198.51.100.%d:1", i+1), logout); w.Code != http.StatusNoContent {
			t.Fatalf("POST /v1/logout #%d with backend's token: status %d %s, want 204", i, w.Code, w.Body)
		}
	}
	for i := range 2 {
		if w := h.doFrom("192.0.2.1:1", sessionReq("backend", backendSecret)); w.Code != http.StatusCreated {
			t.Fatalf("login #%d by backend after 20 logouts with its token: status %d %s, want 201", i, w.Code, w.Body)
		}
	}
}

// A failed-auth-limited address is refused only where it presents client
// credentials: users behind the same carrier NAT still refresh.
func TestFailedAuthSparesRequestsWithoutCredentials(t *testing.T) {
	h := newHarness(t, withLimits(handlers.RateLimits{FailedAuth: handlers.RateLimit{Rate: 1, Burst: 1}}))
	const nat = "100.64.0.1:1"
	tr := h.login(`{"sub":"carol","client_id":"app"}`)
	h.doFrom(nat, sessionReq("backend", "guess"))
	wantRateLimited(t, "POST /v1/sessions after a failure", h.doFrom(nat, sessionReq("backend", backendSecret)))
	if w := h.doFrom(nat, h.refreshReq(tr.RefreshToken, nil)); w.Code != http.StatusOK {
		t.Fatalf("refresh without client credentials from %s: status %d %s", nat, w.Code, w.Body)
	}
	// A public client naming itself by Basic with an empty secret ("app:",
	// as many OAuth libraries send it) identifies; it presents no secret.
	tr = h.login(`{"sub":"carol","client_id":"app"}`)
	w := h.doFrom(nat, h.post("/oauth/token", form("grant_type", "refresh_token", "refresh_token", tr.RefreshToken),
		map[string]string{"Authorization": basic("app", "")}))
	if w.Code != http.StatusOK {
		t.Fatalf("oauth/token refresh by Basic app: from %s: status %d %s", nat, w.Code, w.Body)
	}
}

// The form body read for client_secret_post reaches the handler as sent,
// and a body over the limit is still refused with 413.
func TestRateLimitKeepsFormBody(t *testing.T) {
	h := newHarness(t, withLimits(handlers.RateLimits{FailedAuth: handlers.RateLimit{Rate: 1, Burst: 5}, PerClient: handlers.RateLimit{Rate: 1, Burst: 5}}))
	w := h.do(h.post("/oauth/token", form("grant_type", "client_credentials", "client_id", "cc", "client_secret", backendSecret, "scope", "read"), nil))
	if w.Code != http.StatusOK {
		t.Fatalf("client_credentials by client_secret_post: status %d %s", w.Code, w.Body)
	}
	big := form("grant_type", "client_credentials", "client_id", "cc", "client_secret", strings.Repeat("a", 5000))
	r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(big))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.ContentLength = -1 // unknown: the limit is met while reading
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST /oauth/token with a 5000-byte body: status %d %s, want 413", rec.Code, rec.Body)
	}
}

// An attacker with many addresses cannot grow memory without bound: past
// MaxKeys the least recently seen address is forgotten (and gets a fresh
// budget, which costs nothing: it had not been seen for longest).
func TestRateLimitTracksBoundedKeys(t *testing.T) {
	h := newHarness(t, withLimits(handlers.RateLimits{PerAddress: handlers.RateLimit{Rate: 1, Burst: 1}, MaxKeys: 2}))
	h.doFrom("198.51.100.1:1", garbageRefresh)
	wantRateLimited(t, "second refresh from .1", h.doFrom("198.51.100.1:1", garbageRefresh))
	h.doFrom("198.51.100.2:1", garbageRefresh)
	h.doFrom("198.51.100.3:1", garbageRefresh) // evicts .1
	if w := h.doFrom("198.51.100.1:1", garbageRefresh); w.Code != http.StatusBadRequest {
		t.Fatalf("refresh from .1 after eviction: status %d, want 400", w.Code)
	}
	wantRateLimited(t, "second refresh from .3", h.doFrom("198.51.100.3:1", garbageRefresh))
}

// One IPv6 host is given a whole /64; it counts as one address.
func TestRateLimitIPv6Prefix(t *testing.T) {
	h := newHarness(t, withLimits(handlers.RateLimits{PerAddress: handlers.RateLimit{Rate: 1, Burst: 2}}))
	h.doFrom("[2001:db8:1:2::1]:1", garbageRefresh)
	h.doFrom("[2001:db8:1:2:ffff::9]:1", garbageRefresh)
	wantRateLimited(t, "third refresh from 2001:db8:1:2::/64", h.doFrom("[2001:db8:1:2:abcd::1]:1", garbageRefresh))
	if w := h.doFrom("[2001:db8:1:3::1]:1", garbageRefresh); w.Code != http.StatusBadRequest {
		t.Fatalf("refresh from the next /64: status %d, want 400", w.Code)
	}
}

// Two replicas on one Redis share the budget: a flood split between them
// is refused once the combined burst is spent. The rate is one event per
// 1000s, so no refill happens during the test whatever the wall clock does.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	limits := handlers.RateLimits{PerAddress: handlers.RateLimit{Rate: 0.001, Burst: 4}, FailedAuth: handlers.RateLimit{Rate: 0.001, Burst: 2}, RedisPrefix: "t-shared:"}
	newReplica := func() *harness {
		return newHarness(t, func(h *harness, o *handlers.Options) {
			o.RateLimits = limits
			o.RateLimits.Redis = srv.Client(t)
		})
	}
	a, b := newReplica(), newReplica()
	const peer = "198.51.100.7:1"
	for i, h := range []*harness{a, b, a, b} {
		if w := h.doFrom(peer, garbageRefresh); w.Code != http.StatusBadRequest {
			t.Fatalf("refresh #%d (replica %d): status %d %s, want 400", i, i%2, w.Code, w.Body)
		}
	}
	wantRateLimited(t, "fifth refresh, replica a", a.doFrom(peer, garbageRefresh))
	wantRateLimited(t, "fifth refresh, replica b", b.doFrom(peer, garbageRefresh))

	const guesser = "198.51.100.8:1"
	for i, h := range []*harness{a, b} {
		if w := h.doFrom(guesser, sessionReq("backend", "guess")); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong secret #%d: status %d %s, want 401", i, w.Code, w.Body)
		}
	}
	wantRateLimited(t, "login after two failures on two replicas", a.doFrom(guesser, sessionReq("backend", backendSecret)))
	if got := a.labeled("jwtd_rate_limited_total", "limit", "failed_auth"); got != 1 {
		t.Fatalf("jwtd_rate_limited_total{failed_auth} = %v, want 1", got)
	}
	if got := a.labeled("jwtd_rate_limit_fail_open_total", "limit", "per_address"); got != 0 {
		t.Fatalf("jwtd_rate_limit_fail_open_total with Redis up = %v, want 0", got)
	}
}

// With Redis down the limiter fails open: requests are served, each
// decision is counted, and the replica still applies its own memory limit.
func TestRateLimitRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t, func(h *harness, o *handlers.Options) {
		o.RateLimits = handlers.RateLimits{PerAddress: handlers.RateLimit{Rate: 1, Burst: 3}, RedisPrefix: "t-down:", RedisTimeout: 200 * time.Millisecond}
		o.RateLimits.Redis = srv.Client(t)
	})
	srv.Kill()
	const peer = "198.51.100.7:1"
	for i := range 3 {
		if w := h.doFrom(peer, garbageRefresh); w.Code != http.StatusBadRequest {
			t.Fatalf("refresh #%d with Redis down: status %d %s, want 400", i, w.Code, w.Body)
		}
	}
	if got := h.labeled("jwtd_rate_limit_fail_open_total", "limit", "per_address"); got != 3 {
		t.Fatalf("jwtd_rate_limit_fail_open_total{per_address} = %v, want 3", got)
	}
	wantRateLimited(t, "fourth refresh with Redis down", h.doFrom(peer, garbageRefresh))
	if !strings.Contains(h.logs.String(), "rate limiter: redis failed") {
		t.Fatalf("no warning logged for the Redis failure:\n%s", h.logs)
	}

	// Back on Redis a second later: shared again (a fresh budget there),
	// and no longer counted as fail-open.
	srv.Restart(t)
	h.now = h.now.Add(time.Second)
	before := h.labeled("jwtd_rate_limit_fail_open_total", "limit", "per_address")
	if w := h.doFrom("198.51.100.8:1", garbageRefresh); w.Code != http.StatusBadRequest {
		t.Fatalf("refresh after Redis is back: status %d %s, want 400", w.Code, w.Body)
	}
	if got := h.labeled("jwtd_rate_limit_fail_open_total", "limit", "per_address"); got != before {
		t.Fatalf("jwtd_rate_limit_fail_open_total after Redis is back = %v, want %v", got, before)
	}
	if !strings.Contains(h.logs.String(), "rate limiter: redis answers again") {
		t.Fatalf("no log line for the recovery:\n%s", h.logs)
	}
}

// The limiter counts the address the trusted proxy names, and a client
// forging X-Forwarded-For from outside gains nothing.
func TestRateLimitBehindProxy(t *testing.T) {
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
		o.RateLimits = handlers.RateLimits{PerAddress: handlers.RateLimit{Rate: 1, Burst: 1}}
	})
	via := func(xff string) req {
		r := garbageRefresh
		r.header = map[string]string{"X-Forwarded-For": xff}
		return r
	}
	h.doFrom("10.1.0.1:1", via("198.51.100.1"))
	wantRateLimited(t, "second refresh of .1 through another proxy", h.doFrom("10.1.0.2:1", via("198.51.100.1")))
	if w := h.doFrom("10.1.0.1:1", via("198.51.100.2")); w.Code != http.StatusBadRequest {
		t.Fatalf("refresh of .2 through the same proxy: status %d, want 400", w.Code)
	}
	h.doFrom("203.0.113.5:1", via("1.1.1.1"))
	wantRateLimited(t, "direct client rotating a forged X-Forwarded-For", h.doFrom("203.0.113.5:1", via("2.2.2.2")))
}

// A concurrent flood from one address gets exactly the burst through, on
// one replica in memory and on two replicas sharing one Redis or Cluster.
func TestRateLimitConcurrentFlood(t *testing.T) {
	const burst, workers, each = 20, 16, 5
	limit := handlers.RateLimit{Rate: 0.001, Burst: burst} // no refill within the test
	tests := []struct {
		name     string
		replicas func(t *testing.T) []*harness
	}{
		{"memory", func(t *testing.T) []*harness {
			return []*harness{newHarness(t, withLimits(handlers.RateLimits{PerAddress: limit}))}
		}},
		{"two replicas on redis", func(t *testing.T) []*harness {
			srv := redistest.Start(t)
			var hs []*harness
			for range 2 {
				hs = append(hs, newHarness(t, func(h *harness, o *handlers.Options) {
					o.RateLimits = handlers.RateLimits{PerAddress: limit, Redis: srv.Client(t), RedisPrefix: "t-conc:", RedisTimeout: time.Second}
				}))
			}
			return hs
		}},
		{"two replicas on a redis cluster", func(t *testing.T) []*harness {
			cl := redistest.StartCluster(t, 3)
			var hs []*harness
			for range 2 {
				hs = append(hs, newHarness(t, func(h *harness, o *handlers.Options) {
					o.RateLimits = handlers.RateLimits{PerAddress: limit, Redis: cl.Client(t), RedisPrefix: "t-conc:", RedisTimeout: time.Second}
				}))
			}
			return hs
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := tc.replicas(t)
			var served, refused atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					h := hs[w%len(hs)]
					for range each {
						switch code := h.doFrom("198.51.100.7:1", garbageRefresh).Code; code {
						case http.StatusBadRequest:
							served.Add(1)
						case http.StatusTooManyRequests:
							refused.Add(1)
						default:
							t.Errorf("POST /v1/refresh in a flood: status %d", code)
						}
					}
				})
			}
			wg.Wait()
			if served.Load() != burst || refused.Load() != workers*each-burst {
				t.Fatalf("flood of %d: served %d, refused %d; want %d, %d", workers*each, served.Load(), refused.Load(), burst, workers*each-burst)
			}
		})
	}
}

// BenchmarkRateLimit measures what the limiter adds to a cheap limited
// request (a malformed refresh token, 400): off, in memory, and on Redis.
func BenchmarkRateLimit(b *testing.B) {
	lots := handlers.RateLimit{Rate: 1e6, Burst: 1e6}
	tests := []struct {
		name  string
		tweak func(b *testing.B) func(*harness, *handlers.Options)
	}{
		{"off", func(*testing.B) func(*harness, *handlers.Options) { return withLimits(handlers.RateLimits{}) }},
		{"memory", func(*testing.B) func(*harness, *handlers.Options) {
			return withLimits(handlers.RateLimits{PerAddress: lots, PerClient: lots, FailedAuth: lots})
		}},
		{"redis", func(b *testing.B) func(*harness, *handlers.Options) {
			srv := redistest.Start(b)
			return func(h *harness, o *handlers.Options) {
				o.RateLimits = handlers.RateLimits{PerAddress: lots, PerClient: lots, FailedAuth: lots, Redis: srv.Client(b), RedisPrefix: "b:"}
			}
		}},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, tc.tweak(b))
			b.ReportAllocs()
			for b.Loop() {
				if w := h.doFrom("198.51.100.7:1", garbageRefresh); w.Code != http.StatusBadRequest {
					b.Fatalf("POST /v1/refresh: status %d", w.Code)
				}
			}
		})
	}
}

// TestFailedAuthBoundsConcurrentSlowChecks: the failed-authentication
// budget is spent before a bcrypt or argon2id check runs, not after it
// failed, so a burst of parallel wrong guesses from one address gets no
// more slow checks than the budget, however many arrive at once.
func TestFailedAuthBoundsConcurrentSlowChecks(t *testing.T) {
	const burst = 3
	h := newHarness(t, withLimits(handlers.RateLimits{FailedAuth: handlers.RateLimit{Rate: 1, Burst: burst}}))
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- h.doFrom("203.0.113.9:1", sessionReq("bcrypt-backend", "wrong guess")).Code
		}()
	}
	wg.Wait()
	close(codes)
	seen := map[int]int{}
	for c := range codes {
		seen[c]++
	}
	if n := h.slowChecks("checked"); n > burst {
		t.Fatalf("40 parallel wrong bcrypt guesses from one address ran %v slow checks (answers %v), want at most the burst %d", n, seen, burst)
	}
	if seen[http.StatusTooManyRequests] == 0 {
		t.Fatalf("40 parallel wrong guesses: answers %v, want some 429", seen)
	}
}
