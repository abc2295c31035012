package handlers

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jwtd/jwtd/revocation"
)

// countStoreError counts a store outage. A call the client cancelled by
// hanging up is not one, whatever the store wrapped it in.
func (s *Server) countStoreError(op string, err error) {
	if errors.Is(err, revocation.ErrUnavailable) && !errors.Is(err, context.Canceled) {
		s.metrics.storeErr.WithLabelValues(op).Inc()
	}
}

type metrics struct {
	requests *prometheus.HistogramVec
	// observers holds requests' histogram of each (method, route,
	// status) seen: WithLabelValues checks each value is UTF-8, hashes
	// them byte by byte and takes a lock, on every request (320 ns here
	// against 160 with this map). The labels are bounded (methodLabel,
	// routeLabel, statusLabel: never a value the client chose), and so
	// is this map.
	obsMu     sync.RWMutex
	observers map[requestLabels]prometheus.Observer
	issued    *prometheus.CounterVec
	reuse     prometheus.Counter
	failOpen  prometheus.Counter
	storeErr  *prometheus.CounterVec
	slowHash  *prometheus.CounterVec
	feedFail  prometheus.Counter
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		observers: map[requestLabels]prometheus.Observer{},
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jwtd_http_request_duration_seconds", Help: "HTTP requests by method, route and status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"method", "route", "status"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtd_tokens_issued_total", Help: "Tokens minted, by kind (access, refresh).",
		}, []string{"kind"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jwtd_refresh_reuse_detected_total", Help: "Spent refresh tokens presented again; each revoked its session.",
		}),
		failOpen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jwtd_revocation_fail_open_total", Help: "Tokens accepted without a revocation check because the store was down.",
		}),
		storeErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtd_revocation_store_errors_total", Help: "Revocation store calls that failed, by operation.",
		}, []string{"op"}),
		feedFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jwtd_revocation_feed_publish_failures_total", Help: "Revocations done whose feed event could not be published at once; the store retries them.",
		}),
	}
	m.slowHash = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jwtd_client_secret_slow_checks_total",
		Help: "bcrypt and argon2id client secret checks: checked (run, including the dummy for unknown ids) or busy (refused 503, no slot free).",
	}, []string{"outcome"})
	r.MustRegister(m.requests, m.issued, m.reuse, m.failOpen, m.storeErr, m.slowHash, m.feedFail)
	return m
}

type requestLabels struct{ method, route, status string }

// observeRequest records one request's duration in seconds.
func (m *metrics) observeRequest(method, route, status string, seconds float64) {
	k := requestLabels{method, route, status}
	m.obsMu.RLock()
	o, ok := m.observers[k]
	m.obsMu.RUnlock()
	if !ok {
		o = m.requests.WithLabelValues(method, route, status)
		m.obsMu.Lock()
		m.observers[k] = o
		m.obsMu.Unlock()
	}
	o.Observe(seconds)
}

// MetricsHandler returns the handler for a registry's /metrics.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
