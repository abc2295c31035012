package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spaPeriods is how many refresh periods each multi-tab phase of
// TestSPAClient runs at least (the issue asks for 20).
const spaPeriods = 20

// jwtdCount is what the driver read from jwtd's /metrics over a phase.
type jwtdCount struct {
	Refresh  map[string]int `json:"refresh"` // POST /v1/refresh by status
	Reuse    int            `json:"reuse"`   // jwtd_refresh_reuse_detected_total
	Requests int            `json:"requests"`
}

type spaPhase struct {
	Tabs         int       `json:"tabs"`
	Mode         string    `json:"mode"`
	MS           int       `json:"ms"`
	JWTD         jwtdCount `json:"jwtd"`
	LockRequests int       `json:"lockRequests"`
	Refreshes    []struct {
		Tab int    `json:"tab"`
		At  int64  `json:"at"`
		JTI string `json:"jti"`
	} `json:"refreshes"`
	Logouts  int   `json:"logouts"`
	Sessions []int `json:"sessions"`
}

type spaResult struct {
	Two, Five, Fallback spaPhase
	Example             struct {
		SignedIn  string `json:"signedIn"`
		OtherTab  string `json:"otherTab"`
		SignedOut bool   `json:"signedOut"`
	} `json:"example"`
	Logout struct {
		Ended    bool     `json:"ended"`
		Reasons  []string `json:"reasons"`
		Sessions []int    `json:"sessions"`
		Restart  *string  `json:"restart"`
	} `json:"logout"`
	Freeze struct {
		Events    [][2]int  `json:"events"` // per tab: freeze and resume events seen
		Frozen    jwtdCount `json:"frozen"`
		Expired   []int     `json:"expired"`
		Recovered bool      `json:"recovered"`
		RecoverMS int       `json:"recoverMs"`
		Resume    jwtdCount `json:"resume"`
		Sessions  []int     `json:"sessions"`
	} `json:"freeze"`
	Offline struct {
		Offline    jwtdCount `json:"offline"`
		SawOffline bool      `json:"sawOffline"`
		Errors     int       `json:"errors"`
		Recovered  bool      `json:"recovered"`
		RecoverMS  int       `json:"recoverMs"`
		Restore    jwtdCount `json:"restore"`
		Sessions   []int     `json:"sessions"`
	} `json:"offline"`
}

