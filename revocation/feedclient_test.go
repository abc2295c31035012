package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/testlog"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
)

// feedServer is a scripted revocation feed: each connection runs the next
// script (the last one repeats), which writes what it likes and returns
// to end the stream.
type feedServer struct {
	*httptest.Server
	mu      sync.Mutex
	scripts []func(w http.ResponseWriter, r *http.Request)
	conns   atomic.Int32
	lastIDs []string // the Last-Event-ID of each connection
	auth    []string
}

func newFeedServer(t *testing.T, scripts ...func(w http.ResponseWriter, r *http.Request)) *feedServer {
	fs := &feedServer{scripts: scripts}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(fs.conns.Add(1)) - 1
		fs.mu.Lock()
		fs.lastIDs = append(fs.lastIDs, r.Header.Get("Last-Event-ID"))
		fs.auth = append(fs.auth, r.Header.Get("Authorization"))
		fs.mu.Unlock()
		if r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "want a stream", http.StatusNotAcceptable)
			return
		}
		script := fs.scripts[min(n, len(fs.scripts)-1)]
		script(w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

// waitConns waits, bounded, until the follower has connected n times.
func (fs *feedServer) waitConns(t *testing.T, n int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d connections", n), func() error {
		if got := fs.conns.Load(); got < n {
			return fmt.Errorf("%d connections", got)
		}
		return nil
	})
}

func (fs *feedServer) lastID(i int) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if i >= len(fs.lastIDs) {
		return "<no connection>"
	}
	return fs.lastIDs[i]
}

// sse starts an event stream and returns a writer that flushes each write.
func sse(w http.ResponseWriter) func(format string, args ...any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	return func(format string, args ...any) {
		fmt.Fprintf(w, format, args...)
		w.(http.Flusher).Flush()
	}
}

// hold keeps a stream open, with a heartbeat every 50ms, until the client goes.
func hold(w func(string, ...any), r *http.Request) {
	for {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(50 * time.Millisecond):
			w(": keep-alive\n\n")
		}
	}
}

func followFeed(t *testing.T, m *revocation.Mirror, opts revocation.FeedOptions) *testlog.Buffer {
	t.Helper()
	var logs testlog.Buffer
	if opts.ClientID == "" {
		opts.ClientID = "gateway"
	}
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- revocation.FollowFeed(ctx, m, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("FollowFeed returned %v, want context.Canceled", err)
		}
	})
	return &logs
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := redistest.Eventually(10*time.Second, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func isRevoked(m *revocation.Mirror, tok revocation.Token) func() error {
	return func() error {
		if err := m.Check(context.Background(), tok); !errors.Is(err, revocation.ErrRevoked) {
			return fmt.Errorf("Check(%+v) = %v, want ErrRevoked", tok, err)
		}
		return nil
	}
}

var exp = time.Now().Add(time.Hour).Unix()

// TestFollowFeed: the snapshot (its id line after the data, as jwtd
// writes it), events, heartbeats, a resume with Last-Event-ID that brings
// events only, and a resume answered with a fresh snapshot (a gap), which
// is merged with what the mirror knew.
func TestFollowFeed(t *testing.T) {
	fs := newFeedServer(t,
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("event: snapshot\ndata: {\"entries\":[{\"kind\":\"sid\",\"value\":\"s1\",\"expires_at\":%d},{\"kind\":\"sub\",\"value\":\"bob\",\"not_before\":%d,\"expires_at\":%d}],\"cursor\":\"10-0\"}\nid: 10-0\n\n", exp, time.Now().Unix(), exp)
			write(": keep-alive\r\n\r\n")
			write("id: 11-0\r\nevent: revocation\r\ndata: {\"kind\":\"jti\",\"value\":\"j1\",\"expires_at\":%d}\r\n\r\n", exp)
			// the stream ends: the client resumes
		},
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("id: 12-0\nevent: revocation\ndata: {\"kind\":\"sid\",\"value\":\"s2\",\"expires_at\":%d}\n\n", exp)
		},
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("event: snapshot\ndata: {\"entries\":[{\"kind\":\"sid\",\"value\":\"s3\",\"expires_at\":%d}],\"cursor\":\"99-0\"}\nid: 99-0\n\n", exp)
			hold(write, r)
		},
	)
	m := revocation.NewMirror(revocation.MirrorOptions{})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL})
	for _, tok := range []revocation.Token{{SID: "s1"}, {Subject: "bob", IssuedAt: time.Now().Add(-time.Minute)}, {JTI: "j1"}, {SID: "s2"}, {SID: "s3"}} {
		eventually(t, "revoked", isRevoked(m, tok))
	}
	eventually(t, "current", m.Current)
	if got, want := fs.lastID(1), "11-0"; got != want {
		t.Errorf("second connection's Last-Event-ID = %q, want %q", got, want)
	}
	if got, want := fs.lastID(2), "12-0"; got != want {
		t.Errorf("third connection's Last-Event-ID = %q, want %q", got, want)
	}
	if got := m.Cursor(); got != "99-0" {
		t.Errorf("Cursor = %q, want the new snapshot's", got)
	}
}

