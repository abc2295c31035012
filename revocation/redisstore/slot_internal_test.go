package redisstore

import (
	"context"
	"testing"

	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/revocation"
)

// TestSpendKeysShareASlot asks a real cluster node where the keys the spend
// script touches live: a session's family and marker and its subject's
// cut-off must share one slot, whatever the sub holds.
func TestSpendKeysShareASlot(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	client := c.Client(t)
	s := New(Options{Client: client, Prefix: "jwtd:"})
	ctx := context.Background()
	tests := []struct{ name, sub, sid string }{
		{"plain", "alice", "abc"},
		{"braces", "a}b{c", "s4-6A9CCNVA3dH6THgU-DQ"},
		{"hash tag in sub", "{x}", "x_y-z"},
		{"colons", "urn:user:42", "sid"},
		{"empty sub", "", "sid"},
	}
	for _, tt := range tests {
		cut, err := client.ClusterKeySlot(ctx, s.subjectKey(tt.sub)).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{s.familyKey(tt.sub, tt.sid), s.sessionKey(tt.sub, tt.sid)} {
			if got, _ := client.ClusterKeySlot(ctx, key).Result(); got != cut {
				t.Errorf("%s: ClusterKeySlot(%s) = %d, want %d (the cut-off's slot)", tt.name, key, got, cut)
			}
		}
		if e, ok := s.entryOf(s.subjectKey(tt.sub)); !ok || e.Kind != revocation.KindSubject || e.Value != tt.sub {
			t.Errorf("%s: entryOf(cut-off key) = %+v, %v; want subject %q", tt.name, e, ok, tt.sub)
		}
		if e, ok := s.entryOf(s.sessionKey(tt.sub, tt.sid)); !ok || e.Kind != revocation.KindSession || e.Value != tt.sid {
			t.Errorf("%s: entryOf(session key) = %+v, %v; want session %q", tt.name, e, ok, tt.sid)
		}
		if e, ok := s.entryOf(s.familyKey(tt.sub, tt.sid)); ok {
			t.Errorf("%s: entryOf(family key) = %+v, want no entry", tt.name, e)
		}
	}
}
