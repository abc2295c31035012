package main

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/handlers"
)

func TestLimitsConfigErrors(t *testing.T) {
	tests := []configErrorCase{
		{"negative rate", "rate_limits:\n  per_address: {rate: -1, burst: 1}\n", nil, "rate_limits.per_address.rate"},
		{"fractional rate", "rate_limits:\n  failed_auth: {rate: 0.5, burst: 1}\n", nil, "rate_limits.failed_auth.rate"},
		{"rate without burst", "rate_limits:\n  per_client: {rate: 5, burst: 0}\n", nil, "rate_limits.per_client.burst"},
		{"huge burst", "rate_limits:\n  per_client: {rate: 5, burst: 2000000}\n", nil, "rate_limits.per_client.burst"},
		{"unknown limit key", "rate_limits:\n  per_user: {rate: 5, burst: 5}\n", nil, "rate_limits.per_user"},
		{"too few tracked keys", "rate_limits:\n  max_tracked_keys: 10\n", nil, "rate_limits.max_tracked_keys"},
		{"proxy not an address", "server:\n  trusted_proxies: [proxy.internal]\n", nil, "server.trusted_proxies[0]"},
		{"proxy bad prefix length", "server:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n", nil, "server.trusted_proxies[1]"},
		{"proxy host bits set", "server:\n  trusted_proxies: [10.1.2.3/16]\n", nil, "server.trusted_proxies[0]"},
		{"proxy trusts everyone", "server:\n  trusted_proxies: [0.0.0.0/0]\n", nil, "server.trusted_proxies[0]"},
		{"proxy trusts every IPv6", "server:\n  trusted_proxies: [\"::/0\"]\n", nil, "server.trusted_proxies[0]"},
		{"proxy with zone", "server:\n  trusted_proxies: [\"fe80::1%eth0\"]\n", nil, "server.trusted_proxies[0]"},
		{"env bad rate", "", []string{"JWTD_RATE_LIMITS_PER_ADDRESS_RATE=fast"}, "JWTD_RATE_LIMITS_PER_ADDRESS_RATE (rate_limits.per_address.rate)"},
		{"env burst zero", "", []string{"JWTD_RATE_LIMITS_FAILED_AUTH_BURST=0"}, "rate_limits.failed_auth.burst"},
		{"env bad proxy", "", []string{"JWTD_SERVER_TRUSTED_PROXIES=10.0.0.0/8,nope"}, "server.trusted_proxies[1]"},
	}
	testConfigErrors(t, tests)
}

func TestLimitsConfig(t *testing.T) {
	cfg, warnings, err := loadConfig(writeConfig(t, goodClient+"server:\n  trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\", \"::ffff:10.1.0.0/112\"]\n"), false, []string{
		"JWTD_RATE_LIMITS_PER_ADDRESS_RATE=0",
		"JWTD_RATE_LIMITS_PER_CLIENT_BURST=50",
		"JWTD_RATE_LIMITS_FAILED_AUTH_RATE=3",
		"JWTD_RATE_LIMITS_MAX_TRACKED_KEYS=5000",
	})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("loadConfig: %v, warnings %q", err, warnings)
	}
	got := rateLimits(cfg, nil)
	want := handlers.RateLimits{
		PerAddress: handlers.RateLimit{Rate: 0, Burst: 200},
		PerClient:  handlers.RateLimit{Rate: 200, Burst: 50},
		FailedAuth: handlers.RateLimit{Rate: 3, Burst: 10},
		MaxKeys:    5000,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rateLimits(memory store) = %+v, want %+v", got, want)
	}
	wantProxies := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("10.1.0.0/16"),
	}
	if p := trustedProxies(cfg); !slices.Equal(p, wantProxies) {
		t.Fatalf("trustedProxies = %v, want %v", p, wantProxies)
	}

	cfg.Revocation.Store = "redis"
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	got = rateLimits(cfg, func() redis.UniversalClient { return client })
	if got.Redis != client || got.RedisPrefix != cfg.Redis.KeyPrefix {
		t.Fatalf("rateLimits(redis store): Redis %v prefix %q, want the shared client and %q", got.Redis, got.RedisPrefix, cfg.Redis.KeyPrefix)
	}
}

func TestShippedLimits(t *testing.T) {
	cfg, _, err := loadConfig("../../config.yaml", false, nil)
	if err != nil {
		t.Fatalf("shipped config.yaml: %v", err)
	}
	if want := defaults(); cfg.RateLimits != want.RateLimits || !slices.Equal(cfg.Server.TrustedProxies, want.Server.TrustedProxies) {
		t.Fatalf("shipped config.yaml: rate_limits %+v, trusted_proxies %q; defaults %+v, %q",
			cfg.RateLimits, cfg.Server.TrustedProxies, want.RateLimits, want.Server.TrustedProxies)
	}
}

// TestDefaultMaxTrackedKeys: config keeps its own copy of the handlers'
// bound, so that the schema does not import the HTTP layer; the two must
// not drift apart.
func TestDefaultMaxTrackedKeys(t *testing.T) {
	if got, want := defaults().RateLimits.MaxTrackedKeys, handlers.DefaultMaxKeys; got != want {
		t.Fatalf("defaults().RateLimits.MaxTrackedKeys: got %d, want handlers.DefaultMaxKeys %d", got, want)
	}
}

// FuzzTrustedProxy: no entry panics the parser, and every accepted one is
// a masked prefix narrower than the whole address space.
func FuzzTrustedProxy(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:10.1.0.0/112", "0.0.0.0/0", "10.1.2.3/16", "fe80::1%eth0", "", "/", "1.2.3.4/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseTrustedProxy(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("parseTrustedProxy(%q): error is not one line: %q", s, err)
			}
			return
		}
		if !p.IsValid() || p.Bits() == 0 || p.Masked() != p || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("parseTrustedProxy(%q) = %v, want a masked, unmapped, zone-free prefix narrower than /0", s, p)
		}
	})
}
