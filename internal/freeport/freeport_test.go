package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestGetIsBelowTheEphemeralRangeAndBindable(t *testing.T) {
	start := ephemeralStart()
	for _, span := range []int{0, 10000} {
		for range 20 {
			p := Get(t, span)
			if p < low || p+span >= start {
				t.Fatalf("span %d: port %d (+%d) not in [%d, %d)", span, p, span, low, start)
			}
			for _, q := range []int{p, p + span} {
				l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(q)))
				if err != nil {
					t.Fatalf("span %d: port %d not bindable: %v", span, q, err)
				}
				l.Close()
			}
		}
	}
}

func TestBindableSaysNoForAHeldPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if bindable(l.Addr().(*net.TCPAddr).Port) {
		t.Fatal("bindable says yes for a port held by a listener")
	}
}

func TestPickRefusesASpanWithNoRoom(t *testing.T) {
	if _, err := Pick(ephemeralStart()); err == nil {
		t.Fatal("Pick with a span past the range: no error")
	}
}
