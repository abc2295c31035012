package clients_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/jwtd/jwtd/clients"
)

const slowSecret = "correct horse battery staple"

// bcrypt10 returns a bcrypt cost 10 hash of slowSecret.
func bcrypt10(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(slowSecret), 10)
	if err != nil {
		t.Fatalf("bcrypt.GenerateFromPassword: %v", err)
	}
	return string(h)
}

func mustHash(t *testing.T, s string) *clients.SecretHash {
	t.Helper()
	h, err := clients.ParseSecretHash(s)
	if err != nil {
		t.Fatalf("ParseSecretHash(%q): %v", s, err)
	}
	return h
}

// TestRegistryVerify: who is authenticated, and what each answer costs in
// slow checks: an unknown id or a public one with a secret costs one
// check of the dummy, like a wrong secret of a bcrypt client.
func TestRegistryVerify(t *testing.T) {
	checks := 0
	reg := clients.NewRegistry([]clients.Client{
		{ID: "fast", Secret: mustHash(t, clients.SHA256Hash("s3cret"))},
		{ID: "slow", Secret: mustHash(t, bcrypt10(t))},
		{ID: "public"},
	}, clients.RegistryOptions{Checked: func() { checks++ }})
	tests := []struct {
		name, id, secret string
		known, ok        bool
		checks           int
	}{
		{"sha256, right", "fast", "s3cret", true, true, 0},
		{"sha256, wrong: the dummy too, as for an unknown id", "fast", "guess", true, false, 1},
		{"public, no secret", "public", "", true, true, 0},
		{"public, a secret", "public", "guess", false, false, 1},
		{"unknown", "ghost", "guess", false, false, 1},
		{"bcrypt, wrong", "slow", "guess", true, false, 1},
		{"bcrypt, right", "slow", slowSecret, true, true, 1},
		{"bcrypt, right again (cached)", "slow", slowSecret, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := checks
			cl, ok, err := reg.Verify(context.Background(), tt.id, tt.secret)
			if err != nil || (cl != nil) != tt.known || ok != tt.ok || checks-before != tt.checks {
				t.Fatalf("Verify(%q, %q): client %v, %v, %v, %d slow checks; want known %v, %v, nil, %d",
					tt.id, tt.secret, cl != nil, ok, err, checks-before, tt.known, tt.ok, tt.checks)
			}
		})
	}
}

// TestRegistryBusy: with every slot taken, a slow check waits Wait and is
// refused with ErrBusy; a sha256 client still gets in; a caller that hangs
// up while waiting gets its context's error, not ErrBusy.
func TestRegistryBusy(t *testing.T) {
	slots := make(chan struct{}, 1)
	busy := 0
	list := []clients.Client{
		{ID: "fast", Secret: mustHash(t, clients.SHA256Hash("s3cret"))},
		{ID: "slow", Secret: mustHash(t, bcrypt10(t))},
	}
	reg := clients.NewRegistry(list, clients.RegistryOptions{Slots: slots, Wait: time.Nanosecond, Busy: func() { busy++ }})
	slots <- struct{}{}
	defer func() { <-slots }()
	if _, _, err := reg.Verify(context.Background(), "slow", "guess"); !errors.Is(err, clients.ErrBusy) || busy != 1 {
		t.Fatalf("Verify(slow) with every slot taken: %v, %d busy, want ErrBusy, 1", err, busy)
	}
	if _, ok, err := reg.Verify(context.Background(), "fast", "s3cret"); !ok || err != nil {
		t.Fatalf("Verify(fast) with every slot taken: %v, %v, want true, nil", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	patient := clients.NewRegistry(list, clients.RegistryOptions{Slots: slots, Wait: time.Hour})
	if _, _, err := patient.Verify(ctx, "ghost", "guess"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify(ghost) cancelled while waiting for a slot: %v, want context.Canceled", err)
	}
}
