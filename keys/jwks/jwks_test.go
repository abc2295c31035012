package jwks_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/keys/jwks"
	"github.com/jwtd/jwtd/token"
)

// --- fixtures ---

// testKeys holds one key per algorithm, made once: RSA keys are slow.
var testKeys = sync.OnceValues(func() (map[string]*keys.Key, error) {
	m := map[string]*keys.Key{}
	for _, alg := range keys.Algorithms {
		k, err := keys.Generate(alg, keys.Access, time.Unix(0, 0), time.Unix(0, 0))
		if err != nil {
			return nil, err
		}
		m[alg] = k
	}
	return m, nil
})

func key(t testing.TB, alg string) *keys.Key {
	t.Helper()
	m, err := testKeys()
	if err != nil {
		t.Fatalf("keys.Generate: %v", err)
	}
	return m[alg]
}

// entry is the JWKS entry of pub as jwtd publishes it (kid, alg, use),
// with the members of edit set (nil deletes one).
func entry(t testing.TB, pub any, kid, alg string, edit map[string]any) map[string]any {
	t.Helper()
	k, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatalf("jwk.FromRaw(%T): %v", pub, err)
	}
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatalf("marshal JWK: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("unmarshal JWK: %v", err)
	}
	m["kid"], m["alg"], m["use"] = kid, alg, "sig"
	for name, v := range edit {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

// published is the JWKS entry of k.
func published(t testing.TB, k *keys.Key) map[string]any {
	return entry(t, k.Public(), k.ID, k.Algorithm, nil)
}

// set is a JWKS document of entries.
func set(t testing.TB, entries ...any) []byte {
	t.Helper()
	if entries == nil {
		entries = []any{}
	}
	b, err := json.Marshal(map[string]any{"keys": entries})
	if err != nil {
		t.Fatalf("marshal set: %v", err)
	}
	return b
}

// server is a JWKS endpoint whose answer the test changes.
type server struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	header http.Header
	gate   chan struct{}    // if set, a request waits for it to close
	inm    []string         // If-None-Match of each request
	other  http.HandlerFunc // if set, it answers instead
}

