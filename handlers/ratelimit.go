package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// RateLimit is one token bucket: Rate events per second on average and
// Burst at once. A zero Rate or Burst disables it.
type RateLimit struct {
	Rate  float64
	Burst int
}

func (l RateLimit) enabled() bool { return l.Rate > 0 && l.Burst > 0 }

// DefaultMaxKeys is how many keys each limit tracks in memory when
// RateLimits.MaxKeys is zero.
const DefaultMaxKeys = 100_000

// RateLimits are jwtd's abuse limits: they bound the guesses an attacker
// gets at a client credential (RFC 6749 §10.10, RFC 6819 §5.1.4.2) and the
// work a flood costs. They slow an address down rather than lock a client
// out, since a lockout would let anyone who knows a client_id lock out
// that client. A limit whose bucket is empty answers 429 (RFC 6585 §4).
type RateLimits struct {
	// PerAddress bounds the requests of one remote address (an IPv6
	// address counts by its /64, which one host is given whole) to the
	// token-issuing and logout endpoints.
	PerAddress RateLimit
	// PerClient bounds the requests of one authenticated confidential
	// client to the same endpoints. A public client is not limited by its
	// id: anyone can present it, and all its users share it.
	PerClient RateLimit
	// FailedAuth bounds the failed client authentications (401
	// invalid_client, any endpoint) of one remote address. While its
	// bucket is empty, every request from the address that presents client
	// credentials is refused before they are checked.
	FailedAuth RateLimit
	// MaxKeys is how many addresses or clients each limit tracks in
	// memory; the least recently seen is forgotten first. Zero:
	// DefaultMaxKeys.
	MaxKeys int
	// Redis, when set, shares the limits among replicas. When it fails,
	// each replica falls back to its own memory limits (fail open).
	Redis redis.UniversalClient
	// RedisPrefix starts the Redis keys (after redis_rate's own "rate:").
	RedisPrefix string
	// RedisTimeout bounds one Redis call; zero means 100ms.
	RedisTimeout time.Duration
}

// redisRetry is how long the limiter leaves Redis alone after a failure,
// so an outage costs one timeout per second, not one per request.
const redisRetry = time.Second

// The limit label values of jwtd_rate_limited_total.
const (
	limitPerAddress = "per_address"
	limitPerClient  = "per_client"
	limitFailedAuth = "failed_auth"
)

// limitedRoutes are the endpoints PerAddress and PerClient apply to: those
// that mint, spend or revoke tokens.
var limitedRoutes = map[string]bool{
	"POST /v1/sessions":          true,
	"POST /v1/sessions/exchange": true,
	"POST /v1/refresh":           true,
	"POST /oauth/token":          true,
	"POST /v1/logout":            true,
	"POST /v1/logout/all":        true,
}

type limiter struct {
	perAddress, perClient, failedAuth *bucket
	refused                           *prometheus.CounterVec
}

func newLimiter(o RateLimits, now func() time.Time, reg prometheus.Registerer, log *slog.Logger) *limiter {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwtd_rate_limited_total", Help: "Requests refused with 429, by limit (per_address, per_client, failed_auth).",
	}, []string{"limit"})
	failOpen := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwtd_rate_limit_fail_open_total", Help: "Rate-limit decisions taken by this replica alone because Redis failed, by limit.",
	}, []string{"limit"})
	reg.MustRegister(refused, failOpen)
	for _, name := range []string{limitPerAddress, limitPerClient, limitFailedAuth} {
		refused.WithLabelValues(name)
		failOpen.WithLabelValues(name)
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.RedisTimeout <= 0 {
		o.RedisTimeout = 100 * time.Millisecond
	}
	var shared *redis_rate.Limiter
	if o.Redis != nil {
		shared = redis_rate.NewLimiter(o.Redis)
	}
	mk := func(name string, l RateLimit) *bucket {
		if !l.enabled() {
			return nil
		}
		local, _ := simplelru.NewLRU[string, *rate.Limiter](o.MaxKeys, nil) // fails only for a size < 1
		return &bucket{name: name, limit: l, now: now, log: log, local: local, shared: shared,
			prefix: o.RedisPrefix + "ratelimit:" + name + ":", timeout: o.RedisTimeout, failOpen: failOpen.WithLabelValues(name)}
	}
	return &limiter{
		perAddress: mk(limitPerAddress, o.PerAddress),
		perClient:  mk(limitPerClient, o.PerClient),
		failedAuth: mk(limitFailedAuth, o.FailedAuth),
		refused:    refused,
	}
}

