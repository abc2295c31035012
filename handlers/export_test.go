package handlers

import (
	"sync"
	"time"

	"github.com/jwtd/jwtd/clients"
)

// testSlots are the slow-hash slots of the servers whose registry a test
// rebuilt, so HoldSlowHashSlots can take them.
var (
	testSlotsMu sync.Mutex
	testSlots   = map[*Server]chan struct{}{}
)

// SetSlowHashWait rebuilds s's client registry with wait d (zero: as good
// as none), on slots HoldSlowHashSlots can take. It drops the secret cache.
func SetSlowHashWait(s *Server, d time.Duration) {
	if d <= 0 {
		d = time.Nanosecond
	}
	slots := make(chan struct{}, 4)
	testSlotsMu.Lock()
	testSlots[s] = slots
	testSlotsMu.Unlock()
	s.clients = newRegistry(s.opts, s.metrics, clients.RegistryOptions{Wait: d, Slots: slots})
}

// HoldSlowHashSlots takes every slow-hash slot until release is called.
// The registry must have been rebuilt by SetSlowHashWait.
func HoldSlowHashSlots(s *Server) (release func()) {
	testSlotsMu.Lock()
	slots := testSlots[s]
	testSlotsMu.Unlock()
	if slots == nil {
		SetSlowHashWait(s, time.Second)
		return HoldSlowHashSlots(s)
	}
	for range cap(slots) {
		slots <- struct{}{}
	}
	return func() {
		for range cap(slots) {
			<-slots
		}
	}
}

// Routes lists every route New registered as "METHOD path", in Echo's
// syntax (":sub"), so the contract test can compare them with
// docs/openapi.yaml.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// SetSnapshotWait sets how long a snapshot waits for a slot.
func SetSnapshotWait(s *Server, d time.Duration) { s.snapshotWait = d }
