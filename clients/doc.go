// Package clients holds jwtd's configured callers and the policy that goes
// with them, with no HTTP: a Client's grants, scopes and audiences; the
// secret hashes it authenticates with (sha256 for random secrets, bcrypt
// or argon2id for chosen ones, within bounds that keep a leaked config
// costly and a failed guess cheap); the Registry that checks a secret so
// that neither time nor work tells which ids exist; and the scope (RFC 6749
// §3.3) and audience choices at login and at refresh. The handlers package
// turns its errors into OAuth answers.
package clients
