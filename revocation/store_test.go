package revocation_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/revocation/redisstore"
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
	// forgetHistory makes the feed drop everything it kept.
	forgetHistory func(t *testing.T)
	// feedLen counts the events the feed keeps; the store was built to
	// keep about feedCap of them.
	feedLen func(t *testing.T) int
}

// feedCap is the count bound the contract's stores are built with.
const feedCap = 50

var seq atomic.Int64

// id returns a fresh id shaped like jwtd's own (token.NewID: 16 bytes,
// base64url), so the memory store keeps the contract's families packed as
// it keeps real ones; every third one has another shape, so the fallback
// is held to the same contract. prefix only varies the bytes.
func id(prefix string) string {
	n := seq.Add(1)
	if n%3 == 0 {
		return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), n)
	}
	var b [16]byte
	copy(b[:4], prefix)
	binary.BigEndian.PutUint32(b[4:8], uint32(n))
	binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// contractCase is one named case of the store contract.
type contractCase struct {
	name string
	run  func(t *testing.T, s subject)
}

// contract is what every revocation store does, one case per fresh store.
var contract = []contractCase{
	{"denylist", contractDenylist},
	{"rotation chain", contractRotationChain},
	{"grace", contractGrace},
	{"no grace", contractNoGrace},
	{"a spend after a cut-off of its subject is refused", contractASpendAfterACutOffOfItsSubjectIsRefused},
	{"codes are single-use", contractCodesAreSingleUse},
	{"feed", contractFeed},
	{"repeated revocations publish once", contractRepeatedRevocationsPublishOnce},
	{"feed bounded by count", contractFeedBoundedByCount},
	{"entries expire", contractEntriesExpire},
}

// concurrency is the contract's concurrent cases: many goroutines on one
// store, where its atomic steps must hold.
var concurrency = []contractCase{
	{"concurrent spends have one winner", contractConcurrentSpendsHaveOneWinner},
	{"concurrent retries inside grace answer one child", contractConcurrentRetriesInsideGraceAnswerOneChild},
	{"concurrent spends racing a cut-off", contractConcurrentSpendsRacingACutOff},
}

// testStore is the contract every revocation store passes: each case on a
// fresh store, the concurrent ones in their own group.
func testStore(t *testing.T, newStore func(t *testing.T) subject) {
	for _, c := range contract {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
	t.Run("concurrency", func(t *testing.T) {
		for _, c := range concurrency {
			t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
		}
	})
}

// ttl is the TTL the contract's revocations and spends ask for, and ctx
// the context of its store calls.
const ttl = time.Hour

func contractDenylist(t *testing.T, s subject) {
	now := s.clock.Now()
	sid, jti, sub := id("sid"), id("jti"), id("sub")
	if err := s.store.Check(ctx, revocation.Token{SID: sid, JTI: jti, Subject: sub, IssuedAt: now}); err != nil {
		t.Fatalf("Check(fresh) = %v, want nil", err)
	}
	must(t, s.store.RevokeSession(ctx, "x", sid, ttl))
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
}

func contractRotationChain(t *testing.T, s subject) {
	sid, first := id("sid"), id("rt")
	c1 := child(s.clock.Now(), "app", "read")
	out, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: c1, Grace: 10 * time.Second, TTL: ttl})
	if err != nil || out.Retry || out.Child != c1 {
		t.Fatalf("Spend(login token) = %+v, %v; want the new child", out, err)
	}
	s.clock.Advance(time.Minute)
	c2 := child(s.clock.Now(), "app", "read")
	if out, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: c1.RefreshID, Child: c2, Grace: 10 * time.Second, TTL: ttl}); err != nil || out.Child != c2 {
		t.Fatalf("Spend(newest) = %+v, %v", out, err)
	}
	// The login token now is two spends old: a reuse, whatever the grace.
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: child(s.clock.Now(), "app", "read"), Grace: 10 * time.Second, TTL: ttl}); !errors.Is(err, revocation.ErrReused) {
		t.Fatalf("Spend(older token) = %v, want %v", err, revocation.ErrReused)
	}
	if err := s.store.Check(ctx, revocation.Token{SID: sid, Subject: "alice", IssuedAt: s.clock.Now()}); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("session after reuse: Check = %v, want %v", err, revocation.ErrRevoked)
	}
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: c2.RefreshID, Child: child(s.clock.Now(), "app", "read"), Grace: 10 * time.Second, TTL: ttl}); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("Spend(newest after reuse) = %v, want %v", err, revocation.ErrRevoked)
	}
}

