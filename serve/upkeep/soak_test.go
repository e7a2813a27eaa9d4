package upkeep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// BenchmarkUpkeepSoak runs the demo's pipeline shape in compressed time:
// 9 partitions, a commit of 22 rows per partition every 2 s of a fake
// clock (100 orders/s at the demo's flush), and an upkeep round every
// fake minute with the default compaction policy, a 1-hour log retention
// and a 6-hour vacuum schedule. Commit files are dated by the fake clock.
// SLUICE_SOAK_COMMITS sets the commits (default 43,200: a day). It reports
// the live files (max and last), the _delta_log size (max and last) and a
// full read's time early and late; run it with -benchtime=1x.
func BenchmarkUpkeepSoak(b *testing.B) {
	commits := 43200
	if s := os.Getenv("SLUICE_SOAK_COMMITS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			b.Fatalf("SLUICE_SOAK_COMMITS=%q: want a number of at least 100", s)
		}
		commits = n
	}
	const parts, rows = 9, 22
	for i := 0; i < b.N; i++ {
		ctx := context.Background()
		clk := &fakeClock{}
		clk.ns.Store(time.Now().UnixNano())
		dir := b.TempDir()
		st, err := objstore.NewLocal(dir)
		if err != nil {
			b.Fatal(err)
		}
		quiet := deltawriter.WithLogger(testLogger(b))
		tbl := deltawriter.New(st, deltawriter.WithClock(clk.now), quiet)
		if _, err := tbl.Create(ctx, seqSchema, deltawriter.CreateOptions{PartitionColumns: []string{"p"}, Configuration: map[string]string{
			PropLogRetention: "interval 1 hour", PropDeletedFileRetention: "interval 1 hour",
		}}); err != nil {
			b.Fatal(err)
		}
		loop := New(TablesFunc(func(context.Context) ([]Target, error) {
			return []Target{{Name: "soak", URI: dir, Properties: map[string]string{PropVacuumInterval: "interval 6 hours"}}}, nil
		}), WithClock(clk.now), WithLogger(testLogger(b)))
		logDir := filepath.Join(dir, "_delta_log")
		var maxFiles, lastFiles int
		var maxLog, lastLog int64
		var early, late time.Duration
		start := time.Now()
		for c := 0; c < commits; c++ {
			recs := make([]arrow.Record, parts)
			for p := range recs {
				recs[p] = seqBatch(fmt.Sprint(p), int64(c*rows), rows)
			}
			v, err := tbl.Append(ctx, recs)
			for _, r := range recs {
				r.Release()
			}
			if err != nil {
				b.Fatalf("commit %d: %v", c, err)
			}
			clk.advance(2 * time.Second)
			now := clk.now()
			if err := os.Chtimes(filepath.Join(dir, deltalog.CommitKey(v)), now, now); err != nil {
				b.Fatal(err)
			}
			if (c+1)%30 != 0 {
				continue
			}
			loop.Round(ctx)
			s, _ := loop.Status("soak")
			if n := len(s.Errors); n > 0 {
				b.Fatalf("commit %d: upkeep errors %v: %s", c, s.Errors, s.LastError)
			}
			lastFiles, lastLog = s.Files, dirSize(b, logDir)
			maxFiles, maxLog = max(maxFiles, lastFiles), max(maxLog, lastLog)
			if (c+1)%(commits/10/30*30) == 0 {
				b.Logf("commit %d (%.1f fake hours, %s real): %d live files, %d small, _delta_log %d KiB, version %d",
					c+1, float64(c+1)*2/3600, time.Since(start).Round(time.Second), s.Files, s.SmallFiles, lastLog>>10, s.Version)
			}
			if c+1 == 1800 || c+1 == commits/30*30 {
				d, n := fullRead(b, st)
				if c+1 == 1800 {
					early = d
				} else {
					late = d
				}
				if want := int64(c+1) * parts * rows; n != want {
					b.Fatalf("commit %d: read %d rows, want %d", c+1, n, want)
				}
			}
		}
		b.ReportMetric(float64(maxFiles), "max-live-files")
		b.ReportMetric(float64(lastFiles), "last-live-files")
		b.ReportMetric(float64(maxLog)/1024, "max-log-KiB")
		b.ReportMetric(float64(lastLog)/1024, "last-log-KiB")
		b.ReportMetric(float64(early.Microseconds())/1000, "early-read-ms")
		b.ReportMetric(float64(late.Microseconds())/1000, "late-read-ms")
		b.Logf("%d commits in %s: live files max %d (last %d), _delta_log max %d KiB (last %d KiB), full read %s early, %s late",
			commits, time.Since(start).Round(time.Second), maxFiles, lastFiles, maxLog>>10, lastLog>>10, early, late)
	}
}

// fullRead reads every row of the latest version, best of three.
func fullRead(b *testing.B, st objstore.Store) (time.Duration, int64) {
	b.Helper()
	ctx := context.Background()
	best := time.Duration(1 << 62)
	var n int64
	for range 3 {
		t0 := time.Now()
		snap, err := deltalog.Load(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		if n, err = countRows(ctx, st, snap); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(t0))
	}
	return best, n
}

// dirSize is the total size of the files directly in dir.
func dirSize(b *testing.B, dir string) int64 {
	b.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && !fi.IsDir() {
			n += fi.Size()
		}
	}
	return n
}
