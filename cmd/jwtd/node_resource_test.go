package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/redistest"
)

// The test's jwtd sends a heartbeat every nodeHeartbeat on a quiet feed;
// nodeMaxStaleness, four of them, is the Node servers' MAX_STALENESS: a
// quiet feed stays fresh, and a killed jwtd is noticed within it.
const (
	nodeHeartbeat    = 500 * time.Millisecond
	nodeMaxStaleness = 4 * nodeHeartbeat
)

const (
	loginSecret  = "login-secret-of-the-node-resource-test"
	ordersSecret = "orders-secret-of-the-node-resource-test"
)

// nodeResourceConfig has a login backend (sessions, admin) for the public
// app, orders-api, the resource server, with only the introspect grant
// that GET /v1/revocations needs, and a short feed heartbeat.
var nodeResourceConfig = fmt.Sprintf(`clients:
  - id: login
    secret_hash: "sha256:%x"
    grants: [sessions, admin]
  - id: app
    grants: [refresh_token]
    scopes: [read, write]
    audiences: [orders, billing]
  - id: orders-api
    secret_hash: "sha256:%x"
    grants: [introspect]
revocation:
  feed_heartbeat: %s
`, sha256.Sum256([]byte(loginSecret)), sha256.Sum256([]byte(ordersSecret)), nodeHeartbeat)

