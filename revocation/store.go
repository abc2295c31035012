package revocation

import (
	"context"
	"time"
)

// Store is what the handlers ask of the revocation state. A TTL passed to a
// method is how long the entry must be kept: the longest time a token it
// blocks could still be valid.
//
// A revocation (RevokeSession, RevokeToken, RevokeSubject, a Spend that
// detects reuse) that is done but whose feed event is not yet published
// returns an error wrapping ErrFeedDelayed (joined with ErrReused for a
// Spend): the revocation stands, and the store publishes the event later.
type Store interface {
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Check returns ErrRevoked when t's session or jti is revoked, or when
	// its subject was cut off at or after t.IssuedAt.
	Check(ctx context.Context, t Token) error
	// RevokeSession denylists every token of session sid of subject sub
	// (the store keeps a session's state with its subject's cut-off).
	RevokeSession(ctx context.Context, sub, sid string, ttl time.Duration) error
	// RevokeToken denylists one access token by jti.
	RevokeToken(ctx context.Context, jti string, ttl time.Duration) error
	// RevokeSubject revokes every token of sub issued at or before notBefore.
	RevokeSubject(ctx context.Context, sub string, notBefore time.Time, ttl time.Duration) error
	// Spend spends a refresh token in one atomic step; see Spend.
	Spend(ctx context.Context, s Spend) (Outcome, error)
	// SpendCode spends a single-use handoff code: nil the first time,
	// ErrReused every time after, until ttl has passed.
	SpendCode(ctx context.Context, jti string, ttl time.Duration) error
	// Snapshot calls emit with each entry of the live denylist (sessions,
	// tokens, subject cut-offs), as it reads them, and returns the cursor
	// the snapshot is current at: events after it are what changed since
	// (an entry revoked during the snapshot may be both emitted and in the
	// feed after the cursor, never in neither). An error from emit stops
	// the snapshot and is returned as it is.
	Snapshot(ctx context.Context, emit func(Entry) error) (cursor string, err error)
	// Since returns the revocations after cursor, oldest first (at most
	// SinceBatch per call, and fewer only when there are no more), or
	// ErrCursorGone when cursor is older than History.
	Since(ctx context.Context, cursor string) ([]Event, error)
}

// Token is what Check needs to know of a token.
type Token struct {
	SID      string // empty for client-credentials tokens
	JTI      string
	Subject  string
	IssuedAt time.Time
}

// Child is the record of one spend: what the spent refresh token was
// exchanged for. It holds identifiers and times, never a token, so the store
// holds nothing a thief could use; the same Child minted again gives the
// same pair.
type Child struct {
	IssuedAt  time.Time // whole seconds
	AccessID  string
	RefreshID string
	ClientID  string
	Scope     string
}

// Spend asks to spend the refresh token JTI of session SID for Child.
type Spend struct {
	SID string
	JTI string
	// Subject and IssuedAt are the spent token's sub and iat: the spend is
	// refused when the subject was cut off at or after IssuedAt, in the
	// same atomic step, so a refresh racing a logout/all cannot outlive it.
	Subject  string
	IssuedAt time.Time
	Child    Child
	// Grace is tokens.reuse_grace: how long a retry of the last spend
	// answers the same pair. Zero disables it.
	Grace time.Duration
	// TTL is how long the session's state must be kept: the longest the new
	// refresh token (or, on reuse, any token of the session) can live.
	TTL time.Duration
}

// Outcome is the result of a successful Spend.
type Outcome struct {
	// Child is what to mint: the caller's Child on a first spend, the
	// recorded one on a retry within the grace.
	Child Child
	// Retry is true when this was a retry within the grace.
	Retry bool
}

// The rules of Spend, which both stores implement in one atomic step:
//
//   - the session is revoked, or its subject was cut off at or after
//     IssuedAt: ErrRevoked;
//   - the token is the newest of its session (or the session has no spend
//     yet: it is the login's token): spent, Outcome{Child: s.Child};
//   - the token is the one spent last, within Grace, by the same client for
//     the same scope: Outcome{Child: recorded, Retry: true};
//   - the same, but another client or scope: ErrGraceMismatch;
//   - anything else is a reuse: the session is revoked, ErrReused.
//
// Only the newest token and its predecessor need remembering: refresh
// tokens of one session form a chain, so any token that is neither is an
// older, spent one.
