package main

import (
	"fmt"
	"time"
)

// Config is config.yaml. Field tags are the key names; the loader walks
// them, so an unknown key, a wrong type or a bad value is an error that
// names the key.
type Config struct {
	Issuer     string           `yaml:"issuer"`
	Server     ServerConfig     `yaml:"server"`
	Tokens     TokensConfig     `yaml:"tokens"`
	Keys       KeysConfig       `yaml:"keys"`
	Revocation RevocationConfig `yaml:"revocation"`
	Redis      RedisConfig      `yaml:"redis"`
	Cookie     CookieConfig     `yaml:"cookie"`
	CORS       CORSConfig       `yaml:"cors"`
	Clients    []ClientConfig   `yaml:"clients"`
	RateLimits RateLimitsConfig `yaml:"rate_limits"`
}

// ServerConfig is the server section.
type ServerConfig struct {
	Listen        string `yaml:"listen"`
	MetricsListen string `yaml:"metrics_listen"`
	// PprofListen serves net/http/pprof there (an internal address, for
	// profiles under load); empty: nowhere.
	PprofListen     string        `yaml:"pprof_listen"`
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	TrustedProxies  []string      `yaml:"trusted_proxies"`
	TLS             TLSConfig     `yaml:"tls"`
	// AccessLog is on (a line per request), off, or sampled: every
	// answer of status 400 or more, and AccessLogSample of the others.
	AccessLog       string  `yaml:"access_log"`
	AccessLogSample float64 `yaml:"access_log_sample"`
}

// TLSConfig is server.tls: the certificate chain and private key, PEM, that
// the main listener serves HTTPS with. Both or neither; empty means plain
// HTTP (behind a TLS-terminating proxy). jwtd re-reads the pair when the
// files change (see certReloader), so a renewal needs no restart.
// server.metrics_listen stays plain HTTP.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// enabled reports whether the main listener serves TLS.
func (c TLSConfig) enabled() bool { return c.CertFile != "" }

// TokensConfig is the tokens section.
type TokensConfig struct {
	AccessTTL       time.Duration `yaml:"access_ttl"`
	RefreshTTL      time.Duration `yaml:"refresh_ttl"`
	SessionMaxAge   time.Duration `yaml:"session_max_age"`
	ReuseGrace      time.Duration `yaml:"reuse_grace"`
	Leeway          time.Duration `yaml:"leeway"`
	DefaultAudience []string      `yaml:"default_audience"`
}

// KeysConfig is the keys section.
type KeysConfig struct {
	Algorithm        string        `yaml:"algorithm"`
	RotateEvery      time.Duration `yaml:"rotate_every"`
	PublishAhead     time.Duration `yaml:"publish_ahead"`
	JWKSMaxAge       time.Duration `yaml:"jwks_max_age"`
	Store            string        `yaml:"store"`
	Dir              string        `yaml:"dir"`
	EncryptionKeyEnv string        `yaml:"encryption_key_env"`
}

// RevocationConfig is the revocation section.
type RevocationConfig struct {
	Store    string `yaml:"store"`
	FailMode string `yaml:"fail_mode"`
	// MaxStaleness bounds how stale a replica's mirror of Redis may be
	// and still answer checks (store redis only).
	MaxStaleness time.Duration `yaml:"max_staleness"`
	// FeedHeartbeat is how often an idle /v1/revocations stream sends a
	// heartbeat.
	FeedHeartbeat time.Duration `yaml:"feed_heartbeat"`
}

// RedisConfig is the redis section.
type RedisConfig struct {
	Addrs       []string `yaml:"addrs"`
	MasterName  string   `yaml:"master_name"`
	Username    string   `yaml:"username"`
	PasswordEnv string   `yaml:"password_env"`
	DB          int      `yaml:"db"`
	TLS         bool     `yaml:"tls"`
	KeyPrefix   string   `yaml:"key_prefix"`
}

// CookieConfig is the cookie section.
type CookieConfig struct {
	Name     string `yaml:"name"`
	SameSite string `yaml:"same_site"`
	Secure   bool   `yaml:"secure"`
}

// CORSConfig is the cors section.
type CORSConfig struct {
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// ClientConfig is one entry of clients.
type ClientConfig struct {
	ID         string   `yaml:"id"`
	SecretHash string   `yaml:"secret_hash"`
	Grants     []string `yaml:"grants"`
	Scopes     []string `yaml:"scopes"`
	Audiences  []string `yaml:"audiences"`
}

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

// defaults is the configuration before any file or variable, as
// docs/configuration.md lists it.
func defaults() Config {
	return Config{
		Issuer: "http://localhost:8080",
		Server: ServerConfig{Listen: "127.0.0.1:8080", MaxBodyBytes: 64 << 10, ShutdownTimeout: 15 * time.Second, TrustedProxies: []string{},
			AccessLog: "on", AccessLogSample: 0.01},
		Tokens: TokensConfig{
			AccessTTL: 15 * time.Minute, RefreshTTL: 168 * time.Hour, SessionMaxAge: 720 * time.Hour,
			ReuseGrace: 10 * time.Second, Leeway: 30 * time.Second, DefaultAudience: []string{"api"},
		},
		Keys: KeysConfig{
			Algorithm: "ES256", RotateEvery: 24 * time.Hour, PublishAhead: time.Hour, JWKSMaxAge: 15 * time.Minute,
			Store: "file", Dir: "./data/keys", EncryptionKeyEnv: "JWTD_KEY_ENCRYPTION_KEY",
		},
		Revocation: RevocationConfig{Store: "memory", FailMode: "closed", MaxStaleness: 5 * time.Second, FeedHeartbeat: 5 * time.Second},
		Redis:      RedisConfig{Addrs: []string{"127.0.0.1:6379"}, PasswordEnv: "JWTD_REDIS_PASSWORD", KeyPrefix: "jwtd:"},
		Cookie:     CookieConfig{Name: "__Host-jwtd_refresh", SameSite: "Strict", Secure: true},
		CORS:       CORSConfig{AllowedOrigins: []string{}},
		RateLimits: defaultRateLimits(),
	}
}

// defaultMaxTrackedKeys is rate_limits.max_tracked_keys by default: the
// same bound as handlers.DefaultMaxKeys, kept here so that the schema does
// not import the HTTP layer (a test pins the two together).
const defaultMaxTrackedKeys = 100_000

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
		MaxTrackedKeys: defaultMaxTrackedKeys,
	}
}

// configError is a configuration problem: one line that names the key.
type configError struct {
	key, msg string
}

func (e *configError) Error() string { return e.key + ": " + e.msg }

func keyErr(key, format string, a ...any) error {
	return &configError{key: key, msg: fmt.Sprintf(format, a...)}
}

// masked returns a copy of c for printing: every secret_hash is masked.
// Secrets themselves are never in the Config, only the names of the
// variables that hold them.
func (c Config) masked() Config {
	out := c
	out.Clients = make([]ClientConfig, len(c.Clients))
	for i, cl := range c.Clients {
		if cl.SecretHash != "" {
			cl.SecretHash = "********"
		}
		out.Clients[i] = cl
	}
	return out
}