func contractGrace(t *testing.T, s subject) {
	sid, first := id("sid"), id("rt")
	grace := 10 * time.Second
	c1 := child(s.clock.Now(), "app", "read")
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: c1, Grace: grace, TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(3 * time.Second)
	out, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: child(s.clock.Now(), "app", "read"), Grace: grace, TTL: ttl})
	if err != nil || !out.Retry || out.Child != c1 {
		t.Fatalf("Spend(retry inside grace) = %+v, %v; want the recorded child %+v", out, err, c1)
	}
	for _, other := range []revocation.Child{child(s.clock.Now(), "other-app", "read"), child(s.clock.Now(), "app", "write")} {
		if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: other, Grace: grace, TTL: ttl}); !errors.Is(err, revocation.ErrGraceMismatch) {
			t.Fatalf("Spend(retry with client %s scope %s) = %v, want %v", other.ClientID, other.Scope, err, revocation.ErrGraceMismatch)
		}
	}
	if err := s.store.Check(ctx, revocation.Token{SID: sid, Subject: "alice", IssuedAt: s.clock.Now()}); err != nil {
		t.Fatalf("a mismatched retry must leave the session alone: Check = %v", err)
	}
	s.clock.Advance(8 * time.Second) // 11s after the spend
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: child(s.clock.Now(), "app", "read"), Grace: grace, TTL: ttl}); !errors.Is(err, revocation.ErrReused) {
		t.Fatalf("Spend(retry after grace) = %v, want %v", err, revocation.ErrReused)
	}
}

func contractNoGrace(t *testing.T, s subject) {
	sid, first := id("sid"), id("rt")
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: child(s.clock.Now(), "app", ""), TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: first, Child: child(s.clock.Now(), "app", ""), TTL: ttl}); !errors.Is(err, revocation.ErrReused) {
		t.Fatalf("Spend(again, grace 0) = %v, want %v", err, revocation.ErrReused)
	}
}

func contractConcurrentSpendsHaveOneWinner(t *testing.T, s subject) {
	for round := 0; round < 100; round++ {
		sid, tok := id("sid"), id("rt")
		var wg sync.WaitGroup
		var won, lost atomic.Int64
		errs := make(chan error, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: tok, Child: child(s.clock.Now(), "app", ""), TTL: ttl})
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
}

func contractConcurrentRetriesInsideGraceAnswerOneChild(t *testing.T, s subject) {
	sid, tok := id("sid"), id("rt")
	var mu sync.Mutex
	children := map[revocation.Child]int{}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: tok, Child: child(s.clock.Now(), "app", ""), Grace: 10 * time.Second, TTL: ttl})
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
}

