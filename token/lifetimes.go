package token

import "time"

// The revocation store keeps each entry exactly as long as a token it
// blocks could still be accepted. These derive those TTLs from the token
// lifetimes, so the denylist never outlives what it protects against.

// SessionEnd is the instant no token of a session logged in at authTime
// may outlive.
func (o Options) SessionEnd(authTime time.Time) time.Time {
	return authTime.Truncate(time.Second).Add(o.SessionMaxAge)
}

// SessionTTL is how long, from now, any token of the session logged in at
// authTime can still be accepted: its newest refresh token lives at most
// RefreshTTL from now and never past the session's end; access tokens live
// AccessTTL. Leeway is added because verifiers accept it past exp.
func (o Options) SessionTTL(authTime time.Time) time.Duration {
	now := o.now()
	life := min(o.RefreshTTL, o.SessionEnd(authTime).Sub(now))
	return max(life, o.AccessTTL) + o.Leeway
}

// SubjectTTL is how long a per-subject cut-off must be kept: the longest
// any token issued before it can still be accepted.
func (o Options) SubjectTTL() time.Duration {
	return max(o.AccessTTL, min(o.RefreshTTL, o.SessionMaxAge)) + o.Leeway
}

// TokenTTL is how long a revoked token with expiry exp must stay denylisted.
func (o Options) TokenTTL(exp time.Time) time.Duration {
	return max(exp.Sub(o.now()), 0) + o.Leeway
}
