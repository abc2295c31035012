package revocation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jwtd/jwtd/revocation"
)

// BenchmarkMemorySinceIdle is an idle subscriber's poll with a full
// history: it must not cost a walk of MaxHistory events under the lock.
func BenchmarkMemorySinceIdle(b *testing.B) {
	ctx := context.Background()
	m := revocation.NewMemoryStore(nil)
	for i := 0; i < revocation.MaxHistory; i++ {
		if err := m.RevokeToken(ctx, fmt.Sprintf("jti-%d", i), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	cursor, err := m.Snapshot(ctx, func(revocation.Entry) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if evs, err := m.Since(ctx, cursor); err != nil || len(evs) != 0 {
			b.Fatalf("Since(newest) = %d events, %v", len(evs), err)
		}
	}
}
