package deltawriter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/internal/deltaspec"
)

// TestProtocolTypes writes representative tables — created with and without
// partitions (the all-types schema takes the timestampNtz protocol), appends
// with txn through an automatic checkpoint, OPTIMIZE, an on-demand
// checkpoint, VACUUM — and checks every action of every commit and the
// _last_checkpoint against the JSON types of the Delta protocol (and
// Spark's commitInfo). Before the fix it caught operationParameters written
// as raw JSON: partitionBy an array at CREATE TABLE and WRITE, and
// targetFileSize a number at OPTIMIZE, which Spark's DESCRIBE HISTORY
// cannot read as a map of strings.
func TestProtocolTypes(t *testing.T) {
	for _, parts := range [][]string{nil, {"p_str", "p_date"}} {
		t.Run(strings.Join(append([]string{"partitions"}, parts...), "_"), func(t *testing.T) {
			ctx := context.Background()
			st, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			tbl := New(st, WithTargetFileSize(16<<10))
			schema := allTypesSchema()
			if _, err := tbl.Create(ctx, schema, CreateOptions{Name: "t1", Description: "types", PartitionColumns: parts,
				Configuration: map[string]string{"delta.checkpointInterval": "5"}}); err != nil {
				t.Fatal(err)
			}
			as, err := deltalog.ArrowSchema(schema)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 6; i++ { // crosses the checkpoint at version 5
				rec := genRecord(as, 100, int64(i*100), uint64(i))
				_, err := tbl.Append(ctx, []arrow.Record{rec}, deltalog.Txn{AppID: "q-0", Version: int64(i)})
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			if res, err := tbl.Optimize(ctx, OptimizeOptions{TargetFileSize: 1 << 20}); err != nil || res.FilesRemoved < 2 {
				t.Fatalf("optimize: %+v, %v", res, err)
			}
			if _, err := tbl.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := tbl.Vacuum(ctx, VacuumOptions{Retain: time.Nanosecond, Force: true}); err != nil {
				t.Fatal(err)
			}
			checkProtocolTypes(t, st)
		})
	}
}

// checkProtocolTypes fails the test on every field of the table's log that
// the protocol's types reject.
func checkProtocolTypes(t *testing.T, st objstore.Store) {
	t.Helper()
	errs, err := deltaspec.CheckTable(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Error(e)
	}
}
