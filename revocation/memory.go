package revocation

import (
	"context"
	"sync"
	"time"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore keeps the state in the process. Only one jwtd process may use
// it: replicas would not see each other's revocations.
type MemoryStore struct {
	now func() time.Time

	mu        sync.Mutex
	sessions  map[string]time.Time // revoked sid → expiry
	jtis      map[string]time.Time
	subjects  map[string]cutoff
	families  map[string]family
	codes     map[string]time.Time
	lastSweep time.Time

	// history is the feed: events in cursor order, none older than History.
	history []Event
	seq     int64
}

type cutoff struct {
	notBefore time.Time
	expires   time.Time
}

type family struct {
	head, prev string // the newest refresh jti, and the one spent for it
	child      Child
	spentAt    time.Time
	expires    time.Time
}

// NewMemoryStore returns an empty store on the clock now (nil: time.Now).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{
		now:      now,
		sessions: map[string]time.Time{},
		jtis:     map[string]time.Time{},
		subjects: map[string]cutoff{},
		families: map[string]family{},
		codes:    map[string]time.Time{},
	}
}

// Ping always succeeds.
func (m *MemoryStore) Ping(context.Context) error { return nil }

func live(expires, now time.Time) bool { return now.Before(expires) }

// Check implements Store.
func (m *MemoryStore) Check(_ context.Context, t Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.sessions[t.SID]; ok && t.SID != "" && live(exp, now) {
		return ErrRevoked
	}
	if exp, ok := m.jtis[t.JTI]; ok && t.JTI != "" && live(exp, now) {
		return ErrRevoked
	}
	if c, ok := m.subjects[t.Subject]; ok && live(c.expires, now) && !t.IssuedAt.After(c.notBefore) {
		return ErrRevoked
	}
	return nil
}

// RevokeSession implements Store. A longer existing entry is kept.
func (m *MemoryStore) RevokeSession(_ context.Context, _, sid string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revokeSession(sid, ttl)
	return nil
}

func (m *MemoryStore) revokeSession(sid string, ttl time.Duration) {
	now := m.now()
	m.sweep(now)
	if exp := now.Add(ttl); exp.After(m.sessions[sid]) {
		m.sessions[sid] = exp
	}
	m.record(now, Entry{Kind: KindSession, Value: sid, ExpiresAt: m.sessions[sid]})
}

// record appends a revocation to the feed and drops what is older than
// History.
func (m *MemoryStore) record(now time.Time, e Entry) {
	m.seq++
	m.history = append(m.history, Event{Cursor: feedCursor(now.UnixMilli(), m.seq), Entry: e})
	m.trimHistory(now)
}

func (m *MemoryStore) trimHistory(now time.Time) {
	cut := 0
	for cut < len(m.history) {
		ms, _, _ := parseCursor(m.history[cut].Cursor)
		if ms >= now.Add(-History).UnixMilli() {
			break
		}
		cut++
	}
	m.history = m.history[cut:]
}

// RevokeToken implements Store.
func (m *MemoryStore) RevokeToken(_ context.Context, jti string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if exp := now.Add(ttl); exp.After(m.jtis[jti]) {
		m.jtis[jti] = exp
	}
	m.record(now, Entry{Kind: KindToken, Value: jti, ExpiresAt: m.jtis[jti]})
	return nil
}

// RevokeSubject implements Store. A later cut-off replaces an earlier one.
func (m *MemoryStore) RevokeSubject(_ context.Context, sub string, notBefore time.Time, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	c := m.subjects[sub]
	if notBefore.After(c.notBefore) {
		c.notBefore = notBefore
	}
	if exp := now.Add(ttl); exp.After(c.expires) {
		c.expires = exp
	}
	m.subjects[sub] = c
	m.record(now, Entry{Kind: KindSubject, Value: sub, NotBefore: c.notBefore, ExpiresAt: c.expires})
	return nil
}

// Spend implements Store; the mutex makes it one atomic step, the
// subject's cut-off included.
func (m *MemoryStore) Spend(_ context.Context, s Spend) (Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if exp, ok := m.sessions[s.SID]; ok && live(exp, now) {
		return Outcome{}, ErrRevoked
	}
	if c, ok := m.subjects[s.Subject]; ok && live(c.expires, now) && !s.IssuedAt.After(c.notBefore) {
		return Outcome{}, ErrRevoked
	}
	f, ok := m.families[s.SID]
	if !ok || !live(f.expires, now) || f.head == s.JTI {
		m.families[s.SID] = family{head: s.Child.RefreshID, prev: s.JTI, child: s.Child, spentAt: now, expires: now.Add(s.TTL)}
		return Outcome{Child: s.Child}, nil
	}
	if f.prev == s.JTI && s.Grace > 0 && now.Sub(f.spentAt) <= s.Grace {
		if f.child.ClientID != s.Child.ClientID || f.child.Scope != s.Child.Scope {
			return Outcome{}, ErrGraceMismatch
		}
		return Outcome{Child: f.child, Retry: true}, nil
	}
	delete(m.families, s.SID)
	m.revokeSession(s.SID, s.TTL)
	return Outcome{}, ErrReused
}

// SpendCode implements Store.
func (m *MemoryStore) SpendCode(_ context.Context, jti string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if exp, ok := m.codes[jti]; ok && live(exp, now) {
		return ErrReused
	}
	m.codes[jti] = now.Add(ttl)
	return nil
}

// Snapshot implements Store.
func (m *MemoryStore) Snapshot(context.Context) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	snap := Snapshot{Cursor: feedCursor(now.UnixMilli(), m.seq)}
	for sid, exp := range m.sessions {
		if live(exp, now) {
			snap.Entries = append(snap.Entries, Entry{Kind: KindSession, Value: sid, ExpiresAt: exp})
		}
	}
	for jti, exp := range m.jtis {
		if live(exp, now) {
			snap.Entries = append(snap.Entries, Entry{Kind: KindToken, Value: jti, ExpiresAt: exp})
		}
	}
	for sub, c := range m.subjects {
		if live(c.expires, now) {
			snap.Entries = append(snap.Entries, Entry{Kind: KindSubject, Value: sub, NotBefore: c.notBefore, ExpiresAt: c.expires})
		}
	}
	return snap, nil
}

// Since implements Store.
func (m *MemoryStore) Since(_ context.Context, cursor string) ([]Event, error) {
	ms, seq, err := parseCursor(cursor)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms < m.now().Add(-History).UnixMilli() || seq > m.seq {
		return nil, ErrCursorGone
	}
	var out []Event
	for _, e := range m.history {
		if _, s, _ := parseCursor(e.Cursor); s > seq {
			out = append(out, e)
		}
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

// Sweep drops every expired entry now. Writes also sweep, once a minute.
func (m *MemoryStore) Sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepAll(m.now())
}

func (m *MemoryStore) sweepAll(now time.Time) {
	for k, exp := range m.sessions {
		if !live(exp, now) {
			delete(m.sessions, k)
		}
	}
	for k, exp := range m.jtis {
		if !live(exp, now) {
			delete(m.jtis, k)
		}
	}
	for k, c := range m.subjects {
		if !live(c.expires, now) {
			delete(m.subjects, k)
		}
	}
	for k, f := range m.families {
		if !live(f.expires, now) {
			delete(m.families, k)
		}
	}
	for k, exp := range m.codes {
		if !live(exp, now) {
			delete(m.codes, k)
		}
	}
	m.trimHistory(now)
}

// Len counts the entries held, expired or not yet swept: after every TTL
// has passed and a Sweep, it is zero.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions) + len(m.jtis) + len(m.subjects) + len(m.families) + len(m.codes)
}