func newServer(t testing.TB, body []byte) *server {
	t.Helper()
	s := &server{status: http.StatusOK, body: body, header: http.Header{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	if other := s.other; other != nil {
		s.mu.Unlock()
		other(w, r)
		return
	}
	gate, status, body := s.gate, s.status, s.body
	header := s.header.Clone()
	s.inm = append(s.inm, r.Header.Get("If-None-Match"))
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	for name, v := range header {
		w.Header()[name] = v
	}
	if tag := header.Get("ETag"); tag != "" && r.Header.Get("If-None-Match") == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// answer sets what the server answers from now on.
func (s *server) answer(status int, body []byte, header ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.header = status, body, http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		s.header.Set(header[i], header[i+1])
	}
}

// clock is an injected time that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// quiet is a logger for tests that do not look at the log.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newSet starts a Set on url that stops with the test.
func newSet(t testing.TB, url string, opts jwks.Options) *jwks.Set {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := jwks.New(ctx, url, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", url, err)
	}
	return s
}

// eventually waits until cond holds, at most limit (a liveness bound, not
// a timing assertion).
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signer is token's signingKey for a keys.Key.
type signer struct{ k *keys.Key }

func (s signer) SigningKey() (string, string, crypto.Signer, error) {
	return s.k.ID, s.k.Algorithm, s.k.Private, nil
}

// --- tests ---

func TestAlgorithmsAreJWTDs(t *testing.T) {
	if !slices.Equal(jwks.Algorithms, keys.Algorithms) {
		t.Fatalf("jwks algorithms = %v, want keys.Algorithms %v", jwks.Algorithms, keys.Algorithms)
	}
}

// TestEachAlgorithm fetches a set with one key per algorithm, looks each
// up, and verifies a token jwtd's Issuer minted through token's Verifier.
func TestEachAlgorithm(t *testing.T) {
	var entries []any
	for _, alg := range keys.Algorithms {
		entries = append(entries, published(t, key(t, alg)))
	}
	srv := newServer(t, set(t, entries...))
	s := newSet(t, srv.URL+"/.well-known/jwks.json", jwks.Options{})
	opts := token.Options{Issuer: "https://auth.example", AccessTTL: time.Hour, RefreshTTL: time.Hour,
		SessionMaxAge: time.Hour, Audiences: []string{"api"}}
	verifier := token.NewVerifier(opts, s, nil)
	for _, alg := range keys.Algorithms {
		t.Run(alg, func(t *testing.T) {
			k := key(t, alg)
			pub, gotAlg, err := s.VerificationKey(t.Context(), k.ID)
			if err != nil {
				t.Fatalf("VerificationKey(%s): %v", k.ID, err)
			}
			if gotAlg != alg {
				t.Errorf("VerificationKey(%s): alg = %q, want %q", k.ID, gotAlg, alg)
			}
			if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(k.Public()) {
				t.Errorf("VerificationKey(%s): key %T is not the published key", k.ID, pub)
			}
			iss := token.NewIssuer(opts, signer{k}, signer{k})
			pair, err := iss.Mint(token.Session{Subject: "alice", ClientID: "app", SID: "s1", Audience: []string{"api"},
				AuthTime: time.Now()}, iss.NewStamp(), false)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			claims, err := verifier.Access(t.Context(), pair.Access)
			if err != nil {
				t.Fatalf("Verifier.Access(%s token): %v", alg, err)
			}
			if claims.Subject != "alice" {
				t.Errorf("Verifier.Access: sub = %q, want alice", claims.Subject)
			}
		})
	}
	if got := srv.hits.Load(); got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
}

// TestSkippedKeys parses one extra entry beside a good key and checks
// whether it is usable.
func TestSkippedKeys(t *testing.T) {
	es := key(t, "ES256")
	p384 := key(t, "ES384")
	ed := key(t, "EdDSA")
	rs := key(t, "RS256")
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := entry(t, es.Public(), "x", "ES256", nil)
	offCurve["y"] = offCurve["x"]
	short := entry(t, ed.Public(), "x", "EdDSA", nil)
	short["x"] = "AAAA"
	tests := []struct {
		name   string
		entry  any
		usable bool
	}{
		{"as jwtd publishes", entry(t, es.Public(), "x", "ES256", nil), true},
		{"no use", entry(t, es.Public(), "x", "ES256", map[string]any{"use": nil}), true},
		{"key_ops verify", entry(t, es.Public(), "x", "ES256", map[string]any{"use": nil, "key_ops": []string{"verify"}}), true},
		{"PS256 on RSA", entry(t, rs.Public(), "x", "PS256", nil), true},
		{"no alg", entry(t, es.Public(), "x", "ES256", map[string]any{"alg": nil}), false},
		{"alg jwtd does not sign with", entry(t, rs.Public(), "x", "RS384", nil), false},
		{"alg none", entry(t, es.Public(), "x", "none", nil), false},
		{"HS256 on a public key", entry(t, es.Public(), "x", "HS256", nil), false},
		{"use enc", entry(t, es.Public(), "x", "ES256", map[string]any{"use": "enc"}), false},
		{"key_ops sign only", entry(t, es.Public(), "x", "ES256", map[string]any{"use": nil, "key_ops": []string{"sign"}}), false},
		{"no kid", entry(t, es.Public(), "x", "ES256", map[string]any{"kid": nil}), false},
		{"empty kid", entry(t, es.Public(), "", "ES256", nil), false},
		{"ES256 on P-384", entry(t, p384.Public(), "x", "ES256", nil), false},
		{"ES384 on P-256", entry(t, es.Public(), "x", "ES384", nil), false},
		{"EdDSA on RSA", entry(t, rs.Public(), "x", "EdDSA", nil), false},
		{"RS256 on EC", entry(t, es.Public(), "x", "RS256", nil), false},
		{"RSA 1024 bits", entry(t, &weak.PublicKey, "x", "RS256", nil), false},
		{"private EC key", entry(t, priv, "x", "ES256", nil), false},
		{"private Ed25519 key", entry(t, ed.Private, "x", "EdDSA", nil), false},
		{"symmetric key", entry(t, []byte("0123456789abcdef0123456789abcdef"), "x", "HS256", nil), false},
		{"point off the curve", offCurve, false},
		{"short Ed25519 key", short, false},
		{"kid a number", entry(t, es.Public(), "x", "ES256", map[string]any{"kid": 7}), false},
		{"alg a number", entry(t, es.Public(), "x", "ES256", map[string]any{"alg": 7}), false},
		{"unknown kty", map[string]any{"kty": "AKP", "kid": "x", "alg": "ES256", "pub": "AAAA"}, false},
		{"not an object", "x", false},
		{"null", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := set(t, published(t, es), tt.entry)
			got, err := jwks.ParseSet(body)
			if err != nil {
				t.Fatalf("ParseSet: %v", err)
			}
			if _, ok := got[es.ID]; !ok {
				t.Errorf("ParseSet: the good key is missing beside %s", tt.name)
			}
			if _, ok := got["x"]; ok != tt.usable {
				t.Errorf("ParseSet(%s): usable = %v, want %v", tt.name, ok, tt.usable)
			}
		})
	}
}

// hostile are documents no fetch may panic on, each with the error it
// gets; nil means it parses, with the kids of want.
func hostile(t testing.TB) []struct {
	name string
	body []byte
	err  error
	kids []string // some of the kids it keeps
	n    int      // how many it keeps
} {
	es, ed := key(t, "ES256"), key(t, "EdDSA")
	good := published(t, es)
	many := make([]any, jwks.MaxKeys+1)
	for i := range many {
		many[i] = good
	}
	distinct := make([]any, jwks.MaxKeys)
	for i := range distinct {
		distinct[i] = entry(t, es.Public(), fmt.Sprintf("k%d", i), "ES256", nil)
	}
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	return []struct {
		name string
		body []byte
		err  error
		kids []string
		n    int
	}{
		{"empty", nil, jwks.ErrMalformed, nil, 0},
		{"not JSON", []byte("<html>hello</html>"), jwks.ErrMalformed, nil, 0},
		{"invalid UTF-8", []byte("{\"keys\":[\"\xff\"]}"), jwks.ErrNoUsableKey, nil, 0},
		{"array", []byte(`[` + string(set(t, good)) + `]`), jwks.ErrMalformed, nil, 0},
		{"string", []byte(`"keys"`), jwks.ErrMalformed, nil, 0},
		{"no keys member", []byte(`{"kes":[]}`), jwks.ErrMalformed, nil, 0},
		{"a lone JWK", mustJSON(t, good), jwks.ErrMalformed, nil, 0},
		{"keys in capitals", mustJSON(t, map[string]any{"KEYS": []any{good}}), jwks.ErrMalformed, nil, 0},
		{"keys null", []byte(`{"keys":null}`), jwks.ErrMalformed, nil, 0},
		{"keys an object", []byte(`{"keys":{"a":1}}`), jwks.ErrMalformed, nil, 0},
		{"keys a string", []byte(`{"keys":"x"}`), jwks.ErrMalformed, nil, 0},
		{"keys empty", []byte(`{"keys":[]}`), jwks.ErrNoUsableKey, nil, 0},
		{"keys of the wrong types", []byte(`{"keys":[1,"a",null,true,[],{}]}`), jwks.ErrNoUsableKey, nil, 0},
		{"deep nesting", []byte(`{"keys":` + deep + `}`), jwks.ErrMalformed, nil, 0},
		{"trailing garbage", append(set(t, good), []byte("}}")...), jwks.ErrMalformed, nil, 0},
		{"too many keys", set(t, many...), jwks.ErrTooLarge, nil, 0},
		{"as many keys as allowed", set(t, distinct...), nil, []string{"k0", "k999"}, jwks.MaxKeys},
		{"kid repeated", set(t, good, good), jwks.ErrNoUsableKey, nil, 0},
		{"kid repeated beside another key", set(t, good, published(t, ed), good), nil, []string{ed.ID}, 1},
		{"kid repeated three times", set(t, good, good, good, published(t, ed)), nil, []string{ed.ID}, 1},
		{"kid shared with a skipped key", set(t, good, entry(t, ed.Public(), es.ID, "EdDSA", map[string]any{"use": "enc"})), nil, []string{es.ID}, 1},
		{"kid shared by two key types", set(t, good, entry(t, ed.Public(), es.ID, "EdDSA", nil)), jwks.ErrNoUsableKey, nil, 0},
		{"keys member twice", []byte(`{"keys":[],"keys":` + string(mustJSON(t, []any{good})) + `}`), nil, []string{es.ID}, 1},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHostileDocuments(t *testing.T) {
	for _, tt := range hostile(t) {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jwks.ParseSet(tt.body)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("ParseSet: err = %v, want %v", err, tt.err)
			}
			for _, kid := range tt.kids {
				if _, ok := got[kid]; !ok {
					t.Errorf("ParseSet: kid %s missing from %d keys", kid, len(got))
				}
			}
			if len(got) != tt.n {
				t.Errorf("ParseSet: %d keys, want %d", len(got), tt.n)
			}
		})
	}
}