// serveSPA serves the browser client's test page, the module itself at
// /jwtd.js, the example SPA under /example/, and a login backend that opens a "delivery": "code" session
// with jwtd (server to server, as dev-backend) for the page's PKCE
// challenge, on 127.0.0.1:port: another origin than jwtd.
func serveSPA(t *testing.T, jwtd *process, jwtdURL, port string) {
	t.Helper()
	files := map[string]string{
		"GET /{$}":     "testdata/spa-client/index.html",
		"GET /jwtd.js": "../../browser/jwtd.js",
		// The example SPA, under /example/ (its URLs are relative).
		"GET /example/{$}":         "../../examples/spa/index.html",
		"GET /example/app.js":      "../../examples/spa/app.js",
		"GET /example/jwtd.js":     "../../browser/jwtd.js",
		"GET /example/config.json": "",
	}
	mux := http.NewServeMux()
	for route, path := range files {
		body, ctype := []byte(`{"jwtd":"`+jwtdURL+`"}`), "application/json"
		if path != "" {
			var err error
			if body, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
			ctype = "text/html; charset=utf-8"
			if strings.HasSuffix(path, ".js") {
				ctype = "text/javascript; charset=utf-8"
			}
		}
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(body)
		})
	}
	login := codeLogin(jwtd.base)
	mux.HandleFunc("POST /backend/login", login)
	mux.HandleFunc("POST /example/api/login", login)
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// TestSPAClient runs the browser client (browser/jwtd.js) in headless
// Chromium against the real binary with access_ttl 2s and leeway 0s, the
// page on another origin. Tabs of one app whose refresh timers coincide
// (jitter 0) send exactly one refresh per period, never a reuse, and all
// end with a valid token; logout in one tab ends every tab; tabs frozen
// past expiry recover with one refresh; so does a network cut.
func TestSPAClient(t *testing.T) {
	chromium, node, deps := browserTest(t, "the browser client test")

	jwtdPort, spaPort := freeLoopbackPort(t), freeLoopbackPort(t)
	jwtdURL, spaURL := "http://localhost:"+jwtdPort, "http://localhost:"+spaPort
	p := startJWTD(t, buildBinary(t), shippedConfigDir(t),
		"JWTD_SERVER_LISTEN=127.0.0.1:"+jwtdPort, "JWTD_ISSUER="+jwtdURL, "JWTD_CORS_ALLOWED_ORIGINS="+spaURL,
		"JWTD_TOKENS_ACCESS_TTL=2s", "JWTD_TOKENS_LEEWAY=0s")
	serveSPA(t, p, jwtdURL, spaPort)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/spa-client/driver.mjs")
	cmd.Env = append(os.Environ(), "SPA_URL="+spaURL, "JWTD_URL="+jwtdURL, "CHROMIUM="+chromium,
		"NODE_DEPS="+deps, "PERIODS="+strconv.Itoa(spaPeriods))
	// The driver starts Chromium itself: its own process group, so a
	// timeout or a failed test kills both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node driver.mjs: %v\n%s\njwtd log:\n%s", err, stderr.String(), p.Logs())
	}
	t.Logf("driver ran %s: %s", time.Since(start).Round(time.Second), out)
	var r spaResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("driver result %q: %v\nstderr:\n%s", out, err, stderr.String())
	}

	for _, ph := range []struct {
		name string
		got  spaPhase
	}{{"two tabs", r.Two}, {"five tabs", r.Five}, {"five tabs without Web Locks", r.Fallback}} {
		t.Run(ph.name, func(t *testing.T) { checkCoincide(t, ph.got) })
	}

	t.Run("logout in one tab", func(t *testing.T) {
		lo := r.Logout
		if !lo.Ended {
			t.Fatalf("logout: some tab still holds a token: %+v", lo)
		}
		want := []string{"peer", "peer", "logout", "peer", "peer"}
		if !slices.Equal(lo.Reasons, want) {
			t.Errorf("logout reasons per tab: got %q, want %q", lo.Reasons, want)
		}
		for i, s := range lo.Sessions {
			if s != http.StatusUnauthorized {
				t.Errorf("GET /v1/session with tab %d's last token after logout: got %d, want 401", i, s)
			}
		}
		if lo.Restart != nil {
			t.Errorf("start() after logout: got a token, want none")
		}
	})

	t.Run("frozen past expiry", func(t *testing.T) {
		f := r.Freeze
		for i, e := range f.Events {
			if e != [2]int{1, 1} {
				t.Errorf("tab %d saw %d freeze and %d resume events, want 1 and 1", i, e[0], e[1])
			}
		}
		if f.Frozen.Requests != 0 {
			t.Errorf("refreshes while frozen: got %d, want 0", f.Frozen.Requests)
		}
		if !slices.Equal(f.Expired, []int{401, 401, 401}) {
			t.Errorf("tokens after the freeze, before resume: got %v, want all 401 (expired; else the freeze proved nothing)", f.Expired)
		}
		if !f.Recovered || f.Resume.Requests != 1 || f.Resume.Refresh["200"] != 1 || f.Resume.Reuse != 0 {
			t.Errorf("resume of three tabs: recovered %v, jwtd %+v; want recovered with exactly one 200 refresh", f.Recovered, f.Resume)
		}
		if !slices.Equal(f.Sessions, []int{200, 200, 200}) {
			t.Errorf("GET /v1/session per tab after resume: got %v, want all 200", f.Sessions)
		}
	})

	t.Run("network cut and restored", func(t *testing.T) {
		o := r.Offline
		if o.Offline.Requests != 0 || !o.SawOffline || o.Errors == 0 {
			t.Errorf("offline: jwtd saw %d refreshes (want 0), navigator.onLine false %v, error events %d (want some)", o.Offline.Requests, o.SawOffline, o.Errors)
		}
		if !o.Recovered || o.Restore.Requests != 1 || o.Restore.Refresh["200"] != 1 || o.Restore.Reuse != 0 {
			t.Errorf("network restored: recovered %v, jwtd %+v; want recovered with exactly one 200 refresh", o.Recovered, o.Restore)
		}
		if !slices.Equal(o.Sessions, []int{200, 200}) {
			t.Errorf("GET /v1/session per tab after recovery: got %v, want all 200", o.Sessions)
		}
	})

	t.Run("example SPA", func(t *testing.T) {
		e := r.Example
		if !strings.HasPrefix(e.SignedIn, "Signed in as bob ") || e.OtherTab != e.SignedIn || !e.SignedOut {
			t.Errorf("example: signed in %q, second tab %q, both signed out after logout %v; want bob in both, then out", e.SignedIn, e.OtherTab, e.SignedOut)
		}
	})

	// jwtd's own totals over the whole run: no reuse, ever.
	_, _, body := call(t, "GET", p.base+"/metrics", "", "")
	if m := regexp.MustCompile(`(?m)^jwtd_refresh_reuse_detected_total (\d+)$`).FindSubmatch(body); m == nil || string(m[1]) != "0" {
		t.Errorf("jwtd_refresh_reuse_detected_total: got %q, want 0", m)
	}
}

