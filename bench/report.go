package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// median is the median of the values that are known (not negative); -1
// when none is.
func median(vs []float64) float64 {
	var known []float64
	for _, v := range vs {
		if v >= 0 {
			known = append(known, v)
		}
	}
	if len(known) == 0 {
		return -1
	}
	slices.Sort(known)
	n := len(known)
	if n%2 == 1 {
		return known[n/2]
	}
	return (known[n/2-1] + known[n/2]) / 2
}

// stat is the median over the rounds of one figure of a row.
func (r *row) stat(f func(measurement) float64) float64 {
	vs := make([]float64, len(r.steps))
	for i, m := range r.steps {
		vs[i] = f(m)
	}
	return median(vs)
}

// ratio is the median over the rounds of f(row) / f(floor), each round
// with its own floor (they ran next to each other).
func (r *row) ratio(f func(measurement) float64) float64 {
	return r.pairs(func(row, floor float64) float64 { return row / floor }, f)
}

// costRatio is the median over the rounds of f(floor) / f(row): for a cost
// (CPU per request), the share of the floor's throughput it allows.
func (r *row) costRatio(f func(measurement) float64) float64 {
	return r.pairs(func(row, floor float64) float64 { return floor / row }, f)
}

func (r *row) pairs(div func(row, floor float64) float64, f func(measurement) float64) float64 {
	if r.floor == nil {
		return -1
	}
	return median(r.pairValues(div, f))
}

// pairValues are the per-round values pairs takes the median of.
func (r *row) pairValues(div func(row, floor float64) float64, f func(measurement) float64) []float64 {
	var vs []float64
	for i, m := range r.steps {
		if i >= len(r.floor.steps) {
			break
		}
		if a, b := f(m), f(r.floor.steps[i]); a > 0 && b > 0 {
			vs = append(vs, div(a, b))
		}
	}
	return vs
}

// spread is the range of the per-round ratios of f, as "0.72–0.95", or ""
// with fewer than two rounds: how far apart the rounds the median is taken
// of fell, which tells a miss by noise from a miss by cost.
func (r *row) spread(f func(measurement) float64) string {
	if r.floor == nil {
		return ""
	}
	vs := r.pairValues(func(row, floor float64) float64 { return row / floor }, f)
	if len(vs) < 2 {
		return ""
	}
	return format(slices.Min(vs), 2) + "–" + format(slices.Max(vs), 2)
}

func rate(m measurement) float64    { return m.rate }
func p50(m measurement) float64     { return ms(m.p50) }
func p99(m measurement) float64     { return ms(m.p99) }
func p999(m measurement) float64    { return ms(m.p999) }
func busy(m measurement) float64    { return m.busy() }
func genBusy(m measurement) float64 { return m.genBusy() }
func allocs(m measurement) float64  { return m.allocs }
func cpuUS(m measurement) float64 {
	if d := m.cpuPerRequest(); d >= 0 {
		return float64(d) / float64(time.Microsecond)
	}
	return -1
}

