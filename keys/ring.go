package keys

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Options configures a Ring. cmd/jwtd fills it from the configuration.
type Options struct {
	Purpose   Purpose
	Algorithm string
	// RotateEvery is how long a key signs before the next one takes over.
	RotateEvery time.Duration
	// PublishAhead is the least time a new key is published before it signs.
	// It must be shorter than RotateEvery.
	PublishAhead time.Duration
	// Lifetime is the longest a token signed by this ring stays acceptable
	// after it was signed, leeway included. A retired key is kept that long
	// after it stopped signing, and then deleted.
	Lifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the background loop's errors; nil discards them.
	Logger *slog.Logger
}

// State is where a key is in its lifecycle.
type State string

// The lifecycle states. Gone keys are deleted, so they are never listed.
const (
	StateNext    State = "next"
	StateActive  State = "active"
	StateRetired State = "retired"
)

// Info describes one key for listings; it holds no key material.
type Info struct {
	ID          string
	Algorithm   string
	Purpose     Purpose
	State       State
	PublishedAt time.Time
	ActivatesAt time.Time
	RetiredAt   time.Time // zero unless retired
	GoneAt      time.Time // zero unless retired: when it is deleted
}

// Ring is the key set of one purpose, read from a Store. It is safe for
// concurrent use; the signing and verification paths take only a read lock
// on an immutable snapshot.
type Ring struct {
	store Store
	opts  Options

	mu   sync.RWMutex
	snap *snapshot
}

type snapshot struct {
	keys   []*Key // sorted by activation
	goneAt map[string]time.Time
	jwks   []byte
	etag   string
}

