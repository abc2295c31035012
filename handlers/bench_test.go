package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/internal/redistest"
)

// BenchmarkRefresh is one POST /v1/refresh through the router: verify,
// check, spend, mint. Compare memory and Redis within one run.
func BenchmarkRefresh(b *testing.B) {
	stores := map[string]func(testing.TB) []func(*harness, *handlers.Options){
		"memory": func(testing.TB) []func(*harness, *handlers.Options) { return nil },
		"redis": func(tb testing.TB) []func(*harness, *handlers.Options) {
			return []func(*harness, *handlers.Options){withRedis(redistest.Start(tb))}
		},
	}
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			h := newHarness(b, stores[name](b)...)
			rt := h.login(`{"sub":"alice","client_id":"app"}`).RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("POST", "/v1/refresh", strings.NewReader(`{"refresh_token":"`+rt+`"}`))
				r.Header.Set("Content-Type", "application/json")
				h.srv.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("refresh: %d %s", w.Code, w.Body)
				}
				rt = decodeToken(b, w.Body.Bytes()).RefreshToken
			}
		})
	}
}

// BenchmarkClientAuth compares the secret hashes on an authenticated
// request that fails right after authentication (empty body).
func BenchmarkClientAuth(b *testing.B) {
	h := newHarness(b)
	for _, c := range []struct{ name, id, secret string }{
		{"sha256", "backend", backendSecret},
		{"bcrypt-cached", "bcrypt-backend", slowSecret},
		{"argon2id-cached", "argon-backend", slowSecret},
	} {
		b.Run(c.name, func(b *testing.B) {
			authz := basic(c.id, c.secret)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("POST", "/v1/sessions", nil)
				r.Header.Set("Authorization", authz)
				h.srv.ServeHTTP(w, r)
				if w.Code == http.StatusUnauthorized {
					b.Fatalf("%s: 401", c.name)
				}
			}
		})
	}
}
