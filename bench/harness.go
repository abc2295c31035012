package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// options are the benchmark's flags.
type options struct {
	rounds    int
	duration  time.Duration // of each step: saturation, then latency
	slices    int           // each step is cut into, the rows taking turns
	workers   int           // closed-loop workers
	endpoints []string      // keys of endpointKeys
	stores    []string      // memory, redis
	pin       bool
	crypto    bool     // the raw signature table
	env       []string // JWTD_* variables for both jwtd processes
	// profileDir, when set, receives a CPU profile of every jwtd row,
	// each recorded for profileSeconds (see profileRow).
	profileDir     string
	profileSeconds int
	stallProbe     time.Duration // 0: no stall probe
	progress       io.Writer
}

// The endpoints, by the key -endpoints takes, in the order of each round.
var endpointKeys = []string{"jwks", "session", "introspect", "login", "token", "refresh"}

var storeKeys = []string{"memory", "redis"}

// endpoint is one jwtd endpoint and the rows measured for it.
type endpoint struct {
	key, label string
	rows       []*row
}

// row is one server measured for an endpoint: a floor, or jwtd on a store.
type row struct {
	server string
	floor  *row          // the floor this row is a ratio of; nil for a floor
	jwtd   *jwtdInstance // the jwtd measured; nil for a floor
	procs  []*process    // whose CPU time is the server's
	// mallocs reads the server's allocation count.
	mallocs func(context.Context) (uint64, error)
	// targeter builds the requests of one step; n is how many the step
	// may send (a pool of refresh tokens is minted for exactly that).
	targeter func(ctx context.Context, n int) (vegeta.Targeter, error)
	// estimate is a rate the row's saturation should stay under, times
	// poolHeadroom, for sizing pools; nil for rows without a pool.
	estimate func() float64
	steps    []measurement // one per round
}

// measurement is one round of one row.
type measurement struct {
	rate     float64       // saturation, successful requests per second
	requests uint64        // saturation requests
	cpu      time.Duration // server CPU during saturation; <0 unknown
	genCPU   time.Duration // the load generator's (this process's) CPU then
	wall     time.Duration // of the saturation step
	allocs   float64       // per request during saturation; <0 unknown
	halfRate int           // the open-loop rate of the latency step
	p50, p99 time.Duration // at halfRate
	p999     time.Duration
	notes    []string // failures, exhausted pools, a generator behind
	// stolen is the share of the two steps' time that the hypervisor took
	// from the most robbed CPU of each slice (steal in /proc/stat); <0
	// unknown.
	stolen float64
}

// A slice whose most robbed CPU lost more than maxSliceStolen of its
// time to steal is measured again, up to stealRetries times: it measured
// the host's other tenants as much as the server. A row whose slices lost
// more than maxStolen of their time in all carries a note. (Steal is
// counted in 10 ms ticks: on a slice of 0.5 s one tick is 2% already.)
const (
	maxSliceStolen = 0.10
	maxStolen      = 0.02
	stealRetries   = 2
)

// stealShare is the largest share of wall that any CPU lost to steal
// between s0 and s1, or -1 when unknown.
func stealShare(s0, s1 map[string]time.Duration, wall time.Duration) float64 {
	if s0 == nil || s1 == nil || wall <= 0 {
		return -1
	}
	worst := 0.0
	for cpu, t1 := range s1 {
		if t0, ok := s0[cpu]; ok {
			worst = max(worst, (t1-t0).Seconds()/wall.Seconds())
		}
	}
	return worst
}

// busy is the server CPU time per wall time at saturation (1 is a core).
func (m measurement) busy() float64 {
	if m.cpu < 0 || m.wall <= 0 {
		return -1
	}
	return m.cpu.Seconds() / m.wall.Seconds()
}

// genBusy is the load generator's CPU time per wall time at saturation.
func (m measurement) genBusy() float64 {
	if m.genCPU < 0 || m.wall <= 0 {
		return -1
	}
	return m.genCPU.Seconds() / m.wall.Seconds()
}

// cpuPerRequest is the server CPU time per request at saturation.
func (m measurement) cpuPerRequest() time.Duration {
	if m.cpu < 0 || m.requests == 0 {
		return -1
	}
	return m.cpu / time.Duration(m.requests)
}

