package revocation

import "errors"

var (
	// ErrRevoked means the token is on the denylist.
	ErrRevoked = errors.New("revocation: revoked")
	// ErrReused means a spent refresh token came back outside the grace:
	// the session has just been revoked.
	ErrReused = errors.New("revocation: refresh token reused")
	// ErrGraceMismatch means a retry within the grace came from another
	// client or asked another scope; the session is left alone.
	ErrGraceMismatch = errors.New("revocation: retry does not match the spend")
	// ErrUnavailable wraps any failure to reach the store.
	ErrUnavailable = errors.New("revocation: store unavailable")
	// ErrFeedDelayed means a revocation was done but its feed event could
	// not be published yet: it waits in the store's outbox and is retried.
	// The revocation stands; the caller treats it as done, and should
	// make the delay seen (a warning, a counter).
	ErrFeedDelayed = errors.New("revocation: feed event delayed")
	// ErrCursorGone means a feed cursor is older than the kept history: the
	// reader must start again from a snapshot.
	ErrCursorGone = errors.New("revocation: cursor older than the kept history")
)

// ErrStale means a Mirror cannot vouch for a token: it has not loaded a
// snapshot yet, or its source was last seen current longer ago than its
// bound. It travels inside ErrUnavailable, so a caller's fail mode applies.
var ErrStale = errors.New("revocation: mirror is stale")
