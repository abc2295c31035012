package jwks

import (
	"net/http"
	"time"
)

// Exports for the tests.
var (
	Algorithms = algorithms
	Freshness  = freshness
)

const (
	MaxDocumentBytes = maxDocumentBytes
	MaxKeys          = maxKeys
)

// ParseSet is parseSet with each key reduced to its algorithm.
func ParseSet(body []byte) (map[string]string, error) {
	keys, err := parseSet(body)
	if err != nil {
		return nil, err
	}
	algs := make(map[string]string, len(keys))
	for kid, v := range keys {
		algs[kid] = v.alg
	}
	return algs, err
}

// RefreshIn is the clamped freshness of the current snapshot: what the
// cache was told to wait before the next background refresh.
func (s *Set) RefreshIn() time.Duration { return s.cur.Load().refreshIn }

// Has reports whether the current snapshot holds kid, without the refetch
// VerificationKey may trigger.
func (s *Set) Has(kid string) bool {
	_, ok := s.cur.Load().keys[kid]
	return ok
}

// CacheResponse is what the cache is handed after a successful fetch.
func (s *Set) CacheResponse() (*http.Response, error) { return cacheClient{s}.Get(s.url) }