// TestNodeResourceServer runs examples/node-resource-server (jose and
// mirror.mjs, installed with npm ci from its lock file) against a real
// jwtd: its unit tests, then the server, which must refuse a token within
// seconds of its logout, its revoke or its subject's revoke, answer 503
// once jwtd is gone for longer than MAX_STALENESS (or accept, with
// FAIL_MODE=open), and recover when jwtd is back (a new snapshot, merged:
// a token revoked before the restart stays refused). jwtd's issuer is a TCP
// proxy in front of it, so the test can cut the feed's connection and see
// the mirror resume from Last-Event-ID without a new snapshot. Without
// Node.js this test is skipped.
func TestNodeResourceServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and Node.js")
	}
	node, dir := exampleNodeDeps(t)
	t.Run("unit", func(t *testing.T) {
		cmd := exec.Command(node, "--test", "mirror.test.mjs")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node --test mirror.test.mjs: %v\n%s", err, out)
		}
	})

	bin := buildBinary(t)
	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte(nodeResourceConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	jwtdAddr := "127.0.0.1:" + freeLoopbackPort(t)
	px := startCutProxy(t, jwtdAddr)
	issuer := "http://" + px.addr()
	startIssuer := func() *process {
		return startJWTD(t, bin, cfgDir, "JWTD_SERVER_LISTEN="+jwtdAddr, "JWTD_ISSUER="+issuer)
	}
	j := startIssuer()

	env := []string{"JWTD_URL=" + issuer, "AUDIENCE=orders", "CLIENT_ID=orders-api", "CLIENT_SECRET=" + ordersSecret,
		"REQUIRED_SCOPE=read", "MAX_STALENESS=" + strconv.FormatInt(nodeMaxStaleness.Milliseconds(), 10)}
	closed := startNodeServer(t, node, dir, env...)
	open := startNodeServer(t, node, dir, append(env, "FAIL_MODE=open")...)
	never := startNodeServer(t, node, dir, append(env, "CLIENT_SECRET=not-the-secret")...)
	for _, n := range []*nodeServer{closed, open} {
		if err := redistest.Eventually(10*time.Second, func() error { return n.ready(t) }); err != nil {
			t.Fatalf("node server never loaded the mirror: %v\n%s", err, n.Logs())
		}
	}

	alice := nodeLogin(t, j.base, "alice", `"scope":"read"`)
	aliceToo := nodeLogin(t, j.base, "alice", `"scope":"read write"`)
	writer := nodeLogin(t, j.base, "carol", `"scope":"write"`)
	billing := nodeLogin(t, j.base, "carol", `"scope":"read","audience":"billing"`)
	tests := []struct {
		name, method, authz string
		status              int
		challenge           string
	}{
		{"valid token", "GET", "Bearer " + alice.AccessToken, 200, ""},
		{"scheme case-insensitive", "GET", "bearer " + alice.AccessToken, 200, ""},
		{"no token", "GET", "", 401, "Bearer"},
		{"another scheme", "GET", basicAuth("alice", "x"), 401, "Bearer"},
		{"garbage", "GET", "Bearer garbage", 401, `Bearer error="invalid_token"`},
		{"not a bearer token", "GET", "Bearer a b", 401, `Bearer error="invalid_token"`},
		{"empty bearer", "GET", "Bearer ", 401, `Bearer error="invalid_token"`},
		{"forged signature", "GET", "Bearer " + alice.AccessToken[:len(alice.AccessToken)-4] + "AAAA", 401, `Bearer error="invalid_token"`},
		{"refresh token", "GET", "Bearer " + alice.RefreshToken, 401, `Bearer error="invalid_token"`},
		{"another audience", "GET", "Bearer " + billing.AccessToken, 401, `Bearer error="invalid_token"`},
		{"scope missing", "GET", "Bearer " + writer.AccessToken, 403, `Bearer error="insufficient_scope"`},
		{"method", "POST", "Bearer " + alice.AccessToken, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := nodeCall(t, tt.method, closed.base+"/orders", tt.authz)
			got := h.Get("WWW-Authenticate")
			if code != tt.status || !strings.HasPrefix(got, tt.challenge) || (tt.challenge == "Bearer" && got != "Bearer") {
				t.Fatalf("%s /orders (%s): %d %q %s, want %d %q", tt.method, tt.name, code, got, body, tt.status, tt.challenge)
			}
			if code == 200 && !bytes.Contains(body, []byte(`"sub":"alice"`)) {
				t.Fatalf("GET /orders: body %s, want the token's sub", body)
			}
		})
	}

	// refusedSoon waits, bounded, until the server refuses the token as
	// revoked: the feed delivers an event milliseconds after the change.
	refusedSoon := func(t *testing.T, n *nodeServer, token, what string) {
		t.Helper()
		if err := redistest.Eventually(5*time.Second, func() error {
			if code, h, body := nodeCall(t, "GET", n.base+"/orders", "Bearer "+token); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "token revoked") {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		}); err != nil {
			t.Fatalf("GET /orders after %s: %v, want 401 token revoked", what, err)
		}
	}
	accepted := func(t *testing.T, n *nodeServer, token, what string) {
		t.Helper()
		if code, _, body := nodeCall(t, "GET", n.base+"/orders", "Bearer "+token); code != 200 {
			t.Fatalf("GET /orders with %s: %d %s, want 200", what, code, body)
		}
	}

	var revoked string // a token the mirrors know revoked
	t.Run("logout revokes the session", func(t *testing.T) {
		if code, _, body := call(t, "POST", j.base+"/v1/logout", "Bearer "+alice.AccessToken, ""); code != 204 {
			t.Fatalf("POST /v1/logout: %d %s", code, body)
		}
		refusedSoon(t, closed, alice.AccessToken, "the logout")
		accepted(t, closed, aliceToo.AccessToken, "a token of the user's other session")
	})

	t.Run("revoking an access token revokes that token only", func(t *testing.T) {
		next := refreshPair(t, j.base, aliceToo.RefreshToken, 200)
		form := url.Values{"client_id": {"app"}, "token": {aliceToo.AccessToken}}.Encode()
		req, _ := http.NewRequest("POST", j.base+"/oauth/revoke", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("POST /oauth/revoke: %v %v", err, res)
		}
		res.Body.Close()
		refusedSoon(t, closed, aliceToo.AccessToken, "its revoke")
		accepted(t, closed, next.AccessToken, "the session's next access token")
	})

	t.Run("revoking a subject revokes all its tokens", func(t *testing.T) {
		bob1, bob2 := nodeLogin(t, j.base, "bob", `"scope":"read"`), nodeLogin(t, j.base, "bob", `"scope":"read"`)
		dave := nodeLogin(t, j.base, "dave", `"scope":"read"`)
		if code, _, body := call(t, "POST", j.base+"/v1/admin/subjects/bob/revoke", basicAuth("login", loginSecret), ""); code != 204 {
			t.Fatalf("POST /v1/admin/subjects/bob/revoke: %d %s", code, body)
		}
		cutOff := time.Now().Unix() // not_before is at most this second
		refusedSoon(t, closed, bob1.AccessToken, "the subject revoke")
		refusedSoon(t, closed, bob2.AccessToken, "the subject revoke")
		accepted(t, closed, dave.AccessToken, "another subject's token")
		// A login after the cut-off's second passes (iat <= not_before is revoked, not iat > it).
		var later pair
		if err := redistest.Eventually(5*time.Second, func() error {
			later = nodeLogin(t, j.base, "bob", `"scope":"read"`)
			if iat := tokenIAT(t, later.AccessToken); iat <= cutOff {
				time.Sleep(100 * time.Millisecond)
				return fmt.Errorf("iat %d", iat)
			}
			return nil
		}); err != nil {
			t.Fatalf("no login after the cut-off: %v", err)
		}
		accepted(t, closed, later.AccessToken, "a token of the subject issued after the cut-off")
		refusedSoon(t, open, bob1.AccessToken, "the subject revoke (FAIL_MODE=open)")
		revoked = bob1.AccessToken
	})

	t.Run("a cut connection resumes from Last-Event-ID", func(t *testing.T) {
		before := closed.stats(t)
		px.cut()
		eve := nodeLogin(t, j.base, "eve", `"scope":"read"`)
		if code, _, body := call(t, "POST", j.base+"/v1/logout", "Bearer "+eve.AccessToken, ""); code != 204 {
			t.Fatalf("POST /v1/logout: %d %s", code, body)
		}
		refusedSoon(t, closed, eve.AccessToken, "a logout while the feed reconnected")
		after := closed.stats(t)
		if after.Connects <= before.Connects || after.Snapshots != before.Snapshots {
			t.Fatalf("stats %+v after the cut, %+v before: want a new connection and no new snapshot", after, before)
		}
	})

	t.Run("a quiet feed stays fresh on heartbeats", func(t *testing.T) {
		for end := time.Now().Add(2 * nodeMaxStaleness); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if err := closed.ready(t); err != nil {
				t.Fatalf("GET /readyz on a quiet feed: %v", err)
			}
		}
	})

	valid := nodeLogin(t, j.base, "frank", `"scope":"read"`)
	accepted(t, closed, valid.AccessToken, "a valid token")
	if err := j.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-j.done

	t.Run("jwtd gone: closed answers 503, open accepts", func(t *testing.T) {
		var h http.Header
		if err := redistest.Eventually(nodeMaxStaleness+10*time.Second, func() error {
			code, hdr, body := nodeCall(t, "GET", closed.base+"/orders", "Bearer "+valid.AccessToken)
			h = hdr
			if code != 503 || !bytes.Contains(body, []byte("revocation list is stale")) {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		}); err != nil {
			t.Fatalf("GET /orders with jwtd down: %v, want 503", err)
		}
		if h.Get("Retry-After") == "" {
			t.Fatalf("503 without Retry-After: %v", h)
		}
		if closed.ready(t) == nil {
			t.Fatalf("GET /readyz with jwtd down: ready")
		}
		if code, _, _ := nodeCall(t, "GET", closed.base+"/orders", "Bearer garbage"); code != 401 {
			t.Fatalf("GET /orders with garbage and jwtd down: %d, want 401", code)
		}
		if err := redistest.Eventually(5*time.Second, func() error {
			if open.ready(t) == nil {
				return fmt.Errorf("ready")
			}
			return nil
		}); err != nil {
			t.Fatalf("GET /readyz (FAIL_MODE=open) with jwtd down: %v", err)
		}
		accepted(t, open, valid.AccessToken, "a valid token (FAIL_MODE=open, jwtd down)")
		if code, _, body := nodeCall(t, "GET", open.base+"/orders", "Bearer "+revoked); code != 401 {
			t.Fatalf("GET /orders (FAIL_MODE=open, jwtd down) with a token the mirror knows revoked: %d %s, want 401", code, body)
		}
	})

	snapshots := closed.stats(t).Snapshots // none comes while jwtd is down
	j = startIssuer()
	// The memory store forgets its revocations on a restart; the mirror,
	// which only learns, does not.
	t.Run("jwtd back: a new snapshot, valid tokens pass, revoked ones stay refused", func(t *testing.T) {
		if err := redistest.Eventually(20*time.Second, func() error { return closed.ready(t) }); err != nil {
			t.Fatalf("mirror did not recover: %v\n%s", err, closed.Logs())
		}
		accepted(t, closed, valid.AccessToken, "a token minted before the restart")
		accepted(t, closed, nodeLogin(t, j.base, "frank", `"scope":"read"`).AccessToken, "a new token")
		if code, _, body := nodeCall(t, "GET", closed.base+"/orders", "Bearer "+revoked); code != 401 {
			t.Fatalf("GET /orders after the restart with a token revoked before it: %d %s, want 401", code, body)
		}
		if got := closed.stats(t).Snapshots; got != snapshots+1 {
			t.Fatalf("snapshots after the restart: %d, want %d (a memory-store cursor names its process)", got, snapshots+1)
		}
	})

	t.Run("never loaded: 503", func(t *testing.T) {
		code, h, body := nodeCall(t, "GET", never.base+"/orders", "Bearer "+valid.AccessToken)
		if code != 503 || h.Get("Retry-After") == "" {
			t.Fatalf("GET /orders, mirror never loaded: %d %v %s, want 503 with Retry-After", code, h, body)
		}
		if !strings.Contains(never.Logs(), "status 401") {
			t.Fatalf("the server with a wrong secret did not log the feed's 401:\n%s", never.Logs())
		}
	})

	for _, n := range []*nodeServer{closed, open, never} {
		for _, secret := range []string{ordersSecret, "not-the-secret", valid.AccessToken, alice.AccessToken} {
			if strings.Contains(n.Logs(), secret) {
				t.Fatalf("a secret or token reached the node server's output:\n%s", n.Logs())
			}
		}
	}
	if err := closed.stop(t); err != nil {
		t.Fatalf("node server after SIGTERM: %v\n%s", err, closed.Logs())
	}
}

