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
func (m *MemoryStore) RevokeSession(_ context.Context, sid string, ttl time.Duration) error {
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
	return nil
}

// Spend implements Store; the mutex makes it one atomic step.
func (m *MemoryStore) Spend(_ context.Context, s Spend) (Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if exp, ok := m.sessions[s.SID]; ok && live(exp, now) {
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
}

// Len counts the entries held, expired or not yet swept: after every TTL
// has passed and a Sweep, it is zero.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions) + len(m.jtis) + len(m.subjects) + len(m.families) + len(m.codes)
}
