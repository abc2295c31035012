package clients

import (
	"strings"
	"testing"
	"time"
)

// A bcrypt cost 10 and two argon2id hashes; their salts and digests are
// irrelevant here.
const (
	testBcrypt10 = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	testArgonBig = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
	testArgonMin = "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
)

// TestDummyIsTheSlowest: the dummy an unknown id is checked against has
// the kind and parameters of the costliest configured hash, and no secret
// (not even the empty one) matches it.
func TestDummyIsTheSlowest(t *testing.T) {
	tests := []struct {
		name   string
		hashes []string
		prefix string // of the dummy's PHC string; "" for sha256
	}{
		{"none slow", []string{"sha256:" + strings.Repeat("0", 64)}, ""},
		{"bcrypt only", []string{testBcrypt10}, "$2a$10$"},
		{"bcrypt 10 and argon2id 7 MiB × 5", []string{testBcrypt10, testArgonMin}, "$2a$10$"},
		{"argon2id 64 MiB × 3 and bcrypt 10", []string{testArgonMin, testArgonBig, testBcrypt10}, "$argon2id$v=19$m=65536,t=3,p=4$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clients []Client
			for i, s := range tt.hashes {
				h, err := ParseSecretHash(s)
				if err != nil {
					t.Fatalf("ParseSecretHash(%q): %v", s, err)
				}
				clients = append(clients, Client{ID: string(rune('a' + i)), Secret: h})
			}
			r := NewRegistry(clients, RegistryOptions{Now: time.Now})
			if tt.prefix == "" {
				if r.dummy.sum == nil {
					t.Fatalf("dummy = %q, want a sha256 hash", r.dummy.slow)
				}
				return
			}
			if !strings.HasPrefix(r.dummy.slow, tt.prefix) {
				t.Fatalf("dummy = %q, want prefix %q", r.dummy.slow, tt.prefix)
			}
			if _, err := ParseSecretHash(r.dummy.slow); err != nil {
				t.Fatalf("ParseSecretHash(dummy %q): %v", r.dummy.slow, err)
			}
			for _, s := range tt.hashes {
				if r.dummy.slow == s {
					t.Fatalf("dummy = %q is a configured hash, want a fresh salt and digest", s)
				}
			}
		})
	}
}