func contractASpendAfterACutOffOfItsSubjectIsRefused(t *testing.T, s subject) {
	iat := s.clock.Now().Truncate(time.Second)
	sub := id("a{b}:c") // a sub may hold a cluster hash tag's braces
	sid, login := id("sid"), id("rt")
	c1 := child(iat, "app", "")
	if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: login, Subject: sub, IssuedAt: iat, Child: c1, TTL: ttl}); err != nil {
		t.Fatalf("Spend(before the cut-off) = %v", err)
	}
	must(t, s.store.RevokeSubject(ctx, sub, iat, ttl))
	must(t, s.store.RevokeSubject(ctx, id("other"), iat.Add(time.Hour), ttl))
	tests := []struct {
		name string
		sp   revocation.Spend
		want error
	}{
		{"issued at the cut-off", revocation.Spend{SID: sid, JTI: c1.RefreshID, Subject: sub, IssuedAt: iat}, revocation.ErrRevoked},
		{"issued before the cut-off", revocation.Spend{SID: id("sid"), JTI: id("rt"), Subject: sub, IssuedAt: iat.Add(-time.Minute)}, revocation.ErrRevoked},
		{"issued after the cut-off", revocation.Spend{SID: id("sid"), JTI: id("rt"), Subject: sub, IssuedAt: iat.Add(time.Second)}, nil},
		{"another subject", revocation.Spend{SID: id("sid"), JTI: id("rt"), Subject: id("a{b}:c"), IssuedAt: iat}, nil},
	}
	for _, tt := range tests {
		tt.sp.Child, tt.sp.TTL = child(iat, "app", ""), ttl
		if _, err := s.store.Spend(ctx, tt.sp); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("Spend(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	// The refused spend left the chain alone: it is a cut-off, not a reuse.
	s.clock.Advance(time.Hour)
	if _, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: c1.RefreshID, Subject: sub, IssuedAt: iat.Add(time.Hour), Child: child(iat, "app", ""), TTL: ttl}); err != nil {
		t.Errorf("Spend(the chain's head, issued after the cut-off) = %v, want nil", err)
	}
}

func contractConcurrentSpendsRacingACutOff(t *testing.T, s subject) {
	// Spenders rotate their sessions' chains while the subject is cut
	// off. A spend that starts once RevokeSubject has returned must be
	// refused: the cut-off is read in the spend's own atomic step.
	sub := id("u")
	iat := s.clock.Now().Truncate(time.Second)
	const spenders = 20
	var cut atomic.Bool
	var warm, done sync.WaitGroup
	errs := make(chan error, spenders)
	for i := 0; i < spenders; i++ {
		warm.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			sid, tok := id("sid"), id("rt")
			for n := 0; ; n++ {
				if n == 3 {
					warm.Done()
				}
				after := cut.Load()
				c := child(iat, "app", "")
				_, err := s.store.Spend(ctx, revocation.Spend{SID: sid, JTI: tok, Subject: sub, IssuedAt: iat, Child: c, TTL: ttl})
				switch {
				case err == nil && after:
					errs <- fmt.Errorf("session %s: a spend begun after the cut-off was written succeeded", sid)
				case err == nil:
					tok = c.RefreshID
					continue
				case !errors.Is(err, revocation.ErrRevoked):
					errs <- fmt.Errorf("session %s: Spend = %v, want nil or %v", sid, err, revocation.ErrRevoked)
				}
				if n < 3 {
					warm.Done()
				}
				return
			}
		}()
	}
	warm.Wait()
	must(t, s.store.RevokeSubject(ctx, sub, iat, ttl))
	cut.Store(true)
	done.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func contractCodesAreSingleUse(t *testing.T, s subject) {
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
}

