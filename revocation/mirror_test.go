package revocation_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jwtd/jwtd/revocation"
)

// mirrorOf returns a mirror on c's clock, loaded from s (a snapshot) and a
// function that brings it up to date from s's feed, as a follower does.
func mirrorOf(t *testing.T, c *clock, s revocation.Store, maxStale time.Duration) (*revocation.Mirror, func()) {
	t.Helper()
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: maxStale, Now: c.Now})
	must(t, m.Load(func(emit func(revocation.Entry) error) (string, error) { return s.Snapshot(ctx, emit) }))
	follow := func() {
		t.Helper()
		for {
			evs, err := s.Since(ctx, m.Cursor())
			must(t, err)
			if len(evs) == 0 {
				m.Touch()
				return
			}
			m.Apply(evs...)
		}
	}
	return m, follow
}

func TestMirrorNotLoadedCannotVouch(t *testing.T) {
	m := revocation.NewMirror(revocation.MirrorOptions{})
	err := m.Check(ctx, revocation.Token{SID: "s", JTI: "j", Subject: "u", IssuedAt: time.Now()})
	if !errors.Is(err, revocation.ErrUnavailable) || !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("Check before any snapshot = %v, want ErrUnavailable and ErrStale", err)
	}
	if m.Current() == nil {
		t.Fatal("Current before any snapshot = nil")
	}
}

// TestMirrorJudgesLikeTheStore follows a memory store through its
// snapshot and feed while revocations of every kind land on it, and asks
// both about the same tokens: the mirror must answer as the store does.
func TestMirrorJudgesLikeTheStore(t *testing.T) {
	c := newClock()
	s := revocation.NewMemoryStore(c.Now)
	r := rand.New(rand.NewPCG(1, 2))
	const n = 40
	name := func(kind string, i int) string { return fmt.Sprintf("%s%d", kind, i) }
	revokeSome := func() {
		for range 20 {
			i := r.IntN(n)
			switch r.IntN(3) {
			case 0:
				must(t, s.RevokeSession(ctx, name("u", i), name("s", i), time.Duration(1+r.IntN(60))*time.Minute))
			case 1:
				must(t, s.RevokeToken(ctx, name("j", i), time.Duration(1+r.IntN(60))*time.Minute))
			case 2:
				must(t, s.RevokeSubject(ctx, name("u", i), c.Now().Add(-time.Duration(r.IntN(600))*time.Second), time.Duration(1+r.IntN(60))*time.Minute))
			}
		}
	}
	revokeSome() // before the snapshot
	m, follow := mirrorOf(t, c, s, 1000*time.Hour)
	for round := range 6 {
		revokeSome() // after it: only the feed carries these
		follow()
		for i := range n {
			for _, iat := range []time.Duration{-20 * time.Minute, -5 * time.Minute, 0} {
				tok := revocation.Token{SID: name("s", i), JTI: name("j", (i*7)%n), Subject: name("u", (i*3)%n), IssuedAt: c.Now().Add(iat)}
				want, got := s.Check(ctx, tok), m.Check(ctx, tok)
				if !errors.Is(got, revocation.ErrRevoked) != !errors.Is(want, revocation.ErrRevoked) || (got == nil) != (want == nil) {
					t.Fatalf("round %d, %+v: mirror says %v, store says %v", round, tok, got, want)
				}
			}
		}
		c.Advance(7 * time.Minute) // entries expire on both sides alike
	}
}

