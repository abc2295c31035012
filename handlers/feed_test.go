package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/revocation/redisstore"
)

func fastFeed(_ *harness, o *handlers.Options) { o.FeedPoll = 20 * time.Millisecond }

type feedDoc struct {
	Cursor  string `json:"cursor"`
	Entries []struct {
		Kind      string `json:"kind"`
		Value     string `json:"value"`
		NotBefore *int64 `json:"not_before"`
		ExpiresAt int64  `json:"expires_at"`
	} `json:"entries"`
}

func TestRevocationsSnapshot(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH()
		backend := map[string]string{"Authorization": basic("backend", backendSecret), "Accept": "application/json"}
		tr := h.login(`{"sub":"alice","client_id":"app"}`)
		if w := h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}); w.Code != 204 {
			t.Fatal(w.Code)
		}
		bob := h.login(`{"sub":"bob","client_id":"app"}`)
		if w := h.do(req{method: "POST", path: "/v1/logout/all", header: map[string]string{"Authorization": "Bearer " + bob.AccessToken}}); w.Code != 204 {
			t.Fatal(w.Code)
		}
		w := h.do(req{method: "GET", path: "/v1/revocations", header: backend})
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /v1/revocations: %d %s", w.Code, w.Body)
		}
		var doc feedDoc
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.Cursor == "" {
			t.Fatalf("snapshot %s: %v", w.Body, err)
		}
		found := map[string]bool{}
		for _, e := range doc.Entries {
			switch {
			case e.Kind == "sid" && e.Value == tr.SessionID && e.NotBefore == nil && e.ExpiresAt > h.now.Unix():
				found["sid"] = true
			case e.Kind == "sub" && e.Value == "bob" && e.NotBefore != nil && *e.NotBefore == h.now.Unix():
				found["sub"] = true
			}
		}
		if !found["sid"] || !found["sub"] {
			t.Fatalf("snapshot %s lacks alice's session or bob's cut-off", w.Body)
		}
		for _, accept := range []string{"", "*/*", "application/json; charset=utf-8"} {
			if w := h.do(req{method: "GET", path: "/v1/revocations", header: map[string]string{"Authorization": basic("backend", backendSecret), "Accept": accept}}); w.Code != 200 {
				t.Fatalf("Accept %q: %d", accept, w.Code)
			}
		}
		wantError(t, "Accept text/html", h.do(req{method: "GET", path: "/v1/revocations", header: map[string]string{"Authorization": basic("backend", backendSecret), "Accept": "text/html"}}),
			406, "invalid_request", "Accept must be application/json or text/event-stream")
		wantError(t, "no client", h.do(req{method: "GET", path: "/v1/revocations"}), 401, "invalid_client", "client authentication failed")
		wantError(t, "no introspect grant", h.do(req{method: "GET", path: "/v1/revocations", header: map[string]string{"Authorization": basic("svc", backendSecret)}}),
			400, "unauthorized_client", "client lacks the introspect grant")
	})
}

// sse reads one event stream.
type sse struct {
	t   *testing.T
	res *http.Response
	sc  *bufio.Scanner
}

type sseEvent struct{ id, event, data string }

// openFeed serves h, opens a stream with no cursor and reads its snapshot;
// the server and its streams end with the test.
func openFeed(t *testing.T, h *harness) *sse {
	t.Helper()
	srv := httptest.NewServer(h.srv)
	t.Cleanup(srv.Close)
	t.Cleanup(h.srv.StopStreams) // runs first: streams end before Close waits for them
	st := openStream(t, srv.URL, "")
	if ev := st.next(); ev.event != "snapshot" {
		t.Fatalf("first event %+v, want the snapshot", ev)
	}
	return st
}

func openStream(t *testing.T, url, lastID string) *sse {
	t.Helper()
	r, _ := http.NewRequest("GET", url+"/v1/revocations", nil)
	r.Header.Set("Accept", "text/event-stream")
	r.SetBasicAuth("backend", backendSecret)
	if lastID != "" {
		r.Header.Set("Last-Event-ID", lastID)
	}
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream: %d %v", res.StatusCode, res.Header)
	}
	t.Cleanup(func() { res.Body.Close() })
	return &sse{t: t, res: res, sc: bufio.NewScanner(res.Body)}
}

