package clients

import (
	"errors"
	"testing"
)

// TestSecretHashBounds: ParseSecretHash refuses slow hashes too weak to
// survive a leaked config or too costly to check under load (hole 3).
func TestSecretHashBounds(t *testing.T) {
	const salt16, key30, salt4, key8 = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5", "c2FsdA", "a2V5a2V5a2V5"
	argon := func(params, salt, key string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	bcryptCost := func(cost string) string {
		return "$2a$" + cost + "$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	}
	tests := []struct {
		name, hash string
		ok         bool
	}{
		{"bcrypt 10", bcryptCost("10"), true},
		{"bcrypt 13", bcryptCost("13"), true},
		{"bcrypt 4", bcryptCost("04"), false},
		{"bcrypt 9", bcryptCost("09"), false},
		{"bcrypt 14", bcryptCost("14"), false},
		{"bcrypt 31", bcryptCost("31"), false},
		{"argon2id RFC 9106 second choice", argon("m=65536,t=3,p=4", salt16, key30), true},
		{"argon2id OWASP 46 MiB × 1", argon("m=47104,t=1,p=1", salt16, key30), true},
		{"argon2id OWASP 19 MiB × 2", argon("m=19456,t=2,p=1", salt16, key30), true},
		{"argon2id OWASP 7 MiB × 5", argon("m=7168,t=5,p=1", salt16, key30), true},
		{"argon2id 128 MiB", argon("m=131072,t=1,p=1", salt16, key30), false},
		{"argon2id 2 GiB", argon("m=2097152,t=1,p=4", salt16, key30), false},
		{"argon2id 1 MiB", argon("m=1024,t=10,p=1", salt16, key30), false},
		{"argon2id 19 MiB × 1", argon("m=19456,t=1,p=1", salt16, key30), false},
		{"argon2id t=0", argon("m=65536,t=0,p=1", salt16, key30), false},
		{"argon2id t=11", argon("m=65536,t=11,p=1", salt16, key30), false},
		{"argon2id p=0", argon("m=65536,t=1,p=0", salt16, key30), false},
		{"argon2id p=9", argon("m=65536,t=1,p=9", salt16, key30), false},
		{"argon2id 4-byte salt", argon("m=65536,t=1,p=1", salt4, key30), false},
		{"argon2id 8-byte key", argon("m=65536,t=1,p=1", salt16, key8), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecretHash(tt.hash)
			if tt.ok {
				if err != nil {
					t.Fatalf("ParseSecretHash(%s): %v, want nil", tt.hash, err)
				}
				return
			}
			if !errors.Is(err, ErrSecretHashParams) {
				t.Fatalf("ParseSecretHash(%s): %v, want ErrSecretHashParams", tt.hash, err)
			}
		})
	}
}

// TestHashErrorProblem pins the words cmd/jwtd prints after the config key
// ("clients[0].secret_hash: must be ..."): they are the operator's message,
// so they are compared as text.
func TestHashErrorProblem(t *testing.T) {
	tests := []struct {
		name, hash string
		sentinel   error
		problem    string
	}{
		{"uppercase sha256", "sha256:ABC", ErrSecretHash,
			"must be sha256:<64 lowercase hex>, a bcrypt ($2a$, $2b$, $2y$) or an argon2id ($argon2id$) PHC string"},
		{"plain secret", "hunter2", ErrSecretHash,
			"must be sha256:<64 lowercase hex>, a bcrypt ($2a$, $2b$, $2y$) or an argon2id ($argon2id$) PHC string"},
		{"bcrypt 4", "$2a$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", ErrSecretHashParams,
			"parameters out of bounds: bcrypt cost 4, want 10 to 13"},
		{"argon2id 1 MiB", "$argon2id$v=19$m=1024,t=10,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5", ErrSecretHashParams,
			"parameters out of bounds: argon2id memory m=1024 KiB, want 7168 to 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecretHash(tt.hash)
			var he *HashError
			if !errors.As(err, &he) || !errors.Is(err, tt.sentinel) {
				t.Fatalf("ParseSecretHash(%q): %v, want a HashError wrapping %v", tt.hash, err, tt.sentinel)
			}
			if got := he.Problem(); got != tt.problem {
				t.Fatalf("ParseSecretHash(%q).Problem(): %q, want %q", tt.hash, got, tt.problem)
			}
		})
	}
}
