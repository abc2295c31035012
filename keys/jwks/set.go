package jwks

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	defaultMinRefresh         = time.Minute
	defaultMaxRefresh         = time.Hour
	defaultUnknownKIDInterval = 5 * time.Second

	acceptJWKS = "application/jwk-set+json, application/json"
)

// Options configure a Set.
type Options struct {
	// HTTPClient fetches the key set. nil: a client with a 10 s timeout
	// that follows no redirect to a URL New would refuse. Each fetch is
	// also bounded to one minute whatever the client.
	HTTPClient *http.Client
	// MinRefresh is the floor of the refresh interval, at least a second
	// (the cache schedules in whole seconds); 0: 1 minute. A response
	// without freshness information, or with no-cache, is refetched after
	// MinRefresh, and so is one that failed.
	MinRefresh time.Duration
	// MaxRefresh is the ceiling: a max-age or Expires further away is cut
	// to it, so a key the issuer removes is dropped within MaxRefresh;
	// 0: 1 hour (or MinRefresh, if longer).
	MaxRefresh time.Duration
	// UnknownKIDInterval spaces the refetches an unknown kid triggers;
	// 0: 5 seconds. A kid comes from a token nobody has verified yet, so
	// this bounds what a flood of made-up kids costs the issuer.
	UnknownKIDInterval time.Duration
	// Logger receives the failures of background refreshes, which no caller
	// sees otherwise. nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock of LastRefresh, Age and UnknownKIDInterval (the
	// background schedule runs on the real clock); nil: time.Now.
	Now func() time.Time
}

