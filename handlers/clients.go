package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The grants a client can hold.
const (
	GrantSessions          = "sessions"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantIntrospect        = "introspect"
	GrantAdmin             = "admin"
)

// Grants lists every grant, for configuration validation.
var Grants = []string{GrantSessions, GrantRefreshToken, GrantClientCredentials, GrantIntrospect, GrantAdmin}

// Client is a configured caller. A nil Secret makes it public.
type Client struct {
	ID        string
	Secret    *SecretHash
	Grants    []string
	Scopes    []string
	Audiences []string
}

// Confidential reports whether c has a secret.
func (c *Client) Confidential() bool { return c.Secret != nil }

// Has reports whether c holds grant.
func (c *Client) Has(grant string) bool {
	for _, g := range c.Grants {
		if g == grant {
			return true
		}
	}
	return false
}

// ErrSecretHash is returned by ParseSecretHash for any form it does not take.
var ErrSecretHash = errors.New("handlers: secret_hash must be sha256:<64 lowercase hex>, a bcrypt ($2a$, $2b$, $2y$) or an argon2id ($argon2id$) PHC string")

// The bounds ParseSecretHash puts on slow hashes. The floors are the
// weakest settings of OWASP's Password Storage Cheat Sheet (bcrypt cost 10;
// argon2id from 46 MiB × 1 pass to 7 MiB × 5 passes), below which a leaked
// config is cheap to crack. The ceilings keep one failed guess cheap
// enough that slowHashSlots concurrent ones cannot take the process down:
// bcrypt cost 13 is about 0.5 s of one core (each step doubles it), and
// argon2id allocates its whole memory cost per check, so 64 MiB × 4 slots
// bounds the hashes' memory at 256 MiB. RFC 9106 §4's second recommended
// setting (64 MiB, 3 passes, 4 lanes) fits.
const (
	bcryptMinCost, bcryptMaxCost = 10, 13
	argonMinMemoryKiB            = 7 * 1024
	argonMaxMemoryKiB            = 64 * 1024
	argonMinWorkKiB              = 35 * 1024 // memory × iterations
	argonMaxIterations           = 10
	argonMaxParallelism          = 8
	argonMinSaltBytes            = 8  // RFC 9106 §3.1: 16 recommended
	argonMinKeyBytes             = 16 // 128-bit tag
)

// SecretHash is a parsed client secret hash.
type SecretHash struct {
	sum  []byte // sha256: the digest
	slow string // bcrypt or argon2id: the PHC string
	// work estimates the cost of one slow check, in KiB × passes of
	// argon2id; a bcrypt cost c counts as 64 × 2^c, which measures about
	// the same time (cost 10 ≈ 64 MiB × 1 pass ≈ 0.1 s).
	work uint64
}

// ParseSecretHash takes "sha256:<64 lowercase hex>", which suits random
// secrets of 128 bits or more (a fast hash is enough when guessing is
// hopeless), or a bcrypt or argon2id PHC string for chosen secrets, within
// the bounds above (ErrSecretHashParams beyond them).
func ParseSecretHash(s string) (*SecretHash, error) {
	switch {
	case strings.HasPrefix(s, "sha256:"):
		h := strings.TrimPrefix(s, "sha256:")
		sum, err := hex.DecodeString(h)
		if err != nil || len(sum) != sha256.Size || strings.ToLower(h) != h {
			return nil, ErrSecretHash
		}
		return &SecretHash{sum: sum}, nil
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil || len(s) != 60 {
			return nil, ErrSecretHash
		}
		if cost < bcryptMinCost || cost > bcryptMaxCost {
			return nil, fmt.Errorf("%w: bcrypt cost %d, want %d to %d", ErrSecretHashParams, cost, bcryptMinCost, bcryptMaxCost)
		}
		return &SecretHash{slow: s, work: 64 << cost}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		p, _, _, err := argon2id.DecodeHash(s)
		if err != nil {
			return nil, ErrSecretHash
		}
		if err := checkArgon2id(p); err != nil {
			return nil, err
		}
		return &SecretHash{slow: s, work: uint64(p.Memory) * uint64(p.Iterations)}, nil
	}
	return nil, ErrSecretHash
}

