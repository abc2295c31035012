package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/keys"
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
	Listen          string        `yaml:"listen"`
	MetricsListen   string        `yaml:"metrics_listen"`
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	TrustedProxies  []string      `yaml:"trusted_proxies"`
	TLS             TLSConfig     `yaml:"tls"`
}

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

// defaults is the configuration before any file or variable, as
// docs/configuration.md lists it.
func defaults() Config {
	return Config{
		Issuer: "http://localhost:8080",
		Server: ServerConfig{Listen: "127.0.0.1:8080", MaxBodyBytes: 64 << 10, ShutdownTimeout: 15 * time.Second, TrustedProxies: []string{}},
		Tokens: TokensConfig{
			AccessTTL: 15 * time.Minute, RefreshTTL: 168 * time.Hour, SessionMaxAge: 720 * time.Hour,
			ReuseGrace: 10 * time.Second, Leeway: 30 * time.Second, DefaultAudience: []string{"api"},
		},
		Keys: KeysConfig{
			Algorithm: "ES256", RotateEvery: 24 * time.Hour, PublishAhead: time.Hour, JWKSMaxAge: 15 * time.Minute,
			Store: "file", Dir: "./data/keys", EncryptionKeyEnv: "JWTD_KEY_ENCRYPTION_KEY",
		},
		Revocation: RevocationConfig{Store: "memory", FailMode: "closed"},
		Redis:      RedisConfig{Addrs: []string{"127.0.0.1:6379"}, PasswordEnv: "JWTD_REDIS_PASSWORD", KeyPrefix: "jwtd:"},
		Cookie:     CookieConfig{Name: "__Host-jwtd_refresh", SameSite: "Strict", Secure: true},
		CORS:       CORSConfig{AllowedOrigins: []string{}},
		RateLimits: defaultRateLimits(),
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

// loadConfig reads path (an empty or missing default file is fine when
// optional), applies the JWTD_* variables from environ, and validates.
// It returns the warnings worth logging (unknown JWTD_* variables).
func loadConfig(path string, optional bool, environ []string) (Config, []string, error) {
	cfg := defaults()
	var warnings []string
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decodeYAML(data, &cfg); err != nil {
			return Config{}, nil, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist) && optional:
		warnings = append(warnings, path+" not found: running on the built-in defaults, which have no clients")
	default:
		return Config{}, nil, fmt.Errorf("read config: %w", err)
	}
	envWarnings, err := applyEnv(&cfg, environ)
	warnings = append(warnings, envWarnings...)
	if err != nil {
		return Config{}, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, err
	}
	return cfg, warnings, nil
}

func decodeYAML(data []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return keyErr("config", "not valid YAML: %s", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", " "))
	}
	if len(doc.Content) == 0 {
		return nil // an empty file: all defaults
	}
	return decodeNode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var durationType = reflect.TypeOf(time.Duration(0))

// decodeNode sets v from n strictly: mappings must name fields, scalars must
// parse as the field's type.
func decodeNode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with no value keeps the default
	}
	if v.Kind() == reflect.Struct {
		if n.Kind != yaml.MappingNode {
			return keyErr(orRoot(path), "must be a mapping")
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			key := join(path, name)
			if seen[name] {
				return keyErr(key, "is set twice")
			}
			seen[name] = true
			f, ok := fieldByTag(v, name)
			if !ok {
				return keyErr(key, "unknown key")
			}
			if err := decodeNode(n.Content[i+1], f, key); err != nil {
				return err
			}
		}
		return nil
	}
	if v.Kind() == reflect.Slice {
		if n.Kind != yaml.SequenceNode {
			return keyErr(path, "must be a list")
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeNode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(out)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return keyErr(path, "must be a single value")
	}
	return setScalar(v, n.Value, path)
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("yaml") == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// setScalar parses s into v, naming key in any error.
func setScalar(v reflect.Value, s, key string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return keyErr(key, "%q is not a duration (use Go durations such as 15m or 168h)", s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int, v.Kind() == reflect.Int64:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return keyErr(key, "%q is not a whole number", s)
		}
		v.SetInt(i)
	case v.Kind() == reflect.Bool:
		switch s {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return keyErr(key, "%q is not true or false", s)
		}
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		if items == nil {
			items = []string{}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return keyErr(key, "cannot be set from a single value")
	}
	return nil
}

// envKeys maps every JWTD_* variable to its key path and field: one per
// scalar or string-list key (clients excluded). The names are generated
// from the known keys, so a key with an underscore in its name, such as
// tokens.access_ttl, maps unambiguously.
func envKeys(cfg *Config) map[string]struct {
	key string
	v   reflect.Value
} {
	out := map[string]struct {
		key string
		v   reflect.Value
	}{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name := t.Field(i).Tag.Get("yaml")
			key := join(path, name)
			f := v.Field(i)
			switch {
			case key == "clients":
			case f.Kind() == reflect.Struct:
				walk(f, key)
			default:
				env := "JWTD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
				out[env] = struct {
					key string
					v   reflect.Value
				}{key, f}
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	return out
}

// applyEnv applies JWTD_* variables. An unknown JWTD_* name is only a
// warning: Kubernetes, for one, injects JWTD_PORT and JWTD_SERVICE_HOST
// into every pod beside a Service named jwtd.
func applyEnv(cfg *Config, environ []string) ([]string, error) {
	known := envKeys(cfg)
	var unknown []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "JWTD_") {
			continue
		}
		if name == "JWTD_CLIENTS" || strings.HasPrefix(name, "JWTD_CLIENTS_") {
			return nil, keyErr(name, "clients can be set in the config file only")
		}
		k, ok := known[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if err := setScalar(k.v, value, name+" ("+k.key+")"); err != nil {
			return nil, err
		}
	}
	secrets := []string{cfg.Keys.EncryptionKeyEnv, cfg.Redis.PasswordEnv}
	var warnings []string
	sort.Strings(unknown)
	for _, name := range unknown {
		if !slices.Contains(secrets, name) {
			warnings = append(warnings, name+" is not a configuration key; ignored")
		}
	}
	return warnings, nil
}

var (
	clientIDPattern   = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
	cookieNamePattern = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
	envNamePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks every value; the first problem is returned as one line
// naming the key.
func (c *Config) Validate() error {
	if err := checkIssuer(c.Issuer); err != nil {
		return err
	}
	if err := checkHostPort("server.listen", c.Server.Listen, false); err != nil {
		return err
	}
	if err := checkHostPort("server.metrics_listen", c.Server.MetricsListen, true); err != nil {
		return err
	}
	if c.Server.MaxBodyBytes < 1024 || c.Server.MaxBodyBytes > 16<<20 {
		return keyErr("server.max_body_bytes", "%d is outside 1024..16777216", c.Server.MaxBodyBytes)
	}
	positive := []struct {
		key string
		d   time.Duration
	}{
		{"server.shutdown_timeout", c.Server.ShutdownTimeout},
		{"tokens.access_ttl", c.Tokens.AccessTTL},
		{"tokens.refresh_ttl", c.Tokens.RefreshTTL},
		{"tokens.session_max_age", c.Tokens.SessionMaxAge},
		{"keys.rotate_every", c.Keys.RotateEvery},
		{"keys.publish_ahead", c.Keys.PublishAhead},
		{"keys.jwks_max_age", c.Keys.JWKSMaxAge},
	}
	for _, p := range positive {
		if p.d < time.Second {
			return keyErr(p.key, "%s must be at least 1s", p.d)
		}
	}
	if c.Tokens.ReuseGrace < 0 || c.Tokens.ReuseGrace > time.Minute {
		return keyErr("tokens.reuse_grace", "%s is outside 0s..1m", c.Tokens.ReuseGrace)
	}
	if c.Tokens.Leeway < 0 || c.Tokens.Leeway > 5*time.Minute {
		return keyErr("tokens.leeway", "%s is outside 0s..5m", c.Tokens.Leeway)
	}
	if len(c.Tokens.DefaultAudience) == 0 {
		return keyErr("tokens.default_audience", "must name at least one audience")
	}
	for i, a := range c.Tokens.DefaultAudience {
		if strings.TrimSpace(a) == "" {
			return keyErr(fmt.Sprintf("tokens.default_audience[%d]", i), "is empty")
		}
	}
	if !slices.Contains(keys.Algorithms, c.Keys.Algorithm) {
		return keyErr("keys.algorithm", "%q is not one of %s", c.Keys.Algorithm, strings.Join(keys.Algorithms, ", "))
	}
	if c.Keys.JWKSMaxAge >= c.Keys.PublishAhead {
		return keyErr("keys.jwks_max_age", "%s is not shorter than keys.publish_ahead (%s)", c.Keys.JWKSMaxAge, c.Keys.PublishAhead)
	}
	if c.Keys.PublishAhead >= c.Keys.RotateEvery {
		return keyErr("keys.publish_ahead", "%s is not shorter than keys.rotate_every (%s)", c.Keys.PublishAhead, c.Keys.RotateEvery)
	}
	switch c.Keys.Store {
	case "file":
		if c.Keys.Dir == "" {
			return keyErr("keys.dir", "must be set for keys.store: file")
		}
	case "memory", "redis":
	default:
		return keyErr("keys.store", "%q is not one of file, redis, memory", c.Keys.Store)
	}
	if !envNamePattern.MatchString(c.Keys.EncryptionKeyEnv) {
		return keyErr("keys.encryption_key_env", "%q is not an environment variable name", c.Keys.EncryptionKeyEnv)
	}
	switch c.Revocation.Store {
	case "memory", "redis":
	default:
		return keyErr("revocation.store", "%q is not one of memory, redis", c.Revocation.Store)
	}
	if c.Revocation.FailMode != "closed" && c.Revocation.FailMode != "open" {
		return keyErr("revocation.fail_mode", "%q is not one of closed, open", c.Revocation.FailMode)
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if err := c.validateRedis(); err != nil {
		return err
	}
	if err := c.validateCookie(); err != nil {
		return err
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	for i, o := range c.CORS.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			return keyErr(fmt.Sprintf("cors.allowed_origins[%d]", i), "%v", err)
		}
	}
	return c.validateClients()
}

func checkIssuer(iss string) error {
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
