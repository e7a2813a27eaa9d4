package upkeep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/deploy/testenv"
)

var seqSchema = deltalog.Struct(
	deltalog.Field{Name: "p", Type: deltalog.Primitive(deltalog.TypeString)},
	deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong)},
)

// seqBatch is rows seq = first..first+n-1 in partition p.
func seqBatch(p string, first, n int64) arrow.Record {
	as := arrow.NewSchema([]arrow.Field{{Name: "p", Type: arrow.BinaryTypes.String}, {Name: "seq", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	defer b.Release()
	for i := int64(0); i < n; i++ {
		b.Field(0).(*array.StringBuilder).Append(p)
		b.Field(1).(*array.Int64Builder).Append(first + i)
	}
	return b.NewRecord()
}

// countRows reads every data file of a snapshot and counts its rows.
func countRows(ctx context.Context, st objstore.Store, snap *deltalog.Snapshot) (int64, error) {
	data := deltalog.Struct(deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong)})
	var n int64
	for _, a := range snap.Files() {
		key, err := deltawriter.KeyForPath(a.Path)
		if err != nil {
			return 0, err
		}
		b, err := objstore.ReadAll(ctx, st, key)
		if err != nil {
			return 0, fmt.Errorf("version %d: %w", snap.Version, err)
		}
		if err := parquetio.ReadFile(bytes.NewReader(b), int64(len(b)), data, memory.DefaultAllocator, func(rec arrow.Record) error {
			n += rec.NumRows()
			return nil
		}); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// fakeClock is a clock the test moves on.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

const (
	appends       = 60
	rowsPerAppend = 50
	partitions    = 3
	pinned        = 5 // the version a share WITH HISTORY promises
)

// TestLoopBesideAppender runs the loop round after round on a local table
// while an appender commits into it, with a clock that moves a minute per
// round: the live files stay bounded, a reader pinned at the promised
// version keeps reading all its rows, versions before the kept log are
// refused, delta-rs reads every row exactly once at the end, and a second
// table with an invalid property is counted as failing without stopping
// the first.
func TestLoopBesideAppender(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano())
	dir := t.TempDir()
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	app := deltawriter.New(st, deltawriter.WithClock(clk.now), deltawriter.WithLogger(testLogger(t)))
	if _, err := app.Create(ctx, seqSchema, deltawriter.CreateOptions{PartitionColumns: []string{"p"}, Configuration: map[string]string{
		PropCheckpointInterval: "5", PropLogRetention: "interval 10 minutes", PropDeletedFileRetention: "interval 1 day",
		// More than the test's span of fake time: VACUUM compares the files' real
		// modification times with the fake clock, and would take the
		// appender's in-flight temporary uploads for stale ones.
	}}); err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	appendOne := func() error {
		var recs []arrow.Record
		for p := 0; p < partitions; p++ {
			recs = append(recs, seqBatch(fmt.Sprint(p), next*rowsPerAppend, rowsPerAppend))
		}
		defer func() {
			for _, r := range recs {
				r.Release()
			}
		}()
		_, err := app.Append(ctx, recs, deltalog.Txn{AppID: "app", Version: next})
		next++
		return err
	}
	for next < pinned {
		if err := appendOne(); err != nil {
			t.Fatal(err)
		}
	}
	bad, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deltawriter.New(bad).Create(ctx, seqSchema, deltawriter.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	targets := []Target{
		{Name: "main.s.orders", URI: dir, MinVersion: pinned, Properties: map[string]string{
			PropCompactionMinFiles: "4", PropCompactionMinAge: "0 seconds", PropCompactionTarget: "1MiB", PropCompactionMaxBytes: "64MiB",
			PropVacuumInterval: "interval 3 minutes", PropLogCleanupInterval: "interval 1 minute",
		}},
		{Name: "main.s.bad", URI: bad.Root(), Properties: map[string]string{PropCompactionMinFiles: "1"}},
	}
	loop := New(TablesFunc(func(context.Context) ([]Target, error) { return targets, nil }),
		WithClock(clk.now), WithLogger(testLogger(t)))
	reg := prometheus.NewRegistry()
	reg.MustRegister(loop)

	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 2)
	wg.Add(2)
	go func() { // the appender
		defer wg.Done()
		defer close(done)
		for next < appends {
			if err := appendOne(); err != nil {
				errc <- fmt.Errorf("append %d: %w", next, err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var pinnedReads atomic.Int64
	go func() { // the reader pinned at the promised version
		defer wg.Done()
		for {
			snap, err := deltalog.Load(ctx, st, deltalog.AtVersion(pinned))
			if err == nil {
				var n int64
				if n, err = countRows(ctx, st, snap); err == nil && n != pinned*partitions*rowsPerAppend {
					err = fmt.Errorf("read %d rows, want %d", n, pinned*partitions*rowsPerAppend)
				}
			}
			if err != nil {
				errc <- fmt.Errorf("reader pinned at version %d: %w", pinned, err)
				return
			}
			pinnedReads.Add(1)
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	bound := 2 * partitions * (1 + 4) // 2 × partitions × (1 + the small-file trigger)
	maxFiles, rounds := 0, 0
	for running := true; running || rounds < 5; rounds++ {
		select {
		case <-done:
			running = false
		default:
		}
		loop.Round(ctx)
		clk.advance(time.Minute)
		s, _ := loop.Status("main.s.orders")
		maxFiles = max(maxFiles, s.Files)
		if s.Files > bound {
			t.Fatalf("round %d: %d live files, more than %d", rounds, s.Files, bound)
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if pinnedReads.Load() == 0 {
		t.Fatal("the pinned reader never read")
	}
	s, ok := loop.Status("main.s.orders")
	if !ok {
		t.Fatal("no status for main.s.orders")
	}
	t.Logf("%d rounds, at most %d live files, %d pinned reads; status %+v", rounds, maxFiles, pinnedReads.Load(), s)
	for _, op := range []string{OpCompaction, OpLogCleanup, OpVacuum} {
		if s.Errors[op] != 0 || s.Runs[op] == 0 || s.Last[op].IsZero() {
			t.Fatalf("%s: %d runs, %d errors, last %v; want runs and no errors (%s)", op, s.Runs[op], s.Errors[op], s.Last[op], s.LastError)
		}
	}
	if s.Runs[OpVacuum] >= int64(rounds) {
		t.Fatalf("vacuum ran %d times in %d rounds: not on its 3-minute schedule", s.Runs[OpVacuum], rounds)
	}
	if s.OldestLoadable != pinned {
		t.Fatalf("oldest loadable %d, want the promised version %d (a checkpoint is there)", s.OldestLoadable, pinned)
	}
	if _, err := deltalog.Load(ctx, st, deltalog.AtVersion(pinned-1)); !errors.Is(err, deltalog.ErrVersionNotFound) {
		t.Fatalf("version %d after log cleanup: err %v, want ErrVersionNotFound", pinned-1, err)
	}
	b, _ := loop.Status("main.s.bad")
	if b.Errors[OpSettings] != int64(rounds) || b.LastError == "" {
		t.Fatalf("bad table: %d settings errors in %d rounds (%q)", b.Errors[OpSettings], rounds, b.LastError)
	}
	// Metrics.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			k := mf.GetName()
			for _, l := range m.GetLabel() {
				k += "," + l.GetName() + "=" + l.GetValue() // labels come sorted by name
			}
			got[k] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for k, want := range map[string]float64{
		"sluice_upkeep_table_files,table=main.s.orders":                                          float64(s.Files),
		"sluice_upkeep_table_small_files,table=main.s.orders":                                    float64(s.SmallFiles),
		"sluice_upkeep_runs_total,operation=vacuum,table=main.s.orders":                          float64(s.Runs[OpVacuum]),
		"sluice_upkeep_errors_total,operation=settings,table=main.s.bad":                         float64(rounds),
		"sluice_upkeep_last_success_timestamp_seconds,operation=log_cleanup,table=main.s.orders": float64(s.Last[OpLogCleanup].UnixNano()) / 1e9,
	} {
		if got[k] != want {
			t.Errorf("metric %s = %v, want %v", k, got[k], want)
		}
	}
	// Every row exactly once, per delta-rs.
	if n, _ := deltaRsRowsOnce(t, dir); n != appends*partitions*rowsPerAppend {
		t.Fatalf("delta-rs read %d distinct rows, want %d", n, appends*partitions*rowsPerAppend)
	}
}

// testLogger logs warnings to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// TestLoopKeepAllAndNoLog: a target with KeepAll (a share's history from
// version 0) gets compaction and checkpoints but no log cleanup and no
// VACUUM, and a target with no commit yet (a query before its first) is
// skipped without an error.
func TestLoopKeepAllAndNoLog(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano())
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tbl := deltawriter.New(st, deltawriter.WithClock(clk.now))
	if _, err := tbl.Create(ctx, seqSchema, deltawriter.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 12; i++ {
		rec := seqBatch("a", i, 1)
		_, err := tbl.Append(ctx, []arrow.Record{rec}, deltalog.Txn{AppID: "app", Version: i})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	short := map[string]string{PropLogRetention: "interval 1 second", PropDeletedFileRetention: "interval 1 second",
		PropLogCleanupInterval: "interval 1 second", PropVacuumInterval: "interval 1 second", PropCheckpointInterval: "2"}
	empty := t.TempDir()
	for _, tc := range []struct {
		name    string
		keepAll bool
	}{{"keep all", true}, {"no promise", false}} {
		t.Run(tc.name, func(t *testing.T) {
			loop := New(TablesFunc(func(context.Context) ([]Target, error) {
				return []Target{{Name: "t", URI: st.Root(), Properties: short, KeepAll: tc.keepAll}, {Name: "empty", URI: empty}}, nil
			}), WithClock(clk.now))
			clk.advance(time.Hour)
			loop.Round(ctx)
			s, _ := loop.Status("t")
			cleaned := s.Runs[OpLogCleanup] > 0 && s.Runs[OpVacuum] > 0
			if cleaned == tc.keepAll || s.LastError != "" {
				t.Fatalf("KeepAll %v: log cleanup %d runs, vacuum %d runs (%s)", tc.keepAll, s.Runs[OpLogCleanup], s.Runs[OpVacuum], s.LastError)
			}
			if _, err := deltalog.Load(ctx, st, deltalog.AtVersion(0)); tc.keepAll && err != nil {
				t.Fatalf("version 0 after a round with KeepAll: %v", err)
			}
			if e, ok := loop.Status("empty"); ok {
				t.Fatalf("a table without a log has a status: %+v", e)
			}
		})
	}
	if _, err := deltalog.Load(ctx, st, deltalog.AtVersion(0)); !errors.Is(err, deltalog.ErrVersionNotFound) {
		t.Fatalf("version 0 after a round without a promise: %v, want it cleaned", err)
	}
}

// deltaRsRowsOnce reads the latest version of the seqSchema table at dir
// with delta-rs (with more oracle flags args), fails the test if a row
// (p, seq) comes twice, and returns the rows and delta-rs's answer.
func deltaRsRowsOnce(t testing.TB, dir string, args ...string) (int, testenv.DeltaRsTable) {
	t.Helper()
	o := testenv.DeltaRs(t, nil, []string{dir}, append([]string{"--rows"}, args...)...)[0]
	if o.Error != "" {
		t.Fatalf("delta-rs: %s", o.Error)
	}
	seen := map[string]bool{}
	for _, r := range o.Rows {
		row := r.(map[string]any)
		k := fmt.Sprintf("%v/%v", row["p"], row["seq"])
		if seen[k] {
			t.Fatalf("delta-rs read row %s twice", k)
		}
		seen[k] = true
	}
	return len(seen), o
}
