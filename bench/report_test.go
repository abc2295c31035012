package main

import "testing"

func TestSpread(t *testing.T) {
	floor := &row{server: "floor", steps: []measurement{{rate: 100}, {rate: 100}, {rate: 200}}}
	r := &row{server: "jwtd memory", floor: floor, steps: []measurement{{rate: 90}, {rate: 72}, {rate: 190}}}
	if got := r.spread(rate); got != "0.72–0.95" {
		t.Errorf("spread = %q, want 0.72–0.95", got)
	}
	if got := r.ratio(rate); got != 0.9 {
		t.Errorf("ratio = %v, want the median 0.9", got)
	}
	one := &row{server: "jwtd redis", floor: floor, steps: []measurement{{rate: 90}}}
	if got := one.spread(rate); got != "" {
		t.Errorf("spread of one round = %q, want none", got)
	}
	if got := floor.spread(rate); got != "" {
		t.Errorf("spread of a floor = %q, want none", got)
	}
}
