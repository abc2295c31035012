package revocation_test

// Helpers shared by the tests of this package: one file, so a newcomer
// finds the harness, fixtures and assertions in one place.

import (
	"context"
	"testing"
	"time"

	"github.com/jwtd/jwtd/revocation"
)

func child(at time.Time, client, scope string) revocation.Child {
	return revocation.Child{IssuedAt: at.Truncate(time.Second), AccessID: id("at"), RefreshID: id("rt"), ClientID: client, Scope: scope}
}

var ctx = context.Background()

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
