package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// profileSummary is one CPU profile of jwtd under load, summarised.
type profileSummary struct {
	endpoint, store string  // as -endpoints and -stores spell them
	label           string  // the endpoint as the main table names it
	file            string  // where the profile was saved
	rate            float64 // successful req/s during the profiled step
	samples         int64
	cpu             time.Duration // the CPU time the samples stand for
	shares          [numCategories]float64
	top             []flatShare // the leaf functions outside crypto, most first
	note            string      // a profiled step that fell short
	err             error       // the step or the profile failed
}

// flatShare is one leaf function's flat time in one category, as a share
// of all samples.
type flatShare struct {
	fn    string
	cat   category
	share float64
}

// topFlat is how many functions the summary lists outside crypto.
const topFlat = 5

var errEmptyProfile = errors.New("bench: the profile holds no CPU samples")

// summarize sums a CPU profile's samples by category (see categorize) and
// lists the leaf functions with the most flat time among the samples that
// are not crypto.
func summarize(p *profile.Profile) (profileSummary, error) {
	var s profileSummary
	vi := len(p.SampleType) - 1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return s, errEmptyProfile
	}
	ci := -1 // the sample count, when the profile has one
	for i, st := range p.SampleType {
		if st.Type == "samples" {
			ci = i
		}
	}
	var total int64
	var byCat [numCategories]int64
	type leaf struct {
		fn  string
		cat category
	}
	flat := map[leaf]int64{}
	var stack []string
	for _, smp := range p.Sample {
		if vi >= len(smp.Value) || smp.Value[vi] <= 0 {
			continue
		}
		v := smp.Value[vi]
		stack = stack[:0]
		for _, loc := range smp.Location {
			for _, ln := range loc.Line { // the innermost (inlined) function first
				if ln.Function != nil {
					stack = append(stack, ln.Function.Name)
				}
			}
		}
		if len(stack) == 0 {
			stack = append(stack, "(unknown)")
		}
		c := categorize(stack)
		byCat[c] += v
		total += v
		if ci >= 0 && ci < len(smp.Value) {
			s.samples += smp.Value[ci]
		} else {
			s.samples++
		}
		if c != catCrypto {
			flat[leaf{leafName(stack), c}] += v
		}
	}
	if total == 0 {
		return s, errEmptyProfile
	}
	for c := range byCat {
		s.shares[c] = float64(byCat[c]) / float64(total)
	}
	for l, v := range flat {
		s.top = append(s.top, flatShare{l.fn, l.cat, float64(v) / float64(total)})
	}
	slices.SortFunc(s.top, func(a, b flatShare) int {
		return cmp.Or(cmp.Compare(b.share, a.share), cmp.Compare(a.fn, b.fn), cmp.Compare(a.cat, b.cat))
	})
	s.top = s.top[:min(topFlat, len(s.top))]
	if st := p.SampleType[vi]; st.Type == "cpu" && st.Unit == "nanoseconds" {
		s.cpu = time.Duration(total)
	}
	return s, nil
}

// leafName is the leaf function of a stack, with the system call it makes
// when it is the raw system-call entry ("internal/runtime/syscall/linux.Syscall6
// ← syscall.write"): otherwise every read, write and epoll_wait would be one
// function.
func leafName(stack []string) string {
	if !isSyscallEntry(stack[0]) {
		return stack[0]
	}
	for _, fn := range stack[1:] {
		if !isSyscallEntry(fn) {
			return stack[0] + " ← " + fn
		}
	}
	return stack[0]
}

func isSyscallEntry(fn string) bool {
	if under(packageOf(fn), "internal/runtime/syscall") {
		return true
	}
	name, ok := strings.CutPrefix(fn, "syscall.")
	return ok && (strings.HasPrefix(name, "Syscall") || strings.HasPrefix(name, "RawSyscall"))
}