// TestNodeResourceServerRedisDown: jwtd on Redis stops its feed's
// heartbeats while it cannot vouch for its view of the denylist, so the
// Node server, with jwtd still up, goes stale and answers 503 until Redis
// is back.
func TestNodeResourceServerRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and Node.js")
	}
	node, dir := exampleNodeDeps(t)
	srv := redistest.Start(t)
	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte(nodeResourceConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	j := startAtIssuer(t, buildBinary(t), cfgDir, "JWTD_REVOCATION_STORE=redis", "JWTD_REDIS_ADDRS="+srv.Addr)
	n := startNodeServer(t, node, dir, "JWTD_URL="+j.base, "AUDIENCE=orders", "CLIENT_ID=orders-api", "CLIENT_SECRET="+ordersSecret,
		"MAX_STALENESS="+strconv.FormatInt(nodeMaxStaleness.Milliseconds(), 10))
	token := nodeLogin(t, j.base, "alice", `"scope":"read"`).AccessToken
	status := func(want int) error {
		if code, _, body := nodeCall(t, "GET", n.base+"/orders", "Bearer "+token); code != want {
			return fmt.Errorf("GET /orders: %d %s, want %d", code, body, want)
		}
		return nil
	}
	if err := redistest.Eventually(10*time.Second, func() error { return status(200) }); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := redistest.Eventually(nodeMaxStaleness+5*time.Second, func() error { return status(503) }); err != nil {
		t.Fatalf("Redis down, jwtd up: %v\n%s", err, n.Logs())
	}
	srv.Restart(t)
	if err := redistest.Eventually(20*time.Second, func() error { return status(200) }); err != nil {
		t.Fatalf("Redis back: %v\n%s", err, n.Logs())
	}
}

