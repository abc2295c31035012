package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jwtd/jwtd/keys/jwks"
	"github.com/jwtd/jwtd/revocation"
)

// Config configures New: a resource server needs only jwtd's URL and the
// credentials of a client with the introspect grant.
type Config struct {
	// Issuer is jwtd's issuer URL, exactly as its tokens' iss: https, or
	// http on a loopback host. The JWKS is found through its metadata
	// (RFC 8414), the revocation feed at Issuer + "/v1/revocations".
	Issuer string
	// Audiences are this server's audiences; at least one.
	Audiences []string
	// ClientID and ClientSecret are a confidential client's with the
	// introspect grant: the feed's credentials (HTTP Basic).
	ClientID, ClientSecret string
	// MaxStaleness is how long after the feed was last seen current the
	// mirror still vouches for tokens; 0: revocation.DefaultMaxStaleness.
	// A revocation reaches this server milliseconds after it is made;
	// when the feed is lost for longer than MaxStaleness, FailOpen decides.
	MaxStaleness time.Duration
	// FailOpen: see Options.FailOpen. The default refuses with 503.
	FailOpen bool
	// Leeway is the clock skew allowed on exp, nbf and iat; 0: 30 s,
	// jwtd's default tokens.leeway. (A resource server whose clock is a
	// second behind jwtd's would otherwise refuse fresh tokens.)
	Leeway time.Duration
	// MaxLifetime: see Options.MaxLifetime; 0 trusts exp.
	MaxLifetime time.Duration
	// StartTimeout bounds how long New waits for the first snapshot of
	// the denylist; 0: 30 s. Wrong credentials, or a client without the
	// introspect grant, then fail New instead of every request.
	StartTimeout time.Duration
	// HTTPClient makes the discovery, JWKS and feed requests, unless
	// JWKS.HTTPClient is set for the JWKS. nil: each part's default. Give
	// it no Timeout: the feed is one long response, and a Timeout cuts it
	// (it is then opened again, resuming).
	HTTPClient *http.Client
	// JWKS tunes the remote key set (refresh floor and ceiling, the
	// unknown-kid refetch spacing).
	JWKS jwks.Options
	// Logger receives the feed's outages and recoveries, the JWKS's failed
	// refreshes and the fail-open warnings. nil: slog.Default(), since
	// those must be seen.
	Logger *slog.Logger
}

// New builds a Verifier from jwtd's URL: it discovers the JWKS URL, fetches
// the key set and keeps it fresh (package keys/jwks), and keeps a
// revocation.Mirror of jwtd's denylist from its feed (revocation.FollowFeed),
// which is the Verifier's Denylist. It returns once the keys are fetched and
// the first snapshot is loaded; the refreshes and the feed run until ctx
// ends, so pass the server's lifetime context, not a request's.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("%w: ClientID and ClientSecret (a client with the introspect grant) are required", ErrOptions)
	}
	if cfg.Leeway < 0 || cfg.StartTimeout < 0 || cfg.MaxStaleness < 0 {
		return nil, fmt.Errorf("%w: Leeway, StartTimeout and MaxStaleness must not be negative", ErrOptions)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	jopts := cfg.JWKS
	if jopts.HTTPClient == nil {
		jopts.HTTPClient = cfg.HTTPClient
	}
	if jopts.Logger == nil {
		jopts.Logger = cfg.Logger
	}
	// Options first, so a bad one costs no request; Discover then refuses
	// an issuer that is neither https nor loopback http, before the feed
	// sends it the client secret.
	opts := Options{Issuer: cfg.Issuer, Audiences: cfg.Audiences, Leeway: cfg.Leeway, MaxLifetime: cfg.MaxLifetime,
		FailOpen: cfg.FailOpen, Logger: cfg.Logger}
	if err := opts.check(); err != nil {
		return nil, err
	}
	uri, err := jwks.Discover(ctx, cfg.HTTPClient, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("resource: discovery at %s: %w", cfg.Issuer, err)
	}
	run, stop := context.WithCancel(ctx)
	set, err := jwks.New(run, uri, jopts)
	if err != nil {
		stop()
		return nil, fmt.Errorf("resource: JWKS: %w", err)
	}
	m := revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: cfg.MaxStaleness})
	feed := revocation.FeedOptions{
		URL:      strings.TrimSuffix(cfg.Issuer, "/") + "/v1/revocations",
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		HTTPClient: cfg.HTTPClient, Logger: cfg.Logger,
	}
	followed := make(chan error, 1)
	go func() { followed <- revocation.FollowFeed(run, m, feed) }()
	if err := waitLoaded(ctx, m, followed, cfg.StartTimeout); err != nil {
		stop()
		return nil, err
	}
	context.AfterFunc(ctx, stop) // the refreshes and the feed end with ctx
	opts.Denylist = m
	return NewVerifier(set, opts)
}

// waitLoaded returns once m has loaded its first snapshot, or the error
// that keeps it from doing so within timeout.
func waitLoaded(ctx context.Context, m *revocation.Mirror, followed <-chan error, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := m.Changed()
		if err := m.Current(); err == nil || !errors.Is(err, revocation.ErrUnavailable) {
			return err
		}
		select {
		case <-changed:
		case err := <-followed:
			return fmt.Errorf("resource: revocation feed: %w", err)
		case <-deadline.C:
			return fmt.Errorf("%w: no snapshot of the revocation feed within %s (are ClientID and ClientSecret a client with the introspect grant? the log says why)",
				revocation.ErrUnavailable, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
