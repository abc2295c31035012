package handlers

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jwtd/jwtd/clients"
)

// sliceError is an error whose dynamic type cannot be compared with ==.
type sliceError []string

func (e sliceError) Error() string { return "several" }

// TestHTTPErrorRefusals: each refusal of the clients package, wrapped or
// not, gets its fixed answer, and an error of an uncomparable type is a
// plain 500, not a panic.
func TestHTTPErrorRefusals(t *testing.T) {
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
