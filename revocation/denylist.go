package revocation

import "time"

// denylist is the denylist itself: revoked sessions, revoked access
// tokens and subject cut-offs, each with the time it may be dropped. The
// memory store and the mirror both keep one, so a token is judged by one
// rule wherever it is checked. It is not safe for concurrent use; its
// owner holds the lock.
type denylist struct {
	sessions map[string]instant // revoked sid → expiry
	jtis     map[string]instant
	subjects map[string]cutoff
}

type cutoff struct {
	notBefore instant
	expires   instant
}

func newDenylist() denylist {
	return denylist{sessions: map[string]instant{}, jtis: map[string]instant{}, subjects: map[string]cutoff{}}
}

func live(expires, now time.Time) bool { return now.Before(expires) }

// instant is a time as Unix nanoseconds, 0 for the zero time. The stores'
// maps hold an expiry per entry, millions of them, and a time.Time carries
// a *Location the garbage collector must follow in every one; an instant
// holds no pointer.
type instant int64

func at(t time.Time) instant {
	if t.IsZero() {
		return 0
	}
	return instant(t.UnixNano())
}

func (i instant) time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(i))
}

// liveAt reports whether an entry expiring at i is still kept at now.
func (i instant) liveAt(now time.Time) bool { return at(now) < i }

// check returns ErrRevoked when t's session or jti is revoked, or when its
// subject was cut off at or after t.IssuedAt.
func (d *denylist) check(t Token, now time.Time) error {
	if exp, ok := d.sessions[t.SID]; ok && t.SID != "" && exp.liveAt(now) {
		return ErrRevoked
	}
	if exp, ok := d.jtis[t.JTI]; ok && t.JTI != "" && exp.liveAt(now) {
		return ErrRevoked
	}
	if c, ok := d.subjects[t.Subject]; ok && c.expires.liveAt(now) && at(t.IssuedAt) <= c.notBefore {
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
		mergeExpiry(d.sessions, e.Value, at(e.ExpiresAt))
	case KindToken:
		mergeExpiry(d.jtis, e.Value, at(e.ExpiresAt))
	case KindSubject:
		c := d.subjects[e.Value]
		c.notBefore = max(c.notBefore, at(e.NotBefore))
		c.expires = max(c.expires, at(e.ExpiresAt))
		d.subjects[e.Value] = c
	}
}

func mergeExpiry(set map[string]instant, value string, exp instant) {
	if old, ok := set[value]; !ok || exp > old {
		set[value] = exp
	}
}

// entries lists what is live at now.
func (d *denylist) entries(now time.Time) []Entry {
	out := make([]Entry, 0, d.len())
	for sid, exp := range d.sessions {
		if exp.liveAt(now) {
			out = append(out, Entry{Kind: KindSession, Value: sid, ExpiresAt: exp.time()})
		}
	}
	for jti, exp := range d.jtis {
		if exp.liveAt(now) {
			out = append(out, Entry{Kind: KindToken, Value: jti, ExpiresAt: exp.time()})
		}
	}
	for sub, c := range d.subjects {
		if c.expires.liveAt(now) {
			out = append(out, Entry{Kind: KindSubject, Value: sub, NotBefore: c.notBefore.time(), ExpiresAt: c.expires.time()})
		}
	}
	return out
}

// sweep drops every entry that has expired at now.
func (d *denylist) sweep(now time.Time) {
	for k, exp := range d.sessions {
		if !exp.liveAt(now) {
			delete(d.sessions, k)
		}
	}
	for k, exp := range d.jtis {
		if !exp.liveAt(now) {
			delete(d.jtis, k)
		}
	}
	for k, c := range d.subjects {
		if !c.expires.liveAt(now) {
			delete(d.subjects, k)
		}
	}
}

func (d *denylist) len() int { return len(d.sessions) + len(d.jtis) + len(d.subjects) }