// TestHostileOverHTTP sends what only the fetch sees: sizes and statuses.
// New refuses each, and a running Set keeps its last good set.
func TestHostileOverHTTP(t *testing.T) {
	es := key(t, "ES256")
	good := set(t, published(t, es))
	huge := append(bytes.Repeat([]byte(" "), jwks.MaxDocumentBytes), good...)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		err     error
	}{
		{"over 1 MiB", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(huge) }, jwks.ErrTooLarge},
		{"over 1 MiB, chunked", func(w http.ResponseWriter, _ *http.Request) {
			for i := 0; i < len(huge); i += 64 << 10 {
				_, _ = w.Write(huge[i:min(i+64<<10, len(huge))])
				w.(http.Flusher).Flush()
			}
		}, jwks.ErrTooLarge},
		{"Content-Length over 1 MiB", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(10<<20))
			_, _ = w.Write(good)
		}, jwks.ErrTooLarge},
		{"endless body", func(w http.ResponseWriter, r *http.Request) {
			for r.Context().Err() == nil {
				if _, err := w.Write(bytes.Repeat([]byte(" "), 64<<10)); err != nil {
					return
				}
			}
		}, jwks.ErrTooLarge},
		{"status 500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500); _, _ = w.Write(good) }, jwks.ErrFetch},
		{"status 404", http.NotFound, jwks.ErrFetch},
		{"status 304 unasked", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(304) }, jwks.ErrFetch},
		{"redirect to plain http elsewhere", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1/jwks.json", http.StatusFound)
		}, jwks.ErrInsecureURL},
		{"closed connection", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
		}, jwks.ErrFetch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := jwks.New(t.Context(), srv.URL, jwks.Options{Logger: quiet})
			if !errors.Is(err, tt.err) {
				t.Fatalf("New: err = %v, want %v", err, tt.err)
			}

			mux := newServer(t, good)
			s := newSet(t, mux.URL, jwks.Options{})
			mux.mu.Lock()
			mux.other = tt.handler
			mux.mu.Unlock()
			if err := s.Refresh(t.Context()); !errors.Is(err, tt.err) {
				t.Fatalf("Refresh: err = %v, want %v", err, tt.err)
			}
			if _, _, err := s.VerificationKey(t.Context(), es.ID); err != nil {
				t.Fatalf("VerificationKey after a failed refresh: %v", err)
			}
		})
	}
}

