package revocation

import "time"

// denylist is the denylist itself: revoked sessions, revoked access
// tokens and subject cut-offs, each with the time it may be dropped. The
// memory store and the mirror both keep one, so a token is judged by one
// rule wherever it is checked. It is not safe for concurrent use; its
// owner holds the lock.
type denylist struct {
	sessions map[string]time.Time // revoked sid → expiry
	jtis     map[string]time.Time
	subjects map[string]cutoff
}

type cutoff struct {
	notBefore time.Time
	expires   time.Time
}

func newDenylist() denylist {
	return denylist{sessions: map[string]time.Time{}, jtis: map[string]time.Time{}, subjects: map[string]cutoff{}}
}

func live(expires, now time.Time) bool { return now.Before(expires) }

// check returns ErrRevoked when t's session or jti is revoked, or when its
// subject was cut off at or after t.IssuedAt.
func (d *denylist) check(t Token, now time.Time) error {
	if exp, ok := d.sessions[t.SID]; ok && t.SID != "" && live(exp, now) {
		return ErrRevoked
	}
	if exp, ok := d.jtis[t.JTI]; ok && t.JTI != "" && live(exp, now) {
		return ErrRevoked
	}
	if c, ok := d.subjects[t.Subject]; ok && live(c.expires, now) && !t.IssuedAt.After(c.notBefore) {
		return ErrRevoked
	}
	return nil
}

// merge adds e as a copy of the denylist learns it (a snapshot's entry, a
// feed event, a revocation made here): an entry already held is widened,
// never narrowed, so events arriving twice or out of order cannot unrevoke
// anything. An unknown kind is ignored: a newer jwtd may publish more.
func (d *denylist) merge(e Entry) {
	switch e.Kind {
	case KindSession:
		mergeExpiry(d.sessions, e.Value, e.ExpiresAt)
	case KindToken:
		mergeExpiry(d.jtis, e.Value, e.ExpiresAt)
	case KindSubject:
		c := d.subjects[e.Value]
		if e.NotBefore.After(c.notBefore) {
			c.notBefore = e.NotBefore
		}
		if e.ExpiresAt.After(c.expires) {
			c.expires = e.ExpiresAt
		}
		d.subjects[e.Value] = c
	}
}

func mergeExpiry(set map[string]time.Time, value string, exp time.Time) {
	if old, ok := set[value]; !ok || exp.After(old) {
		set[value] = exp
	}
}

// entries lists what is live at now.
func (d *denylist) entries(now time.Time) []Entry {
	out := make([]Entry, 0, d.len())
	for sid, exp := range d.sessions {
		if live(exp, now) {
			out = append(out, Entry{Kind: KindSession, Value: sid, ExpiresAt: exp})
		}
	}
	for jti, exp := range d.jtis {
		if live(exp, now) {
			out = append(out, Entry{Kind: KindToken, Value: jti, ExpiresAt: exp})
		}
	}
	for sub, c := range d.subjects {
		if live(c.expires, now) {
			out = append(out, Entry{Kind: KindSubject, Value: sub, NotBefore: c.notBefore, ExpiresAt: c.expires})
		}
	}
	return out
}

// sweep drops every entry that has expired at now.
func (d *denylist) sweep(now time.Time) {
	for k, exp := range d.sessions {
		if !live(exp, now) {
			delete(d.sessions, k)
		}
	}
	for k, exp := range d.jtis {
		if !live(exp, now) {
			delete(d.jtis, k)
		}
	}
	for k, c := range d.subjects {
		if !live(c.expires, now) {
			delete(d.subjects, k)
		}
	}
}

func (d *denylist) len() int { return len(d.sessions) + len(d.jtis) + len(d.subjects) }
