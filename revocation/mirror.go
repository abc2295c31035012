package revocation

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mirror is an in-memory copy of a denylist kept elsewhere: jwtd's Redis
// (each replica follows its stream, redisstore.Store.Follow) or jwtd's feed
// over HTTP (a resource server, FollowFeed). Check costs a read lock and
// three map lookups, so a verifier can ask it on every request.
//
// A mirror only ever learns revocations: a snapshot is merged into what it
// holds, never swapped for it, and an entry is widened, never narrowed. A
// source that lost data (a Redis restarted without persistence, a jwtd on
// the memory store restarted) cannot make it accept a token it has seen
// revoked; entries leave only at their expires_at.
//
// It also knows how current it is. Its follower calls Touch whenever the
// source proves it has sent everything up to now (a blocking read that
// returned, a feed heartbeat); a mirror not touched for longer than
// MaxStaleness, or never loaded, cannot vouch for a token, and Check says
// so with ErrUnavailable (wrapping ErrStale), for the caller's fail mode.
type Mirror struct {
	now      func() time.Time
	maxStale time.Duration

	mu        sync.RWMutex
	deny      denylist
	cursor    string
	loaded    bool
	lastSweep time.Time
	changed   chan struct{}
	// recent are the last events applied, oldest first, complete after
	// base: every event of the source between base and the last one is
	// here, so Since can answer a feed from memory.
	recent []recentEvent
	base   Position
	hasLog bool // base is valid (a snapshot with a readable cursor was loaded)

	fresh atomic.Int64 // unix ns when the source was last seen current
}

// MirrorOptions configure a Mirror.
type MirrorOptions struct {
	// MaxStaleness is how long after the source was last seen current
	// Check still vouches for a token; zero means DefaultMaxStaleness.
	MaxStaleness time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxStaleness is a Mirror's bound when none is given: three of the
// feed's default heartbeats.
const DefaultMaxStaleness = 15 * time.Second

// NewMirror returns an empty mirror, not loaded: Check answers
// ErrUnavailable until its follower has loaded a snapshot.
func NewMirror(opts MirrorOptions) *Mirror {
	if opts.MaxStaleness <= 0 {
		opts.MaxStaleness = DefaultMaxStaleness
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Mirror{now: opts.Now, maxStale: opts.MaxStaleness, deny: newDenylist(), changed: make(chan struct{})}
}

// Check returns ErrRevoked when the mirror holds a revocation of t (even
// when stale: what it knows is revoked stays refused), an error wrapping
// ErrUnavailable and ErrStale when it cannot vouch for t, and nil
// otherwise. It satisfies the Check of Store.
func (m *Mirror) Check(_ context.Context, t Token) error {
	now := m.now()
	m.mu.RLock()
	err := m.deny.check(t, now)
	loaded := m.loaded
	m.mu.RUnlock()
	if err != nil {
		return err
	}
	return m.current(now, loaded)
}

func (m *Mirror) current(now time.Time, loaded bool) error {
	if !loaded {
		return fmt.Errorf("%w: %w: no snapshot loaded yet", ErrUnavailable, ErrStale)
	}
	if d := m.staleness(now); d > m.maxStale {
		return fmt.Errorf("%w: %w: last current %s ago, more than %s", ErrUnavailable, ErrStale, d.Round(time.Millisecond), m.maxStale)
	}
	return nil
}

// Current returns nil while the mirror can vouch for tokens, and the
// error Check would give otherwise.
func (m *Mirror) Current() error {
	m.mu.RLock()
	loaded := m.loaded
	m.mu.RUnlock()
	return m.current(m.now(), loaded)
}

// Staleness is how long ago the source was last seen current (since the
// mirror was made, if never).
func (m *Mirror) Staleness() time.Duration { return m.staleness(m.now()) }

func (m *Mirror) staleness(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, m.fresh.Load()))
}

// Touch records that the source has been seen current now: every change
// it made until now has been applied.
func (m *Mirror) Touch() { m.fresh.Store(m.now().UnixNano()) }

// Merge adds one entry: a revocation made where the mirror lives, applied
// before its feed event comes back.
func (m *Mirror) Merge(e Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.merge(m.now(), e)
	m.notify()
}

// merge adds e; the caller holds the write lock.
func (m *Mirror) merge(now time.Time, e Entry) {
	if now.Sub(m.lastSweep) >= sweepEvery {
		m.lastSweep = now
		m.deny.sweep(now)
	}
	if live(e.ExpiresAt, now) {
		m.deny.merge(e)
	}
}

// notify wakes every Changed waiter; the caller holds the write lock.
func (m *Mirror) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// loadBatch is how many snapshot entries Load merges per write lock, so a
// large snapshot neither holds up Check nor takes the lock per entry.
const loadBatch = 1000