// TestFollowFeedLargeSnapshotInPieces: a snapshot far larger than any read
// buffer, written in odd-sized pieces, is loaded entry by entry.
func TestFollowFeedLargeSnapshotInPieces(t *testing.T) {
	const n = 30_000
	var b strings.Builder
	b.WriteString("event: snapshot\ndata: {\"entries\":[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"kind":"jti","value":"j%d","expires_at":%d}`, i, exp)
	}
	b.WriteString("],\"cursor\":\"5-0\"}\nid: 5-0\n\n")
	doc := b.String()
	fs := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		write := sse(w)
		for i := 0; i < len(doc); i += 7919 {
			write("%s", doc[i:min(i+7919, len(doc))])
		}
		hold(write, r)
	})
	m := revocation.NewMirror(revocation.MirrorOptions{})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL})
	eventually(t, "loaded", m.Current)
	if got := m.Len(); got != n {
		t.Fatalf("Len = %d, want %d", got, n)
	}
}

// TestFollowFeedCutShort: a snapshot whose connection drops mid-way
// (jwtd aborts it when its store fails) loads nothing as complete: the
// mirror does not vouch, keeps the entries it read, and asks again
// without a cursor.
func TestFollowFeedCutShort(t *testing.T) {
	fs := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		write := sse(w)
		write("event: snapshot\ndata: {\"entries\":[{\"kind\":\"sid\",\"value\":\"s1\",\"expires_at\":%d},{\"kind\":\"si", exp)
	})
	m := revocation.NewMirror(revocation.MirrorOptions{})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL})
	fs.waitConns(t, 3) // reconnected
	if err := m.Current(); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("a mirror with only cut-short snapshots vouches: %v", err)
	}
	eventually(t, "kept", isRevoked(m, revocation.Token{SID: "s1"}))
	if got := fs.lastID(2); got != "" {
		t.Fatalf("reconnect sent Last-Event-ID %q after a cut-short snapshot", got)
	}
}

// TestFollowFeedGoesStale: a connection that stays open but sends nothing
// (jwtd stops its heartbeats when its own view is stale) lets the mirror
// go stale, and is dropped and reopened after IdleTimeout.
func TestFollowFeedGoesStale(t *testing.T) {
	fs := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		write := sse(w)
		write("event: snapshot\ndata: {\"entries\":[],\"cursor\":\"1-0\"}\nid: 1-0\n\n")
		<-r.Context().Done()
	})
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: 200 * time.Millisecond})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL, IdleTimeout: 300 * time.Millisecond})
	eventually(t, "stale", func() error {
		if err := m.Current(); !errors.Is(err, revocation.ErrStale) {
			return fmt.Errorf("Current = %v", err)
		}
		return nil
	})
	fs.waitConns(t, 2) // reopened
	if got := fs.lastID(1); got != "1-0" {
		t.Fatalf("reopened with Last-Event-ID %q, want 1-0", got)
	}
}

// TestFollowFeedRefusals: refused credentials and an overloaded server are
// retried (the log says why, once), and the credentials travel as RFC 6749
// §2.3.1 says: form-encoded, then Basic.
func TestFollowFeedRefusals(t *testing.T) {
	fs := newFeedServer(t,
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		},
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("event: snapshot\ndata: {\"entries\":[],\"cursor\":\"1-0\"}\nid: 1-0\n\n")
			hold(write, r)
		},
	)
	m := revocation.NewMirror(revocation.MirrorOptions{})
	logs := followFeed(t, m, revocation.FeedOptions{URL: fs.URL, ClientID: "gate:way", ClientSecret: "s e/c+r%t"})
	eventually(t, "loaded after the 503", m.Current)
	fs.mu.Lock()
	auth := fs.auth[0]
	fs.mu.Unlock()
	// base64("gate%3Away:s+e%2Fc%2Br%25t")
	if want := "Basic Z2F0ZSUzQXdheTpzK2UlMkZjJTJCciUyNXQ="; auth != want {
		t.Errorf("Authorization = %q, want %q", auth, want)
	}
	if got := strings.Count(logs.String(), "revocation feed unreachable"); got != 1 || !strings.Contains(logs.String(), "503") {
		t.Errorf("want one outage line naming the 503, got:\n%s", logs)
	}
}

