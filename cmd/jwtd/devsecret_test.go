package main

import (
	"errors"
	"testing"
)

// TestCheckDevClients: the development secret is accepted only on a
// loopback listener.
func TestCheckDevClients(t *testing.T) {
	tests := []struct {
		name   string
		listen string
		hash   string
		ok     bool
	}{
		{"loopback v4", "127.0.0.1:8080", devSecretHash, true},
		{"loopback v4 other", "127.8.9.10:8080", devSecretHash, true},
		{"loopback v6", "[::1]:8080", devSecretHash, true},
		{"localhost", "localhost:8080", devSecretHash, true},
		{"any v4 (the Docker image)", "0.0.0.0:8080", devSecretHash, false},
		{"any v6", "[::]:8080", devSecretHash, false},
		{"no host", ":8080", devSecretHash, false},
		{"public address", "192.0.2.7:8080", devSecretHash, false},
		{"host name", "jwtd.internal:8080", devSecretHash, false},
		{"localhost look-alike", "localhost.example.com:8080", devSecretHash, false},
		{"own secret on any", "0.0.0.0:8080", "sha256:" + "00000000000000000000000000000000000000000000000000000000000000aa", true},
		{"public client on any", "0.0.0.0:8080", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults()
			cfg.Server.Listen = tt.listen
			cfg.Clients = []ClientConfig{{ID: "mine", SecretHash: "sha256:" + "11111111111111111111111111111111111111111111111111111111111111bb"}, {ID: "dev", SecretHash: tt.hash}}
			err := checkDevClients(cfg)
			var ce *configError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("checkDevClients(listen %s): %v, want nil", tt.listen, err)
			case !tt.ok && (!errors.As(err, &ce) || ce.key != "clients[1].secret_hash"):
				t.Fatalf("checkDevClients(listen %s): %v, want an error naming clients[1].secret_hash", tt.listen, err)
			}
		})
	}
}