// heartbeats reads the rest of the stream in the background: within(d)
// says whether a keep-alive arrives within d, drain drops what has been
// read so far.
func (s *sse) heartbeats() (within func(d time.Duration) bool, drain func()) {
	lines := make(chan string, 1000)
	go func() {
		for s.sc.Scan() {
			lines <- s.sc.Text()
		}
		close(lines)
	}()
	within = func(d time.Duration) bool {
		deadline := time.After(d)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					s.t.Fatal("stream ended")
				}
				if l == ": keep-alive" {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}
	drain = func() {
		for len(lines) > 0 {
			<-lines
		}
	}
	return within, drain
}

func (s *sse) next() sseEvent {
	s.t.Helper()
	var e sseEvent
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if e.event != "" {
				return e
			}
		case strings.HasPrefix(line, "id: "):
			e.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			e.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.data = strings.TrimPrefix(line, "data: ")
		}
	}
	s.t.Fatalf("event stream ended: %v", s.sc.Err())
	return e
}

func TestRevocationsStream(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		h := newH(fastFeed)
		srv := httptest.NewServer(h.srv)
		defer srv.Close()
		defer h.srv.StopStreams()

		st := openStream(t, srv.URL, "")
		first := st.next()
		var snap feedDoc
		if first.event != "snapshot" || json.Unmarshal([]byte(first.data), &snap) != nil || first.id != snap.Cursor {
			t.Fatalf("first event = %+v, want the snapshot with its cursor as id", first)
		}
		tr := h.login(`{"sub":"alice","client_id":"app"}`)
		if w := h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}); w.Code != 204 {
			t.Fatal(w.Code)
		}
		ev := st.next()
		var e struct{ Kind, Value string }
		if ev.event != "revocation" || json.Unmarshal([]byte(ev.data), &e) != nil || e.Kind != "sid" || e.Value != tr.SessionID || ev.id == "" {
			t.Fatalf("after logout: event %+v, want a revocation of %s", ev, tr.SessionID)
		}

		// Reconnect inside the history: no snapshot, just what came after.
		tr2 := h.login(`{"sub":"bob","client_id":"app"}`)
		if w := h.do(req{method: "POST", path: "/oauth/revoke", body: form("token", tr2.AccessToken, "client_id", "app"), ctype: "application/x-www-form-urlencoded"}); w.Code != 200 {
			t.Fatal(w.Code)
		}
		resumed := openStream(t, srv.URL, ev.id).next()
		if resumed.event != "revocation" || !strings.Contains(resumed.data, `"kind":"jti"`) {
			t.Fatalf("resumed stream starts with %+v, want the jti revocation", resumed)
		}
		// A cursor older than the history (or not ours) gets a fresh snapshot first.
		for _, old := range []string{"1000-1", "garbage"} {
			if got := openStream(t, srv.URL, old).next(); got.event != "snapshot" || !strings.Contains(got.data, tr.SessionID) {
				t.Fatalf("Last-Event-ID %q: first event %+v, want a snapshot", old, got)
			}
		}
		// Shutdown ends open streams: the server closes the body, which
		// reads to a clean end well before the client's 20 s timeout
		// (a stream StopStreams missed would end in that timeout's error).
		h.srv.StopStreams()
		for st.sc.Scan() {
		}
		if err := st.sc.Err(); err != nil {
			t.Fatalf("event stream after StopStreams ended with %v, want a clean end", err)
		}
	})
}

func TestRevocationsStoreDown(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t, withRedis(srv))
	srv.Kill()
	for _, accept := range []string{"application/json", "text/event-stream"} {
		wantError(t, "feed with Redis down, "+accept, h.do(req{method: "GET", path: "/v1/revocations", header: map[string]string{"Authorization": basic("backend", backendSecret), "Accept": accept}}),
			503, "temporarily_unavailable", "revocation store unavailable; retry later")
	}
}

