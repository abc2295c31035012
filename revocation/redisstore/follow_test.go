package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/revocation/redisstore"
	"github.com/redis/go-redis/v9"
)

// follow starts s.Follow(m) for the test's life and waits for the first
// snapshot.
func follow(t *testing.T, s *redisstore.Store, m *revocation.Mirror) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Follow(ctx, m, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := redistest.Eventually(10*time.Second, m.Current); err != nil {
		t.Fatalf("mirror never current: %v", err)
	}
}

// refused waits until the mirror refuses tok.
func refused(t *testing.T, m *revocation.Mirror, tok revocation.Token) {
	t.Helper()
	err := redistest.Eventually(10*time.Second, func() error {
		if err := m.Check(context.Background(), tok); !errors.Is(err, revocation.ErrRevoked) {
			return fmt.Errorf("Check = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%+v never refused: %v", tok, err)
	}
}

// TestFollow: a mirror on one replica learns what another replica revokes,
// entries from before it started (the snapshot) and after (the stream),
// and stays current while nothing happens.
func TestFollow(t *testing.T) {
	srv := redistest.Start(t)
	a := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "f:"})
	b := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "f:"})
	must(t, a.RevokeSession(ctx, "alice", "before", time.Hour))
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: 3 * time.Second})
	follow(t, b, m)
	refused(t, m, revocation.Token{SID: "before"})

	must(t, a.RevokeSession(ctx, "alice", "after", time.Hour))
	must(t, a.RevokeToken(ctx, "jti-1", time.Hour))
	must(t, a.RevokeSubject(ctx, "bob", time.Now(), time.Hour))
	refused(t, m, revocation.Token{SID: "after"})
	refused(t, m, revocation.Token{JTI: "jti-1"})
	refused(t, m, revocation.Token{Subject: "bob", IssuedAt: time.Now().Add(-time.Minute)})

	// Idle for longer than the bound: the blocking reads keep it current.
	time.Sleep(4 * time.Second)
	must(t, m.Current())
}

// TestFollowRedisRestart: Redis killed under a follower makes its mirror
// stale (Check cannot vouch), and once Redis is back (persisted, the
// production setup) the mirror is current again and learns new events.
func TestFollowRedisRestart(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	s := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "r:", OpTimeout: 300 * time.Millisecond})
	must(t, s.RevokeSession(ctx, "alice", "s1", time.Hour))
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: time.Second})
	follow(t, s, m)
	refused(t, m, revocation.Token{SID: "s1"})

	srv.Kill()
	err := redistest.Eventually(10*time.Second, func() error {
		if err := m.Check(ctx, revocation.Token{SID: "fine"}); !errors.Is(err, revocation.ErrStale) {
			return fmt.Errorf("Check = %v, want ErrStale", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refused(t, m, revocation.Token{SID: "s1"}) // what it knows stays refused

	srv.Restart(t)
	if err := redistest.Eventually(15*time.Second, m.Current); err != nil {
		t.Fatalf("mirror not current after Redis came back: %v", err)
	}
	must(t, s.RevokeSession(ctx, "alice", "s2", time.Hour))
	refused(t, m, revocation.Token{SID: "s2"})
}

// TestFollowAfterAGap: events the stream trimmed before the follower read
// them (XREAD would skip them silently) are not lost: the follower checks
// its cursor first, finds it gone, and takes a fresh snapshot.
func TestFollowAfterAGap(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "g:", FeedMaxLen: 10})
	must(t, s.RevokeSession(ctx, "alice", "s0", time.Hour))
	m := revocation.NewMirror(revocation.MirrorOptions{})
	must(t, m.Load(func(emit func(revocation.Entry) error) (string, error) { return s.Snapshot(ctx, emit) }))
	for i := range 300 { // far past MAXLEN ~ 10
		must(t, s.RevokeSession(ctx, "alice", fmt.Sprintf("gap-%d", i), time.Hour))
	}
	if _, err := s.Since(ctx, m.Cursor()); !errors.Is(err, revocation.ErrCursorGone) {
		t.Fatalf("setup: the mirror's cursor is not gone (Since = %v)", err)
	}
	follow(t, s, m)
	for i := range 300 {
		refused(t, m, revocation.Token{SID: fmt.Sprintf("gap-%d", i)})
	}
}

// TestFollowCluster follows the stream on a real cluster.
func TestFollowCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	s := redisstore.New(redisstore.Options{Client: c.Client(t), Prefix: "c:"})
	m := revocation.NewMirror(revocation.MirrorOptions{})
	follow(t, s, m)
	for i := range 20 {
		must(t, s.RevokeSession(ctx, fmt.Sprintf("u%d", i), fmt.Sprintf("s%d", i), time.Hour))
	}
	for i := range 20 {
		refused(t, m, revocation.Token{SID: fmt.Sprintf("s%d", i)})
	}
}

