package deltalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// Checkpoint row types: the classic checkpoint schema (PROTOCOL.md,
// "Checkpoint Schema"), one optional struct per action kind.
type (
	cpRow struct {
		Txn            *cpTxn            `parquet:"txn,optional"`
		Add            *cpAdd            `parquet:"add,optional"`
		Remove         *cpRemove         `parquet:"remove,optional"`
		MetaData       *cpMetadata       `parquet:"metaData,optional"`
		Protocol       *cpProtocol       `parquet:"protocol,optional"`
		DomainMetadata *cpDomainMetadata `parquet:"domainMetadata,optional"`
	}
	cpTxn struct {
		AppID       string `parquet:"appId"`
		Version     int64  `parquet:"version"`
		LastUpdated *int64 `parquet:"lastUpdated,optional"`
	}
	cpAdd struct {
		Path             string             `parquet:"path"`
		PartitionValues  map[string]*string `parquet:"partitionValues"`
		Size             int64              `parquet:"size"`
		ModificationTime int64              `parquet:"modificationTime"`
		DataChange       bool               `parquet:"dataChange"`
		Tags             map[string]*string `parquet:"tags,optional"`
		Stats            *string            `parquet:"stats,optional"`
	}
	cpRemove struct {
		Path                 string             `parquet:"path"`
		DeletionTimestamp    *int64             `parquet:"deletionTimestamp,optional"`
		DataChange           bool               `parquet:"dataChange"`
		ExtendedFileMetadata *bool              `parquet:"extendedFileMetadata,optional"`
		PartitionValues      map[string]*string `parquet:"partitionValues"`
		Size                 *int64             `parquet:"size,optional"`
	}
	cpFormat struct {
		Provider string             `parquet:"provider"`
		Options  map[string]*string `parquet:"options"`
	}
	cpMetadata struct {
		ID               string             `parquet:"id"`
		Name             *string            `parquet:"name,optional"`
		Description      *string            `parquet:"description,optional"`
		Format           cpFormat           `parquet:"format"`
		SchemaString     string             `parquet:"schemaString"`
		PartitionColumns []string           `parquet:"partitionColumns,list"`
		Configuration    map[string]*string `parquet:"configuration"`
		CreatedTime      *int64             `parquet:"createdTime,optional"`
	}
	cpProtocol struct {
		MinReaderVersion int32    `parquet:"minReaderVersion"`
		MinWriterVersion int32    `parquet:"minWriterVersion"`
		ReaderFeatures   []string `parquet:"readerFeatures,optional,list"`
		WriterFeatures   []string `parquet:"writerFeatures,optional,list"`
	}
	cpDomainMetadata struct {
		Domain        string `parquet:"domain"`
		Configuration string `parquet:"configuration"`
		Removed       bool   `parquet:"removed"`
	}
)

