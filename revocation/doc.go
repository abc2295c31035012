// Package revocation keeps the little state that stateless tokens need: the
// denylist (revoked sessions, revoked access-token jtis, per-subject
// cut-offs) and, for each session, which refresh token was spent last, so a
// spent one can be recognised when it comes back.
//
// Every entry expires when the last token it could block would have expired
// anyway, so the store's size is bounded by the tokens alive at one time.
// One Store interface has two implementations that pass one contract test:
// MemoryStore (one process) and redisstore.Store (a server, Sentinel or Cluster;
// its own package, so that importing this one never pulls in go-redis).
// Both also keep a bounded history of revocations, the feed (Snapshot,
// Since), so a verifier that caches the denylist can follow it.
package revocation
