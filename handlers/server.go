package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	// FeedPoll is how often an event stream of /v1/revocations asks the
	// store for news; zero means 1s.
	FeedPoll time.Duration
	Logger   *slog.Logger
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

	stopping chan struct{}
	stopOnce sync.Once
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
	if opts.FeedPoll <= 0 {
		opts.FeedPoll = time.Second
	}
	m := newMetrics(opts.Metrics)
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		clients: newRegistry(opts, m, clients.RegistryOptions{}),
		metrics: m,
		limits:  newLimiter(opts.RateLimits, opts.Now, opts.Metrics, opts.Logger),
		now:     opts.Now,

		stopping: make(chan struct{}),
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	// Never trust X-Forwarded-For by default: it is the client's to forge.
	e.IPExtractor = ipExtractor(opts.TrustedProxies)
	if opts.HSTS {
		e.Pre(hsts)
	}
	e.Use(s.requestID, s.accessLog, s.cors(), middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
				slog.String("request_id", requestID(c)), slog.String("error", logValue(err.Error())), slog.String("stack", string(stack)))
			return err
		},
	}), s.limitBody, s.rateLimit)

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

// newRegistry builds the client registry of opts, counting slow checks in
// m; o may set the slots and wait, and gets its clock and counters here.
func newRegistry(opts Options, m *metrics, o clients.RegistryOptions) *clients.Registry {
	o.Now = opts.Now
	o.Checked = m.slowHash.WithLabelValues("checked").Inc
	o.Busy = m.slowHash.WithLabelValues("busy").Inc
	return clients.NewRegistry(opts.Clients, o)
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// MetricsHandler returns the handler for a registry's /metrics.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

const (
	ctxRequestID = "jwtd.request_id"
	ctxClientID  = "jwtd.client_id"
	// ctxAuthenticated is the id of a confidential client that proved its
	// secret in this request.
	ctxAuthenticated = "jwtd.authenticated_client"
)

// safeRequestID is what an incoming X-Request-Id must look like to be kept.
var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !safeRequestID.MatchString(id) {
			id = token.NewID()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// methodLabel is the method label of the request histogram: a method
// jwtd routes, or "other". Any token is a valid HTTP method (RFC 9110
// §9.1), and every distinct label set is a time series the registry keeps
// forever, so a label taken from the request as is lets any client grow
// /metrics and the heap without bound.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions:
		return method
	}
	return "other"
}

// routeLabel is the route label: the template Echo matched, or
// "unmatched" for anything that is not a registered route.
func (s *Server) routeLabel(c echo.Context) string {
	if r := c.Path(); s.routes[r] {
		return r
	}
	return "unmatched"
}

// maxLogValue bounds each log field taken from the request, so a long
// method, path or address cannot make log lines of the header limit's size.
const maxLogValue = 256

// truncatedMark ends a value cut at maxLogValue bytes.
const truncatedMark = "...[truncated]"

// logValue returns v cut to maxLogValue bytes on a UTF-8 boundary and
// marked, so a reader can tell it is not the whole value.
func logValue(v string) string {
	if len(v) <= maxLogValue {
		return v
	}
	cut := maxLogValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + truncatedMark
}

// accessLog writes one JSON line per request. It logs the path without the
// query string and no header, so no token or secret reaches the log; every
// value taken from the request is bounded by logValue.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		route := s.routeLabel(c)
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(methodLabel(req.Method), route, strconv.Itoa(res.Status)).Observe(elapsed.Seconds())
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", logValue(req.Method)),
			slog.String("path", logValue(req.URL.Path)),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Int64("bytes_out", res.Size),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("remote_ip", logValue(c.RealIP())),
		}
		if id, ok := c.Get(ctxClientID).(string); ok {
			attrs = append(attrs, slog.String("client_id", logValue(id)))
		}
		s.log.LogAttrs(req.Context(), slog.LevelInfo, "request", attrs...)
		return nil
	}
}

// limitBody caps request bodies at MaxBodyBytes (413 beyond).
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.opts.MaxBodyBytes {
			return &http.MaxBytesError{Limit: s.opts.MaxBodyBytes}
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, s.opts.MaxBodyBytes)
		return next(c)
	}
}

// noStore marks an answer that carries tokens (RFC 6749 §5.1).
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

type metrics struct {
	requests *prometheus.HistogramVec
	issued   *prometheus.CounterVec
	reuse    prometheus.Counter
	failOpen prometheus.Counter
	storeErr *prometheus.CounterVec
	slowHash *prometheus.CounterVec
	feedFail prometheus.Counter
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jwtd_http_request_duration_seconds", Help: "HTTP requests by method, route and status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"method", "route", "status"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtd_tokens_issued_total", Help: "Tokens minted, by kind (access, refresh).",
		}, []string{"kind"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jwtd_refresh_reuse_detected_total", Help: "Spent refresh tokens presented again; each revoked its session.",
		}),
		failOpen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jwtd_revocation_fail_open_total", Help: "Tokens accepted without a revocation check because the store was down.",
		}),
		storeErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtd_revocation_store_errors_total", Help: "Revocation store calls that failed, by operation.",
		}, []string{"op"}),
		feedFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jwtd_revocation_feed_publish_failures_total", Help: "Revocations done whose feed event could not be published at once; the store retries them.",
		}),
	}
	m.slowHash = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwtd_client_secret_slow_checks_total",
		Help: "bcrypt and argon2id client secret checks: checked (run, including the dummy for unknown ids) or busy (refused 503, no slot free).",
	}, []string{"outcome"})
	r.MustRegister(m.requests, m.issued, m.reuse, m.failOpen, m.storeErr, m.slowHash, m.feedFail)
	return m
}
