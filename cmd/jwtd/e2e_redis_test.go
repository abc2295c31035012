package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/redistest"
)

// TestBinaryOnRedis runs the real binary on a real, password-protected
// Redis, kills Redis under it and starts it again.
func TestBinaryOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	srv := redistest.Start(t, "--requirepass", "s3cret-pass")
	p := startJWTD(t, bin, shippedConfigDir(t), "JWTD_REVOCATION_STORE=redis", "JWTD_REDIS_ADDRS="+srv.Addr,
		"JWTD_REDIS_PASSWORD=s3cret-pass", "JWTD_REDIS_KEY_PREFIX=e2e:", "JWTD_REVOCATION_MAX_STALENESS=2s")

	first := loginPair(t, p.base)
	second := refreshPair(t, p.base, first.RefreshToken, 200)
	if second.SessionID != first.SessionID {
		t.Fatalf("refresh changed the session")
	}
	refreshPair(t, p.base, second.RefreshToken, 200)
	refreshPair(t, p.base, first.RefreshToken, 400) // a reuse: the session is revoked
	if code, _, _ := call(t, "GET", p.base+"/v1/session", "Bearer "+second.AccessToken, ""); code != 401 {
		t.Fatalf("access token of a reused session: %d, want 401", code)
	}

	live := loginPair(t, p.base)
	srv.Kill()
	if code, _, body := call(t, "POST", p.base+"/v1/refresh", "", `{"refresh_token":"`+live.RefreshToken+`"}`); code != 503 || !strings.Contains(string(body), "temporarily_unavailable") {
		t.Fatalf("refresh with Redis down: %d %s, want 503", code, body)
	}
	// Checks read the replica's mirror: they answer until it is staler
	// than max_staleness, then the fail mode (closed) applies. The replica
	// is not ready at once: its writes (logins, refreshes, logouts) need
	// Redis.
	if code, _, body := call(t, "GET", p.base+"/v1/session", "Bearer "+live.AccessToken, ""); code != 200 {
		t.Fatalf("session check right after Redis went down: %d %s, want 200 from the mirror", code, body)
	}
	if code, _, body := call(t, "GET", p.base+"/readyz", "", ""); code != 503 {
		t.Fatalf("readyz with Redis down: %d %s, want 503", code, body)
	}
	if err := redistest.Eventually(10*time.Second, func() error {
		if code, _, body := call(t, "GET", p.base+"/v1/session", "Bearer "+live.AccessToken, ""); code != 503 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	}); err != nil {
		t.Fatalf("session check with a stale mirror: %v, want 503 (fail_mode closed)", err)
	}
	srv.Restart(t)
	waitReady(t, p)
	refreshPair(t, p.base, live.RefreshToken, 200)

	// A verifier follows the revocation feed while the user logs out.
	req, _ := http.NewRequest("GET", p.base+"/v1/revocations", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.SetBasicAuth("dev-backend", devSecret)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("GET /v1/revocations stream: %v %v", err, stream)
	}
	defer stream.Body.Close()
	events := bufio.NewScanner(stream.Body)
	if code, _, _ := call(t, "POST", p.base+"/v1/logout", "Bearer "+live.AccessToken, ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	sawLogout := false
	for !sawLogout && events.Scan() {
		sawLogout = strings.HasPrefix(events.Text(), "data: ") && strings.Contains(events.Text(), live.SessionID)
	}
	if !sawLogout {
		t.Fatalf("the feed never showed the logout: %v", events.Err())
	}
	// SIGTERM with the stream still open: jwtd ends it and exits 0.
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if logs := p.Logs(); strings.Contains(logs, "s3cret-pass") || strings.Contains(logs, live.RefreshToken[40:80]) {
		t.Fatalf("a secret or token reached the log")
	}
}

// TestBinaryStartsWithRedisDown: jwtd starts, says 503 on /readyz, and
// serves once Redis appears.
func TestBinaryStartsWithRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	srv := redistest.Start(t)
	srv.Kill()
	p := startJWTD(t, bin, shippedConfigDir(t), "JWTD_REVOCATION_STORE=redis", "JWTD_REDIS_ADDRS="+srv.Addr)
	if code, _, _ := call(t, "GET", p.base+"/readyz", "", ""); code != 503 {
		t.Fatalf("readyz: %d, want 503", code)
	}
	if code, _, _ := call(t, "POST", p.base+"/v1/sessions", basicAuth("dev-backend", devSecret), `{"sub":"a"}`); code != 503 {
		t.Fatalf("login with Redis down: %d, want 503", code)
	}
	srv.Restart(t)
	waitReady(t, p)
	loginPair(t, p.base)
}