func checkArgon2id(p *argon2id.Params) error {
	switch {
	case p.Memory < argonMinMemoryKiB || p.Memory > argonMaxMemoryKiB:
		return fmt.Errorf("%w: argon2id memory m=%d KiB, want %d to %d", ErrSecretHashParams, p.Memory, argonMinMemoryKiB, argonMaxMemoryKiB)
	case p.Iterations < 1 || p.Iterations > argonMaxIterations:
		return fmt.Errorf("%w: argon2id iterations t=%d, want 1 to %d", ErrSecretHashParams, p.Iterations, argonMaxIterations)
	case uint64(p.Memory)*uint64(p.Iterations) < argonMinWorkKiB:
		return fmt.Errorf("%w: argon2id m×t = %d KiB, want at least %d (e.g. m=19456,t=2)", ErrSecretHashParams, uint64(p.Memory)*uint64(p.Iterations), argonMinWorkKiB)
	case p.Parallelism < 1 || p.Parallelism > argonMaxParallelism:
		return fmt.Errorf("%w: argon2id parallelism p=%d, want 1 to %d", ErrSecretHashParams, p.Parallelism, argonMaxParallelism)
	case p.SaltLength < argonMinSaltBytes:
		return fmt.Errorf("%w: argon2id salt of %d bytes, want at least %d", ErrSecretHashParams, p.SaltLength, argonMinSaltBytes)
	case p.KeyLength < argonMinKeyBytes:
		return fmt.Errorf("%w: argon2id key of %d bytes, want at least %d", ErrSecretHashParams, p.KeyLength, argonMinKeyBytes)
	}
	return nil
}

// SHA256Hash returns the sha256: secret_hash of secret.
func SHA256Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// matches compares secret with h in constant time (for sha256; bcrypt and
// argon2id compare in constant time themselves).
func (h *SecretHash) matches(secret string) bool {
	if h.sum != nil {
		sum := sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(sum[:], h.sum) == 1
	}
	if strings.HasPrefix(h.slow, "$argon2id$") {
		ok, err := argon2id.ComparePasswordAndHash(secret, h.slow)
		return err == nil && ok
	}
	return bcrypt.CompareHashAndPassword([]byte(h.slow), []byte(secret)) == nil
}

// slowCacheTTL is how long a verified bcrypt or argon2id secret is
// remembered, as a SHA-256 digest, so a confidential client that
// introspects on every request does not pay the slow hash every time.
const slowCacheTTL = 5 * time.Minute

// slowHashWait is how long a slow check waits for a free slot before the
// request is refused with 503: about one bcrypt check of the highest cost.
const slowHashWait = time.Second

// slowHashSlots is how many slow checks run at once: one per core, at most
// 4. A slow check is CPU-bound, so more at once only adds memory (argon2id
// allocates its whole memory cost per check: 40 parallel wrong guesses at
// 64 MiB took the process to 2.5 GiB), and a full queue answers 503 instead.
func slowHashSlots() int { return max(1, min(runtime.GOMAXPROCS(0), 4)) }

type clientRegistry struct {
	byID map[string]*Client
	now  func() time.Time
	// dummy is checked when the id is unknown or public, at the cost of
	// the slowest configured hash, so the time and work an answer takes do
	// not tell which ids exist.
	dummy *SecretHash
	// slots bounds the concurrent slow checks; wait is how long one waits.
	slots chan struct{}
	wait  time.Duration
	// checked counts slow checks run, busy those refused for want of a slot.
	checked, busy prometheus.Counter

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	sum   [sha256.Size]byte
	until time.Time
}

func newClientRegistry(clients []Client, now func() time.Time, m *metrics) *clientRegistry {
	r := &clientRegistry{
		byID: map[string]*Client{}, now: now, cache: map[string]cachedSecret{},
		slots: make(chan struct{}, slowHashSlots()), wait: slowHashWait,
		checked: m.slowHash.WithLabelValues("checked"), busy: m.slowHash.WithLabelValues("busy"),
	}
	var slowest *SecretHash
	for i := range clients {
		r.byID[clients[i].ID] = &clients[i]
		if h := clients[i].Secret; h != nil && h.slow != "" && (slowest == nil || h.work > slowest.work) {
			slowest = h
		}
	}
	r.dummy = dummyLike(slowest)
	return r
}

// dummyLike returns a hash of the same kind and parameters as h that no
// secret matches, made without hashing: a random salt and digest in h's
// PHC form cost a full check to refute. With no slow hash configured it is
// a sha256 hash.
func dummyLike(h *SecretHash) *SecretHash {
	if h == nil {
		return &SecretHash{sum: make([]byte, sha256.Size)}
	}
	if strings.HasPrefix(h.slow, "$argon2id$") {
		p, salt, key, err := argon2id.DecodeHash(h.slow)
		if err == nil {
			_, _ = rand.Read(salt)
			_, _ = rand.Read(key)
			enc := base64.RawStdEncoding
			return &SecretHash{work: h.work, slow: fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
				argon2.Version, p.Memory, p.Iterations, p.Parallelism, enc.EncodeToString(salt), enc.EncodeToString(key))}
		}
	}
	// bcrypt: "$2a$" cost "$" then 53 characters of salt and digest in
	// bcrypt's own base64 alphabet.
	const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 53)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return &SecretHash{work: h.work, slow: h.slow[:7] + string(b)}
}

