package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium; JWTD_TEST_CHROMIUM names another.
func chromiumPath() string {
	if p := os.Getenv("JWTD_TEST_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// nodeDeps finds node and installs testdata/node with npm ci when needed.
// Without Node.js or npm the calling test is skipped, saying so.
func nodeDeps(t *testing.T, what string) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err != nil || err2 != nil {
		t.Skipf("SKIPPED: Node.js or npm is not installed, so %s did not run; install nodejs and npm to run it", what)
	}
	dir, _ = filepath.Abs("testdata/node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		ci := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return node, dir
}

type browserResult struct {
	First struct {
		Login              int    `json:"login"`
		Exchange           int    `json:"exchange"`
		ExchangeHasRefresh bool   `json:"exchangeHasRefresh"`
		Session            int    `json:"session"`
		Sub                string `json:"sub"`
		DocumentCookie     string `json:"documentCookie"`
		Refreshes          []struct {
			Status     int  `json:"status"`
			HasRefresh bool `json:"hasRefresh"`
			NewAccess  bool `json:"newAccess"`
		} `json:"refreshes"`
	} `json:"first"`
	Cookies []struct {
		Name     string `json:"name"`
		HTTPOnly bool   `json:"httpOnly"`
		Secure   bool   `json:"secure"`
		SameSite string `json:"sameSite"`
		Path     string `json:"path"`
		Domain   string `json:"domain"`
	} `json:"cookies"`
	JWTDOriginDocumentCookie string `json:"jwtdOriginDocumentCookie"`
	Second                   struct {
		Refresh            int    `json:"refresh"`
		Logout             int    `json:"logout"`
		RefreshAfterLogout int    `json:"refreshAfterLogout"`
		SessionAfterLogout int    `json:"sessionAfterLogout"`
		DocumentCookie     string `json:"documentCookie"`
	} `json:"second"`
	CookiesAfterLogout []string `json:"cookiesAfterLogout"`
}

// TestBrowserSPA: a static SPA on another origin than jwtd, in headless
// Chromium, gets a handoff code from its backend, exchanges it with
// credentials: 'include', refreshes twice through /v1/refresh, reloads,
// refreshes by cookie alone, logs out; its JavaScript never reads the
// refresh cookie, and nothing works after logout.
func TestBrowserSPA(t *testing.T) {
	chromium, node, dir := browserTest(t, "the browser SPA test")

	jwtdPort, spaPort := freeLoopbackPort(t), freeLoopbackPort(t)
	jwtdURL, spaURL := "http://localhost:"+jwtdPort, "http://localhost:"+spaPort
	p := startJWTD(t, buildBinary(t), shippedConfigDir(t),
		"JWTD_SERVER_LISTEN=127.0.0.1:"+jwtdPort, "JWTD_ISSUER="+jwtdURL, "JWTD_CORS_ALLOWED_ORIGINS="+spaURL)

	// The SPA's own server: the page, and a backend that opens the session
	// with jwtd (server to server, client-authenticated) and hands the code on.
	page, err := os.ReadFile("testdata/spa/index.html")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("POST /backend/login", codeLogin(p.base))
	ln, err := net.Listen("tcp", "127.0.0.1:"+spaPort)
	if err != nil {
		t.Fatal(err)
	}
	spa := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = spa.Serve(ln) }()
	t.Cleanup(func() { _ = spa.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "browser.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SPA_URL="+spaURL, "JWTD_URL="+jwtdURL, "COOKIE_NAME=__Host-jwtd_refresh", "CHROMIUM="+chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node browser.mjs: %v\n%s\njwtd log:\n%s", err, stderr.String(), p.Logs())
	}
	var r browserResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("browser result %q: %v", out, err)
	}
	t.Logf("browser: %s", out)

	const name = "__Host-jwtd_refresh"
	f := r.First
	if f.Login != 201 || f.Exchange != 200 || f.ExchangeHasRefresh || f.Session != 200 || f.Sub != "alice" || len(f.Refreshes) != 2 {
		t.Fatalf("login, exchange and session: %+v", f)
	}
	for i, rf := range f.Refreshes {
		if rf.Status != 200 || rf.HasRefresh || !rf.NewAccess {
			t.Fatalf("refresh %d: %+v (want 200, a new access token, no refresh token in the body)", i+1, rf)
		}
	}
	if len(r.Cookies) != 1 || r.Cookies[0].Name != name {
		t.Fatalf("cookies for jwtd's host: %+v, want exactly %s", r.Cookies, name)
	}
	if c := r.Cookies[0]; !c.HTTPOnly || !c.Secure || c.SameSite != "Strict" || c.Path != "/" || c.Domain != "localhost" {
		t.Fatalf("refresh cookie attributes: %+v", c)
	}
	for where, dc := range map[string]string{"the SPA": f.DocumentCookie, "jwtd's origin": r.JWTDOriginDocumentCookie, "the SPA after logout": r.Second.DocumentCookie} {
		if strings.Contains(dc, name) || strings.Contains(dc, "eyJ") {
			t.Fatalf("JavaScript on %s reads the refresh cookie: %q", where, dc)
		}
	}
	s := r.Second
	if s.Refresh != 200 || s.Logout != 204 || s.RefreshAfterLogout < 400 || s.RefreshAfterLogout >= 500 || s.SessionAfterLogout != 401 {
		t.Fatalf("reload, refresh, logout: %+v (want 200, 204, a 4xx refresh, a 401 session)", s)
	}
	for _, c := range r.CookiesAfterLogout {
		if c == name {
			t.Fatalf("the refresh cookie survived logout")
		}
	}
}