// TestFollowedMirrorAnswersSince: a followed mirror answers a feed's Since
// from memory exactly as Redis does, for every cursor it has seen, and
// defers to the store for one older than its snapshot or ahead of it.
func TestFollowedMirrorAnswersSince(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "since:"})
	must(t, s.RevokeSession(ctx, "u", "before", time.Hour))
	old, _ := snapshot(t, s)
	m := revocation.NewMirror(revocation.MirrorOptions{})
	follow(t, s, m)
	for i := range 50 {
		must(t, s.RevokeSession(ctx, "u", fmt.Sprintf("s%d", i), time.Hour))
	}
	refused(t, m, revocation.Token{SID: "s49"})
	cursors := []string{}
	evs, err := s.Since(ctx, old)
	must(t, err)
	for _, ev := range evs {
		cursors = append(cursors, ev.Cursor)
	}
	if len(cursors) < 50 {
		t.Fatalf("setup: %d events", len(cursors))
	}
	mirrored := revocation.NewMirrored(s, m)
	for _, cur := range cursors[1:] { // the first event may predate the mirror's snapshot
		want, err := s.Since(ctx, cur)
		must(t, err)
		got, ok := m.Since(cur)
		if !ok {
			t.Fatalf("Since(%s): the mirror defers, want it to answer", cur)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Since(%s): mirror %v, store %v", cur, got, want)
		}
		viaStore, err := mirrored.Since(ctx, cur)
		must(t, err)
		if fmt.Sprint(viaStore) != fmt.Sprint(want) {
			t.Fatalf("Mirrored.Since(%s) = %v, want %v", cur, viaStore, want)
		}
	}
	if _, ok := m.Since("1000-0"); ok {
		t.Fatal("a cursor older than the mirror's snapshot was answered from memory")
	}
	if _, ok := m.Since(fmt.Sprintf("%d-0", time.Now().Add(time.Hour).UnixMilli())); ok {
		t.Fatal("a cursor ahead of the mirror was answered from memory")
	}
	if _, ok := m.Since("garbage"); ok {
		t.Fatal("a malformed cursor was answered from memory")
	}
}

// freezer is a TCP proxy to Redis that can stop forwarding, as a replica
// that is paused (a VM suspended, a container frozen) stops reading.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	thaw   chan struct{}
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, thaw: make(chan struct{})}
	close(f.thaw)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go f.pipe(c, r)
			go f.pipe(r, c)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			thaw := f.thaw
			f.mu.Unlock()
			<-thaw
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.thaw = make(chan struct{})
}

func (f *freezer) unfreeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.thaw)
}

// TestFollowPausedPastTheTrim: a follower that stops reading (paused)
// while more revocations come than the stream keeps resumes with a
// successful read from a cursor whose successors were trimmed. It must
// notice the gap and take a snapshot, not skip the trimmed revocations.
func TestFollowPausedPastTheTrim(t *testing.T) {
	srv := redistest.Start(t)
	writer := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "p:", FeedMaxLen: 10})
	fr := newFreezer(t, srv.Addr)
	c := redis.NewClient(&redis.Options{Addr: fr.ln.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	reader := redisstore.New(redisstore.Options{Client: c, Prefix: "p:", FeedMaxLen: 10, OpTimeout: 30 * time.Second})
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: time.Hour})
	follow(t, reader, m)
	must(t, writer.RevokeSession(ctx, "u", "warm-up", time.Hour))
	refused(t, m, revocation.Token{SID: "warm-up"})
	// An old deletion (an operator's XDEL) sets max-deleted-entry-id below
	// the cursor: the trim must still be noticed.
	first, err := srv.Client(t).XRangeN(ctx, writer.FeedKey(), "-", "+", 1).Result()
	must(t, err)
	must(t, srv.Client(t).XDel(ctx, writer.FeedKey(), first[0].ID).Err())
	time.Sleep(100 * time.Millisecond) // blocked in its next read

	fr.freeze()
	for i := range 300 { // far past MAXLEN ~ 10
		must(t, writer.RevokeSession(ctx, "u", fmt.Sprintf("paused-%d", i), time.Hour))
	}
	fr.unfreeze()
	for i := range 300 {
		refused(t, m, revocation.Token{SID: fmt.Sprintf("paused-%d", i)})
	}
}