// withDefaults fills the zero fields and refuses values that cannot work.
func (o Options) withDefaults() (Options, error) {
	if o.MinRefresh < 0 || o.MaxRefresh < 0 || o.UnknownKIDInterval < 0 {
		return o, fmt.Errorf("%w: negative interval", ErrOptions)
	}
	if o.MinRefresh == 0 {
		o.MinRefresh = defaultMinRefresh
	}
	if o.MinRefresh < time.Second {
		return o, fmt.Errorf("%w: MinRefresh %s is under a second", ErrOptions, o.MinRefresh)
	}
	if o.MaxRefresh == 0 {
		o.MaxRefresh = max(defaultMaxRefresh, o.MinRefresh)
	}
	if o.MaxRefresh < o.MinRefresh {
		return o, fmt.Errorf("%w: MaxRefresh %s is under MinRefresh %s", ErrOptions, o.MaxRefresh, o.MinRefresh)
	}
	if o.UnknownKIDInterval == 0 {
		o.UnknownKIDInterval = defaultUnknownKIDInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Set is the key set of one JWKS URL, kept fresh in the background. Its
// methods are safe for concurrent use.
type Set struct {
	opts   Options
	url    string // as given, for requests
	logURL string // without credentials, for errors and logs
	client *http.Client
	// life is New's ctx. It is kept because httprc's HTTPClient interface
	// (Get(url)) takes no context, and the background fetches it triggers
	// must still end with the Set.
	life context.Context

	cur      atomic.Pointer[snapshot]
	fetching chan struct{} // one fetch at a time, so snapshots are stored in fetch order
	started  atomic.Bool   // New has returned: later cache fetches are background ones

	mu          sync.Mutex
	nextUnknown time.Time // no unknown-kid refetch starts before this
	refetch     *call     // the unknown-kid refetch under way, if any
}

// snapshot is one successfully fetched key set. It is never changed once
// stored, so lookups read it without a lock.
type snapshot struct {
	keys      map[string]verifier
	etag      string
	fetched   time.Time
	refreshIn time.Duration // the freshness, clamped, that the cache was given
}

// call is one unknown-kid refetch; err is set before done is closed.
type call struct {
	done chan struct{}
	err  error
}

// New fetches jwksURL and returns its Set; the URL must be https, or http on
// a loopback host. The first fetch is synchronous, so a wrong URL or an
// unusable set fails start-up loudly; it is bounded by the client's timeout.
//
// Then lestrrat-go/jwx's jwk.Cache refetches the set in the background when
// its Cache-Control max-age (or Expires) runs out, clamped to
// [MinRefresh, MaxRefresh], revalidating with If-None-Match. The background
// refresh stops when ctx ends; the Set then keeps answering from the last
// set it fetched.
func New(ctx context.Context, jwksURL string, opts Options) (*Set, error) {
	u, err := checkURL(jwksURL)
	if err != nil {
		return nil, err
	}
	if opts, err = opts.withDefaults(); err != nil {
		return nil, err
	}
	// life ends with ctx; stop ends it early only if New fails, taking the
	// cache's goroutines with it.
	life, stop := context.WithCancel(ctx)
	started := false
	defer func() {
		if !started {
			stop()
		}
	}()
	s := &Set{opts: opts, url: jwksURL, logURL: redact(u), client: opts.HTTPClient, life: life, fetching: make(chan struct{}, 1)}
	if s.client == nil {
		var tr *http.Transport
		s.client, tr = defaultClient()
		context.AfterFunc(life, tr.CloseIdleConnections)
	}
	// httprc wakes once per refresh window and fetches what is due, so the
	// window bounds how late a refresh runs; it cannot be under a second.
	window := max(time.Second, opts.MinRefresh/10)
	cache := jwk.NewCache(life, jwk.WithRefreshWindow(window))
	if err := cache.Register(jwksURL, jwk.WithHTTPClient(cacheClient{s}), jwk.WithMinRefreshInterval(opts.MinRefresh)); err != nil {
		return nil, fmt.Errorf("%w: register %s: %v", ErrOptions, s.logURL, err)
	}
	if _, err := cache.Refresh(ctx, jwksURL); err != nil {
		return nil, fmt.Errorf("first fetch of %s: %w", s.logURL, cacheError(ctx, err))
	}
	started = true
	s.started.Store(true)
	return s, nil
}

// VerificationKey returns the public key for kid and the one algorithm it
// signs with (the JWK's alg). It satisfies token's verificationKeys, so
// token.NewVerifier(opts, set, nil) verifies access tokens with remote keys.
//
// A kid the set lacks triggers an immediate refetch, since the issuer may
// have published a key since the last refresh, but at most one per
// UnknownKIDInterval: concurrent callers share the refetch under way, and
// calls after it, until the interval has passed, get ErrUnknownKey at once.
// When the refetch fails the last good set stays in use and the error
// wraps the cause as well as ErrUnknownKey.
func (s *Set) VerificationKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	if v, ok := s.cur.Load().keys[kid]; ok {
		return v.key, v.alg, nil
	}
	if kid == "" {
		return nil, "", fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	c := s.startRefetch()
	if c == nil {
		if v, ok := s.cur.Load().keys[kid]; ok { // a refetch that just ended brought it
			return v.key, v.alg, nil
		}
		return nil, "", fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, "", fmt.Errorf("%w: %q: %w", ErrUnknownKey, kid, ctx.Err())
	}
	if v, ok := s.cur.Load().keys[kid]; ok {
		return v.key, v.alg, nil
	}
	if c.err != nil {
		return nil, "", fmt.Errorf("%w: %q: refetch: %w", ErrUnknownKey, kid, c.err)
	}
	return nil, "", fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

// startRefetch returns the unknown-kid refetch to wait for: the one under
// way, or a new one if the interval allows; nil if it does not.
func (s *Set) startRefetch() *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refetch != nil {
		return s.refetch
	}
	now := s.opts.Now()
	if now.Before(s.nextUnknown) {
		return nil
	}
	s.nextUnknown = now.Add(s.opts.UnknownKIDInterval)
	c := &call{done: make(chan struct{})}
	s.refetch = c
	// The refetch runs on the Set's life, not on the first caller's ctx,
	// since the other callers share it.
	go func() {
		_, err := s.fetch(s.life)
		if err != nil && s.life.Err() == nil {
			s.warn("jwks refetch for an unknown kid failed", err)
		}
		s.mu.Lock()
		c.err, s.refetch = err, nil
		s.mu.Unlock()
		close(c.done)
	}()
	return c
}

// Refresh refetches the set now (for tests and operators). On failure the
// last good set stays in use.
func (s *Set) Refresh(ctx context.Context) error {
	_, err := s.fetch(ctx)
	return err
}

// LastRefresh is when the set was last fetched (or revalidated)
// successfully.
func (s *Set) LastRefresh() time.Time { return s.cur.Load().fetched }

// Age is how long ago the set was last fetched successfully.
func (s *Set) Age() time.Duration { return s.opts.Now().Sub(s.LastRefresh()) }

// fetch gets the set, revalidating the current one by its ETag, and stores
// it if it is usable. Fetches run one at a time.
func (s *Set) fetch(ctx context.Context) (*snapshot, error) {
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrFetch, ctx.Err())
	}
	defer func() { <-s.fetching }()
	prev := s.cur.Load()
	var etag string
	if prev != nil {
		etag = prev.etag
	}
	res, body, err := get(ctx, s.client, s.url, acceptJWKS, etag)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	next := &snapshot{
		etag:      res.Header.Get("ETag"),
		fetched:   now,
		refreshIn: min(max(freshness(res.Header, now), s.opts.MinRefresh), s.opts.MaxRefresh),
	}
	switch {
	case res.StatusCode == http.StatusOK:
		if next.keys, err = parseSet(body); err != nil {
			return nil, err
		}
	case res.StatusCode == http.StatusNotModified && etag != "":
		next.keys = prev.keys
		if next.etag == "" {
			next.etag = etag
		}
	default:
		return nil, fmt.Errorf("%w: status %d", ErrFetch, res.StatusCode)
	}
	s.cur.Store(next)
	return next, nil
}

