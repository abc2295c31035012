package handlers_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/internal/redistest"
)

// quiet writes the logs as in production, JSON, but to io.Discard: the
// harness's buffer would grow for the whole benchmark.
func quiet(_ *harness, o *handlers.Options) {
	o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// benchStores are the revocation stores the store-bound benchmarks run
// on: memory, and a real redis-server.
var benchStores = []struct {
	name  string
	tweak func(testing.TB) []func(*harness, *handlers.Options)
}{
	{"memory", func(testing.TB) []func(*harness, *handlers.Options) {
		return []func(*harness, *handlers.Options){quiet}
	}},
	{"redis", func(tb testing.TB) []func(*harness, *handlers.Options) {
		return []func(*harness, *handlers.Options){quiet, withRedis(redistest.Start(tb))}
	}},
}

// discardWriter is a ResponseWriter that keeps the status and headers and
// drops the body, reused across iterations: what a benchmark through the
// router then allocates is the server's, not httptest.ResponseRecorder's.
type discardWriter struct {
	header http.Header
	code   int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// serve sends r through srv on w, both reused: the header map and the
// body are reset (limitBody wraps the body on every request).
func serve(srv http.Handler, w *discardWriter, r *http.Request) int {
	clear(w.header)
	w.code = http.StatusOK
	r.Body = http.NoBody
	srv.ServeHTTP(w, r)
	return w.code
}

// serveLoop serves r through srv once an iteration, reporting
// allocations, and fails on any status but want.
func serveLoop(b *testing.B, srv http.Handler, r *http.Request, want int) {
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if code := serve(srv, w, r); code != want {
			b.Fatalf("%s %s: %d, want %d", r.Method, r.URL.Path, code, want)
		}
	}
}

// BenchmarkRefresh is one POST /v1/refresh through the router: verify,
// check, spend, mint. Compare memory and Redis within one run.
func BenchmarkRefresh(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			h := newHarness(b, st.tweak(b)...)
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

// BenchmarkSession is one GET /v1/session through the router: verify the
// bearer token, check it against the store. Compare memory and Redis
// within one run.
func BenchmarkSession(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			h := newHarness(b, st.tweak(b)...)
			at := h.login(`{"sub":"alice","client_id":"app"}`).AccessToken
			r := httptest.NewRequest("GET", "/v1/session", nil)
			r.Header.Set("Authorization", "Bearer "+at)
			serveLoop(b, h.srv, r, http.StatusOK)
		})
	}
}

// BenchmarkClientAuth compares the secret hashes on an authenticated
// request that fails right after authentication (empty body).
func BenchmarkClientAuth(b *testing.B) {
	h := newHarness(b, quiet)
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

// BenchmarkJWKS is GET /.well-known/jwks.json through the router, the
// access log off: the precomputed document and its headers, and
// the revalidation that answers 304.
func BenchmarkJWKS(b *testing.B) {
	h := newHarness(b, quiet, func(_ *harness, o *handlers.Options) {
		o.AccessLog = handlers.AccessLog{Mode: handlers.AccessLogOff}
	})
	w := &discardWriter{header: http.Header{}}
	r := httptest.NewRequest("GET", "/.well-known/jwks.json", nil)
	if serve(h.srv, w, r) != http.StatusOK {
		b.Fatalf("GET /.well-known/jwks.json: %d", w.code)
	}
	etag := w.header.Get("ETag")
	for _, c := range []struct {
		name        string
		ifNoneMatch string
		want        int
	}{
		{"200", "", http.StatusOK},
		{"304", etag, http.StatusNotModified},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/.well-known/jwks.json", nil)
			if c.ifNoneMatch != "" {
				r.Header.Set("If-None-Match", c.ifNoneMatch)
			}
			serveLoop(b, h.srv, r, c.want)
		})
	}
}

// BenchmarkAccessLog is GET /healthz through the router in each
// server.access_log mode, the JSON lines written to io.Discard: what a
// line costs is on minus off; sampled at the default 0.01 should be close
// to off.
func BenchmarkAccessLog(b *testing.B) {
	for _, c := range []struct {
		name string
		log  handlers.AccessLog
	}{
		{"on", handlers.AccessLog{Mode: handlers.AccessLogOn}},
		{"off", handlers.AccessLog{Mode: handlers.AccessLogOff}},
		{"sampled", handlers.AccessLog{Mode: handlers.AccessLogSampled, Sample: 0.01}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newHarness(b, quiet, func(_ *harness, o *handlers.Options) { o.AccessLog = c.log })
			serveLoop(b, h.srv, httptest.NewRequest("GET", "/healthz", nil), http.StatusOK)
		})
	}
}

// BenchmarkEndpoints is each token endpoint of the load benchmark (bench/)
// through the router, without the network: where a profile of one of them
// is wanted, `-cpuprofile` here is the quickest.
func BenchmarkEndpoints(b *testing.B) {
	h := newHarness(b, quiet)
	at := h.login(`{"sub":"alice","client_id":"app"}`).AccessToken
	cases := []struct {
		name, method, path, ctype, body, authz string
		want                                   int
	}{
		{"session", "GET", "/v1/session", "", "", "Bearer " + at, 200},
		{"introspect", "POST", "/oauth/introspect", "application/x-www-form-urlencoded", "token=" + at, basic("gateway", backendSecret), 200},
		{"login", "POST", "/v1/sessions", "application/json", `{"sub":"alice","client_id":"app","scope":"read"}`, basic("backend", backendSecret), 201},
		{"client_credentials", "POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=read", basic("cc", backendSecret), 200},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := &discardWriter{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
				r.Header.Set("Authorization", c.authz)
				if c.ctype != "" {
					r.Header.Set("Content-Type", c.ctype)
				}
				clear(w.header)
				w.code = http.StatusOK
				h.srv.ServeHTTP(w, r)
				if w.code != c.want {
					b.Fatalf("%s %s: %d", c.method, c.path, w.code)
				}
			}
		})
	}
}