// NewRing loads the keys of opts.Purpose from store. It writes nothing: call
// Maintain to create the first keys.
func NewRing(ctx context.Context, store Store, opts Options) (*Ring, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Ring{store: store, opts: opts}
	if _, err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the store, installs a fresh snapshot and returns its keys.
func (r *Ring) load(ctx context.Context) ([]*Key, error) {
	ks, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	return ks, r.install(ks)
}

// list reads the store's keys of the ring's purpose, sorted by activation.
func (r *Ring) list(ctx context.Context) ([]*Key, error) {
	all, err := r.store.List(ctx)
	if err != nil {
		return nil, err
	}
	var ks []*Key
	for _, k := range all {
		if k.Purpose == r.opts.Purpose {
			ks = append(ks, k)
		}
	}
	sortKeys(ks)
	return ks, nil
}

// install makes ks the ring's snapshot.
func (r *Ring) install(ks []*Key) error {
	snap, err := r.build(ks)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.snap = snap
	r.mu.Unlock()
	return nil
}

// live returns the keys of the current snapshot that are not gone at now:
// the ones whose tokens may still be in use.
func (r *Ring) live(now time.Time) []*Key {
	s := r.current()
	var out []*Key
	for _, k := range s.keys {
		if at, ok := s.goneAt[k.ID]; ok && !now.Before(at) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// restore is load for the holder of the maintenance lock. A store that
// lists no key of the ring's purpose while the ring still holds live keys
// has lost them: a Redis restarted without persistence, or a failover to a
// replica that never had them. Generating a new set would make every token
// and session fail, so the keys are written back instead. A store missing
// only some keys is an ordinary deletion (revoke_current, expiry) and is
// followed; a process that never held keys (a first start) generates.
func (r *Ring) restore(ctx context.Context, now time.Time) ([]*Key, error) {
	ks, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	if live := r.live(now); len(ks) == 0 && len(live) > 0 {
		kids := make([]string, 0, len(live))
		for _, k := range live {
			if err := r.store.Put(ctx, k); err != nil {
				return nil, err
			}
			kids = append(kids, k.ID)
		}
		r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "key store has no key of this purpose: wrote back the keys this process holds (was the store restarted or failed over without persistence?)",
			slog.String("purpose", string(r.opts.Purpose)), slog.Any("kids", kids))
		if ks, err = r.list(ctx); err != nil {
			return nil, err
		}
	}
	return ks, r.install(ks)
}

func sortKeys(ks []*Key) {
	sort.Slice(ks, func(i, j int) bool {
		if !ks[i].ActivatesAt.Equal(ks[j].ActivatesAt) {
			return ks[i].ActivatesAt.Before(ks[j].ActivatesAt)
		}
		return ks[i].ID < ks[j].ID
	})
}

// goneTimes gives, for each superseded key, the instant it may be deleted: the
// activation of its successor plus the lifetime of the tokens it signed.
func (r *Ring) goneTimes(ks []*Key) map[string]time.Time {
	gone := make(map[string]time.Time, len(ks))
	for i := 0; i+1 < len(ks); i++ {
		gone[ks[i].ID] = ks[i+1].ActivatesAt.Add(r.opts.Lifetime)
	}
	return gone
}

func (r *Ring) build(ks []*Key) (*snapshot, error) {
	s := &snapshot{keys: ks, goneAt: r.goneTimes(ks)}
	if r.opts.Purpose != Access {
		return s, nil
	}
	set := jwk.NewSet()
	for i := len(ks) - 1; i >= 0; i-- {
		pk, err := ks[i].publicJWK()
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(pk); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	s.jwks, s.etag = body, etag(body)
	return s, nil
}

func (r *Ring) current() *snapshot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.snap
}

// locker is a store that several processes share (Redis): Maintain and
// Rotate write under its lock. A process that finds the lock taken only
// re-reads the store; the holder does the writing.
type locker interface {
	Lock(ctx context.Context) (unlock func(), ok bool, err error)
}

// Maintain brings the store in line with the lifecycle at the current time:
// there is an active key, a next key is published at least PublishAhead
// before it signs, and keys whose tokens have all expired are deleted. It
// also picks up changes made by other processes (`jwtd keys rotate`, other
// replicas). A store that lists no key of the ring's purpose while the ring
// still holds live keys gets them written back, with a Warn (see restore).
// It is idempotent.
func (r *Ring) Maintain(ctx context.Context) error {
	if l, ok := r.store.(locker); ok {
		unlock, held, err := l.Lock(ctx)
		if err != nil {
			return err
		}
		if !held {
			// The holder writes; this process only re-reads. An empty
			// listing is a store that lost its keys, which the holder
			// writes back (restore): keep verifying with the keys held.
			ks, err := r.list(ctx)
			if err != nil || (len(ks) == 0 && len(r.live(r.opts.Now())) > 0) {
				return err
			}
			return r.install(ks)
		}
		defer unlock()
	}
	return r.maintain(ctx)
}

func (r *Ring) maintain(ctx context.Context) error {
	now := r.opts.Now()
	ks, err := r.restore(ctx, now)
	if err != nil {
		return err
	}
	if len(ks) == 0 || ks[0].ActivatesAt.After(now) {
		// Nothing signs yet: at first start, or after every key was revoked.
		// A key that must sign now cannot have been published ahead.
		if len(ks) > 0 {
			ks[0].ActivatesAt = now
			if err := r.store.Put(ctx, ks[0]); err != nil {
				return err
			}
		} else if err := r.add(ctx, now, now); err != nil {
			return err
		}
		if ks, err = r.load(ctx); err != nil {
			return err
		}
	}

	changed := false
	// Publish the key after the newest one as soon as the newest is within
	// PublishAhead of signing, so there is always a next key in the JWKS.
	if newest := ks[len(ks)-1]; !newest.ActivatesAt.After(now.Add(r.opts.PublishAhead)) {
		at := newest.ActivatesAt.Add(r.opts.RotateEvery)
		if !at.After(now.Add(r.opts.PublishAhead)) {
			at = now.Add(r.opts.RotateEvery) // the store was idle for long
		}
		if err := r.add(ctx, now, at); err != nil {
			return err
		}
		changed = true
	}
	for id, at := range r.goneTimes(ks) {
		if !now.Before(at) {
			if err := r.store.Delete(ctx, id); err != nil {
				return err
			}
			changed = true
		}
	}
	if changed {
		_, err = r.load(ctx)
	}
	return err
}

func (r *Ring) add(ctx context.Context, publishedAt, activatesAt time.Time) error {
	k, err := Generate(r.opts.Algorithm, r.opts.Purpose, publishedAt, activatesAt)
	if err != nil {
		return err
	}
	return r.store.Put(ctx, k)
}

// Run calls Maintain every interval until ctx is done, then returns. Errors
// are logged and retried at the next tick; the ring keeps its last snapshot.
func (r *Ring) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Maintain(ctx); err != nil && ctx.Err() == nil {
				r.opts.Logger.LogAttrs(ctx, slog.LevelError, "key maintenance failed",
					slog.String("purpose", string(r.opts.Purpose)), slog.String("error", err.Error()))
			}
		}
	}
}