func (s *Set) warn(msg string, err error) {
	attrs := []slog.Attr{slog.String("jwks_url", s.logURL), slog.String("error", err.Error())}
	if snap := s.cur.Load(); snap != nil {
		attrs = append(attrs, slog.Duration("age", s.opts.Now().Sub(snap.fetched)))
	}
	s.opts.Logger.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// cacheClient is the httprc.HTTPClient of the jwk.Cache. The cache only
// schedules: cacheClient does the fetch, bounds and parses the body, and
// stores the snapshot, then answers the cache with an empty set and a
// Cache-Control max-age of the clamped freshness. httprc v1.0.6 floors
// max-age and Expires at the minimum interval but has no ceiling, so the
// clamp is applied here; an error makes it retry after the minimum interval.
// cacheClient logs the failures of background fetches itself: the cache
// hands them to its ErrSink wrapped in an httprc.RefreshError, which has no
// Unwrap and whose text repeats the URL, credentials included.
//
// Only the first fetch (New) and the background ones go through the cache:
// httprc queues one more scheduled refresh for every fetch it makes, even a
// forced one, so Refresh and unknown-kid refetches calling cache.Refresh
// would multiply the background fetches for good.
type cacheClient struct{ s *Set }

// emptySet is the body cacheClient gives the cache, whose own Set is
// never read.
const emptySet = `{"keys":[]}`

func (c cacheClient) Get(string) (*http.Response, error) {
	snap, err := c.s.fetch(c.s.life)
	if err != nil {
		if c.s.started.Load() && c.s.life.Err() == nil {
			c.s.warn("jwks refresh failed", err)
		}
		return nil, &fetchError{err}
	}
	secs := (snap.refreshIn + time.Second - 1) / time.Second
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Header:     http.Header{"Cache-Control": {fmt.Sprintf("max-age=%d", secs)}},
		Body:       io.NopCloser(strings.NewReader(emptySet)),
	}, nil
}

// fetchError marks an error of cacheClient, so New can tell it from httprc's
// wrapping of it.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// cacheError recovers the cause of a failed cache fetch.
func cacheError(ctx context.Context, err error) error {
	if fe, ok := errors.AsType[*fetchError](err); ok {
		return fe.err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrFetch, ctx.Err())
	}
	return fmt.Errorf("%w: cache: %w", ErrFetch, err)
}
