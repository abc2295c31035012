package revocation

import (
	"fmt"
	"time"
)

// Test hooks for the external revocation_test package.

// HistoryLen counts the feed events the memory store keeps.
func (m *MemoryStore) HistoryLen() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.history)
}

// SetMaxHistory changes how many feed events the memory store keeps.
func (m *MemoryStore) SetMaxHistory(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maxHistory = n
}

// Sweep drops every expired entry now. Writes also sweep, once a minute.
func (m *MemoryStore) Sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepAll(m.now())
}

// Len counts the entries held, expired or not yet swept: after every TTL
// has passed and a Sweep, it is zero.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deny.len() + m.families.len() + len(m.codes)
}

// SetFeedWaitHook has FollowFeed report each wait before it reconnects;
// the returned func removes the hook.
func SetFeedWaitHook(f func(time.Duration)) (restore func()) {
	feedWaitHook = f
	return func() { feedWaitHook = nil }
}

// Families counts the refresh families held packed and as they are.
func (m *MemoryStore) Families() (packed, plain int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.families.packed), len(m.families.plain)
}

// FillInterner takes every slot of the memory store's interned client ids
// and scopes, so the next new one cannot be packed.
func (m *MemoryStore) FillInterner() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.families.names.strs); i < maxInterned; i++ {
		m.families.names.intern(fmt.Sprintf("filler-%d", i))
	}
}
