package revocation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore keeps the state in the process. Only one jwtd process may use
// it: replicas would not see each other's revocations.
type MemoryStore struct {
	now func() time.Time

	mu        sync.Mutex
	deny      denylist
	families  familyTable
	codes     map[string]instant
	lastSweep time.Time

	// history is the feed: events in sequence order, none older than
	// History and at most maxHistory of them.
	history    []memEvent
	seq        int64
	maxHistory int
	// epoch names this process in its cursors: after a restart the
	// sequence starts again, and a cursor of the previous process must
	// not be read as one of ours (it would skip our first events).
	epoch string
	// changed is closed at the next feed event (Changed).
	changed chan struct{}
}

// memEvent is a feed event with its sequence and time, so Since and the
// trim need not parse cursors.
type memEvent struct {
	seq, ms int64
	ev      Event
}

type family struct {
	head, prev string // the newest refresh jti, and the one spent for it
	child      Child
	spentAt    instant
	expires    instant
}

// NewMemoryStore returns an empty store on the clock now (nil: time.Now).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{
		now:      now,
		deny:     newDenylist(),
		families: newFamilyTable(),
		codes:    map[string]instant{},

		maxHistory: MaxHistory,
		epoch:      newEpoch(),
		changed:    make(chan struct{}),
	}
}

// newEpoch is a random name for one store's lifetime.
func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// cursor is a feed cursor of this store: "<unix ms>-<sequence>-<epoch>",
// ordered like a Redis stream ID but never taken for one (nor one for it).
func (m *MemoryStore) cursor(ms, seq int64) string {
	return FormatCursor(ms, seq) + "-" + m.epoch
}

// ParseCursor reads a cursor of this store; one of another process, of
// Redis, or malformed is ErrCursorGone.
func (m *MemoryStore) ParseCursor(c string) (ms, seq int64, err error) {
	rest, ok := strings.CutSuffix(c, "-"+m.epoch)
	if !ok {
		return 0, 0, fmt.Errorf("%w: not a cursor of this process", ErrCursorGone)
	}
	return ParseCursor(rest)
}

// Ping always succeeds.
func (m *MemoryStore) Ping(context.Context) error { return nil }

// Check implements Store.
func (m *MemoryStore) Check(_ context.Context, t Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deny.check(t, m.now())
}

// RevokeSession implements Store. Revoking a revoked session again
// changes nothing and publishes nothing (see revokeOnce).
func (m *MemoryStore) RevokeSession(_ context.Context, _, sid string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revokeOnce(m.deny.sessions, KindSession, sid, ttl)
	return nil
}

// revokeOnce denylists value in set for ttl unless it is already there.
// A live entry already covers every token it must: a revoked session
// mints nothing more, and a jti's TTL is its token's remaining life. So
// only a new entry changes the state and reaches the feed; a repeated
// logout of one revoked session, which anyone holding one of its refresh
// tokens may send, cannot flood it.
func (m *MemoryStore) revokeOnce(set map[string]instant, kind, value string, ttl time.Duration) {
	now := m.now()
	m.sweep(now)
	if exp, ok := set[value]; ok && exp.liveAt(now) {
		return
	}
	set[value] = at(now.Add(ttl))
	m.record(now, Entry{Kind: kind, Value: value, ExpiresAt: set[value].time()})
}

// record appends a revocation to the feed and drops what is older than
// History or beyond the newest maxHistory.
func (m *MemoryStore) record(now time.Time, e Entry) {
	m.seq++
	ms := now.UnixMilli()
	m.history = append(m.history, memEvent{seq: m.seq, ms: ms, ev: Event{Cursor: m.cursor(ms, m.seq), Entry: e}})
	m.trimHistory(now)
	close(m.changed)
	m.changed = make(chan struct{})
}

// Changed is closed at the next feed event, so a feed can wait for news
// instead of polling.
func (m *MemoryStore) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *MemoryStore) trimHistory(now time.Time) {
	cut := max(0, len(m.history)-m.maxHistory)
	oldest := now.Add(-History).UnixMilli()
	for cut < len(m.history) && m.history[cut].ms < oldest {
		cut++
	}
	if cut > 0 {
		clear(m.history[:cut]) // let the dropped entries' strings go
		m.history = m.history[cut:]
	}
}

// RevokeToken implements Store, once per jti like RevokeSession.
func (m *MemoryStore) RevokeToken(_ context.Context, jti string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revokeOnce(m.deny.jtis, KindToken, jti, ttl)
	return nil
}