// countingStore counts the Since calls the feed makes.
type countingStore struct {
	revocation.Store
	since atomic.Int64
}

func (c *countingStore) Since(ctx context.Context, cursor string) ([]revocation.Event, error) {
	c.since.Add(1)
	return c.Store.Since(ctx, cursor)
}

// TestRevocationsStreamCatchesUp: a subscriber resuming behind a flood of
// 20,000 revocations gets all of them and the real logout after them
// before it waits once. The poll interval is an hour, so nothing that
// arrives can have waited for a tick; a stream that waits between batches
// stalls here until the client gives up.
func TestRevocationsStreamCatchesUp(t *testing.T) {
	forEachStore(t, func(t *testing.T, newH func(...func(*harness, *handlers.Options)) *harness) {
		var cs *countingStore
		h := newH(func(_ *harness, o *handlers.Options) {
			o.FeedPoll = time.Hour
			cs = &countingStore{Store: o.Store}
			o.Store = cs
		})
		srv := httptest.NewServer(h.srv)
		defer srv.Close()
		defer h.srv.StopStreams()
		ctx := context.Background()

		cursor := feedCursor(t, srv.URL)
		// Five batches of Since are enough to show the catch-up; more only
		// slows the race-detector run on Redis past the stream's client timeout.
		const flood = 5_000
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < flood; i += 8 {
					if err := h.store.RevokeToken(ctx, fmt.Sprintf("flood-%d", i), time.Hour); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("RevokeToken: %v", err)
		}
		tr := h.login(`{"sub":"alice","client_id":"app"}`)
		if w := h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}); w.Code != 204 {
			t.Fatalf("POST /v1/logout: %d %s", w.Code, w.Body)
		}

		cs.since.Store(0)
		st := openStream(t, srv.URL, cursor)
		seen := map[string]bool{}
		for i := 0; i < flood; i++ {
			ev := st.next()
			var e struct{ Kind, Value string }
			if ev.event != "revocation" || json.Unmarshal([]byte(ev.data), &e) != nil || e.Kind != "jti" {
				t.Fatalf("event %d = %+v, want a jti revocation", i, ev)
			}
			seen[e.Value] = true
		}
		if len(seen) != flood {
			t.Fatalf("the flood arrived as %d distinct jtis, want %d", len(seen), flood)
		}
		ev := st.next()
		if ev.event != "revocation" || !strings.Contains(ev.data, tr.SessionID) {
			t.Fatalf("after the flood: %+v, want the logout of %s", ev, tr.SessionID)
		}
		// One Since per batch of at most 1,000, and none wasted: the
		// subscriber is caught up in ceil(5,001/1,000) calls; the short
		// last batch ends the catch-up without an empty read after it.
		if n := cs.since.Load(); n != 6 {
			t.Errorf("Since calls to catch up on %d events: %d, want 6", flood+1, n)
		}
	})
}

// feedCursor reads the snapshot's cursor from the JSON feed.
func feedCursor(t *testing.T, url string) string {
	t.Helper()
	r, _ := http.NewRequest("GET", url+"/v1/revocations", nil)
	r.Header.Set("Accept", "application/json")
	r.SetBasicAuth("backend", backendSecret)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc feedDoc
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || doc.Cursor == "" {
		t.Fatalf("GET /v1/revocations: %d, cursor %q, %v", res.StatusCode, doc.Cursor, err)
	}
	return doc.Cursor
}

// failingSnapshot emits the first `after` entries of the real snapshot,
// then fails as a store outage would.
type failingSnapshot struct {
	revocation.Store
	after int
}

func (f failingSnapshot) Snapshot(ctx context.Context, emit func(revocation.Entry) error) (string, error) {
	n := 0
	_, err := f.Store.Snapshot(ctx, func(e revocation.Entry) error {
		if n == f.after {
			return fmt.Errorf("%w: scan: connection reset", revocation.ErrUnavailable)
		}
		n++
		return emit(e)
	})
	return "", err
}

