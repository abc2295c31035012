package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/revocation/redisstore"
	"github.com/jwtd/jwtd/token"
)

// app is jwtd wired from a valid Config: key store, rings, revocation
// store, handlers and bound listeners. newApp builds it without starting
// anything, run serves, and close takes it down in the one order that loses
// nothing (see close).
type app struct {
	cfg       Config
	log       *slog.Logger
	rc        *lazyRedis
	servers   []*http.Server
	listeners []net.Listener
	tlsOn     bool
	loops     []loop

	stopBG  context.CancelFunc // ends the loops' context; run sets it, close calls it
	loopsWG sync.WaitGroup     // the background loops
	serveWG sync.WaitGroup     // the Serve calls

	// onStep, when set, is told each step of the shutdown as it completes
	// and each background loop as it returns; tests use it to see the order.
	onStep func(step string)
}

// loop is a background goroutine of the app: it runs until its ctx is done.
type loop struct {
	name string
	run  func(ctx context.Context)
}

// Steps onStep reports, in the order close takes them.
const (
	stepServersDown = "http servers shut down"
	stepLoopsJoined = "background loops joined"
	stepRedisClosed = "redis closed"
	stepLoopPrefix  = "loop returned: "
)

func (a *app) step(s string) {
	if a.onStep != nil {
		a.onStep(s)
	}
}

// newApp builds jwtd from cfg, which Validate has accepted: it opens the
// key store and the rings (creating keys on first start), the revocation
// store, the handlers, and binds the listeners, so that a port in use is a
// start-up error. Nothing is served and no goroutine is started until run.
// On error everything opened so far is closed again.
func newApp(ctx context.Context, cfg Config, e *env) (_ *app, err error) {
	log := e.logger()
	a := &app{cfg: cfg, log: log, rc: &lazyRedis{cfg: cfg, environ: e.environ}}
	defer func() {
		if err != nil {
			a.release()
		}
	}()
	store, err := openKeyStore(cfg, e.environ, a.rc.get)
	if err != nil {
		return nil, err
	}
	rings := map[keys.Purpose]*keys.Ring{}
	for _, p := range []keys.Purpose{keys.Access, keys.Refresh} {
		opts := ringOptions(cfg, p)
		opts.Logger = log
		r, err := keys.NewRing(ctx, store, opts)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if err := r.Maintain(ctx); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		rings[p] = r
		a.loops = append(a.loops, loop{name: "keys " + string(p), run: func(ctx context.Context) { r.Run(ctx, maintenanceInterval(cfg)) }})
	}
	revStore := openRevocationStore(ctx, cfg, a.rc.get, log)
	var mirror *revocation.Mirror
	if rs, ok := revStore.(*redisstore.Store); ok {
		a.loops = append(a.loops, loop{name: "revocation outbox", run: rs.Run}) // retries feed events whose publish failed
		// Checks read a mirror of Redis that this replica keeps current
		// by blocking reads of the feed stream; writes still go to Redis.
		mirror = revocation.NewMirror(revocation.MirrorOptions{MaxStaleness: cfg.Revocation.MaxStaleness})
		// The first snapshot is taken now, so a replica whose Redis answers
		// starts ready; if it does not, the follower keeps trying.
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := mirror.Load(func(emit func(revocation.Entry) error) (string, error) { return rs.Snapshot(lctx, emit) }); err != nil {
			log.Warn("revocation mirror not loaded yet; session checks and introspection answer per revocation.fail_mode until it is", slog.String("error", err.Error()))
		}
		cancel()
		a.loops = append(a.loops, loop{name: "revocation mirror", run: func(ctx context.Context) { rs.Follow(ctx, mirror, log) }})
		revStore = revocation.NewMirrored(rs, mirror)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if mirror != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jwtd_revocation_mirror_staleness_seconds",
				Help: "How long ago this replica's mirror of the Redis denylist was last seen current."},
				func() float64 { return mirror.Staleness().Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jwtd_revocation_mirror_entries",
				Help: "Entries in this replica's mirror of the Redis denylist."},
				func() float64 { return float64(mirror.Len()) }))
	}
	topts := tokenOptions(cfg, nil)
	hopts := handlers.Options{
		Tokens:          topts,
		Issuer:          token.NewIssuer(topts, rings[keys.Access], rings[keys.Refresh]),
		Verifier:        token.NewVerifier(topts, rings[keys.Access], rings[keys.Refresh]),
		AccessKeys:      rings[keys.Access],
		RefreshKeys:     rings[keys.Refresh],
		Store:           revStore,
		Clients:         clientList(cfg),
		DefaultAudience: cfg.Tokens.DefaultAudience,
		ReuseGrace:      cfg.Tokens.ReuseGrace,
		FailOpen:        cfg.Revocation.FailMode == "open",
		FeedHeartbeat:   cfg.Revocation.FeedHeartbeat,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		JWKSMaxAge:      cfg.Keys.JWKSMaxAge,
		Cookie:          handlers.CookieOptions{Name: cfg.Cookie.Name, Secure: cfg.Cookie.Secure, SameSite: sameSite(cfg.Cookie.SameSite)},
		AllowedOrigins:  cfg.CORS.AllowedOrigins,
		RateLimits:      rateLimits(cfg, a.rc.get),
		TrustedProxies:  trustedProxies(cfg),
		Logger:          log,
		AccessLog:       accessLog(cfg),
		Metrics:         reg,
	}
	if cfg.Server.MetricsListen == "" {
		hopts.MetricsHandler = handlers.MetricsHandler(reg)
	}
	hopts.HSTS = cfg.Server.TLS.enabled()
	h := handlers.New(hopts)

	tlsConf, err := serverTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf) // server.metrics_listen stays plain HTTP
	}
	a.tlsOn = tlsConf != nil
	main := newHTTPServer(h, log)
	main.RegisterOnShutdown(h.StopStreams) // event streams would hold Shutdown until its timeout
	a.servers, a.listeners = []*http.Server{main}, []net.Listener{ln}
	if cfg.Server.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.Server.MetricsListen)
		if err != nil {
			return nil, fmt.Errorf("server.metrics_listen: %w", err)
		}
		a.servers = append(a.servers, newHTTPServer(handlers.MetricsHandler(reg), log))
		a.listeners = append(a.listeners, mln)
		log.Info("metrics listening", slog.String("addr", mln.Addr().String()))
	}
	if cfg.Server.PprofListen != "" {
		pln, err := net.Listen("tcp", cfg.Server.PprofListen)
		if err != nil {
			return nil, fmt.Errorf("server.pprof_listen: %w", err)
		}
		a.servers = append(a.servers, newHTTPServer(pprofHandler(), log))
		a.listeners = append(a.listeners, pln)
		log.Warn("pprof listening: keep this address internal", slog.String("addr", pln.Addr().String()))
	}
	return a, nil
}

