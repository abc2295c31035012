package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// command is bin with args, killed if it runs longer than 30s: a command
// expected to fail at start-up must not hang the test when it serves.
func command(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return exec.CommandContext(ctx, bin, args...)
}

// lastLine runs cmd, wants exit code 1, and returns the last line it printed.
func lastLine(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("%v: exit = %v, want 1\n%s", cmd.Args, err, out)
	}
	last := strings.TrimSpace(string(out))
	return last[strings.LastIndex(last, "\n")+1:]
}

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
