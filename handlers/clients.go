package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/labstack/echo/v4"
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

// SecretHash is a parsed client secret hash.
type SecretHash struct {
	sum  []byte // sha256: the digest
	slow string // bcrypt or argon2id: the PHC string
}

// ParseSecretHash takes "sha256:<64 lowercase hex>", which suits random
// secrets of 128 bits or more (a fast hash is enough when guessing is
// hopeless), or a bcrypt or argon2id PHC string for chosen secrets.
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
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return nil, ErrSecretHash
		}
		return &SecretHash{slow: s}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		if _, _, _, err := argon2id.DecodeHash(s); err != nil {
			return nil, ErrSecretHash
		}
		return &SecretHash{slow: s}, nil
	}
	return nil, ErrSecretHash
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

type clientRegistry struct {
	byID map[string]*Client
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	sum   [sha256.Size]byte
	until time.Time
}

func newClientRegistry(clients []Client, now func() time.Time) *clientRegistry {
	r := &clientRegistry{byID: map[string]*Client{}, now: now, cache: map[string]cachedSecret{}}
	for i := range clients {
		r.byID[clients[i].ID] = &clients[i]
	}
	return r
}

func (r *clientRegistry) get(id string) (*Client, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// dummy is compared against when the client id is unknown, so the time an
// answer takes does not tell which ids exist.
var dummy = &SecretHash{sum: make([]byte, sha256.Size)}

// verify checks id and secret. A public client presenting its id with an
// empty secret (Basic "id:", as many OAuth libraries send it) is
// identified, not authenticated: it has nothing to authenticate with.
func (r *clientRegistry) verify(id, secret string) (*Client, bool) {
	c, ok := r.byID[id]
	if ok && c.Secret == nil && secret == "" {
		return c, true
	}
	if !ok || c.Secret == nil {
		dummy.matches(secret)
		return nil, false
	}
	if c.Secret.sum != nil {
		return c, c.Secret.matches(secret)
	}
	sum := sha256.Sum256([]byte(secret))
	r.mu.Lock()
	hit, found := r.cache[id]
	r.mu.Unlock()
	if found && r.now().Before(hit.until) && subtle.ConstantTimeCompare(sum[:], hit.sum[:]) == 1 {
		return c, true
	}
	if !c.Secret.matches(secret) {
		return c, false
	}
	r.mu.Lock()
	r.cache[id] = cachedSecret{sum: sum, until: r.now().Add(slowCacheTTL)}
	r.mu.Unlock()
	return c, true
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
		return s.verifyClient(postID, postSecret)
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
	return s.verifyClient(id, secret)
}

func (s *Server) verifyClient(id, secret string) (*Client, error) {
	cl, ok := s.clients.verify(id, secret)
	if !ok {
		return nil, errClient()
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
		return nil, errUnauthorizedClient(fmt.Sprintf("client lacks the %s grant", grant))
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