// TestRevocationsSnapshotStreamed: the JSON snapshot is written as the
// store reads it. A store that fails before the first entry still gets a
// 503; one that fails later aborts the connection, so the client's read
// fails instead of returning a short document.
func TestRevocationsSnapshotStreamed(t *testing.T) {
	revokeFive := func(t *testing.T, h *harness) {
		t.Helper()
		for i := 0; i < 5; i++ {
			if err := h.store.RevokeToken(context.Background(), fmt.Sprintf("jti-%d", i), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("fails at once", func(t *testing.T) {
		h := newHarness(t, func(_ *harness, o *handlers.Options) { o.Store = failingSnapshot{Store: o.Store, after: 0} })
		revokeFive(t, h)
		w := h.do(req{method: "GET", path: "/v1/revocations", header: map[string]string{"Authorization": basic("backend", backendSecret), "Accept": "application/json"}})
		wantError(t, "snapshot failing at once", w, 503, "temporarily_unavailable", "revocation store unavailable; retry later")
	})
	t.Run("fails mid-way", func(t *testing.T) {
		h := newHarness(t, func(_ *harness, o *handlers.Options) { o.Store = failingSnapshot{Store: o.Store, after: 2} })
		revokeFive(t, h)
		srv := httptest.NewServer(h.srv)
		defer srv.Close()
		r, _ := http.NewRequest("GET", srv.URL+"/v1/revocations", nil)
		r.Header.Set("Authorization", basic("backend", backendSecret))
		r.Header.Set("Accept", "application/json")
		// The abort shows as an error of the request itself (nothing was
		// flushed yet) or of reading its body; never as a whole answer.
		if res, err := srv.Client().Do(r); err == nil {
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil {
				t.Fatalf("GET /v1/revocations with a store failing mid-way: read %d %q without error, want the connection aborted", res.StatusCode, body)
			}
		}
		if !strings.Contains(h.logs.String(), "revocation snapshot cut short") {
			t.Errorf("no warning logged for the cut-short snapshot; logs:\n%s", h.logs)
		}
	})
}

// TestFeedPublishFailure: a logout, a logout/all or a reuse detection
// whose feed event cannot be published (here the stream's key holds a
// string) is still done: 204 (or the reuse answer), a warning, a count in
// jwtd_revocation_feed_publish_failures_total, and the events reach the
// feed, in order, once Redis can take them.
func TestFeedPublishFailure(t *testing.T) {
	redisSrv := redistest.Start(t)
	client := redisSrv.Client(t)
	h := newHarness(t, noGrace, func(h *harness, o *handlers.Options) {
		o.Store = redisstore.New(redisstore.Options{Client: client, Prefix: "fd:", Now: h.clock})
		o.FeedPoll = 20 * time.Millisecond
	})
	srv := httptest.NewServer(h.srv)
	defer srv.Close()
	defer h.srv.StopStreams()
	ctx := context.Background()
	cursor := feedCursor(t, srv.URL)
	if err := client.Set(ctx, "fd:revocations", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}

	alice := h.login(`{"sub":"alice","client_id":"app"}`)
	if w := h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + alice.AccessToken}}); w.Code != 204 {
		t.Fatalf("POST /v1/logout with the feed broken: %d %s, want 204", w.Code, w.Body)
	}
	bob := h.login(`{"sub":"bob","client_id":"app"}`)
	h.refreshOK(bob.RefreshToken)
	wantError(t, "reuse with the feed broken", h.do(h.refreshReq(bob.RefreshToken, nil)), 400, "invalid_grant", "refresh token already used; the session is revoked")
	carol := h.login(`{"sub":"carol","client_id":"app"}`)
	if w := h.do(req{method: "POST", path: "/v1/logout/all", header: map[string]string{"Authorization": "Bearer " + carol.AccessToken}}); w.Code != 204 {
		t.Fatalf("POST /v1/logout/all with the feed broken: %d %s, want 204", w.Code, w.Body)
	}
	for name, at := range map[string]string{"alice": alice.AccessToken, "bob": bob.AccessToken, "carol": carol.AccessToken} {
		if code := h.sessionStatus(at); code != 401 {
			t.Errorf("%s's access token after a revocation with the feed broken: %d, want 401", name, code)
		}
	}
	if got := h.counter("jwtd_revocation_feed_publish_failures_total"); got != 3 {
		t.Errorf("jwtd_revocation_feed_publish_failures_total = %v, want 3", got)
	}
	if got := h.counter("jwtd_revocation_store_errors_total"); got != 0 {
		t.Errorf("jwtd_revocation_store_errors_total = %v, want 0: the store is not down", got)
	}
	if logs := h.logs.String(); strings.Count(logs, `"msg":"revocation done but its feed event is delayed; the store retries it"`) != 3 || !strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("want 3 warnings about the delayed feed events:\n%s", logs)
	}

	// Redis takes events again; the next revocation publishes the backlog first.
	if err := client.Del(ctx, "fd:revocations").Err(); err != nil {
		t.Fatal(err)
	}
	dave := h.login(`{"sub":"dave","client_id":"app"}`)
	if w := h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + dave.AccessToken}}); w.Code != 204 {
		t.Fatalf("POST /v1/logout: %d %s", w.Code, w.Body)
	}
	st := openStream(t, srv.URL, cursor)
	for _, want := range []string{alice.SessionID, bob.SessionID, `"carol"`, dave.SessionID} {
		if ev := st.next(); ev.event != "revocation" || !strings.Contains(ev.data, want) {
			t.Fatalf("feed event %+v, want the revocation of %s", ev, want)
		}
	}
}

