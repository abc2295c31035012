package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jwtd/jwtd/handlers"
	"github.com/jwtd/jwtd/revocation"
)

// downStore fails every Check as a lost Redis would, once down is set.
type downStore struct {
	revocation.Store
	down atomic.Bool
}

func (s *downStore) Check(ctx context.Context, t revocation.Token) error {
	if s.down.Load() {
		return fmt.Errorf("%w: check: connection refused", revocation.ErrUnavailable)
	}
	return s.Store.Check(ctx, t)
}

// TestOutageLoggedOnce: an error on its way out is logged once, by the
// error handler, not also by the code that returned it. A bearer request
// refused because the store is down (fail_mode closed) gives one Warn
// line besides the access log line, and that line says why.
func TestOutageLoggedOnce(t *testing.T) {
	store := &downStore{}
	h := newHarness(t, func(_ *harness, o *handlers.Options) {
		store.Store = o.Store
		o.Store = store
	})
	tr := h.login(`{"sub":"alice","client_id":"app"}`)
	store.down.Store(true)
	before := len(h.logs.String())
	w := h.do(req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + tr.AccessToken}})
	wantError(t, "GET /v1/session with the store down", w, 503, "temporarily_unavailable", "revocation store unavailable; retry later")
	var warned []string
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()[before:]), "\n") {
		var rec struct{ Level, Msg, Error string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level != "INFO" {
			warned = append(warned, rec.Msg+": "+rec.Error)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "fail_mode closed") {
		t.Fatalf("GET /v1/session with the store down: logged %q, want one line naming fail_mode closed", warned)
	}
}
