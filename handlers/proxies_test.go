package handlers_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/jwtd/jwtd/handlers"
)

// X-Forwarded-For names the client only when the TCP peer is a trusted
// proxy, and then by its right-most untrusted entry.
func TestTrustedProxies(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8:ff::/48")}
	tests := []struct {
		name, peer, xff string
		want            string
	}{
		{"no header, direct peer", "203.0.113.5:1", "", "203.0.113.5"},
		{"forged by an untrusted peer", "203.0.113.5:1", "198.51.100.1", "203.0.113.5"},
		{"forged by a loopback peer (not trusted by default)", "127.0.0.1:1", "198.51.100.1", "127.0.0.1"},
		{"forged by a private-network peer outside the list", "192.168.1.1:1", "198.51.100.1", "192.168.1.1"},
		{"from a trusted proxy", "10.1.2.3:1", "198.51.100.1", "198.51.100.1"},
		{"spoofed left-most entries", "10.1.2.3:1", "1.1.1.1, 8.8.8.8, 198.51.100.1", "198.51.100.1"},
		{"through two trusted proxies", "10.1.2.3:1", "6.6.6.6, 198.51.100.1, 10.1.9.9", "198.51.100.1"},
		{"IPv6 trusted proxy", "[2001:db8:ff::1]:1", "2001:db8:1::7", "2001:db8:1::7"},
		{"unparsable entry right of the client", "10.1.2.3:1", "198.51.100.1, bogus", "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(_ *harness, o *handlers.Options) { o.TrustedProxies = proxies })
			r := req{method: "GET", path: "/healthz"}
			if tc.xff != "" {
				r.header = map[string]string{"X-Forwarded-For": tc.xff, "X-Real-IP": "9.9.9.9", "Forwarded": "for=9.9.9.9"}
			}
			h.doFrom(tc.peer, r)
			want := `"remote_ip":"` + tc.want + `"`
			if !strings.Contains(h.logs.String(), want) {
				t.Fatalf("GET /healthz from %s, X-Forwarded-For %q: access log lacks %s:\n%s", tc.peer, tc.xff, want, h.logs)
			}
		})
	}
}