func FuzzParseSet(f *testing.F) {
	for _, tt := range hostile(f) {
		if len(tt.body) < 64<<10 {
			f.Add(tt.body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := jwks.ParseSet(body)
		if err != nil {
			if !errors.Is(err, jwks.ErrMalformed) && !errors.Is(err, jwks.ErrTooLarge) && !errors.Is(err, jwks.ErrNoUsableKey) {
				t.Fatalf("ParseSet: err = %v, not one of the package's", err)
			}
			return
		}
		for kid, alg := range got {
			if kid == "" || !slices.Contains(keys.Algorithms, alg) {
				t.Fatalf("ParseSet: kept kid %q with alg %q", kid, alg)
			}
		}
	})
}

func TestFreshness(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Add(-time.Hour).Format(http.TimeFormat)
	tests := []struct {
		name   string
		header []string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"max-age", []string{"Cache-Control", "public, max-age=900"}, 15 * time.Minute},
		{"max-age in capitals, quoted", []string{"Cache-Control", `MAX-AGE="60"`}, time.Minute},
		{"max-age 0", []string{"Cache-Control", "max-age=0"}, 0},
		{"no-store", []string{"Cache-Control", "max-age=900, no-store"}, 0},
		{"no-cache", []string{"Cache-Control", "no-cache, max-age=900"}, 0},
		{"invalid max-age", []string{"Cache-Control", "max-age=soon"}, 0},
		{"negative max-age", []string{"Cache-Control", "max-age=-5"}, 0},
		{"repeated max-age", []string{"Cache-Control", "max-age=60, max-age=900"}, 0},
		{"huge max-age", []string{"Cache-Control", "max-age=99999999999999999999999"}, 1<<63 - 1},
		{"max-age over Expires", []string{"Cache-Control", "max-age=60", "Expires", now.Add(time.Hour).Format(http.TimeFormat)}, time.Minute},
		{"Cache-Control without max-age", []string{"Cache-Control", "public", "Expires", now.Add(time.Hour).Format(http.TimeFormat)}, time.Hour},
		{"Expires from now", []string{"Expires", now.Add(10 * time.Minute).Format(http.TimeFormat)}, 10 * time.Minute},
		{"Expires from Date", []string{"Expires", now.Format(http.TimeFormat), "Date", date}, time.Hour},
		{"Expires past", []string{"Expires", now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"Expires invalid", []string{"Expires", "0"}, 0},
		{"Age", []string{"Cache-Control", "max-age=900", "Age", "300"}, 10 * time.Minute},
		{"Age past max-age", []string{"Cache-Control", "max-age=900", "Age", "1000"}, 0},
		{"Age invalid", []string{"Cache-Control", "max-age=900", "Age", "old"}, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i+1 < len(tt.header); i += 2 {
				h.Set(tt.header[i], tt.header[i+1])
			}
			if got := jwks.Freshness(h, now); got != tt.want {
				t.Errorf("freshness(%v) = %s, want %s", tt.header, got, tt.want)
			}
		})
	}
}

// TestRefreshClamp checks the interval the cache is given for the next
// background refresh: the response's freshness within [MinRefresh, MaxRefresh].
func TestRefreshClamp(t *testing.T) {
	srv := newServer(t, set(t, published(t, key(t, "ES256"))))
	tests := []struct {
		name         string
		cacheControl string
		want         time.Duration
	}{
		{"none: the floor", "", 2 * time.Minute},
		{"no-cache: the floor", "no-cache", 2 * time.Minute},
		{"under the floor", "max-age=10", 2 * time.Minute},
		{"within", "public, max-age=900", 15 * time.Minute},
		{"over the ceiling", "max-age=86400", time.Hour},
		{"far over the ceiling", "max-age=99999999999999999999", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.answer(200, set(t, published(t, key(t, "ES256"))), "Cache-Control", tt.cacheControl)
			s := newSet(t, srv.URL, jwks.Options{MinRefresh: 2 * time.Minute, MaxRefresh: time.Hour})
			if got := s.RefreshIn(); got != tt.want {
				t.Errorf("after New: refresh in %s, want %s", got, tt.want)
			}
			res, err := s.CacheResponse()
			if err != nil {
				t.Fatalf("cache fetch: %v", err)
			}
			if got, want := res.Header.Get("Cache-Control"), fmt.Sprintf("max-age=%d", int(tt.want.Seconds())); got != want {
				t.Errorf("cache told Cache-Control %q, want %q", got, want)
			}
		})
	}
}