// report is everything one run measured.
type report struct {
	conditions []string
	endpoints  []*endpoint
	crypto     []cryptoResult
	rounds     int
	profiles   []profileSummary // with -profile
	profileSec int
	stalls     *stalls // the server CPU's, before the rounds
}

// bench is the state of one run: the servers and how to reach them.
type bench struct {
	o      options
	pin    pinning
	tmp    string
	procs  []*process
	floors floorHello
	jwtds  map[string]*jwtdInstance
}

// jwtdInstance is one jwtd and what the requests to it need.
type jwtdInstance struct {
	store  string
	srv    *jwtdServer
	secret string // of backendID
	access string // an access token of this round
	login  *row   // its login row, whose rate sizes refresh pools
}

func (b *bench) progressf(format string, a ...any) {
	if b.o.progress != nil {
		fmt.Fprintf(b.o.progress, format+"\n", a...)
	}
}

// runBench runs the whole benchmark and returns what it measured.
func runBench(ctx context.Context, o options) (rep *report, err error) {
	b := &bench{o: o, jwtds: map[string]*jwtdInstance{}}
	defer func() {
		for i := len(b.procs) - 1; i >= 0; i-- {
			b.procs[i].stop()
		}
	}()
	rep = &report{rounds: o.rounds, profileSec: o.profileSeconds}
	var how string
	b.pin, how = choosePinning(o.pin)
	if err := b.pin.pinSelf(); err != nil {
		return nil, err
	}
	if b.tmp, err = os.MkdirTemp("", "jwtd-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)
	rep.conditions = conditions(ctx, o, how)

	if o.crypto {
		b.progressf("raw signatures (testing.Benchmark)")
		rep.crypto = rawCrypto()
	}
	b.progressf("building jwtd")
	bin, err := buildJWTD(ctx, b.tmp)
	if err != nil {
		return nil, err
	}
	var redisAddr string
	var redisProc []*process // the redis-server, whose CPU counts for the rows that use it
	if slices.Contains(o.stores, "redis") {
		dir := filepath.Join(b.tmp, "redis")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		p, addr, err := startRedis(ctx, b.pin, dir)
		if err != nil {
			return nil, err
		}
		b.procs = append(b.procs, p)
		redisAddr, redisProc = addr, []*process{p}
		if o.crypto {
			rep.crypto = append(rep.crypto, redisRTT(ctx, addr))
		}
	}
	floorProc, err := b.startFloors(ctx, redisAddr)
	if err != nil {
		return nil, err
	}
	for _, store := range o.stores {
		if err := b.startJWTD(ctx, bin, store, redisAddr); err != nil {
			return nil, err
		}
	}
	rep.endpoints = b.endpoints(floorProc, redisProc)
	if o.stallProbe > 0 {
		b.progressf("stall probe: a busy loop on the server CPU for %v, every server idle", o.stallProbe)
		s, err := b.probeServerCPU(o.stallProbe)
		if err != nil {
			return nil, err
		}
		rep.stalls = &s
	}

	for round := 1; round <= o.rounds; round++ {
		for _, j := range b.jwtds {
			if j.access, err = b.accessToken(ctx, j); err != nil {
				return nil, err
			}
		}
		for _, ep := range rep.endpoints {
			got, err := b.measureEndpoint(ctx, ep)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s on %w", round, ep.label, err)
			}
			for i, r := range ep.rows {
				m := got[i]
				r.steps = append(r.steps, m)
				b.progressf("round %d/%d  %-38s %-34s %7.0f req/s (busy: server %4s, generator %4s; stolen %4s)  p99 %7.2f ms at %d/s%s",
					round, o.rounds, ep.label, r.server, m.rate, percent(m.busy()), percent(m.genBusy()), percent(m.stolen), ms(m.p99), m.halfRate, noteMark(m.notes))
				for _, n := range m.notes {
					b.progressf("    %s", n)
				}
			}
		}
	}
	if o.profileDir != "" {
		for _, ep := range rep.endpoints {
			for _, r := range ep.rows {
				if r.jwtd == nil {
					continue
				}
				s := b.profileRow(ctx, ep, r)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				rep.profiles = append(rep.profiles, s)
				if s.err != nil {
					b.progressf("profile %-36s %-12s failed: %v", ep.label, r.server, s.err)
					continue
				}
				b.progressf("profile %-36s %-12s %7.0f req/s, %d samples: %s", ep.label, r.server, s.rate, s.samples, s.file)
			}
		}
	}
	return rep, nil
}

