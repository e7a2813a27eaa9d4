package deltalog

import (
	"bytes"

	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/testdata"
)

func newStore(t *testing.T) objstore.Store {
	t.Helper()
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var testSchema = Struct(
	Field{Name: "id", Type: Primitive(TypeLong), Nullable: false},
	Field{Name: "name", Type: Primitive(TypeString), Nullable: true},
)

func createTable(t *testing.T, st objstore.Store, config map[string]string) *Snapshot {
	t.Helper()
	ss, err := SchemaString(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = Commit(ctx, st, nil, []Action{
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{MetaData: &Metadata{ID: "test-id", Format: Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: ss, PartitionColumns: []string{}, Configuration: config}},
	}, Operation{Name: "CREATE TABLE"})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func addAction(path string) Action {
	return Action{Add: &Add{Path: path, PartitionValues: map[string]*string{}, Size: 10, ModificationTime: 1, DataChange: true,
		Stats: `{"numRecords":1}`}}
}

func TestCreateTwiceFails(t *testing.T) {
	st := newStore(t)
	createTable(t, st, nil)
	_, err := Commit(context.Background(), st, nil, []Action{{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}}}, Operation{Name: "CREATE TABLE"})
	if !errors.Is(err, ErrTableExists) {
		t.Fatalf("second create: got %v, want ErrTableExists", err)
	}
}

// Concurrent blind appends from many goroutines that all read the same
// snapshot: every commit lands exactly once at contiguous versions.
func TestConcurrentAppendsAllLand(t *testing.T) {
	st := newStore(t)
	snap := createTable(t, st, nil)
	const writers, perWriter = 8, 10
	var wg sync.WaitGroup
	versions := make(chan int64, writers*perWriter)
	errs := make(chan error, writers*perWriter)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				v, err := Commit(context.Background(), st, snap, []Action{addAction(fmt.Sprintf("w%d-%d.parquet", w, i))}, Operation{Name: "WRITE"})
				if err != nil {
					errs <- err
					return
				}
				versions <- v
			}
		}()
	}
	wg.Wait()
	close(versions)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for v := range versions {
		if seen[v] {
			t.Fatalf("version %d returned twice", v)
		}
		seen[v] = true
	}
	for v := int64(1); v <= writers*perWriter; v++ {
		if !seen[v] {
			t.Fatalf("version %d missing: versions not contiguous", v)
		}
	}
	final, err := Load(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if final.Version != writers*perWriter || final.NumFiles() != writers*perWriter {
		t.Fatalf("final version %d with %d files, want %d and %d", final.Version, final.NumFiles(), writers*perWriter, writers*perWriter)
	}
}

func TestTxnConflictRefused(t *testing.T) {
	st := newStore(t)
	snap := createTable(t, st, nil)
	ctx := context.Background()
	commit := func(path string, ver int64) error {
		_, err := Commit(ctx, st, snap, []Action{addAction(path), {Txn: &Txn{AppID: "q1-0", Version: ver}}}, Operation{Name: "WRITE"})
		return err
	}
	if err := commit("a.parquet", 10); err != nil {
		t.Fatal(err)
	}
	err := commit("b.parquet", 10)
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Version != 1 {
		t.Fatalf("second writer of the same appId: got %v, want ConflictError at version 1", err)
	}
	// A different appId from the same stale snapshot is a blind append: fine.
	if _, err := Commit(ctx, st, snap, []Action{addAction("c.parquet"), {Txn: &Txn{AppID: "q1-1", Version: 3}}}, Operation{Name: "WRITE"}); err != nil {
		t.Fatalf("independent appId: %v", err)
	}
	s, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.TxnVersion("q1-0"); v != 10 || s.File("b.parquet") != nil || s.NumFiles() != 2 {
		t.Fatalf("after conflict: txn=%d files=%d b=%v", v, s.NumFiles(), s.File("b.parquet"))
	}
}

