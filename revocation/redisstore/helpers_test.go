package redisstore_test

// Helpers shared by the tests of this package.

import (
	"context"
	"testing"

	"github.com/jwtd/jwtd/revocation"
)

// snapshot collects a Snapshot: its cursor and entries.
func snapshot(t *testing.T, s revocation.Store) (string, []revocation.Entry) {
	t.Helper()
	var entries []revocation.Entry
	cursor, err := s.Snapshot(context.Background(), func(e revocation.Entry) error {
		entries = append(entries, e)
		return nil
	})
	must(t, err)
	return cursor, entries
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var ctx = context.Background()