func contractFeed(t *testing.T, s subject) {
	before, _ := snapshot(t, s.store)
	sid, jti, sub, reused := id("sid"), id("jti"), id("sub"), id("sid")
	nb := s.clock.Now().Truncate(time.Second)
	must(t, s.store.RevokeSession(ctx, "alice", sid, ttl))
	must(t, s.store.RevokeToken(ctx, jti, ttl))
	must(t, s.store.RevokeSubject(ctx, sub, nb, ttl))
	rt := id("rt")
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: reused, JTI: rt, Child: child(nb, "app", ""), TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: reused, JTI: rt, Child: child(nb, "app", ""), TTL: ttl}); !errors.Is(err, revocation.ErrReused) {
		t.Fatal(err)
	}
	events, err := s.store.Since(ctx, before)
	must(t, err)
	want := []revocation.Entry{{Kind: "sid", Value: sid}, {Kind: "jti", Value: jti}, {Kind: "sub", Value: sub, NotBefore: nb}, {Kind: "sid", Value: reused}}
	if len(events) != len(want) {
		t.Fatalf("Since(before) = %d events, want %d: %+v", len(events), len(want), events)
	}
	for i, e := range events {
		if e.Entry.Kind != want[i].Kind || e.Entry.Value != want[i].Value || !e.Entry.NotBefore.Equal(want[i].NotBefore) {
			t.Fatalf("event %d = %+v, want %+v", i, e.Entry, want[i])
		}
		if e.Entry.ExpiresAt.Before(s.clock.Now().Add(ttl - time.Minute)) {
			t.Fatalf("event %d expires at %v, want about now + %v", i, e.Entry.ExpiresAt, ttl)
		}
	}
	last := events[len(events)-1].Cursor
	if more, err := s.store.Since(ctx, last); err != nil || len(more) != 0 {
		t.Fatalf("Since(last) = %v, %v; want nothing", more, err)
	}
	if mid, err := s.store.Since(ctx, events[1].Cursor); err != nil || len(mid) != 2 || mid[0].Entry.Value != sub {
		t.Fatalf("Since(second) = %+v, %v; want the last two", mid, err)
	}
	snap, snapEntries := snapshot(t, s.store)
	got := map[string]revocation.Entry{}
	for _, e := range snapEntries {
		got[e.Kind+":"+e.Value] = e
	}
	for _, w := range want {
		e, ok := got[w.Kind+":"+w.Value]
		if !ok || !e.NotBefore.Equal(w.NotBefore) || e.ExpiresAt.Before(s.clock.Now()) {
			t.Fatalf("Snapshot lacks %+v (has %+v)", w, snapEntries)
		}
	}
	if after, err := s.store.Since(ctx, snap); err != nil || len(after) != 0 {
		t.Fatalf("Since(snapshot cursor) = %v, %v; want nothing", after, err)
	}
	for _, bad := range []string{"", "x", "12", "-1-2", "a-b"} {
		if _, err := s.store.Since(ctx, bad); !errors.Is(err, revocation.ErrCursorGone) {
			t.Errorf("Since(%q) = %v, want %v", bad, err, revocation.ErrCursorGone)
		}
	}
	s.forgetHistory(t)
	if _, err := s.store.Since(ctx, events[0].Cursor); !errors.Is(err, revocation.ErrCursorGone) {
		t.Fatalf("Since(forgotten cursor) = %v, want %v", err, revocation.ErrCursorGone)
	}
}

func contractRepeatedRevocationsPublishOnce(t *testing.T, s subject) {
	// Anyone holding an unexpired refresh token of a revoked session may
	// log it out again: that must not add to the feed.
	before, _ := snapshot(t, s.store)
	sid, jti, sub := id("sid"), id("jti"), id("sub")
	nb := s.clock.Now().Truncate(time.Second)
	for i := 0; i < 5; i++ {
		must(t, s.store.RevokeSession(ctx, "alice", sid, ttl+time.Duration(i)*time.Minute))
		must(t, s.store.RevokeToken(ctx, jti, ttl+time.Duration(i)*time.Minute))
		must(t, s.store.RevokeSubject(ctx, sub, nb, ttl))
		s.clock.Advance(time.Second)
	}
	must(t, s.store.RevokeSubject(ctx, sub, nb.Add(-time.Hour), ttl)) // earlier: no change
	must(t, s.store.RevokeSubject(ctx, sub, nb.Add(time.Second), ttl))
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: id("rt"), Child: child(nb, "app", ""), TTL: ttl}); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("Spend(revoked session) = %v, want %v", err, revocation.ErrRevoked)
	}
	events, err := s.store.Since(ctx, before)
	must(t, err)
	want := []revocation.Entry{{Kind: "sid", Value: sid}, {Kind: "jti", Value: jti}, {Kind: "sub", Value: sub, NotBefore: nb}, {Kind: "sub", Value: sub, NotBefore: nb.Add(time.Second)}}
	if len(events) != len(want) {
		t.Fatalf("Since(before) = %d events, want %d: %+v", len(events), len(want), events)
	}
	for i, e := range events {
		if e.Entry.Kind != want[i].Kind || e.Entry.Value != want[i].Value || !e.Entry.NotBefore.Equal(want[i].NotBefore) {
			t.Errorf("event %d = %+v, want %+v", i, e.Entry, want[i])
		}
	}
}

