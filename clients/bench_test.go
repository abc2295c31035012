package clients_test

import (
	"context"
	"testing"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/bcrypt"

	"github.com/jwtd/jwtd/clients"
)

// BenchmarkRegistryVerify is client authentication without HTTP: a right
// sha256 secret, a public client, and bcrypt and argon2id secrets once
// their check is cached (the first call, before the timed loop, pays the slow
// hash); a wrong sha256 secret checks the dummy, here a sha256 one since
// the registry holds no slow hash.
func BenchmarkRegistryVerify(b *testing.B) {
	bc, err := bcrypt.GenerateFromPassword([]byte(slowSecret), 10)
	if err != nil {
		b.Fatal(err)
	}
	ar, err := argon2id.CreateHash(slowSecret, &argon2id.Params{Memory: 7 * 1024, Iterations: 5, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if err != nil {
		b.Fatal(err)
	}
	parse := func(s string) *clients.SecretHash {
		h, err := clients.ParseSecretHash(s)
		if err != nil {
			b.Fatalf("ParseSecretHash(%q): %v", s, err)
		}
		return h
	}
	fast := []clients.Client{{ID: "fast", Secret: parse(clients.SHA256Hash("s3cret"))}, {ID: "public"}}
	slow := append([]clients.Client{{ID: "bcrypt", Secret: parse(string(bc))}, {ID: "argon2id", Secret: parse(ar)}}, fast...)
	for _, c := range []struct {
		name       string
		clients    []clients.Client
		id, secret string
		ok         bool
	}{
		{"sha256", fast, "fast", "s3cret", true},
		{"sha256-wrong", fast, "fast", "guess", false},
		{"public", fast, "public", "", true},
		{"bcrypt-cached", slow, "bcrypt", slowSecret, true},
		{"argon2id-cached", slow, "argon2id", slowSecret, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			reg := clients.NewRegistry(c.clients, clients.RegistryOptions{})
			ctx := context.Background()
			if _, ok, err := reg.Verify(ctx, c.id, c.secret); ok != c.ok || err != nil {
				b.Fatalf("Verify(%s): ok %v, err %v; want ok %v", c.id, ok, err, c.ok)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := reg.Verify(ctx, c.id, c.secret); ok != c.ok || err != nil {
					b.Fatalf("Verify(%s): ok %v, err %v; want ok %v", c.id, ok, err, c.ok)
				}
			}
		})
	}
}