// pprofHandler serves net/http/pprof's endpoints under /debug/pprof/.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// release closes what newApp opened, for a build that failed half-way.
func (a *app) release() {
	for _, ln := range a.listeners {
		ln.Close()
	}
	a.rc.Close()
}

// run starts the background loops (key maintenance, the revocation
// outbox) and serves until ctx is done (nil) or a listener fails (that
// error). It does not stop anything: close does, whichever way run ended,
// and is called after run returned.
func (a *app) run(ctx context.Context) error {
	// The loops outlive ctx: close stops them only after the servers, so
	// that no request in flight finds its key rings frozen.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	a.stopBG = stopBG
	for _, l := range a.loops {
		a.loopsWG.Add(1)
		go func() {
			defer a.loopsWG.Done()
			defer a.step(stepLoopPrefix + l.name)
			l.run(bg)
		}()
	}
	errc := make(chan error, len(a.servers))
	for i, srv := range a.servers {
		a.serveWG.Add(1)
		go func() {
			defer a.serveWG.Done()
			errc <- srv.Serve(a.listeners[i])
		}()
	}
	cfg := a.cfg
	a.log.Info("listening", slog.String("addr", a.listeners[0].Addr().String()), slog.Bool("tls", a.tlsOn), slog.String("issuer", cfg.Issuer),
		slog.String("key_algorithm", cfg.Keys.Algorithm), slog.String("revocation_store", cfg.Revocation.Store))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// close shuts a down in this order:
//  1. the HTTP servers stop accepting and drain, bounded by
//     server.shutdown_timeout (open event streams are ended through
//     RegisterOnShutdown; what is left at the timeout is cut);
//  2. the background loops are cancelled and joined (each returns on
//     ctx.Done; a Maintain in progress is bounded by its store's timeouts);
//  3. Redis is closed last, when nothing can use it any more.
//
// ctx's cancellation does not cut the drain short: serve passes the
// signal's context, which is already done.
func (a *app) close(ctx context.Context) error {
	a.log.Info("shutting down", slog.String("timeout", a.cfg.Server.ShutdownTimeout.String()))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Server.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range a.servers {
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, err)
			srv.Close() // the connections still open at the timeout
		}
	}
	for _, ln := range a.listeners {
		ln.Close() // a listener that run never served
	}
	a.serveWG.Wait()
	a.step(stepServersDown)
	if a.stopBG != nil {
		a.stopBG()
	}
	a.loopsWG.Wait()
	a.step(stepLoopsJoined)
	a.rc.Close()
	a.step(stepRedisClosed)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// openKeyStore opens the configured key store; client makes the Redis
