package upkeep

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/ingest"
)

// The soak's shape: the demo's pipeline (9 partitions, 100 orders/s, a
// commit every 2 s: 22 rows per partition) with the loop's default round
// of a minute, in compressed time.
const (
	soakParts      = 9
	soakRows       = 22
	soakFlush      = 2 * time.Second
	soakRoundEvery = 30 // commits: one round per fake minute
	soakEarly      = 1800
)

// BenchmarkUpkeepSoak runs the demo's pipeline shape in compressed time: a
// commit of 22 rows in each of 9 partitions (with its txn offset) every 2 s
// of a fake clock, and an upkeep round every fake minute with the default
// policy, a 1-hour log and tombstone retention, an hourly VACUUM and the
// checkpoint interval the ingest worker gives its tables. The
// store's modification times follow the fake clock (clockStore), so log
// cleanup and VACUUM see the compressed time. SLUICE_SOAK_COMMITS sets
// the commits (default 43,200: a day). It logs the live files (before and
// after the rounds) and the _delta_log over time as a table, the full-read
// time early (1 fake hour) and late (the end) through this repository's
// reader and through delta-rs (needs the test venv: SLUICE_TEST_PYTHON),
// and the late read once the same rows are fully OPTIMIZEd; and it checks
// that every produced row is read exactly once. Run it with -benchtime=1x.
func BenchmarkUpkeepSoak(b *testing.B) {
	commits := 43200
	if s := os.Getenv("SLUICE_SOAK_COMMITS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < soakEarly+soakRoundEvery {
			b.Fatalf("SLUICE_SOAK_COMMITS=%q: want a number of at least %d", s, soakEarly+soakRoundEvery)
		}
		commits = n
	}
	commits = commits / soakRoundEvery * soakRoundEvery
	for i := 0; i < b.N; i++ {
		soak(b, commits)
	}
}

// soakRead is one full read: its time through our reader and delta-rs.
type soakRead struct {
	rows           int64
	files          int
	goRead, rsRead time.Duration
}

func soak(b *testing.B, commits int) {
	ctx := context.Background()
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano())
	dir := b.TempDir()
	local, err := objstore.NewLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	st := newClockStore(local, clk.now)
	tbl := deltawriter.New(st, deltawriter.WithClock(clk.now), deltawriter.WithLogger(testLogger(b)))
	if _, err := tbl.Create(ctx, seqSchema, deltawriter.CreateOptions{PartitionColumns: []string{"p"}, Configuration: map[string]string{
		PropLogRetention: "interval 1 hour", PropDeletedFileRetention: "interval 1 hour",
		PropCheckpointInterval: ingest.DefaultCheckpointInterval, // as the worker creates its tables
	}}); err != nil {
		b.Fatal(err)
	}
	loop := New(TablesFunc(func(context.Context) ([]Target, error) {
		return []Target{{Name: "soak", URI: dir, Properties: map[string]string{PropVacuumInterval: "interval 1 hour"}}}, nil
	}), WithClock(clk.now), WithLogger(testLogger(b)),
		WithOpener(func(context.Context, Target) (objstore.Store, error) { return st, nil }))

	var table strings.Builder
	table.WriteString("| commits | fake hours | live files before a round (max) | after (max) | `_delta_log` files | `_delta_log` MiB | version |\n|---|---|---|---|---|---|---|\n")
	var maxPre, maxPost, periodPre, periodPost, logN int
	var maxLog, logB int64
	var early, late soakRead
	start := time.Now()
	for c := 0; c < commits; c++ {
		recs := make([]arrow.Record, soakParts)
		for p := range recs {
			recs[p] = seqBatch(strconv.Itoa(p), int64(c*soakRows), soakRows)
		}
		_, err := tbl.Append(ctx, recs, deltalog.Txn{AppID: "soak", Version: int64(c)})
		for _, r := range recs {
			r.Release()
		}
		if err != nil {
			b.Fatalf("commit %d: %v", c, err)
		}
		clk.advance(soakFlush)
		if (c+1)%soakRoundEvery != 0 {
			continue
		}
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		pre := len(snap.Files())
		loop.Round(ctx)
		s, _ := loop.Status("soak")
		if n := len(s.Errors); n > 0 {
			b.Fatalf("commit %d: upkeep errors %v: %s", c+1, s.Errors, s.LastError)
		}
		if logN, logB, err = logFiles(ctx, st); err != nil {
			b.Fatal(err)
		}
		periodPre, periodPost = max(periodPre, pre), max(periodPost, s.Files)
		maxPre, maxPost, maxLog = max(maxPre, pre), max(maxPost, s.Files), max(maxLog, logB)
		if (c+1)%(commits/12/soakRoundEvery*soakRoundEvery) == 0 || c+1 == soakEarly {
			fmt.Fprintf(&table, "| %d | %.1f | %d | %d | %d | %.1f | %d |\n",
				c+1, float64(c+1)*soakFlush.Hours(), periodPre, periodPost, logN, float64(logB)/(1<<20), s.Version)
			// Progress on stderr as it happens (a benchmark's log comes at its end).
			fmt.Fprintf(os.Stderr, "soak: commit %d (%.1f fake hours, %s real): live files %d before the round, %d after (%d small); _delta_log %d files, %d KiB; version %d\n",
				c+1, float64(c+1)*soakFlush.Hours(), time.Since(start).Round(time.Second), pre, s.Files, s.SmallFiles, logN, logB>>10, s.Version)
			periodPre, periodPost = 0, 0
			if c+1 != soakEarly {
				o := testenv.DeltaRs(b, nil, []string{dir})[0]
				fmt.Fprintf(os.Stderr, "soak: commit %d: delta-rs read %d rows of %d files in %.0f ms (want %d rows)\n",
					c+1, o.NumRecords, o.NumFiles, o.ReadSeconds*1000, int64(c+1)*soakParts*soakRows)
			}
		}
		if c+1 == soakEarly {
			early = soakFullRead(b, st, dir, c+1)
		}
	}
	late = soakFullRead(b, st, dir, commits)
	checkSoakRows(b, st, commits)
	if o := testenv.DeltaRs(b, nil, []string{dir}, "--txn", "soak")[0]; o.Error != "" || o.Txns["soak"] != int64(commits-1) {
		b.Fatalf("delta-rs: txn soak = %d, want %d (%s)", o.Txns["soak"], commits-1, o.Error)
	}
	elapsed := time.Since(start)
	// The same rows in the best layout: one file per partition.
	if _, err := tbl.Optimize(ctx, deltawriter.OptimizeOptions{}); err != nil {
		b.Fatal(err)
	}
	ideal := soakFullRead(b, st, dir, commits)

	perRow := func(d time.Duration, n int64) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(float64(maxPre), "max-files-before-round")
	b.ReportMetric(float64(maxPost), "max-files-after-round")
	b.ReportMetric(float64(maxLog)/(1<<20), "max-log-MiB")
	b.ReportMetric(float64(early.rsRead.Microseconds())/1000, "early-deltars-ms")
	b.ReportMetric(float64(late.rsRead.Microseconds())/1000, "late-deltars-ms")
	b.ReportMetric(perRow(late.rsRead, late.rows)/perRow(early.rsRead, early.rows), "deltars-per-row-ratio")
	b.ReportMetric(float64(late.rsRead)/float64(ideal.rsRead), "deltars-late-vs-optimized")
	fmt.Fprintf(&table, "\n| full read | rows | files | ours (ms) | delta-rs (ms) | delta-rs ns/row |\n|---|---|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		soakRead
	}{{"early (1 fake hour)", early}, {"late (the end)", late}, {"late, fully OPTIMIZEd", ideal}} {
		fmt.Fprintf(&table, "| %s | %d | %d | %.0f | %.0f | %.0f |\n", r.name, r.rows, r.files,
			float64(r.goRead.Microseconds())/1000, float64(r.rsRead.Microseconds())/1000, perRow(r.rsRead, r.rows))
	}
	b.Logf("%d commits × %d partitions in %s: live files at most %d before a round and %d after (bound 2 × %d × (1 + %d) = %d); _delta_log at most %.1f MiB\n%s",
		commits, soakParts, elapsed.Round(time.Second), maxPre, maxPost, soakParts, DefaultSettings().Policy.MinFiles,
		2*soakParts*(1+DefaultSettings().Policy.MinFiles), float64(maxLog)/(1<<20), table.String())
}