// checkCoincide judges one multi-tab phase: at least spaPeriods+1
// refreshes, each a 200, no reuse; every refresh minted a new token (a
// duplicate inside the grace would repeat a jti); refreshes at least
// 400 ms apart (one per period: 50% of a 1-2 s lifetime); the tabs'
// timers did coincide (the others asked for the lock too); every tab ends
// with a token jwtd accepts.
func checkCoincide(t *testing.T, ph spaPhase) {
	t.Helper()
	j := ph.JWTD
	if j.Requests < spaPeriods+1 || j.Refresh["200"] != j.Requests || j.Reuse != 0 {
		t.Errorf("jwtd over %d ms: %+v; want at least %d refreshes, all 200, no reuse", ph.MS, j, spaPeriods+1)
	}
	if n := len(ph.Refreshes); n < j.Requests-1 || n > j.Requests {
		t.Errorf("refreshes the tabs made: got %d, jwtd counted %d", n, j.Requests)
	}
	seen := map[string]bool{}
	for _, rf := range ph.Refreshes {
		if seen[rf.JTI] {
			t.Errorf("jti %s came from two refreshes: a duplicate spend answered by the grace", rf.JTI)
		}
		seen[rf.JTI] = true
	}
	at := make([]int64, len(ph.Refreshes))
	for i, rf := range ph.Refreshes {
		at[i] = rf.At
	}
	slices.Sort(at)
	for i := 1; i < len(at); i++ {
		if gap := at[i] - at[i-1]; gap < 400 {
			t.Errorf("refreshes %d and %d are %d ms apart: two in one period", i-1, i, gap)
		}
	}
	if ph.Mode == "locks" && ph.LockRequests < ph.Tabs*(j.Requests-1) {
		t.Errorf("lock requests: got %d for %d refreshes of %d tabs; the timers did not coincide", ph.LockRequests, j.Requests, ph.Tabs)
	}
	if ph.Logouts != 0 {
		t.Errorf("logout events: got %d, want 0", ph.Logouts)
	}
	for i, s := range ph.Sessions {
		if s != http.StatusOK {
			t.Errorf("GET /v1/session with tab %d's token at the end: got %d, want 200", i, s)
		}
	}
}
