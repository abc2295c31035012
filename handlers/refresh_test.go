package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation/redisstore"
)

// withRedisTimeout is withRedis with another op timeout: the concurrency
// tests run 50 spends at once on a loaded 2-core machine, where 300 ms is
// sometimes too short for a healthy Redis.
func withRedisTimeout(srv *redistest.Server, op time.Duration) func(*harness, *handlers.Options) {
	return func(h *harness, o *handlers.Options) {
		o.Store = redisstore.New(redisstore.Options{
			Client: srv.Client(h.t), Prefix: fmt.Sprintf("t%d:", prefixSeq.Add(1)), Now: h.clock, OpTimeout: op,
		})
	}
}

func TestRefreshRotation(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH()
		tr1 := h.login(`{"sub":"alice","client_id":"app","scope":"read write","claims":{"tenant":"acme"}}`)
		login, _ := h.verifier.Access(context.Background(), tr1.AccessToken)

		h.now = h.now.Add(time.Minute)
		tr2 := h.refreshOK(tr1.RefreshToken)
		a2, err := h.verifier.Access(context.Background(), tr2.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if tr2.SessionID != tr1.SessionID || a2.SID != login.SID || !a2.AuthTime.Equal(login.AuthTime.Time) || a2.ID == login.ID ||
			a2.Scope != "read write" || string(a2.Extra["tenant"]) != `"acme"` || a2.IssuedAt.Unix() != h.now.Unix() {
			t.Fatalf("refreshed access token %+v does not continue the session %+v", a2, login)
		}

		// The client lost the answer and retries inside the grace: the same pair.
		h.now = h.now.Add(3 * time.Second)
		tr3 := h.refreshOK(tr1.RefreshToken)
		a3, _ := h.verifier.Access(context.Background(), tr3.AccessToken)
		r2, _ := h.verifier.Refresh(context.Background(), tr2.RefreshToken)
		r3, _ := h.verifier.Refresh(context.Background(), tr3.RefreshToken)
		if a3.ID != a2.ID || r3.ID != r2.ID || a3.ExpiresAt.Unix() != a2.ExpiresAt.Unix() || r3.ExpiresAt.Unix() != r2.ExpiresAt.Unix() {
			t.Fatalf("retry inside the grace forked the chain: jti %s/%s, %s/%s", a2.ID, a3.ID, r2.ID, r3.ID)
		}

		// The child is spent: the parent is now two steps old, a reuse.
		tr4 := h.refreshOK(tr2.RefreshToken)
		w := h.do(h.refreshReq(tr1.RefreshToken, nil))
		wantError(t, "refresh the spent parent", w, 400, "invalid_grant", "refresh token already used; the session is revoked")
		if got := h.counter("jwtd_refresh_reuse_detected_total"); got != 1 {
			t.Fatalf("reuse counter = %v, want 1", got)
		}
		logs := h.logs.String()
		if !strings.Contains(logs, `"msg":"refresh token reuse detected; session revoked"`) || !strings.Contains(logs, `"sid":"`+tr1.SessionID+`"`) ||
			!strings.Contains(logs, `"sub":"alice"`) || !strings.Contains(logs, `"client_id":"app"`) || strings.Contains(logs, tr1.RefreshToken[40:80]) {
			t.Fatalf("reuse log line missing or leaks the token:\n%s", logs)
		}
		// The whole session is revoked: every access and refresh token of it.
		for _, at := range []string{tr1.AccessToken, tr2.AccessToken, tr4.AccessToken} {
			if code := h.sessionStatus(at); code != 401 {
				t.Fatalf("access token of the reused session: %d, want 401", code)
			}
		}
		wantError(t, "refresh the newest after reuse", h.do(h.refreshReq(tr4.RefreshToken, nil)), 400, "invalid_grant", "token revoked")
	})
}

func TestRefreshWithoutGrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH(noGrace)
		tr := h.login(`{"sub":"alice","client_id":"app"}`)
		h.refreshOK(tr.RefreshToken)
		wantError(t, "second spend, grace 0", h.do(h.refreshReq(tr.RefreshToken, nil)), 400, "invalid_grant", "refresh token already used; the session is revoked")
	})
}