// TestBackgroundRefresh lets jwk.Cache refresh on its own: a max-age of an
// hour is cut to the 1 s ceiling, so the cache fetches again within
// seconds and picks up a new key. Without the ceiling it would wait an hour.
func TestBackgroundRefresh(t *testing.T) {
	es, ed := key(t, "ES256"), key(t, "EdDSA")
	srv := newServer(t, nil)
	srv.answer(200, set(t, published(t, es)), "Cache-Control", "max-age=3600")
	s := newSet(t, srv.URL, jwks.Options{MinRefresh: time.Second, MaxRefresh: time.Second})
	srv.answer(200, set(t, published(t, es), published(t, ed)), "Cache-Control", "max-age=3600")
	eventually(t, 30*time.Second, "background refresh brings the new key", func() bool { return s.Has(ed.ID) })
	eventually(t, 30*time.Second, "and keeps refreshing", func() bool { return srv.hits.Load() >= 4 })
}

// TestBackgroundFailureLogged checks that a failed background refresh is
// logged, without the URL's query, and keeps the last good set.
func TestBackgroundFailureLogged(t *testing.T) {
	es := key(t, "ES256")
	srv := newServer(t, set(t, published(t, es)))
	var mu sync.Mutex
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	s := newSet(t, srv.URL+"/jwks.json?token=s3cret", jwks.Options{MinRefresh: time.Second, MaxRefresh: time.Second, Logger: logger})
	srv.answer(http.StatusServiceUnavailable, nil)
	eventually(t, 30*time.Second, "a failed background refresh is logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logged.String(), "jwks refresh failed")
	})
	mu.Lock()
	log := logged.String()
	mu.Unlock()
	if strings.Contains(log, "s3cret") {
		t.Errorf("log holds the URL's query: %s", log)
	}
	if !strings.Contains(log, `"jwks_url":"`+srv.URL+`/jwks.json"`) || !strings.Contains(log, "status 503") {
		t.Errorf("log lacks the URL or the cause: %s", log)
	}
	if _, _, err := s.VerificationKey(t.Context(), es.ID); err != nil {
		t.Errorf("VerificationKey after failed refreshes: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestUnknownKID: an unknown kid refetches once for many concurrent
// callers; calls within UnknownKIDInterval get ErrUnknownKey at once; a
// failed refetch keeps the last good set.
func TestUnknownKID(t *testing.T) {
	es, ed, rs := key(t, "ES256"), key(t, "EdDSA"), key(t, "RS256")
	srv := newServer(t, set(t, published(t, es)))
	clk := newClock()
	s := newSet(t, srv.URL, jwks.Options{UnknownKIDInterval: 10 * time.Second, Now: clk.Now})
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("fetches after New = %d, want 1", got)
	}

	// The issuer publishes ed; its first tokens arrive at 50 callers at once.
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.body, srv.gate = set(t, published(t, es), published(t, ed)), gate
	srv.mu.Unlock()
	const callers = 50
	var started, done sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			_, alg, err := s.VerificationKey(context.Background(), ed.ID)
			if err == nil && alg != "EdDSA" {
				err = fmt.Errorf("alg %q", alg)
			}
			errs <- err
		}()
	}
	started.Wait()
	eventually(t, 10*time.Second, "the refetch reaches the server", func() bool { return srv.hits.Load() == 2 })
	close(gate)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("VerificationKey(new kid) during the shared refetch: %v", err)
		}
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after %d concurrent callers = %d, want 2", callers, got)
	}
	srv.mu.Lock()
	srv.gate = nil
	srv.mu.Unlock()

	// No kid: refused at once, no fetch, not even after the interval.
	clk.Add(10 * time.Second)
	if _, _, err := s.VerificationKey(t.Context(), ""); !errors.Is(err, jwks.ErrUnknownKey) || srv.hits.Load() != 2 {
		t.Fatalf("VerificationKey(no kid): err = %v, fetches %d; want ErrUnknownKey and 2", err, srv.hits.Load())
	}
	clk.Add(-10 * time.Second)

	// Made-up kids within the interval: refused at once, no fetch.
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if _, _, err := s.VerificationKey(context.Background(), fmt.Sprintf("made-up-%d", i)); !errors.Is(err, jwks.ErrUnknownKey) {
				t.Errorf("VerificationKey(made-up kid): err = %v, want ErrUnknownKey", err)
			}
		})
	}
	wg.Wait()
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after made-up kids within the interval = %d, want 2", got)
	}

	// After the interval, one more refetch; the kid is still unknown.
	clk.Add(10 * time.Second)
	if _, _, err := s.VerificationKey(t.Context(), "made-up"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("VerificationKey(made-up) after the interval: err = %v, want ErrUnknownKey", err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("fetches after the interval = %d, want 3", got)
	}
	if _, _, err := s.VerificationKey(t.Context(), "made-up-again"); !errors.Is(err, jwks.ErrUnknownKey) || srv.hits.Load() != 3 {
		t.Fatalf("VerificationKey right after: err = %v, fetches %d; want ErrUnknownKey and 3", err, srv.hits.Load())
	}

	// A failed refetch: the cause is wrapped, the last good set stays.
	clk.Add(10 * time.Second)
	srv.answer(http.StatusInternalServerError, nil)
	_, _, err := s.VerificationKey(t.Context(), rs.ID)
	if !errors.Is(err, jwks.ErrUnknownKey) || !errors.Is(err, jwks.ErrFetch) {
		t.Fatalf("VerificationKey during an outage: err = %v, want ErrUnknownKey and ErrFetch", err)
	}
	for _, k := range []*keys.Key{es, ed} {
		if _, _, err := s.VerificationKey(t.Context(), k.ID); err != nil {
			t.Errorf("VerificationKey(%s) during an outage: %v", k.Algorithm, err)
		}
	}

	// A caller whose context ends stops waiting; the refetch goes on.
	clk.Add(10 * time.Second)
	gate = make(chan struct{})
	srv.mu.Lock()
	srv.status, srv.body, srv.gate = 200, set(t, published(t, es), published(t, rs)), gate
	srv.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := s.VerificationKey(ctx, rs.ID); !errors.Is(err, jwks.ErrUnknownKey) || !errors.Is(err, context.Canceled) {
		t.Fatalf("VerificationKey(cancelled): err = %v, want ErrUnknownKey and Canceled", err)
	}
	close(gate)
	eventually(t, 10*time.Second, "the abandoned refetch completes", func() bool { return s.Has(rs.ID) })
	if s.Has(ed.ID) {
		t.Errorf("a key the issuer removed is still in the set")
	}
}

