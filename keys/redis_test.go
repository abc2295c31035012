package keys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/keys"
)

func newRedisKeyStore(t *testing.T, c redis.UniversalClient) *keys.RedisStore {
	t.Helper()
	s, err := keys.NewRedisStore(c, fmt.Sprintf("k%d:", prefixes.Add(1)), kek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRedisKeyStore(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	testStore(t, func(t *testing.T) keys.Store { return newRedisKeyStore(t, c) })
}

func TestRedisClusterKeyStore(t *testing.T) {
	c := redistest.StartCluster(t, 3).Client(t)
	testStore(t, func(t *testing.T) keys.Store { return newRedisKeyStore(t, c) })
}

// TestRedisKeyStoreSealed: Redis holds only sealed bytes, and a store with
// another key-encryption key refuses them loudly.
func TestRedisKeyStoreSealed(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	c := srv.Client(t)
	s, _ := keys.NewRedisStore(c, "sealed:", kek)
	k, _ := keys.Generate("ES256", keys.Access, t0, t0)
	if err := s.Put(ctx, k); err != nil {
		t.Fatal(err)
	}
	raw, err := c.HGetAll(ctx, "sealed:{keys}").Result()
	if err != nil || len(raw) != 1 {
		t.Fatalf("HGETALL = %v, %v", raw, err)
	}
	plain, _ := keys.MarshalPrivate(k)
	for kid, v := range raw {
		if kid != k.ID || strings.Contains(v, `"d"`) || strings.Contains(v, "jwtd_purpose") || bytes.Contains([]byte(v), plain[:20]) {
			t.Fatalf("stored value for %s is not sealed: %q", kid, v)
		}
	}
	other, _ := keys.NewRedisStore(c, "sealed:", bytes.Repeat([]byte{8}, 32))
	if _, err := other.List(ctx); !errors.Is(err, keys.ErrCorrupt) {
		t.Fatalf("List with another key-encryption key: err = %v, want %v", err, keys.ErrCorrupt)
	}
	// A sealed key moved under another kid does not open.
	for _, v := range raw {
		if err := c.HSet(ctx, "sealed:{keys}", otherKID(k.ID), v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.List(ctx); !errors.Is(err, keys.ErrCorrupt) {
		t.Fatalf("List with a key under a foreign kid: err = %v, want %v", err, keys.ErrCorrupt)
	}
	if _, err := keys.NewRedisStore(c, "x:", []byte("short")); err == nil {
		t.Fatal("a 5-byte key-encryption key was accepted")
	}
	srv.Kill()
	if _, err := s.List(ctx); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("List with Redis down: err = %v, want %v", err, keys.ErrUnavailable)
	}
}

// TestReplicasMaintainTogether: several rings on one Redis store, all
// maintaining at once, end with one active and one next key per purpose.
func TestReplicasMaintainTogether(t *testing.T) {
	srv := redistest.Start(t)
	store := newRedisKeyStore(t, srv.Client(t))
	c := &clock{now: t0}
	var rings []*keys.Ring
	for i := 0; i < 5; i++ {
		r, err := keys.NewRing(context.Background(), store, keys.Options{Purpose: keys.Access, Algorithm: "EdDSA",
			RotateEvery: rotateEvery, PublishAhead: publishAhead, Lifetime: lifetime, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		rings = append(rings, r)
	}
	var wg sync.WaitGroup
	for round := 0; round < 3; round++ {
		for _, r := range rings {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.Maintain(context.Background()); err != nil {
					t.Errorf("Maintain: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	// Everyone re-reads what the lock holders wrote.
	for _, r := range rings {
		if err := r.Maintain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := store.List(context.Background())
	states := countStates(rings[0])
	if len(all) != 2 || states[keys.StateActive] != 1 || states[keys.StateNext] != 1 {
		t.Fatalf("after concurrent maintenance: %d keys, states %v; want one active and one next", len(all), states)
	}
}
