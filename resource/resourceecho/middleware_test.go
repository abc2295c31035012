package resourceecho_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/resource"
	"github.com/jwtd/jwtd/resource/resourceecho"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ring(t *testing.T, p keys.Purpose, now func() time.Time) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(context.Background(), keys.NewMemoryStore(), keys.Options{
		Purpose: p, Algorithm: "ES256", RotateEvery: 24 * time.Hour, PublishAhead: time.Hour, Lifetime: 25 * time.Hour, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

type unavailable struct{}

func (unavailable) Check(context.Context, revocation.Token) error { return revocation.ErrUnavailable }

type answer struct {
	status int
	header http.Header
	body   string
}

func do(h http.Handler, authz ...string) answer {
	r := httptest.NewRequest("GET", "/things", nil)
	for _, a := range authz {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return answer{w.Code, w.Result().Header, string(b)}
}

// TestMiddleware: the Echo middleware answers byte for byte as the net/http
// one, whatever the request, and hands the claims to the handler both ways.
func TestMiddleware(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return t0 }
	access := ring(t, keys.Access, now)
	opts := token.Options{Issuer: "https://auth.example", AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour,
		SessionMaxAge: 2 * time.Hour, Audiences: []string{"api"}, Now: now}
	issuer := token.NewIssuer(opts, access, ring(t, keys.Refresh, now))
	mint := func(scope string) (string, *token.AccessClaims) {
		p, err := issuer.Mint(token.Session{Subject: "alice", ClientID: "app", SID: token.NewID(), Scope: scope,
			Audience: []string{"api"}, AuthTime: t0}, issuer.NewStamp(), false)
		if err != nil {
			t.Fatal(err)
		}
		return p.Access, p.AccessClaims
	}
	deny := revocation.NewMemoryStore(now)
	newVerifier := func(d resource.Denylist) *resource.Verifier {
		v, err := resource.NewVerifier(access, resource.Options{Issuer: opts.Issuer, Audiences: []string{"api"}, Denylist: d, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v, down := newVerifier(deny), newVerifier(unavailable{})
	good, _ := mint("read write")
	readOnly, _ := mint("read")
	revoked, rc := mint("read write")
	if err := deny.RevokeSession(ctx, rc.Subject, rc.SID, time.Hour); err != nil {
		t.Fatal(err)
	}

	// Both handlers write what they saw; the Echo one checks both ways of
	// reading the claims agree.
	httpHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.ClaimsFrom(r.Context())
		_, _ = io.WriteString(w, c.Subject+" "+c.ID)
	})
	echoHandler := func(c echo.Context) error {
		got, ok := resourceecho.Claims(c)
		fromCtx, ok2 := resource.ClaimsFrom(c.Request().Context())
		if !ok || !ok2 || got != fromCtx {
			return c.String(http.StatusTeapot, "claims missing")
		}
		return c.String(http.StatusOK, got.Subject+" "+got.ID)
	}
	var echoErrors []error
	newEcho := func(v *resource.Verifier, scopes ...string) *echo.Echo {
		e := echo.New()
		e.HTTPErrorHandler = func(err error, c echo.Context) { echoErrors = append(echoErrors, err) }
		e.GET("/things", echoHandler, resourceecho.Middleware(v, scopes...))
		return e
	}

	tests := []struct {
		name   string
		v      *resource.Verifier
		scopes []string
		authz  []string
		status int
	}{
		{"valid", v, []string{"read"}, []string{"Bearer " + good}, 200},
		{"no scope required", v, nil, []string{"Bearer " + readOnly}, 200},
		{"no token", v, []string{"read"}, nil, 401},
		{"Basic", v, []string{"read"}, []string{"Basic YTpi"}, 401},
		{"two headers", v, []string{"read"}, []string{"Bearer " + good, "Bearer " + good}, 400},
		{"malformed", v, []string{"read"}, []string{"Bearer a b"}, 400},
		{"garbage", v, []string{"read"}, []string{"Bearer a.b.c"}, 401},
		{"revoked", v, []string{"read"}, []string{"Bearer " + revoked}, 401},
		{"scope missing", v, []string{"read", "write"}, []string{"Bearer " + readOnly}, 403},
		{"denylist unavailable", down, []string{"read"}, []string{"Bearer " + good}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echoErrors = nil
			viaEcho := do(newEcho(tt.v, tt.scopes...), tt.authz...)
			viaHTTP := do(tt.v.Middleware(tt.scopes...)(httpHandler), tt.authz...)
			if viaEcho.status != tt.status {
				t.Fatalf("Echo GET /things %s: %d %s, want %d", tt.name, viaEcho.status, viaEcho.body, tt.status)
			}
			if viaEcho.status != viaHTTP.status || viaEcho.body != viaHTTP.body {
				t.Errorf("GET /things %s: Echo %d %s, net/http %d %s", tt.name, viaEcho.status, viaEcho.body, viaHTTP.status, viaHTTP.body)
			}
			for _, h := range []string{"WWW-Authenticate", "Retry-After", "Cache-Control", "Content-Type"} {
				if tt.status != 200 && !slices.Equal(viaEcho.header.Values(h), viaHTTP.header.Values(h)) {
					t.Errorf("GET /things %s: %s Echo %q, net/http %q", tt.name, h, viaEcho.header.Values(h), viaHTTP.header.Values(h))
				}
			}
			if len(echoErrors) != 0 {
				t.Errorf("GET /things %s: Echo's error handler got %v", tt.name, echoErrors)
			}
		})
	}

	t.Run("handler error reaches Echo", func(t *testing.T) {
		echoErrors = nil
		boom := errors.New("boom")
		e := echo.New()
		e.HTTPErrorHandler = func(err error, c echo.Context) { echoErrors = append(echoErrors, err); _ = c.NoContent(500) }
		e.GET("/things", func(echo.Context) error { return boom }, resourceecho.Middleware(v))
		if got := do(e, "Bearer "+good); got.status != 500 || len(echoErrors) != 1 || !errors.Is(echoErrors[0], boom) {
			t.Fatalf("GET /things: %d, errors %v; want the handler's error passed to Echo", got.status, echoErrors)
		}
	})
	t.Run("no claims outside the middleware", func(t *testing.T) {
		c := echo.New().NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
		if claims, ok := resourceecho.Claims(c); ok || claims != nil {
			t.Fatalf("Claims(unguarded) = %v, %v", claims, ok)
		}
	})
}
