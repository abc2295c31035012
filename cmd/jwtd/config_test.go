package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jwtd/jwtd/handlers"
)

const goodClient = `clients:
  - id: be
    secret_hash: "sha256:b830d44f1f92e88d7ba70c8b2ee0a9a6ce02f7f2fa270523026d822077e1cf40"
    grants: [sessions]
`

func TestConfigErrors(t *testing.T) {
	tests := []configErrorCase{
		{"unknown top key", "issuer: http://a\nfoo: 1\n", nil, "foo"},
		{"unknown nested key", "tokens:\n  acess_ttl: 5m\n", nil, "tokens.acess_ttl"},
		{"key set twice", "tokens:\n  leeway: 1s\n  leeway: 2s\n", nil, "tokens.leeway"},
		{"bad duration", "tokens:\n  access_ttl: fifteen\n", nil, "tokens.access_ttl"},
		{"duration as number", "tokens:\n  access_ttl: 900\n", nil, "tokens.access_ttl"},
		{"zero duration", "tokens:\n  access_ttl: 0s\n", nil, "tokens.access_ttl"},
		{"negative grace", "tokens:\n  reuse_grace: -1s\n", nil, "tokens.reuse_grace"},
		{"bad int", "server:\n  max_body_bytes: lots\n", nil, "server.max_body_bytes"},
		{"bad bool", "cookie:\n  secure: yes\n", nil, "cookie.secure"},
		{"list as scalar", "tokens:\n  default_audience: api\n", nil, "tokens.default_audience"},
		{"mapping as scalar", "server: 8080\n", nil, "server"},
		{"bad algorithm", "keys:\n  algorithm: HS256\n", nil, "keys.algorithm"},
		{"bad key store", "keys:\n  store: s3\n", nil, "keys.store"},
		{"bad revocation store", "revocation:\n  store: postgres\n", nil, "revocation.store"},
		{"bad redis addr", "revocation:\n  store: redis\nredis:\n  addrs: [\"localhost\"]\n", nil, "redis.addrs[0]"},
		{"cluster with db", "redis:\n  addrs: [a:1, b:2]\n  db: 3\n", nil, "redis.db"},
		{"bad pprof listen", "server:\n  pprof_listen: localhost\n", nil, "server.pprof_listen"},
		{"bad fail mode", "revocation:\n  fail_mode: maybe\n", nil, "revocation.fail_mode"},
		{"mirror staleness too short", "revocation:\n  max_staleness: 500ms\n", nil, "revocation.max_staleness"},
		{"mirror staleness too long", "revocation:\n  max_staleness: 1h\n", nil, "revocation.max_staleness"},
		{"feed heartbeat zero", "revocation:\n  feed_heartbeat: 0s\n", nil, "revocation.feed_heartbeat"},
		{"feed heartbeat from env", "", []string{"JWTD_REVOCATION_FEED_HEARTBEAT=5m"}, "revocation.feed_heartbeat"},
		{"bad same_site", "cookie:\n  same_site: strict\n", nil, "cookie.same_site"},
		{"host cookie over http", "cookie:\n  secure: false\n", nil, "cookie.secure"},
		{"jwks_max_age not shorter", "keys:\n  jwks_max_age: 1h\n  publish_ahead: 1h\n", nil, "keys.jwks_max_age"},
		{"publish_ahead not shorter", "keys:\n  publish_ahead: 24h\n  jwks_max_age: 1m\n", nil, "keys.publish_ahead"},
		{"relative issuer", "issuer: auth.example\n", nil, "issuer"},
		{"issuer with query", "issuer: https://a.example/?x=1\n", nil, "issuer"},
		{"issuer ftp", "issuer: ftp://a.example\n", nil, "issuer"},
		{"issuer trailing slash", "issuer: https://a.example/\n", nil, "issuer"},
		{"bad listen", "server:\n  listen: localhost\n", nil, "server.listen"},
		{"bad access log", "server:\n  access_log: verbose\n", nil, "server.access_log"},
		{"access log as bool", "server:\n  access_log: false\n", nil, "server.access_log"},
		{"access log from env", "", []string{"JWTD_SERVER_ACCESS_LOG=ON"}, "server.access_log"},
		{"sample not a number", "server:\n  access_log_sample: often\n", nil, "server.access_log_sample"},
		{"sample above 1", "server:\n  access_log: sampled\n  access_log_sample: 1.5\n", nil, "server.access_log_sample"},
		{"sample negative", "server:\n  access_log_sample: -0.1\n", nil, "server.access_log_sample"},
		{"sample NaN from env", "", []string{"JWTD_SERVER_ACCESS_LOG_SAMPLE=NaN"}, "server.access_log_sample"},
		{"sample infinite from env", "", []string{"JWTD_SERVER_ACCESS_LOG_SAMPLE=+Inf"}, "server.access_log_sample"},
		{"bad origin", "cors:\n  allowed_origins: [\"https://a.example/path\"]\n", nil, "cors.allowed_origins[0]"},
		{"wildcard origin", "cors:\n  allowed_origins: [\"*\"]\n", nil, "cors.allowed_origins[0]"},
		{"wildcard subdomain origin", "cors:\n  allowed_origins: [\"https://ok.example\", \"https://*.example.com\"]\n", nil, "cors.allowed_origins[1]"},
		{"unknown grant", goodClient + "  - id: x\n    secret_hash: \"sha256:b830d44f1f92e88d7ba70c8b2ee0a9a6ce02f7f2fa270523026d822077e1cf40\"\n    grants: [password]\n", nil, "clients[1].grants[0]"},
		{"public client with sessions", "clients:\n  - id: app\n    grants: [sessions]\n", nil, "clients[0].grants[0]"},
		{"bad secret hash", "clients:\n  - id: be\n    secret_hash: \"sha256:ABC\"\n    grants: [sessions]\n", nil, "clients[0].secret_hash"},
		{"weak bcrypt", goodClient + "  - id: x\n    secret_hash: \"$2a$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\"\n    grants: [sessions]\n", nil, "clients[1].secret_hash"},
		{"costly argon2id", "clients:\n  - id: be\n    secret_hash: \"$argon2id$v=19$m=2097152,t=1,p=4$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5\"\n    grants: [sessions]\n", nil, "clients[0].secret_hash"},
		{"duplicate client", goodClient + "  - id: be\n    grants: [refresh_token]\n", nil, "clients[1].id"},
		{"client unknown key", "clients:\n  - id: be\n    secret: x\n    grants: [refresh_token]\n", nil, "clients[0].secret"},
		{"bad scope", "clients:\n  - id: app\n    grants: [refresh_token]\n    scopes: [\"a b\"]\n", nil, "clients[0].scopes[0]"},
		{"not yaml", "issuer: [unclosed\n", nil, "config"},
		{"env bad duration", "", []string{"JWTD_TOKENS_ACCESS_TTL=soon"}, "JWTD_TOKENS_ACCESS_TTL (tokens.access_ttl)"},
		{"env clients", "", []string{"JWTD_CLIENTS=x"}, "JWTD_CLIENTS"},
		{"env bad enum", "", []string{"JWTD_KEYS_ALGORITHM=none"}, "keys.algorithm"},
	}
	testConfigErrors(t, tests)
}

