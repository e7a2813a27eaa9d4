package deltawriter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/deploy/testenv"
)

func TestPlanCompaction(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	old := now.Add(-time.Hour).UnixMilli()
	str := func(s string) *string { return &s }
	// file "p/name:size[:young|:dv]" in partition p.
	file := func(spec string) *deltalog.Add {
		var p, name string
		var size int64
		parts := strings.Split(spec, ":")
		fmt.Sscanf(parts[1], "%d", &size)
		p, name, _ = strings.Cut(parts[0], "/")
		a := &deltalog.Add{Path: "p=" + p + "/" + name, PartitionValues: map[string]*string{"p": str(p)}, Size: size, ModificationTime: old}
		for _, flag := range parts[2:] {
			switch flag {
			case "young":
				a.ModificationTime = now.Add(-time.Minute).UnixMilli()
			case "dv":
				a.DeletionVector = &deltalog.DeletionVector{StorageType: "u"}
			}
		}
		return a
	}
	base := CompactPolicy{TargetFileSize: 100, MinFiles: 3, MinBytes: 150, MinAge: 10 * time.Minute, MaxFiles: 100, MaxBytes: 1000, MaxAttempts: 1}
	with := func(f func(*CompactPolicy)) CompactPolicy { p := base; f(&p); return p }
	tests := []struct {
		name     string
		files    []string
		policy   CompactPolicy
		want     []string // bins, as "path,path"
		deferred int
	}{
		{"few young files wait", []string{"a/1:10", "a/2:10:young"}, base, nil, 0},
		{"a quiet partition's few files are merged", []string{"a/1:10", "a/2:10"}, base, []string{"p=a/1,p=a/2"}, 0},
		{"one small file is left alone", []string{"a/1:10", "a/2:100"}, base, nil, 0},
		{"file count triggers whatever the age", []string{"a/1:10:young", "a/2:10:young", "a/3:10:young"}, base, []string{"p=a/1,p=a/2,p=a/3"}, 0},
		{"the count is per size tier", []string{"a/1:10:young", "a/2:10:young", "a/3:10:young", "a/4:40:young", "a/5:40:young"}, base,
			[]string{"p=a/1,p=a/2,p=a/3"}, 0},
		{"tiers are merged smallest first", []string{"a/4:30:young", "a/5:30:young", "a/6:30:young", "a/1:10:young", "a/2:10:young", "a/3:10:young"},
			with(func(p *CompactPolicy) { p.MinBytes = 1000 }), []string{"p=a/1,p=a/2,p=a/3", "p=a/4,p=a/5,p=a/6"}, 0},
		{"files left across tiers are capped at 2 × MinFiles", []string{"a/1:1:young", "a/2:2:young", "a/3:4:young", "a/4:5:young", "a/5:10:young", "a/6:11:young"},
			with(func(p *CompactPolicy) { p.MinBytes = 1000 }), []string{"p=a/1,p=a/2,p=a/3,p=a/4,p=a/5,p=a/6"}, 0},
		{"below the cap the tiers wait", []string{"a/1:1:young", "a/2:2:young", "a/3:4:young", "a/4:5:young", "a/5:10:young"},
			with(func(p *CompactPolicy) { p.MinBytes = 1000 }), nil, 0},
		{"triggered, but no bin of two fits the target", []string{"a/1:80", "a/2:80"}, base, nil, 0},
		{"total small bytes trigger with room", []string{"a/1:60", "a/2:30", "a/3:60"}, with(func(p *CompactPolicy) { p.MinFiles = 10 }),
			[]string{"p=a/1,p=a/2"}, 0},
		{"files at the target are not small", []string{"a/1:100", "a/2:10:young", "a/3:10", "a/4:200"}, base, nil, 0},
		{"no minimum age", []string{"a/1:10", "a/2:10:young"}, with(func(p *CompactPolicy) { p.MinAge = 0 }), []string{"p=a/1,p=a/2"}, 0},
		{"deletion vectors are left alone", []string{"a/1:10", "a/2:10:young", "a/3:10:dv"}, base, nil, 0},
		{"bins stay within a partition", []string{"a/1:10", "a/2:10", "a/3:10", "b/1:10", "b/2:10", "b/3:10", "b/4:10"}, base,
			[]string{"p=b/1,p=b/2,p=b/3,p=b/4", "p=a/1,p=a/2,p=a/3"}, 0},
		{"bins are packed to the target", []string{"a/1:40", "a/2:40", "a/3:40", "a/4:40", "a/5:10"}, base,
			[]string{"p=a/1,p=a/2", "p=a/3,p=a/4,p=a/5"}, 0},
		{"max files per run", []string{"a/1:10", "a/2:10", "a/3:10", "b/1:10", "b/2:10", "b/3:10", "b/4:10"},
			with(func(p *CompactPolicy) { p.MaxFiles = 3 }), []string{"p=a/1,p=a/2,p=a/3"}, 1},
		{"max bytes per run", []string{"a/1:40", "a/2:40", "a/3:40", "a/4:40"},
			with(func(p *CompactPolicy) { p.MaxBytes = 100 }), []string{"p=a/1,p=a/2"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []*deltalog.Add
			for _, f := range tt.files {
				files = append(files, file(f))
			}
			plan := planCompaction(files, []string{"p"}, tt.policy, now)
			var got []string
			for _, bin := range plan.bins {
				var paths []string
				for _, a := range bin {
					paths = append(paths, a.Path)
				}
				got = append(got, strings.Join(paths, ","))
			}
			if !slices.Equal(got, tt.want) || plan.deferred != tt.deferred {
				t.Fatalf("bins %q deferred %d, want %q deferred %d", got, plan.deferred, tt.want, tt.deferred)
			}
		})
	}
}