// TestFailureKeepsLastGoodSet: every kind of failed Refresh leaves the
// set and LastRefresh as they were; the next good one replaces them.
func TestFailureKeepsLastGoodSet(t *testing.T) {
	es, ed := key(t, "ES256"), key(t, "EdDSA")
	srv := newServer(t, set(t, published(t, es)))
	clk := newClock()
	s := newSet(t, srv.URL, jwks.Options{Now: clk.Now})
	first := s.LastRefresh()
	if !first.Equal(clk.Now()) {
		t.Fatalf("LastRefresh = %s, want %s", first, clk.Now())
	}
	tests := []struct {
		name   string
		status int
		body   []byte
		err    error
	}{
		{"status 500", 500, set(t, published(t, ed)), jwks.ErrFetch},
		{"not JSON", 200, []byte("oops"), jwks.ErrMalformed},
		{"no usable key", 200, set(t, entry(t, ed.Public(), ed.ID, "EdDSA", map[string]any{"alg": nil})), jwks.ErrNoUsableKey},
		{"too large", 200, bytes.Repeat([]byte("["), jwks.MaxDocumentBytes+1), jwks.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Add(time.Minute)
			srv.answer(tt.status, tt.body)
			if err := s.Refresh(t.Context()); !errors.Is(err, tt.err) {
				t.Fatalf("Refresh: err = %v, want %v", err, tt.err)
			}
			if _, _, err := s.VerificationKey(t.Context(), es.ID); err != nil {
				t.Errorf("VerificationKey(last good key): %v", err)
			}
			if got := s.LastRefresh(); !got.Equal(first) {
				t.Errorf("LastRefresh = %s, want %s", got, first)
			}
			if got, want := s.Age(), clk.Now().Sub(first); got != want {
				t.Errorf("Age = %s, want %s", got, want)
			}
		})
	}
	srv.Close()
	if err := s.Refresh(t.Context()); !errors.Is(err, jwks.ErrFetch) {
		t.Fatalf("Refresh with the server gone: err = %v, want ErrFetch", err)
	}

	srv2 := newServer(t, set(t, published(t, ed)))
	s2 := newSet(t, srv2.URL, jwks.Options{Now: clk.Now})
	srv2.answer(200, set(t, published(t, es)))
	clk.Add(time.Minute)
	if err := s2.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !s2.Has(es.ID) || s2.Has(ed.ID) || !s2.LastRefresh().Equal(clk.Now()) {
		t.Errorf("after a good Refresh: has new %v, has old %v, LastRefresh %s; want true, false, %s",
			s2.Has(es.ID), s2.Has(ed.ID), s2.LastRefresh(), clk.Now())
	}
}

// TestRevalidation: with an ETag the next fetch sends If-None-Match, and a
// 304 keeps the keys and counts as a successful refresh.
func TestRevalidation(t *testing.T) {
	es := key(t, "ES256")
	srv := newServer(t, nil)
	srv.answer(200, set(t, published(t, es)), "ETag", `"v1"`, "Cache-Control", "max-age=900")
	clk := newClock()
	s := newSet(t, srv.URL, jwks.Options{Now: clk.Now})
	clk.Add(time.Minute)
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh (304): %v", err)
	}
	srv.mu.Lock()
	inm := slices.Clone(srv.inm)
	srv.mu.Unlock()
	if !slices.Equal(inm, []string{"", `"v1"`}) {
		t.Errorf("If-None-Match sent = %q, want none then \"v1\"", inm)
	}
	if !s.Has(es.ID) || !s.LastRefresh().Equal(clk.Now()) || s.RefreshIn() != 15*time.Minute {
		t.Errorf("after a 304: has key %v, LastRefresh %s, refresh in %s; want true, %s, 15m",
			s.Has(es.ID), s.LastRefresh(), s.RefreshIn(), clk.Now())
	}
}

