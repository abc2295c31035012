package handlers

import (
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// safeRequestID is what an incoming X-Request-Id must look like to be kept.
var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := header(c.Request().Header, echo.HeaderXRequestID)
		if !safeRequestID.MatchString(id) {
			id = newRequestID()
		}
		c.Response().Header()[echo.HeaderXRequestID] = []string{id}
		return next(c)
	}
}

// newRequestID is 128 random bits, base64url: unique across replicas and
// restarts for all practical purposes. A request id correlates log lines
// and is no secret, so it comes from math/rand/v2's generator (ChaCha8,
// seeded by the runtime), which costs no system call, and not from
// crypto/rand as token ids do.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// requestID is the request's id, read back from the answer's header:
// kept in echo's per-request store it would cost a map and a boxed string
// on every request.
func requestID(c echo.Context) string {
	return header(c.Response().Header(), echo.HeaderXRequestID)
}

// header is h.Get(key) for a key already in canonical form: every
// request reads and sets a few headers, and Get and Set check and
// canonicalise the key each time.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// methodLabel is the method label of the request histogram: a method
// jwtd routes, or "other". Any token is a valid HTTP method (RFC 9110
// §9.1), and every distinct label set is a time series the registry keeps
// forever, so a label taken from the request as is lets any client grow
// /metrics and the heap without bound.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions:
		return method
	}
	return "other"
}

// routeLabel is the route label: the template Echo matched, or
// "unmatched" for anything that is not a registered route.
func (s *Server) routeLabel(c echo.Context) string {
	if r := c.Path(); s.routes[r] {
		return r
	}
	return "unmatched"
}

// maxLogValue bounds each log field taken from the request, so a long
// method, path or address cannot make log lines of the header limit's size.
const maxLogValue = 256

// truncatedMark ends a value cut at maxLogValue bytes.
const truncatedMark = "...[truncated]"

// logValue returns v cut to maxLogValue bytes on a UTF-8 boundary and
// marked, so a reader can tell it is not the whole value.
func logValue(v string) string {
	if len(v) <= maxLogValue {
		return v
	}
	cut := maxLogValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + truncatedMark
}

// AccessLogMode says which requests the access log records.
type AccessLogMode int

const (
	// AccessLogOn records every request (the zero value).
	AccessLogOn AccessLogMode = iota
	// AccessLogOff records none; the request metrics still count them all.
	AccessLogOff
	// AccessLogSampled records every answer of status 400 or more (499
	// and 5xx included) and each successful one with probability Sample.
	AccessLogSampled
)

// AccessLog configures the access log: one JSON line per request is what
// a debugging session wants and what a busy production replica cannot
// afford (a line per request fills disks and costs throughput).
type AccessLog struct {
	Mode AccessLogMode
	// Sample is the fraction of successful requests AccessLogSampled
	// records, 0 to 1.
	Sample float64
}

// records reports whether the access log records an answer of status.
// The sample draws from math/rand/v2's per-thread generator: no lock, no
// allocation, and no need to be unpredictable.
func (l AccessLog) records(status int) bool {
	switch l.Mode {
	case AccessLogOff:
		return false
	case AccessLogSampled:
		return status >= 400 || rand.Float64() < l.Sample
	}
	return true
}

// statusLabels are the status label values of 100 to 599, made once:
// strconv.Itoa allocates for every number above 99.
var statusLabels = func() (out [500]string) {
	for i := range out {
		out[i] = strconv.Itoa(100 + i)
	}
	return out
}()

func statusLabel(status int) string {
	if status >= 100 && status < 600 {
		return statusLabels[status-100]
	}
	return strconv.Itoa(status)
}

// accessLog counts every request in the request metrics and writes one
// JSON line for those Options.AccessLog records. It logs the path without
// the query string and no header, so no token or secret reaches the log;
// every value taken from the request is bounded by logValue.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		route := s.routeLabel(c)
		elapsed := time.Since(start)
		s.metrics.observeRequest(methodLabel(req.Method), route, statusLabel(res.Status), elapsed.Seconds())
		if !s.opts.AccessLog.records(res.Status) {
			return nil
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", logValue(req.Method)),
			slog.String("path", logValue(req.URL.Path)),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Int64("bytes_out", res.Size),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("remote_ip", logValue(c.RealIP())),
		}
		if id, ok := c.Get(ctxClientID).(string); ok {
			attrs = append(attrs, slog.String("client_id", logValue(id)))
		}
		s.log.LogAttrs(req.Context(), slog.LevelInfo, "request", attrs...)
		return nil
	}
}
