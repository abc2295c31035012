package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/keys"
)

// accessLogModes are the values of server.access_log.
var accessLogModes = []string{"on", "off", "sampled"}

var (
	clientIDPattern   = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
	cookieNamePattern = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
	envNamePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks every value, one validator per section in the order of
// config.yaml; the first problem is returned as one line naming the key.
func (c *Config) Validate() error {
	for _, validate := range []func() error{
		c.validateIssuer,
		c.validateServer,
		c.validateTokens,
		c.validateKeys,
		c.validateRevocation,
		c.validateRedis,
		c.validateCookie,
		c.validateCORS,
		c.validateRateLimits,
		c.validateClients,
	} {
		if err := validate(); err != nil {
			return err
		}
	}
	return nil
}

// validateIssuer checks issuer: the iss of every token and the base of
// discovery (RFC 8414 §2), compared by clients as a string.
func (c *Config) validateIssuer() error {
	iss := c.Issuer
	u, err := url.Parse(iss)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return keyErr("issuer", "%q is not an absolute URL", iss)
	case u.Scheme != "https" && u.Scheme != "http":
		return keyErr("issuer", "scheme must be https (or http for local development)")
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(iss, "?") || strings.HasSuffix(iss, "#"):
		return keyErr("issuer", "must have no query or fragment (RFC 8414 §2)")
	case u.User != nil:
		return keyErr("issuer", "must have no user information")
	case strings.HasSuffix(u.Path, "/"):
		return keyErr("issuer", "must not end with a slash: iss is compared as a string")
	}
	return nil
}

// validateServer checks the server section, trusted_proxies and tls
// included. server.tls must name both files or neither, and they must be
// readable and hold a matching pair now: an error at start-up beats a
// listener whose every handshake fails.
func (c *Config) validateServer() error {
	s := c.Server
	if err := checkHostPort("server.listen", s.Listen, false); err != nil {
		return err
	}
	if err := checkHostPort("server.pprof_listen", s.PprofListen, true); err != nil {
		return err
	}
	if err := checkHostPort("server.metrics_listen", s.MetricsListen, true); err != nil {
		return err
	}
	if s.MaxBodyBytes < 1024 || s.MaxBodyBytes > 16<<20 {
		return keyErr("server.max_body_bytes", "%d is outside 1024..16777216", s.MaxBodyBytes)
	}
	if err := atLeastSecond("server.shutdown_timeout", s.ShutdownTimeout); err != nil {
		return err
	}
	for i, p := range s.TrustedProxies {
		if _, err := parseTrustedProxy(p); err != nil {
			return keyErr(fmt.Sprintf("server.trusted_proxies[%d]", i), "%v", err)
		}
	}
	if !slices.Contains(accessLogModes, s.AccessLog) {
		return keyErr("server.access_log", "%q is not one of %s", s.AccessLog, strings.Join(accessLogModes, ", "))
	}
	// Written so that NaN, which compares false with everything, fails.
	if !(s.AccessLogSample >= 0 && s.AccessLogSample <= 1) {
		return keyErr("server.access_log_sample", "%v is outside 0..1", s.AccessLogSample)
	}
	switch t := s.TLS; {
	case t.CertFile == "" && t.KeyFile == "":
		return nil
	case t.KeyFile == "":
		return keyErr("server.tls.key_file", "must be set with server.tls.cert_file")
	case t.CertFile == "":
		return keyErr("server.tls.cert_file", "must be set with server.tls.key_file")
	default:
		_, err := loadPair(t.CertFile, t.KeyFile)
		return err
	}
}

// validateTokens checks the tokens section.
func (c *Config) validateTokens() error {
	t := c.Tokens
	for _, p := range []struct {
		key string
		d   time.Duration
	}{
		{"tokens.access_ttl", t.AccessTTL},
		{"tokens.refresh_ttl", t.RefreshTTL},
		{"tokens.session_max_age", t.SessionMaxAge},
	} {
		if err := atLeastSecond(p.key, p.d); err != nil {
			return err
		}
	}
	if t.ReuseGrace < 0 || t.ReuseGrace > time.Minute {
		return keyErr("tokens.reuse_grace", "%s is outside 0s..1m", t.ReuseGrace)
	}
	if t.Leeway < 0 || t.Leeway > 5*time.Minute {
		return keyErr("tokens.leeway", "%s is outside 0s..5m", t.Leeway)
	}
	if len(t.DefaultAudience) == 0 {
		return keyErr("tokens.default_audience", "must name at least one audience")
	}
	for i, a := range t.DefaultAudience {
		if strings.TrimSpace(a) == "" {
			return keyErr(fmt.Sprintf("tokens.default_audience[%d]", i), "is empty")
		}
	}
	return nil
}