func TestNewRefuses(t *testing.T) {
	srv := newServer(t, set(t, published(t, key(t, "ES256"))))
	empty := newServer(t, set(t))
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	tests := []struct {
		name string
		url  string
		opts jwks.Options
		err  error
	}{
		{"http elsewhere", "http://auth.example/jwks.json", jwks.Options{}, jwks.ErrInsecureURL},
		{"http on a private address", "http://10.0.0.1/jwks.json", jwks.Options{}, jwks.ErrInsecureURL},
		{"ftp", "ftp://127.0.0.1/jwks.json", jwks.Options{}, jwks.ErrInsecureURL},
		{"relative", "/jwks.json", jwks.Options{}, jwks.ErrInsecureURL},
		{"https without a host", "https:///jwks.json", jwks.Options{}, jwks.ErrInsecureURL},
		{"unparsable", "http://[::1/jwks.json", jwks.Options{}, jwks.ErrInsecureURL},
		{"MinRefresh under a second", srv.URL, jwks.Options{MinRefresh: 500 * time.Millisecond}, jwks.ErrOptions},
		{"MaxRefresh under MinRefresh", srv.URL, jwks.Options{MinRefresh: time.Hour, MaxRefresh: time.Minute}, jwks.ErrOptions},
		{"negative interval", srv.URL, jwks.Options{UnknownKIDInterval: -time.Second}, jwks.ErrOptions},
		{"first fetch fails", missing.URL, jwks.Options{}, jwks.ErrFetch},
		{"no usable key", empty.URL, jwks.Options{}, jwks.ErrNoUsableKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Logger = quiet
			if _, err := jwks.New(t.Context(), tt.url, tt.opts); !errors.Is(err, tt.err) {
				t.Fatalf("New(%s): err = %v, want %v", tt.url, err, tt.err)
			}
		})
	}
}

// TestLoopbackHosts: plain http is allowed only to this machine.
func TestLoopbackHosts(t *testing.T) {
	srv := newServer(t, set(t, published(t, key(t, "ES256"))))
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, host := range []string{"127.0.0.1", "localhost", "LOCALHOST"} {
		t.Run(host, func(t *testing.T) {
			newSet(t, "http://"+host+port, jwks.Options{})
		})
	}
}

// TestHTTPS fetches over TLS with the test server's client.
func TestHTTPS(t *testing.T) {
	es := key(t, "ES256")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(set(t, published(t, es)))
	}))
	defer srv.Close()
	s := newSet(t, srv.URL, jwks.Options{HTTPClient: srv.Client()})
	if _, _, err := s.VerificationKey(t.Context(), es.ID); err != nil {
		t.Fatalf("VerificationKey over https: %v", err)
	}
}

// TestStop: when ctx ends, the background refresh and every goroutine of
// the Set end, including after a failed New and a refetch under way.
func TestStop(t *testing.T) {
	es := key(t, "ES256")
	srv := newServer(t, set(t, published(t, es)))
	bad := newServer(t, set(t))
	runtime.GC()
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	var sets []*jwks.Set
	for range 5 {
		s, err := jwks.New(ctx, srv.URL, jwks.Options{MinRefresh: time.Second, MaxRefresh: time.Second, Logger: quiet})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		sets = append(sets, s)
	}
	if _, err := jwks.New(ctx, bad.URL, jwks.Options{Logger: quiet}); !errors.Is(err, jwks.ErrNoUsableKey) {
		t.Fatalf("New(empty set): err = %v", err)
	}
	for _, s := range sets {
		_, _, _ = s.VerificationKey(ctx, "made-up")
	}
	if during := runtime.NumGoroutine(); during <= before {
		t.Fatalf("goroutines while running = %d, not more than before (%d): the count cannot see a leak", during, before)
	}
	cancel()
	eventually(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", before), func() bool {
		return runtime.NumGoroutine() <= before
	})
	if _, _, err := sets[0].VerificationKey(t.Context(), es.ID); err != nil {
		t.Errorf("VerificationKey after stop: %v (the last set stays)", err)
	}
}

