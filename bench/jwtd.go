package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The clients of the generated configuration: a confidential backend that
// opens sessions, introspects and takes client-credentials tokens, and the
// public app its sessions are for (which refreshes them).
const (
	backendID = "bench-backend"
	appID     = "bench-app"
)

// moduleRoot is the directory of the go.mod the benchmark belongs to.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the jwtd module (go env GOMOD is %q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

// buildJWTD builds cmd/jwtd from the tree into dir.
func buildJWTD(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "jwtd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jwtd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jwtd: %v\n%s", err, out)
	}
	return bin, nil
}

// newSecret returns a random client secret and its sha256: hash.
func newSecret() (secret, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	return secret, "sha256:" + hex.EncodeToString(sum[:])
}

// jwtdConfig is the configuration of one benchmarked jwtd: the shipped
// defaults, keys in keyDir, the given revocation store, no rate limits,
// the two clients, and the access log as docs/deployment.md recommends
// under load, sampled (every error, 1% of the rest);
// -env JWTD_SERVER_ACCESS_LOG=on measures a line per request.
func jwtdConfig(store, redisAddr, keyDir, secretHash string) string {
	return fmt.Sprintf(`issuer: http://127.0.0.1
server:
  listen: 127.0.0.1:0
  access_log: sampled
keys:
  algorithm: ES256
  store: file
  dir: %q
revocation:
  store: %s
redis:
  addrs: [%q]
  key_prefix: "bench:"
rate_limits:
  per_address: {rate: 0, burst: 0}
  per_client: {rate: 0, burst: 0}
  failed_auth: {rate: 0, burst: 0}
clients:
  - id: %s
    secret_hash: %q
    grants: [sessions, introspect, client_credentials]
    scopes: [read, write]
    audiences: [api]
  - id: %s
    grants: [refresh_token]
    scopes: [read, write]
    audiences: [api]
`, keyDir, store, redisAddr, backendID, secretHash, appID)
}

// jwtdServer is one running jwtd.
type jwtdServer struct {
	*process
	base  string // http://host:port
	pprof string // host:port of server.pprof_listen, when set
}

// startJWTD writes the configuration into dir, starts bin on the server
// CPU, and waits for its "listening" line. env adds JWTD_* variables.
func startJWTD(ctx context.Context, pin pinning, bin, dir, config string, env []string) (*jwtdServer, error) {
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	cmd := pin.command(bin, "serve", "--config", cfg)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JWTD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	log := &jwtdLog{listening: make(chan string, 1)}
	cmd.Stderr = log
	p, err := startProcess("jwtd", cmd)
	if err != nil {
		return nil, err
	}
	select {
	case addr := <-log.listening:
		log.scanMu.Lock()
		defer log.scanMu.Unlock()
		return &jwtdServer{process: p, base: "http://" + addr, pprof: log.pprof}, nil
	case <-p.done:
		_, werr := p.exited()
		return nil, fmt.Errorf("jwtd exited before listening: %v\n%s", werr, log.String())
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("jwtd did not listen within 30s:\n%s", log.String())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// jwtdLog is jwtd's stderr: it finds the "listening" line (and the
// "pprof listening" one before it), then keeps only the tail of the log
// (one access-log line per request).
type jwtdLog struct {
	tailBuffer
	scanMu    sync.Mutex
	partial   []byte
	found     bool
	pprof     string
	listening chan string
}

func (l *jwtdLog) Write(b []byte) (int, error) {
	_, _ = l.tailBuffer.Write(b)
	l.scanMu.Lock()
	defer l.scanMu.Unlock()
	if l.found {
		return len(b), nil
	}
	l.partial = append(l.partial, b...)
	for {
		line, rest, ok := bytes.Cut(l.partial, []byte("\n"))
		if !ok {
			break
		}
		l.partial = rest
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if strings.HasPrefix(rec.Msg, "pprof listening") {
			l.pprof = rec.Addr
		}
		if rec.Msg == "listening" {
			l.found, l.partial = true, nil
			l.listening <- rec.Addr
			break
		}
	}
	return len(b), nil
}

// mallocsFromMetrics reads go_memstats_mallocs_total from a Prometheus
// exposition.
func mallocsFromMetrics(ctx context.Context, url string) (uint64, error) {
	return mallocsFrom(ctx, url, parseMallocs)
}

// mallocsPlain reads a bare number (the floor process's GET /mallocs).
func mallocsPlain(ctx context.Context, url string) (uint64, error) {
	return mallocsFrom(ctx, url, func(r io.Reader) (uint64, error) {
		b, err := io.ReadAll(io.LimitReader(r, 64))
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	})
}

// mallocsFrom GETs url and reads the count from a 200 answer with parse.
func mallocsFrom(ctx context.Context, url string, parse func(io.Reader) (uint64, error)) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return parse(res.Body)
}

// parseMallocs finds go_memstats_mallocs_total in a Prometheus exposition.
func parseMallocs(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_mallocs_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("go_memstats_mallocs_total: %w", err)
			}
			return uint64(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no go_memstats_mallocs_total in the metrics")
}
