package main

import (
	"strings"
)

// category is where a CPU sample's time goes, decided from its whole stack
// (see categorize).
type category int

const (
	catCrypto category = iota
	catJWT
	catHTTP
	catLogging
	catMetrics
	catRedis
	catGC
	catOther
	numCategories
)

// categoryNames are the summary table's column names, by category.
var categoryNames = [numCategories]string{
	catCrypto:  "crypto",
	catJWT:     "JWT & JSON",
	catHTTP:    "HTTP",
	catLogging: "logging",
	catMetrics: "metrics",
	catRedis:   "Redis",
	catGC:      "runtime GC",
	catOther:   "other",
}

func (c category) String() string { return categoryNames[c] }

// frameKind says how a frame takes part in deciding a sample's category.
type frameKind int

const (
	// helper frames (the rest of the runtime, sync, strings, strconv,
	// reflect, math/big, unknown modules…) are skipped: their time is
	// their caller's.
	helper frameKind = iota
	// plumbing frames (I/O: syscall, internal/poll, net, bufio, os, io;
	// encoding: encoding/json, encoding/base64) are skipped too, but have
	// a category of their own (HTTP, JWT & JSON) that the frame deciding
	// above them keeps when it is HTTP or other.
	plumbing
	// claiming frames decide, and take the plumbing below them: logging,
	// metrics, Redis, JWT (a write under slog is logging, a socket write
	// under go-redis is Redis, base64 under golang-jwt is JWT).
	claiming
	// surface frames decide, but leave the plumbing below them its own
	// category: HTTP (net/http, Echo, jwtd's handlers) and other (jwtd's
	// memory stores, clients, keys). A socket write under net/http is
	// HTTP; JSON a handler or Echo encodes is JSON.
	surface
	// final frames decide whatever is below or above them: crypto, and
	// the runtime's collector and allocator.
	final
)

// frameClass is one frame's kind and category.
type frameClass struct {
	kind frameKind
	cat  category
}

// packageOf is the import path of a Go function name as profiles spell it
// ("github.com/labstack/echo/v4.(*Echo).ServeHTTP" → "github.com/labstack/echo/v4"),
// type parameters dropped first (they may hold slashes and dots).
func packageOf(fn string) string {
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i]
	}
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

// under reports whether pkg is one of the roots or inside one.
func under(pkg string, roots ...string) bool {
	for _, r := range roots {
		if pkg == r || strings.HasPrefix(pkg, r+"/") {
			return true
		}
	}
	return false
}

const jwtdModule = "github.com/jwtd/jwtd"

// gcFunctions are the runtime's collector and allocator, by name prefix
// (runtime.mallocgc covers its size classes, runtime.gc the mark workers
// and assists, runtime.scan both the classic and the Green Tea scanner).
var gcFunctions = []string{
	"runtime.gc", "runtime.(*gc", "runtime.mallocgc", "runtime.newobject", "runtime.newarray",
	"runtime.makeslice", "runtime.growslice", "runtime.scan", "runtime.greyobject", "runtime.mark",
	"runtime.(*mspan)", "runtime.(*mheap)", "runtime.(*mcache)", "runtime.(*mcentral)", "runtime.(*pageAlloc)",
	"runtime.sweep", "runtime.(*sweep", "runtime.bgsweep", "runtime.bgscavenge", "runtime.(*scavenger",
	"runtime.wbBuf", "runtime.(*wbBuf", "runtime.bulkBarrier", "runtime.findObject", "runtime.spanOf",
	"runtime.heapSetType", "runtime.deductAssistCredit", "runtime.nextFreeFast", "runtime.tryDeferToSpanScan",
	"runtime.(*spanInlineMarkBits)", "runtime.(*spanQueue)", "runtime.(*gcBits)", "runtime.typePointers",
	"runtime.(*mSpanStateBox)", "runtime.(*spanSet)", "runtime.(*stackScanState)", "runtime.shade",
}

// classify is one frame's part in deciding, from its function name.
func classify(fn string) frameClass {
	pkg := packageOf(fn)
	switch {
	case under(pkg, "crypto", "golang.org/x/crypto", "vendor/golang.org/x/crypto", "filippo.io", "github.com/cloudflare/circl",
		"github.com/decred/dcrd/dcrec/secp256k1"):
		return frameClass{final, catCrypto}
	case under(pkg, "internal/runtime/gc"): // the Green Tea scanner's kernels
		return frameClass{final, catGC}
	case pkg == "runtime":
		for _, p := range gcFunctions {
			if strings.HasPrefix(fn, p) {
				return frameClass{final, catGC}
			}
		}
		return frameClass{helper, catOther}
	case under(pkg, "log/slog", "log"):
		return frameClass{claiming, catLogging}
	case pkg == jwtdModule+"/handlers" && (strings.HasPrefix(fn, pkg+".(*Server).accessLog") || strings.HasPrefix(fn, pkg+".logValue")):
		return frameClass{claiming, catLogging}
	case under(pkg, "github.com/prometheus", "github.com/beorn7/perks"):
		return frameClass{claiming, catMetrics}
	case under(pkg, "github.com/redis/go-redis", "github.com/go-redis", jwtdModule+"/revocation/redisstore"):
		return frameClass{claiming, catRedis}
	case under(pkg, "github.com/golang-jwt", "github.com/lestrrat-go", "github.com/goccy/go-json", jwtdModule+"/token"):
		return frameClass{claiming, catJWT}
	case under(pkg, "net/http", "net/textproto", "net/url", "mime", "golang.org/x/net", "vendor/golang.org/x/net",
		"github.com/labstack", "github.com/valyala", jwtdModule+"/handlers"):
		return frameClass{surface, catHTTP}
	case under(pkg, jwtdModule, "main"):
		return frameClass{surface, catOther}
	case pkg == "net" || under(pkg, "syscall", "internal/poll", "internal/syscall/unix", "bufio", "os", "io"):
		return frameClass{plumbing, catHTTP}
	case under(pkg, "encoding/json", "encoding/base64"):
		return frameClass{plumbing, catJWT}
	}
	return frameClass{helper, catOther}
}

// categorize is the category of one sample from its stack, function names
// from the leaf to the root (inlined frames expanded). From the leaf, it
// skips helpers and plumbing, remembering the first plumbing; the first
// frame of any other kind decides: a final or claiming frame's category is
// the sample's, a surface frame's only when no plumbing lies below it.
// With no deciding frame (the scheduler, the network poller) the plumbing
// decides, or the sample is other.
func categorize(stack []string) category {
	var below *frameClass
	for _, fn := range stack {
		c := classify(fn)
		switch c.kind {
		case helper:
			continue
		case plumbing:
			if below == nil {
				below = &c
			}
			continue
		case surface:
			if below != nil {
				return below.cat
			}
		}
		return c.cat
	}
	if below != nil {
		return below.cat
	}
	return catOther
}
