package handlers

import (
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// ipExtractor names the client of a request: the TCP peer, or, when the
// peer is one of trusted (a reverse proxy), the right-most address of
// X-Forwarded-For that is not itself trusted. Entries left of it are
// whatever the client sent, so they are never believed. Nothing is
// trusted by default, not even loopback or private networks, and no other
// header (X-Real-IP, Forwarded) is read.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