// validateKeys checks the keys section. A verifier caches the JWKS for up
// to jwks_max_age, so a key published publish_ahead before it signs is
// seen by every verifier only when jwks_max_age < publish_ahead <
// rotate_every.
func (c *Config) validateKeys() error {
	k := c.Keys
	for _, p := range []struct {
		key string
		d   time.Duration
	}{
		{"keys.rotate_every", k.RotateEvery},
		{"keys.publish_ahead", k.PublishAhead},
		{"keys.jwks_max_age", k.JWKSMaxAge},
	} {
		if err := atLeastSecond(p.key, p.d); err != nil {
			return err
		}
	}
	if !slices.Contains(keys.Algorithms, k.Algorithm) {
		return keyErr("keys.algorithm", "%q is not one of %s", k.Algorithm, strings.Join(keys.Algorithms, ", "))
	}
	if k.JWKSMaxAge >= k.PublishAhead {
		return keyErr("keys.jwks_max_age", "%s is not shorter than keys.publish_ahead (%s)", k.JWKSMaxAge, k.PublishAhead)
	}
	if k.PublishAhead >= k.RotateEvery {
		return keyErr("keys.publish_ahead", "%s is not shorter than keys.rotate_every (%s)", k.PublishAhead, k.RotateEvery)
	}
	switch k.Store {
	case "file":
		if k.Dir == "" {
			return keyErr("keys.dir", "must be set for keys.store: file")
		}
	case "memory", "redis":
	default:
		return keyErr("keys.store", "%q is not one of file, redis, memory", k.Store)
	}
	if !envNamePattern.MatchString(k.EncryptionKeyEnv) {
		return keyErr("keys.encryption_key_env", "%q is not an environment variable name", k.EncryptionKeyEnv)
	}
	return nil
}

// validateRevocation checks the revocation section.
func (c *Config) validateRevocation() error {
	switch c.Revocation.Store {
	case "memory", "redis":
	default:
		return keyErr("revocation.store", "%q is not one of memory, redis", c.Revocation.Store)
	}
	if c.Revocation.FailMode != "closed" && c.Revocation.FailMode != "open" {
		return keyErr("revocation.fail_mode", "%q is not one of closed, open", c.Revocation.FailMode)
	}
	// The mirror's follower proves it current once a second (a blocking
	// read of the stream), so a bound under 2s would flap.
	if d := c.Revocation.MaxStaleness; d < 2*time.Second || d > 10*time.Minute {
		return keyErr("revocation.max_staleness", "%s is outside 2s..10m", d)
	}
	if d := c.Revocation.FeedHeartbeat; d < 100*time.Millisecond || d > time.Minute {
		return keyErr("revocation.feed_heartbeat", "%s is outside 100ms..1m", d)
	}
	return nil
}

func (c *Config) validateRedis() error {
	r := c.Redis
	if len(r.Addrs) == 0 {
		return keyErr("redis.addrs", "must name at least one host:port")
	}
	for i, a := range r.Addrs {
		if err := checkHostPort(fmt.Sprintf("redis.addrs[%d]", i), a, false); err != nil {
			return err
		}
	}
	if r.DB < 0 || r.DB > 15 {
		return keyErr("redis.db", "%d is outside 0..15", r.DB)
	}
	if r.DB != 0 && r.MasterName == "" && len(r.Addrs) > 1 {
		return keyErr("redis.db", "Redis Cluster has only database 0")
	}
	if !envNamePattern.MatchString(r.PasswordEnv) {
		return keyErr("redis.password_env", "%q is not an environment variable name", r.PasswordEnv)
	}
	return nil
}

func (c *Config) validateCookie() error {
	k := c.Cookie
	if !cookieNamePattern.MatchString(k.Name) {
		return keyErr("cookie.name", "%q is not a valid cookie name", k.Name)
	}
	switch k.SameSite {
	case "Strict", "Lax":
	case "None":
		if !k.Secure {
			return keyErr("cookie.same_site", "None requires cookie.secure: true (browsers drop it otherwise)")
		}
	default:
		return keyErr("cookie.same_site", "%q is not one of Strict, Lax, None", k.SameSite)
	}
	if (strings.HasPrefix(k.Name, "__Host-") || strings.HasPrefix(k.Name, "__Secure-")) && !k.Secure {
		return keyErr("cookie.secure", "must be true for a %s cookie name (browsers drop it otherwise); rename the cookie for plain-HTTP development", strings.SplitN(k.Name, "-", 2)[0]+"-")
	}
	return nil
}