func TestConfigEnv(t *testing.T) {
	cfg, warnings, err := loadConfig(writeConfig(t, goodClient), false, []string{
		"JWTD_TOKENS_ACCESS_TTL=5m",
		"JWTD_REDIS_ADDRS=a:6379, b:6379,c:6379",
		"JWTD_COOKIE_SECURE=true",
		"JWTD_SERVER_MAX_BODY_BYTES=2048",
		"JWTD_SERVER_ACCESS_LOG=sampled",
		"JWTD_SERVER_ACCESS_LOG_SAMPLE=0.25",
		"JWTD_KEYS_ENCRYPTION_KEY_ENV=MY_KEK",
		"JWTD_REDIS_PASSWORD=secret",
		"JWTD_PORT=tcp://10.0.0.1:8080",
		"PATH=/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tokens.AccessTTL != 5*time.Minute || strings.Join(cfg.Redis.Addrs, "|") != "a:6379|b:6379|c:6379" ||
		cfg.Server.MaxBodyBytes != 2048 || cfg.Keys.EncryptionKeyEnv != "MY_KEK" ||
		cfg.Server.AccessLog != "sampled" || cfg.Server.AccessLogSample != 0.25 {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "JWTD_PORT ") {
		t.Fatalf("warnings = %q, want one for JWTD_PORT and none for the secret JWTD_REDIS_PASSWORD", warnings)
	}
	if cfg.Clients[0].ID != "be" || cfg.Tokens.RefreshTTL != 168*time.Hour {
		t.Fatalf("file values and defaults lost: %+v", cfg)
	}
}

// TestAccessLogOption: server.access_log and access_log_sample reach
// handlers.Options as the mode they name.
func TestAccessLogOption(t *testing.T) {
	tests := []struct {
		yaml string
		want handlers.AccessLog
	}{
		{"", handlers.AccessLog{Mode: handlers.AccessLogOn, Sample: 0.01}},
		{"server:\n  access_log: on\n", handlers.AccessLog{Mode: handlers.AccessLogOn, Sample: 0.01}},
		{"server:\n  access_log: off\n", handlers.AccessLog{Mode: handlers.AccessLogOff, Sample: 0.01}},
		{"server:\n  access_log: sampled\n  access_log_sample: 0\n", handlers.AccessLog{Mode: handlers.AccessLogSampled, Sample: 0}},
		{"server:\n  access_log: sampled\n  access_log_sample: 1\n", handlers.AccessLog{Mode: handlers.AccessLogSampled, Sample: 1}},
	}
	for _, tt := range tests {
		cfg, _, err := loadConfig(writeConfig(t, tt.yaml), false, nil)
		if err != nil {
			t.Fatalf("loadConfig(%q): %v", tt.yaml, err)
		}
		if got := accessLog(cfg); got != tt.want {
			t.Errorf("accessLog(%q) = %+v, want %+v", tt.yaml, got, tt.want)
		}
	}
}

func TestMissingDefaultConfig(t *testing.T) {
	cfg, warnings, err := loadConfig(filepath.Join(t.TempDir(), "config.yaml"), true, nil)
	if err != nil || len(cfg.Clients) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "built-in defaults") {
		t.Fatalf("missing default config: %v, %q", err, warnings)
	}
	if _, _, err := loadConfig(filepath.Join(t.TempDir(), "config.yaml"), false, nil); err == nil {
		t.Fatal("a missing --config file was accepted")
	}
}

func TestShippedConfig(t *testing.T) {
	cfg, _, err := loadConfig("../../config.yaml", false, nil)
	if err != nil {
		t.Fatalf("shipped config.yaml: %v", err)
	}
	want := defaults()
	if !reflect.DeepEqual(cfg.Tokens, want.Tokens) || cfg.Keys != want.Keys || !reflect.DeepEqual(cfg.Server, want.Server) || cfg.Issuer != want.Issuer {
		t.Fatalf("shipped config.yaml drifted from the built-in defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if len(cfg.Clients) == 0 || cfg.Clients[0].SecretHash != devSecretHash {
		t.Fatalf("shipped config.yaml lacks the development client")
	}
}

func TestConfigCheck(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"config", "check", "--config", "../../config.yaml"}, strings.NewReader(""), &out, &errOut, nil)
	if err != nil {
		t.Fatalf("config check: %v", err)
	}
	if strings.Contains(out.String(), "b830d44f") || !strings.Contains(out.String(), `secret_hash: '********'`) {
		t.Fatalf("config check does not mask secret_hash:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "access_ttl: 15m\n") {
		t.Fatalf("config check prints durations oddly:\n%s", out.String())
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"bogus"}, 2},
		{[]string{"config"}, 2},
		{[]string{"config", "nope"}, 2},
		{[]string{"serve", "--no-such-flag"}, 2},
		{[]string{"token", "inspect", "a", "b"}, 2},
		{[]string{"config", "check", "--config", "/nonexistent/config.yaml"}, 1},
		{[]string{"token", "inspect", "not-a-token"}, 1},
		{[]string{"client", "secret"}, 0},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, strings.NewReader(""), &out, &errOut, nil)
		var stderr bytes.Buffer
		if got := exitCode(err, &stderr); got != tt.want {
			t.Errorf("jwtd %v: exit %d (%v), want %d", tt.args, got, err, tt.want)
		}
		if tt.want != 0 && strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("jwtd %v: stderr %q is not one line", tt.args, stderr.String())
		}
	}
}