func contractFeedBoundedByCount(t *testing.T, s subject) {
	first, _ := snapshot(t, s.store)
	const flood = 20 * feedCap
	for i := 0; i < flood-10; i++ {
		must(t, s.store.RevokeToken(ctx, id("jti"), ttl))
	}
	recent, _ := snapshot(t, s.store)
	for i := 0; i < 10; i++ {
		must(t, s.store.RevokeToken(ctx, id("jti"), ttl))
	}
	// Redis trims whole stream nodes (MAXLEN ~), so it keeps about
	// feedCap; the memory store exactly feedCap.
	if n := s.feedLen(t); n > flood/4 {
		t.Errorf("after %d events the feed keeps %d, want about %d", flood, n, feedCap)
	}
	if _, err := s.store.Since(ctx, first); !errors.Is(err, revocation.ErrCursorGone) {
		t.Errorf("Since(cursor before the dropped events) = %v, want %v", err, revocation.ErrCursorGone)
	}
	if evs, err := s.store.Since(ctx, recent); err != nil || len(evs) != 10 {
		t.Errorf("Since(recent cursor) = %d events, %v; want 10", len(evs), err)
	}
}

func contractEntriesExpire(t *testing.T, s subject) {
	short := 400 * time.Millisecond
	sid, rt := id("sid"), id("rt")
	must(t, s.store.RevokeSession(ctx, "alice", id("sid"), short))
	must(t, s.store.RevokeToken(ctx, id("jti"), short))
	must(t, s.store.RevokeSubject(ctx, id("sub"), s.clock.Now(), short))
	must(t, s.store.SpendCode(ctx, id("code"), short))
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: rt, Child: child(s.clock.Now(), "app", ""), TTL: short}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Spend(ctx, revocation.Spend{Subject: "alice", SID: sid, JTI: rt, Child: child(s.clock.Now(), "app", ""), TTL: short}); !errors.Is(err, revocation.ErrReused) {
		t.Fatal(err)
	}
	// A shorter second revocation does not shorten the first.
	long := id("sid")
	must(t, s.store.RevokeSession(ctx, "alice", long, time.Hour))
	must(t, s.store.RevokeSession(ctx, "alice", long, short))
	if left := s.expireAll(t); left != 1 {
		t.Fatalf("after every short TTL passed: %d entries left, want 1 (the hour-long one)", left)
	}
	if err := s.store.Check(ctx, revocation.Token{SID: long, Subject: "alice", IssuedAt: s.clock.Now()}); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("a shorter second revocation shortened the first: Check = %v", err)
	}
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func TestMemoryStore(t *testing.T) {
	testStore(t, func(t *testing.T) subject {
		c := newClock()
		m := revocation.NewMemoryStore(c.Now)
		m.SetMaxHistory(feedCap)
		return subject{store: m, clock: c, feedLen: func(*testing.T) int { return m.HistoryLen() }, expireAll: func(t *testing.T) int {
			c.Advance(time.Second)
			m.Sweep()
			return m.Len()
		}, forgetHistory: func(t *testing.T) {
			c.Advance(revocation.History + time.Minute)
			m.Sweep()
			if n := m.HistoryLen(); n != 0 {
				t.Fatalf("feed keeps %d events past History", n)
			}
		}}
	})
}