// validateCORS checks cors.allowed_origins: exact origins only, since the
// refresh cookie is sent with credentials.
func (c *Config) validateCORS() error {
	for i, o := range c.CORS.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			return keyErr(fmt.Sprintf("cors.allowed_origins[%d]", i), "%v", err)
		}
	}
	return nil
}

const maxRate = 1_000_000

// validateRateLimits checks the rate_limits section.
func (c *Config) validateRateLimits() error {
	for _, l := range []struct {
		key string
		r   RateConfig
	}{
		{"rate_limits.per_address", c.RateLimits.PerAddress},
		{"rate_limits.per_client", c.RateLimits.PerClient},
		{"rate_limits.failed_auth", c.RateLimits.FailedAuth},
	} {
		switch {
		case l.r.Rate < 0 || l.r.Rate > maxRate:
			return keyErr(l.key+".rate", "%d is outside 0..%d (0 disables the limit)", l.r.Rate, maxRate)
		case l.r.Burst < 0 || l.r.Burst > maxRate:
			return keyErr(l.key+".burst", "%d is outside 0..%d", l.r.Burst, maxRate)
		case l.r.Rate > 0 && l.r.Burst == 0:
			return keyErr(l.key+".burst", "must be at least 1 when %s.rate is set (a burst of 0 refuses everything)", l.key)
		}
	}
	if k := c.RateLimits.MaxTrackedKeys; k < 1000 || k > 10_000_000 {
		return keyErr("rate_limits.max_tracked_keys", "%d is outside 1000..10000000", k)
	}
	return nil
}

func (c *Config) validateClients() error {
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		if !clientIDPattern.MatchString(cl.ID) {
			return keyErr(key+".id", "%q must be 1 to 128 of A-Z a-z 0-9 . _ ~ -", cl.ID)
		}
		if seen[cl.ID] {
			return keyErr(key+".id", "%q is used by another client", cl.ID)
		}
		seen[cl.ID] = true
		if cl.SecretHash != "" {
			if _, err := clients.ParseSecretHash(cl.SecretHash); err != nil {
				var he *clients.HashError
				if !errors.As(err, &he) {
					return keyErr(key+".secret_hash", "%v", err)
				}
				return keyErr(key+".secret_hash", "%s", he.Problem())
			}
		}
		if len(cl.Grants) == 0 {
			return keyErr(key+".grants", "must list at least one grant")
		}
		for j, g := range cl.Grants {
			if !slices.Contains(clients.Grants, g) {
				return keyErr(fmt.Sprintf("%s.grants[%d]", key, j), "%q is not one of %s", g, strings.Join(clients.Grants, ", "))
			}
			if cl.SecretHash == "" && g != clients.GrantRefreshToken {
				return keyErr(fmt.Sprintf("%s.grants[%d]", key, j), "%s needs a secret_hash: a public client may only refresh, revoke and log out", g)
			}
		}
		for j, sc := range cl.Scopes {
			if !scopeTokenPattern.MatchString(sc) {
				return keyErr(fmt.Sprintf("%s.scopes[%d]", key, j), "%q is not a scope token (RFC 6749 §3.3)", sc)
			}
		}
		for j, a := range cl.Audiences {
			if strings.TrimSpace(a) == "" {
				return keyErr(fmt.Sprintf("%s.audiences[%d]", key, j), "is empty")
			}
		}
	}
	return nil
}

var scopeTokenPattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)

// atLeastSecond checks a duration that must be at least a second: the
// token lifetimes, the key schedule and the shutdown bound.
func atLeastSecond(key string, d time.Duration) error {
	if d < time.Second {
		return keyErr(key, "%s must be at least 1s", d)
	}
	return nil
}

func checkHostPort(key, v string, optional bool) error {
	if v == "" && optional {
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return keyErr(key, "%q is not host:port", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return keyErr(key, "%q has no valid port", v)
	}
	return nil
}

func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if o == "*" {
		return errors.New(`"*" cannot be used with credentials; list the origins`)
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		strings.Contains(o, "*") || strings.ToLower(o) != o {
		return fmt.Errorf("%q is not an origin (lowercase scheme://host[:port], no wildcards)", o)
	}
	return nil
}

// parseTrustedProxy takes a CIDR (10.0.0.0/8) or a plain address. A
// prefix with host bits set is refused as a likely typo, and a prefix
// that covers every address would let any client forge X-Forwarded-For.
func parseTrustedProxy(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8, fd00::/8) or an IP address", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (10.0.0.0/8, fd00::/8) or an IP address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q trusts every address, so any client could forge X-Forwarded-For", s)
	}
	return p, nil
}