// format writes v with prec decimals, or "?" when unknown.
func format(v float64, prec int) string {
	if v < 0 {
		return "?"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// tableHeader is the main table's header; bench_test.go reads the table
// by these columns.
var tableHeader = []string{"endpoint", "server", "req/s", "× floor", "CPU µs/req", "CPU × floor", "busy server/gen",
	"p50 ms", "p99 ms", "p99.9 ms", "p99 × floor", "allocs/req"}

// percent is v as a whole percentage, or "?".
func percent(v float64) string {
	if v < 0 {
		return "?"
	}
	return strconv.Itoa(int(v*100+0.5)) + "%"
}

// writeMarkdown writes the report: conditions, the table, the budgets,
// notes, the raw operations, and the profiles' summary.
func (rep *report) writeMarkdown(w io.Writer) {
	fmt.Fprintln(w, "## jwtd load benchmark")
	fmt.Fprintln(w)
	for _, c := range rep.conditions {
		fmt.Fprintln(w, "- "+c)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| "+strings.Join(tableHeader, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(tableHeader)))
	var notes []string
	for _, ep := range rep.endpoints {
		for i, r := range ep.rows {
			label := ""
			if i == 0 {
				label = ep.label
			}
			x, cx, px := "", "", ""
			if r.floor != nil {
				x, cx, px = format(r.ratio(rate), 2), format(r.costRatio(cpuUS), 2), format(r.ratio(p99), 2)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s/%s | %s | %s | %s | %s | %s |\n", label, r.server,
				format(r.stat(rate), 0), x, format(r.stat(cpuUS), 0), cx, percent(r.stat(busy)), percent(r.stat(genBusy)),
				format(r.stat(p50), 2), format(r.stat(p99), 2), format(r.stat(p999), 2), px, format(r.stat(allocs), 0))
			for round, m := range r.steps {
				for _, n := range m.notes {
					notes = append(notes, fmt.Sprintf("%s on %s, round %d: %s", ep.label, r.server, round+1, n))
				}
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Medians of %d round(s); each ratio is paired with the floor measured next to it in the same round. "+
		"req/s: closed-loop saturation; × floor: jwtd's req/s over its floor's. "+
		"CPU µs/req: the server's CPU time per request at saturation (jwtd and its redis-server; the floor process, "+
		"and its redis-server for the PING floor); CPU × floor: the floor's over jwtd's, the throughput ratio a "+
		"saturated core would give, whatever limits the run. busy server/gen: CPU time per wall second at saturation "+
		"of the server and of the load generator (100%% is one core; a server well under 100%% was not what limited "+
		"the rate). p50/p99/p99.9: open loop at half of each row's own saturation. allocs/req: the server's mallocs per "+
		"request at saturation.\n", rep.rounds)
	if budgets := rep.budgets(); len(budgets) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Budgets of issue 10, in this run:")
		fmt.Fprintln(w)
		for _, b := range budgets {
			fmt.Fprintln(w, "- "+b)
		}
	}
	if s := rep.stalls; s != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, s.describe())
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Notes:")
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
	if len(rep.crypto) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Raw operations (golang-jwt Sign/Verify and go-redis, testing.Benchmark in the benchmark process):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| operation | µs/op | allocs/op |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, c := range rep.crypto {
			if c.err != nil {
				fmt.Fprintf(w, "| %s | error: %v | |\n", c.name, c.err)
				continue
			}
			fmt.Fprintf(w, "| %s | %.1f | %d |\n", c.name, float64(c.perOp)/float64(time.Microsecond), c.allocsOp)
		}
	}
	if len(rep.profiles) > 0 {
		rep.writeProfiles(w)
	}
}

// throughputBudgets are issue 10's throughput budgets: the least ratio of
// jwtd's req/s to its floor's, per endpoint.
var throughputBudgets = []struct {
	key, what string
	least     float64
}{
	{"jwks", "JWKS ≥ 0.9 × fixed JSON", 0.9},
	{"session", "GET /v1/session ≥ 0.85 × verify", 0.85},
	{"introspect", "introspection ≥ 0.85 × verify", 0.85},
	{"login", "login ≥ 0.8 × two signatures", 0.8},
	{"refresh", "refresh ≥ 0.8 × verify + two signatures (+ one Redis round trip)", 0.8},
}

// Issue 10's latency budget: at half of saturation, p99 within
// latencyRatio of the floor's and under latencyCeiling.
const (
	latencyRatio   = 1.5
	latencyCeiling = 5 * time.Millisecond
)

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// budgets says, per budget, which jwtd rows meet it.
func (rep *report) budgets() []string {
	var out []string
	for _, b := range throughputBudgets {
		for _, ep := range rep.endpoints {
			if ep.key != b.key {
				continue
			}
			var parts []string
			for _, r := range ep.rows {
				if r.floor == nil {
					continue
				}
				x := r.ratio(rate)
				rounds := ""
				if s := r.spread(rate); s != "" {
					rounds = "; rounds " + s
				}
				parts = append(parts, fmt.Sprintf("%s %s, %s (CPU %s%s)", strings.TrimPrefix(r.server, "jwtd "), format(x, 2),
					mark(x >= b.least), format(r.costRatio(cpuUS), 2), rounds))
			}
			out = append(out, b.what+": "+strings.Join(parts, ", "))
		}
	}
	var met, missed []string
	for _, ep := range rep.endpoints {
		for _, r := range ep.rows {
			if r.floor == nil {
				continue
			}
			x, p := r.ratio(p99), r.stat(p99)
			name := ep.label + " on " + strings.TrimPrefix(r.server, "jwtd ")
			if x >= 0 && x <= latencyRatio && p >= 0 && p < ms(latencyCeiling) {
				met = append(met, name)
			} else {
				missed = append(missed, fmt.Sprintf("%s (p99 %s ms, %s × floor)", name, format(p, 2), format(x, 2)))
			}
		}
	}
	if len(met)+len(missed) > 0 {
		s := fmt.Sprintf("p99 at half of saturation ≤ %.1f × the floor's and < %v: met by %d of %d rows", latencyRatio, latencyCeiling, len(met), len(met)+len(missed))
		if len(missed) > 0 {
			s += "; not by " + strings.Join(missed, ", ")
		}
		out = append(out, s)
	}
	return out
}