// RevokeSubject implements Store. A later cut-off replaces an earlier one
// and is published; one at or before the current cut-off changes what is
// revoked not at all, so it only extends the entry's life, silently.
func (m *MemoryStore) RevokeSubject(_ context.Context, sub string, notBefore time.Time, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	c, ok := m.deny.subjects[sub]
	if !ok || !c.expires.liveAt(now) {
		c = cutoff{}
	}
	nb := at(notBefore)
	later := c.expires == 0 || nb > c.notBefore
	c.notBefore = max(c.notBefore, nb)
	c.expires = max(c.expires, at(now.Add(ttl)))
	m.deny.subjects[sub] = c
	if later {
		m.record(now, Entry{Kind: KindSubject, Value: sub, NotBefore: c.notBefore.time(), ExpiresAt: c.expires.time()})
	}
	return nil
}

// Spend implements Store; the mutex makes it one atomic step, the
// subject's cut-off included.
func (m *MemoryStore) Spend(_ context.Context, s Spend) (Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	// The refresh token's own jti is never denylisted: only its session
	// and its subject's cut-off can revoke it.
	if err := m.deny.check(Token{SID: s.SID, Subject: s.Subject, IssuedAt: s.IssuedAt}, now); err != nil {
		return Outcome{}, err
	}
	f, ok := m.families.get(s.SID)
	if !ok || !f.expires.liveAt(now) || f.head == s.JTI {
		m.families.put(s.SID, family{head: s.Child.RefreshID, prev: s.JTI, child: s.Child, spentAt: at(now), expires: at(now.Add(s.TTL))})
		return Outcome{Child: s.Child}, nil
	}
	if f.prev == s.JTI && s.Grace > 0 && now.Sub(f.spentAt.time()) <= s.Grace {
		if f.child.ClientID != s.Child.ClientID || f.child.Scope != s.Child.Scope {
			return Outcome{}, ErrGraceMismatch
		}
		return Outcome{Child: f.child, Retry: true}, nil
	}
	m.families.del(s.SID)
	m.revokeOnce(m.deny.sessions, KindSession, s.SID, s.TTL)
	return Outcome{}, ErrReused
}

// SpendCode implements Store.
func (m *MemoryStore) SpendCode(_ context.Context, jti string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if exp, ok := m.codes[jti]; ok && exp.liveAt(now) {
		return ErrReused
	}
	m.codes[jti] = at(now.Add(ttl))
	return nil
}

// Snapshot implements Store. The entries are copied under the lock and
// emitted after it, so a slow reader never holds up the store.
func (m *MemoryStore) Snapshot(_ context.Context, emit func(Entry) error) (string, error) {
	cursor, entries := m.snapshot()
	for _, e := range entries {
		if err := emit(e); err != nil {
			return "", err
		}
	}
	return cursor, nil
}

func (m *MemoryStore) snapshot() (string, []Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	return m.cursor(now.UnixMilli(), m.seq), m.deny.entries(now)
}

// Since implements Store in O(log n + k): the cursor is parsed before
// the lock, and a binary search on the sequence finds the first event
// after it, so an idle reader's poll costs next to nothing however long
// the history, and does not hold up Check.
func (m *MemoryStore) Since(_ context.Context, cursor string) ([]Event, error) {
	ms, seq, err := m.ParseCursor(cursor)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms < m.now().Add(-History).UnixMilli() || seq > m.seq {
		return nil, ErrCursorGone
	}
	// The first kept event must directly follow the cursor or precede it;
	// otherwise events after the cursor were dropped.
	first := m.seq + 1
	if len(m.history) > 0 {
		first = m.history[0].seq
	}
	if seq < first-1 {
		return nil, ErrCursorGone
	}
	i := sort.Search(len(m.history), func(i int) bool { return m.history[i].seq > seq })
	n := min(len(m.history)-i, SinceBatch)
	if n == 0 {
		return nil, nil
	}
	out := make([]Event, n)
	for j := range out {
		out[j] = m.history[i+j].ev
	}
	return out, nil
}

// sweepEvery bounds how often a write walks the maps to drop expired entries.
const sweepEvery = time.Minute

func (m *MemoryStore) sweep(now time.Time) {
	if now.Sub(m.lastSweep) < sweepEvery {
		return
	}
	m.lastSweep = now
	m.sweepAll(now)
}

func (m *MemoryStore) sweepAll(now time.Time) {
	m.deny.sweep(now)
	m.families.sweep(now)
	for k, exp := range m.codes {
		if !exp.liveAt(now) {
			delete(m.codes, k)
		}
	}
	m.trimHistory(now)
}
