package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
)

// loadDenylist writes n denylist entries straight into Redis, pipelined
// (a third each sessions, jtis and cut-offs), and returns what a snapshot
// must hold: kind:value → not_before (unix s, cut-offs only).
func loadDenylist(tb testing.TB, c *redis.Client, s *Store, n int, nb time.Time) map[string]int64 {
	tb.Helper()
	ctx := context.Background()
	want := make(map[string]int64, n)
	const batch = 10_000
	for start := 0; start < n; start += batch {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+batch, n); i++ {
				v := fmt.Sprintf("v%07d", i)
				switch i % 3 {
				case 0:
					p.Set(ctx, s.sessionKey("sub-"+v, v), "1", time.Hour)
					want[revocation.KindSession+":"+v] = 0
				case 1:
					p.Set(ctx, s.jtiKey(v), "1", time.Hour)
					want[revocation.KindToken+":"+v] = 0
				case 2:
					p.Set(ctx, s.subjectKey(v), nb.Unix(), time.Hour)
					want[revocation.KindSubject+":"+v] = nb.Unix()
				}
				if i%100 == 0 { // keys that are not entries
					p.HSet(ctx, s.familyKey("sub-"+v, v), "head", "x")
					p.Set(ctx, s.codeKey(v), "1", time.Hour)
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return want
}

// TestRedisSnapshotLarge snapshots 250,000 denylist entries in a real
// Redis under the default op timeout: complete, correct, no error. One
// round trip per key (250,000 of them under one 5s deadline) failed here.
func TestRedisSnapshotLarge(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	s := New(Options{Client: c, Prefix: "big:"})
	nb := time.Unix(1_772_366_400, 0)
	want := loadDenylist(t, c, s, 250_000, nb)
	limit := time.Now().Add(time.Hour - time.Minute)
	got := 0
	start := time.Now()
	defer func() { t.Logf("snapshot of 250,000 entries: %v", time.Since(start)) }()
	cursor, err := s.Snapshot(context.Background(), func(e revocation.Entry) error {
		got++
		wantNB, ok := want[e.Kind+":"+e.Value]
		switch {
		case !ok:
			return fmt.Errorf("unexpected or repeated entry %+v", e)
		case e.Kind == revocation.KindSubject && e.NotBefore.Unix() != wantNB:
			return fmt.Errorf("entry %+v: not_before %d, want %d", e, e.NotBefore.Unix(), wantNB)
		case e.ExpiresAt.Before(limit):
			return fmt.Errorf("entry %+v expires too early", e)
		}
		delete(want, e.Kind+":"+e.Value)
		return nil
	})
	if err != nil {
		t.Fatalf("Snapshot(250,000 entries) = %v after %d entries", err, got)
	}
	if len(want) != 0 || got != 250_000 {
		t.Fatalf("Snapshot(250,000 entries) emitted %d, missed %d", got, len(want))
	}
	if _, _, err := revocation.ParseCursor(cursor); err != nil {
		t.Fatalf("Snapshot cursor %q: %v", cursor, err)
	}
}

// BenchmarkRedisSnapshot1M snapshots 1,000,000 denylist entries in a
// real Redis (run: go test -run XXX -bench RedisSnapshot1M -benchtime 3x).
func BenchmarkRedisSnapshot1M(b *testing.B) {
	srv := redistest.Start(b)
	c := srv.Client(b)
	s := New(Options{Client: c, Prefix: "big:"})
	loadDenylist(b, c, s, 1_000_000, time.Unix(1_772_366_400, 0))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if _, err := s.Snapshot(context.Background(), func(revocation.Entry) error { n++; return nil }); err != nil || n != 1_000_000 {
			b.Fatalf("Snapshot = %d entries, %v", n, err)
		}
	}
}
