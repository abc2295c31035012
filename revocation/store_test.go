package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
)

// clock is the stores' injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// subject is one store under test.
type subject struct {
	store revocation.Store
	clock *clock
	// expireAll lets every TTL given so far pass and returns how many
	// entries are left.
	expireAll func(t *testing.T) int
}

var seq atomic.Int64

func id(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

func child(at time.Time, client, scope string) revocation.Child {
	return revocation.Child{IssuedAt: at.Truncate(time.Second), AccessID: id("at"), RefreshID: id("rt"), ClientID: client, Scope: scope}
}

// testStore is the contract every revocation store passes.
func testStore(t *testing.T, newStore func(t *testing.T) subject) {
	ctx := context.Background()
	const ttl = time.Hour

	t.Run("denylist", func(t *testing.T) {
		s := newStore(t)
		now := s.clock.Now()
		sid, jti, sub := id("sid"), id("jti"), id("sub")
		if err := s.store.Check(ctx, revocation.Token{SID: sid, JTI: jti, Subject: sub, IssuedAt: now}); err != nil {
			t.Fatalf("Check(fresh) = %v, want nil", err)
		}
		must(t, s.store.RevokeSession(ctx, sid, ttl))
		must(t, s.store.RevokeToken(ctx, jti, ttl))
		must(t, s.store.RevokeSubject(ctx, sub, now, ttl))
		tests := []struct {
			name string
			tok  revocation.Token
			want error
		}{
			{"revoked sid", revocation.Token{SID: sid, JTI: id("j"), Subject: "x", IssuedAt: now}, revocation.ErrRevoked},
			{"revoked jti", revocation.Token{JTI: jti, Subject: "x", IssuedAt: now}, revocation.ErrRevoked},
			{"issued at the cut-off", revocation.Token{SID: id("s"), JTI: id("j"), Subject: sub, IssuedAt: now}, revocation.ErrRevoked},
			{"issued before the cut-off", revocation.Token{JTI: id("j"), Subject: sub, IssuedAt: now.Add(-time.Hour)}, revocation.ErrRevoked},
			{"issued after the cut-off", revocation.Token{JTI: id("j"), Subject: sub, IssuedAt: now.Add(time.Second)}, nil},
			{"other session", revocation.Token{SID: id("s"), JTI: id("j"), Subject: "x", IssuedAt: now}, nil},
		}
		for _, tt := range tests {
			if err := s.store.Check(ctx, tt.tok); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Check(%s) = %v, want %v", tt.name, err, tt.want)
			}
		}
		// An earlier cut-off never lowers a later one.
		must(t, s.store.RevokeSubject(ctx, sub, now.Add(-time.Hour), ttl))
		if err := s.store.Check(ctx, revocation.Token{Subject: sub, IssuedAt: now}); !errors.Is(err, revocation.ErrRevoked) {
			t.Errorf("Check after an earlier second cut-off = %v, want %v", err, revocation.ErrRevoked)
		}
	})

	t.Run("rotation chain", func(t *testing.T) {
		s := newStore(t)
		sid, first := id("sid"), id("rt")
		c1 := child(s.clock.Now(), "app", "read")
		out, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: c1, Grace: 10 * time.Second, TTL: ttl})
		if err != nil || out.Retry || out.Child != c1 {
			t.Fatalf("Spend(login token) = %+v, %v; want the new child", out, err)
		}
		s.clock.Advance(time.Minute)
		c2 := child(s.clock.Now(), "app", "read")
		if out, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: c1.RefreshID, Child: c2, Grace: 10 * time.Second, TTL: ttl}); err != nil || out.Child != c2 {
			t.Fatalf("Spend(newest) = %+v, %v", out, err)
		}
		// The login token now is two spends old: a reuse, whatever the grace.
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: child(s.clock.Now(), "app", "read"), Grace: 10 * time.Second, TTL: ttl}); !errors.Is(err, revocation.ErrReused) {
			t.Fatalf("Spend(older token) = %v, want %v", err, revocation.ErrReused)
		}
		if err := s.store.Check(ctx, revocation.Token{SID: sid, Subject: "x", IssuedAt: s.clock.Now()}); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("session after reuse: Check = %v, want %v", err, revocation.ErrRevoked)
		}
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: c2.RefreshID, Child: child(s.clock.Now(), "app", "read"), Grace: 10 * time.Second, TTL: ttl}); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("Spend(newest after reuse) = %v, want %v", err, revocation.ErrRevoked)
		}
	})

	t.Run("grace", func(t *testing.T) {
		s := newStore(t)
		sid, first := id("sid"), id("rt")
		grace := 10 * time.Second
		c1 := child(s.clock.Now(), "app", "read")
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: c1, Grace: grace, TTL: ttl}); err != nil {
			t.Fatal(err)
		}
		s.clock.Advance(3 * time.Second)
		out, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: child(s.clock.Now(), "app", "read"), Grace: grace, TTL: ttl})
		if err != nil || !out.Retry || out.Child != c1 {
			t.Fatalf("Spend(retry inside grace) = %+v, %v; want the recorded child %+v", out, err, c1)
		}
		for _, other := range []revocation.Child{child(s.clock.Now(), "other-app", "read"), child(s.clock.Now(), "app", "write")} {
			if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: other, Grace: grace, TTL: ttl}); !errors.Is(err, revocation.ErrGraceMismatch) {
				t.Fatalf("Spend(retry with client %s scope %s) = %v, want %v", other.ClientID, other.Scope, err, revocation.ErrGraceMismatch)
			}
		}
		if err := s.store.Check(ctx, revocation.Token{SID: sid, Subject: "x", IssuedAt: s.clock.Now()}); err != nil {
			t.Fatalf("a mismatched retry must leave the session alone: Check = %v", err)
		}
		s.clock.Advance(8 * time.Second) // 11s after the spend
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: child(s.clock.Now(), "app", "read"), Grace: grace, TTL: ttl}); !errors.Is(err, revocation.ErrReused) {
			t.Fatalf("Spend(retry after grace) = %v, want %v", err, revocation.ErrReused)
		}
	})

	t.Run("no grace", func(t *testing.T) {
		s := newStore(t)
		sid, first := id("sid"), id("rt")
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: child(s.clock.Now(), "app", ""), TTL: ttl}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: first, Child: child(s.clock.Now(), "app", ""), TTL: ttl}); !errors.Is(err, revocation.ErrReused) {
			t.Fatalf("Spend(again, grace 0) = %v, want %v", err, revocation.ErrReused)
		}
	})

	t.Run("concurrent spends have one winner", func(t *testing.T) {
		s := newStore(t)
		for round := 0; round < 100; round++ {
			sid, tok := id("sid"), id("rt")
			var wg sync.WaitGroup
			var won, lost atomic.Int64
			errs := make(chan error, 50)
			for i := 0; i < 50; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: tok, Child: child(s.clock.Now(), "app", ""), TTL: ttl})
					switch {
					case err == nil:
						won.Add(1)
					case errors.Is(err, revocation.ErrReused), errors.Is(err, revocation.ErrRevoked):
						lost.Add(1)
					default:
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d: Spend: %v", round, err)
			}
			if won.Load() != 1 || lost.Load() != 49 {
				t.Fatalf("round %d: %d of 50 concurrent spends won, want exactly 1", round, won.Load())
			}
		}
	})

	t.Run("concurrent retries inside grace answer one child", func(t *testing.T) {
		s := newStore(t)
		sid, tok := id("sid"), id("rt")
		var mu sync.Mutex
		children := map[revocation.Child]int{}
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: tok, Child: child(s.clock.Now(), "app", ""), Grace: 10 * time.Second, TTL: ttl})
				if err != nil {
					t.Errorf("Spend: %v", err)
					return
				}
				mu.Lock()
				children[out.Child]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(children) != 1 {
			t.Fatalf("50 concurrent spends inside the grace got %d different children, want 1 (the chain forked)", len(children))
		}
	})

	t.Run("codes are single-use", func(t *testing.T) {
		s := newStore(t)
		code := id("code")
		var wg sync.WaitGroup
		var won atomic.Int64
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch err := s.store.SpendCode(ctx, code, time.Minute); {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, revocation.ErrReused):
					t.Errorf("SpendCode: %v", err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d of 50 concurrent SpendCode calls won, want 1", won.Load())
		}
	})

	t.Run("entries expire", func(t *testing.T) {
		s := newStore(t)
		short := 400 * time.Millisecond
		sid, rt := id("sid"), id("rt")
		must(t, s.store.RevokeSession(ctx, id("sid"), short))
		must(t, s.store.RevokeToken(ctx, id("jti"), short))
		must(t, s.store.RevokeSubject(ctx, id("sub"), s.clock.Now(), short))
		must(t, s.store.SpendCode(ctx, id("code"), short))
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: rt, Child: child(s.clock.Now(), "app", ""), TTL: short}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: rt, Child: child(s.clock.Now(), "app", ""), TTL: short}); !errors.Is(err, revocation.ErrReused) {
			t.Fatal(err)
		}
		// A shorter second revocation does not shorten the first.
		long := id("sid")
		must(t, s.store.RevokeSession(ctx, long, time.Hour))
		must(t, s.store.RevokeSession(ctx, long, short))
		if left := s.expireAll(t); left != 1 {
			t.Fatalf("after every short TTL passed: %d entries left, want 1 (the hour-long one)", left)
		}
		if err := s.store.Check(ctx, revocation.Token{SID: long, Subject: "x", IssuedAt: s.clock.Now()}); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("a shorter second revocation shortened the first: Check = %v", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func TestMemoryStore(t *testing.T) {
	testStore(t, func(t *testing.T) subject {
		c := newClock()
		m := revocation.NewMemoryStore(c.Now)
		return subject{store: m, clock: c, expireAll: func(t *testing.T) int {
			c.Advance(time.Second)
			m.Sweep()
			return m.Len()
		}}
	})
}

func redisSubject(t *testing.T, newStore func(c *clock) *revocation.RedisStore) subject {
	c := newClock()
	s := newStore(c)
	return subject{store: s, clock: c, expireAll: func(t *testing.T) int {
		var n int
		// Redis expires keys on its own clock: wait for it, bounded.
		_ = redistest.Eventually(5*time.Second, func() error {
			var err error
			if n, err = s.Keys(context.Background()); err != nil || n > 1 {
				return fmt.Errorf("%d keys left (%v)", n, err)
			}
			return nil
		})
		return n
	}}
}

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	testStore(t, func(t *testing.T) subject {
		return redisSubject(t, func(c *clock) *revocation.RedisStore {
			return revocation.NewRedisStore(revocation.RedisOptions{Client: client, Prefix: id("test") + ":", Now: c.Now})
		})
	})
}

func TestRedisClusterStore(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	client := cluster.Client(t)
	testStore(t, func(t *testing.T) subject {
		return redisSubject(t, func(c *clock) *revocation.RedisStore {
			return revocation.NewRedisStore(revocation.RedisOptions{Client: client, Prefix: id("test") + ":", Now: c.Now})
		})
	})
}

func TestRedisSentinelStore(t *testing.T) {
	s := redistest.StartSentinel(t)
	client := s.Client(t)
	testStore(t, func(t *testing.T) subject {
		return redisSubject(t, func(c *clock) *revocation.RedisStore {
			return revocation.NewRedisStore(revocation.RedisOptions{Client: client, Prefix: id("test") + ":", Now: c.Now})
		})
	})
}