func TestDiscover(t *testing.T) {
	const (
		asPath   = "/.well-known/oauth-authorization-server"
		oidcPath = "/.well-known/openid-configuration"
	)
	type doc map[string]any
	tests := []struct {
		name      string
		suffix    string              // appended to the server URL to make the issuer
		docs      map[string]any      // path → document ([]byte raw, doc as JSON)
		issuerOf  func(string) string // the metadata's issuer, from the issuer asked for
		jwksURI   string              // "" for issuer + "/jwks.json"
		want      string              // "" for issuer-derived jwks URI
		err       error
		wantPaths []string
	}{
		{name: "RFC 8414 path", docs: map[string]any{asPath: doc{}}, wantPaths: []string{asPath}},
		{name: "OpenID path when the first is missing", docs: map[string]any{oidcPath: doc{}}, wantPaths: []string{asPath, oidcPath}},
		{name: "issuer with a path and a trailing slash", suffix: "/tenant/", docs: map[string]any{"/tenant" + asPath: doc{}}, wantPaths: []string{"/tenant" + asPath}},
		{name: "issuer mismatch", docs: map[string]any{asPath: doc{}, oidcPath: doc{}}, issuerOf: func(s string) string { return s + "/" },
			err: jwks.ErrIssuerMismatch, wantPaths: []string{asPath}},
		{name: "issuer of another server", docs: map[string]any{asPath: doc{}}, issuerOf: func(string) string { return "https://evil.example" },
			err: jwks.ErrIssuerMismatch},
		{name: "issuer in capitals only", docs: map[string]any{asPath: []byte(`{"ISSUER":"x","jwks_uri":"https://a.example/j"}`)}, err: jwks.ErrMalformed},
		{name: "issuer a number", docs: map[string]any{asPath: []byte(`{"issuer":1,"jwks_uri":"https://a.example/j"}`)}, err: jwks.ErrMalformed},
		{name: "jwks_uri over plain http elsewhere", docs: map[string]any{asPath: doc{}}, jwksURI: "http://auth.example/jwks.json", err: jwks.ErrInsecureURL},
		{name: "jwks_uri https elsewhere", docs: map[string]any{asPath: doc{}}, jwksURI: "https://keys.example/jwks.json", want: "https://keys.example/jwks.json"},
		{name: "no jwks_uri", docs: map[string]any{asPath: doc{"jwks_uri": nil}}, err: jwks.ErrMalformed},
		{name: "jwks_uri a number", docs: map[string]any{asPath: doc{"jwks_uri": 5}}, err: jwks.ErrMalformed},
		{name: "not JSON", docs: map[string]any{asPath: []byte("<html>")}, err: jwks.ErrMalformed},
		{name: "too large", docs: map[string]any{asPath: bytes.Repeat([]byte(" "), jwks.MaxDocumentBytes+1)}, err: jwks.ErrTooLarge},
		{name: "no metadata", docs: map[string]any{}, err: jwks.ErrFetch, wantPaths: []string{asPath, oidcPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var paths []string
			var issuer string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				d, ok := tt.docs[r.URL.Path]
				if !ok {
					http.NotFound(w, r)
					return
				}
				if raw, ok := d.([]byte); ok {
					_, _ = w.Write(raw)
					return
				}
				m := map[string]any{"issuer": issuer, "jwks_uri": strings.TrimSuffix(issuer, "/") + "/jwks.json", "token_endpoint": issuer + "/oauth/token"}
				if tt.issuerOf != nil {
					m["issuer"] = tt.issuerOf(issuer)
				}
				if tt.jwksURI != "" {
					m["jwks_uri"] = tt.jwksURI
				}
				for k, v := range d.(doc) {
					if v == nil {
						delete(m, k)
					} else {
						m[k] = v
					}
				}
				_ = json.NewEncoder(w).Encode(m)
			}))
			defer srv.Close()
			issuer = srv.URL + tt.suffix
			got, err := jwks.Discover(t.Context(), nil, issuer)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Discover(%s): err = %v, want %v", issuer, err, tt.err)
			}
			want := tt.want
			if want == "" && tt.err == nil {
				want = strings.TrimSuffix(issuer, "/") + "/jwks.json"
			}
			if got != want {
				t.Errorf("Discover(%s) = %q, want %q", issuer, got, want)
			}
			if tt.wantPaths != nil && !slices.Equal(paths, tt.wantPaths) {
				t.Errorf("Discover(%s) asked %v, want %v", issuer, paths, tt.wantPaths)
			}
		})
	}
}

func TestDiscoverRefusesInsecureIssuer(t *testing.T) {
	for _, issuer := range []string{"http://auth.example", "auth.example", "http://192.0.2.1:8080"} {
		if _, err := jwks.Discover(t.Context(), nil, issuer); !errors.Is(err, jwks.ErrInsecureURL) {
			t.Errorf("Discover(%s): err = %v, want ErrInsecureURL", issuer, err)
		}
	}
}

// TestDiscoverThenNew is the resource server's start-up: discover, fetch,
// verify, over https.
func TestDiscoverThenNew(t *testing.T) {
	es := key(t, "ES256")
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/.well-known/jwks.json"})
		case "/.well-known/jwks.json":
			_, _ = w.Write(set(t, published(t, es)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	uri, err := jwks.Discover(t.Context(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	s := newSet(t, uri, jwks.Options{HTTPClient: srv.Client()})
	if _, alg, err := s.VerificationKey(t.Context(), es.ID); err != nil || alg != "ES256" {
		t.Fatalf("VerificationKey: %q, %v", alg, err)
	}
}

func BenchmarkVerificationKey(b *testing.B) {
	var entries []any
	for _, alg := range keys.Algorithms {
		entries = append(entries, published(b, key(b, alg)))
	}
	srv := newServer(b, set(b, entries...))
	s := newSet(b, srv.URL, jwks.Options{})
	kid := key(b, "ES256").ID
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.VerificationKey(ctx, kid); err != nil {
			b.Fatal(err)
		}
	}
}
