package main

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

// synthSample is one sample of a synthetic CPU profile: its locations from
// the leaf, each the functions of one location (inlined ones first, as
// pprof stores them), and how many 10 ms ticks it stands for.
type synthSample struct {
	locs  [][]string
	ticks int64
}

// stk is a stack of one function per location, from the leaf.
func stk(fns ...string) [][]string {
	locs := make([][]string, len(fns))
	for i, fn := range fns {
		locs[i] = []string{fn}
	}
	return locs
}

const tick = 10_000_000 // ns, the CPU profiler's period at 100 Hz

// synth builds a CPU profile as runtime/pprof writes one, then writes and
// parses it again, so the test reads what summarizeFile would.
func synth(t *testing.T, samples ...synthSample) *profile.Profile {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     tick,
	}
	funcs := map[string]*profile.Function{}
	for _, s := range samples {
		smp := &profile.Sample{Value: []int64{s.ticks, s.ticks * tick}}
		for _, names := range s.locs {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1)}
			for _, name := range names {
				fn := funcs[name]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name}
					funcs[name] = fn
					p.Function = append(p.Function, fn)
				}
				loc.Line = append(loc.Line, profile.Line{Function: fn})
			}
			p.Location = append(p.Location, loc)
			smp.Location = append(smp.Location, loc)
		}
		p.Sample = append(p.Sample, smp)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatalf("write synthetic profile: %v", err)
	}
	parsed, err := profile.Parse(&buf)
	if err != nil {
		t.Fatalf("parse synthetic profile: %v", err)
	}
	return parsed
}

// Frames of the stacks below, by what they are.
const (
	serve     = "net/http.(*conn).serve"
	serveHTTP = "net/http.serverHandler.ServeHTTP"
	echoServe = "github.com/labstack/echo/v4.(*Echo).ServeHTTP"
	accessLog = "github.com/jwtd/jwtd/handlers.(*Server).accessLog.func1"
	session   = "github.com/jwtd/jwtd/handlers.(*Server).session"
	tokenVer  = "github.com/jwtd/jwtd/token.(*Verifier).Access"
	jwtParse  = "github.com/golang-jwt/jwt/v5.(*Parser).ParseWithClaims"
	syscall6  = "internal/runtime/syscall/linux.Syscall6"
	sysWrite  = "syscall.write"
)

// request is the part of every request's stack above the handler.
var request = []string{accessLog, echoServe, serveHTTP, serve}

func with(fns []string, above ...string) [][]string {
	return stk(append(append([]string(nil), fns...), above...)...)
}

// socketWrite is a write(2) from a net.Conn, to be continued by its caller.
var socketWrite = []string{syscall6, "syscall.RawSyscall6", "syscall.Syscall", sysWrite,
	"internal/poll.ignoringEINTRIO", "internal/poll.(*FD).Write", "net.(*netFD).Write", "net.(*conn).Write", "bufio.(*Writer).Flush"}