func noteMark(notes []string) string {
	if len(notes) > 0 {
		return "  (!)"
	}
	return ""
}

// startFloors re-executes this binary as the floor process, on the server
// CPU, and reads its hello line.
func (b *bench) startFloors(ctx context.Context, redisAddr string) (*process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := b.pin.command(exe)
	cmd.Env = append(os.Environ(), floorEnv+"="+redisAddr)
	if _, err := cmd.StdinPipe(); err != nil { // held open until the benchmark ends
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := startProcess("floors", cmd)
	if err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	hello := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &b.floors)
		}
		hello <- err
	}()
	select {
	case err := <-hello:
		if err != nil {
			return nil, fmt.Errorf("floor process: %v\n%s", err, p.tail.String())
		}
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("floor process did not start:\n%s", p.tail.String())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return p, nil
}

// startJWTD starts jwtd on one store and waits until it is ready.
func (b *bench) startJWTD(ctx context.Context, bin, store, redisAddr string) error {
	dir := filepath.Join(b.tmp, "jwtd-"+store)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	secret, hash := newSecret()
	addr := redisAddr
	if addr == "" {
		addr = "127.0.0.1:1" // unused by the memory store
	}
	b.progressf("starting jwtd (%s store)", store)
	var env []string
	if b.o.profileDir != "" { // first, so that an -env of the same name wins
		env = append(env, "JWTD_SERVER_PPROF_LISTEN=127.0.0.1:0")
	}
	env = append(env, b.o.env...)
	srv, err := startJWTD(ctx, b.pin, bin, dir, jwtdConfig(store, addr, filepath.Join(dir, "keys"), hash), env)
	if err != nil {
		return fmt.Errorf("jwtd on %s: %w", store, err)
	}
	b.procs = append(b.procs, srv.process)
	err = eventually(ctx, 20*time.Second, func() error {
		code, body, err := do(ctx, http.MethodGet, srv.base+"/readyz", "", "", "")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET /readyz: %d %s", code, body)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("jwtd on %s not ready: %w\n%s", store, err, srv.tail.String())
	}
	b.jwtds[store] = &jwtdInstance{store: store, srv: srv, secret: secret}
	return nil
}

// do sends one request outside the measurement.
func do(ctx context.Context, method, url, authz, contentType, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b, err
}

func basic(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(id, secret)
	return req.Header.Get("Authorization")
}

const loginBody = `{"sub":"alice","client_id":"` + appID + `","scope":"read"}`

// tokenPair is the part of jwtd's token response the benchmark reads.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// accessToken opens one session and returns its access token.
func (b *bench) accessToken(ctx context.Context, j *jwtdInstance) (string, error) {
	code, body, err := do(ctx, http.MethodPost, j.srv.base+"/v1/sessions", basic(backendID, j.secret), "application/json", loginBody)
	if err != nil {
		return "", err
	}
	var p tokenPair
	if code != http.StatusCreated || json.Unmarshal(body, &p) != nil || p.AccessToken == "" {
		return "", fmt.Errorf("POST /v1/sessions on %s: %d %s", j.store, code, body)
	}
	return p.AccessToken, nil
}

// mintRefreshPool opens n sessions (with vegeta, closed loop, before the
// measurement) and returns their refresh tokens, each to be spent once.
func (b *bench) mintRefreshPool(ctx context.Context, j *jwtdInstance, n int) ([]string, error) {
	pool := make([]string, 0, n)
	var bad error
	res := attack(ctx, countedTargeter(n, b.loginTarget(j)), attackSpec{workers: uint64(b.o.workers), onResult: func(r *vegeta.Result) {
		var p tokenPair
		if err := json.Unmarshal(r.Body, &p); err != nil || p.RefreshToken == "" {
			bad = fmt.Errorf("login answer without a refresh token: %.200s", r.Body)
			return
		}
		pool = append(pool, p.RefreshToken)
	}})
	switch {
	case bad != nil:
		return nil, bad
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case len(pool) < n:
		return nil, fmt.Errorf("minting %d refresh tokens on %s: %s", n, j.store, res.describeFailures())
	}
	return pool, nil
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func (b *bench) loginTarget(j *jwtdInstance) vegeta.Target {
	return vegeta.Target{Method: http.MethodPost, URL: j.srv.base + "/v1/sessions", Body: []byte(loginBody),
		Header: header("Authorization", basic(backendID, j.secret), "Content-Type", "application/json")}
}

// endpoints builds the rows of every selected endpoint: its floor (twice
// for refresh, without and with a Redis round trip) and jwtd on each store.
func (b *bench) endpoints(floorProc *process, redisProc []*process) []*endpoint {
	floorMallocs := func(ctx context.Context) (uint64, error) {
		return mallocsPlain(ctx, "http://"+b.floors.Control+"/mallocs")
	}
	floorRow := func(name string, procs []*process, tgt func(base string) vegeta.Target) *row {
		base := "http://" + b.floors.Addrs[name]
		return &row{server: "floor: " + name, procs: procs, mallocs: floorMallocs,
			targeter: func(context.Context, int) (vegeta.Targeter, error) { return staticTargeter(tgt(base)), nil }}
	}
	jwtdRow := func(j *jwtdInstance, floor *row, tgt func(j *jwtdInstance) vegeta.Target) *row {
		procs := []*process{j.srv.process}
		if j.store == "redis" {
			procs = append(procs, redisProc...)
		}
		return &row{server: "jwtd " + j.store, floor: floor, jwtd: j, procs: procs,
			mallocs:  func(ctx context.Context) (uint64, error) { return mallocsFromMetrics(ctx, j.srv.base+"/metrics") },
			targeter: func(context.Context, int) (vegeta.Targeter, error) { return staticTargeter(tgt(j)), nil }}
	}
	floorBearer := "Bearer " + b.floors.Token
	get := func(path, authz string) func(string) vegeta.Target {
		return func(base string) vegeta.Target {
			t := vegeta.Target{Method: http.MethodGet, URL: base + path}
			if authz != "" {
				t.Header = header("Authorization", authz)
			}
			return t
		}
	}
	post := func(path, contentType, body string) func(string) vegeta.Target {
		return func(base string) vegeta.Target {
			return vegeta.Target{Method: http.MethodPost, URL: base + path, Body: []byte(body),
				Header: header("Authorization", floorBearer, "Content-Type", contentType)}
		}
	}
	tokenForm := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()
	jwtdTarget := map[string]func(j *jwtdInstance) vegeta.Target{
		"jwks": func(j *jwtdInstance) vegeta.Target {
			return vegeta.Target{Method: http.MethodGet, URL: j.srv.base + "/.well-known/jwks.json"}
		},
		"session": func(j *jwtdInstance) vegeta.Target {
			return vegeta.Target{Method: http.MethodGet, URL: j.srv.base + "/v1/session", Header: header("Authorization", "Bearer "+j.access)}
		},
		"introspect": func(j *jwtdInstance) vegeta.Target {
			return vegeta.Target{Method: http.MethodPost, URL: j.srv.base + "/oauth/introspect",
				Body:   []byte(url.Values{"token": {j.access}}.Encode()),
				Header: header("Authorization", basic(backendID, j.secret), "Content-Type", "application/x-www-form-urlencoded")}
		},
		"login": b.loginTarget,
		"token": func(j *jwtdInstance) vegeta.Target {
			return vegeta.Target{Method: http.MethodPost, URL: j.srv.base + "/oauth/token", Body: []byte(tokenForm),
				Header: header("Authorization", basic(backendID, j.secret), "Content-Type", "application/x-www-form-urlencoded")}
		},
	}
	labels := map[string]string{
		"jwks": "GET /.well-known/jwks.json", "session": "GET /v1/session", "introspect": "POST /oauth/introspect",
		"login": "POST /v1/sessions", "token": "POST /oauth/token (client credentials)", "refresh": "POST /v1/refresh",
	}
	floorOf := map[string]func() *row{
		"jwks": func() *row { return floorRow(floorFixed, []*process{floorProc}, get(floorPath[floorFixed], "")) },
		"session": func() *row {
			return floorRow(floorVerify, []*process{floorProc}, get(floorPath[floorVerify], floorBearer))
		},
		"introspect": func() *row {
			return floorRow(floorVerify, []*process{floorProc}, get(floorPath[floorVerify], floorBearer))
		},
		"login": func() *row {
			return floorRow(floorSign2, []*process{floorProc}, post(floorPath[floorSign2], "application/json", loginBody))
		},
		"token": func() *row {
			return floorRow(floorSign1, []*process{floorProc}, post(floorPath[floorSign1], "application/x-www-form-urlencoded", tokenForm))
		},
	}
	refreshBody := `{"refresh_token":"` + b.floors.Token + `"}`

	var eps []*endpoint
	for _, key := range endpointKeys {
		if !slices.Contains(b.o.endpoints, key) {
			continue
		}
		ep := &endpoint{key: key, label: labels[key]}
		if key != "refresh" {
			floor := floorOf[key]()
			ep.rows = append(ep.rows, floor)
			for _, store := range b.o.stores {
				r := jwtdRow(b.jwtds[store], floor, jwtdTarget[key])
				if key == "login" {
					b.jwtds[store].login = r
				}
				ep.rows = append(ep.rows, r)
			}
			eps = append(eps, ep)
			continue
		}
		for _, store := range b.o.stores {
			name, procs := floorRefresh, []*process{floorProc}
			if store == "redis" {
				name, procs = floorRefreshRedis, append(procs, redisProc...)
			}
			floor := floorRow(name, procs, post(floorPath[name], "application/json", refreshBody))
			r := jwtdRow(b.jwtds[store], floor, nil)
			r.targeter, r.estimate = b.refreshTargeter(b.jwtds[store], r)
			ep.rows = append(ep.rows, floor, r)
		}
		eps = append(eps, ep)
	}
	return eps
}

// defaultRefreshEstimate sizes the first refresh pool when no login of
// the same jwtd was measured: far above what one core refreshes.
const defaultRefreshEstimate = 8000

// refreshTargeter mints a pool of n refresh tokens before each step and
// spends each once; the estimate is the highest rate the row or its jwtd's
// login has shown (a refresh costs more than a login: one verification
// and a spend on top of the same two signatures).
func (b *bench) refreshTargeter(j *jwtdInstance, r *row) (func(context.Context, int) (vegeta.Targeter, error), func() float64) {
	targeter := func(ctx context.Context, n int) (vegeta.Targeter, error) {
		pool, err := b.mintRefreshPool(ctx, j, n)
		if err != nil {
			return nil, err
		}
		h := header("Content-Type", "application/json")
		return poolTargeter(pool, func(tok string) vegeta.Target {
			return vegeta.Target{Method: http.MethodPost, URL: j.srv.base + "/v1/refresh", Body: []byte(`{"refresh_token":"` + tok + `"}`), Header: h}
		}), nil
	}
	estimate := func() float64 {
		best := 0.0
		for _, rr := range []*row{r, j.login} {
			if rr == nil {
				continue
			}
			for _, m := range rr.steps {
				best = max(best, m.rate)
			}
		}
		if best == 0 {
			return defaultRefreshEstimate
		}
		return best
	}
	return targeter, estimate
}

// poolHeadroom is how much larger than the estimate a saturation pool is.
const poolHeadroom = 1.5

// minSlice is the shortest slice a step is cut into: in a shorter one,
// an attack's start and end (workers starting, answers still in flight)
// would weigh on what it measures.
const minSlice = 250 * time.Millisecond

// sliceCount is how many slices each step of a row is cut into.
func (o options) sliceCount() int {
	return max(1, min(o.slices, int(o.duration/minSlice)))
}

// tally is what the slices of one row have measured so far in a round.
type tally struct {
	m         measurement
	client    *http.Client // the row's connections, kept from slice to slice
	ok        uint64       // 2xx answers at saturation
	mallocs   int64        // the server's at saturation; <0 unknown
	latencies []time.Duration
	sent      uint64 // latency requests sent, and asked for
	asked     uint64
	sat, lat  stepIssues
	stolen    time.Duration // Σ stolen share × wall of the slices; <0 unknown
	sliced    time.Duration // Σ wall of the slices (both steps)
}

// stepIssues is what went wrong in the slices of one step.
type stepIssues struct {
	failed    string // the first slice's failures
	failures  int    // how many slices had failures
	exhausted bool   // a slice's token pool ran out
}

// slice is one slice measured, applied to its row's tally once accepted.
type slice struct {
	stolen float64 // share of the slice's time the most robbed CPU lost; <0 unknown
	wall   time.Duration
	apply  func(*tally)
}

// measureEndpoint measures the rows of one endpoint in one round. The
// rows take turns: each step is cut into slices (-slices, at least
// minSlice long) and every row runs one slice in turn, starting with a
// different row each time, until each has run the step's duration. The
// host's speed wanders by 20% and more for a second at a time; one row
// after the other, for seconds each, a ratio measured that wandering as
// much as the servers. Saturation comes first for every row, then the
// latency step at half of each row's own saturation.
func (b *bench) measureEndpoint(ctx context.Context, ep *endpoint) ([]measurement, error) {
	n := b.o.sliceCount()
	d := b.o.duration / time.Duration(n)
	ts := make([]*tally, len(ep.rows))
	for i := range ts {
		ts[i] = &tally{client: newClient()}
		defer closeClient(ts[i].client)
	}
	order := turnOrder(n, len(ep.rows))
	turns := func(measure func(context.Context, *row, *tally, time.Duration) (slice, error)) error {
		for _, i := range order {
			if err := b.sliceWithRetries(ctx, ep.rows[i], ts[i], d, measure); err != nil {
				return fmt.Errorf("%s: %w", ep.rows[i].server, err)
			}
		}
		return nil
	}
	if err := turns(b.saturationSlice); err != nil {
		return nil, err
	}
	for i, t := range ts {
		m := &t.m
		if m.wall > 0 {
			m.rate = float64(t.ok) / m.wall.Seconds()
		}
		if m.rate < 1 {
			return nil, fmt.Errorf("%s: no successful request at saturation: %s", ep.rows[i].server, t.sat.failed)
		}
		m.halfRate = max(1, int(m.rate/2))
		m.allocs = -1
		if t.mallocs >= 0 && m.requests > 0 {
			m.allocs = float64(t.mallocs) / float64(m.requests)
		}
	}
	if err := turns(b.latencySlice); err != nil {
		return nil, err
	}
	out := make([]measurement, len(ts))
	for i, t := range ts {
		m := t.m
		slices.Sort(t.latencies)
		lat := attackResult{latencies: t.latencies}
		m.p50, m.p99, m.p999 = lat.quantile(0.50), lat.quantile(0.99), lat.quantile(0.999)
		for _, st := range []struct {
			name string
			is   stepIssues
		}{{"saturation", t.sat}, {"latency", t.lat}} {
			if st.is.failures > 0 {
				m.notes = append(m.notes, fmt.Sprintf("%s: %s (failures in %d of %d slices)", st.name, st.is.failed, st.is.failures, n))
			}
			if st.is.exhausted {
				m.notes = append(m.notes, st.name+": the token pool of a slice ran out (the rate is over the time it lasted)")
			}
		}
		if t.sent < t.asked*97/100 {
			m.notes = append(m.notes, fmt.Sprintf("latency: the generator sent %d of the %d requests asked (%d/s)", t.sent, t.asked, m.halfRate))
		}
		m.stolen = -1
		if t.stolen >= 0 && t.sliced > 0 {
			m.stolen = t.stolen.Seconds() / t.sliced.Seconds()
		}
		if m.stolen > maxStolen {
			m.notes = append(m.notes, fmt.Sprintf("the hypervisor took %.1f%% of a CPU's time in this row's slices (steal)", 100*m.stolen))
		}
		out[i] = m
	}
	return out, nil
}

// turnOrder is the order in which rows rows run n slices each: in turns
// of one slice per row, each turn starting one row later than the last.
func turnOrder(n, rows int) []int {
	order := make([]int, 0, n*rows)
	for s := range n {
		for k := range rows {
			order = append(order, (k+s)%rows)
		}
	}
	return order
}

// sliceWithRetries measures one slice of r, again while the hypervisor
// stole too much of it, and adds it to t.
func (b *bench) sliceWithRetries(ctx context.Context, r *row, t *tally, d time.Duration, measure func(context.Context, *row, *tally, time.Duration) (slice, error)) error {
	for try := 0; ; try++ {
		sl, err := measure(ctx, r, t, d)
		if err != nil {
			return err
		}
		if sl.stolen <= maxSliceStolen || try == stealRetries {
			sl.apply(t)
			t.sliced += sl.wall
			if sl.stolen < 0 || t.stolen < 0 {
				t.stolen = -1
			} else {
				t.stolen += time.Duration(sl.stolen * float64(sl.wall))
			}
			return nil
		}
		b.progressf("    the hypervisor took %.1f%% of a CPU's time in a slice of %s: measuring it again (%d/%d)", 100*sl.stolen, r.server, try+1, stealRetries)
	}
}

// saturationSlice runs one closed-loop slice of r.
func (b *bench) saturationSlice(ctx context.Context, r *row, t *tally, d time.Duration) (slice, error) {
	n := b.o.workers
	if r.estimate != nil {
		n += int(math.Ceil(r.estimate() * poolHeadroom * d.Seconds()))
	}
	tr, err := r.targeter(ctx, n)
	if err != nil {
		return slice{}, err
	}
	steal0, _ := stolen()
	cpu0, cpuErr := procsCPU(r.procs)
	gen0, genErr := cpuTime(os.Getpid())
	m0, mallocErr := r.mallocs(ctx)
	start := time.Now()
	res := attack(ctx, tr, attackSpec{workers: uint64(b.o.workers), duration: d, client: t.client})
	wall := time.Since(start)
	cpu1, cpuErr1 := procsCPU(r.procs)
	gen1, genErr1 := cpuTime(os.Getpid())
	m1, mallocErr1 := r.mallocs(ctx)
	steal1, _ := stolen()
	if ctx.Err() != nil {
		return slice{}, ctx.Err()
	}
	return slice{stolen: stealShare(steal0, steal1, wall), wall: wall, apply: func(t *tally) {
		m := &t.m
		m.wall += wall
		m.requests += res.requests
		t.ok += res.requests - res.failures
		m.cpu = addKnown(m.cpu, cpu1-cpu0, cpuErr == nil && cpuErr1 == nil)
		m.genCPU = addKnown(m.genCPU, gen1-gen0, genErr == nil && genErr1 == nil)
		if t.mallocs >= 0 && mallocErr == nil && mallocErr1 == nil {
			t.mallocs += int64(m1 - m0)
		} else {
			t.mallocs = -1
		}
		t.sat.record(res)
	}}, nil
}

// addKnown adds d to sum, or makes it unknown (-1) when d is not known.
func addKnown(sum, d time.Duration, known bool) time.Duration {
	if sum < 0 || !known {
		return -1
	}
	return sum + d
}

// latencySlice runs one open-loop slice of r at its halfRate.
func (b *bench) latencySlice(ctx context.Context, r *row, t *tally, d time.Duration) (slice, error) {
	rate := t.m.halfRate
	tr, err := r.targeter(ctx, int(float64(rate)*d.Seconds())+b.o.workers+10)
	if err != nil {
		return slice{}, err
	}
	steal0, _ := stolen()
	start := time.Now()
	res := attack(ctx, tr, attackSpec{rate: rate, workers: uint64(b.o.workers), duration: d, client: t.client})
	wall := time.Since(start)
	steal1, _ := stolen()
	if ctx.Err() != nil {
		return slice{}, ctx.Err()
	}
	return slice{stolen: stealShare(steal0, steal1, wall), wall: wall, apply: func(t *tally) {
		t.latencies = append(t.latencies, res.latencies...)
		t.sent += res.requests
		t.asked += uint64(float64(rate) * d.Seconds())
		t.lat.record(res)
	}}, nil
}

// record keeps what went wrong in one slice.
func (is *stepIssues) record(res attackResult) {
	if res.failures > 0 {
		if is.failures == 0 {
			is.failed = res.describeFailures()
		}
		is.failures++
	}
	is.exhausted = is.exhausted || res.exhausted
}

// procsCPU is the CPU time the processes have used so far.
func procsCPU(procs []*process) (time.Duration, error) {
	var sum time.Duration
	for _, p := range procs {
		t, err := cpuTime(p.pid())
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// conditions describe the run: machine, Go, pinning, rounds.
func conditions(ctx context.Context, o options, how string) []string {
	tree := "jwtd at an unknown commit"
	if root, err := moduleRoot(ctx); err == nil {
		if out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
			tree = "jwtd " + strings.TrimSpace(string(out))
		}
	}
	host := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				host = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return []string{
		fmt.Sprintf("%s, %s, %s, %d CPUs (%s); %s", time.Now().UTC().Format("2006-01-02 15:04 UTC"), tree, runtime.Version(), runtime.NumCPU(), host, how),
		fmt.Sprintf("%d round(s), %v per step in %d slices, the rows of an endpoint taking turns slice by slice; saturation closed loop with %d workers, latency open loop at half of it; loopback; "+
			"a slice whose CPUs lost more than %.0f%% of its time to the hypervisor (steal) is measured again, up to %d times",
			o.rounds, o.duration, o.sliceCount(), o.workers, 100*maxSliceStolen, stealRetries),
	}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
