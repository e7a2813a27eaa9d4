package catalog

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestWatchChanges: a change committed through one server's catalog
// reaches another server's WatchChanges (PostgreSQL LISTEN/NOTIFY), a
// rolled-back one does not; SQLite is not shared and says so.
func TestWatchChanges(t *testing.T) {
	sq := sqliteDB(t).open(t)
	if sq.Shared() {
		t.Error("an SQLite catalog says it is shared")
	}
	if err := sq.WatchChanges(context.Background(), func() {}, slog.Default()); !errors.Is(err, ErrNotShared) {
		t.Errorf("WatchChanges on SQLite: %v, want ErrNotShared", err)
	}

	db := postgresDB(t)
	one, other := db.open(t), db.open(t)
	if !one.Shared() {
		t.Fatal("a PostgreSQL catalog says it is not shared")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heard := make(chan struct{}, 16)
	go other.WatchChanges(ctx, func() { heard <- struct{}{} }, slog.Default())
	select { // the first call: listening
	case <-heard:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchChanges did not start listening")
	}
	for _, tc := range []struct {
		name  string
		fn    func(tx *Tx) error
		heard bool
	}{
		{"rolled back", func(tx *Tx) error {
			if _, err := tx.CreateDatabase(Database{Name: "gone"}); err != nil {
				return err
			}
			return errors.New("roll back")
		}, false},
		{"committed", func(tx *Tx) error { _, err := tx.CreateDatabase(Database{Name: "sales"}); return err }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			one.Update(ctx, tc.fn)
			select {
			case <-heard:
				if !tc.heard {
					t.Error("a rolled-back transaction notified")
				}
			case <-time.After(2 * time.Second):
				if tc.heard {
					t.Error("the other server heard nothing of a committed change within 2s")
				}
			}
		})
	}
}