// Load merges a snapshot: snapshot calls emit with each entry and returns
// the cursor it is current at (Store.Snapshot has this shape). Then the
// mirror follows from that cursor, vouches for tokens and is current.
// When snapshot fails, the entries read so far are kept (they are
// revocations all the same) and the cursor is left alone.
func (m *Mirror) Load(snapshot func(emit func(Entry) error) (cursor string, err error)) error {
	batch := make([]Entry, 0, loadBatch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		m.mu.Lock()
		now := m.now()
		for _, e := range batch {
			m.merge(now, e)
		}
		m.mu.Unlock()
		clear(batch)
		batch = batch[:0]
	}
	cursor, err := snapshot(func(e Entry) error {
		batch = append(batch, e)
		if len(batch) == loadBatch {
			flush()
		}
		return nil
	})
	flush()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.cursor, m.loaded = cursor, true
	clear(m.recent)
	m.recent = m.recent[:0]
	m.base, m.hasLog = ParsePosition(cursor)
	m.notify()
	m.mu.Unlock()
	m.Touch()
	return nil
}

// Apply adds feed events, oldest first, and moves the cursor past them.
func (m *Mirror) Apply(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, ev := range evs {
		m.merge(now, ev.Entry)
		m.remember(ev)
	}
	m.cursor = evs[len(evs)-1].Cursor
	m.notify()
}

// recentEvents is how many applied events a mirror keeps for Since.
const recentEvents = 10_000

type recentEvent struct {
	pos Position
	ev  Event
}

// remember keeps ev for Since; the caller holds the write lock. An event
// whose cursor cannot be read or is out of order ends the log until the
// next snapshot: Since then defers to the store.
func (m *Mirror) remember(ev Event) {
	if !m.hasLog {
		return
	}
	pos, ok := ParsePosition(ev.Cursor)
	last := m.base
	if n := len(m.recent); n > 0 {
		last = m.recent[n-1].pos
	}
	if !ok || !pos.After(last) {
		m.hasLog = false
		clear(m.recent)
		m.recent = m.recent[:0]
		return
	}
	if len(m.recent) == recentEvents {
		m.base = m.recent[0].pos
		m.recent[0] = recentEvent{}
		m.recent = m.recent[1:]
	}
	m.recent = append(m.recent, recentEvent{pos: pos, ev: ev})
}

// Since answers a feed's Since from the events the mirror applied: ok is
// false when it cannot (the cursor is older than what it keeps, newer
// than what it has seen, or not a stream cursor), and the caller asks the
// store. At most SinceBatch events come back.
func (m *Mirror) Since(cursor string) (evs []Event, ok bool) {
	pos, okPos := ParsePosition(cursor)
	if !okPos {
		return nil, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.hasLog || m.base.After(pos) {
		return nil, false
	}
	last := m.base
	if n := len(m.recent); n > 0 {
		last = m.recent[n-1].pos
	}
	if pos.After(last) {
		return nil, false // ahead of this mirror: another replica's, or the store knows better
	}
	i := sort.Search(len(m.recent), func(i int) bool { return m.recent[i].pos.After(pos) })
	n := min(len(m.recent)-i, SinceBatch)
	if n == 0 {
		return nil, true
	}
	evs = make([]Event, n)
	for j := range evs {
		evs[j] = m.recent[i+j].ev
	}
	return evs, true
}

// Cursor is where the follower resumes: the snapshot's cursor or the last
// event applied; "" before the first snapshot.
func (m *Mirror) Cursor() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cursor
}

// Forget drops the cursor, so the follower takes a fresh snapshot (after
// ErrCursorGone, a gap, or a cursor of another source), and the log of
// recent events Since answers from. What the mirror holds stays (and is
// refused), but it vouches for no other token until that snapshot is
// loaded: it may have missed revocations.
func (m *Mirror) Forget() {
	m.mu.Lock()
	m.cursor = ""
	m.loaded = false // it may have missed revocations: no vouching until the snapshot
	m.hasLog = false // no longer a continuation: Since defers to the store
	clear(m.recent)
	m.recent = m.recent[:0]
	m.mu.Unlock()
}

// Changed is closed at the next change of the mirror, for a feed that
// waits for news instead of polling.
func (m *Mirror) Changed() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

// Len counts the entries held, expired ones not yet swept included.
func (m *Mirror) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.deny.len()
}

// Sweep drops the entries that have expired. Merges also sweep, once a
// minute; a follower calls it when nothing is merged for long.
func (m *Mirror) Sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.lastSweep = now
	m.deny.sweep(now)
}