// soakFullRead reads every row of the latest version as a recipient would,
// best of three: through this repository's reader (the log loaded as the
// sharing server's /query does, then every file read and decoded) and
// through delta-rs (DeltaTable(...).to_pyarrow_table()). Both must read
// every produced row.
func soakFullRead(b *testing.B, st objstore.Store, dir string, commits int) soakRead {
	b.Helper()
	ctx := context.Background()
	want := int64(commits) * soakParts * soakRows
	r := soakRead{rows: want, goRead: 1 << 62, rsRead: 1 << 62}
	for range 3 {
		t0 := time.Now()
		snap, err := deltalog.Load(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		n, err := countRows(ctx, st, snap)
		if err != nil {
			b.Fatal(err)
		}
		r.goRead, r.files = min(r.goRead, time.Since(t0)), len(snap.Files())
		if n != want {
			b.Fatalf("commit %d: read %d rows, want %d", commits, n, want)
		}
		o := testenv.DeltaRs(b, nil, []string{dir})[0]
		if o.Error != "" || o.NumRecords != want {
			b.Fatalf("commit %d: delta-rs read %d rows, want %d (%s)", commits, o.NumRecords, want, o.Error)
		}
		r.rsRead = min(r.rsRead, time.Duration(o.ReadSeconds*float64(time.Second)))
	}
	return r
}

// checkSoakRows reads the latest version and checks that each partition
// holds every produced seq exactly once.
func checkSoakRows(b *testing.B, st objstore.Store, commits int) {
	b.Helper()
	ctx := context.Background()
	snap, err := deltalog.Load(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	n := commits * soakRows
	seen := make([][]bool, soakParts)
	for p := range seen {
		seen[p] = make([]bool, n)
	}
	data := deltalog.Struct(deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong)})
	for _, a := range snap.Files() {
		p, err := strconv.Atoi(*a.PartitionValues["p"])
		if err != nil || p < 0 || p >= soakParts {
			b.Fatalf("file %s: partition %q", a.Path, *a.PartitionValues["p"])
		}
		key, err := deltawriter.KeyForPath(a.Path)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := objstore.ReadAll(ctx, st, key)
		if err != nil {
			b.Fatal(err)
		}
		if err := parquetio.ReadFile(bytes.NewReader(raw), int64(len(raw)), data, memory.DefaultAllocator, func(rec arrow.Record) error {
			for _, v := range rec.Column(0).(*array.Int64).Int64Values() {
				if v < 0 || v >= int64(n) || seen[p][v] {
					return fmt.Errorf("partition %d: seq %d twice or out of range", p, v)
				}
				seen[p][v] = true
			}
			return nil
		}); err != nil {
			b.Fatalf("file %s: %v", a.Path, err)
		}
	}
	for p := range seen {
		for v, ok := range seen[p] {
			if !ok {
				b.Fatalf("partition %d: seq %d lost", p, v)
			}
		}
	}
}
