package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/handlers"
)

// RateLimitsConfig is the rate_limits section.
type RateLimitsConfig struct {
	PerAddress     RateConfig `yaml:"per_address"`
	PerClient      RateConfig `yaml:"per_client"`
	FailedAuth     RateConfig `yaml:"failed_auth"`
	MaxTrackedKeys int        `yaml:"max_tracked_keys"`
}

// RateConfig is one limit: rate events per second on average, burst at
// once. A rate of 0 disables the limit.
type RateConfig struct {
	Rate  int `yaml:"rate"`
	Burst int `yaml:"burst"`
}

// defaultRateLimits are limits a normal deployment never meets and a
// flood does at once:
//   - per_address 100/s (burst 200): one backend opens every user's
//     session from one address; at 100 logins a second sustained that is
//     8.6 million a day. Users behind one carrier-NAT address refresh
//     about once per access_ttl (15m): 100/s is 90000 active users there.
//   - per_client 200/s (burst 400): a confidential client over all its
//     addresses, for a backend that runs several instances.
//   - failed_auth 1/s (burst 10) per address: a typo or a rotated secret
//     costs a few failures; a guesser gets 86400 a day per address, which
//     is nothing against a 256-bit secret and slows a weak bcrypt one.
func defaultRateLimits() RateLimitsConfig {
	return RateLimitsConfig{
		PerAddress:     RateConfig{Rate: 100, Burst: 200},
		PerClient:      RateConfig{Rate: 200, Burst: 400},
		FailedAuth:     RateConfig{Rate: 1, Burst: 10},
		MaxTrackedKeys: handlers.DefaultMaxKeys,
	}
}

const maxRate = 1_000_000

func (c *Config) validateLimits() error {
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
	for i, p := range c.Server.TrustedProxies {
		if _, err := parseTrustedProxy(p); err != nil {
			return keyErr(fmt.Sprintf("server.trusted_proxies[%d]", i), "%v", err)
		}
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