func TestMirrorStaleness(t *testing.T) {
	c := newClock()
	s := revocation.NewMemoryStore(c.Now)
	must(t, s.RevokeSession(ctx, "u", "revoked", time.Hour))
	m, follow := mirrorOf(t, c, s, 5*time.Second)
	ok := revocation.Token{SID: "fine", JTI: "j", Subject: "u", IssuedAt: c.Now()}
	bad := revocation.Token{SID: "revoked", JTI: "j2", Subject: "u", IssuedAt: c.Now()}

	c.Advance(5 * time.Second)
	must(t, m.Check(ctx, ok)) // at the bound: still current
	c.Advance(time.Millisecond)
	if err := m.Check(ctx, ok); !errors.Is(err, revocation.ErrUnavailable) || !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("Check past the bound = %v, want ErrUnavailable and ErrStale", err)
	}
	if err := m.Check(ctx, bad); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("a stale mirror's known revocation: Check = %v, want ErrRevoked", err)
	}
	if got := m.Staleness(); got != 5*time.Second+time.Millisecond {
		t.Fatalf("Staleness = %v", got)
	}
	follow() // the follower sees the source current again
	must(t, m.Check(ctx, ok))
	must(t, m.Current())
}

func TestMirrorEntriesExpire(t *testing.T) {
	c := newClock()
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: 1000 * time.Hour, Now: c.Now})
	exp := c.Now().Add(time.Minute)
	must(t, m.Load(func(emit func(revocation.Entry) error) (string, error) {
		must(t, emit(revocation.Entry{Kind: revocation.KindSession, Value: "s", ExpiresAt: exp}))
		must(t, emit(revocation.Entry{Kind: revocation.KindToken, Value: "j", ExpiresAt: exp}))
		must(t, emit(revocation.Entry{Kind: revocation.KindSubject, Value: "u", NotBefore: c.Now(), ExpiresAt: exp}))
		must(t, emit(revocation.Entry{Kind: revocation.KindSession, Value: "gone", ExpiresAt: c.Now()})) // expired on arrival
		must(t, emit(revocation.Entry{Kind: "future-kind", Value: "x", ExpiresAt: exp}))                 // unknown: ignored
		return "1-0", nil
	}))
	if n := m.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3 (expired and unknown entries dropped)", n)
	}
	toks := []revocation.Token{{SID: "s"}, {JTI: "j"}, {Subject: "u", IssuedAt: c.Now()}}
	for _, tok := range toks {
		if err := m.Check(ctx, tok); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("Check(%+v) = %v before expiry", tok, err)
		}
	}
	c.Advance(time.Minute)
	for _, tok := range toks {
		must(t, m.Check(ctx, tok))
	}
	m.Sweep()
	if n := m.Len(); n != 0 {
		t.Fatalf("Len after expiry and Sweep = %d", n)
	}
}

// TestMirrorNeverForgets: events twice, out of order, and a snapshot of a
// source that lost its data widen what the mirror holds, never narrow it.
func TestMirrorNeverForgets(t *testing.T) {
	c := newClock()
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: 1000 * time.Hour, Now: c.Now})
	empty := func(func(revocation.Entry) error) (string, error) { return "1-0", nil }
	must(t, m.Load(empty))
	late, early := c.Now().Add(-time.Minute), c.Now().Add(-time.Hour)
	m.Apply(
		revocation.Event{Cursor: "2-0", Entry: revocation.Entry{Kind: revocation.KindSubject, Value: "u", NotBefore: late, ExpiresAt: c.Now().Add(time.Hour)}},
		revocation.Event{Cursor: "3-0", Entry: revocation.Entry{Kind: revocation.KindSubject, Value: "u", NotBefore: early, ExpiresAt: c.Now().Add(time.Minute)}},
		revocation.Event{Cursor: "4-0", Entry: revocation.Entry{Kind: revocation.KindSession, Value: "s", ExpiresAt: c.Now().Add(time.Hour)}},
		revocation.Event{Cursor: "5-0", Entry: revocation.Entry{Kind: revocation.KindSession, Value: "s", ExpiresAt: c.Now().Add(time.Second)}},
	)
	if got := m.Cursor(); got != "5-0" {
		t.Fatalf("Cursor = %q, want the last event's", got)
	}
	m.Forget()
	must(t, m.Load(empty)) // a source that lost everything
	c.Advance(30 * time.Minute)
	if err := m.Check(ctx, revocation.Token{Subject: "u", IssuedAt: late}); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("the later cut-off was narrowed: %v", err)
	}
	if err := m.Check(ctx, revocation.Token{SID: "s"}); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("the session's longer expiry was narrowed: %v", err)
	}
}

