package ingest

// Opening the sink table and reconciling its schema with the spec's columns.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
)

func openTable(ctx context.Context, uri string, spec *Spec, log *slog.Logger) (*deltawriter.Table, error) {
	var opts []objstore.OpenOption
	if spec.Sink.KMSKey != "" {
		opts = append(opts, objstore.WithS3Options(objstore.WithSSE(objstore.SSEModeKMS, spec.Sink.KMSKey)))
	}
	st, err := objstore.Open(ctx, uri, opts...)
	if err != nil {
		return nil, err
	}
	// A row group is buffered whole per open file: keep it a fraction of
	// the worker's memory budget.
	rowGroup := min(max(int64(spec.Flush.MemoryLimit)/8, 4<<20), parquetio.DefaultRowGroupSize)
	return deltawriter.New(st, deltawriter.WithTargetFileSize(int64(spec.Sink.TargetFileSize)),
		deltawriter.WithRowGroupSize(rowGroup), deltawriter.WithLogger(log)), nil
}

// prepareTable creates the table with schema want, or checks that want can
// be written to the existing table: the same columns, or new nullable ones
// (returned as extra, added by the first commit). Type changes, and dropped
// NOT NULL columns, are errors naming the column.
func prepareTable(ctx context.Context, t *deltawriter.Table, want *deltalog.Schema, co deltawriter.CreateOptions) (*deltalog.Schema, []deltalog.Field, error) {
	snap, err := t.Snapshot(ctx)
	if errors.Is(err, deltalog.ErrNotATable) {
		if _, err := t.Create(ctx, want, co); err != nil && !errors.Is(err, deltalog.ErrTableExists) {
			return nil, nil, err
		}
		snap, err = t.Snapshot(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	have := snap.Schema
	for _, hf := range have.Fields {
		wf := want.FieldByName(hf.Name)
		if wf == nil {
			if !hf.Nullable {
				return nil, nil, fmt.Errorf("column %q is NOT NULL in the table but the pipeline no longer produces it", hf.Name)
			}
			continue // written as nulls
		}
		if !wf.Type.Equal(hf.Type) {
			return nil, nil, fmt.Errorf("column %q has type %s in the table but the pipeline produces %s: incompatible change (create a new table)", hf.Name, hf.Type, wf.Type)
		}
		if wf.Nullable && !hf.Nullable {
			return nil, nil, fmt.Errorf("column %q is NOT NULL in the table but the pipeline may produce nulls", hf.Name)
		}
	}
	var extra []deltalog.Field
	for _, wf := range want.Fields {
		if have.FieldByName(wf.Name) == nil {
			if !wf.Nullable {
				return nil, nil, fmt.Errorf("new column %q must be nullable: existing rows have no value for it", wf.Name)
			}
			wf.Nullable = true
			extra = append(extra, wf)
		}
	}
	full := deltalog.Struct(append(append([]deltalog.Field{}, have.Fields...), extra...)...)
	return full, extra, nil
}

// DefaultCheckpointInterval is the delta.checkpointInterval of the tables a
// worker creates, unless the sink's configuration sets one. A streaming
// table commits every flush interval (43,200 times a day at 2 s), and each
// checkpoint rewrites every live file and unexpired tombstone: at Delta's
// 10, checkpoints were most of the log's bytes and of a commit's time. At
// 100 (delta-rs's default) a reader replays at most 99 small JSON commits.
const DefaultCheckpointInterval = "100"

// tableConfiguration is the configuration of a new sink table: the spec's,
// with the streaming defaults for what it leaves unset.
func tableConfiguration(conf map[string]string) map[string]string {
	out := map[string]string{"delta.checkpointInterval": DefaultCheckpointInterval}
	maps.Copy(out, conf)
	return out
}