// TestBinaryOnRedisCluster: several redis.addrs make a cluster client.
func TestBinaryOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	c := redistest.StartCluster(t, 3)
	p := startJWTD(t, bin, shippedConfigDir(t), "JWTD_REVOCATION_STORE=redis", "JWTD_REDIS_ADDRS="+strings.Join(c.Addrs, ","))
	for i := 0; i < 20; i++ { // sessions land in different slots
		s := loginPair(t, p.base)
		next := refreshPair(t, p.base, s.RefreshToken, 200)
		refreshPair(t, p.base, s.RefreshToken, 200) // a retry inside the grace
		refreshPair(t, p.base, next.RefreshToken, 200)
		refreshPair(t, p.base, s.RefreshToken, 400) // a reuse
	}
	s := loginPair(t, p.base)
	if code, _, _ := call(t, "POST", p.base+"/v1/logout/all", "Bearer "+s.AccessToken, ""); code != 204 {
		t.Fatalf("logout/all on a cluster: %d", code)
	}
	if code, _, _ := call(t, "GET", p.base+"/v1/session", "Bearer "+s.AccessToken, ""); code != 401 {
		t.Fatalf("session after logout/all on a cluster: %d", code)
	}
}

// TestBinaryReplicasOnRedis runs two jwtd replicas on one Redis for keys
// and revocation: the same JWKS, each other's tokens and logouts, one spend
// per refresh token across both, and `jwtd keys rotate` picked up by both.
func TestBinaryReplicasOnRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	srv := redistest.Start(t)
	env := []string{"JWTD_KEYS_STORE=redis", "JWTD_REVOCATION_STORE=redis", "JWTD_REDIS_ADDRS=" + srv.Addr,
		"JWTD_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		// Fast maintenance for the test: the rings re-read the store every second.
		"JWTD_KEYS_PUBLISH_AHEAD=10s", "JWTD_KEYS_JWKS_MAX_AGE=5s"}
	a := startJWTD(t, bin, shippedConfigDir(t), env...)
	b := startJWTD(t, bin, shippedConfigDir(t), env...)

	jwks := func(p *process) string {
		_, _, body := call(t, "GET", p.base+"/.well-known/jwks.json", "", "")
		return string(body)
	}
	if err := redistest.Eventually(10*time.Second, func() error {
		if jwks(a) != jwks(b) {
			return fmt.Errorf("replicas publish different key sets")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s := loginPair(t, a.base)
	if code, _, _ := call(t, "GET", b.base+"/v1/session", "Bearer "+s.AccessToken, ""); code != 200 {
		t.Fatalf("replica B refuses replica A's access token: %d", code)
	}
	next := refreshPair(t, b.base, s.RefreshToken, 200)
	refreshPair(t, a.base, next.RefreshToken, 200)
	refreshPair(t, a.base, s.RefreshToken, 400) // spent on B, its child on A: a reuse, seen by A
	// The replica that revoked refuses at once; the other as soon as its
	// mirror has read the revocation from Redis (milliseconds).
	if code, _, _ := call(t, "GET", a.base+"/v1/session", "Bearer "+next.AccessToken, ""); code != 401 {
		t.Fatalf("replica A accepts a session it has just revoked: %d", code)
	}
	if err := redistest.Eventually(5*time.Second, func() error {
		if code, _, _ := call(t, "GET", b.base+"/v1/session", "Bearer "+next.AccessToken, ""); code != 401 {
			return fmt.Errorf("replica B still accepts a session revoked on A: %d", code)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Rotate from the command line, beside the running replicas.
	before := jwks(a)
	rotate := exec.Command(bin, "keys", "rotate", "--config", filepath.Join(shippedConfigDir(t), "config.yaml"))
	rotate.Env = cleanEnv(env...)
	out, err := rotate.CombinedOutput()
	if err != nil {
		t.Fatalf("jwtd keys rotate: %v\n%s", err, out)
	}
	kid := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "active access key:"))
	for _, p := range []*process{a, b} {
		if err := redistest.Eventually(10*time.Second, func() error {
			tok := loginPair(t, p.base).AccessToken
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if !strings.Contains(string(hdr), kid) {
				return fmt.Errorf("still signing with the old key: %s", hdr)
			}
			return nil
		}); err != nil {
			t.Fatalf("replica %s did not pick up the rotation to %s: %v", p.base, kid, err)
		}
	}
	if jwks(a) == before || jwks(a) != jwks(b) {
		t.Fatalf("after rotation the replicas' key sets differ or did not change")
	}

	// Without the key-encryption key, the start stops with one line naming the key.
	noKEK := exec.Command(bin, "serve")
	noKEK.Dir = shippedConfigDir(t)
	noKEK.Env = cleanEnv("JWTD_KEYS_STORE=redis", "JWTD_REDIS_ADDRS="+srv.Addr, "JWTD_SERVER_LISTEN=127.0.0.1:0")
	out, err = noKEK.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "jwtd: keys.encryption_key_env: JWTD_KEY_ENCRYPTION_KEY is not set") {
		t.Fatalf("start without the key-encryption key: %v\n%s", err, out)
	}
}