func (r *clientRegistry) get(id string) (*Client, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// errBusy refuses a client authentication when every slow-hash slot stayed
// taken for slowHashWait. It is a 503, not a 429: the limit is the
// server's capacity, shared by every caller, not this caller's rate.
func errBusy() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Description: "too many client authentications in progress; retry later"}
}

// slowMatch compares secret with a bcrypt or argon2id h inside a slot.
func (r *clientRegistry) slowMatch(ctx context.Context, h *SecretHash, secret string) (bool, error) {
	if h.sum != nil {
		return h.matches(secret), nil
	}
	select {
	case r.slots <- struct{}{}:
	default:
		t := time.NewTimer(r.wait)
		defer t.Stop()
		select {
		case r.slots <- struct{}{}:
		case <-t.C:
			r.busy.Inc()
			return false, errBusy()
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return false, ctx.Err() // the client hung up: 499
			}
			r.busy.Inc()
			return false, errBusy()
		}
	}
	defer func() { <-r.slots }()
	r.checked.Inc()
	return h.matches(secret), nil
}

// verify checks id and secret. A public client presenting its id with an
// empty secret (Basic "id:", as many OAuth libraries send it) is
// identified, not authenticated: it has nothing to authenticate with. An
// unknown id, or a public one with a secret, costs a check of the dummy.
func (r *clientRegistry) verify(ctx context.Context, id, secret string) (*Client, bool, error) {
	c, ok := r.byID[id]
	if ok && c.Secret == nil && secret == "" {
		return c, true, nil
	}
	if !ok || c.Secret == nil {
		_, err := r.slowMatch(ctx, r.dummy, secret)
		return nil, false, err
	}
	if c.Secret.sum != nil {
		return c, c.Secret.matches(secret), nil
	}
	sum := sha256.Sum256([]byte(secret))
	r.mu.Lock()
	hit, found := r.cache[id]
	r.mu.Unlock()
	if found && r.now().Before(hit.until) && subtle.ConstantTimeCompare(sum[:], hit.sum[:]) == 1 {
		return c, true, nil
	}
	if match, err := r.slowMatch(ctx, c.Secret, secret); !match || err != nil {
		return c, false, err
	}
	r.mu.Lock()
	r.cache[id] = cachedSecret{sum: sum, until: r.now().Add(slowCacheTTL)}
	r.mu.Unlock()
	return c, true, nil
}

// authenticate finds the calling client from HTTP Basic (RFC 6749 §2.3.1)
// or, when form is not nil, client_secret_post. It returns nil and no
// error when the request carries no client credentials; using two methods
// at once is refused (RFC 6749 §2.3).
func (s *Server) authenticate(c echo.Context, form url.Values) (*Client, error) {
	authz := c.Request().Header.Values("Authorization")
	var postID, postSecret string
	hasPost := false
	if form != nil {
		_, hasPost = form["client_secret"]
		postID, postSecret = form.Get("client_id"), form.Get("client_secret")
	}
	if len(authz) == 0 {
		if !hasPost {
			return nil, nil
		}
		return s.verifyClient(c, postID, postSecret)
	}
	if hasPost || len(authz) > 1 {
		return nil, errRequest("more than one client authentication method")
	}
	id, secret, err := parseBasic(authz[0])
	if err != nil {
		return nil, errClient()
	}
	if form != nil && form.Get("client_id") != "" && form.Get("client_id") != id {
		return nil, errRequest("client_id does not match the authenticated client")
	}
	return s.verifyClient(c, id, secret)
}

func (s *Server) verifyClient(c echo.Context, id, secret string) (*Client, error) {
	cl, ok, err := s.clients.verify(c.Request().Context(), id, secret)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errClient()
	}
	if cl.Confidential() {
		// Only a request that proved the secret spends the client's rate
		// budget: a holder of one of its tokens must not drain it.
		c.Set(ctxAuthenticated, cl.ID)
	}
	return cl, nil
}

// confidential authenticates the caller and requires grant.
func (s *Server) confidential(c echo.Context, form url.Values, grant string) (*Client, error) {
	cl, err := s.authenticate(c, form)
	if err != nil {
		return nil, err
	}
	if cl == nil || !cl.Confidential() {
		return nil, errClient()
	}
	if !cl.Has(grant) {
		e := errUnauthorizedClient(fmt.Sprintf("client lacks the %s grant", grant))
		if grant == GrantAdmin {
			// The admin endpoints are no OAuth grant: the request is fine,
			// its sender may not make it (RFC 9110 §15.5.4).
			e.Status = http.StatusForbidden
		}
		return nil, e
	}
	c.Set(ctxClientID, cl.ID)
	return cl, nil
}

// parseBasic decodes "Basic base64(urlencode(id):urlencode(secret))".
func parseBasic(h string) (id, secret string, err error) {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", errors.New("not basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", err
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("no colon")
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", err
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", err
	}
	return id, secret, nil
}
