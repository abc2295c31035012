// Package freeport picks loopback TCP ports for tests that must name a
// port before a process binds it (a redis-server, a jwtd whose issuer is
// its own address).
//
// Asking the kernel for port 0 and closing the listener is not enough:
// the port returns to the ephemeral range, where the next outgoing
// connection of any test may take it as its local port before the
// process that was meant to have it binds. Ports are therefore drawn at
// random from below the ephemeral range and checked bindable, so only
// another test drawing the same port in the same instant can collide.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

const low = 10000

// ephemeralStart is the first port of the kernel's ephemeral range
// (32768 when it cannot be read).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > low+1000 {
				return n
			}
		}
	}
	return 32768
}

// Get returns a loopback port that was free a moment ago and that no
// outgoing connection will be given. With span > 0, port+span is free
// too and also below the ephemeral range (a Redis Cluster node listens
// on port+10000 for its bus). The test fails when there is none.
func Get(t testing.TB, span int) int {
	t.Helper()
	p, err := Pick(span)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Pick is Get for a program that is not a test.
func Pick(span int) (int, error) {
	high := ephemeralStart() - span
	if high <= low {
		return 0, fmt.Errorf("freeport: no room below the ephemeral range for a span of %d", span)
	}
	for range 100 {
		p := low + rand.IntN(high-low)
		if bindable(p) && (span == 0 || bindable(p+span)) {
			return p, nil
		}
	}
	return 0, errors.New("freeport: no free loopback port after 100 tries")
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