// summarizeFile parses and summarises a saved profile.
func summarizeFile(path string) (profileSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return profileSummary{}, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return profileSummary{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return summarize(p)
}

// The profiled step: a closed-loop saturation step of its own, after the
// rounds, profileLead longer than the profile, which starts profileLead/2
// after the load (connections open, pools warm) and ends before it.
const profileLead = time.Second

// profileRow runs the profiled step of one jwtd row and saves its profile
// as DIR/<endpoint>-<store>.pprof.
func (b *bench) profileRow(ctx context.Context, ep *endpoint, r *row) profileSummary {
	j := r.jwtd
	s := profileSummary{endpoint: ep.key, label: ep.label, store: j.store, file: filepath.Join(b.o.profileDir, ep.key+"-"+j.store+".pprof")}
	if j.srv.pprof == "" {
		s.err = errors.New("jwtd did not say where pprof listens")
		return s
	}
	secs := b.o.profileSeconds
	d := time.Duration(secs)*time.Second + profileLead
	ctx, cancel := context.WithTimeout(ctx, d+time.Minute) // a liveness bound on the fetch
	defer cancel()
	n := b.o.workers
	if r.estimate != nil {
		n += int(r.estimate() * poolHeadroom * d.Seconds())
	}
	tr, err := r.targeter(ctx, n)
	if err != nil {
		s.err = err
		return s
	}
	fetched := make(chan error, 1)
	go func() {
		select {
		case <-time.After(profileLead / 2):
		case <-ctx.Done():
			fetched <- ctx.Err()
			return
		}
		fetched <- fetchProfile(ctx, "http://"+j.srv.pprof+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), s.file)
	}()
	sat := attack(ctx, tr, attackSpec{workers: uint64(b.o.workers), duration: d})
	s.rate = sat.rate
	if err := <-fetched; err != nil {
		s.err = err
		return s
	}
	if sat.failures > 0 {
		s.err = errors.New("profiled step: " + sat.describeFailures())
		return s
	}
	sum, err := summarizeFile(s.file)
	if err != nil {
		s.err = err
		return s
	}
	sum.endpoint, sum.label, sum.store, sum.file, sum.rate = s.endpoint, s.label, s.store, s.file, s.rate
	if sat.exhausted {
		sum.note = fmt.Sprintf("the pool of %d tokens ran out before the step ended (the profile holds fewer samples, the shares stand)", n)
	}
	return sum
}

// fetchProfile saves the CPU profile the URL answers with into path.
func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("GET %s: %s %s", url, res.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}

// profileHeader is the summary table's header; bench_test.go reads the
// table by these columns.
var profileHeader = append([]string{"endpoint", "store", "req/s", "samples"}, categoryNames[:]...)

// writeProfiles writes the summary of the profiles: the share of CPU
// samples per category, then the top functions outside crypto.
func (rep *report) writeProfiles(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Where the time goes: jwtd's CPU profiles (%d s each, a closed-loop saturation step of its own after the rounds), "+
		"the share of CPU samples by category (the first frame from the leaf that decides; see docs/performance.md):\n", rep.profileSec)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| "+strings.Join(profileHeader, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(profileHeader)))
	for _, s := range rep.profiles {
		if s.err != nil {
			fmt.Fprintf(w, "| %s | %s | %s | error: %s |%s\n", s.label, s.store, format(s.rate, 0), strings.NewReplacer("|", "/", "\n", " ").Replace(s.err.Error()), strings.Repeat(" |", int(numCategories)))
			continue
		}
		cells := []string{s.label, s.store, format(s.rate, 0), strconv.FormatInt(s.samples, 10)}
		for _, v := range s.shares {
			cells = append(cells, strconv.FormatFloat(100*v, 'f', 1, 64)+"%")
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The %d leaf functions with the most flat time among the samples that are not crypto, as shares of all samples, "+
		"with the category of those samples (a raw system call is named with the call it makes):\n", topFlat)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| endpoint | store | top functions outside crypto (flat) |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, s := range rep.profiles {
		if s.err != nil {
			continue
		}
		var fns []string
		for _, f := range s.top {
			fns = append(fns, fmt.Sprintf("`%s` %.1f%% (%s)", f.fn, 100*f.share, f.cat))
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", s.label, s.store, strings.Join(fns, ", "))
	}
	first := true
	for _, s := range rep.profiles {
		if s.note == "" {
			continue
		}
		if first {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "Profile notes:")
			fmt.Fprintln(w)
			first = false
		}
		fmt.Fprintf(w, "- %s on %s: %s\n", s.label, s.store, s.note)
	}
}
