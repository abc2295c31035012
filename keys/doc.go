// Package keys holds jwtd's signing keys: their generation, the
// next → active → retired → gone lifecycle, the stores that keep them, and the
// JWKS that publishes their public halves.
//
// A key's state is derived from two instants kept with it, so every replica
// that reads the same store agrees on it without coordination:
//
//   - next: published, not yet signing (ActivatesAt is in the future);
//   - active: the newest key whose ActivatesAt has passed; it signs;
//   - retired: superseded by a newer active key; it still verifies, and stays
//     published, until every token it signed has expired;
//   - gone: deleted from the store.
//
// The next key is published before it signs (RFC 7517 key rollover; OpenID
// Connect Core §10.1.1) because verifiers cache the JWKS: a token signed by a
// key a gateway has not fetched yet would be rejected until its cache expires.
//
// A shared store that comes back with no key of a purpose (a Redis restarted
// without persistence) is refilled from the keys a running process still
// holds, rather than with a new set that would end every session; see
// Ring.Maintain. A store missing only some keys is a deletion and stays so.
package keys
