package keys

import "errors"

var (
	// ErrUnknownKey means no usable key has the requested kid: it never
	// existed, it is gone, or it was revoked.
	ErrUnknownKey = errors.New("keys: unknown key id")
	// ErrNoSigningKey means the ring has no active key (the store could not
	// be read at start-up).
	ErrNoSigningKey = errors.New("keys: no active signing key")
	// ErrUnsupportedAlgorithm names an algorithm jwtd does not sign with.
	ErrUnsupportedAlgorithm = errors.New("keys: unsupported algorithm")
	// ErrCorrupt means a stored key could not be decoded.
	ErrCorrupt = errors.New("keys: corrupt key file")
	// ErrInsecure means the file store's directory or a key file could be
	// changed, or a private key read, by someone other than jwtd's user.
	ErrInsecure = errors.New("keys: insecure key store permissions")
	// ErrUnavailable wraps a failure to reach the Redis key store.
	ErrUnavailable = errors.New("keys: store unavailable")
	// ErrKeyEncryptionKey refuses a key-encryption key that is not 32
	// bytes: AES-256-GCM seals the Redis store's private keys.
	ErrKeyEncryptionKey = errors.New("keys: the key-encryption key must be 32 bytes")
)