// TestMirrorLoadFailure: a snapshot cut short keeps what it brought (they
// are revocations) but neither loads the mirror nor moves its cursor.
func TestMirrorLoadFailure(t *testing.T) {
	c := newClock()
	m := revocation.NewMirror(revocation.MirrorOptions{Now: c.Now})
	boom := errors.New("cut short")
	err := m.Load(func(emit func(revocation.Entry) error) (string, error) {
		must(t, emit(revocation.Entry{Kind: revocation.KindSession, Value: "s", ExpiresAt: c.Now().Add(time.Hour)}))
		return "", boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Load = %v, want the snapshot's error", err)
	}
	if err := m.Check(ctx, revocation.Token{SID: "s"}); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("entry of the cut-short snapshot: %v", err)
	}
	if err := m.Check(ctx, revocation.Token{SID: "other"}); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("a mirror whose only snapshot failed vouches: %v", err)
	}
	if m.Cursor() != "" {
		t.Fatalf("Cursor = %q after a failed load", m.Cursor())
	}
}

func TestMirrorChanged(t *testing.T) {
	c := newClock()
	m := revocation.NewMirror(revocation.MirrorOptions{Now: c.Now})
	steps := []struct {
		name string
		do   func()
	}{
		{"Load", func() {
			must(t, m.Load(func(func(revocation.Entry) error) (string, error) { return "1-0", nil }))
		}},
		{"Apply", func() {
			m.Apply(revocation.Event{Cursor: "2-0", Entry: revocation.Entry{Kind: revocation.KindToken, Value: "j", ExpiresAt: c.Now().Add(time.Hour)}})
		}},
		{"Merge", func() {
			m.Merge(revocation.Entry{Kind: revocation.KindToken, Value: "k", ExpiresAt: c.Now().Add(time.Hour)})
		}},
	}
	for _, st := range steps {
		ch := m.Changed()
		select {
		case <-ch:
			t.Fatalf("before %s: Changed already closed", st.name)
		default:
		}
		st.do()
		select {
		case <-ch:
		default:
			t.Fatalf("%s did not close Changed", st.name)
		}
	}
}

// TestMirrorConcurrentChecks runs checks against a mirror being fed, for
// the race detector, and checks that every revocation applied is seen.
func TestMirrorConcurrentChecks(t *testing.T) {
	m := revocation.NewMirror(revocation.MirrorOptions{})
	must(t, m.Load(func(func(revocation.Entry) error) (string, error) { return "1-0", nil }))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					_ = m.Check(ctx, revocation.Token{SID: "s1", JTI: "j", Subject: "u", IssuedAt: time.Now()})
				}
			}
		}()
	}
	for i := range 1000 {
		m.Apply(revocation.Event{Cursor: fmt.Sprintf("%d-0", i+2), Entry: revocation.Entry{Kind: revocation.KindSession, Value: fmt.Sprintf("s%d", i), ExpiresAt: time.Now().Add(time.Hour)}})
		m.Touch()
	}
	close(stop)
	wg.Wait()
	for i := range 1000 {
		if err := m.Check(ctx, revocation.Token{SID: fmt.Sprintf("s%d", i)}); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("s%d: %v", i, err)
		}
	}
}

// TestMemoryStoreChanged: the memory store wakes a waiting feed at each
// event, and only then.
func TestMemoryStoreChanged(t *testing.T) {
	s := revocation.NewMemoryStore(nil)
	ch := s.Changed()
	must(t, s.SpendCode(ctx, "code", time.Minute)) // no feed event
	select {
	case <-ch:
		t.Fatal("Changed closed without a feed event")
	default:
	}
	must(t, s.RevokeToken(ctx, "j", time.Minute))
	select {
	case <-ch:
	default:
		t.Fatal("RevokeToken did not close Changed")
	}
}