func strMap(m map[string]string) map[string]*string {
	if m == nil {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// DefaultTombstoneRetention is how long removed files are remembered (and
// kept by VACUUM) unless delta.deletedFileRetentionDuration says otherwise.
const DefaultTombstoneRetention = 7 * 24 * time.Hour

// TombstoneRetention returns the table's delta.deletedFileRetentionDuration.
func TombstoneRetention(m *Metadata) time.Duration {
	if d, err := ParseInterval(m.Configuration["delta.deletedFileRetentionDuration"]); err == nil && d > 0 {
		return d
	}
	return DefaultTombstoneRetention
}

// CheckpointInterval returns the table's delta.checkpointInterval (default 10).
func CheckpointInterval(m *Metadata) int64 {
	if n, err := strconv.ParseInt(m.Configuration["delta.checkpointInterval"], 10, 64); err == nil && n > 0 {
		return n
	}
	return 10
}

// ParseInterval parses Delta/Spark interval strings such as "interval 1 week",
// "interval 7 days" or "168 hours".
func ParseInterval(s string) (time.Duration, error) {
	f := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	if len(f) > 0 && f[0] == "interval" {
		f = f[1:]
	}
	if len(f) == 0 || len(f)%2 != 0 {
		return 0, fmt.Errorf("invalid interval %q: want e.g. \"interval 7 days\"", s)
	}
	var total time.Duration
	for i := 0; i < len(f); i += 2 {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid interval %q: %q is not a non-negative number", s, f[i])
		}
		unit := strings.TrimSuffix(f[i+1], "s")
		var d time.Duration
		switch unit {
		case "week":
			d = 7 * 24 * time.Hour
		case "day":
			d = 24 * time.Hour
		case "hour":
			d = time.Hour
		case "minute":
			d = time.Minute
		case "second":
			d = time.Second
		case "millisecond":
			d = time.Millisecond
		default:
			return 0, fmt.Errorf("invalid interval %q: unknown unit %q", s, f[i+1])
		}
		total += time.Duration(n) * d
	}
	return total, nil
}

// WriteCheckpoint writes a classic single-file Parquet checkpoint of snap and
// points _last_checkpoint at it. Tombstones older than the table's retention
// are dropped, as the protocol allows.
func WriteCheckpoint(ctx context.Context, st objstore.Store, snap *Snapshot) error {
	return WriteCheckpointAt(ctx, st, snap, time.Now())
}

// WriteCheckpointAt is WriteCheckpoint with now as the time the tombstones'
// ages are taken at: the clock that dated them (a writer's WithClock).
func WriteCheckpointAt(ctx context.Context, st objstore.Store, snap *Snapshot, now time.Time) error {
	rows := make([]cpRow, 0, 2+len(snap.txns)+len(snap.files)+len(snap.tombstones))
	p := snap.Protocol
	rows = append(rows, cpRow{Protocol: &cpProtocol{
		MinReaderVersion: int32(p.MinReaderVersion), MinWriterVersion: int32(p.MinWriterVersion),
		ReaderFeatures: p.ReaderFeatures, WriterFeatures: p.WriterFeatures,
	}})
	m := snap.Metadata
	rows = append(rows, cpRow{MetaData: &cpMetadata{
		ID: m.ID, Name: optString(m.Name), Description: optString(m.Description),
		Format:       cpFormat{Provider: m.Format.Provider, Options: strMap(m.Format.Options)},
		SchemaString: m.SchemaString, PartitionColumns: m.PartitionColumns,
		Configuration: strMap(m.Configuration), CreatedTime: m.CreatedTime,
	}})
	if rows[1].MetaData.PartitionColumns == nil {
		rows[1].MetaData.PartitionColumns = []string{}
	}
	for app, v := range snap.txns {
		rows = append(rows, cpRow{Txn: &cpTxn{AppID: app, Version: v}})
	}
	for _, d := range snap.domains {
		rows = append(rows, cpRow{DomainMetadata: &cpDomainMetadata{Domain: d.Domain, Configuration: d.Configuration}})
	}
	numAdds := int64(0)
	for _, a := range snap.Files() {
		if a.DeletionVector != nil {
			return &UnsupportedFeatureError{Feature: "deletionVectors", Writer: true}
		}
		rows = append(rows, cpRow{Add: &cpAdd{
			Path: a.Path, PartitionValues: a.PartitionValues, Size: a.Size,
			ModificationTime: a.ModificationTime, DataChange: false,
			Tags: strMap(a.Tags), Stats: optString(a.Stats),
		}})
		numAdds++
	}
	cutoff := now.Add(-TombstoneRetention(&snap.Metadata)).UnixMilli()
	for _, r := range snap.Tombstones() {
		if r.DeletionTimestamp != nil && *r.DeletionTimestamp < cutoff {
			continue
		}
		rows = append(rows, cpRow{Remove: &cpRemove{
			Path: r.Path, DeletionTimestamp: r.DeletionTimestamp, DataChange: false,
			ExtendedFileMetadata: r.ExtendedFileMetadata, PartitionValues: r.PartitionValues, Size: r.Size,
		}})
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[cpRow](&buf, parquet.Compression(&snappy.Codec{}), parquet.CreatedBy("sluice", "", ""))
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("checkpoint %d: encode: %w", snap.Version, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("checkpoint %d: encode: %w", snap.Version, err)
	}
	size := int64(buf.Len())
	if err := st.Put(ctx, CheckpointKey(snap.Version), &buf, objstore.PutOptions{}); err != nil {
		return fmt.Errorf("checkpoint %d: %w", snap.Version, err)
	}
	lc, err := json.Marshal(LastCheckpoint{Version: snap.Version, Size: int64(len(rows)), SizeInBytes: size, NumOfAddFiles: numAdds})
	if err != nil {
		return err
	}
	if err := st.Put(ctx, LastCheckpointKey, bytes.NewReader(lc), objstore.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("checkpoint %d: write _last_checkpoint: %w", snap.Version, err)
	}
	return nil
}