// client when the store needs one.
func openKeyStore(cfg Config, environ []string, client func() redis.UniversalClient) (keys.Store, error) {
	switch cfg.Keys.Store {
	case "memory":
		return keys.NewMemoryStore(), nil
	case "redis":
		name := cfg.Keys.EncryptionKeyEnv
		v := lookupEnv(environ, name)
		if v == "" {
			return nil, keyErr("keys.encryption_key_env", "%s is not set: it must hold base64 of 32 random bytes (openssl rand -base64 32)", name)
		}
		kek, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(kek) != 32 {
			return nil, keyErr("keys.encryption_key_env", "%s must hold base64 of exactly 32 bytes", name)
		}
		return keys.NewRedisStore(client(), cfg.Redis.KeyPrefix, kek)
	default:
		s, err := keys.NewFileStore(cfg.Keys.Dir)
		if err != nil {
			return nil, fmt.Errorf("keys.dir: %w", err)
		}
		return s, nil
	}
}

// redisClient builds the one go-redis client for the configured Redis: a
// single server, Sentinel (master_name set) or Cluster (several addrs).
func redisClient(cfg Config, environ []string) redis.UniversalClient {
	r := cfg.Redis
	opts := &redis.UniversalOptions{
		Addrs:                 r.Addrs,
		MasterName:            r.MasterName,
		Username:              r.Username,
		Password:              lookupEnv(environ, r.PasswordEnv),
		DB:                    r.DB,
		ContextTimeoutEnabled: true, // without it go-redis ignores the per-call deadline
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		PoolTimeout:           time.Second,
		MaxRetries:            2,
	}
	if r.TLS {
		host, _, _ := net.SplitHostPort(r.Addrs[0])
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return redis.NewUniversalClient(opts)
}

// lazyRedis makes the Redis client on first use, once.
type lazyRedis struct {
	cfg     Config
	environ []string
	c       redis.UniversalClient
}

func (l *lazyRedis) get() redis.UniversalClient {
	if l.c == nil {
		l.c = redisClient(l.cfg, l.environ)
	}
	return l.c
}

func (l *lazyRedis) Close() {
	if l.c != nil {
		l.c.Close()
	}
}

// ringOptions derives a ring's lifecycle from the token lifetimes: a
// retired key stays as long as the longest token it signed can be accepted.
func ringOptions(cfg Config, p keys.Purpose) keys.Options {
	life := cfg.Tokens.AccessTTL
	if p == keys.Refresh {
		life = min(cfg.Tokens.RefreshTTL, cfg.Tokens.SessionMaxAge)
	}
	return keys.Options{
		Purpose: p, Algorithm: cfg.Keys.Algorithm,
		RotateEvery: cfg.Keys.RotateEvery, PublishAhead: cfg.Keys.PublishAhead,
		Lifetime: life + cfg.Tokens.Leeway,
	}
}

func tokenOptions(cfg Config, now func() time.Time) token.Options {
	auds := append([]string(nil), cfg.Tokens.DefaultAudience...)
	for _, c := range cfg.Clients {
		auds = append(auds, c.Audiences...)
	}
	return token.Options{
		Issuer: cfg.Issuer, AccessTTL: cfg.Tokens.AccessTTL, RefreshTTL: cfg.Tokens.RefreshTTL,
		SessionMaxAge: cfg.Tokens.SessionMaxAge, Leeway: cfg.Tokens.Leeway, Audiences: auds, Now: now,
	}
}

func clientList(cfg Config) []clients.Client {
	out := make([]clients.Client, 0, len(cfg.Clients))
	for _, c := range cfg.Clients {
		cl := clients.Client{ID: c.ID, Grants: c.Grants, Scopes: c.Scopes, Audiences: c.Audiences}
		if c.SecretHash != "" {
			cl.Secret, _ = clients.ParseSecretHash(c.SecretHash) // Validate checked it
		}
		out = append(out, cl)
	}
	return out
}

// openRevocationStore opens the configured store. A Redis that does not
// answer at start-up is not fatal: /readyz says 503 and the endpoints that
// need it answer 503 until it is back, then jwtd recovers by itself.
func openRevocationStore(ctx context.Context, cfg Config, client func() redis.UniversalClient, log *slog.Logger) revocation.Store {
	if cfg.Revocation.Store == "memory" {
		return revocation.NewMemoryStore(nil)
	}
	store := redisstore.New(redisstore.Options{Client: client(), Prefix: cfg.Redis.KeyPrefix})
	if err := store.Ping(ctx); err != nil {
		log.Warn("redis does not answer yet; revocation-dependent endpoints answer 503 until it does", slog.String("error", err.Error()))
	}
	return store
}

func lookupEnv(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

func sameSite(v string) http.SameSite {
	switch v {
	case "Lax":
		return http.SameSiteLaxMode
	case "None":
		return http.SameSiteNoneMode
	}
	return http.SameSiteStrictMode
}

// maintenanceInterval is how often the rings re-read the key store: often
// enough that a next key is published well inside publish_ahead, and that
// `jwtd keys rotate` is picked up within seconds.
func maintenanceInterval(cfg Config) time.Duration {
	return max(time.Second, min(10*time.Second, cfg.Keys.PublishAhead/10))
}

// newHTTPServer is the http.Server of every listener. The load benchmark's
// floors copy its timeouts and header bound (floorServer in bench/), so
// keep the two alike.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// trustedProxies is server.trusted_proxies for handlers.Options; Validate
// has checked every entry.
func trustedProxies(cfg Config) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(cfg.Server.TrustedProxies))
	for _, s := range cfg.Server.TrustedProxies {
		p, _ := parseTrustedProxy(s)
		out = append(out, p)
	}
	return out
}

