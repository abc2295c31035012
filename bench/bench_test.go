package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// TestMain lets the test binary be the floor process and the stall probe
// too: the harness re-executes its own binary for both.
func TestMain(m *testing.M) {
	if floorMain() || stallMain() {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tableRows returns the cells of the rows of the report's table with this
// header, by column name, with the endpoint carried down to the rows that
// leave it empty.
func tableRows(t *testing.T, report string, header []string) []map[string]string {
	t.Helper()
	head := "| " + strings.Join(header, " | ") + " |"
	_, body, ok := strings.Cut(report, head+"\n")
	if !ok {
		t.Fatalf("no table header %q in:\n%s", head, report)
	}
	var rows []map[string]string
	endpoint := ""
	for i, line := range strings.Split(body, "\n") {
		if i == 0 {
			continue // |---|
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != len(header) {
			t.Fatalf("row %q has %d cells, want %d", line, len(cells), len(header))
		}
		row := map[string]string{}
		for j, c := range cells {
			row[header[j]] = strings.TrimSpace(c)
		}
		if row["endpoint"] == "" {
			row["endpoint"] = endpoint
		}
		endpoint = row["endpoint"]
		rows = append(rows, row)
	}
	return rows
}

func positive(t *testing.T, row map[string]string, col string) {
	t.Helper()
	v, err := strconv.ParseFloat(row[col], 64)
	if err != nil || v <= 0 {
		t.Errorf("%s on %s: %s = %q, want a positive number", row["endpoint"], row["server"], col, row[col])
	}
}

// TestQuickRun runs the harness as `go run ./bench -quick -profile DIR`
// would, for one endpoint on the memory store, and reads the tables it
// prints and the profile it saves.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds jwtd and loads it for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "results.md")
	profiles := filepath.Join(t.TempDir(), "profiles")
	var stdout, stderr bytes.Buffer
	args := []string{"-quick", "-endpoints", "session", "-stores", "memory", "-pin=false", "-out", out, "-profile", profiles}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q): %v\n%s", args, err, stderr.String())
	}
	report := stdout.String()
	rows := tableRows(t, report, tableHeader)
	want := map[string]bool{"floor: " + floorVerify: true, "jwtd memory": true}
	for _, row := range rows {
		if row["endpoint"] != "GET /v1/session" || !want[row["server"]] {
			t.Errorf("unexpected row %v", row)
			continue
		}
		delete(want, row["server"])
		positive(t, row, "req/s")
		positive(t, row, "p99 ms")
		if row["server"] == "jwtd memory" {
			positive(t, row, "× floor")
			positive(t, row, "p99 × floor")
		}
	}
	for server := range want {
		t.Errorf("no row for %s in:\n%s", server, report)
	}
	if !strings.Contains(report, "GET /v1/session ≥ 0.85 × verify: memory ") {
		t.Errorf("no session budget line in:\n%s", report)
	}
	if !strings.Contains(report, "The server CPU itself, before the rounds (a busy loop reading the clock for 1 s") {
		t.Errorf("no stall probe paragraph (-stall-probe 1s with -quick) in:\n%s", report)
	}
	if file, err := os.ReadFile(out); err != nil || string(file) != report {
		t.Errorf("-out %s: %v; the file differs from stdout", out, err)
	}
	checkProfiles(t, report, profiles)
	if t.Failed() {
		t.Logf("progress:\n%s", stderr.String())
	}
}

