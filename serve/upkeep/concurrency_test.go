package upkeep

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// TestUpkeepConcurrency runs, at the same time and each on its own Table
// (as separate processes would): an appender committing with its txn
// offset, compaction, VACUUM, checkpoints with log cleanup, and a reader
// pinned at a version for half the retention (the promise a share WITH
// HISTORY adds is TestLoopBesideAppender's). Time is
// compressed: the appender moves a fake clock 30 s per commit and the
// store's modification times follow it (clockStore), so VACUUM and log
// cleanup really delete while uploads are in flight. Every goroutine must
// see zero errors, every operation must have done work, and delta-rs must
// read every row exactly once, the txn offset of the last commit, and the
// last pinned version whole.
func TestUpkeepConcurrency(t *testing.T) {
	const (
		commits = 150
		parts   = 3
		rows    = 20
		pinned  = 5 // commits before the others start
		step    = 30 * time.Second
		retain  = 30 * time.Minute // 60 commits of fake time; compaction and uploads take far less
	)
	testenv.Python(t) // fails (or skips with -short) now, not after the run
	ctx := context.Background()
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano())
	dir := t.TempDir()
	local, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := newClockStore(local, clk.now)
	open := func() *deltawriter.Table {
		return deltawriter.New(st, deltawriter.WithClock(clk.now), deltawriter.WithLogger(testLogger(t)))
	}
	app := open()
	if _, err := app.Create(ctx, seqSchema, deltawriter.CreateOptions{PartitionColumns: []string{"p"}, Configuration: map[string]string{
		PropCheckpointInterval: "5", PropLogRetention: "interval 30 minutes", PropDeletedFileRetention: "interval 30 minutes",
	}}); err != nil {
		t.Fatal(err)
	}
	appendOne := func(c int) error {
		recs := make([]arrow.Record, parts)
		for p := range recs {
			recs[p] = seqBatch(strconv.Itoa(p), int64(c*rows), rows)
		}
		defer func() {
			for _, r := range recs {
				r.Release()
			}
		}()
		_, err := app.Append(ctx, recs, deltalog.Txn{AppID: "ingest", Version: int64(c)})
		return err
	}
	for c := 0; c < pinned; c++ { // versions 1..pinned
		if err := appendOne(c); err != nil {
			t.Fatal(err)
		}
		clk.advance(step)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 8)
	var compacted, vacuumed, cleaned, pinnedReads, pins atomic.Int64
	// until runs f until the appender is done, then once more.
	until := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for last := false; !last; {
				select {
				case <-done:
					last = true
				default:
				}
				if err := f(); err != nil {
					errc <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the appender, at a commit per 30 fake seconds
		defer wg.Done()
		defer close(done)
		for c := pinned; c < commits; c++ {
			if err := appendOne(c); err != nil {
				errc <- fmt.Errorf("append %d: %w", c, err)
				return
			}
			clk.advance(step)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	policy := deltawriter.CompactPolicy{TargetFileSize: 1 << 20, MinFiles: 4, MinBytes: 1 << 20, MaxFiles: 1000, MaxBytes: 64 << 20, MaxAttempts: 10}
	compactor := open()
	until("compaction", func() error {
		res, err := compactor.Compact(ctx, policy)
		compacted.Add(int64(res.FilesRemoved))
		return err
	})
	vacuumer := open()
	until("vacuum", func() error {
		res, err := vacuumer.Vacuum(ctx, deltawriter.VacuumOptions{Retain: retain})
		vacuumed.Add(int64(len(res.Files)))
		return err
	})
	cleaner := open()
	until("checkpoint and log cleanup", func() error {
		if _, err := cleaner.Checkpoint(ctx); err != nil {
			return err
		}
		res, err := cleaner.CleanLog(ctx, deltawriter.LogCleanupOptions{Retain: retain})
		cleaned.Add(int64(len(res.Deleted)))
		return err
	})
	// The reader pins the latest version and reads it again and again for
	// half the retention (a recipient's long read, or time travel within
	// the retention), then pins the latest again.
	var pin, pinRows int64
	var pinnedAt time.Time
	until("reader pinned at a version", func() error {
		if pinnedAt.IsZero() || clk.now().After(pinnedAt.Add(retain/2)) {
			snap, err := deltalog.Load(ctx, st)
			if err != nil {
				return err
			}
			off, _ := snap.TxnVersion("ingest")
			pin, pinRows, pinnedAt = snap.Version, (off+1)*parts*rows, clk.now()
			pins.Add(1)
		}
		snap, err := deltalog.Load(ctx, st, deltalog.AtVersion(pin))
		if err != nil {
			return fmt.Errorf("version %d, pinned %s ago: %w", pin, clk.now().Sub(pinnedAt), err)
		}
		n, err := countRows(ctx, st, snap)
		if err == nil && n != pinRows {
			err = fmt.Errorf("version %d, pinned %s ago: read %d rows, want %d", pin, clk.now().Sub(pinnedAt), n, pinRows)
		}
		pinnedReads.Add(1)
		return err
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("compaction removed %d files, VACUUM deleted %d, log cleanup %d log files; %d reads of %d pinned versions",
		compacted.Load(), vacuumed.Load(), cleaned.Load(), pinnedReads.Load(), pins.Load())
	for name, n := range map[string]int64{"compaction": compacted.Load(), "VACUUM": vacuumed.Load(),
		"log cleanup": cleaned.Load(), "the pinned reader": pinnedReads.Load() - pins.Load()} {
		if n == 0 {
			t.Errorf("%s did nothing while the appender ran", name)
		}
	}
	if _, err := deltalog.Load(ctx, st, deltalog.AtVersion(1)); !errors.Is(err, deltalog.ErrVersionNotFound) {
		t.Errorf("version 1 after log cleanup: err %v, want ErrVersionNotFound", err)
	}
	// Per delta-rs: every row exactly once, the last offset, the pinned version whole.
	n, o := deltaRsRowsOnce(t, dir, "--txn", "ingest")
	if n != commits*parts*rows || o.Txns["ingest"] != commits-1 {
		t.Fatalf("delta-rs read %d distinct rows and txn ingest = %d, want %d and %d", n, o.Txns["ingest"], commits*parts*rows, commits-1)
	}
	if p := testenv.DeltaRs(t, nil, []string{dir}, "--version", strconv.FormatInt(pin, 10))[0]; p.Error != "" || p.NumRecords != pinRows {
		t.Fatalf("delta-rs at the last pinned version %d: %d rows, want %d (%s)", pin, p.NumRecords, pinRows, p.Error)
	}
}
