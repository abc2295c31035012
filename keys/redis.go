package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Store = (*RedisStore)(nil)

// RedisStore keeps every key in one Redis hash, <prefix>keys, field = kid.
// Each private JWK is sealed with AES-256-GCM under the key-encryption key
// (keys.encryption_key_env), with the kid as additional data, so Redis,
// its backups and its replicas never hold a usable private key, and a
// sealed key cannot be passed off under another kid.
type RedisStore struct {
	c         redis.UniversalClient
	key, lock string
	aead      cipher.AEAD
	opTimeout time.Duration
}

// NewRedisStore returns a store on c. kek must be 32 bytes.
func NewRedisStore(c redis.UniversalClient, prefix string, kek []byte) (*RedisStore, error) {
	if len(kek) != 32 {
		return nil, ErrKeyEncryptionKey
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// One hash tag for both keys: one slot on a cluster.
	return &RedisStore{c: c, key: prefix + "{keys}", lock: prefix + "{keys}:lock", aead: aead, opTimeout: 2 * time.Second}, nil
}

func (s *RedisStore) seal(k *Key) ([]byte, error) {
	plain, err := MarshalPrivate(k)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(k.ID)), nil
}

func (s *RedisStore) open(kid string, sealed []byte) (*Key, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("%w: key %s: too short", ErrCorrupt, kid)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w: key %s does not open: a different key-encryption key?", ErrCorrupt, kid)
	}
	k, err := UnmarshalPrivate(plain)
	if err != nil {
		return nil, err
	}
	if k.ID != kid {
		return nil, fmt.Errorf("%w: key %s is stored under another kid", ErrCorrupt, kid)
	}
	return k, nil
}

// List implements Store.
func (s *RedisStore) List(ctx context.Context) ([]*Key, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	all, err := s.c.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	out := make([]*Key, 0, len(all))
	for kid, sealed := range all {
		k, err := s.open(kid, []byte(sealed))
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, k *Key) error {
	sealed, err := s.seal(k)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	if err := s.c.HSet(ctx, s.key, k.ID, sealed).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Delete implements Store.
func (s *RedisStore) Delete(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	if err := s.c.HDel(ctx, s.key, id).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// lockTTL bounds how long a crashed replica can hold the maintenance lock.
const lockTTL = 10 * time.Second

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Lock takes the store's maintenance lock, so that replicas sharing it do
// not generate keys at the same instant. It reports false, without error,
// when another process holds it.
func (s *RedisStore) Lock(ctx context.Context) (unlock func(), ok bool, err error) {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	ctx2, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	ok, err = s.c.SetNX(ctx2, s.lock, token, lockTTL).Result()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout)
		defer cancel()
		_ = unlockScript.Run(ctx, s.c, []string{s.lock}, token).Err()
	}, true, nil
}
