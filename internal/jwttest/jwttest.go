// Package jwttest forges JWTs for tests, as an attacker's library would:
// any header, any claims, any key golang-jwt signs with.
package jwttest

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Forge signs claims with method and key under header; a nil header value
// deletes that header (alg and typ are golang-jwt's unless overridden).
func Forge(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return s
}
