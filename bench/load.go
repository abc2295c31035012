package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// attackResult is what one vegeta attack measured.
type attackResult struct {
	requests  uint64  // requests sent
	failures  uint64  // answers outside 2xx, and transport errors
	rate      float64 // successful requests per second (vegeta's throughput)
	codes     map[string]int
	errors    []string
	latencies []time.Duration // sorted
	exhausted bool            // the targeter ran out before the duration
}

// quantile is the q-quantile of the sorted latencies (nearest rank).
func (r attackResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*q+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

// attackSpec is one attack: rate 0 is closed loop (as fast as workers
// answers come back), otherwise open loop at rate requests per second.
type attackSpec struct {
	rate     int
	workers  uint64 // closed loop: exactly this many; open loop: the initial number
	duration time.Duration
	onResult func(*vegeta.Result) // optional, called for every 2xx answer
	client   *http.Client         // optional, see newClient
}

// openLoopWorkers is how many workers an open-loop attack may grow to, as
// a multiple of the closed-loop workers (at least minOpenLoopWorkers). At
// half of saturation a few are busy at once (rate × latency); vegeta
// starts a new worker whenever none is waiting for the next tick, and on
// a generator with one CPU (GOMAXPROCS 1) the idle ones have often not
// been scheduled yet, so without a bound it grows to thousands of workers
// and connections, and the latency it measures is its own. With a bound,
// a late tick waits for a worker, which the achieved rate shows (see
// measure).
const (
	openLoopWorkers    = 4
	minOpenLoopWorkers = 64
)

// newClient is the HTTP client of one row's two steps: the latency step
// reuses the connections the saturation step opened, so that no dial
// lands in its tail. closeClient drops them afterwards.
func newClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 10000,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func closeClient(c *http.Client) { c.CloseIdleConnections() }

// attack runs one vegeta attack and collects it.
func attack(ctx context.Context, tr vegeta.Targeter, spec attackSpec) attackResult {
	maxWorkers := spec.workers
	if spec.rate > 0 {
		maxWorkers = max(openLoopWorkers*spec.workers, minOpenLoopWorkers)
	}
	client := spec.client
	if client == nil {
		client = newClient()
		defer closeClient(client)
	}
	a := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(spec.workers), vegeta.MaxWorkers(maxWorkers))
	stop := context.AfterFunc(ctx, func() { a.Stop() })
	defer stop()
	var m vegeta.Metrics
	var ok uint64
	res := attackResult{}
	pace := vegeta.Rate{Freq: spec.rate, Per: time.Second}
	for r := range a.Attack(tr, pace, spec.duration, "") {
		if r.Error == vegeta.ErrNoTargets.Error() {
			res.exhausted = true
			continue
		}
		m.Add(r)
		res.latencies = append(res.latencies, r.Latency)
		if r.Error == "" && r.Code >= 200 && r.Code < 300 {
			ok++
			if spec.onResult != nil {
				spec.onResult(r)
			}
		}
	}
	m.Close()
	res.requests = m.Requests
	res.rate = m.Throughput
	res.codes = m.StatusCodes
	res.errors = m.Errors
	res.failures = m.Requests - ok
	slices.Sort(res.latencies)
	return res
}

// describeFailures is a short account of what failed: the status codes and
// the first errors.
func (r attackResult) describeFailures() string {
	var codes []string
	for c, n := range r.codes {
		codes = append(codes, fmt.Sprintf("%s×%d", c, n))
	}
	sort.Strings(codes)
	errs := r.errors
	if len(errs) > 3 {
		errs = errs[:3]
	}
	return fmt.Sprintf("%d of %d failed (codes %s; %s)", r.failures, r.requests, strings.Join(codes, " "), strings.Join(errs, "; "))
}

// staticTargeter repeats one request.
func staticTargeter(t vegeta.Target) vegeta.Targeter {
	return vegeta.NewStaticTargeter(t)
}

// poolTargeter hands out one request per token of the pool, each token
// once, and then ErrNoTargets (which ends the attack).
func poolTargeter(pool []string, make func(tok string) vegeta.Target) vegeta.Targeter {
	var next atomic.Int64
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		i := next.Add(1) - 1
		if i >= int64(len(pool)) {
			return vegeta.ErrNoTargets
		}
		*t = make(pool[i])
		return nil
	}
}

// countedTargeter repeats one request n times, then ErrNoTargets.
func countedTargeter(n int, tgt vegeta.Target) vegeta.Targeter {
	var next atomic.Int64
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		if next.Add(1) > int64(n) {
			return vegeta.ErrNoTargets
		}
		*t = tgt
		return nil
	}
}
