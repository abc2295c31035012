package revocation

import (
	"context"
	"errors"
	"time"
)

var _ Store = (*Mirrored)(nil)

// Mirrored is a Store whose checks are answered by a Mirror of it: jwtd on
// Redis checks tokens without a round trip, while spends and revocations
// still go to the store, atomically there. A revocation made through
// Mirrored is merged into the mirror as soon as the store has it, so this
// replica refuses the token at once; other replicas learn it from the feed
// (their mirrors' followers).
//
// Ping reports the mirror's currency, not the store's, without a round
// trip: one whose mirror is current can answer checks even while the store
// is briefly away. Ready asks both.
type Mirrored struct {
	Store
	m   *Mirror
	now func() time.Time
}

// NewMirrored checks through m and writes through s. Something must keep m
// following s (redisstore.Store.Follow); Mirrored does not.
func NewMirrored(s Store, m *Mirror) *Mirrored {
	return &Mirrored{Store: s, m: m, now: m.now}
}

// Mirror is the mirror the checks read.
func (s *Mirrored) Mirror() *Mirror { return s.m }

// Ping implements Store: nil while the mirror can vouch for tokens.
func (s *Mirrored) Ping(context.Context) error { return s.m.Current() }

// Ready reports whether this replica can serve every request: its mirror
// can vouch for tokens, and the store answers (spends and revocations go
// there). /readyz asks it; Ping, asked per request, stays in memory.
func (s *Mirrored) Ready(ctx context.Context) error {
	if err := s.m.Current(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// Check implements Store from the mirror.
func (s *Mirrored) Check(ctx context.Context, t Token) error { return s.m.Check(ctx, t) }

// Since implements Store from the events the mirror applied, when it has
// them, so a feed of many streams costs the store nothing; otherwise it
// asks the store.
func (s *Mirrored) Since(ctx context.Context, cursor string) ([]Event, error) {
	if evs, ok := s.m.Since(cursor); ok {
		return evs, nil
	}
	return s.Store.Since(ctx, cursor)
}

// Changed is closed at the next change of the mirror.
func (s *Mirrored) Changed() <-chan struct{} { return s.m.Changed() }

// stands says whether a write took effect in the store: done, or done with
// its feed event delayed.
func stands(err error) bool { return err == nil || errors.Is(err, ErrFeedDelayed) }

// RevokeSession implements Store.
func (s *Mirrored) RevokeSession(ctx context.Context, sub, sid string, ttl time.Duration) error {
	err := s.Store.RevokeSession(ctx, sub, sid, ttl)
	if stands(err) {
		s.m.Merge(Entry{Kind: KindSession, Value: sid, ExpiresAt: s.now().Add(ttl)})
	}
	return err
}

// RevokeToken implements Store.
func (s *Mirrored) RevokeToken(ctx context.Context, jti string, ttl time.Duration) error {
	err := s.Store.RevokeToken(ctx, jti, ttl)
	if stands(err) {
		s.m.Merge(Entry{Kind: KindToken, Value: jti, ExpiresAt: s.now().Add(ttl)})
	}
	return err
}

// RevokeSubject implements Store.
func (s *Mirrored) RevokeSubject(ctx context.Context, sub string, notBefore time.Time, ttl time.Duration) error {
	err := s.Store.RevokeSubject(ctx, sub, notBefore, ttl)
	if stands(err) {
		s.m.Merge(Entry{Kind: KindSubject, Value: sub, NotBefore: notBefore, ExpiresAt: s.now().Add(ttl)})
	}
	return err
}

// Spend implements Store; a reuse revokes the session here too.
func (s *Mirrored) Spend(ctx context.Context, sp Spend) (Outcome, error) {
	out, err := s.Store.Spend(ctx, sp)
	if errors.Is(err, ErrReused) {
		s.m.Merge(Entry{Kind: KindSession, Value: sp.SID, ExpiresAt: s.now().Add(sp.TTL)})
	}
	return out, err
}
