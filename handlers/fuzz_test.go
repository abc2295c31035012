package handlers_test

import (
	"net/http/httptest"
	"testing"
)

// FuzzBearer: any Authorization header on GET /v1/session is answered 200
// or 401 with the Bearer challenge, never anything else and never a panic.
func FuzzBearer(f *testing.F) {
	h := newHarness(f)
	tr := h.login(`{"sub":"alice","client_id":"app"}`)
	for _, s := range []string{"Bearer " + tr.AccessToken, "Bearer " + tr.RefreshToken, "Bearer", "Bearer  x", "bearer a.b.c", "Basic Zm9vOmJhcg==", "Bearer a.b.c=", "Bearer ===", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, authz string) {
		r := httptest.NewRequest("GET", "/v1/session", nil)
		r.Header["Authorization"] = []string{authz}
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, r)
		switch w.Code {
		case 200:
		case 401:
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("Authorization %q: 401 without WWW-Authenticate", authz)
			}
		default:
			t.Fatalf("Authorization %q: status %d %s", authz, w.Code, w.Body)
		}
	})
}
