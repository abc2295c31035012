package keys_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jwtd/jwtd/keys"
)

const (
	rotateEvery  = 24 * time.Hour
	publishAhead = time.Hour
	lifetime     = 15*time.Minute + 30*time.Second
)

func newRing(t *testing.T, s keys.Store, c *clock, p keys.Purpose) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(context.Background(), s, keys.Options{
		Purpose: p, Algorithm: "EdDSA", RotateEvery: rotateEvery, PublishAhead: publishAhead, Lifetime: lifetime, Now: c.Now,
	})
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	if err := r.Maintain(context.Background()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	return r
}

func jwksKIDs(t *testing.T, r *keys.Ring) map[string]bool {
	t.Helper()
	body, _ := r.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		if _, private := k["d"]; private {
			t.Fatalf("JWKS has a private member: %v", k)
		}
		if k["use"] != "sig" || k["alg"] != "EdDSA" {
			t.Fatalf("JWKS key %v lacks use sig and alg", k)
		}
		out[k["kid"].(string)] = true
	}
	return out
}

// TestLifecycle runs the clock through six rotation periods in 5-minute
// steps and checks the invariants at every step.
func TestLifecycle(t *testing.T) {
	c := &clock{now: t0}
	store := keys.NewMemoryStore()
	r := newRing(t, store, c, keys.Access)
	signedAt := map[string]time.Time{} // kid → last instant it signed
	first := ""
	check := func(when string) {
		t.Helper()
		kid, _, _, err := r.SigningKey()
		if err != nil {
			t.Fatalf("%s at %v: SigningKey: %v", when, c.now, err)
		}
		if first == "" {
			first = kid
		}
		signedAt[kid] = c.now
		infos := r.List()
		published := jwksKIDs(t, r)
		next := 0
		for _, in := range infos {
			if in.State == keys.StateNext {
				next++
			}
			if in.State == keys.StateActive && in.ID != first && in.ActivatesAt.Sub(in.PublishedAt) < publishAhead {
				t.Fatalf("%s at %v: active key %s was published %v before it signed, want >= %v", when, c.now, in.ID, in.ActivatesAt.Sub(in.PublishedAt), publishAhead)
			}
			if !published[in.ID] {
				t.Fatalf("%s at %v: key %s (%s) not in the JWKS", when, c.now, in.ID, in.State)
			}
		}
		if next == 0 {
			t.Fatalf("%s at %v: no next key published", when, c.now)
		}
		if len(infos) > 4 {
			t.Fatalf("%s at %v: %d keys kept, want at most 4", when, c.now, len(infos))
		}
		for kid, at := range signedAt {
			_, _, err := r.VerificationKey(context.Background(), kid)
			switch alive := c.now.Sub(at) < lifetime; {
			case alive && err != nil:
				t.Fatalf("%s at %v: key %s signed at %v no longer verifies: %v", when, c.now, kid, at, err)
			case !alive && c.now.Sub(at) > lifetime+5*time.Minute && err == nil:
				t.Fatalf("%s at %v: key %s last signed at %v still verifies", when, c.now, kid, at)
			}
		}
	}
	for step := 0; step < 6*24*12; step++ {
		c.now = t0.Add(time.Duration(step) * 5 * time.Minute)
		// What a request between two ticks sees must hold too.
		check("before Maintain")
		if err := r.Maintain(context.Background()); err != nil {
			t.Fatalf("Maintain at %v: %v", c.now, err)
		}
		check("after Maintain")
	}
	if len(signedAt) != 6 {
		t.Fatalf("%d keys signed over six periods, want 6", len(signedAt))
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: t0}
	store := keys.NewMemoryStore()
	r := newRing(t, store, c, keys.Access)
	old, _, _, _ := r.SigningKey()
	var next string
	for _, in := range r.List() {
		if in.State == keys.StateNext {
			next = in.ID
		}
	}
	c.now = t0.Add(time.Minute)
	kid, err := r.Rotate(ctx, false)
	if err != nil || kid != next {
		t.Fatalf("Rotate() = %s, %v; want the published next key %s", kid, err, next)
	}
	if got, _, _, _ := r.SigningKey(); got != next {
		t.Fatalf("SigningKey after Rotate = %s, want %s", got, next)
	}
	if _, _, err := r.VerificationKey(ctx, old); err != nil {
		t.Fatalf("retired key %s must still verify: %v", old, err)
	}
	if states := countStates(r); states[keys.StateNext] != 1 || states[keys.StateRetired] != 1 {
		t.Fatalf("after Rotate: states %v, want one next and one retired", states)
	}

	c.now = t0.Add(2 * time.Minute)
	kid2, err := r.Rotate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.VerificationKey(ctx, kid); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("revoked key %s: err = %v, want %v", kid, err, keys.ErrUnknownKey)
	}
	if jwksKIDs(t, r)[kid] {
		t.Fatalf("revoked key %s is still in the JWKS", kid)
	}
	if !jwksKIDs(t, r)[old] || !jwksKIDs(t, r)[kid2] {
		t.Fatalf("revoke_current must leave other keys alone")
	}

	// Another process (`jwtd keys rotate`) is picked up by Maintain.
	other := newRing(t, store, c, keys.Access)
	c.now = t0.Add(3 * time.Minute)
	kid3, err := other.Rotate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _, _ := r.SigningKey(); got != kid3 {
		t.Fatalf("after another process rotated: signing with %s, want %s", got, kid3)
	}
}

// TestPurposesApart: refresh keys never appear in a JWKS, and one purpose
// never verifies with the other's keys.
func TestPurposesApart(t *testing.T) {
	c := &clock{now: t0}
	store := keys.NewMemoryStore()
	access := newRing(t, store, c, keys.Access)
	refresh := newRing(t, store, c, keys.Refresh)
	if body, _ := refresh.JWKS(); body != nil {
		t.Fatalf("refresh ring published %s", body)
	}
	for _, in := range refresh.List() {
		if jwksKIDs(t, access)[in.ID] {
			t.Fatalf("refresh key %s in the access JWKS", in.ID)
		}
		if _, _, err := access.VerificationKey(context.Background(), in.ID); !errors.Is(err, keys.ErrUnknownKey) {
			t.Fatalf("access ring verifies with refresh key %s", in.ID)
		}
	}
	_, etag1 := access.JWKS()
	if err := access.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, etag2 := access.JWKS(); etag1 != etag2 || etag1 == "" {
		t.Fatalf("ETag changed without a key change: %s → %s", etag1, etag2)
	}
}