// exampleNodeDeps finds node and installs examples/node-resource-server
// with npm ci when needed. Without Node.js or npm the test is skipped,
// saying so.
func exampleNodeDeps(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err != nil || err2 != nil {
		t.Skip("SKIPPED: Node.js or npm is not installed, so the Node resource server test did not run; install nodejs and npm to run it")
	}
	dir, _ = filepath.Abs("../../examples/node-resource-server")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose")); err != nil {
		ci := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return node, dir
}

// nodeServer is a running examples/node-resource-server.
type nodeServer struct{ *process }

// startNodeServer runs server.mjs with env on a free port and waits for
// its "listening on <port>" line.
func startNodeServer(t *testing.T, node, dir string, env ...string) *nodeServer {
	t.Helper()
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"PORT=0"}, env...)...)
	listening := regexp.MustCompile(`^listening on (\d+)$`)
	return &nodeServer{startProcess(t, "node server.mjs", cmd, false, func(line string) (string, bool) {
		if m := listening.FindStringSubmatch(line); m != nil {
			return "http://127.0.0.1:" + m[1], true
		}
		return "", false
	})}
}

// mirrorStats is what GET /readyz tells of the mirror.
type mirrorStats struct {
	Ready     bool `json:"ready"`
	Connects  int  `json:"connects"`
	Snapshots int  `json:"snapshots"`
	Events    int  `json:"events"`
}

