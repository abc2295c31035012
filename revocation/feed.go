package revocation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// History is how long the revocation feed remembers events, so a verifier
// that reconnects within it resumes without a new snapshot.
const History = time.Hour

// MaxHistory bounds the feed by count as well as by age: the newest
// MaxHistory events are kept (in Redis, about that many: the stream is
// trimmed with MAXLEN ~). A reader further behind gets ErrCursorGone and
// starts again from a snapshot, which is what a flood of revocations then
// costs it.
const MaxHistory = 100_000

// SinceBatch bounds one Since answer; a reader asks again from the last
// cursor it got while the answers are full (SinceBatch events): a shorter
// one held every event there was.
const SinceBatch = 1000

// The kinds of denylist entries.
const (
	KindSession = "sid"
	KindToken   = "jti"
	KindSubject = "sub"
)

// Entry is one denylist entry, as the revocation feed publishes it.
type Entry struct {
	Kind      string    // KindSession, KindToken or KindSubject
	Value     string    // the sid, jti or sub
	NotBefore time.Time // KindSubject only: tokens with iat <= NotBefore are revoked
	ExpiresAt time.Time // when the entry leaves the denylist
}

// Event is one revocation in the feed, with the cursor just after it.
type Event struct {
	Cursor string
	Entry  Entry
}

// FormatCursor formats a cursor as "<unix ms>-<sequence>", the shape of a
// Redis stream ID, so both stores have cursors that order and age alike.
func FormatCursor(ms, seq int64) string {
	return strconv.FormatInt(ms, 10) + "-" + strconv.FormatInt(seq, 10)
}

// ParseCursor reads a cursor; anything else is ErrCursorGone, which sends
// the reader to a snapshot, the safe answer to a cursor we did not make.
func ParseCursor(c string) (ms, seq int64, err error) {
	a, b, ok := strings.Cut(c, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: malformed", ErrCursorGone)
	}
	if ms, err = strconv.ParseInt(a, 10, 64); err != nil || ms < 0 {
		return 0, 0, fmt.Errorf("%w: malformed", ErrCursorGone)
	}
	if seq, err = strconv.ParseInt(b, 10, 64); err != nil || seq < 0 {
		return 0, 0, fmt.Errorf("%w: malformed", ErrCursorGone)
	}
	return ms, seq, nil
}

// Position is a cursor as the two numbers it orders by: "<ms>-<seq>",
// a Redis stream ID's shape.
type Position struct{ MS, Seq int64 }

// After reports whether a comes after b in the feed.
func (a Position) After(b Position) bool { return a.MS > b.MS || a.MS == b.MS && a.Seq > b.Seq }

// ParsePosition reads a cursor of the "<ms>-<seq>" shape; ok is false for
// anything else (a memory store's cursor names its process too).
func ParsePosition(c string) (p Position, ok bool) {
	ms, seq, err := ParseCursor(c)
	return Position{ms, seq}, err == nil
}