func TestClientSecret(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"client", "secret"}, nil, &out, &out, nil); err != nil {
		t.Fatal(err)
	}
	var secret, hash string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "secret:"); ok {
			secret = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "secret_hash:"); ok {
			hash = strings.TrimSpace(v)
		}
	}
	if len(secret) < 43 {
		t.Fatalf("secret %q is shorter than 256 bits of base64url", secret)
	}
	cfg := "clients:\n  - id: x\n    secret_hash: \"" + hash + "\"\n    grants: [sessions]\n"
	if _, _, err := loadConfig(writeConfig(t, cfg), false, nil); err != nil {
		t.Fatalf("printed hash %q is not accepted: %v", hash, err)
	}
}

// FuzzConfig: no file content panics the loader, and every refusal is a
// configError that names a key on one line.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{"", "issuer: http://a\n", goodClient, "tokens:\n  access_ttl: 5m\n", "keys: [1, 2]\n", "a: &x 1\nb: *x\n", "clients:\n  - ~\n"} {
		f.Add(s, "JWTD_TOKENS_LEEWAY=1s")
	}
	f.Fuzz(func(t *testing.T, body, env string) {
		cfg := defaults()
		err := decodeYAML([]byte(body), &cfg)
		if err == nil {
			_, err = applyEnv(&cfg, []string{env})
		}
		if err == nil {
			err = cfg.Validate()
		}
		var ce *configError
		if err != nil && (!errors.As(err, &ce) || strings.Contains(err.Error(), "\n")) {
			t.Fatalf("config %q, env %q: err = %q, want a one-line configError", body, env, err)
		}
	})
}