func TestFollowFeedBadOptions(t *testing.T) {
	m := revocation.NewMirror(revocation.MirrorOptions{})
	for _, opts := range []revocation.FeedOptions{
		{URL: "", ClientID: "g"},
		{URL: "ftp://auth.example/v1/revocations", ClientID: "g"},
		{URL: "/v1/revocations", ClientID: "g"},
		{URL: "https://auth.example/v1/revocations"},
	} {
		if err := revocation.FollowFeed(context.Background(), m, opts); err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("FollowFeed(%+v) = %v, want an error at once", opts, err)
		}
	}
}

// TestFollowFeedHostileLines: an over-long line or an undecodable event
// ends the stream (it is reopened), never the process.
func TestFollowFeedHostileLines(t *testing.T) {
	fs := newFeedServer(t,
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("event: snapshot\ndata: {\"entries\":[],\"cursor\":\"1-0\"}\nid: 1-0\n\n")
			write("id: 2-0\nevent: revocation\ndata: %s\n\n", strings.Repeat("x", 100<<10))
		},
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("id: 2-0\nevent: revocation\ndata: {\"kind\":\"sid\"}\n\n") // no value, no expiry
		},
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("id: 3-0\nevent: revocation\ndata: {\"kind\":\"sid\",\"value\":\"ok\",\"expires_at\":%d}\n\n", exp)
			hold(write, r)
		},
	)
	m := revocation.NewMirror(revocation.MirrorOptions{})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL})
	eventually(t, "recovered", isRevoked(m, revocation.Token{SID: "ok"}))
	if got := m.Cursor(); got != "3-0" {
		t.Fatalf("Cursor = %q", got)
	}
}

// TestFollowFeedBoundsAnEvent: an event whose data lines never end (each
// line within the bound, heartbeats in between) is cut off, not held.
func TestFollowFeedBoundsAnEvent(t *testing.T) {
	line := strings.Repeat("x", 60<<10)
	fs := newFeedServer(t,
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("event: snapshot\ndata: {\"entries\":[],\"cursor\":\"1-0\"}\nid: 1-0\n\n")
			write("id: 2-0\nevent: revocation\n")
			for range 100 { // 6 MB of one event
				write("data: %s\n: keep-alive\n", line)
			}
			<-r.Context().Done()
		},
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("id: 3-0\nevent: revocation\ndata: {\"kind\":\"sid\",\"value\":\"ok\",\"expires_at\":%d}\n\n", exp)
			hold(write, r)
		},
	)
	m := revocation.NewMirror(revocation.MirrorOptions{})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL})
	eventually(t, "the endless event was cut off and the feed reopened", isRevoked(m, revocation.Token{SID: "ok"}))
}

// TestFollowFeedIgnoresBadIDs: an id no header can carry (a control
// character) or longer than any cursor is ignored, as SSE ignores an id
// with NUL: the follower resumes from the last good one.
func TestFollowFeedIgnoresBadIDs(t *testing.T) {
	fs := newFeedServer(t,
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			write("event: snapshot\ndata: {\"entries\":[],\"cursor\":\"1-0\"}\nid: 1-0\n\n")
			write("id: 2\x01-0\nevent: revocation\ndata: {\"kind\":\"sid\",\"value\":\"s1\",\"expires_at\":%d}\n\n", exp)
			write("id: %s\nevent: revocation\ndata: {\"kind\":\"sid\",\"value\":\"s2\",\"expires_at\":%d}\n\n", strings.Repeat("9", 5000), exp)
		},
		func(w http.ResponseWriter, r *http.Request) {
			write := sse(w)
			hold(write, r)
		},
	)
	m := revocation.NewMirror(revocation.MirrorOptions{})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL})
	fs.waitConns(t, 2) // reconnected
	if got := fs.lastID(1); got != "1-0" {
		t.Fatalf("resumed with Last-Event-ID %.40q (%d bytes), want the last good id 1-0", got, len(got))
	}
	for _, sid := range []string{"s1", "s2"} {
		eventually(t, "kept", isRevoked(m, revocation.Token{SID: sid}))
	}
}

// TestFollowFeedBacksOffShortStreams: a stream that brings a snapshot and
// then drops (a proxy cutting responses) must not be reopened at once for
// ever: the backoff grows until a stream lasts.
func TestFollowFeedBacksOffShortStreams(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	restore := revocation.SetFeedWaitHook(func(d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	})
	defer restore()
	fs := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		write := sse(w)
		write("event: snapshot\ndata: {\"entries\":[],\"cursor\":\"1-0\"}\nid: 1-0\n\n")
	})
	m := revocation.NewMirror(revocation.MirrorOptions{})
	followFeed(t, m, revocation.FeedOptions{URL: fs.URL})
	eventually(t, "five reconnects", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(waits) < 5 {
			return fmt.Errorf("%d waits", len(waits))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if waits[4] < 800*time.Millisecond {
		t.Fatalf("waits before reconnecting %v: the backoff does not grow for streams that drop at once", waits[:5])
	}
}
