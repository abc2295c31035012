package main

import (
	"testing"
	"time"
)

func TestStealShare(t *testing.T) {
	s0 := map[string]time.Duration{"0": time.Second, "1": 2 * time.Second}
	s1 := map[string]time.Duration{"0": time.Second + 10*time.Millisecond, "1": 2*time.Second + 300*time.Millisecond}
	if got := stealShare(s0, s1, 3*time.Second); got < 0.099 || got > 0.101 {
		t.Errorf("stealShare = %v, want 0.1 (CPU 1 lost 300 ms of 3 s)", got)
	}
	if got := stealShare(nil, s1, time.Second); got != -1 {
		t.Errorf("stealShare without a first reading = %v, want -1", got)
	}
}

func TestStalls(t *testing.T) {
	s := stalls{Seconds: 2, Gaps: []time.Duration{200 * time.Microsecond, 2 * time.Millisecond, 6 * time.Millisecond}}
	if s.over(time.Millisecond) != 2 || s.over(5*time.Millisecond) != 1 || s.over(6*time.Millisecond) != 0 || s.longest() != 6*time.Millisecond {
		t.Errorf("over/longest: %d %d %d %v", s.over(time.Millisecond), s.over(5*time.Millisecond), s.over(6*time.Millisecond), s.longest())
	}
	if got := s.lost(); got < 0.0040 || got > 0.0042 {
		t.Errorf("lost = %v, want 0.0041", got)
	}
	// A real probe on this CPU: some time passes, and nothing is negative.
	p := probeStalls(20 * time.Millisecond)
	if p.Seconds < 0.02 || p.lost() < 0 || p.lost() > 1 {
		t.Errorf("probe: %+v", p)
	}
}