// bucket is one limit over many keys: golang.org/x/time/rate limiters in
// a bounded LRU, or GCRA in Redis (redis_rate) when shared.
type bucket struct {
	name     string
	limit    RateLimit
	now      func() time.Time
	log      *slog.Logger
	timeout  time.Duration
	failOpen prometheus.Counter

	mu    sync.Mutex
	local *simplelru.LRU[string, *rate.Limiter]

	shared    *redis_rate.Limiter
	prefix    string
	downUntil atomic.Int64 // unix nanoseconds; Redis is skipped until then
}

// take spends one event of key's budget. When the budget is empty it
// spends nothing and says how long until it has one again.
func (b *bucket) take(ctx context.Context, key string) (bool, time.Duration) {
	return b.allow(ctx, key, 1)
}

// peek reports whether key has an event left, without spending it.
func (b *bucket) peek(ctx context.Context, key string) (bool, time.Duration) {
	return b.allow(ctx, key, 0)
}

func (b *bucket) allow(ctx context.Context, key string, n int) (bool, time.Duration) {
	if b.shared != nil && b.now().UnixNano() >= b.downUntil.Load() {
		ok, wait, err := b.sharedAllow(ctx, key, n)
		if err == nil {
			if b.downUntil.Swap(0) != 0 {
				b.log.LogAttrs(ctx, slog.LevelInfo, "rate limiter: redis answers again", slog.String("limit", b.name))
			}
			return ok, wait
		}
		if b.downUntil.Swap(b.now().Add(redisRetry).UnixNano()) == 0 {
			b.log.LogAttrs(ctx, slog.LevelWarn, "rate limiter: redis failed; each replica limits alone until it answers",
				slog.String("limit", b.name), slog.String("error", err.Error()))
		}
	}
	if b.shared != nil {
		b.failOpen.Inc()
	}
	return b.localAllow(key, n)
}

func (b *bucket) localAllow(key string, n int) (bool, time.Duration) {
	now := b.now()
	b.mu.Lock()
	l, ok := b.local.Get(key)
	if !ok {
		l = rate.NewLimiter(rate.Limit(b.limit.Rate), b.limit.Burst)
		b.local.Add(key, l)
	}
	b.mu.Unlock()
	tokens := l.TokensAt(now)
	if n == 0 && tokens >= 1 || n > 0 && l.AllowN(now, n) {
		return true, 0
	}
	return false, time.Duration((1 - min(tokens, 0.999)) / b.limit.Rate * float64(time.Second))
}

// sharedAllow asks Redis. A cost of 0 asks redis_rate without spending:
// its GCRA then answers how many events remain.
func (b *bucket) sharedAllow(ctx context.Context, key string, n int) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
	defer cancel()
	lim := redisLimit(b.limit)
	res, err := b.shared.AllowN(ctx, b.prefix+key, lim, n)
	if err != nil {
		return false, 0, err
	}
	if n == 0 {
		if res.Remaining >= 1 {
			return true, 0, nil
		}
		return false, lim.Period / time.Duration(lim.Rate), nil
	}
	if res.Allowed >= n {
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
}

// redisLimit expresses l in redis_rate's terms: Rate events per Period.
func redisLimit(l RateLimit) redis_rate.Limit {
	if l.Rate >= 1 && l.Rate == math.Trunc(l.Rate) && l.Rate < math.MaxInt32 {
		return redis_rate.Limit{Rate: int(l.Rate), Burst: l.Burst, Period: time.Second}
	}
	return redis_rate.Limit{Rate: 1, Burst: l.Burst, Period: time.Duration(float64(time.Second) / l.Rate)}
}

// errRateLimited is the 429 answer. RFC 6749 §5.2 has no code for it;
// temporarily_unavailable (§4.1.2.1, and jwtd's 503s) tells a client to
// come back later, which every OAuth library passes on as an error, while
// slow_down (RFC 8628 §3.5) means "poll the device endpoint 5s slower"
// and would mislead a device-flow client.
func errRateLimited() *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: codeTemporarilyUnavailable, Description: "rate limit exceeded; retry later"}
}

// refuse answers 429 with Retry-After in whole seconds, at least 1
// (RFC 9110 §10.2.3).
func (l *limiter) refuse(c echo.Context, limit string, wait time.Duration) error {
	l.refused.WithLabelValues(limit).Inc()
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return errRateLimited()
}

