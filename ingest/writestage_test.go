package ingest

import (
	"context"
	"errors"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/ingest/transform"
)

// stageXform drops ids divisible by 3, rejects ids divisible by 5 (row
// errors), fails a whole batch that holds failID, and blocks on gate (if
// set) before each batch.
type stageXform struct {
	schema  *arrow.Schema
	failID  int64
	gate    chan struct{}
	applied atomic.Int64 // batches seen
}

func (x *stageXform) OutputSchema() *arrow.Schema { return x.schema }

func (x *stageXform) Apply(ctx context.Context, rec arrow.Record) (arrow.Record, []transform.RowError, error) {
	x.applied.Add(1)
	if x.gate != nil {
		<-x.gate
	}
	ids := rec.Column(0).(*array.Int64)
	var keep []int64
	var rowErrs []transform.RowError
	for i := 0; i < ids.Len(); i++ {
		switch id := ids.Value(i); {
		case id == x.failID:
			return nil, nil, errors.New("batch cannot be transformed")
		case id%5 == 0:
			rowErrs = append(rowErrs, transform.RowError{Row: i, Err: errors.New("rejected")})
		case id%3 != 0:
			keep = append(keep, int64(i))
		}
	}
	out, err := arrowutil.TakeRecord(ctx, rec, keep)
	return out, rowErrs, err
}

// stageFixture is a write stage over a new local table of one BIGINT column.
func stageFixture(t *testing.T, x *stageXform) (*writeStage, *deltawriter.BatchWriter, *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tbl := deltawriter.New(st)
	schema := deltalog.Struct(deltalog.Field{Name: "id", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: false})
	snap, err := tbl.Create(ctx, schema, deltawriter.CreateOptions{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if x.schema, err = parquetio.ArrowSchema(schema); err != nil {
		t.Fatal(err)
	}
	bw, err := tbl.NewBatchWriter(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	var filtered atomic.Int64
	return newWriteStage(bw, x, schema, tbl.URI(), func(n int64) { filtered.Add(n) }), bw, &filtered
}

// stageBatch is a record of ids [from, to) and a Kafka record per row
// (whose offset is the id).
func stageBatch(x *stageXform, from, to int64) (arrow.Record, []*kgo.Record) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	var src []*kgo.Record
	for id := from; id < to; id++ {
		b.Append(id)
		src = append(src, &kgo.Record{Offset: id})
	}
	col := b.NewArray()
	defer col.Release()
	return array.NewRecord(x.schema, []arrow.Array{col}, to-from), src
}

func TestWriteStage(t *testing.T) {
	ctx := context.Background()
	t.Run("writes kept rows and returns every row failure", func(t *testing.T) {
		x := &stageXform{failID: -1}
		ws, bw, filtered := stageFixture(t, x)
		var failedOffsets []int64
		for from := int64(1); from <= 100; from += 25 {
			rec, src := stageBatch(x, from, from+25)
			failed, err := ws.submit(ctx, rec, src, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range failed {
				failedOffsets = append(failedOffsets, f.src.Offset)
			}
		}
		failed, err := ws.finish()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range failed {
			failedOffsets = append(failedOffsets, f.src.Offset)
		}
		// 1..100: 20 multiples of 5 rejected, 27 other multiples of 3 dropped.
		sort.Slice(failedOffsets, func(i, j int) bool { return failedOffsets[i] < failedOffsets[j] })
		if len(failedOffsets) != 20 || failedOffsets[0] != 5 || failedOffsets[19] != 100 {
			t.Errorf("failures at offsets %v, want the 20 multiples of 5", failedOffsets)
		}
		if got := filtered.Load(); got != 27 {
			t.Errorf("filtered %d rows, want 27", got)
		}
		if got := ws.rows.Load(); got != 53 {
			t.Errorf("wrote %d rows, want 53", got)
		}
		if got := ws.pendingRows(); got != 53 {
			t.Errorf("pendingRows %d after finish, want the 53 written", got)
		}
		if got := ws.queued.Load(); got != 0 {
			t.Errorf("%d bytes still queued after finish", got)
		}
		if got := bw.Stats().Rows; got != 53 {
			t.Errorf("BatchWriter has %d rows, want 53", got)
		}
		if _, err := bw.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a failed batch fails the stage and drops later ones", func(t *testing.T) {
		x := &stageXform{failID: 30}
		ws, bw, _ := stageFixture(t, x)
		var errs []error
		for from := int64(1); from <= 100; from += 25 {
			rec, src := stageBatch(x, from, from+25)
			_, err := ws.submit(ctx, rec, src, 100)
			errs = append(errs, err)
		}
		_, err := ws.finish()
		errs = append(errs, err)
		if err == nil || !strings.Contains(err.Error(), "batch cannot be transformed") {
			t.Fatalf("finish: %v, want the transform's error", err)
		}
		if errs[0] != nil {
			t.Errorf("first submit failed: %v", errs[0])
		}
		if got := x.applied.Load(); got != 2 {
			t.Errorf("transform ran on %d batches, want 2 (none after the failure)", got)
		}
		if got := ws.rows.Load(); got != 13 {
			t.Errorf("wrote %d rows, want the 13 of the first batch", got)
		}
		bw.Abort()
	})
	t.Run("abort drops the queued batch", func(t *testing.T) {
		x := &stageXform{failID: -1, gate: make(chan struct{})}
		ws, bw, _ := stageFixture(t, x)
		rec, src := stageBatch(x, 1, 11)
		if _, err := ws.submit(ctx, rec, src, 100); err != nil {
			t.Fatal(err)
		}
		rec, src = stageBatch(x, 11, 21)
		if _, err := ws.submit(ctx, rec, src, 100); err != nil { // queued behind the first
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { ws.abort(); close(done) }()
		for !ws.stop.Load() { // until abort has flagged the stage
			runtime.Gosched()
		}
		close(x.gate) // let the first batch finish
		<-done
		if got := x.applied.Load(); got != 1 {
			t.Errorf("transform ran on %d batches, want 1 (the queued one dropped)", got)
		}
		if got := ws.queued.Load(); got != 0 {
			t.Errorf("%d bytes still queued after abort", got)
		}
		bw.Abort()
	})
}
