package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/testlog"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/redistest"
)

// stepRecorder is app.onStep for tests: it keeps the steps in order.
type stepRecorder struct {
	mu    sync.Mutex
	steps []string
}

func (r *stepRecorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, s)
}

func (r *stepRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.steps)
}

// appGoroutineMarkers name the code of the goroutines an app starts: any
// goroutine an app method created, its loops, its servers and their
// connections, and go-redis.
var appGoroutineMarkers = []string{
	"github.com/jwtd/jwtd/cmd/jwtd.(*app).",
	"github.com/jwtd/jwtd/keys.",
	"github.com/jwtd/jwtd/revocation.",
	"github.com/jwtd/jwtd/handlers.",
	"net/http.(*Server).Serve",
	"net/http.(*conn).serve",
	"github.com/redis/go-redis/",
}

// appGoroutines returns the stacks of the goroutines running app code.
func appGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, m := range appGoroutineMarkers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// TestAppLifecycle builds an app through newApp, serves requests, closes
// it, and checks the shutdown order: the HTTP servers first, then the
// background loops (none of which returns before the servers are down,
// although run's ctx is done by then), then Redis, last; and that close
// leaves none of the goroutines the app started.
func TestAppLifecycle(t *testing.T) {
	kek := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name  string
		redis bool
		loops []string
	}{
		{name: "memory stores", loops: []string{"keys access", "keys refresh"}},
		{name: "redis stores", redis: true, loops: []string{"keys access", "keys refresh", "revocation outbox", "revocation mirror"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults()
			cfg.Server.Listen = "127.0.0.1:0"
			cfg.Keys.Store, cfg.Revocation.Store = "memory", "memory"
			var environ []string
			if tt.redis {
				srv := redistest.Start(t)
				cfg.Keys.Store, cfg.Revocation.Store = "redis", "redis"
				cfg.Redis.Addrs = []string{srv.Addr}
				environ = []string{cfg.Keys.EncryptionKeyEnv + "=" + kek}
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate(): %v", err)
			}
			before := len(appGoroutines())
			logs := &testlog.Buffer{}
			a, err := newApp(context.Background(), cfg, &env{stderr: logs, environ: environ})
			if err != nil {
				t.Fatalf("newApp(%s): %v", tt.name, err)
			}
			rec := &stepRecorder{}
			a.onStep = rec.record
			base := "http://" + a.listeners[0].Addr().String()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runErr := make(chan error, 1)
			go func() { runErr <- a.run(ctx) }()

			client := &http.Client{Timeout: 10 * time.Second}
			for _, path := range []string{"/healthz", "/readyz", "/.well-known/jwks.json"} {
				res, err := client.Get(base + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: got %d, want 200\n%s", path, res.StatusCode, logs)
				}
			}
			client.CloseIdleConnections()

			cancel()
			if err := <-runErr; err != nil {
				t.Fatalf("run(): got %v, want nil after ctx is done", err)
			}
			if err := a.close(context.Background()); err != nil {
				t.Fatalf("close(): %v", err)
			}

			steps := rec.all()
			want := append(append([]string{stepServersDown}, prefixed(tt.loops)...), stepLoopsJoined, stepRedisClosed)
			if len(steps) != len(want) || steps[0] != stepServersDown || !sameSet(steps[1:len(steps)-2], want[1:len(want)-2]) ||
				steps[len(steps)-2] != stepLoopsJoined || steps[len(steps)-1] != stepRedisClosed {
				t.Fatalf("close() steps: got %q, want %q (loops in any order)", steps, want)
			}
			if tt.redis {
				if err := a.rc.c.Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
					t.Fatalf("Ping after close(): got %v, want %v", err, redis.ErrClosed)
				}
			}
			if c, err := net.Dial("tcp", a.listeners[0].Addr().String()); err == nil {
				c.Close()
				t.Fatalf("Dial(%s) after close(): connected, want refused", base)
			}
			// Connection goroutines end just after Shutdown returns: poll,
			// bounded.
			if err := redistest.Eventually(10*time.Second, func() error {
				if left := appGoroutines(); len(left) > before {
					return fmt.Errorf("%d app goroutines before, %d after close():\n%s", before, len(left), strings.Join(left, "\n\n"))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func prefixed(loops []string) []string {
	out := make([]string, len(loops))
	for i, l := range loops {
		out[i] = stepLoopPrefix + l
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestNewAppReleasesOnError: a build that fails half-way (here the metrics
// listener's port is taken) is a start-up error naming the key, and the
// main listener it had bound already is free again.
func TestNewAppReleasesOnError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := defaults()
	cfg.Keys.Store = "memory"
	cfg.Server.Listen = "127.0.0.1:" + freeLoopbackPort(t)
	cfg.Server.MetricsListen = taken.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate(): %v", err)
	}
	a, err := newApp(context.Background(), cfg, &env{stderr: &testlog.Buffer{}})
	if err == nil || !strings.HasPrefix(err.Error(), "server.metrics_listen: ") {
		t.Fatalf("newApp(metrics_listen %s in use): got %v, %v; want a server.metrics_listen error", cfg.Server.MetricsListen, a, err)
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		t.Fatalf("Listen(%s) after the failed newApp: %v, want the port released", cfg.Server.Listen, err)
	}
	ln.Close()
}
