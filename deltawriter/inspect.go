package deltawriter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parquet-go/parquet-go"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// TableInfo summarises one version of a table (sluice delta inspect --json).
type TableInfo struct {
	URI               string            `json:"uri"`
	Version           int64             `json:"version"`
	Timestamp         string            `json:"timestamp"`
	NumFiles          int               `json:"numFiles"`
	NumRecords        int64             `json:"numRecords"`
	SizeBytes         int64             `json:"sizeBytes"`
	PartitionColumns  []string          `json:"partitionColumns"`
	Schema            *deltalog.Schema  `json:"schema"`
	Txns              map[string]int64  `json:"txns"`
	MinReaderVersion  int               `json:"minReaderVersion"`
	MinWriterVersion  int               `json:"minWriterVersion"`
	ReaderFeatures    []string          `json:"readerFeatures,omitempty"`
	WriterFeatures    []string          `json:"writerFeatures,omitempty"`
	Configuration     map[string]string `json:"configuration"`
	CheckpointVersion int64             `json:"checkpointVersion"`
	// DeletedRecords are the rows that deletion vectors mark deleted (not
	// counted in NumRecords), in DeletionVectors files.
	DeletedRecords  int64 `json:"deletedRecords,omitempty"`
	DeletionVectors int   `json:"deletionVectors,omitempty"`
	// RecordsFromFooters counts files without numRecords stats, whose row
	// counts were read from their Parquet footers.
	RecordsFromFooters int `json:"recordsFromFooters,omitempty"`
}

// Inspect loads a snapshot and summarises it. Record counts come from the
// files' stats, or from their Parquet footers where stats are missing,
// less the rows deletion vectors mark deleted (each one read and checked).
func (t *Table) Inspect(ctx context.Context, opts ...deltalog.LoadOption) (*TableInfo, error) {
	snap, err := t.Snapshot(ctx, append([]deltalog.LoadOption{deltalog.WithFeatures(handledFeatures...)}, opts...)...)
	if err != nil {
		return nil, err
	}
	info := &TableInfo{
		URI: t.URI(), Version: snap.Version, Timestamp: snap.Timestamp.Format("2006-01-02T15:04:05.000Z07:00"),
		NumFiles: snap.NumFiles(), PartitionColumns: snap.Metadata.PartitionColumns, Schema: snap.Schema,
		Txns: snap.Txns(), MinReaderVersion: snap.Protocol.MinReaderVersion, MinWriterVersion: snap.Protocol.MinWriterVersion,
		ReaderFeatures: snap.Protocol.ReaderFeatures, WriterFeatures: snap.Protocol.WriterFeatures,
		Configuration: snap.Metadata.Configuration, CheckpointVersion: snap.CheckpointVersion,
	}
	if info.PartitionColumns == nil {
		info.PartitionColumns = []string{}
	}
	for _, a := range snap.Files() {
		info.SizeBytes += a.Size
		n, ok := statsNumRecords(a.Stats)
		if !ok {
			var err error
			if n, err = t.footerNumRows(ctx, a); err != nil {
				return nil, fmt.Errorf("inspect %s: %w", t.URI(), err)
			}
			info.RecordsFromFooters++
		}
		info.NumRecords += n
		if a.DeletionVector != nil {
			// Read, not trusted: a missing or corrupt one fails here as
			// it would fail every reader.
			del, err := deltalog.ReadDeletionVector(ctx, t.store, a.DeletionVector)
			if err != nil {
				return nil, fmt.Errorf("inspect %s: data file %s: %w", t.URI(), a.Path, err)
			}
			info.NumRecords -= int64(del.Cardinality())
			info.DeletedRecords += int64(del.Cardinality())
			info.DeletionVectors++
		}
	}
	return info, nil
}

// statsNumRecords returns add.stats.numRecords when present.
func statsNumRecords(stats string) (int64, bool) {
	if stats == "" {
		return 0, false
	}
	var s struct {
		NumRecords *int64 `json:"numRecords"`
	}
	if json.Unmarshal([]byte(stats), &s) != nil || s.NumRecords == nil {
		return 0, false
	}
	return *s.NumRecords, true
}

// footerNumRows reads a data file's row count from its Parquet footer.
func (t *Table) footerNumRows(ctx context.Context, a *deltalog.Add) (int64, error) {
	key, err := KeyForPath(a.Path)
	if err != nil {
		return 0, err
	}
	size := a.Size
	if size <= 0 {
		info, err := t.store.Stat(ctx, key)
		if errors.Is(err, objstore.ErrNotExist) {
			return 0, fmt.Errorf("data file %s is in the log but missing from storage: %w", key, err)
		}
		if err != nil {
			return 0, fmt.Errorf("data file %s: %w", key, err)
		}
		size = info.Size
	}
	f, err := parquet.OpenFile(objstore.NewReaderAt(ctx, t.store, key, size), size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if errors.Is(err, objstore.ErrNotExist) {
		return 0, fmt.Errorf("data file %s is in the log but missing from storage: %w", key, err)
	}
	if err != nil {
		return 0, fmt.Errorf("data file %s: %w", key, err)
	}
	return f.NumRows(), nil
}

// History returns up to limit commits ending at version latest, newest first.
func (t *Table) History(ctx context.Context, latest int64, limit int) ([]map[string]any, error) {
	return deltalog.History(ctx, t.store, max(latest-int64(limit)+1, 0), latest)
}
