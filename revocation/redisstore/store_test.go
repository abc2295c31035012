package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/revocation/redisstore"
)

// TestRedisOutage kills the real server and starts it again: every call
// fails with ErrUnavailable while it is down, and the same store works again
// once it is back, without being rebuilt.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "outage:", OpTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	must(t, s.Ping(ctx))
	srv.Kill()
	calls := map[string]func() error{
		"Ping": func() error { return s.Ping(ctx) },
		"Check": func() error {
			return s.Check(ctx, revocation.Token{SID: "s", JTI: "j", Subject: "u", IssuedAt: time.Now()})
		},
		"RevokeSession": func() error { return s.RevokeSession(ctx, "u", "s", time.Minute) },
		"RevokeToken":   func() error { return s.RevokeToken(ctx, "j", time.Minute) },
		"RevokeSubject": func() error { return s.RevokeSubject(ctx, "u", time.Now(), time.Minute) },
		"Spend": func() error {
			_, err := s.Spend(ctx, revocation.Spend{SID: "s", JTI: "r", Child: revocation.Child{RefreshID: "r2"}, TTL: time.Minute})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, revocation.ErrUnavailable) {
			t.Errorf("%s with Redis down = %v, want %v", name, err, revocation.ErrUnavailable)
		}
	}
	srv.Restart(t)
	if err := redistest.Eventually(5*time.Second, func() error { return s.Ping(ctx) }); err != nil {
		t.Fatalf("store did not recover after Redis came back: %v", err)
	}
	for name, call := range calls {
		if err := call(); errors.Is(err, revocation.ErrUnavailable) {
			t.Errorf("%s after recovery = %v", name, err)
		}
	}
}

