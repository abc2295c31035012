package keys_test

// Helpers shared by the tests of this package: one file, so a newcomer
// finds the harness, fixtures and assertions in one place.

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtd/jwtd/keys"
)

var kek = bytes.Repeat([]byte{7}, 32)

var prefixes atomic.Int64

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func countStates(r *keys.Ring) map[keys.State]int {
	m := map[keys.State]int{}
	for _, in := range r.List() {
		m[in.State]++
	}
	return m
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testStore is the contract every key store passes.
func testStore(t *testing.T, newStore func(t *testing.T) keys.Store) {
	ctx := context.Background()
	t.Run("empty", func(t *testing.T) {
		ks, err := newStore(t).List(ctx)
		if err != nil || len(ks) != 0 {
			t.Fatalf("List(new store) = %d keys, %v; want 0, nil", len(ks), err)
		}
	})
	t.Run("put list replace delete", func(t *testing.T) {
		s := newStore(t)
		var put []*keys.Key
		for _, alg := range []string{"ES256", "ES384", "EdDSA"} {
			k, err := keys.Generate(alg, keys.Access, t0, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, k); err != nil {
				t.Fatalf("Put(%s): %v", alg, err)
			}
			put = append(put, k)
		}
		got := byID(t, s)
		for _, k := range put {
			g, ok := got[k.ID]
			if !ok {
				t.Fatalf("List: %s missing", k.ID)
			}
			if g.Algorithm != k.Algorithm || !g.ActivatesAt.Equal(k.ActivatesAt) || !g.PublishedAt.Equal(k.PublishedAt) || g.Purpose != k.Purpose {
				t.Fatalf("List: %s = %+v, want %+v", k.ID, g, k)
			}
			if !g.Private.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Fatalf("List: %s has another key", k.ID)
			}
		}
		put[0].ActivatesAt = t0.Add(2 * time.Hour)
		if err := s.Put(ctx, put[0]); err != nil {
			t.Fatal(err)
		}
		if got := byID(t, s)[put[0].ID]; !got.ActivatesAt.Equal(t0.Add(2 * time.Hour)) {
			t.Fatalf("Put(replace): ActivatesAt = %v", got.ActivatesAt)
		}
		if err := s.Delete(ctx, put[1].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, put[1].ID); err != nil {
			t.Fatalf("Delete(missing): %v, want nil", err)
		}
		if got := byID(t, s); len(got) != 2 || got[put[1].ID] != nil {
			t.Fatalf("after Delete: %d keys", len(got))
		}
	})
	t.Run("concurrent writers and readers", func(t *testing.T) {
		s := newStore(t)
		const writers, each = 4, 3
		made := make([][]*keys.Key, writers)
		for w := range made {
			for range each {
				k, err := keys.Generate("EdDSA", keys.Refresh, t0, t0)
				if err != nil {
					t.Fatal(err)
				}
				made[w] = append(made[w], k)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers*each*3)
		for w := range writers {
			wg.Add(2)
			go func() { // each writer puts its keys and deletes its first one
				defer wg.Done()
				for _, k := range made[w] {
					errs <- s.Put(ctx, k)
				}
				errs <- s.Delete(ctx, made[w][0].ID)
			}()
			go func() { // a reader never sees a half-written key
				defer wg.Done()
				for range each {
					ks, err := s.List(ctx)
					for _, k := range ks {
						if k.Private == nil || k.ID == "" {
							err = errors.Join(err, fmt.Errorf("List returned a partial key %+v", k))
						}
					}
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent Put/Delete/List: %v", err)
			}
		}
		got := byID(t, s)
		if len(got) != writers*(each-1) {
			t.Fatalf("after concurrent writers: %d keys, want %d", len(got), writers*(each-1))
		}
		for w := range made {
			if got[made[w][0].ID] != nil {
				t.Errorf("key %s was deleted but is listed", made[w][0].ID)
			}
			for _, k := range made[w][1:] {
				if got[k.ID] == nil {
					t.Errorf("key %s was put but is not listed", k.ID)
				}
			}
		}
	})
	t.Run("hostile ids touch nothing else", func(t *testing.T) {
		s := newStore(t)
		k, err := keys.Generate("ES256", keys.Access, t0, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, k); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"", "..", "../" + k.ID, k.ID + "/../" + k.ID, "*", "a\x00b", strings.Repeat("A", 10000), k.ID + " ", "{keys}", "%2e%2e"} {
			_ = s.Delete(ctx, id) // nil or an error; either way nothing else changes
			if got := byID(t, s); len(got) != 1 || got[k.ID] == nil {
				t.Fatalf("Delete(%.40q) changed the store: %d keys", id, len(got))
			}
		}
	})
}

// otherKID is a well-formed kid that is not kid.
func otherKID(kid string) string {
	if kid[0] == 'A' {
		return "B" + kid[1:]
	}
	return "A" + kid[1:]
}
