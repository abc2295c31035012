package main

import (
	"bufio"
	"bytes"
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/jwtd/jwtd/internal/freeport"
	"github.com/jwtd/jwtd/internal/redistest"
	"github.com/jwtd/jwtd/internal/testlog"
)

// devSecret is the development client's secret, as the README prints it.
const devSecret = "dev-only-secret-ngSTe24Hd277YHTzgFfpilg3g"

// binDir holds the jwtd binary the tests build, once per test run; TestMain
// removes it at the end.
var binDir string

// build is the one `go build` of a test run and its outcome.
var build struct {
	once sync.Once
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jwtd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds cmd/jwtd the way the Dockerfile does, once per test
// run: every test that runs the binary shares it, and a failed build fails
// each of them with the compiler's output.
func buildBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		bin := filepath.Join(binDir, "jwtd")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		build.bin = bin
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// process is a running child process of a test (jwtd, an example, the
// Node server): its output is kept (Logs), its exit arrives on done.
type process struct {
	cmd  *exec.Cmd
	base string
	logs testlog.Buffer
	done chan error
}

func (p *process) Write(b []byte) (int, error) { return p.logs.Write(b) }

func (p *process) Logs() string { return p.logs.String() }

func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JWTD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProcess starts cmd and waits until listen finds the base URL in a
// line of its stderr (fromStderr) or stdout; every line of both is kept.
// The process is killed when the test ends.
func startProcess(t testing.TB, what string, cmd *exec.Cmd, fromStderr bool, listen func(line string) (base string, ok bool)) *process {
	t.Helper()
	p := &process{cmd: cmd, done: make(chan error, 1)}
	var watched io.ReadCloser
	var err error
	if fromStderr {
		cmd.Stdout = p
		watched, err = cmd.StderrPipe()
	} else {
		cmd.Stderr = p
		watched, err = cmd.StdoutPipe()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(watched)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			_, _ = p.Write([]byte(sc.Text() + "\n"))
			if b, ok := listen(sc.Text()); ok {
				select {
				case base <- b:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.base = <-base:
	case err := <-p.done:
		t.Fatalf("%s exited before listening: %v\n%s", what, err, p.Logs())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%s did not start:\n%s", what, p.Logs())
	}
	return p
}

// startJWTD runs `jwtd serve` in dir on a free port and waits for its
// "listening" line.
func startJWTD(t testing.TB, bin, dir string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = cleanEnv(append([]string{"JWTD_SERVER_LISTEN=127.0.0.1:0"}, env...)...)
	return startProcess(t, "jwtd", cmd, true, func(line string) (string, bool) {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			return "http://" + rec.Addr, true
		}
		return "", false
	})
}

// stop sends SIGTERM and returns the exit error.
func (p *process) stop(t testing.TB) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("process did not stop after SIGTERM:\n%s", p.Logs())
		return nil
	}
}

