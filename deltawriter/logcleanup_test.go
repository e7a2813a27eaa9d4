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

// TestVacuumKeepsPromisedHistory: files that a version at or after
// MinVersion references stay through VACUUM whatever their age, so a reader
// of that version still gets its rows; without MinVersion they go.
func TestVacuumKeepsPromisedHistory(t *testing.T) {
	ctx := context.Background()
	for _, keep := range []bool{true, false} {
		t.Run("minVersion="+strconv.FormatBool(keep), func(t *testing.T) {
			st, dir := agedTable(t, time.Now())
			tbl := New(st, WithLogger(discardLogger()))
			p := DefaultCompactPolicy()
			p.MinAge, p.MinFiles = 0, 2
			if res, err := tbl.Compact(ctx, p); err != nil || res.FilesRemoved != 25 {
				t.Fatalf("compact: %+v, %v", res, err)
			}
			// One more append after the compaction: version 27's file is
			// live, version 12's files are history.
			rec := writerBatch("a", 250, 10)
			defer rec.Release()
			if _, err := tbl.Append(ctx, []arrow.Record{rec}); err != nil {
				t.Fatal(err)
			}
			later := New(st, WithLogger(discardLogger()), WithClock(func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }))
			o := VacuumOptions{}
			if keep {
				o.MinVersion = 12
			}
			res, err := later.Vacuum(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			want := 25 // the compacted files
			if keep {
				want = 0 // versions 12..25 reference every one of them
			}
			if len(res.Files) != want {
				t.Fatalf("vacuum deleted %d files, want %d", len(res.Files), want)
			}
			o12 := testenv.DeltaRs(t, nil, []string{dir}, "--rows", "--version", "12")[0]
			if keep {
				if o12.Error != "" || o12.NumRecords != 120 {
					t.Fatalf("delta-rs version 12 after vacuum with MinVersion 12: %d rows, %s", o12.NumRecords, o12.Error)
				}
			} else if o12.Error == "" {
				t.Fatal("delta-rs read version 12 after a vacuum that deleted its files")
			}
			if latest := testenv.DeltaRs(t, nil, []string{dir}, "--rows")[0]; latest.Error != "" || latest.NumRecords != 260 {
				t.Fatalf("delta-rs latest after vacuum: %d rows, %s", latest.NumRecords, latest.Error)
			}
		})
	}
}

// TestCheckpointExpiresTombstonesByTheTablesClock: a checkpoint drops the
// tombstones older than delta.deletedFileRetentionDuration by the clock
// that dated them. Taking real time instead kept every tombstone of a
// compressed-time table, so its checkpoints grew without end.
func TestCheckpointExpiresTombstonesByTheTablesClock(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Add(30 * 24 * time.Hour)
	clock := func() time.Time { return now }
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tbl := New(st, WithClock(clock), WithCheckpoints(false), WithLogger(discardLogger()))
	if _, err := tbl.Create(ctx, writerSchema, CreateOptions{Configuration: map[string]string{
		"delta.deletedFileRetentionDuration": "interval 1 hour"}}); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 3; i++ {
		rec := writerBatch("a", i*10, 10)
		_, err := tbl.Append(ctx, []arrow.Record{rec})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if res, err := tbl.Optimize(ctx, OptimizeOptions{}); err != nil || res.FilesRemoved != 3 {
		t.Fatalf("optimize: %+v, %v; want 3 files removed", res, err)
	}
	for _, tt := range []struct {
		name       string
		advance    time.Duration
		tombstones int
	}{{"within retention", 30 * time.Minute, 3}, {"expired", time.Hour, 0}} {
		now = now.Add(tt.advance)
		if _, err := tbl.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		snap, err := deltalog.Load(ctx, st) // from the checkpoint alone
		if err != nil {
			t.Fatal(err)
		}
		if got := len(snap.Tombstones()); got != tt.tombstones {
			t.Fatalf("%s: the checkpoint keeps %d tombstones, want %d", tt.name, got, tt.tombstones)
		}
	}
}
