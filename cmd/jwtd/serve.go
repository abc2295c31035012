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
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// devSecretHash is the hash of the development client's secret that
// config.yaml ships with; its secret is printed in the README, so a server
// that accepts it must say so loudly.
const devSecretHash = "sha256:b830d44f1f92e88d7ba70c8b2ee0a9a6ce02f7f2fa270523026d822077e1cf40"

// checkDevClients refuses the development secret anywhere but on a
// loopback listener: it is printed in the README, so on any other address
// anyone who can reach jwtd can open sessions for any subject. The Docker
// image listens on 0.0.0.0, so a config.yaml copied into it without a new
// secret stops here. A host name other than localhost counts as public: it
// may resolve to anything.
func checkDevClients(cfg Config) error {
	host, _, _ := net.SplitHostPort(cfg.Server.Listen) // Validate checked it
	if isLoopback(host) {
		return nil
	}
	for i, c := range cfg.Clients {
		if c.SecretHash == devSecretHash {
			return keyErr(fmt.Sprintf("clients[%d].secret_hash", i),
				"is the development secret printed in the README, and server.listen %s is not a loopback address; make a secret with `jwtd client secret`", cfg.Server.Listen)
		}
	}
	return nil
}

// isLoopback reports whether host is a loopback IP or localhost.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
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
	store := revocation.NewRedisStore(revocation.RedisOptions{Client: client(), Prefix: cfg.Redis.KeyPrefix})
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

// serve runs the server until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, e *env) error {
	cfg, warnings, err := e.config()
	if err != nil {
		return err
	}
	if err := checkDevClients(cfg); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	for _, w := range warnings {
		log.Warn(w)
	}
	for _, c := range cfg.Clients {
		if c.SecretHash == devSecretHash {
			log.Warn("DEVELOPMENT CLIENT ENABLED: client " + c.ID + " uses the secret published in the README; anyone can open sessions. Never deploy this config.yaml.")
		}
	}

	rc := &lazyRedis{cfg: cfg, environ: e.environ}
	defer rc.Close()
	store, err := openKeyStore(cfg, e.environ, rc.get)
	if err != nil {
		return err
	}
	rings := map[keys.Purpose]*keys.Ring{}
	for _, p := range []keys.Purpose{keys.Access, keys.Refresh} {
		opts := ringOptions(cfg, p)
		opts.Logger = log
		r, err := keys.NewRing(ctx, store, opts)
		if err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		if err := r.Maintain(ctx); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		rings[p] = r
	}
	revStore := openRevocationStore(ctx, cfg, rc.get, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		JWKSMaxAge:      cfg.Keys.JWKSMaxAge,
		Cookie:          handlers.CookieOptions{Name: cfg.Cookie.Name, Secure: cfg.Cookie.Secure, SameSite: sameSite(cfg.Cookie.SameSite)},
		AllowedOrigins:  cfg.CORS.AllowedOrigins,
		RateLimits:      rateLimits(cfg, rc.get),
		TrustedProxies:  trustedProxies(cfg),
		Logger:          log,
		Metrics:         reg,
	}
	if cfg.Server.MetricsListen == "" {
		hopts.MetricsHandler = handlers.MetricsHandler(reg)
	}
	hopts.HSTS = cfg.Server.TLS.enabled()
	h := handlers.New(hopts)

	tlsConf, err := serverTLS(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf) // server.metrics_listen stays plain HTTP
	}
	main := newHTTPServer(h, log)
	main.RegisterOnShutdown(h.StopStreams) // event streams would hold Shutdown until its timeout
	servers := []*http.Server{main}
	listeners := []net.Listener{ln}
	if cfg.Server.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.Server.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server.metrics_listen: %w", err)
		}
		servers = append(servers, newHTTPServer(handlers.MetricsHandler(reg), log))
		listeners = append(listeners, mln)
		log.Info("metrics listening", slog.String("addr", mln.Addr().String()))
	}

	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	for _, r := range rings {
		go r.Run(bg, maintenanceInterval(cfg))
	}
	if rs, ok := revStore.(*revocation.RedisStore); ok {
		go rs.Run(bg) // retries feed events whose publish failed
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.Bool("tls", tlsConf != nil), slog.String("issuer", cfg.Issuer),
		slog.String("key_algorithm", cfg.Keys.Algorithm), slog.String("revocation_store", cfg.Revocation.Store))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.String("timeout", cfg.Server.ShutdownTimeout.String()))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

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
