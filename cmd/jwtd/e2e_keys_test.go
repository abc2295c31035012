package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryRefusesInsecureKeyDir: jwtd does not start on a key directory
// others can write or a key file others can read, and says which and how
// to fix it in one line.
func TestBinaryRefusesInsecureKeyDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	// A first run creates the keys, then stops.
	dir := shippedConfigDir(t)
	p := startJWTD(t, bin, dir)
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	keyDir := filepath.Join(dir, "data", "keys")
	files, _ := filepath.Glob(filepath.Join(keyDir, "*.jwk"))
	if len(files) == 0 {
		t.Fatalf("no key files in %s", keyDir)
	}
	tests := []struct {
		name string
		path string
		mode os.FileMode
		want string
	}{
		{"group-writable dir", keyDir, 0o770, "jwtd: keys.dir: " + keyDir + " is writable by group (mode 0770); chmod 700 " + keyDir},
		{"world-readable key file", files[0], 0o644, "jwtd: keys.dir: " + files[0] + " is open to group and other (mode 0644): a private key must be readable by its owner only; chmod 600 " + files[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tt.path, tt.mode); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(tt.path, st.Mode().Perm())
			cmd := command(t, bin, "serve")
			cmd.Dir, cmd.Env = dir, cleanEnv("JWTD_SERVER_LISTEN=127.0.0.1:0")
			if got := lastLine(t, cmd); got != tt.want {
				t.Fatalf("jwtd serve with %s: last line = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

// TestBinaryRefusesDevSecretInPublic: the shipped config.yaml, whose secret
// is in the README, does not serve on a non-loopback address (what the
// Docker image sets), and `config check` says so too. A --config that does
// not exist (a volume not mounted) is one line naming it.
func TestBinaryRefusesDevSecretInPublic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := shippedConfigDir(t)
	missing := filepath.Join(t.TempDir(), "etc", "config.yaml")
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"serve on 0.0.0.0", []string{"serve"}, "JWTD_SERVER_LISTEN=0.0.0.0:0",
			"jwtd: clients[0].secret_hash: is the development secret printed in the README, and server.listen 0.0.0.0:0 is not a loopback address; make a secret with `jwtd client secret`"},
		{"config check on [::]", []string{"config", "check"}, "JWTD_SERVER_LISTEN=[::]:8080",
			"jwtd: clients[0].secret_hash: is the development secret printed in the README, and server.listen [::]:8080 is not a loopback address; make a secret with `jwtd client secret`"},
		{"config not mounted", []string{"serve", "--config", missing}, "JWTD_SERVER_LISTEN=0.0.0.0:0",
			"jwtd: read config: open " + missing + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command(t, bin, tt.args...)
			cmd.Dir, cmd.Env = dir, cleanEnv(tt.env, "JWTD_KEYS_STORE=memory")
			if got := lastLine(t, cmd); got != tt.want {
				t.Fatalf("jwtd %v with %s: last line = %q, want %q", tt.args, tt.env, got, tt.want)
			}
		})
	}
}

// TestBinaryRevokeRefreshKey: `jwtd keys rotate --revoke-current --purpose
// refresh` retires a compromised refresh key: the refresh tokens it signed
// answer 400 invalid_grant, and access tokens keep working until they
// expire. Bad --purpose use is exit 2.
func TestBinaryRevokeRefreshKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := shippedConfigDir(t)
	for _, tt := range []struct{ name, want string }{
		{"--purpose=refresh", "jwtd: --purpose goes with --revoke-current only"},
		{"--purpose=both", "jwtd: --purpose must be access, refresh or all"},
	} {
		args := []string{"keys", "rotate", tt.name}
		if tt.name == "--purpose=both" {
			args = append(args, "--revoke-current")
		}
		cmd := command(t, bin, args...)
		cmd.Dir, cmd.Env = dir, cleanEnv()
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || strings.TrimSpace(string(out)) != tt.want {
			t.Fatalf("jwtd %v: %v %q, want exit 2 and %q", args, err, out, tt.want)
		}
	}

	p := startJWTD(t, bin, dir)
	tr := loginPair(t, p.base)
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
	cmd := command(t, bin, "keys", "rotate", "--revoke-current", "--purpose", "refresh")
	cmd.Dir, cmd.Env = dir, cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "revoked refresh key: ") || strings.Contains(string(out), "revoked access key") {
		t.Fatalf("jwtd keys rotate --revoke-current --purpose refresh: %v\n%s", err, out)
	}

	p = startJWTD(t, bin, dir)
	code, _, body := call(t, "POST", p.base+"/v1/refresh", "", `{"refresh_token":"`+tr.RefreshToken+`"}`)
	if code != 400 || string(body) != `{"error":"invalid_grant","error_description":"token signed by an unknown key"}`+"\n" {
		t.Fatalf("refresh with a token of the revoked key: %d %s, want 400 invalid_grant", code, body)
	}
	if code, _, body := call(t, "GET", p.base+"/v1/session", "Bearer "+tr.AccessToken, ""); code != 200 {
		t.Fatalf("access token after revoking the refresh key: %d %s, want 200", code, body)
	}
	refreshPair(t, p.base, loginPair(t, p.base).RefreshToken, 200)
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