// TestMirrorSinceWindow: the mirror answers Since for the last events it
// applied, defers once they are beyond its window, and stops answering
// (until the next snapshot) after an event out of order.
func TestMirrorSinceWindow(t *testing.T) {
	c := newClock()
	m := revocation.NewMirror(revocation.MirrorOptions{Now: c.Now})
	must(t, m.Load(func(func(revocation.Entry) error) (string, error) { return "100-0", nil }))
	ev := func(ms int) revocation.Event {
		return revocation.Event{Cursor: fmt.Sprintf("%d-0", ms), Entry: revocation.Entry{Kind: revocation.KindToken, Value: fmt.Sprint(ms), ExpiresAt: c.Now().Add(time.Hour)}}
	}
	for i := range 10_005 {
		m.Apply(ev(101 + i))
	}
	if _, ok := m.Since("100-0"); ok {
		t.Fatal("a cursor beyond the window was answered")
	}
	got, ok := m.Since("10100-0")
	if !ok || len(got) != 5 || got[0].Cursor != "10101-0" {
		t.Fatalf("Since inside the window = %v, %v", got, ok)
	}
	if got, ok := m.Since("10105-0"); !ok || len(got) != 0 {
		t.Fatalf("Since at the newest = %v, %v", got, ok)
	}
	m.Apply(ev(50)) // out of order: the log cannot be trusted
	if _, ok := m.Since("10100-0"); ok {
		t.Fatal("answered after an event out of order")
	}
	must(t, m.Load(func(func(revocation.Entry) error) (string, error) { return "20000-0", nil }))
	m.Apply(ev(20001))
	if got, ok := m.Since("20000-0"); !ok || len(got) != 1 {
		t.Fatalf("after a new snapshot: %v, %v", got, ok)
	}
}

// TestMemoryFamiliesPacked: families of jwtd-shaped ids are held packed
// (no pointer for the GC to follow) and answer exactly as the others do:
// the same child on a retry within the grace, reuse after it, expiry; a
// family that cannot pack (the interned set full) is held as it is.
func TestMemoryFamiliesPacked(t *testing.T) {
	c := newClock()
	s := revocation.NewMemoryStore(c.Now)
	var n uint64
	newID := func() string { // jwtd-shaped: 16 bytes, base64url
		n++
		var b [16]byte
		binary.BigEndian.PutUint64(b[8:], n)
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	for i := range 30 {
		sid, rt := newID(), newID()
		if i%3 == 0 {
			sid = "sid-of-another-shape-" + sid // held as it is
		}
		ch := revocation.Child{IssuedAt: c.Now().Truncate(time.Second), AccessID: newID(), RefreshID: newID(), ClientID: "app", Scope: "read write"}
		out, err := s.Spend(ctx, revocation.Spend{Subject: "u", SID: sid, JTI: rt, Child: ch, Grace: 10 * time.Second, TTL: time.Hour})
		must(t, err)
		retry, err := s.Spend(ctx, revocation.Spend{Subject: "u", SID: sid, JTI: rt, Child: child(c.Now(), "app", "read write"), Grace: 10 * time.Second, TTL: time.Hour})
		must(t, err)
		if !retry.Retry || retry.Child != out.Child || out.Child != ch {
			t.Fatalf("retry within the grace: %+v, want the child %+v", retry, ch)
		}
	}
	packed, plain := s.Families()
	if packed < 10 || plain == 0 {
		t.Fatalf("families: %d packed, %d plain; want both kinds held", packed, plain)
	}
	s.FillInterner()
	sid, rtID := newID(), newID()
	_, err := s.Spend(ctx, revocation.Spend{Subject: "u", SID: sid, JTI: rtID, Child: child(c.Now(), "new-client", "read"), TTL: time.Hour})
	must(t, err)
	if p2, pl2 := s.Families(); p2 != packed || pl2 != plain+1 {
		t.Fatalf("with the interned set full: %d packed, %d plain; want the new family held plain", p2, pl2)
	}
	c.Advance(2 * time.Hour)
	s.Sweep()
	if p, pl := s.Families(); p+pl != 0 {
		t.Fatalf("after expiry: %d packed, %d plain", p, pl)
	}
}
