package revocation_test

import (
	"context"
	"fmt"
	"runtime"
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

// BenchmarkMemoryStoreGC is one full garbage collection with a memory
// store holding 200,000 refreshed sessions and 100,000 revoked ones, as a
// busy single replica keeps for the refresh lifetime: what the store costs
// every GC cycle is the marking of what it holds.
func BenchmarkMemoryStoreGC(b *testing.B) {
	ctx := context.Background()
	m := revocation.NewMemoryStore(nil)
	now := time.Now()
	for i := range 200_000 {
		sid := fmt.Sprintf("sid-%016d-xxxx", i)
		if _, err := m.Spend(ctx, revocation.Spend{SID: sid, JTI: sid + "-rt0", Subject: "u", IssuedAt: now,
			Child: revocation.Child{IssuedAt: now, AccessID: sid + "-at1", RefreshID: sid + "-rt1", ClientID: "app", Scope: "read"}, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			_ = m.RevokeSession(ctx, "u", sid, time.Hour)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(m)
}
