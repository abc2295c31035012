package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/redistest"
)

// TestBinaryTLS: with server.tls set, jwtd serves HTTPS (TLS 1.2 at least)
// with HSTS on every answer, picks up a new certificate pair without a
// restart, keeps the old one when a new pair is broken, keeps
// metrics_listen on plain HTTP, and `jwtd health` reaches it.
func TestBinaryTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := shippedConfigDir(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := newTestPair(t)
	first.write(t, cert, key)
	tlsEnv := []string{"JWTD_SERVER_TLS_CERT_FILE=" + cert, "JWTD_SERVER_TLS_KEY_FILE=" + key, "JWTD_SERVER_METRICS_LISTEN=127.0.0.1:0"}
	p := startJWTD(t, bin, dir, tlsEnv...)
	base := "https://" + strings.TrimPrefix(p.base, "http://")

	get := func(pair testPair, tweak func(*tls.Config), path string) (*http.Response, error) {
		t.Helper()
		cfg := pair.client()
		if tweak != nil {
			tweak(cfg)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 5 * time.Second}
		res, err := c.Get(base + path)
		if err == nil {
			res.Body.Close()
		}
		return res, err
	}
	for _, path := range []string{"/healthz", "/.well-known/jwks.json", "/nope"} {
		res, err := get(first, nil, path)
		if err != nil {
			t.Fatalf("GET %s over TLS: %v", path, err)
		}
		if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Fatalf("GET %s: Strict-Transport-Security = %q, want max-age=31536000", path, got)
		}
		if res.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("GET %s: TLS version %x", path, res.TLS.Version)
		}
	}
	if _, err := get(first, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS11 }, "/healthz"); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
	if code, _, _ := call(t, "GET", p.base+"/healthz", "", ""); code != 400 {
		t.Fatalf("plain HTTP to the TLS listener: %d, want 400", code)
	}
	var metricsAddr string
	for _, line := range strings.Split(p.Logs(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics listening" {
			metricsAddr = rec.Addr
		}
	}
	if code, hdr, _ := call(t, "GET", "http://"+metricsAddr+"/metrics", "", ""); code != 200 || hdr.Get("Strict-Transport-Security") != "" {
		t.Fatalf("GET /metrics on metrics_listen over plain HTTP: %d %v", code, hdr)
	}

	// jwtd health: the default URL follows server.listen and server.tls.
	addr := strings.TrimPrefix(p.base, "http://")
	healthTests := []struct {
		name string
		args []string
		code int
	}{
		{"default URL", []string{"health"}, 0},
		{"--url with --insecure", []string{"health", "--insecure", "--url", base + "/healthz"}, 0},
		{"--url without the CA", []string{"health", "--url", base + "/healthz"}, 1},
		{"--insecure off loopback", []string{"health", "--insecure", "--url", "https://jwtd.example:8443/healthz"}, 2},
	}
	for _, tt := range healthTests {
		cmd := command(t, bin, tt.args...)
		cmd.Dir, cmd.Env = dir, cleanEnv(append(tlsEnv, "JWTD_SERVER_LISTEN="+addr)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code {
			t.Fatalf("jwtd %v (%s): exit %d, want %d\n%s", tt.args, tt.name, code, tt.code, out)
		}
	}

	// A new pair is served without a restart.
	second := newTestPair(t)
	second.write(t, cert, key)
	served := func(pair testPair) error {
		res, err := get(pair, nil, "/healthz")
		if err != nil {
			return err
		}
		if got := res.TLS.PeerCertificates[0].SerialNumber; got.Cmp(pair.serial) != 0 {
			return fmt.Errorf("serial %v, want %v", got, pair.serial)
		}
		return nil
	}
	if err := redistest.Eventually(15*time.Second, func() error { return served(second) }); err != nil {
		t.Fatalf("the new certificate was not served: %v\n%s", err, p.Logs())
	}
	if _, err := get(first, nil, "/healthz"); err == nil {
		t.Fatal("the old certificate is still served")
	}

	// A broken pair keeps the last good one, with a warning.
	broken := newTestPair(t)
	broken.certPEM = []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
	broken.write(t, cert, key)
	if err := redistest.Eventually(15*time.Second, func() error {
		if err := served(second); err != nil { // handshakes look at the files
			return err
		}
		if !strings.Contains(p.Logs(), `"level":"WARN","msg":"server.tls: the new certificate pair does not load; serving the previous one"`) {
			return errors.New("no warning yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, p.Logs())
	}
	if err := served(second); err != nil {
		t.Fatalf("after a broken pair: %v", err)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
