package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if floorMain() || stallMain() {
		return
	}
	// The load generator collects less often than Go's default. On its one
	// core each of its GC cycles holds up the answers it is reading, which
	// then count as the server's latency, and on the cheapest rows the
	// generator is what limits the rate. The floors and jwtd are other
	// processes and keep their own setting (GOGC in the environment).
	debug.SetGCPercent(generatorGCPercent)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("bench: usage")

// generatorGCPercent is the load generator's GOGC: its heap may grow to
// five times what it holds live (tens of MB) between cycles.
const generatorGCPercent = 400

// listFlag is a comma-separated list of names from a fixed set.
type listFlag struct {
	values  *[]string
	allowed []string
}

func (l listFlag) String() string {
	if l.values == nil {
		return ""
	}
	return strings.Join(*l.values, ",")
}

func (l listFlag) Set(s string) error {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if !slices.Contains(l.allowed, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(l.allowed, ", "))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	*l.values = out
	return nil
}

// envFlag collects -env KEY=VALUE, JWTD_* only.
type envFlag struct{ values *[]string }

func (e envFlag) String() string {
	if e.values == nil {
		return ""
	}
	return strings.Join(*e.values, " ")
}

func (e envFlag) Set(s string) error {
	if !strings.HasPrefix(s, "JWTD_") || !strings.Contains(s, "=") {
		return fmt.Errorf("%q is not JWTD_KEY=value", s)
	}
	*e.values = append(*e.values, s)
	return nil
}

// run parses the flags, runs the benchmark, and writes the report to
// stdout (and to -out); progress goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := options{endpoints: slices.Clone(endpointKeys), stores: slices.Clone(storeKeys), progress: stderr}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; the table shows their median")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of each step (saturation, then latency at half of it)")
	fs.IntVar(&o.slices, "slices", 6, "slices each step is cut into, the rows of an endpoint taking turns slice by slice (each at least 250ms)")
	fs.IntVar(&o.workers, "workers", 16, "closed-loop workers (concurrent connections) at saturation")
	fs.Var(listFlag{&o.endpoints, endpointKeys}, "endpoints", "endpoints to measure, comma-separated: "+strings.Join(endpointKeys, ","))
	fs.Var(listFlag{&o.stores, storeKeys}, "stores", "jwtd revocation stores to measure: memory,redis")
	fs.BoolVar(&o.pin, "pin", true, "pin the servers to CPU 1 and the load generator to CPU 0 with taskset (when present)")
	fs.BoolVar(&o.crypto, "crypto", true, "measure raw sign/verify per algorithm and the Redis round trip")
	fs.Var(envFlag{&o.env}, "env", "JWTD_KEY=value for both jwtd processes (repeatable)")
	fs.StringVar(&o.profileDir, "profile", "", "save a CPU profile of every jwtd row as `DIR`/<endpoint>-<store>.pprof, from a saturation step of its own after the rounds, and summarise them")
	fs.IntVar(&o.profileSeconds, "profile-seconds", 10, "how long each profile records (its step runs 1s longer)")
	fs.DurationVar(&o.stallProbe, "stall-probe", 5*time.Second, "before the rounds, how long a busy loop on the server CPU measures the machine's own stalls (0: not at all)")
	quick := fs.Bool("quick", false, "smoke run: one round of 1s steps, 1s profiles, raw operations skipped (flags given explicitly win)")
	out := fs.String("out", "", "also write the report to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench [flags]   (or: make bench)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *quick { // what the flags given do not set
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["crypto"] {
			o.crypto = false
		}
		if !set["profile-seconds"] {
			o.profileSeconds = 1
		}
		if !set["stall-probe"] {
			o.stallProbe = time.Second
		}
	}
	if o.rounds < 1 || o.duration < 100*time.Millisecond || o.slices < 1 || o.workers < 1 || o.profileSeconds < 1 {
		fmt.Fprintln(stderr, "bench: -rounds must be at least 1, -duration at least 100ms, -slices, -workers and -profile-seconds at least 1")
		return errUsage
	}
	if o.profileDir != "" { // now, not after minutes of measuring
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}
	start := time.Now()
	rep, err := runBench(ctx, o)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	rep.writeMarkdown(&buf)
	fmt.Fprintf(stderr, "done in %v\n", time.Since(start).Round(time.Second))
	if *out != "" {
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	_, err = stdout.Write(buf.Bytes())
	return err
}