func TestConflictOnMetadataAndRemove(t *testing.T) {
	st := newStore(t)
	snap := createTable(t, st, nil)
	ctx := context.Background()
	if _, err := Commit(ctx, st, snap, []Action{addAction("a.parquet")}, Operation{Name: "WRITE"}); err != nil {
		t.Fatal(err)
	}
	snap, _ = Load(ctx, st)
	md := snap.Metadata
	md.Configuration = map[string]string{"x": "y"}
	rm := Action{Remove: &Remove{Path: "a.parquet", DataChange: false}}
	if _, err := Commit(ctx, st, snap, []Action{{MetaData: &md}}, Operation{Name: "SET TBLPROPERTIES"}); err != nil {
		t.Fatal(err)
	}
	// Removing from the stale snapshot conflicts with the metadata change.
	if _, err := Commit(ctx, st, snap, []Action{rm}, Operation{Name: "OPTIMIZE"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("remove after concurrent metadata change: got %v, want conflict", err)
	}
	snap, _ = Load(ctx, st)
	if _, err := Commit(ctx, st, snap, []Action{rm}, Operation{Name: "DELETE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Commit(ctx, st, snap, []Action{rm}, Operation{Name: "DELETE"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second remove of the same file: got %v, want conflict", err)
	}
	// The same absolute file, named file:/ by one writer and file:/// by the
	// other, is the same file to the conflict check as to the snapshot.
	if _, err := Commit(ctx, st, snap, []Action{addAction("file:///abs/b.parquet")}, Operation{Name: "WRITE"}); err != nil {
		t.Fatal(err)
	}
	snap, _ = Load(ctx, st)
	if _, err := Commit(ctx, st, snap, []Action{{Remove: &Remove{Path: "file:/abs/b.parquet", DataChange: true}}}, Operation{Name: "DELETE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Commit(ctx, st, snap, []Action{{Remove: &Remove{Path: "file:///abs/b.parquet"}}}, Operation{Name: "OPTIMIZE"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("remove of a file removed concurrently under another spelling of its path: got %v, want conflict", err)
	}
}

// A snapshot replayed from a checkpoint equals one replayed from commits.
func TestCheckpointReplayMatchesFullReplay(t *testing.T) {
	st := newStore(t)
	snap := createTable(t, st, map[string]string{"delta.checkpointInterval": "10"})
	ctx := context.Background()
	for i := 1; i <= 25; i++ {
		acts := []Action{addAction(fmt.Sprintf("f%02d.parquet", i)), {Txn: &Txn{AppID: "app", Version: int64(i)}}}
		if i%4 == 0 {
			acts = append(acts, Action{Remove: &Remove{Path: fmt.Sprintf("f%02d.parquet", i-1), DataChange: true, DeletionTimestamp: ptr(time.Now().UnixMilli())}})
		}
		v, err := Commit(ctx, st, snap, acts, Operation{Name: "WRITE"})
		if err != nil {
			t.Fatal(err)
		}
		if snap, err = Load(ctx, st); err != nil {
			t.Fatal(err)
		}
		if v%CheckpointInterval(&snap.Metadata) == 0 {
			if err := WriteCheckpoint(ctx, st, snap); err != nil {
				t.Fatal(err)
			}
		}
	}
	withCP, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if withCP.CheckpointVersion != 20 {
		t.Fatalf("checkpoint version %d, want 20", withCP.CheckpointVersion)
	}
	// Full replay: hide the checkpoints.
	dir := st.(*objstore.Local).Root()
	for _, v := range []int64{10, 20} {
		if err := os.Rename(filepath.Join(dir, CheckpointKey(v)), filepath.Join(dir, CheckpointKey(v)+".hidden")); err != nil {
			t.Fatal(err)
		}
	}
	full, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if full.CheckpointVersion != -1 {
		t.Fatalf("full replay used checkpoint %d", full.CheckpointVersion)
	}
	compareSnapshots(t, withCP, full)
	// Time travel to a version before the newest checkpoint.
	old, err := Load(ctx, st, AtVersion(12))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := old.TxnVersion("app"); v != 12 || old.Version != 12 {
		t.Fatalf("version 12: txn %d version %d", v, old.Version)
	}
}

func ptr[T any](v T) *T { return &v }

func compareSnapshots(t *testing.T, a, b *Snapshot) {
	t.Helper()
	if a.Version != b.Version || a.NumFiles() != b.NumFiles() || a.Metadata.ID != b.Metadata.ID ||
		a.Metadata.SchemaString != b.Metadata.SchemaString || a.Protocol.MinWriterVersion != b.Protocol.MinWriterVersion {
		t.Fatalf("snapshots differ: v%d/%d files %d/%d", a.Version, b.Version, a.NumFiles(), b.NumFiles())
	}
	fa, fb := a.Files(), b.Files()
	for i := range fa {
		if fa[i].Path != fb[i].Path || fa[i].Size != fb[i].Size || fa[i].Stats != fb[i].Stats {
			t.Fatalf("file %d differs: %+v vs %+v", i, fa[i], fb[i])
		}
	}
	if fmt.Sprint(a.Txns()) != fmt.Sprint(b.Txns()) {
		t.Fatalf("txns differ: %v vs %v", a.Txns(), b.Txns())
	}
	if len(a.Tombstones()) != len(b.Tombstones()) {
		t.Fatalf("tombstones differ: %d vs %d", len(a.Tombstones()), len(b.Tombstones()))
	}
}

func TestParseLogFile(t *testing.T) {
	tests := []struct {
		key     string
		kind    logFileKind
		version int64
		part    int
	}{
		{"_delta_log/00000000000000000007.json", kindCommit, 7, 0},
		{"_delta_log/00000000000000000010.checkpoint.parquet", kindCheckpointClassic, 10, 0},
		{"_delta_log/00000000000000000010.checkpoint.0000000002.0000000003.parquet", kindCheckpointPart, 10, 2},
		{"_delta_log/00000000000000000002.checkpoint.6374b053-df23-479b-b2cf-c9c550132b49.json", kindCheckpointV2, 2, 0},
		{"_delta_log/00000000000000000002.crc", kindOther, -1, 0},
		{"_delta_log/_last_checkpoint", kindOther, -1, 0},
		{"_delta_log/00000000000000000002.00000000000000000005.compacted.json", kindOther, -1, 0},
		{"_delta_log/0000000000000000000x.json", kindOther, -1, 0},
		{"_delta_log/_sidecars/00000000000000000002.checkpoint.parquet", kindOther, -1, 0},
		{"_delta_log/00000000000000000010.checkpoint.0000000004.0000000003.parquet", kindOther, -1, 0},
	}
	for _, tt := range tests {
		f := parseLogFile(tt.key)
		if f.kind != tt.kind || (tt.kind != kindOther && (f.version != tt.version || f.part != tt.part)) {
			t.Errorf("parseLogFile(%q) = kind %d v%d part %d, want kind %d v%d part %d", tt.key, f.kind, f.version, f.part, tt.kind, tt.version, tt.part)
		}
	}
}

func TestParseInterval(t *testing.T) {
	for in, want := range map[string]string{"interval 1 week": "168h0m0s", "interval 7 days": "168h0m0s", "2 hours 30 minutes": "2h30m0s"} {
		d, err := ParseInterval(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseInterval(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "interval", "interval x days", "interval 3 fortnights", "interval -1 day"} {
		if _, err := ParseInterval(bad); err == nil {
			t.Errorf("ParseInterval(%q): no error", bad)
		}
	}
}

// Regression: parquet-go writes the zero value of an optional non-pointer
// field as null, which made delta-rs reject our checkpoints (dataChange=false,
// txn version 0, empty partitionValues came out null).
func TestCheckpointKeepsZeroValues(t *testing.T) {
	st := newStore(t)
	snap := createTable(t, st, nil)
	ctx := context.Background()
	if _, err := Commit(ctx, st, snap, []Action{addAction("a.parquet"), {Txn: &Txn{AppID: "app", Version: 0}}}, Operation{Name: "WRITE"}); err != nil {
		t.Fatal(err)
	}
	snap, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCheckpoint(ctx, st, snap); err != nil {
		t.Fatal(err)
	}
	b, err := objstore.ReadAll(ctx, st, CheckpointKey(snap.Version))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	r := parquet.NewReader(f)
	rows := make([]parquet.Row, 16)
	n, _ := r.ReadRows(rows)
	required := map[string][]string{
		"add":      {"path", "partitionValues", "size", "modificationTime", "dataChange"},
		"txn":      {"appId", "version"},
		"metaData": {"id", "format", "schemaString", "partitionColumns", "configuration"},
		"protocol": {"minReaderVersion", "minWriterVersion"},
	}
	seen := map[string]bool{}
	for _, row := range rows[:n] {
		var v any
		if err := f.Schema().Reconstruct(&v, row); err != nil {
			t.Fatal(err)
		}
		for action, fields := range required {
			m, ok := v.(map[string]any)[action].(map[string]any)
			if !ok {
				continue
			}
			seen[action] = true
			for _, field := range fields {
				if m[field] == nil {
					t.Errorf("checkpoint %s.%s is null", action, field)
				}
			}
		}
	}
	if len(seen) != len(required) {
		t.Fatalf("checkpoint rows cover %v, want all of %v", seen, required)
	}
}

var goldenDir = testdata.Path("delta-golden")

// Spark records how many files its checkpoints hold; a snapshot loaded from
// that checkpoint must see as many. This covers the V2 checkpoint tables
// delta-rs cannot read.
func TestGoldenCheckpointsMatchSparkCounts(t *testing.T) {
	ents, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatalf("golden tables: %v", err)
	}
	checked := 0
	for _, e := range ents {
		st, err := objstore.NewLocal(filepath.Join(goldenDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lc := readLastCheckpoint(context.Background(), st)
		if lc == nil || lc.NumOfAddFiles == 0 {
			continue
		}
		snap, err := Load(context.Background(), st, AtVersion(lc.Version))
		var unsupported *UnsupportedFeatureError
		if errors.As(err, &unsupported) {
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if snap.CheckpointVersion != lc.Version || int64(snap.NumFiles()) != lc.NumOfAddFiles {
			t.Errorf("%s: version %d from checkpoint %d has %d files; Spark's _last_checkpoint says checkpoint %d with %d",
				e.Name(), snap.Version, snap.CheckpointVersion, snap.NumFiles(), lc.Version, lc.NumOfAddFiles)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d golden checkpoints checked", checked)
	}
}

// Golden tables that need features Sluice does not implement fail with the
// typed error naming the feature, never with a misread.
func TestGoldenUnsupportedFeatures(t *testing.T) {
	for table, feature := range map[string]string{
		"dv-partitioned-with-checkpoint":     "deletionVectors",
		"table-with-columnmapping-mode-name": "columnMapping",
		"table-with-columnmapping-mode-id":   "columnMapping",
		"spark-variant-checkpoint":           "variantType-preview",
		"deltalog-invalid-protocol-version":  "readerVersion99",
	} {
		st, err := objstore.NewLocal(filepath.Join(goldenDir, table))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Load(context.Background(), st)
		var unsupported *UnsupportedFeatureError
		if !errors.As(err, &unsupported) || unsupported.Feature != feature {
			t.Errorf("%s: got %v, want unsupported reader feature %s", table, err, feature)
		}
	}
	st, _ := objstore.NewLocal(filepath.Join(goldenDir, "versions-not-contiguous"))
	if _, err := Load(context.Background(), st); err == nil || !strings.Contains(err.Error(), "version 1 is missing") {
		t.Errorf("versions-not-contiguous: got %v", err)
	}
}