// blockingSnapshot holds every Snapshot until release is closed.
type blockingSnapshot struct {
	revocation.Store
	entered chan struct{}
	release chan struct{}
}

func (b blockingSnapshot) Snapshot(ctx context.Context, emit func(revocation.Entry) error) (string, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.Snapshot(ctx, emit)
}

// TestRevocationsSnapshotSlots: snapshots are costly on a large denylist,
// so only a few run at once; one that finds no slot in time is a 503 with
// Retry-After, not a pile of concurrent scans that time out against a
// healthy Redis and are counted as outages.
func TestRevocationsSnapshotSlots(t *testing.T) {
	bs := blockingSnapshot{entered: make(chan struct{}, 8), release: make(chan struct{})}
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		bs.Store = o.Store
		o.Store = bs
		o.SnapshotSlots = 1
	})
	handlers.SetSnapshotWait(h.srv, 50*time.Millisecond)
	feed := req{method: "GET", path: "/v1/revocations", header: map[string]string{"Authorization": basic("backend", backendSecret), "Accept": "application/json"}}
	first := make(chan int)
	go func() { first <- h.do(feed).Code }()
	<-bs.entered // the first snapshot holds the only slot
	wantError(t, "a second snapshot while the slot is held", h.do(feed), 503, "temporarily_unavailable", "too many revocation snapshots in progress; retry later")
	close(bs.release)
	if code := <-first; code != 200 {
		t.Fatalf("the first snapshot: %d, want 200", code)
	}
	if w := h.do(feed); w.Code != 200 {
		t.Fatalf("a snapshot after the slot is free: %d %s", w.Code, w.Body)
	}
}

// TestRevocationsStreamCap: open event streams are bounded; one more is a
// 503 until one ends.
func TestRevocationsStreamCap(t *testing.T) {
	h := newHarness(t, func(_ *harness, o *handlers.Options) { o.MaxStreams = 2 })
	srv := httptest.NewServer(h.srv)
	defer srv.Close()
	defer h.srv.StopStreams()
	a := openStream(t, srv.URL, "")
	openStream(t, srv.URL, "")
	r, _ := http.NewRequest("GET", srv.URL+"/v1/revocations", nil)
	r.Header.Set("Accept", "text/event-stream")
	r.SetBasicAuth("backend", backendSecret)
	res, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream with MaxStreams 2: %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	a.res.Body.Close()
	if err := redistest.Eventually(5*time.Second, func() error {
		res, err := srv.Client().Do(r.Clone(context.Background()))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}); err != nil {
		t.Fatalf("a stream after one of two ended: %v", err)
	}
}