func TestCategorize(t *testing.T) {
	tests := []struct {
		name    string
		samples []synthSample
		want    map[category]float64
	}{
		{"ECDSA verification is crypto", []synthSample{{with([]string{"crypto/internal/fips140/nistec.p256OrdSqr",
			"crypto/internal/fips140/ecdsa.Verify", "crypto/ecdsa.VerifyASN1", "github.com/golang-jwt/jwt/v5.(*SigningMethodECDSA).Verify",
			jwtParse, tokenVer, session}, request...), 1}}, map[category]float64{catCrypto: 1}},
		{"a helper under crypto is crypto", []synthSample{{with([]string{"runtime.memmove", "math/big.nat.set",
			"crypto/internal/fips140/bigmod.(*Nat).Exp", jwtParse}, request...), 1}}, map[category]float64{catCrypto: 1}},
		{"a socket write under net/http is HTTP", []synthSample{{with(socketWrite, "net/http.(*response).finishRequest", serve), 1}},
			map[category]float64{catHTTP: 1}},
		{"a stderr write under slog is logging", []synthSample{{with([]string{syscall6, "syscall.RawSyscall6", sysWrite,
			"internal/poll.(*FD).Write", "os.(*File).Write", "log/slog.(*commonHandler).handle", "log/slog.(*JSONHandler).Handle",
			"log/slog.(*Logger).logAttrs", "log/slog.(*Logger).LogAttrs"}, request...), 1}}, map[category]float64{catLogging: 1}},
		{"a socket write under go-redis is Redis", []synthSample{{with(socketWrite,
			"github.com/redis/go-redis/v9/internal/pool.(*Conn).WithWriter", "github.com/redis/go-redis/v9.(*baseClient)._process",
			"github.com/jwtd/jwtd/revocation/redisstore.(*Store).Check", session, accessLog, echoServe, serve), 1}},
			map[category]float64{catRedis: 1}},
		{"base64 under golang-jwt is JWT", []synthSample{{with([]string{"encoding/base64.(*Encoding).Decode",
			"encoding/base64.(*Encoding).DecodeString", "github.com/golang-jwt/jwt/v5.(*Parser).DecodeSegment", jwtParse, tokenVer, session},
			request...), 1}}, map[category]float64{catJWT: 1}},
		{"JSON a handler encodes is JSON", []synthSample{{with([]string{"strconv.AppendInt", "encoding/json.intEncoder",
			"encoding/json.structEncoder.encode", "encoding/json.(*Encoder).Encode", "github.com/jwtd/jwtd/handlers.writeJSON", session},
			request...), 1}}, map[category]float64{catJWT: 1}},
		{"JSON Echo decodes is JSON", []synthSample{{with([]string{"encoding/json.checkValid", "encoding/json.(*Decoder).Decode",
			"github.com/labstack/echo/v4.(*DefaultBinder).BindBody", "github.com/jwtd/jwtd/handlers.(*Server).login"}, request...), 1}},
			map[category]float64{catJWT: 1}},
		{"JSON under slog is logging", []synthSample{{with([]string{"encoding/json.(*encodeState).string", "encoding/json.Marshal",
			"log/slog.appendJSONMarshal", "log/slog.appendJSONValue", "log/slog.(*handleState).appendAttr"}, request...), 1}},
			map[category]float64{catLogging: 1}},
		{"allocation under the JWT parser is GC", []synthSample{{with([]string{"runtime.nextFreeFast",
			"runtime.mallocgcSmallScanNoHeader", "runtime.mallocgc", "runtime.newobject", jwtParse, tokenVer}, request...), 1}},
			map[category]float64{catGC: 1}},
		{"allocation under slog is GC", []synthSample{{with([]string{"runtime.memclrNoHeapPointers", "runtime.mallocgc",
			"runtime.growslice", "log/slog.(*handleState).appendString"}, request...), 1}}, map[category]float64{catGC: 1}},
		{"the background mark worker is GC", []synthSample{{stk("runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker.func2",
			"runtime.systemstack", "runtime.gcBgMarkWorker", "runtime.goexit"), 1}}, map[category]float64{catGC: 1}},
		{"the collector's own packages are GC", []synthSample{{stk("internal/runtime/gc/scan.scanSpanPackedAVX512",
			"runtime.systemstack", "runtime.goexit"), 1}}, map[category]float64{catGC: 1}},
		{"the scheduler and the poller are other", []synthSample{{stk(syscall6, "internal/runtime/syscall/linux.EpollWait",
			"runtime.netpoll", "runtime.findRunnable", "runtime.schedule", "runtime.park_m", "runtime.mcall"), 1}},
			map[category]float64{catOther: 1}},
		{"a histogram in the access-log middleware is metrics", []synthSample{{with([]string{"sync/atomic.(*Uint64).Add",
			"github.com/prometheus/client_golang/prometheus.(*histogram).Observe"}, request...), 1}}, map[category]float64{catMetrics: 1}},
		{"the middleware's own work is logging", []synthSample{{with([]string{"time.Now"}, request...), 1}},
			map[category]float64{catLogging: 1}},
		{"a map lookup in the memory store is other", []synthSample{{with([]string{"runtime.mapaccess2_faststr",
			"github.com/jwtd/jwtd/revocation.(*MemoryStore).Check", session}, request...), 1}}, map[category]float64{catOther: 1}},
		{"jwtd's handler code is HTTP", []synthSample{{with([]string{"strings.Cut", "github.com/jwtd/jwtd/handlers.bearerToken", session},
			request...), 1}}, map[category]float64{catHTTP: 1}},
		{"a socket read with nothing above is HTTP", []synthSample{{stk(syscall6, "syscall.read", "internal/poll.(*FD).Read"), 1}},
			map[category]float64{catHTTP: 1}},
		{"a sample without frames is other", []synthSample{{nil, 1}}, map[category]float64{catOther: 1}},
		{"inlined frames are walked innermost first", []synthSample{{[][]string{
			{"crypto/internal/fips140/sha256.blockGeneric", "github.com/jwtd/jwtd/clients.(*Registry).Verify"},
			{"github.com/jwtd/jwtd/handlers.(*Server).authenticate"}, {echoServe}}, 1}}, map[category]float64{catCrypto: 1}},
		{"shares weigh the samples", []synthSample{
			{with([]string{"crypto/internal/fips140/nistec.p256Sqr", jwtParse}, request...), 6},
			{with(socketWrite, "net/http.(*response).finishRequest", serve), 3},
			{with([]string{"runtime.scanobject", "runtime.gcDrain"}), 1},
		}, map[category]float64{catCrypto: 0.6, catHTTP: 0.3, catGC: 0.1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := summarize(synth(t, tt.samples...))
			if err != nil {
				t.Fatalf("summarize: %v", err)
			}
			var ticks int64
			for _, smp := range tt.samples {
				ticks += smp.ticks
			}
			if s.samples != ticks {
				t.Errorf("samples = %d, want %d", s.samples, ticks)
			}
			sum := 0.0
			for c := range numCategories {
				sum += s.shares[c]
				if math.Abs(s.shares[c]-tt.want[c]) > 1e-9 {
					t.Errorf("share of %s = %.3f, want %.3f", c, s.shares[c], tt.want[c])
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("shares sum to %v, want 1", sum)
			}
		})
	}
}

func TestTopFlat(t *testing.T) {
	write := func(above ...string) [][]string {
		return with([]string{syscall6, "syscall.RawSyscall6", "syscall.Syscall", sysWrite, "internal/poll.(*FD).Write"}, above...)
	}
	p := synth(t,
		synthSample{with([]string{"crypto/internal/fips140/nistec.p256Sqr", jwtParse}, request...), 66},
		synthSample{write("os.(*File).Write", "log/slog.(*JSONHandler).Handle"), 9},
		synthSample{write("net.(*conn).Write", "net/http.(*response).finishRequest", serve), 8},
		synthSample{stk("runtime.memmove", "crypto/internal/fips140/bigmod.(*Nat).Exp"), 7}, // crypto: left out
		synthSample{stk("runtime.memmove", "encoding/base64.(*Encoding).Decode", jwtParse), 4},
		synthSample{stk("runtime.memmove", "bufio.(*Writer).Write", serve), 3},
		synthSample{stk("encoding/json.checkValid", jwtParse), 2},
		synthSample{stk("runtime.scanobject", "runtime.gcDrain"), 1},
	)
	s, err := summarize(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []flatShare{
		{syscall6 + " ← " + sysWrite, catLogging, 0.09},
		{syscall6 + " ← " + sysWrite, catHTTP, 0.08},
		{"runtime.memmove", catJWT, 0.04},
		{"runtime.memmove", catHTTP, 0.03},
		{"encoding/json.checkValid", catJWT, 0.02},
	}
	if len(s.top) != len(want) {
		t.Fatalf("top = %v, want %v", s.top, want)
	}
	for i := range want {
		if s.top[i].fn != want[i].fn || s.top[i].cat != want[i].cat || math.Abs(s.top[i].share-want[i].share) > 1e-9 {
			t.Errorf("top[%d] = %+v, want %+v", i, s.top[i], want[i])
		}
	}
	if s.cpu != 100*tick {
		t.Errorf("cpu = %v, want %v", s.cpu, 100*tick)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	if _, err := summarize(synth(t)); !errors.Is(err, errEmptyProfile) {
		t.Errorf("summarize(no samples) = %v, want errEmptyProfile", err)
	}
}

func TestPackageOf(t *testing.T) {
	tests := []struct{ fn, want string }{
		{"runtime.mallocgc", "runtime"},
		{"github.com/labstack/echo/v4.(*Echo).ServeHTTP", "github.com/labstack/echo/v4"},
		{"github.com/jwtd/jwtd/handlers.(*Server).accessLog.func1", "github.com/jwtd/jwtd/handlers"},
		{"crypto/internal/fips140/nistec.(*P256Point).ScalarMult", "crypto/internal/fips140/nistec"},
		{"slices.SortFunc[go.shape.[]net/http.keyValues,go.shape.struct { net/http.key string }]", "slices"},
		{"aeshashbody", "aeshashbody"},
	}
	for _, tt := range tests {
		if got := packageOf(tt.fn); got != tt.want {
			t.Errorf("packageOf(%q) = %q, want %q", tt.fn, got, tt.want)
		}
	}
}