// Rotate makes the next key active now and publishes a new next key. With
// revokeCurrent the key that was active is deleted at once (a compromised
// key), so its tokens stop verifying and an access key leaves the JWKS; on
// a refresh ring that kills every refresh token and handoff code it signed.
// It returns the kid of the key that now signs.
func (r *Ring) Rotate(ctx context.Context, revokeCurrent bool) (string, error) {
	if l, ok := r.store.(locker); ok {
		var unlock func()
		var held bool
		// A rotation must happen: wait for a maintaining replica (it holds
		// the lock for milliseconds), within the caller's deadline.
		for {
			var err error
			if unlock, held, err = l.Lock(ctx); err != nil {
				return "", err
			}
			if held {
				break
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		defer unlock()
	}
	now := r.opts.Now()
	ks, err := r.restore(ctx, now)
	if err != nil {
		return "", err
	}
	var active, next *Key
	for _, k := range ks {
		if k.ActivatesAt.After(now) {
			next = k
			break
		}
		active = k
	}
	at := now
	if active != nil && !at.After(active.ActivatesAt) {
		at = active.ActivatesAt.Add(time.Nanosecond) // keep activation order strict
	}
	if next == nil {
		if next, err = Generate(r.opts.Algorithm, r.opts.Purpose, now, at); err != nil {
			return "", err
		}
	}
	next.ActivatesAt = at
	if err := r.store.Put(ctx, next); err != nil {
		return "", err
	}
	if revokeCurrent && active != nil {
		if err := r.store.Delete(ctx, active.ID); err != nil {
			return "", err
		}
	}
	return next.ID, r.maintain(ctx)
}

// SigningKey returns the active key: its kid, algorithm and private key.
func (r *Ring) SigningKey() (kid, alg string, key crypto.Signer, err error) {
	s := r.current()
	now := r.opts.Now()
	var active *Key
	for _, k := range s.keys {
		if k.ActivatesAt.After(now) {
			break
		}
		active = k
	}
	if active == nil {
		return "", "", nil, ErrNoSigningKey
	}
	return active.ID, active.Algorithm, active.Private, nil
}

// VerificationKey returns the public key for kid and the one algorithm it
// signs with. The caller must check the token's alg against it: the
// algorithm comes from the key, never from the token (RFC 8725 §3.1).
func (r *Ring) VerificationKey(_ context.Context, kid string) (crypto.PublicKey, string, error) {
	s := r.current()
	for _, k := range s.keys {
		if k.ID != kid {
			continue
		}
		if at, ok := s.goneAt[kid]; ok && !r.opts.Now().Before(at) {
			break
		}
		return k.Public(), k.Algorithm, nil
	}
	return nil, "", fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

// Ready reports whether the ring has a key to sign with now.
func (r *Ring) Ready() bool {
	_, _, _, err := r.SigningKey()
	return err == nil
}

// JWKS returns the JSON Web Key Set of the ring's public keys and its
// entity tag. Only an Access ring publishes; a Refresh ring returns nil.
func (r *Ring) JWKS() (body []byte, etag string) {
	s := r.current()
	return s.jwks, s.etag
}

// List describes the ring's keys at the current time, oldest first.
func (r *Ring) List() []Info {
	s := r.current()
	now := r.opts.Now()
	out := make([]Info, 0, len(s.keys))
	for i, k := range s.keys {
		in := Info{ID: k.ID, Algorithm: k.Algorithm, Purpose: k.Purpose, PublishedAt: k.PublishedAt, ActivatesAt: k.ActivatesAt}
		switch {
		case k.ActivatesAt.After(now):
			in.State = StateNext
		case i+1 < len(s.keys) && !s.keys[i+1].ActivatesAt.After(now):
			in.State, in.RetiredAt, in.GoneAt = StateRetired, s.keys[i+1].ActivatesAt, s.goneAt[k.ID]
		default:
			in.State = StateActive
		}
		out = append(out, in)
	}
	return out
}