// TestMirroredMemoryStore runs the contract on a memory store whose checks
// a mirror answers, as jwtd's replicas on Redis do: a revocation must be
// refused through the mirror as soon as the write returns.
func TestMirroredMemoryStore(t *testing.T) {
	testStore(t, func(t *testing.T) subject {
		c := newClock()
		m := revocation.NewMemoryStore(c.Now)
		m.SetMaxHistory(feedCap)
		mirror := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: 1000 * time.Hour, Now: c.Now})
		must(t, mirror.Load(func(emit func(revocation.Entry) error) (string, error) { return m.Snapshot(ctx, emit) }))
		s := revocation.NewMirrored(m, mirror)
		return subject{store: s, clock: c, feedLen: func(*testing.T) int { return m.HistoryLen() }, expireAll: func(t *testing.T) int {
			c.Advance(time.Second)
			m.Sweep()
			mirror.Sweep()
			if mirror.Len() > m.Len() {
				t.Fatalf("the mirror keeps %d entries, its store %d", mirror.Len(), m.Len())
			}
			return m.Len()
		}, forgetHistory: func(t *testing.T) {
			c.Advance(revocation.History + time.Minute)
			m.Sweep()
		}}
	})
}

// testRedisStore runs the contract on client, each subtest with its own
// key prefix.
func testRedisStore(t *testing.T, client redis.UniversalClient) {
	testStore(t, func(t *testing.T) subject { return redisSubject(t, client) })
}

func redisSubject(t *testing.T, client redis.UniversalClient) subject {
	c := newClock()
	s := redisstore.New(redisstore.Options{Client: client, Prefix: id("test") + ":", Now: c.Now, FeedMaxLen: feedCap})
	return subject{store: s, clock: c, feedLen: func(t *testing.T) int {
		n, err := client.XLen(context.Background(), s.FeedKey()).Result()
		must(t, err)
		return int(n)
	}, forgetHistory: func(t *testing.T) {
		// Two hours of revocations later: an event that far ahead makes
		// everything before it older than History.
		future := time.Now().Add(2 * revocation.History).UnixMilli()
		must(t, client.XAdd(context.Background(), &redis.XAddArgs{Stream: s.FeedKey(), ID: fmt.Sprintf("%d-0", future), Values: []any{"kind", "sid"}}).Err())
	}, expireAll: func(t *testing.T) int {
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

func TestRedisStore(t *testing.T) { testRedisStore(t, redistest.Start(t).Client(t)) }

func TestRedisClusterStore(t *testing.T) { testRedisStore(t, redistest.StartCluster(t, 3).Client(t)) }

func TestRedisSentinelStore(t *testing.T) { testRedisStore(t, redistest.StartSentinel(t).Client(t)) }

// TestMemoryCursorFromAnotherProcess: a memory store's cursors name the
// process that made them. After a restart the sequence starts again, so a
// cursor of the previous process would silently skip the new process's
// first events; it gets ErrCursorGone (a fresh snapshot) instead.
func TestMemoryCursorFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	before := revocation.NewMemoryStore(c.Now)
	must(t, before.RevokeToken(ctx, "old", time.Hour))
	snap, _ := snapshot(t, before)
	after := revocation.NewMemoryStore(c.Now) // the restarted process
	for i := 0; i < 5; i++ {
		must(t, after.RevokeToken(ctx, id("jti"), time.Hour))
	}
	tests := []struct{ name, cursor string }{
		{"previous process", snap},
		{"a Redis stream ID", "1772366400000-1"},
	}
	for _, tt := range tests {
		if evs, err := after.Since(ctx, tt.cursor); !errors.Is(err, revocation.ErrCursorGone) {
			t.Errorf("Since(%s cursor %q) = %d events, %v; want %v", tt.name, tt.cursor, len(evs), err, revocation.ErrCursorGone)
		}
	}
	own, _ := snapshot(t, after)
	if evs, err := after.Since(ctx, own); err != nil || len(evs) != 0 {
		t.Errorf("Since(own snapshot cursor) = %d events, %v; want none", len(evs), err)
	}
}
