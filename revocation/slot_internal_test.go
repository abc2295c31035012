package revocation

import (
	"context"
	"testing"

	"github.com/jwtd/jwtd/internal/redistest"
)

// TestSessionKeysShareASlot asks a real cluster node where a session's two
// keys live: the spend script needs them in one slot.
func TestSessionKeysShareASlot(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	client := c.Client(t)
	s := NewRedisStore(RedisOptions{Client: client, Prefix: "jwtd:"})
	ctx := context.Background()
	for _, sid := range []string{"abc", "s4-6A9CCNVA3dH6THgU-DQ", "x_y-z"} {
		a, err := client.ClusterKeySlot(ctx, s.familyKey(sid)).Result()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := client.ClusterKeySlot(ctx, s.sessionKey(sid)).Result()
		if a != b {
			t.Fatalf("sid %s: family key in slot %d, session key in slot %d", sid, a, b)
		}
	}
}