// TestRedisBlackHole: a server that accepts and never answers must not
// hang a call; each call gives up at its deadline with ErrUnavailable.
func TestRedisBlackHole(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: l.Addr().String(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	s := redisstore.New(redisstore.Options{Client: client, Prefix: "bh:", OpTimeout: 200 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		done <- s.Check(context.Background(), revocation.Token{SID: "s", Subject: "u", IssuedAt: time.Now()})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, revocation.ErrUnavailable) {
			t.Fatalf("Check against a silent server = %v, want %v", err, revocation.ErrUnavailable)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Check against a silent server never returned: the per-call deadline is not applied")
	}
}

// TestRedisCallerGone: a request whose client went away is not a store
// outage. Reads made for it fail with the caller's context.Canceled, not
// ErrUnavailable; writes are not interrupted half-way: a spend or a
// revocation with a cancelled caller is done (or cleanly not done), and
// never reports an outage of a healthy Redis.
func TestRedisCallerGone(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(redisstore.Options{Client: srv.Client(t), Prefix: "gone:"})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()

	reads := map[string]func() error{
		"Ping": func() error { return s.Ping(gone) },
		"Check": func() error {
			return s.Check(gone, revocation.Token{SID: "s", JTI: "j", Subject: "u", IssuedAt: time.Now()})
		},
		"Since": func() error { _, err := s.Since(gone, "1-0"); return err },
	}
	for name, read := range reads {
		if err := read(); !errors.Is(err, context.Canceled) || errors.Is(err, revocation.ErrUnavailable) {
			t.Errorf("%s(cancelled caller) = %v, want context.Canceled and not %v", name, err, revocation.ErrUnavailable)
		}
	}

	login, next := "rt-login", revocation.Child{RefreshID: "rt-2", ClientID: "app"}
	_, err := s.Spend(gone, revocation.Spend{SID: "s1", JTI: login, Subject: "u", Child: next, TTL: time.Minute})
	switch {
	case err == nil: // done: the chain moved on to the child
		if _, err := s.Spend(ctx, revocation.Spend{SID: "s1", JTI: next.RefreshID, Subject: "u", Child: revocation.Child{RefreshID: "rt-3"}, TTL: time.Minute}); err != nil {
			t.Errorf("Spend(child of the cancelled caller's spend) = %v, want nil: the spend was half done", err)
		}
	case errors.Is(err, revocation.ErrUnavailable):
		t.Errorf("Spend(cancelled caller) = %v: a healthy Redis reported as down", err)
	default: // cleanly not done: the login token is still the head
		if _, err := s.Spend(ctx, revocation.Spend{SID: "s1", JTI: login, Subject: "u", Child: next, TTL: time.Minute}); err != nil {
			t.Errorf("Spend(login token after a refused spend) = %v, want nil", err)
		}
	}
	if err := s.RevokeSession(gone, "u", "s2", time.Minute); err != nil {
		t.Errorf("RevokeSession(cancelled caller) = %v, want nil", err)
	}
	if err := s.Check(ctx, revocation.Token{SID: "s2", Subject: "u", IssuedAt: time.Now()}); !errors.Is(err, revocation.ErrRevoked) {
		t.Errorf("Check(session revoked by a cancelled caller) = %v, want %v", err, revocation.ErrRevoked)
	}
	if err := s.SpendCode(gone, "code", time.Minute); err != nil {
		t.Errorf("SpendCode(cancelled caller) = %v, want nil", err)
	}
}

// TestRedisFeedOutbox: when the feed cannot take an event (here the
// stream's key holds a string, so XADD fails), the revocation stands, the
// call says ErrFeedDelayed and not ErrUnavailable, and the event reaches
// the feed, in order, once Redis can take it: at the next publish, or
// from Run.
func TestRedisFeedOutbox(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	s := redisstore.New(redisstore.Options{Client: client, Prefix: "outbox:"})
	ctx := context.Background()
	cursor, _ := snapshot(t, s)
	must(t, client.Set(ctx, s.FeedKey(), "not a stream", 0).Err())

	if err := s.RevokeSession(ctx, "u", "s1", time.Hour); !errors.Is(err, revocation.ErrFeedDelayed) || errors.Is(err, revocation.ErrUnavailable) {
		t.Fatalf("RevokeSession(feed broken) = %v, want %v and not %v", err, revocation.ErrFeedDelayed, revocation.ErrUnavailable)
	}
	must(t, spendOnce(ctx, s, "s2", "rt"))
	_, err := s.Spend(ctx, revocation.Spend{SID: "s2", JTI: "rt", Subject: "u", Child: revocation.Child{RefreshID: "rt-x"}, TTL: time.Hour})
	if !errors.Is(err, revocation.ErrReused) || !errors.Is(err, revocation.ErrFeedDelayed) {
		t.Fatalf("Spend(reuse, feed broken) = %v, want %v joined with %v", err, revocation.ErrReused, revocation.ErrFeedDelayed)
	}
	for _, sid := range []string{"s1", "s2"} {
		if err := s.Check(ctx, revocation.Token{SID: sid, Subject: "u", IssuedAt: time.Now()}); !errors.Is(err, revocation.ErrRevoked) {
			t.Errorf("Check(%s, feed broken) = %v, want %v: the revocation must stand", sid, err, revocation.ErrRevoked)
		}
	}
	if n := s.Pending(); n != 2 {
		t.Fatalf("Pending() = %d, want 2", n)
	}

	// Redis can take events again: the next publish sends the backlog first.
	must(t, client.Del(ctx, s.FeedKey()).Err())
	must(t, s.RevokeToken(ctx, "j1", time.Hour))
	wantFeed(t, s, cursor, "s1", "s2", "j1")

	// And Run sends what waits without any other publish.
	must(t, client.Set(ctx, s.FeedKey(), "not a stream", 0).Err())
	if err := s.RevokeToken(ctx, "j2", time.Hour); !errors.Is(err, revocation.ErrFeedDelayed) {
		t.Fatalf("RevokeToken(feed broken) = %v, want %v", err, revocation.ErrFeedDelayed)
	}
	must(t, client.Del(ctx, s.FeedKey()).Err())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(runCtx); close(done) }()
	err = redistest.Eventually(10*time.Second, func() error {
		if n := s.Pending(); n != 0 {
			return fmt.Errorf("%d events still pending", n)
		}
		return nil
	})
	stop()
	<-done // Run returns once its context is done
	must(t, err)
	wantFeed(t, s, cursor, "j2")
}

func spendOnce(ctx context.Context, s revocation.Store, sid, jti string) error {
	_, err := s.Spend(ctx, revocation.Spend{SID: sid, JTI: jti, Subject: "u", Child: revocation.Child{RefreshID: jti + "-next"}, TTL: time.Hour})
	return err
}

// wantFeed asserts the feed after cursor holds exactly these values, in order.
func wantFeed(t *testing.T, s revocation.Store, cursor string, values ...string) {
	t.Helper()
	evs, err := s.Since(context.Background(), cursor)
	must(t, err)
	var got []string
	for _, e := range evs {
		got = append(got, e.Entry.Value)
	}
	if fmt.Sprint(got) != fmt.Sprint(values) {
		t.Fatalf("Since(%s) = %v, want %v", cursor, got, values)
	}
}

// TestRedisCursorAhead: a cursor ahead of everything the stream has made
// (a client's invention, or one from a primary the failover lost) is not
// a place to wait for events that may never come: it gets ErrCursorGone,
// so the reader takes a fresh snapshot, with an empty feed and with one.
func TestRedisCursorAhead(t *testing.T) {
	ctx := context.Background()
	s := redisstore.New(redisstore.Options{Client: redistest.Start(t).Client(t), Prefix: "ahead:"})
	ahead := func(cursor string) string {
		ms, _, _ := strings.Cut(cursor, "-")
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			t.Fatalf("cursor %q: %v", cursor, err)
		}
		return strconv.FormatInt(n+time.Hour.Milliseconds(), 10) + "-0"
	}
	for _, name := range []string{"empty feed", "feed with events"} {
		if name == "feed with events" {
			must(t, s.RevokeToken(ctx, "j1", time.Minute))
		}
		cursor, _ := snapshot(t, s)
		if _, err := s.Since(ctx, cursor); err != nil {
			t.Fatalf("%s: Since(snapshot cursor) = %v, want nil", name, err)
		}
		if evs, err := s.Since(ctx, ahead(cursor)); !errors.Is(err, revocation.ErrCursorGone) {
			t.Fatalf("%s: Since(a cursor an hour ahead) = %d events, %v; want %v", name, len(evs), err, revocation.ErrCursorGone)
		}
	}
}
