package revocation_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
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
	newID := func(i, kind int) string { // jwtd's shape: 16 bytes, base64url
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(i))
		b[8] = byte(kind)
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	for i := range 200_000 {
		sid := newID(i, 0)
		if _, err := m.Spend(ctx, revocation.Spend{SID: sid, JTI: newID(i, 1), Subject: "u", IssuedAt: now,
			Child: revocation.Child{IssuedAt: now, AccessID: newID(i, 2), RefreshID: newID(i, 3), ClientID: "app", Scope: "read"}, TTL: time.Hour}); err != nil {
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