func (n *nodeServer) stats(t *testing.T) mirrorStats {
	t.Helper()
	code, _, body := nodeCall(t, "GET", n.base+"/readyz", "")
	var s mirrorStats
	if err := json.Unmarshal(body, &s); err != nil || (code == 200) != s.Ready {
		t.Fatalf("GET /readyz: %d %s (%v)", code, body, err)
	}
	return s
}

// ready says whether GET /readyz is 200: the mirror is fresh.
func (n *nodeServer) ready(t *testing.T) error {
	t.Helper()
	if s := n.stats(t); !s.Ready {
		return fmt.Errorf("not ready: %+v", s)
	}
	return nil
}

func nodeCall(t *testing.T, method, url, authz string) (int, http.Header, []byte) {
	t.Helper()
	return call(t, method, url, authz, "")
}

// nodeLogin opens a session of sub on the app client; fields are more of
// the JSON body (scope, audience).
func nodeLogin(t *testing.T, base, sub, fields string) pair {
	t.Helper()
	code, _, body := call(t, "POST", base+"/v1/sessions", basicAuth("login", loginSecret), `{"sub":"`+sub+`","client_id":"app",`+fields+`}`)
	if code != 201 {
		t.Fatalf("POST /v1/sessions for %s: %d %s", sub, code, body)
	}
	var p pair
	_ = json.Unmarshal(body, &p)
	return p
}

// tokenIAT reads the iat claim of a JWT without verifying it.
func tokenIAT(t *testing.T, token string) int64 {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		IAT int64 `json:"iat"`
	}
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return claims.IAT
}

// cutProxy forwards TCP connections to a target, and can cut every
// connection open through it: jwtd's issuer address, so the test can break
// the feed's stream while jwtd runs on.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { l.Close(); p.cut() })
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(u, c)
		go pipe(c, u)
	}
}

// cut closes every connection open through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}
