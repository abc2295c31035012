package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// keyRing is what the handlers need of a key ring.
type keyRing interface {
	JWKS() (body []byte, etag string)
	Rotate(ctx context.Context, revokeCurrent bool) (string, error)
	Ready() bool
	List() []keys.Info
}

// Options configures the HTTP surface. cmd/jwtd fills it.
type Options struct {
	Tokens          token.Options // lifetimes and issuer, as given to Issuer and Verifier
	Issuer          *token.Issuer
	Verifier        *token.Verifier
	AccessKeys      keyRing
	RefreshKeys     keyRing
	Store           revocation.Store
	Clients         []clients.Client
	DefaultAudience []string
	ReuseGrace      time.Duration
	// FailOpen accepts a validly signed token while the store is down.
	FailOpen     bool
	MaxBodyBytes int64
	JWKSMaxAge   time.Duration
	// Cookie shapes the SPA refresh cookie.
	Cookie CookieOptions
	// AllowedOrigins may make cookie requests, and get CORS answers.
	AllowedOrigins []string
	// SnapshotSlots bounds the revocation snapshots read at once (each
	// scans the whole denylist); zero means 4.
	SnapshotSlots int
	// MaxStreams bounds the open event streams of /v1/revocations; zero
	// means 1000.
	MaxStreams int
	// FeedPoll is how often an event stream of /v1/revocations asks the
	// store for news; zero means 1s.
	FeedPoll time.Duration
	// FeedHeartbeat is how often an idle event stream sends a heartbeat,
	// and only while the store answers (Ping): a heartbeat tells a
	// follower that nothing was revoked since, and that this replica knows
	// it. Zero means 5 s.
	FeedHeartbeat time.Duration
	Logger        *slog.Logger
	// AccessLog says which requests get an access log line; zero: all.
	AccessLog AccessLog
	// Metrics registers jwtd's collectors; nil: a private registry.
	Metrics prometheus.Registerer
	// MetricsHandler serves /metrics on the main listener; nil: not served.
	MetricsHandler http.Handler
	// RateLimits bounds floods and credential guessing; zero: no limits.
	RateLimits RateLimits
	// TrustedProxies may name the client in X-Forwarded-For; empty: none.
	TrustedProxies []netip.Prefix
	// HSTS sends Strict-Transport-Security on every answer; set it when
	// jwtd itself serves TLS, and only then.
	HSTS bool
	Now  func() time.Time
}

// Server is jwtd's HTTP surface.
type Server struct {
	opts    Options
	log     *slog.Logger
	clients *clients.Registry
	metrics *metrics
	limits  *limiter
	now     func() time.Time
	echo    *echo.Echo
	// routes are the registered route templates: the only values of the
	// route label besides "unmatched".
	routes map[string]bool

	// snapshots are the slots of the snapshots being read; snapshotWait
	// is how long one waits for a slot. streams counts the open streams.
	snapshots    chan struct{}
	snapshotWait time.Duration
	streams      atomic.Int64

	stopping chan struct{}
	stopOnce sync.Once

	// publicCache is the Cache-Control of the public documents (JWKS,
	// metadata), made once: the JWKS is the most requested answer.
	publicCache []string
	// jwksETag is the ETag value of the last key set served (etagValue).
	jwksETag atomic.Pointer[[]string]
}