// checkProfiles checks what -profile DIR left for the session endpoint on
// the memory store: a CPU profile that parses, and a summary row whose
// shares add up to 100%.
func checkProfiles(t *testing.T, report, dir string) {
	t.Helper()
	file := filepath.Join(dir, "session-memory.pprof")
	f, err := os.Open(file)
	if err != nil {
		t.Errorf("-profile %s: %v", dir, err)
	} else {
		defer f.Close()
		p, err := profile.Parse(f)
		if err != nil || len(p.Sample) == 0 {
			t.Errorf("%s: %v, %d samples; want a CPU profile", file, err, len(p.Sample))
		}
	}
	rows := tableRows(t, report, profileHeader)
	if len(rows) != 1 || rows[0]["endpoint"] != "GET /v1/session" || rows[0]["store"] != "memory" {
		t.Fatalf("profile summary rows = %v, want one for GET /v1/session on memory", rows)
	}
	positive(t, rows[0], "req/s")
	positive(t, rows[0], "samples")
	sum := 0.0
	for _, c := range categoryNames {
		v, err := strconv.ParseFloat(strings.TrimSuffix(rows[0][c], "%"), 64)
		if err != nil || v < 0 || v > 100 {
			t.Errorf("profile summary: %s = %q, want a percentage", c, rows[0][c])
		}
		sum += v
	}
	if math.Abs(sum-100) > 0.5 { // eight shares rounded to 0.1
		t.Errorf("profile summary: the shares sum to %.1f%%, want 100%%: %v", sum, rows[0])
	}
	if rows[0]["crypto"] == "0.0%" {
		t.Errorf("profile summary: no crypto in GET /v1/session, which verifies a signature: %v", rows[0])
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown endpoint", []string{"-endpoints", "session,nope"}},
		{"unknown store", []string{"-stores", "disk"}},
		{"env not JWTD", []string{"-env", "PATH=/tmp"}},
		{"env without value", []string{"-env", "JWTD_X"}},
		{"no rounds", []string{"-rounds", "0"}},
		{"tiny duration", []string{"-duration", "1ms"}},
		{"argument", []string{"extra"}},
		{"no profile seconds", []string{"-profile", "/tmp/x", "-profile-seconds", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if !errors.Is(err, errUsage) {
				t.Errorf("run(%q) = %v, want errUsage", tt.args, err)
			}
			if stdout.Len() != 0 {
				t.Errorf("run(%q) wrote %q to stdout", tt.args, stdout.String())
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, -1},
		{"all unknown", []float64{-1, -1}, -1},
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"unknown skipped", []float64{-1, 7, 1, 4}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	var r attackResult
	for i := 1; i <= 1000; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{0.999, 999 * time.Microsecond},
		{1, 1000 * time.Microsecond},
		{0, time.Microsecond},
	}
	for _, tt := range tests {
		if got := r.quantile(tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := (attackResult{}).quantile(0.99); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
}

func TestCPUTime(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if errors.Is(err, errNoCPUTime) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the clock-tick counter moves (at most 10 s: a liveness bound).
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		after, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
	}
	t.Errorf("cpuTime(self) stayed at %v after 10 s of work (%d)", before, x)
}

func TestMallocsFromMetrics(t *testing.T) {
	tests := []struct {
		name, body string
		want       uint64
		ok         bool
	}{
		{"float", "# HELP go_memstats_mallocs_total x\ngo_memstats_mallocs_total 1.234567e+06\n", 1234567, true},
		{"integer", "go_memstats_frees_total 3\ngo_memstats_mallocs_total 42\n", 42, true},
		{"missing", "go_memstats_frees_total 3\n", 0, false},
		{"garbage", "go_memstats_mallocs_total many\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMallocs(strings.NewReader(tt.body))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseMallocs(%q) = %d, %v; want %d, ok %v", tt.body, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestTurnOrder(t *testing.T) {
	tests := []struct {
		n, rows int
		want    []int
	}{
		{1, 1, []int{0}},
		{3, 1, []int{0, 0, 0}},
		{2, 3, []int{0, 1, 2, 1, 2, 0}},
		{4, 3, []int{0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2}},
	}
	for _, tt := range tests {
		if got := turnOrder(tt.n, tt.rows); !slices.Equal(got, tt.want) {
			t.Errorf("turnOrder(%d, %d) = %v, want %v", tt.n, tt.rows, got, tt.want)
		}
	}
}

func TestSliceCount(t *testing.T) {
	tests := []struct {
		slices   int
		duration time.Duration
		want     int
	}{
		{6, 3 * time.Second, 6},
		{6, time.Second, 4},            // -quick: slices of at least 250 ms
		{6, 100 * time.Millisecond, 1}, // shorter than one slice: one
		{1, 30 * time.Second, 1},       // as before slices
		{12, 3 * time.Second, 12},
	}
	for _, tt := range tests {
		if got := (options{slices: tt.slices, duration: tt.duration}).sliceCount(); got != tt.want {
			t.Errorf("sliceCount(-slices %d, -duration %v) = %d, want %d", tt.slices, tt.duration, got, tt.want)
		}
	}
}