// accessLog is server.access_log and server.access_log_sample for
// handlers.Options; Validate has checked both.
func accessLog(cfg Config) handlers.AccessLog {
	mode := handlers.AccessLogOn
	switch cfg.Server.AccessLog {
	case "off":
		mode = handlers.AccessLogOff
	case "sampled":
		mode = handlers.AccessLogSampled
	}
	return handlers.AccessLog{Mode: mode, Sample: cfg.Server.AccessLogSample}
}

// rateLimits is rate_limits for handlers.Options. With revocation.store:
// redis the limits are shared through the same Redis, so N replicas
// together allow what one does.
func rateLimits(cfg Config, client func() redis.UniversalClient) handlers.RateLimits {
	conv := func(r RateConfig) handlers.RateLimit {
		return handlers.RateLimit{Rate: float64(r.Rate), Burst: r.Burst}
	}
	l := cfg.RateLimits
	out := handlers.RateLimits{
		PerAddress: conv(l.PerAddress), PerClient: conv(l.PerClient), FailedAuth: conv(l.FailedAuth),
		MaxKeys: l.MaxTrackedKeys,
	}
	if cfg.Revocation.Store == "redis" {
		out.Redis, out.RedisPrefix = client(), cfg.Redis.KeyPrefix
	}
	return out
}
