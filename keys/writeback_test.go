package keys_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/token"
)

func kidsOf(r *keys.Ring) []string {
	var out []string
	for _, in := range r.List() {
		out = append(out, in.ID)
	}
	return out
}

// TestEmptiedRedisWrittenBack: a key-store Redis that comes back empty (a
// restart without persistence, a failover to an empty replica) gets the
// keys the replicas still hold written back, instead of a new key set that
// would log everyone out. Replicas that do not hold the maintenance lock
// keep verifying meanwhile.
func TestEmptiedRedisWrittenBack(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		empty func(t *testing.T, srv *redistest.Server, c *redis.Client)
	}{
		{"FLUSHALL", func(t *testing.T, _ *redistest.Server, c *redis.Client) {
			t.Helper()
			if err := c.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}},
		{"restart without persistence", func(t *testing.T, srv *redistest.Server, _ *redis.Client) {
			t.Helper()
			srv.Restart(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			c := srv.Client(t)
			prefix := fmt.Sprintf("wb%d:", prefixes.Add(1))
			clk := &clock{now: t0}
			logs := &strings.Builder{}
			log := slog.New(slog.NewJSONHandler(logs, nil))
			type replica struct {
				store           *keys.RedisStore
				access, refresh *keys.Ring
			}
			newReplica := func() replica {
				t.Helper()
				s, err := keys.NewRedisStore(c, prefix, kek)
				if err != nil {
					t.Fatal(err)
				}
				rep := replica{store: s}
				for _, p := range []keys.Purpose{keys.Access, keys.Refresh} {
					r, err := keys.NewRing(ctx, s, keys.Options{Purpose: p, Algorithm: "EdDSA", RotateEvery: rotateEvery,
						PublishAhead: publishAhead, Lifetime: lifetime, Now: clk.Now, Logger: log})
					if err != nil {
						t.Fatal(err)
					}
					if err := r.Maintain(ctx); err != nil {
						t.Fatalf("Maintain(%s): %v", p, err)
					}
					if p == keys.Access {
						rep.access = r
					} else {
						rep.refresh = r
					}
				}
				return rep
			}
			one, two := newReplica(), newReplica()
			// A rotation leaves a retired key too: it must come back as well.
			clk.now = t0.Add(time.Minute)
			if _, err := one.access.Rotate(ctx, false); err != nil {
				t.Fatal(err)
			}
			if err := two.access.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			topts := token.Options{Issuer: "https://auth.example", AccessTTL: 10 * time.Minute, RefreshTTL: 10 * time.Minute,
				SessionMaxAge: 10 * time.Minute, Audiences: []string{"api"}, Now: clk.Now}
			iss := token.NewIssuer(topts, one.access, one.refresh)
			pair, err := iss.Mint(token.Session{Subject: "alice", ClientID: "app", SID: token.NewID(), Audience: []string{"api"}, AuthTime: clk.now}, iss.NewStamp(), true)
			if err != nil {
				t.Fatal(err)
			}
			wantAccess, wantRefresh := kidsOf(one.access), kidsOf(one.refresh)
			if len(wantAccess) != 3 || len(wantRefresh) != 2 {
				t.Fatalf("before: access keys %v, refresh keys %v; want 3 and 2", wantAccess, wantRefresh)
			}

			tt.empty(t, srv, c)
			clk.now = clk.now.Add(time.Minute)

			// While another process holds the lock, a replica only re-reads:
			// it must not drop the keys it holds for an empty store.
			unlock, held, err := one.store.Lock(ctx)
			if err != nil || !held {
				t.Fatalf("Lock: %v, %v", held, err)
			}
			if err := two.access.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if got := kidsOf(two.access); !slices.Equal(got, wantAccess) {
				t.Fatalf("replica without the lock, store empty: access keys %v, want %v", got, wantAccess)
			}
			unlock()

			for i, rep := range []replica{two, one} {
				for _, r := range []*keys.Ring{rep.access, rep.refresh} {
					if err := r.Maintain(ctx); err != nil {
						t.Fatalf("replica %d: Maintain after the store emptied: %v", i, err)
					}
				}
			}
			for i, rep := range []replica{one, two} {
				if got := kidsOf(rep.access); !slices.Equal(got, wantAccess) {
					t.Errorf("replica %d after write-back: access keys %v, want %v", i, got, wantAccess)
				}
				if got := kidsOf(rep.refresh); !slices.Equal(got, wantRefresh) {
					t.Errorf("replica %d after write-back: refresh keys %v, want %v", i, got, wantRefresh)
				}
			}
			if all, err := one.store.List(ctx); err != nil || len(all) != len(wantAccess)+len(wantRefresh) {
				t.Fatalf("store after write-back: %d keys, %v; want %d", len(all), err, len(wantAccess)+len(wantRefresh))
			}
			// A fresh process reads the written-back keys.
			fresh := newReplica()
			v := token.NewVerifier(topts, fresh.access, fresh.refresh)
			if _, err := v.Access(ctx, pair.Access); err != nil {
				t.Errorf("Access(token minted before the store emptied): %v", err)
			}
			if _, err := v.Refresh(ctx, pair.Refresh); err != nil {
				t.Errorf("Refresh(token minted before the store emptied): %v", err)
			}
			if n := strings.Count(logs.String(), `"level":"WARN","msg":"key store has no key`); n != 2 {
				t.Errorf("%d write-back warnings logged, want 2 (one per purpose):\n%s", n, logs)
			}

			// Some keys missing is a deletion (revoke_current), not a loss:
			// the deleted key stays deleted.
			active, _, _, _ := one.access.SigningKey()
			if err := one.store.Delete(ctx, active); err != nil {
				t.Fatal(err)
			}
			for _, rep := range []replica{one, two} {
				if err := rep.access.Maintain(ctx); err != nil {
					t.Fatal(err)
				}
				if slices.Contains(kidsOf(rep.access), active) {
					t.Fatalf("deleted key %s came back", active)
				}
			}
		})
	}
}
