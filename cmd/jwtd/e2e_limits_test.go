package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/internal/redistest"
)

// TestBinaryRateLimits runs two replicas on one real Redis behind a
// "proxy" on loopback: failed client authentications of one client
// address, spread over both replicas, use up the shared budget, and the
// address the proxy names is the one limited and logged.
func TestBinaryRateLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	srv := redistest.Start(t)
	env := []string{"JWTD_REVOCATION_STORE=redis", "JWTD_REDIS_ADDRS=" + srv.Addr,
		"JWTD_SERVER_TRUSTED_PROXIES=127.0.0.1", "JWTD_RATE_LIMITS_FAILED_AUTH_BURST=3"}
	a := startJWTD(t, bin, shippedConfigDir(t), env...)
	b := startJWTD(t, bin, shippedConfigDir(t), env...)
	waitReady(t, a)
	waitReady(t, b)
	const body = `{"sub":"alice","client_id":"dev-app"}`
	for i, p := range []*process{a, b, a} {
		if code, _, out := callFrom(t, "198.51.100.9", p.base+"/v1/sessions", basicAuth("dev-backend", "guess"), body); code != 401 {
			t.Fatalf("wrong secret #%d: %d %s, want 401", i, code, out)
		}
	}
	code, h, out := callFrom(t, "198.51.100.9", b.base+"/v1/sessions", basicAuth("dev-backend", devSecret), body)
	if n, err := strconv.Atoi(h.Get("Retry-After")); code != 429 || err != nil || n < 1 || h.Get("Cache-Control") != "no-store" ||
		string(out) != `{"error":"temporarily_unavailable","error_description":"rate limit exceeded; retry later"}`+"\n" {
		t.Fatalf("login after 3 failures on two replicas: %d %v %s, want 429 temporarily_unavailable with Retry-After", code, h, out)
	}
	if code, _, out := callFrom(t, "198.51.100.10", b.base+"/v1/sessions", basicAuth("dev-backend", devSecret), body); code != 201 {
		t.Fatalf("login from another client address: %d %s, want 201", code, out)
	}
	if !strings.Contains(a.Logs(), `"remote_ip":"198.51.100.9"`) {
		t.Fatalf("access log does not name the client the proxy forwarded:\n%s", a.Logs())
	}
	_, _, metrics := call(t, "GET", b.base+"/metrics", "", "")
	if !strings.Contains(string(metrics), `jwtd_rate_limited_total{limit="failed_auth"} 1`) {
		t.Fatalf("/metrics lacks the refusal:\n%s", metrics)
	}
}

// TestBinaryPprofListen: the profiler is served only on
// server.pprof_listen, never on the main listener.
func TestBinaryPprofListen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// Port 0: the address is read from the warning, so no other process
	// can take the port between its choice and the bind.
	p := startJWTD(t, buildBinary(t), shippedConfigDir(t), "JWTD_SERVER_PPROF_LISTEN=127.0.0.1:0")
	addr := logAddr(t, p, "pprof listening")
	if code, _, body := call(t, "GET", "http://"+addr+"/debug/pprof/", "", ""); code != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET /debug/pprof/ on pprof_listen: %d", code)
	}
	if code, _, _ := call(t, "GET", p.base+"/debug/pprof/", "", ""); code != 404 {
		t.Fatalf("GET /debug/pprof/ on the main listener: %d, want 404", code)
	}
}

// logAddr is the addr of p's first log record whose message starts with
// msg; the test fails when there is none.
func logAddr(t *testing.T, p *process, msg string) string {
	t.Helper()
	for line := range strings.SplitSeq(p.Logs(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, msg) && rec.Addr != "" {
			return rec.Addr
		}
	}
	t.Fatalf("no %q record with an addr in the log:\n%s", msg, p.Logs())
	return ""
}
