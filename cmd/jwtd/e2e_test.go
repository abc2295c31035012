package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

func TestBinaryOnShippedConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := shippedConfigDir(t)
	p := startJWTD(t, bin, dir)
	if !strings.Contains(p.Logs(), "DEVELOPMENT CLIENT ENABLED") {
		t.Fatalf("no development-client warning:\n%s", p.Logs())
	}

	// The README walkthrough: open a session for the public app client.
	code, hdr, body := call(t, "POST", p.base+"/v1/sessions", basicAuth("dev-backend", devSecret),
		`{"sub":"alice","client_id":"dev-app","scope":"read","claims":{"tenant":"acme"}}`)
	if code != 201 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /v1/sessions: %d %s", code, body)
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		SessionID    string `json:"session_id"`
	}
	_ = json.Unmarshal(body, &tr)
	if code, _, body := call(t, "GET", p.base+"/v1/session", "Bearer "+tr.AccessToken, ""); code != 200 || !strings.Contains(string(body), `"sid":"`+tr.SessionID+`"`) {
		t.Fatalf("GET /v1/session: %d %s", code, body)
	}

	// An independent library verifies the access token through the JWKS
	// alone, and refuses the refresh token: its key is never published.
	set, err := jwk.Fetch(context.Background(), p.base+"/.well-known/jwks.json")
	if err != nil {
		t.Fatalf("jwk.Fetch: %v", err)
	}
	tok, err := jwt.Parse([]byte(tr.AccessToken), jwt.WithKeySet(set), jwt.WithIssuer("http://localhost:8080"), jwt.WithAudience("api"), jwt.WithValidate(true))
	if err != nil || tok.Subject() != "alice" {
		t.Fatalf("jwx verify access token: %v", err)
	}
	msg, _ := jws.Parse([]byte(tr.AccessToken))
	if typ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "at+jwt" {
		t.Fatalf("typ = %q, want at+jwt", typ)
	}
	if _, err := jwt.Parse([]byte(tr.RefreshToken), jwt.WithKeySet(set)); err == nil {
		t.Fatalf("the refresh token verifies against the published JWKS")
	}

	// The operator commands work against the same key directory.
	inspect := exec.Command(bin, "token", "inspect", tr.AccessToken)
	inspect.Dir, inspect.Env = dir, cleanEnv()
	if out, err := inspect.CombinedOutput(); err != nil || !strings.Contains(string(out), "verifies: yes") {
		t.Fatalf("jwtd token inspect: %v\n%s", err, out)
	}
	list := exec.Command(bin, "keys", "list")
	list.Dir, list.Env = dir, cleanEnv()
	out, err := list.CombinedOutput()
	if err != nil || strings.Count(string(out), " active ") != 2 || strings.Count(string(out), " next ") != 2 {
		t.Fatalf("jwtd keys list: %v\n%s", err, out)
	}
	if code, _, body := call(t, "GET", p.base+"/metrics", "", ""); code != 200 || !strings.Contains(string(body), `jwtd_tokens_issued_total{kind="access"} 1`) {
		t.Fatalf("GET /metrics: %d", code)
	}
	health := exec.Command(bin, "health", "--url", p.base+"/healthz")
	if out, err := health.CombinedOutput(); err != nil {
		t.Fatalf("jwtd health: %v %s", err, out)
	}

	// Steps 4 and 5: refresh, then log out; both tokens are dead after it.
	next := refreshPair(t, p.base, tr.RefreshToken, 200)
	if code, _, _ := call(t, "POST", p.base+"/v1/logout", "Bearer "+next.AccessToken, ""); code != 204 {
		t.Fatalf("POST /v1/logout: %d", code)
	}
	if code, _, _ := call(t, "GET", p.base+"/v1/session", "Bearer "+next.AccessToken, ""); code != 401 {
		t.Fatalf("GET /v1/session after logout: %d, want 401", code)
	}
	refreshPair(t, p.base, next.RefreshToken, 400)

	_, _, jwksBefore := call(t, "GET", p.base+"/.well-known/jwks.json", "", "")
	if err := p.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0\n%s", err, p.Logs())
	}
	logs := p.Logs()
	if strings.Contains(logs, tr.AccessToken[40:80]) || strings.Contains(logs, tr.RefreshToken[40:80]) || strings.Contains(logs, devSecret) {
		t.Fatalf("a token or secret reached the log:\n%s", logs)
	}

	// Keys survive a restart: the same JWKS, and the old token still verifies.
	p2 := startJWTD(t, bin, dir)
	_, _, jwksAfter := call(t, "GET", p2.base+"/.well-known/jwks.json", "", "")
	if !bytes.Equal(jwksBefore, jwksAfter) {
		t.Fatalf("JWKS changed across a restart:\n%s\n%s", jwksBefore, jwksAfter)
	}
	if err := p2.stop(t); err != nil {
		t.Fatalf("second exit: %v", err)
	}
}

func TestBinaryStartupErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	cfgPath, err := filepath.Abs("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env, want string
	}{
		{"bad duration", "JWTD_TOKENS_ACCESS_TTL=soon", "JWTD_TOKENS_ACCESS_TTL (tokens.access_ttl)"},
		{"clients by env", "JWTD_CLIENTS=[]", "JWTD_CLIENTS: clients can be set in the config file only"},
		{"port taken", "", "server.listen:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "serve", "--config", cfgPath)
			cmd.Dir = t.TempDir()
			env := []string{tt.env, "JWTD_KEYS_STORE=memory"}
			if tt.name == "port taken" {
				p := startJWTD(t, bin, t.TempDir(), "JWTD_KEYS_STORE=memory")
				env = append(env, "JWTD_SERVER_LISTEN="+strings.TrimPrefix(p.base, "http://"))
			}
			cmd.Env = cleanEnv(env...)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit = %v, want 1\n%s", err, out)
			}
			last := strings.TrimSpace(string(out))
			last = last[strings.LastIndex(last, "\n")+1:]
			if !strings.HasPrefix(last, "jwtd: "+tt.want) {
				t.Fatalf("last line = %q, want it to start with %q", last, "jwtd: "+tt.want)
			}
		})
	}
}

// TestBinaryMetricsListener: with server.metrics_listen set, /metrics is
// served there and not on the main listener.
func TestBinaryMetricsListener(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startJWTD(t, buildBinary(t), shippedConfigDir(t), "JWTD_SERVER_METRICS_LISTEN=127.0.0.1:0")
	var addr string
	for _, line := range strings.Split(p.Logs(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics listening" {
			addr = rec.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no metrics listener logged:\n%s", p.Logs())
	}
	if code, _, body := call(t, "GET", "http://"+addr+"/metrics", "", ""); code != 200 || !strings.Contains(string(body), "jwtd_refresh_reuse_detected_total") {
		t.Fatalf("GET /metrics on the metrics listener: %d", code)
	}
	if code, _, _ := call(t, "GET", p.base+"/metrics", "", ""); code != 404 {
		t.Fatalf("GET /metrics on the main listener: %d, want 404", code)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