func call(t testing.TB, method, url, authz, body string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(id, secret)
	return req.Header.Get("Authorization")
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

func shippedConfigDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitReady waits, bounded, until /readyz says 200: jwtd recovers by itself.
func waitReady(t testing.TB, p *process) {
	t.Helper()
	if err := redistest.Eventually(10*time.Second, func() error {
		if code, _, _ := call(t, "GET", p.base+"/readyz", "", ""); code != 200 {
			return fmt.Errorf("readyz %d", code)
		}
		return nil
	}); err != nil {
		t.Fatalf("jwtd did not become ready: %v", err)
	}
}

func loginPair(t testing.TB, base string) pair {
	t.Helper()
	code, _, body := call(t, "POST", base+"/v1/sessions", basicAuth("dev-backend", devSecret), `{"sub":"alice","client_id":"dev-app","scope":"read"}`)
	if code != 201 {
		t.Fatalf("POST /v1/sessions: %d %s", code, body)
	}
	var p pair
	_ = json.Unmarshal(body, &p)
	return p
}

func refreshPair(t *testing.T, base, rt string, want int) pair {
	t.Helper()
	code, _, body := call(t, "POST", base+"/v1/refresh", "", `{"refresh_token":"`+rt+`"}`)
	if code != want {
		t.Fatalf("POST /v1/refresh: %d %s, want %d", code, body, want)
	}
	var p pair
	_ = json.Unmarshal(body, &p)
	return p
}

// startAtIssuer runs jwtd on a port chosen first, so that its issuer (the
// base of discovery) is the address clients reach it at.
func startAtIssuer(t testing.TB, bin, dir string, env ...string) *process {
	t.Helper()
	port := freeLoopbackPort(t)
	return startJWTD(t, bin, dir, append([]string{"JWTD_SERVER_LISTEN=127.0.0.1:" + port, "JWTD_ISSUER=http://127.0.0.1:" + port}, env...)...)
}

func freeLoopbackPort(t testing.TB) string {
	t.Helper()
	return strconv.Itoa(freeport.Get(t, 0))
}

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

// callFrom is call with an X-Forwarded-For header, as a proxy sends it.
func callFrom(t *testing.T, xff, url, authz, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	req.Header.Set("Authorization", authz)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// codeLogin is the login backend of the browser tests: it opens a session
// for the user named in the JSON body (default alice) on dev-app with
// "delivery": "code" and the page's PKCE challenge, as dev-backend, and
// passes jwtd's answer (the handoff code) to the page.
func codeLogin(jwtdBase string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := struct{ User, Challenge string }{User: "alice"}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, _ := json.Marshal(map[string]string{"sub": in.User, "client_id": "dev-app", "scope": "read",
			"delivery": "code", "code_challenge": in.Challenge, "code_challenge_method": "S256"})
		req, _ := http.NewRequest("POST", jwtdBase+"/v1/sessions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("dev-backend", devSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	}
}

// configErrorCase is a configuration that must not load: the YAML file and
// the environment, and the key its one-line error must name.
type configErrorCase struct {
	name    string
	yaml    string
	env     []string
	wantKey string
}

// testConfigErrors loads each case and checks its error names the key, in
// one line.
func testConfigErrors(t *testing.T, tests []configErrorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadConfig(writeConfig(t, tt.yaml), false, tt.env)
			var ce *configError
			if !errors.As(err, &ce) || ce.key != tt.wantKey {
				t.Fatalf("loadConfig(%q, %v): err = %v, want an error naming %s", tt.yaml, tt.env, err, tt.wantKey)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("loadConfig(%q): error is not one line: %q", tt.yaml, err)
			}
		})
	}
}

// browserTest skips what (a test in headless Chromium) with -short or
// without Chromium, and returns Chromium's path, node and the directory of
// the Node dependencies.
func browserTest(t *testing.T, what string) (chromium, node, deps string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary and a browser")
	}
	chromium = chromiumPath()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("SKIPPED: Chromium not found at %s, so %s did not run; install it with `apt-get install -y chromium chromium-driver` (.ci/run does) or set JWTD_TEST_CHROMIUM", chromium, what)
	}
	node, deps = nodeDeps(t, what)
	return chromium, node, deps
}

// buildExample builds examples/<name> once per test binary run.
var examples sync.Map // name → *exampleBuild

type exampleBuild struct {
	once sync.Once
	bin  string
	err  error
}

func buildExample(t testing.TB, name string) string {
	t.Helper()
	v, _ := examples.LoadOrStore(name, &exampleBuild{})
	b := v.(*exampleBuild)
	b.once.Do(func() {
		b.bin = filepath.Join(binDir, name)
		out, err := exec.Command("go", "build", "-o", b.bin, "../../examples/"+name).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build examples/%s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// startResourceServer runs examples/resource-server against jwtd's
// issuer, as the dev-backend client (it holds the introspect grant), and
// waits for its "listening on <addr>" line.
func startResourceServer(t testing.TB, issuer string) *process {
	t.Helper()
	cmd := exec.Command(buildExample(t, "resource-server"))
	cmd.Env = cleanEnv("JWTD_URL="+issuer, "AUDIENCE=api", "CLIENT_ID=dev-backend", "CLIENT_SECRET="+devSecret, "ADDR=127.0.0.1:0")
	return startProcess(t, "resource server", cmd, false, func(line string) (string, bool) {
		a, ok := strings.CutPrefix(line, "listening on ")
		return "http://" + a, ok
	})
}