// rateLimit is the middleware of RateLimits. The per-client budget is
// spent after the handler, only by a client that proved its secret in the
// request (never by the client a presented token names), and checked
// before it by the client the request names: an attacker who names a
// client without its secret cannot use up that client's budget.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	l := s.limits
	if l.perAddress == nil && l.perClient == nil && l.failedAuth == nil {
		return next
	}
	return func(c echo.Context) error {
		r := c.Request()
		ctx := r.Context()
		addr := addressKey(c.RealIP())
		var charge *slowCharge
		if l.failedAuth != nil {
			// A slow secret check spends this address's failed-auth
			// budget before it runs (chargeSlowCheck): charged after a
			// failure, as fast checks are, parallel guesses would all
			// start before the first had failed.
			charge = &slowCharge{bucket: l.failedAuth, addr: addr}
			ctx = context.WithValue(ctx, slowChargeKey{}, charge)
			r = r.WithContext(ctx)
			c.SetRequest(r)
		}
		limited := limitedRoutes[r.Method+" "+c.Path()]
		var named string
		if l.failedAuth != nil || (limited && l.perClient != nil) {
			var creds bool
			named, creds = presentedClient(r)
			if creds && l.failedAuth != nil {
				if ok, wait := l.failedAuth.peek(ctx, addr); !ok {
					return l.refuse(c, limitFailedAuth, wait)
				}
			}
		}
		if limited && l.perAddress != nil {
			if ok, wait := l.perAddress.take(ctx, addr); !ok {
				return l.refuse(c, limitPerAddress, wait)
			}
		}
		if limited && l.perClient != nil && s.isConfidential(named) {
			if ok, wait := l.perClient.peek(ctx, named); !ok {
				return l.refuse(c, limitPerClient, wait)
			}
		}
		err := next(c)
		if id, _ := c.Get(ctxAuthenticated).(string); limited && l.perClient != nil && id != "" {
			l.perClient.take(ctx, id)
		}
		var refused *slowCheckRefused
		if errors.As(err, &refused) {
			return l.refuse(c, limitFailedAuth, refused.wait)
		}
		var e *Error
		if l.failedAuth != nil && errors.As(err, &e) && e.Status == http.StatusUnauthorized && e.Code == codeInvalidClient && !charge.spent {
			l.failedAuth.take(ctx, addr)
		}
		return err
	}
}

func (s *Server) isConfidential(id string) bool {
	cl, ok := s.clients.Get(id)
	return ok && cl.Confidential()
}

// presentedClient returns the client id a request names in HTTP Basic or
// a form's client_id, and whether it presents a client secret (a
// non-empty one, in Basic or a client_secret form field). A form body is read and put
// back unchanged, read errors included, for the handler.
func presentedClient(r *http.Request) (id string, creds bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, _, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return "", false
		}
		var secret string
		id, secret, _ = parseBasic(h)
		// "id:" with an empty secret is how a public client names itself
		// (many OAuth libraries send it): no secret, nothing to guess.
		return id, secret != ""
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || err != nil || mt != "application/x-www-form-urlencoded" || r.Body == nil {
		return "", false
	}
	body, err := io.ReadAll(r.Body)
	var rest io.Reader = bytes.NewReader(body)
	if err != nil {
		rest = io.MultiReader(rest, errReader{err})
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{rest, r.Body}
	form, _ := url.ParseQuery(string(body))
	return form.Get("client_id"), form.Get("client_secret") != ""
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// addressKey is the key of a remote address: an IPv4 address as is, an
// IPv6 address by its /64 (RFC 4291 §2.5.4: one link, and one host may
// have it all, so counting single IPv6 addresses would let it rotate
// through 2^64 of them).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// slowCharge is a request's failed-authentication budget, for the slow
// secret checks it may trigger.
type slowCharge struct {
	bucket *bucket
	addr   string
	spent  bool // a slow check took the request's event already
}

type slowChargeKey struct{}

// slowCheckRefused is a slow check the failed-authentication budget did
// not allow: the request gets 429 with wait as Retry-After.
type slowCheckRefused struct{ wait time.Duration }

func (e *slowCheckRefused) Error() string { return "failed-authentication budget spent" }

// chargeSlowCheck is the registry's BeforeSlow: a bcrypt or argon2id check
// (the dummy's included) spends one event of the address's failed-auth
// budget before it runs, whatever its outcome. A client whose secret is
// right pays it once, then its cached result is free for five minutes.
func chargeSlowCheck(ctx context.Context) error {
	c, _ := ctx.Value(slowChargeKey{}).(*slowCharge)
	if c == nil || c.spent {
		return nil
	}
	c.spent = true
	if ok, wait := c.bucket.take(ctx, c.addr); !ok {
		return &slowCheckRefused{wait: wait}
	}
	return nil
}