// New builds the Echo instance with every route and middleware.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	if opts.FeedHeartbeat <= 0 {
		opts.FeedHeartbeat = 5 * time.Second
	}
	if opts.FeedPoll <= 0 {
		opts.FeedPoll = time.Second
	}
	if opts.SnapshotSlots <= 0 {
		opts.SnapshotSlots = 4
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 1000
	}
	m := newMetrics(opts.Metrics)
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		clients: newRegistry(opts, m, clients.RegistryOptions{}),
		metrics: m,
		limits:  newLimiter(opts.RateLimits, opts.Now, opts.Metrics, opts.Logger),
		now:     opts.Now,

		publicCache: []string{"public, max-age=" + strconv.Itoa(int(opts.JWKSMaxAge.Seconds()))},

		snapshots:    make(chan struct{}, opts.SnapshotSlots),
		snapshotWait: 5 * time.Second,
		stopping:     make(chan struct{}),
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	// Never trust X-Forwarded-For by default: it is the client's to forge.
	e.IPExtractor = ipExtractor(opts.TrustedProxies)
	var chain []echo.MiddlewareFunc
	if opts.HSTS {
		chain = append(chain, hsts)
	}
	chain = append(chain, s.requestID, s.accessLog, s.cors(), middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
				slog.String("request_id", requestID(c)), slog.String("error", logValue(err.Error())), slog.String("stack", string(stack)))
			return err
		},
	}), s.limitBody, s.rateLimit)
	e.Use(composed(chain))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if opts.MetricsHandler != nil {
		e.GET("/metrics", echo.WrapHandler(opts.MetricsHandler))
	}
	e.GET("/.well-known/jwks.json", s.jwks)
	e.GET("/.well-known/oauth-authorization-server", s.metadata)
	e.GET("/.well-known/openid-configuration", s.metadata)

	e.POST("/v1/sessions", s.openSession)
	e.POST("/v1/sessions/exchange", s.exchange)
	e.GET("/v1/session", s.session)
	e.POST("/oauth/token", s.oauthToken)
	e.POST("/oauth/revoke", s.oauthRevoke)
	e.POST("/oauth/introspect", s.oauthIntrospect)
	e.GET("/v1/revocations", s.revocations)
	e.POST("/v1/refresh", s.refresh)
	e.POST("/v1/logout", s.logout)
	e.POST("/v1/logout/all", s.logoutAll)
	e.POST("/v1/admin/keys/rotate", s.rotateKeys)
	e.POST("/v1/admin/subjects/:sub/revoke", s.revokeSubject)
	s.routes = map[string]bool{}
	for _, r := range e.Routes() {
		s.routes[r.Path] = true
	}
	s.echo = e
	return s
}

// composed is the middleware chain built once, around the handler the
// router matched, installed as the one middleware of e.Use. Echo applies
// its middlewares to the matched handler on every request, which costs a
// closure per middleware per request (and Pre middleware one more), on
// every answer including the JWKS. The router's match is c.Handler(),
// the very handler Echo passes a middleware as next, so every request,
// an unmatched one too, runs the same chain in the same order. Every
// middleware in it must keep no per-request state in what it captures;
// none does (each closes over its configuration only). It never calls
// the next Echo hands it, so it must stay the only e.Use middleware: one
// added by another e.Use would never run. Add a middleware to chain.
func composed(chain []echo.MiddlewareFunc) echo.MiddlewareFunc {
	h := routed
	for i := len(chain) - 1; i >= 0; i-- {
		h = chain[i](h)
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return h }
}

// routed calls the handler the router matched for c.
func routed(c echo.Context) error { return c.Handler()(c) }

// newRegistry builds the client registry of opts, counting slow checks in
// m; o may set the slots and wait, and gets its clock and counters here.
func newRegistry(opts Options, m *metrics, o clients.RegistryOptions) *clients.Registry {
	o.Now = opts.Now
	o.Checked = m.slowHash.WithLabelValues("checked").Inc
	o.Busy = m.slowHash.WithLabelValues("busy").Inc
	o.BeforeSlow = chargeSlowCheck
	return clients.NewRegistry(opts.Clients, o)
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

const (
	ctxClientID = "jwtd.client_id"
	// ctxAuthenticated is the id of a confidential client that proved its
	// secret in this request.
	ctxAuthenticated = "jwtd.authenticated_client"
)

// limitBody caps request bodies at MaxBodyBytes (413 beyond).
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.opts.MaxBodyBytes {
			return &http.MaxBytesError{Limit: s.opts.MaxBodyBytes}
		}
		if r.Body != http.NoBody { // a GET's: nothing to bound
			r.Body = http.MaxBytesReader(c.Response(), r.Body, s.opts.MaxBodyBytes)
		}
		return next(c)
	}
}

// noStore marks an answer that carries tokens (RFC 6749 §5.1).
func noStore(c echo.Context) {
	h := c.Response().Header()
	h["Cache-Control"] = noStoreVals
	h["Pragma"] = noCacheVals
}
