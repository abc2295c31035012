package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxDocumentBytes bounds what is read of a key set or metadata
	// document; jwtd's are under 4 KiB.
	maxDocumentBytes = 1 << 20
	// fetchTimeout bounds one fetch whatever the client, so a stalled
	// server cannot hold the one fetch slot of a Set for ever.
	fetchTimeout = time.Minute
	// clientTimeout is the timeout of the client used when none is given.
	clientTimeout = 10 * time.Second
	maxRedirects  = 10
)

// checkURL parses raw and refuses anything but https, or http on a loopback
// host: keys fetched in the clear from elsewhere are keys anyone on the path
// could replace.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot parse it", ErrInsecureURL)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("%w: %s", ErrInsecureURL, redact(u))
	}
	return u, nil
}

// isLoopback reports whether host names this machine: "localhost" (RFC 6761
// §6.3) or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// redact returns u without user information, query or fragment, which may
// carry credentials, for errors and logs.
func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// defaultClient is the client used when none is given: a timeout, its own
// transport (so a stopped Set can close its idle connections), and no
// redirect to a URL checkURL refuses, so https cannot be downgraded.
func defaultClient() (*http.Client, *http.Transport) {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = t.Clone()
	}
	return &http.Client{
		Timeout:   clientTimeout,
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			_, err := checkURL(req.URL.String())
			return err
		},
	}, tr
}

// get fetches u. A 200 comes with its body, read up to maxDocumentBytes;
// any other status comes without, for the caller to judge.
func get(ctx context.Context, client *http.Client, u, accept, etag string) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	req.Header.Set("Accept", accept)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return res, nil, nil
	}
	if res.ContentLength > maxDocumentBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, res.ContentLength, maxDocumentBytes)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read body: %w", ErrFetch, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxDocumentBytes)
	}
	return res, body, nil
}

// freshness is how long a response stays fresh (RFC 9111 §4.2.1): its
// Cache-Control max-age, else its Expires less its Date (or now), less its
// Age; 0 for no-store, no-cache, an invalid value, or no information.
func freshness(h http.Header, now time.Time) time.Duration {
	life, ok := maxAge(h)
	if !ok {
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil {
			return 0
		}
		date, err := http.ParseTime(h.Get("Date"))
		if err != nil {
			date = now
		}
		life = exp.Sub(date)
	}
	if life <= 0 {
		return 0
	}
	if age, err := strconv.ParseUint(strings.TrimSpace(h.Get("Age")), 10, 63); err == nil {
		life -= seconds(age)
	}
	return max(life, 0)
}

// maxAge reads Cache-Control's max-age (RFC 9111 §5.2.2.1). no-store and
// no-cache, and an invalid or repeated max-age, give 0; ok is false when
// no directive says anything about freshness.
func maxAge(h http.Header) (d time.Duration, ok bool) {
	for _, line := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				if ok {
					return 0, true
				}
				n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(value), `"`), 10, 63)
				switch {
				case errors.Is(err, strconv.ErrRange):
					d = math.MaxInt64
				case err != nil:
					return 0, true
				default:
					d = seconds(n)
				}
				ok = true
			}
		}
	}
	return d, ok
}

// seconds converts n seconds to a Duration, saturating.
func seconds(n uint64) time.Duration {
	if n > math.MaxInt64/uint64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(n) * time.Second
}
