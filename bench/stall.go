package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// stallEnv, when set in the environment, makes the benchmark binary run
// the stall probe for the duration it holds instead of the benchmark.
const stallEnv = "JWTDBENCH_STALL_PROBE"

// stallGap is the least gap between two readings of the clock that the
// probe counts as a stall: a busy loop reads it every few tens of ns.
const stallGap = 100 * time.Microsecond

// stalls is what the probe saw: how long the CPU it ran on was taken from
// a busy loop, which no server on that CPU can answer in either. It is
// the machine's part of every p99 in the table (another process, the
// hypervisor), measured with nothing of the benchmark running.
type stalls struct {
	Seconds float64         `json:"seconds"`
	Gaps    []time.Duration `json:"gaps"` // every gap of stallGap or more, sorted
}

// lost is the share of the probe's time that was taken away.
func (s stalls) lost() float64 {
	var sum time.Duration
	for _, g := range s.Gaps {
		sum += g
	}
	return sum.Seconds() / s.Seconds
}

// over counts the gaps longer than d.
func (s stalls) over(d time.Duration) int {
	i, _ := slices.BinarySearch(s.Gaps, d+1)
	return len(s.Gaps) - i
}

func (s stalls) longest() time.Duration {
	if len(s.Gaps) == 0 {
		return 0
	}
	return s.Gaps[len(s.Gaps)-1]
}

// probeStalls spins for d, reading the clock, and collects the gaps.
func probeStalls(d time.Duration) stalls {
	start := time.Now()
	prev := start
	var gaps []time.Duration
	for {
		now := time.Now()
		if g := now.Sub(prev); g >= stallGap {
			gaps = append(gaps, g)
		}
		prev = now
		if now.Sub(start) >= d {
			break
		}
	}
	slices.Sort(gaps)
	return stalls{Seconds: prev.Sub(start).Seconds(), Gaps: gaps}
}

// stallMain runs the probe when the benchmark re-executes itself with
// stallEnv set, writes what it saw as JSON on stdout, and reports whether
// it ran.
func stallMain() bool {
	v, ok := os.LookupEnv(stallEnv)
	if !ok {
		return false
	}
	d, err := time.ParseDuration(v)
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(probeStalls(d))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench stall probe:", err)
		os.Exit(1)
	}
	return true
}

// probeServerCPU runs the stall probe for d in a child process on the
// server CPU, with the servers started and idle.
func (b *bench) probeServerCPU(d time.Duration) (stalls, error) {
	exe, err := os.Executable()
	if err != nil {
		return stalls{}, err
	}
	cmd := b.pin.command(exe)
	cmd.Env = append(os.Environ(), stallEnv+"="+d.String())
	out, err := cmd.Output()
	if err != nil {
		return stalls{}, fmt.Errorf("stall probe: %w", err)
	}
	var s stalls
	if err := json.Unmarshal(out, &s); err != nil {
		return stalls{}, fmt.Errorf("stall probe: %w", err)
	}
	return s, nil
}

// describe is the probe's paragraph of the report.
func (s stalls) describe() string {
	return fmt.Sprintf("The server CPU itself, before the rounds (a busy loop reading the clock for %.0f s, every server idle): "+
		"taken away %.2f%% of the time, in %d stalls of 0.1 ms or more, %d over 1 ms and %d over 5 ms, the longest %.2f ms. "+
		"A request on that CPU during a stall waits it out, so stalls of several ms set a floor under every p99 "+
		"at a few thousand requests a second, the floors' as much as jwtd's.",
		s.Seconds, 100*s.lost(), len(s.Gaps), s.over(time.Millisecond), s.over(5*time.Millisecond), float64(s.longest())/float64(time.Millisecond))
}