// TestRevocationsAcceptQuality: a media type with q=0 is "not acceptable"
// (RFC 9110 §12.4.2), so it neither chooses the stream nor the snapshot.
func TestRevocationsAcceptQuality(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		accept, wantType string
		wantStatus       int
	}{
		{"text/event-stream;q=0, application/json", "application/json", 200},
		{"application/json;q=0", "", 406},
		{"application/json;q=0.5", "application/json", 200},
	}
	for _, tt := range tests {
		// A stream chosen by mistake would never end: bound the request.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r := httptest.NewRequest("GET", "/v1/revocations", nil).WithContext(ctx)
		r.Header.Set("Authorization", basic("backend", backendSecret))
		r.Header.Set("Accept", tt.accept)
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, r)
		cancel()
		if w.Code != tt.wantStatus || (tt.wantType != "" && !strings.HasPrefix(w.Header().Get("Content-Type"), tt.wantType)) {
			t.Errorf("GET /v1/revocations with Accept %q: %d %s, want %d %s", tt.accept, w.Code, w.Header().Get("Content-Type"), tt.wantStatus, tt.wantType)
		}
	}
}

// TestRevocationsStreamWakesAtOnce: on a store that says when it has news
// (the memory store; the mirror jwtd keeps of Redis), an event reaches an
// open stream without waiting for a poll (here, polls are an hour apart).
func TestRevocationsStreamWakesAtOnce(t *testing.T) {
	mirrored := func(h *harness, o *handlers.Options) {
		m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: time.Hour})
		if err := m.Load(func(emit func(revocation.Entry) error) (string, error) {
			return o.Store.Snapshot(context.Background(), emit)
		}); err != nil {
			t.Fatal(err)
		}
		o.Store = revocation.NewMirrored(o.Store, m)
	}
	for name, tweak := range map[string]func(*harness, *handlers.Options){"memory": func(*harness, *handlers.Options) {}, "mirrored": mirrored} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tweak, func(_ *harness, o *handlers.Options) { o.FeedPoll = time.Hour })
			st := openFeed(t, h)
			for _, sub := range []string{"alice", "bob", "carol"} {
				tr := h.login(`{"sub":"` + sub + `","client_id":"app"}`)
				if w := h.do(req{method: "POST", path: "/v1/logout", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}}); w.Code != 204 {
					t.Fatal(w.Code)
				}
				if ev := st.next(); ev.event != "revocation" || !strings.Contains(ev.data, tr.SessionID) {
					t.Fatalf("after the logout of %s: %+v", sub, ev)
				}
			}
		})
	}
}

// TestRevocationsHeartbeatOnlyWhenCurrent: a heartbeat says "nothing
// revoked since, and I know it", so a replica whose mirror is stale sends
// none, and its followers go stale too instead of trusting it.
func TestRevocationsHeartbeatOnlyWhenCurrent(t *testing.T) {
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: 100 * time.Millisecond})
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		if err := m.Load(func(emit func(revocation.Entry) error) (string, error) {
			return o.Store.Snapshot(context.Background(), emit)
		}); err != nil {
			t.Fatal(err)
		}
		o.Store = revocation.NewMirrored(o.Store, m)
		o.FeedHeartbeat = 20 * time.Millisecond
	})
	st := openFeed(t, h)
	heartbeats, drain := st.heartbeats()
	stop := make(chan struct{})
	go func() { // the follower keeps the mirror current
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				m.Touch()
			}
		}
	}()
	if !heartbeats(5 * time.Second) {
		t.Fatal("no heartbeat while the mirror is current")
	}
	close(stop)
	stale := func() error {
		if m.Current() == nil {
			return fmt.Errorf("still current")
		}
		return nil
	}
	if err := redistest.Eventually(5*time.Second, stale); err != nil {
		t.Fatal("setup: the mirror never went stale")
	}
	drain()                           // what was sent before it went stale
	time.Sleep(50 * time.Millisecond) // a heartbeat already being written
	drain()
	if heartbeats(300 * time.Millisecond) {
		t.Fatal("a heartbeat while the mirror is stale")
	}
	m.Touch()
	if !heartbeats(5 * time.Second) {
		t.Fatal("no heartbeat once the mirror is current again")
	}
}