// TestLifetimes: refresh_ttl (24h) slides with each refresh,
// session_max_age (72h) never does.
func TestLifetimes(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH()
		start := h.now
		tr := h.login(`{"sub":"alice","client_id":"app"}`)
		for _, step := range []struct {
			at                 time.Duration
			refreshExp, access time.Duration // from start
		}{
			{20 * time.Hour, 44 * time.Hour, 20*time.Hour + 15*time.Minute},
			{40 * time.Hour, 64 * time.Hour, 40*time.Hour + 15*time.Minute},
			{60 * time.Hour, 72 * time.Hour, 60*time.Hour + 15*time.Minute},
			{71*time.Hour + 50*time.Minute, 72 * time.Hour, 72 * time.Hour},
		} {
			h.now = start.Add(step.at)
			tr = h.refreshOK(tr.RefreshToken)
			r, _ := h.verifier.Refresh(context.Background(), tr.RefreshToken)
			a, _ := h.verifier.Access(context.Background(), tr.AccessToken)
			if !r.ExpiresAt.Equal(start.Add(step.refreshExp)) || !a.ExpiresAt.Equal(start.Add(step.access)) || !a.AuthTime.Equal(start) {
				t.Fatalf("refresh at +%v: refresh exp +%v, access exp +%v; want +%v, +%v", step.at,
					r.ExpiresAt.Sub(start), a.ExpiresAt.Sub(start), step.refreshExp, step.access)
			}
			if tr.RefreshExpiresIn != int64((step.refreshExp - step.at).Seconds()) {
				t.Fatalf("refresh_expires_in = %d at +%v", tr.RefreshExpiresIn, step.at)
			}
		}
		h.now = start.Add(72*time.Hour + time.Minute)
		wantError(t, "refresh past session_max_age", h.do(h.refreshReq(tr.RefreshToken, nil)), 400, "invalid_grant", "token expired")

		// Idle longer than refresh_ttl: the sliding lifetime ran out.
		h.now = start.Add(100 * time.Hour)
		idle := h.login(`{"sub":"bob","client_id":"app"}`)
		h.now = h.now.Add(24*time.Hour + time.Minute)
		wantError(t, "refresh after refresh_ttl idle", h.do(h.refreshReq(idle.RefreshToken, nil)), 400, "invalid_grant", "token expired")
	})
}

func TestRefreshClients(t *testing.T) {
	h := newHarness(t)
	svc := h.login(`{"sub":"alice","client_id":"svc"}`)
	wantError(t, "confidential token without auth", h.do(h.refreshReq(svc.RefreshToken, nil)), 401, "invalid_client", "client authentication failed")
	wantError(t, "confidential token, another client's auth", h.do(h.refreshReq(svc.RefreshToken, map[string]string{"Authorization": basic("backend", backendSecret)})),
		401, "invalid_client", "client authentication failed")
	if w := h.do(h.refreshReq(svc.RefreshToken, map[string]string{"Authorization": basic("svc", backendSecret)})); w.Code != 200 {
		t.Fatalf("confidential token with its client's auth: %d %s", w.Code, w.Body)
	}
	app := h.login(`{"sub":"alice","client_id":"app"}`)
	wantError(t, "public token spent by another client", h.do(h.refreshReq(app.RefreshToken, map[string]string{"Authorization": basic("backend", backendSecret)})),
		400, "invalid_grant", "refresh token was issued to another client")
	wantError(t, "access token as refresh token", h.do(h.refreshReq(app.AccessToken, nil)), 400, "invalid_grant", "wrong token type")
	wantError(t, "garbage refresh token", h.do(h.refreshReq("abc", nil)), 400, "invalid_grant", "token malformed")
	wantError(t, "missing refresh token", h.do(req{method: "POST", path: "/v1/refresh", body: `{}`, ctype: "application/json"}), 400, "invalid_request", "refresh_token is required")
	wantError(t, "unknown field", h.do(req{method: "POST", path: "/v1/refresh", body: `{"token":"x"}`, ctype: "application/json"}), 400, "invalid_request", `unknown field "token"`)
}

