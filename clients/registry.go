package clients

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"runtime"
	"sync"
	"time"
)

// slowCacheTTL is how long a verified bcrypt or argon2id secret is
// remembered, as a SHA-256 digest, so a confidential client that
// introspects on every request does not pay the slow hash every time.
const slowCacheTTL = 5 * time.Minute

// slowHashWait is how long a slow check waits for a free slot before it is
// refused with ErrBusy: about one bcrypt check of the highest cost.
const slowHashWait = time.Second

// slowHashSlots is how many slow checks run at once: one per core, at most
// 4. A slow check is CPU-bound, so more at once only adds memory (argon2id
// allocates its whole memory cost per check: 40 parallel wrong guesses at
// 64 MiB took the process to 2.5 GiB), and a full queue answers ErrBusy instead.
func slowHashSlots() int { return max(1, min(runtime.GOMAXPROCS(0), 4)) }

// RegistryOptions configures a Registry; the zero value is the default.
type RegistryOptions struct {
	// Now is the clock of the secret cache; nil: time.Now.
	Now func() time.Time
	// Wait is how long a slow check waits for a slot; zero: 1s.
	Wait time.Duration
	// Slots is the semaphore of the slow checks (a send takes a slot);
	// nil: one slot per core, at most 4.
	Slots chan struct{}
	// Checked is called for each slow check run (the dummy's included),
	// Busy for each one refused for want of a slot; nil: not counted.
	// They take a counter's Inc, so this package needs no metrics library.
	Checked, Busy func()
	// BeforeSlow is called before each slow check (the dummy's included)
	// with the caller's ctx; an error refuses the check and is returned
	// as is. The HTTP layer spends a failed-authentication budget here, so
	// parallel guesses cannot all start before the first one has failed.
	BeforeSlow func(ctx context.Context) error
}

// Registry holds the configured clients and checks their secrets.
type Registry struct {
	byID map[string]*Client
	now  func() time.Time
	// dummy is checked when the id is unknown or public, at the cost of
	// the slowest configured hash, so the time and work an answer takes do
	// not tell which ids exist.
	dummy *SecretHash
	// slots bounds the concurrent slow checks; wait is how long one waits.
	slots         chan struct{}
	wait          time.Duration
	checked, busy func()
	beforeSlow    func(ctx context.Context) error

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	sum   [sha256.Size]byte
	until time.Time
}

// NewRegistry indexes clients by id. It keeps pointers into clients.
func NewRegistry(clients []Client, o RegistryOptions) *Registry {
	r := &Registry{
		byID: map[string]*Client{}, now: o.Now, cache: map[string]cachedSecret{},
		slots: o.Slots, wait: o.Wait, checked: o.Checked, busy: o.Busy, beforeSlow: o.BeforeSlow,
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.slots == nil {
		r.slots = make(chan struct{}, slowHashSlots())
	}
	if r.wait <= 0 {
		r.wait = slowHashWait
	}
	if r.checked == nil {
		r.checked = func() {}
	}
	if r.busy == nil {
		r.busy = func() {}
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

// Get returns the client of id.
func (r *Registry) Get(id string) (*Client, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// slowMatch compares secret with a bcrypt or argon2id h inside a slot.
func (r *Registry) slowMatch(ctx context.Context, h *SecretHash, secret string) (bool, error) {
	if h.sum != nil {
		return h.matches(secret), nil
	}
	if r.beforeSlow != nil {
		if err := r.beforeSlow(ctx); err != nil {
			return false, err
		}
	}
	select {
	case r.slots <- struct{}{}:
	default:
		t := time.NewTimer(r.wait)
		defer t.Stop()
		select {
		case r.slots <- struct{}{}:
		case <-t.C:
			r.busy()
			return false, ErrBusy
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return false, ctx.Err() // the client hung up
			}
			r.busy()
			return false, ErrBusy
		}
	}
	defer func() { <-r.slots }()
	r.checked()
	return h.matches(secret), nil
}

// Verify checks id and secret. It returns the client when id is known, and
// whether secret authenticates it. A public client presenting its id with
// an empty secret (Basic "id:", as many OAuth libraries send it) is
// identified, not authenticated: it has nothing to authenticate with. An
// unknown id, or a public one with a secret, costs a check of the dummy.
// A slow check with no free slot is ErrBusy; a cancelled ctx is its error.
func (r *Registry) Verify(ctx context.Context, id, secret string) (*Client, bool, error) {
	c, ok := r.byID[id]
	if ok && c.Secret == nil && secret == "" {
		return c, true, nil
	}
	if !ok || c.Secret == nil {
		_, err := r.slowMatch(ctx, r.dummy, secret)
		return nil, false, err
	}
	if c.Secret.sum != nil {
		if c.Secret.matches(secret) {
			return c, true, nil
		}
		// A wrong secret of a fast-hash client costs what an unknown id
		// costs (the dummy, slow when any slow hash is configured), or
		// the answer's time would tell that this id exists.
		_, err := r.slowMatch(ctx, r.dummy, secret)
		return c, false, err
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
