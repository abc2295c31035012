package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/redistest"
)

// cluster is two jwtd replicas on one Redis (keys and revocations shared)
// and a resource server following replica B's feed.
type cluster struct {
	redis  *redistest.Server
	bin    string
	dirA   string
	dirB   string
	env    []string
	portB  string
	a, b   *process
	rs     *process
	issuer string
}

func startCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{bin: buildBinary(t), dirA: shippedConfigDir(t), dirB: shippedConfigDir(t)}
	// Persisted, as production should run it: a restarted Redis keeps the
	// denylist and the feed stream.
	c.redis = redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c.portB = freeLoopbackPort(t)
	c.issuer = "http://127.0.0.1:" + c.portB
	c.env = []string{"JWTD_ISSUER=" + c.issuer, "JWTD_KEYS_STORE=redis", "JWTD_REVOCATION_STORE=redis", "JWTD_REDIS_ADDRS=" + c.redis.Addr,
		"JWTD_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"JWTD_RATE_LIMITS_PER_ADDRESS_RATE=0", "JWTD_RATE_LIMITS_PER_CLIENT_RATE=0"}
	c.a = startJWTD(t, c.bin, c.dirA, c.env...)
	c.startB(t)
	c.rs = startResourceServer(t, c.issuer)
	return c
}

func (c *cluster) startB(t testing.TB) {
	c.b = startJWTD(t, c.bin, c.dirB, append([]string{"JWTD_SERVER_LISTEN=127.0.0.1:" + c.portB}, c.env...)...)
}

// login opens a session at replica A and waits until B and the resource
// server accept its access token.
func (c *cluster) login(t testing.TB, sub string) string {
	t.Helper()
	code, _, body := call(t, "POST", c.a.base+"/v1/sessions", basicAuth("dev-backend", devSecret), `{"sub":"`+sub+`","client_id":"dev-app","scope":"read"}`)
	if code != 201 {
		t.Fatalf("login at A: %d %s", code, body)
	}
	var p pair
	_ = json.Unmarshal(body, &p)
	for _, u := range []string{c.b.base + "/v1/session", c.rs.base + "/hello"} {
		if err := redistest.Eventually(30*time.Second, func() error {
			if code, _, body := call(t, "GET", u, "Bearer "+p.AccessToken, ""); code != 200 {
				return fmt.Errorf("%s: %d %s", u, code, body)
			}
			return nil
		}); err != nil {
			t.Fatalf("a fresh token is not accepted: %v\nB:\n%s\nresource server:\n%s", err, c.b.Logs(), c.rs.Logs())
		}
	}
	return p.AccessToken
}

// refusedAfter polls url with the token until it answers 401, and returns
// how long after from that was first seen.
func refusedAfter(t testing.TB, url, at string, from time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, _, body := call(t, "GET", url, "Bearer "+at, "")
		if code == 401 {
			return time.Since(from)
		}
		if code != 200 && code != 503 {
			t.Fatalf("GET %s: %d %s", url, code, body)
		}
		time.Sleep(500 * time.Microsecond)
	}
	t.Fatalf("GET %s still accepts a token revoked %s ago", url, time.Since(from))
	return 0
}

// revokeAndMeasure logs the session out at replica A and measures when B
// and the resource server first refuse its access token.
func (c *cluster) revokeAndMeasure(t testing.TB, at string) (toB, toRS time.Duration) {
	t.Helper()
	code, _, body := call(t, "POST", c.a.base+"/v1/logout", "Bearer "+at, "")
	if code != 204 {
		t.Fatalf("logout at A: %d %s", code, body)
	}
	done := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); toB = refusedAfter(t, c.b.base+"/v1/session", at, done) }()
	go func() { defer wg.Done(); toRS = refusedAfter(t, c.rs.base+"/hello", at, done) }()
	wg.Wait()
	return toB, toRS
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestPropagation: 200 sessions revoked at replica A are refused at
// replica B (its mirror of Redis) and at a resource server in a third
// process (the Go verifier's mirror of B's feed), through a Redis restart
// and a restart of B in the middle; at the end, none of the 200 is
// accepted anywhere. The delays are logged; BenchmarkPropagation reports
// them for the README.
func TestPropagation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes and a Redis")
	}
	c := startCluster(t)
	const n = 200
	var tokens []string
	var toB, toRS []time.Duration
	for i := range n {
		switch i {
		case n / 3:
			c.redis.Restart(t) // persisted: the denylist and the stream come back
			waitReady(t, c.a)
			waitReady(t, c.b)
		case 2 * n / 3:
			if err := c.b.stop(t); err != nil {
				t.Fatalf("B did not stop cleanly: %v", err)
			}
			c.startB(t) // its mirror starts from a snapshot; the resource server's feed resumes
			waitReady(t, c.b)
		}
		at := c.login(t, fmt.Sprintf("user-%d", i))
		b, rs := c.revokeAndMeasure(t, at)
		tokens = append(tokens, at)
		toB, toRS = append(toB, b), append(toRS, rs)
	}
	for i, at := range tokens {
		for _, u := range []string{c.a.base + "/v1/session", c.b.base + "/v1/session", c.rs.base + "/hello"} {
			if code, _, body := call(t, "GET", u, "Bearer "+at, ""); code != 401 {
				t.Errorf("revoked token %d at %s: %d %s", i, u, code, body)
			}
		}
	}
	t.Logf("revocation at A → refused at B: p50 %s p99 %s max %s; at the resource server: p50 %s p99 %s max %s",
		percentile(toB, 0.5), percentile(toB, 0.99), percentile(toB, 1), percentile(toRS, 0.5), percentile(toRS, 0.99), percentile(toRS, 1))
}

// BenchmarkPropagation measures, over 200 revocations at replica A, how
// long until replica B and a resource server following B's feed refuse
// the token: the README's figures.
//
//	go test -run XXX -bench Propagation -benchtime 1x ./cmd/jwtd
func BenchmarkPropagation(b *testing.B) {
	c := startCluster(b)
	const n = 200
	var toB, toRS []time.Duration
	for range b.N {
		for i := range n {
			b.StopTimer()
			at := c.login(b, fmt.Sprintf("user-%d", i))
			b.StartTimer()
			d1, d2 := c.revokeAndMeasure(b, at)
			toB, toRS = append(toB, d1), append(toRS, d2)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(toB, 0.5)), "p50-B-ms")
	b.ReportMetric(ms(percentile(toB, 0.99)), "p99-B-ms")
	b.ReportMetric(ms(percentile(toRS, 0.5)), "p50-rs-ms")
	b.ReportMetric(ms(percentile(toRS, 0.99)), "p99-rs-ms")
}