func TestLogout(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH()
		tr := h.login(`{"sub":"alice","client_id":"app"}`)
		bearer := map[string]string{"Authorization": "Bearer " + tr.AccessToken}
		for i := 0; i < 2; i++ { // the second time the session is already revoked: still 204
			if w := h.do(req{method: "POST", path: "/v1/logout", header: bearer}); w.Code != 204 {
				t.Fatalf("POST /v1/logout #%d: %d %s", i+1, w.Code, w.Body)
			}
		}
		if code := h.sessionStatus(tr.AccessToken); code != 401 {
			t.Fatalf("access token after logout: %d, want 401", code)
		}
		wantError(t, "refresh after logout", h.do(h.refreshReq(tr.RefreshToken, nil)), 400, "invalid_grant", "token revoked")

		// Logout with the refresh token (a mobile app without its access token).
		tr2 := h.login(`{"sub":"alice","client_id":"app"}`)
		if w := h.do(req{method: "POST", path: "/v1/logout", body: `{"refresh_token":"` + tr2.RefreshToken + `"}`, ctype: "application/json"}); w.Code != 204 {
			t.Fatalf("POST /v1/logout with refresh token: %d %s", w.Code, w.Body)
		}
		if code := h.sessionStatus(tr2.AccessToken); code != 401 {
			t.Fatalf("access token after refresh-token logout: %d, want 401", code)
		}
		wantError(t, "logout without a token", h.do(req{method: "POST", path: "/v1/logout"}), 401, "invalid_token", "missing bearer token or refresh_token")
		wantError(t, "logout with a forged token", h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + tamperJWT(tr.AccessToken)}}),
			401, "invalid_token", "token signature invalid")
		h.now = h.now.Add(time.Hour)
		wantError(t, "logout with an expired token", h.do(req{method: "POST", path: "/v1/logout", header: bearer}), 401, "invalid_token", "token expired")
	})
}

func TestLogoutAll(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH()
		a1 := h.login(`{"sub":"alice","client_id":"app"}`)
		a2 := h.login(`{"sub":"alice","client_id":"svc"}`)
		bob := h.login(`{"sub":"bob","client_id":"app"}`)
		if w := h.do(req{method: "POST", path: "/v1/logout/all", header: map[string]string{"Authorization": "Bearer " + a1.AccessToken}}); w.Code != 204 {
			t.Fatalf("POST /v1/logout/all: %d %s", w.Code, w.Body)
		}
		for _, at := range []string{a1.AccessToken, a2.AccessToken} {
			if code := h.sessionStatus(at); code != 401 {
				t.Fatalf("alice's token after logout/all: %d", code)
			}
		}
		wantError(t, "alice's refresh after logout/all", h.do(h.refreshReq(a1.RefreshToken, nil)), 400, "invalid_grant", "token revoked")
		if code := h.sessionStatus(bob.AccessToken); code != 200 {
			t.Fatalf("bob's token after alice's logout/all: %d, want 200", code)
		}
		h.now = h.now.Add(time.Second) // the cut-off covers the whole second
		fresh := h.login(`{"sub":"alice","client_id":"app"}`)
		if code := h.sessionStatus(fresh.AccessToken); code != 200 {
			t.Fatalf("alice's new login after logout/all: %d, want 200", code)
		}
	})
}

func TestAdminRevokeSubject(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH()
		admin := map[string]string{"Authorization": basic("argon-backend", slowSecret)}
		for _, sub := range []string{"alice@example.com", "a/b c"} {
			tr := h.login(`{"sub":"` + sub + `","client_id":"app"}`)
			path := "/v1/admin/subjects/" + strings.NewReplacer("/", "%2F", " ", "%20").Replace(sub) + "/revoke"
			wantError(t, "revoke without admin", h.do(req{method: "POST", path: path, header: map[string]string{"Authorization": basic("backend", backendSecret)}}),
				403, "unauthorized_client", "client lacks the admin grant")
			if w := h.do(req{method: "POST", path: path, header: admin}); w.Code != 204 {
				t.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
			}
			if code := h.sessionStatus(tr.AccessToken); code != 401 {
				t.Fatalf("%s's token after admin revoke: %d, want 401", sub, code)
			}
		}
	})
}

// TestConcurrentRefreshOnRedis fires 50 concurrent refreshes of one token
// at a real Redis with reuse_grace 0, 100 times: exactly one succeeds.
func TestConcurrentRefreshOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t, withRedisTimeout(srv, 5*time.Second), noGrace)
	for round := 0; round < 100; round++ {
		tr := h.login(`{"sub":"alice","client_id":"app"}`)
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch w := h.do(h.refreshReq(tr.RefreshToken, nil)); w.Code {
				case 200:
					ok.Add(1)
				case 400:
					refused.Add(1)
				default:
					t.Errorf("round %d: status %d %s", round, w.Code, w.Body)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 49 {
			t.Fatalf("round %d: %d of 50 concurrent refreshes succeeded, want exactly 1", round, ok.Load())
		}
	}
}

