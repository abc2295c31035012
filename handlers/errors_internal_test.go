package handlers

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/revocation"
)

// sliceError is an error whose dynamic type cannot be compared with ==.
type sliceError []string

func (e sliceError) Error() string { return "several" }

// TestHTTPErrorTable: each sentinel of the answers table, wrapped or not,
// gets its answer (a cancelled store call is a 499, not an outage), and an
// error of an uncomparable type is a plain 500, not a panic.
func TestHTTPErrorTable(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"scope syntax", clients.ErrScopeSyntax, 400, codeInvalidScope},
		{"scope exceeds, wrapped", fmt.Errorf("login: %w", clients.ErrScopeExceeds), 400, codeInvalidScope},
		{"audience exceeds", clients.ErrAudienceExceeds, 400, codeInvalidTarget},
		{"no audience left", clients.ErrNoAudienceLeft, 400, codeInvalidGrant},
		{"busy", clients.ErrBusy, 503, codeTemporarilyUnavailable},
		{"cancelled", context.Canceled, statusClientClosed, codeInvalidRequest},
		{"store call cancelled", fmt.Errorf("%w: check: %w", revocation.ErrUnavailable, context.Canceled), statusClientClosed, codeInvalidRequest},
		{"revocation store down", fmt.Errorf("%w: check: refused", revocation.ErrUnavailable), 503, codeTemporarilyUnavailable},
		{"key store down", fmt.Errorf("%w: hgetall: refused", keys.ErrUnavailable), 503, codeTemporarilyUnavailable},
		{"uncomparable", sliceError{"a", "b"}, 500, codeServerError},
		{"joined", errors.Join(sliceError{"a"}, clients.ErrBusy), 503, codeTemporarilyUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := httpError(tt.err)
			if got.Status != tt.status || got.Code != tt.code {
				t.Fatalf("httpError(%v): %d %s, want %d %s", tt.err, got.Status, got.Code, tt.status, tt.code)
			}
		})
	}
}
