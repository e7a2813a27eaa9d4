package deltawriter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/testdata"
)

// readerGolden are the golden tables of the reader features Sluice reads
// rows of: deletion vectors, column mapping (modes name and id), type
// widening and timestamp_ntz.
var readerGolden = []string{
	"dv-partitioned-with-checkpoint", "log-replay-dv-key-cases", "dv-with-columnmapping",
	"table-with-columnmapping-mode-name", "table-with-columnmapping-mode-id",
	"data-skipping-basic-stats-all-types-columnmapping-name", "data-skipping-basic-stats-all-types-columnmapping-id",
	"data-reader-timestamp_ntz", "data-reader-timestamp_ntz-name-mode", "data-reader-timestamp_ntz-id-mode",
}

// sluiceRows reads the live rows of a snapshot with ScanFile, partition
// values added, in the oracles' canonical form.
func sluiceRows(t *testing.T, tbl *Table, snap *deltalog.Snapshot) []any {
	t.Helper()
	ctx := context.Background()
	data := deltalog.Struct()
	isPart := map[string]bool{}
	for _, c := range snap.Metadata.PartitionColumns {
		isPart[strings.ToLower(c)] = true
	}
	for _, f := range snap.Schema.Fields {
		if !isPart[strings.ToLower(f.Name)] {
			data.Fields = append(data.Fields, f)
		}
	}
	var rows []any
	for _, a := range snap.Files() {
		var recs []arrow.Record
		err := tbl.ScanFile(ctx, snap, a, data, func(rec arrow.Record) error {
			rec.Retain()
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			t.Fatalf("version %d: %v", snap.Version, err)
		}
		rs, err := testenv.CanonicalRows(recs...)
		for _, r := range recs {
			r.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			m := r.(map[string]any)
			for _, c := range snap.Metadata.PartitionColumns {
				f := snap.Schema.FieldByName(c)
				m[c] = dvPartitionValue(f, a.PartitionValues[deltalog.PhysicalName(f, deltalog.ColumnMappingMode(&snap.Metadata))])
			}
			rows = append(rows, m)
		}
	}
	rows, err := testenv.SortRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// dvPartitionValue is a partition value as delta-rs returns it: integers as
// numbers, the rest as their text.
func dvPartitionValue(f *deltalog.Field, v *string) any {
	if v == nil {
		return nil
	}
	switch f.Type.Name {
	case deltalog.TypeTimestampNTZ: // "2021-11-18 02:30:00.123456", ISO in delta-rs
		return strings.Replace(*v, " ", "T", 1)
	case deltalog.TypeByte, deltalog.TypeShort, deltalog.TypeInteger, deltalog.TypeLong:
		if n, err := strconv.ParseInt(*v, 10, 64); err == nil {
			return n
		}
	}
	return *v
}

// deltaRsRows reads the table at version with delta-rs.
func deltaRsRows(t *testing.T, dir string, version int64) []any {
	t.Helper()
	o := testenv.DeltaRs(t, nil, []string{dir}, "--rows", "--version", strconv.FormatInt(version, 10))[0]
	if o.Error != "" {
		t.Fatalf("version %d: delta-rs: %s", version, o.Error)
	}
	if o.Version != version {
		t.Fatalf("delta-rs read version %d, asked %d", o.Version, version)
	}
	rows, err := testenv.SortRows(o.Rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// sameRows fails the test unless two readers' canonical rows are equal.
func sameRows(t *testing.T, stage, gotName string, got []any, wantName string, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %s has %d rows, %s %d", stage, gotName, len(got), wantName, len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			gj, _ := json.Marshal(got[i])
			wj, _ := json.Marshal(want[i])
			t.Fatalf("%s: row %d differs:\n%s: %s\n%s: %s", stage, i, gotName, gj, wantName, wj)
		}
	}
}

// TestGoldenReaderFeaturesMatchDeltaRs: Sluice's reader (deletion vectors
// applied, columns found by physical name or field id, widened values) and
// delta-rs agree row for row at every version of the golden tables of
// these features, and inspect counts the live rows.
func TestGoldenReaderFeaturesMatchDeltaRs(t *testing.T) {
	ctx := context.Background()
	for _, name := range readerGolden {
		t.Run(name, func(t *testing.T) {
			dir := testdata.Path("delta-golden", name)
			st, err := objstore.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			tbl := New(st)
			latest, err := tbl.Snapshot(ctx, deltalog.WithFeatures(handledFeatures...))
			if err != nil {
				t.Fatal(err)
			}
			for v := int64(0); v <= latest.Version; v++ {
				snap, err := tbl.Snapshot(ctx, deltalog.AtVersion(v), deltalog.WithFeatures(handledFeatures...))
				if err != nil {
					t.Fatalf("version %d: %v", v, err)
				}
				want := deltaRsRows(t, dir, v)
				sameRows(t, "version "+strconv.FormatInt(v, 10), "Sluice", sluiceRows(t, tbl, snap), "delta-rs", want)
				info, err := tbl.Inspect(ctx, deltalog.AtVersion(v))
				if err != nil {
					t.Fatalf("inspect version %d: %v", v, err)
				}
				if info.NumRecords != int64(len(want)) {
					t.Fatalf("inspect version %d: %d records (%d deleted), delta-rs reads %d", v, info.NumRecords, info.DeletedRecords, len(want))
				}
			}
		})
	}
}

// copyGolden copies a golden table to a temporary directory.
func copyGolden(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dir, os.DirFS(testdata.Path("delta-golden", name))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// OPTIMIZE on a table with deletion vectors rewrites files without their
// deleted rows: delta-rs then reads the same rows, none deleted comes back,
// and the new files carry no deletion vector.
func TestOptimizeAppliesDeletionVectors(t *testing.T) {
	ctx := context.Background()
	dir := copyGolden(t, "dv-partitioned-with-checkpoint")
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	tbl := New(st)
	before, err := tbl.Snapshot(ctx, deltalog.WithDeletionVectors())
	if err != nil {
		t.Fatal(err)
	}
	if !before.HasDeletionVectors() {
		t.Fatal("the golden table has no deletion vectors")
	}
	want := deltaRsRows(t, dir, before.Version)
	res, err := tbl.Optimize(ctx, OptimizeOptions{TargetFileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesRemoved < 2 || res.Version != before.Version+1 {
		t.Fatalf("optimize: %+v", res)
	}
	after, err := tbl.Snapshot(ctx, deltalog.WithDeletionVectors())
	if err != nil {
		t.Fatal(err)
	}
	// Every file with a deletion vector was rewritten (all are small) and
	// removed with its deletion vector.
	if after.HasDeletionVectors() {
		t.Fatal("files with deletion vectors are still live after OPTIMIZE")
	}
	for _, a := range before.Files() {
		if a.DeletionVector != nil && after.File(a.Path) != nil {
			t.Fatalf("%s is still live after OPTIMIZE", a.Path)
		}
	}
	got := deltaRsRows(t, dir, after.Version)
	sameRows(t, "after OPTIMIZE", "delta-rs", got, "delta-rs before", want)
	sameRows(t, "after OPTIMIZE", "Sluice", sluiceRows(t, tbl, after), "delta-rs before", want)
}

// VACUUM keeps the deletion vector files of live files and deletes those
// only removed files referenced.
func TestVacuumKeepsLiveDeletionVectors(t *testing.T) {
	ctx := context.Background()
	dir := copyGolden(t, "log-replay-dv-key-cases")
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	tbl := New(st)
	snap, err := tbl.Snapshot(ctx, deltalog.WithDeletionVectors())
	if err != nil {
		t.Fatal(err)
	}
	live, err := snap.Files()[0].DeletionVector.Key(st)
	if err != nil {
		t.Fatal(err)
	}
	want := deltaRsRows(t, dir, snap.Version)
	res, err := tbl.Vacuum(ctx, VacuumOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	var deletedDVs []string
	for _, k := range res.Files {
		if k == live {
			t.Fatalf("vacuum deleted the live deletion vector %s", k)
		}
		if strings.HasPrefix(k, "deletion_vector_") {
			deletedDVs = append(deletedDVs, k)
		}
	}
	if len(deletedDVs) != 2 {
		t.Fatalf("vacuum deleted the deletion vectors %v, want the 2 that only removed files used", deletedDVs)
	}
	if _, err := os.Stat(filepath.Join(dir, live)); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "after VACUUM", "delta-rs", deltaRsRows(t, dir, snap.Version), "delta-rs before", want)
}

// OPTIMIZE on tables with column mapping writes the files' physical column
// names and field ids: delta-rs (which finds columns by them) and Sluice
// read the same rows after it as before.
func TestOptimizeKeepsColumnMapping(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"table-with-columnmapping-mode-name", "table-with-columnmapping-mode-id", "dv-with-columnmapping"} {
		t.Run(name, func(t *testing.T) {
			dir := copyGolden(t, name)
			st, err := objstore.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			tbl := New(st)
			before, err := tbl.Snapshot(ctx, deltalog.WithFeatures(handledFeatures...))
			if err != nil {
				t.Fatal(err)
			}
			want := deltaRsRows(t, dir, before.Version)
			res, err := tbl.Optimize(ctx, OptimizeOptions{TargetFileSize: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			if res.Version != before.Version+1 || res.FilesAdded == 0 {
				t.Fatalf("optimize: %+v", res)
			}
			after, err := tbl.Snapshot(ctx, deltalog.WithFeatures(handledFeatures...))
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, "after OPTIMIZE", "delta-rs", deltaRsRows(t, dir, after.Version), "delta-rs before", want)
			sameRows(t, "after OPTIMIZE", "Sluice", sluiceRows(t, tbl, after), "delta-rs before", want)
		})
	}
}

// VACUUM with a minimum version (a share's promised history) keeps the
// deletion vectors every version from that minimum references, not only the
// live ones: a reader of that version still reads its rows. The golden
// table gives each of versions 1, 2 and 3 its own deletion vector, each
// removed by the next commit.
func TestVacuumMinVersionKeepsHistoryDeletionVectors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		minVersion int64
		deleted    int // deletion vector files vacuumed
	}{
		{0, 2}, // no promise: only the live one stays
		{1, 0},
		{2, 1}, // version 1's goes
	} {
		t.Run(fmt.Sprint("min=", tc.minVersion), func(t *testing.T) {
			dir := copyGolden(t, "log-replay-dv-key-cases")
			st, err := objstore.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			tbl := New(st)
			var want []any
			if tc.minVersion > 0 {
				want = deltaRsRows(t, dir, tc.minVersion)
			}
			res, err := tbl.Vacuum(ctx, VacuumOptions{Force: true, MinVersion: tc.minVersion})
			if err != nil {
				t.Fatal(err)
			}
			var dvs []string
			for _, k := range res.Files {
				if strings.HasPrefix(k, "deletion_vector_") {
					dvs = append(dvs, k)
				}
			}
			if len(dvs) != tc.deleted {
				t.Fatalf("vacuum deleted the deletion vectors %v, want %d", dvs, tc.deleted)
			}
			if tc.minVersion > 0 {
				sameRows(t, "after VACUUM", "delta-rs", deltaRsRows(t, dir, tc.minVersion), "delta-rs before", want)
			}
		})
	}
}