// TestRedisOutage kills the real Redis under a running handler: the
// endpoints that need the store answer 503 at once, /readyz says why, and
// everything recovers when Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	closed := newHarness(t, withRedis(srv))
	open := newHarness(t, withRedis(srv), func(_ *harness, o *handlers.Options) { o.FailOpen = true })
	tr := closed.login(`{"sub":"alice","client_id":"app"}`)
	trOpen := open.login(`{"sub":"alice","client_id":"app"}`)
	srv.Kill()

	const desc = "revocation store unavailable; retry later"
	auth := map[string]string{"Authorization": basic("backend", backendSecret)}
	bearer := map[string]string{"Authorization": "Bearer " + tr.AccessToken}
	for name, r := range map[string]req{
		"login":      {method: "POST", path: "/v1/sessions", body: `{"sub":"a"}`, ctype: "application/json", header: auth},
		"refresh":    closed.refreshReq(tr.RefreshToken, nil),
		"logout":     {method: "POST", path: "/v1/logout", header: bearer},
		"logout/all": {method: "POST", path: "/v1/logout/all", header: bearer},
		"session":    {method: "GET", path: "/v1/session", header: bearer},
	} {
		w := closed.do(r)
		wantError(t, name+" with Redis down", w, 503, "temporarily_unavailable", desc)
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("%s with Redis down: no Retry-After", name)
		}
	}
	if w := closed.do(req{method: "GET", path: "/readyz"}); w.Code != 503 || !strings.Contains(w.Body.String(), "revocation store unreachable") {
		t.Fatalf("readyz with Redis down: %d %s", w.Code, w.Body)
	}
	if code := open.sessionStatus(trOpen.AccessToken); code != 200 {
		t.Fatalf("fail_mode open with Redis down: %d, want 200", code)
	}
	if open.counter("jwtd_revocation_fail_open_total") != 1 || !strings.Contains(open.logs.String(), "fail_mode open") {
		t.Fatalf("fail-open not counted or logged")
	}

	srv.Restart(t)
	if err := redistest.Eventually(5*time.Second, func() error {
		if w := closed.do(req{method: "GET", path: "/readyz"}); w.Code != 200 {
			return fmt.Errorf("readyz %d", w.Code)
		}
		return nil
	}); err != nil {
		t.Fatalf("no recovery after Redis returned: %v", err)
	}
	if code := closed.sessionStatus(tr.AccessToken); code != 200 {
		t.Fatalf("session after recovery: %d", code)
	}
	closed.refreshOK(tr.RefreshToken)
}

// TestRedisHoldsNoTokens reads back every value jwtd wrote to Redis during
// logins, refreshes and grace retries: none may hold a token or a signature.
func TestRedisHoldsNoTokens(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t, withRedis(srv))
	var seen []string
	for i := 0; i < 3; i++ {
		tr := h.login(`{"sub":"alice","client_id":"app","claims":{"tenant":"acme"}}`)
		next := h.refreshOK(tr.RefreshToken)
		h.refreshOK(tr.RefreshToken) // a grace retry, answered from the store's record
		h.refreshOK(next.RefreshToken)
		seen = append(seen, tr.AccessToken, tr.RefreshToken, next.AccessToken, next.RefreshToken)
	}
	c := srv.Client(t)
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS: %v, %d keys", err, len(keys))
	}
	for _, k := range keys {
		var vals []string
		switch typ := c.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				vals = append(vals, f, v)
			}
		case "string":
			vals = append(vals, c.Get(ctx, k).Val())
		default:
			t.Fatalf("key %s has type %s", k, typ)
		}
		for _, v := range append(vals, k) {
			if strings.Contains(v, "eyJ") {
				t.Fatalf("key %s holds something JWT-like: %q", k, v)
			}
			for _, tok := range seen {
				if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(v, sig[:20]) {
					t.Fatalf("key %s holds a token's signature", k)
				}
			}
		}
	}
}