func TestCompactPolicyValidation(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func(*CompactPolicy)
		want string
	}{
		{"target", func(p *CompactPolicy) { p.TargetFileSize = 0 }, "target file size"},
		{"min files", func(p *CompactPolicy) { p.MinFiles = 1 }, "min files"},
		{"min bytes", func(p *CompactPolicy) { p.MinBytes = 0 }, "min bytes"},
		{"min age", func(p *CompactPolicy) { p.MinAge = -time.Second }, "min age"},
		{"max files", func(p *CompactPolicy) { p.MaxFiles = 1 }, "max files"},
		{"max bytes", func(p *CompactPolicy) { p.MaxBytes = p.TargetFileSize - 1 }, "max bytes per run"},
		{"attempts", func(p *CompactPolicy) { p.MaxAttempts = 0 }, "max attempts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultCompactPolicy()
			tt.f(&p)
			st, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := New(st).Compact(context.Background(), p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
	if err := DefaultCompactPolicy().validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
}

// seqSchema is a table partitioned by writer.
var seqSchema = writerSchema

// testPolicy compacts every partition with two small files, of any age.
func testPolicy() CompactPolicy {
	p := DefaultCompactPolicy()
	p.TargetFileSize, p.MinFiles, p.MinBytes, p.MinAge, p.MaxBytes = 1<<20, 2, 1<<20, 0, 64<<20
	return p
}

// tableRows reads the rows of the table's latest version as "writer/seq"
// and counts each.
func tableRows(t *testing.T, tbl *Table) (map[string]int, *deltalog.Snapshot) {
	t.Helper()
	ctx := context.Background()
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := deltalog.Struct(deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong)})
	rows := map[string]int{}
	for _, a := range snap.Files() {
		key, err := KeyForPath(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := objstore.ReadAll(ctx, tbl.store, key)
		if err != nil {
			t.Fatal(err)
		}
		err = parquetio.ReadFile(bytes.NewReader(b), int64(len(b)), data, memory.DefaultAllocator, func(rec arrow.Record) error {
			seq := rec.Column(0).(*array.Int64)
			for i := 0; i < seq.Len(); i++ {
				rows[fmt.Sprintf("%s/%d", *a.PartitionValues["writer"], seq.Value(i))]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return rows, snap
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSeqTable(t *testing.T, st objstore.Store) *Table {
	t.Helper()
	tbl := New(st, WithLogger(discardLogger()))
	if _, err := tbl.Create(context.Background(), seqSchema, CreateOptions{PartitionColumns: []string{"writer"},
		Configuration: map[string]string{"delta.enableChangeDataFeed": "true"}}); err != nil {
		t.Fatal(err)
	}
	return tbl
}

// compactBesideAppenders has two appenders commit with txn into a new
// table in st while Compact runs again and again, and returns the table and
// the versions compaction committed.
func compactBesideAppenders(t *testing.T, st objstore.Store) (*Table, []int64) {
	t.Helper()
	ctx := context.Background()
	tbl := newSeqTable(t, st)
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, w := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- appendAsWriter(ctx, New(st, WithLogger(discardLogger())), w)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var compactions []int64
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		res, err := tbl.Compact(ctx, testPolicy())
		if err != nil {
			t.Fatal(err)
		}
		if res.FilesRemoved > 0 {
			compactions = append(compactions, res.Version)
		}
	}
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(compactions) == 0 {
		t.Fatal("no compaction ran beside the appenders")
	}
	return tbl, compactions
}

// TestCompactBesideAppender: an appender commits with txn while Compact
// runs again and again; every row is in the table exactly once, each
// compaction commit has only dataChange=false actions, the change feed (the
// dataChange actions of the commits) still holds every appended file once
// and no compacted one, and the log keeps the protocol's types.
func TestCompactBesideAppender(t *testing.T) {
	ctx := context.Background()
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tbl, compactions := compactBesideAppenders(t, st)
	rows, snap := tableRows(t, tbl)
	wantRows := 2 * appendsPerWriter * rowsPerAppend
	if len(rows) != wantRows {
		t.Fatalf("%d distinct rows, want %d", len(rows), wantRows)
	}
	for k, n := range rows {
		if n != 1 {
			t.Fatalf("row %s is in the table %d times", k, n)
		}
	}
	for _, w := range []string{"a", "b"} {
		if v, ok := snap.TxnVersion(w); !ok || v != appendsPerWriter-1 {
			t.Fatalf("txn %s = %d (%v), want %d", w, v, ok, appendsPerWriter-1)
		}
	}
	// The change feed: dataChange adds of every commit, no removes.
	feedAdds, feedRemoves := 0, 0
	for v := int64(1); v <= snap.Version; v++ {
		b, err := objstore.ReadAll(ctx, st, deltalog.CommitKey(v))
		if err != nil {
			t.Fatal(err)
		}
		acts, err := deltalog.ParseActions(b)
		if err != nil {
			t.Fatal(err)
		}
		compaction := slices.Contains(compactions, v)
		for _, a := range acts {
			switch {
			case a.Add != nil && a.Add.DataChange, a.Remove != nil && a.Remove.DataChange:
				if compaction {
					t.Fatalf("compaction version %d has a dataChange=true action", v)
				}
				if a.Add != nil {
					feedAdds++
				} else {
					feedRemoves++
				}
			case a.CommitInfo != nil && compaction:
				if a.CommitInfo["operation"] != "OPTIMIZE" {
					t.Fatalf("compaction version %d: operation %v", v, a.CommitInfo["operation"])
				}
			}
		}
	}
	if feedAdds != 2*appendsPerWriter || feedRemoves != 0 {
		t.Fatalf("change feed: %d adds and %d removes, want %d and 0", feedAdds, feedRemoves, 2*appendsPerWriter)
	}
	checkProtocolTypes(t, st)
}

// raceStore lets a test commit something of its own just before the first
// OPTIMIZE commit of Compact lands, so that the commit loses the race.
type raceStore struct {
	objstore.Store
	once   sync.Once
	before func(body []byte)
}

func (s *raceStore) PutIfAbsent(ctx context.Context, key string, r io.Reader, o objstore.PutOptions) error {
	if strings.HasPrefix(key, deltalog.LogDir) {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(`"operation":"OPTIMIZE"`)) {
			s.once.Do(func() { s.before(b) })
		}
		r = bytes.NewReader(b)
	}
	return s.Store.PutIfAbsent(ctx, key, r, o)
}

// TestCompactReplansOnConflict: a commit that removes a file of the plan
// lands first; Compact deletes what it wrote, plans again against the new
// snapshot and never brings the removed file's rows back.
func TestCompactReplansOnConflict(t *testing.T) {
	ctx := context.Background()
	local, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rs := &raceStore{Store: local}
	tbl := newSeqTable(t, rs)
	for i := int64(0); i < 4; i++ {
		rec := writerBatch("a", i*10, 10)
		_, err := tbl.Append(ctx, []arrow.Record{rec})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	var deleted string
	rs.before = func(body []byte) {
		acts, err := deltalog.ParseActions(body)
		if err != nil {
			t.Error(err)
			return
		}
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		for _, a := range acts {
			if a.Remove != nil && deleted == "" {
				deleted = a.Remove.Path
				now := time.Now().UnixMilli()
				rm := deltalog.Action{Remove: &deltalog.Remove{Path: deleted, DeletionTimestamp: &now, DataChange: true}}
				if _, err := tbl.Commit(ctx, snap, []deltalog.Action{rm}, deltalog.Operation{Name: "DELETE"}); err != nil {
					t.Error(err)
				}
			}
		}
	}
	before, _ := tableRows(t, tbl)
	res, err := tbl.Compact(ctx, testPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if deleted == "" || res.Conflicts != 1 || res.FilesRemoved != 3 || res.FilesAdded != 1 {
		t.Fatalf("compact %+v after the concurrent removal of %q; want one conflict, then 3 files into 1", res, deleted)
	}
	after, snap := tableRows(t, tbl)
	if len(after) != len(before)-10 {
		t.Fatalf("%d rows after, want %d (%d minus the 10 of the removed file)", len(after), len(before)-10, len(before))
	}
	for k := range after {
		if after[k] != 1 || before[k] != 1 {
			t.Fatalf("row %s: %d times, %d before", k, after[k], before[k])
		}
	}
	if snap.File(deleted) != nil {
		t.Fatalf("the concurrently removed file %s is live again", deleted)
	}
	// The files of the lost attempt were deleted: every data file is live
	// or a tombstone.
	known := map[string]bool{}
	for _, a := range snap.Files() {
		known[a.Path] = true
	}
	for _, r := range snap.Tombstones() {
		known[r.Path] = true
	}
	objs, err := local.List(ctx, "writer=", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if !known[encodeAddPath(o.Key)] {
			t.Fatalf("orphan %s left by the lost attempt", o.Key)
		}
	}
}

// TestDeltaRsReadsCompaction: delta-rs reads the table compacted beside
// appenders (locally and on MinIO) with every row once, and its change data
// feed holds every appended row once as an insert and nothing of the
// compaction commits.
func TestDeltaRsReadsCompaction(t *testing.T) {
	for _, store := range []testStore{localStore(), minioStore()} {
		t.Run(store.name, func(t *testing.T) {
			st := store.open(t)
			_, compactions := compactBesideAppenders(t, st)
			o := testenv.DeltaRs(t, store.pyEnv(t), []string{store.uri(st)}, "--rows", "--cdf", "1")[0]
			if o.Error != "" {
				t.Fatalf("delta-rs: %s", o.Error)
			}
			wantRows := 2 * appendsPerWriter * rowsPerAppend
			checkWriterRowsOnce(t, o.Rows, wantRows)
			changes := map[string]bool{}
			for _, r := range o.CDF {
				k := fmt.Sprintf("%v/%v", r["writer"], r["seq"])
				v, _ := r["_commit_version"].(float64)
				if r["_change_type"] != "insert" || changes[k] || slices.Contains(compactions, int64(v)) {
					t.Fatalf("change row %v: want each row once, as an insert of an append (compactions at %v)", r, compactions)
				}
				changes[k] = true
			}
			if len(changes) != wantRows {
				t.Fatalf("delta-rs change feed has %d rows, want %d", len(changes), wantRows)
			}
		})
	}
}

// TestSparkReadsCompaction: Spark with delta-spark reads the log of a table
// compacted beside appenders: DESCRIBE HISTORY (which failed on every
// Sluice table while operationParameters held raw JSON) shows every commit
// with its parameters as strings, the table has every row, and the change
// data feed holds every appended row as an insert and nothing of the
// compaction commits.
func TestSparkReadsCompaction(t *testing.T) {
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tbl, compactions := compactBesideAppenders(t, st)
	snap, err := tbl.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := testenv.Spark(t, []string{st.Root()}, "--cdf", "1")[0]
	if o.Error != "" {
		t.Fatalf("spark: %s", o.Error)
	}
	if int64(len(o.History)) != snap.Version+1 {
		t.Fatalf("DESCRIBE HISTORY has %d commits, want %d", len(o.History), snap.Version+1)
	}
	for _, h := range o.History {
		want := map[string]string{"mode": "Append", "partitionBy": `["writer"]`}
		switch {
		case h.Version == 0:
			want = map[string]string{"partitionBy": `["writer"]`}
		case slices.Contains(compactions, h.Version):
			want = map[string]string{"predicate": "[]", "targetFileSize": "1048576", "auto": "true"}
		}
		if !maps.Equal(h.OperationParameters, want) {
			t.Fatalf("version %d (%s): operationParameters %v, want %v", h.Version, h.Operation, h.OperationParameters, want)
		}
	}
	wantRows := 2 * appendsPerWriter * rowsPerAppend
	if o.NumRecords != int64(wantRows) || len(o.CDF) != wantRows {
		t.Fatalf("spark reads %d rows and %d changes, want %d", o.NumRecords, len(o.CDF), wantRows)
	}
	for _, c := range o.CDF {
		v, _ := c[1].(float64)
		if c[0] != "insert" || slices.Contains(compactions, int64(v)) {
			t.Fatalf("change %v: want inserts of appends only (compactions at %v)", c, compactions)
		}
	}
}