// watchingCountingStore is a countingStore that passes on its store's news.
type watchingCountingStore struct {
	*countingStore
	w interface{ Changed() <-chan struct{} }
}

func (s watchingCountingStore) Changed() <-chan struct{} { return s.w.Changed() }

// TestRevocationsStreamCoalescesBursts: a burst of revocations wakes a
// stream at each one, yet it reads the store a few times, not once per
// revocation (each read brings what came meanwhile), and misses none.
func TestRevocationsStreamCoalescesBursts(t *testing.T) {
	var cs *countingStore
	var mem *revocation.MemoryStore
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		o.FeedPoll = time.Hour
		mem = o.Store.(*revocation.MemoryStore)
		cs = &countingStore{Store: o.Store}
		o.Store = watchingCountingStore{countingStore: cs, w: mem}
	})
	st := openFeed(t, h)
	before := cs.since.Load()
	const n = 300
	for i := range n {
		if err := mem.RevokeToken(context.Background(), fmt.Sprintf("burst-%d", i), time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // let the stream wake in between
	}
	for i := range n {
		if ev := st.next(); ev.event != "revocation" || !strings.Contains(ev.data, fmt.Sprintf(`"burst-%d"`, i)) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	if reads := cs.since.Load() - before; reads > n/2 {
		t.Fatalf("%d revocations cost %d reads of the store", n, reads)
	}
}

// goneStore answers Since with ErrCursorGone and fails every Snapshot
// while broken is set: a stream that fell behind the history and cannot
// get its fresh snapshot.
type goneStore struct {
	revocation.Store
	w      interface{ Changed() <-chan struct{} }
	broken atomic.Bool
}

func (g *goneStore) Changed() <-chan struct{} { return g.w.Changed() }

func (g *goneStore) Since(ctx context.Context, cursor string) ([]revocation.Event, error) {
	if g.broken.Load() {
		return nil, revocation.ErrCursorGone
	}
	return g.Store.Since(ctx, cursor)
}

func (g *goneStore) Snapshot(ctx context.Context, emit func(revocation.Entry) error) (string, error) {
	if g.broken.Load() {
		return "", fmt.Errorf("%w: snapshot refused", revocation.ErrUnavailable)
	}
	return g.Store.Snapshot(ctx, emit)
}

// TestRevocationsNoHeartbeatWhileBehind: a stream whose cursor is gone
// and whose fresh snapshot failed has missed events; a heartbeat would
// tell its follower it is current. None goes until the snapshot does.
func TestRevocationsNoHeartbeatWhileBehind(t *testing.T) {
	var g *goneStore
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		g = &goneStore{Store: o.Store, w: o.Store.(*revocation.MemoryStore)}
		o.Store = g
		o.FeedHeartbeat = 20 * time.Millisecond
		o.FeedPoll = 50 * time.Millisecond
	})
	st := openFeed(t, h)
	heartbeat, drain := st.heartbeats()
	if !heartbeat(5 * time.Second) {
		t.Fatal("no heartbeat while healthy")
	}
	g.broken.Store(true)
	if err := g.Store.RevokeToken(context.Background(), "wake", time.Hour); err != nil { // wake it: Since says gone
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the failed snapshot, and a heartbeat already on its way
	drain()
	if heartbeat(300 * time.Millisecond) {
		t.Fatal("a heartbeat from a stream that is behind and has no snapshot")
	}
	g.broken.Store(false)
	if !heartbeat(5 * time.Second) {
		t.Fatal("no heartbeat once the stream has its snapshot again")
	}
}
