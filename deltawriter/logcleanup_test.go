package deltawriter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// agedTable writes a table of writerSchema with 25 appends (versions 1..25,
// checkpoints at 10 and 20) on local disk and dates commit v at base+v
// hours, so that a clock decides which versions are within retention.
func agedTable(t *testing.T, base time.Time) (*objstore.Local, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	tbl := New(st, WithLogger(discardLogger()))
	if _, err := tbl.Create(ctx, writerSchema, CreateOptions{PartitionColumns: []string{"writer"}}); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 25; i++ {
		rec := writerBatch("a", i*10, 10)
		_, err := tbl.Append(ctx, []arrow.Record{rec}, deltalog.Txn{AppID: "a", Version: i})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, "_delta_log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		v, err := strconv.ParseInt(strings.SplitN(e.Name(), ".", 2)[0], 10, 64)
		if err != nil {
			continue
		}
		at := base.Add(time.Duration(v) * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, "_delta_log", e.Name()), at, at); err != nil {
			t.Fatal(err)
		}
	}
	return st, dir
}

// TestCleanLogKeepsRetainedVersions: after a log cleanup every version
// committed within the retention (and from the caller's minimum version)
// still loads, in Sluice's reader and in delta-rs, with its rows; older
// versions are refused with ErrVersionNotFound, and delta-rs refuses them
// too.
func TestCleanLogKeepsRetainedVersions(t *testing.T) {
	ctx := context.Background()
	base := time.Now().Add(-60 * 24 * time.Hour)
	tests := []struct {
		name       string
		clock      time.Time // now, for the table
		minVersion int64
		oldest     int64 // oldest loadable version after cleanup; -1: nothing deleted
	}{
		{"retention covers versions 13 and later", base.Add(30*24*time.Hour + 12*time.Hour + 30*time.Minute), -1, 10},
		{"retention covers only the latest", base.Add(90 * 24 * time.Hour), -1, 20},
		{"a share's history from version 15", base.Add(90 * 24 * time.Hour), 15, 10},
		{"a share's history from version 4: nothing goes", base.Add(90 * 24 * time.Hour), 4, -1},
		{"all within retention", base.Add(24 * time.Hour), -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, dir := agedTable(t, base)
			tbl := New(st, WithLogger(discardLogger()), WithClock(func() time.Time { return tt.clock }))
			res, err := tbl.CleanLog(ctx, LogCleanupOptions{MinVersion: tt.minVersion})
			if err != nil {
				t.Fatal(err)
			}
			if res.OldestLoadable != tt.oldest {
				t.Fatalf("oldest loadable %d, want %d (deleted %v)", res.OldestLoadable, tt.oldest, res.Deleted)
			}
			first := max(tt.oldest, 0)
			for v := int64(0); v <= 25; v++ {
				snap, err := tbl.Snapshot(ctx, deltalog.AtVersion(v))
				if v < first {
					if !errors.Is(err, deltalog.ErrVersionNotFound) {
						t.Fatalf("version %d after cleanup: err %v, want ErrVersionNotFound", v, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("version %d after cleanup: %v", v, err)
				}
				if v > 0 && snap.NumFiles() != int(v) {
					t.Fatalf("version %d has %d files, want %d", v, snap.NumFiles(), v)
				}
			}
			// delta-rs: the oldest loadable version, one inside, the latest, and one refused.
			probe := []int64{first, first + 3, 25}
			for _, v := range probe {
				o := testenv.DeltaRs(t, nil, []string{dir}, "--rows", "--version", strconv.FormatInt(v, 10))[0]
				if o.Error != "" {
					t.Fatalf("delta-rs version %d after cleanup: %s", v, o.Error)
				}
				if o.Version != v || o.NumRecords != v*10 {
					t.Fatalf("delta-rs version %d: got version %d with %d rows, want %d", v, o.Version, o.NumRecords, v*10)
				}
				checkWriterRowsOnce(t, o.Rows, int(v*10))
			}
			if first > 0 {
				o := testenv.DeltaRs(t, nil, []string{dir}, "--version", strconv.FormatInt(first-1, 10))[0]
				if o.Error == "" {
					t.Fatalf("delta-rs loaded version %d, which the cleanup deleted", first-1)
				}
			}
		})
	}
}
