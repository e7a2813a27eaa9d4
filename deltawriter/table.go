// Package deltawriter writes and maintains Delta Lake tables on an object
// store: create, append Arrow batches with txn actions, optimize, vacuum.
//
// It knows nothing of Kafka or HTTP: ingest and serve build on it.
package deltawriter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
)

// DefaultTargetFileSize is the size at which data files are rolled.
const DefaultTargetFileSize = 128 << 20

// Table is a Delta table at one location. It holds no snapshot: every
// operation reads the log, so many Tables (in many processes) may write the
// same location concurrently.
type Table struct {
	store  objstore.Store
	cfg    config
	logger *slog.Logger
}

type config struct {
	targetFileSize int64
	rowGroupSize   int64
	compression    parquetio.Compression
	checkpoints    bool
	logger         *slog.Logger
	now            func() time.Time
}

// Option configures a Table.
type Option func(*config)

// WithTargetFileSize sets the size at which data files are rolled (default 128 MiB).
func WithTargetFileSize(n int64) Option { return func(c *config) { c.targetFileSize = n } }

// WithRowGroupSize sets the Parquet row-group size (default 64 MiB); a file's
// row group is buffered in memory, so this bounds a writer's memory per open file.
func WithRowGroupSize(n int64) Option { return func(c *config) { c.rowGroupSize = n } }

// WithCompression selects the Parquet codec (default zstd).
func WithCompression(codec parquetio.Compression) Option {
	return func(c *config) { c.compression = codec }
}

// WithCheckpoints turns automatic checkpoints (every delta.checkpointInterval
// commits, default 10) on or off (default on).
func WithCheckpoints(on bool) Option { return func(c *config) { c.checkpoints = on } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithClock sets the clock that ages files and log entries for compaction,
// log cleanup and vacuum (default time.Now); tests and benchmarks compress
// time with it.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// New returns the Table stored in st. It does no I/O.
func New(st objstore.Store, opts ...Option) *Table {
	cfg := config{
		targetFileSize: DefaultTargetFileSize,
		rowGroupSize:   parquetio.DefaultRowGroupSize,
		compression:    parquetio.CompressionZstd,
		checkpoints:    true,
		now:            time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	return &Table{store: st, cfg: cfg, logger: cfg.logger.With("table", st.URI())}
}

// Store returns the table's object store.
func (t *Table) Store() objstore.Store { return t.store }

// URI returns the table's location.
func (t *Table) URI() string { return t.store.URI() }

// Snapshot loads the table's state (latest unless an option says otherwise).
func (t *Table) Snapshot(ctx context.Context, opts ...deltalog.LoadOption) (*deltalog.Snapshot, error) {
	return deltalog.Load(ctx, t.store, opts...)
}

// CreateOptions describe a new table.
type CreateOptions struct {
	Name             string
	Description      string
	PartitionColumns []string
	Configuration    map[string]string
}

// Create creates the table at version 0 with schema. It fails with an error
// wrapping deltalog.ErrTableExists if the location already holds one.
func (t *Table) Create(ctx context.Context, schema *deltalog.Schema, o CreateOptions) (*deltalog.Snapshot, error) {
	if err := validatePartitionColumns(schema, o.PartitionColumns); err != nil {
		return nil, fmt.Errorf("create table %s: %w", t.URI(), err)
	}
	if _, err := deltalog.ArrowSchema(schema); err != nil {
		return nil, fmt.Errorf("create table %s: %w", t.URI(), err)
	}
	ss, err := deltalog.SchemaString(schema)
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", t.URI(), err)
	}
	parts := o.PartitionColumns
	if parts == nil {
		parts = []string{}
	}
	conf := o.Configuration
	if conf == nil {
		conf = map[string]string{}
	}
	created := t.cfg.now().UnixMilli()
	proto := deltalog.ProtocolFor(schema)
	md := deltalog.Metadata{
		ID: uuid.NewString(), Name: o.Name, Description: o.Description,
		Format:       deltalog.Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString: ss, PartitionColumns: parts, Configuration: conf, CreatedTime: &created,
	}
	_, err = deltalog.Commit(ctx, t.store, nil, []deltalog.Action{{Protocol: &proto}, {MetaData: &md}},
		deltalog.Operation{Name: "CREATE TABLE", Parameters: map[string]string{"partitionBy": deltalog.JSONParam(parts)}})
	if err != nil {
		return nil, err
	}
	return t.Snapshot(ctx)
}

// Commit commits actions decided on read, retrying at later versions while
// concurrent commits do not conflict, and writes a checkpoint when the new
// version is a multiple of the checkpoint interval. A failed checkpoint is
// logged, not returned: the commit itself succeeded.
func (t *Table) Commit(ctx context.Context, read *deltalog.Snapshot, actions []deltalog.Action, op deltalog.Operation) (int64, error) {
	return t.commit(ctx, read, actions, op)
}

// commit is Commit for a caller that handles the table features also
// itself (see deltalog.CheckWritable).
func (t *Table) commit(ctx context.Context, read *deltalog.Snapshot, actions []deltalog.Action, op deltalog.Operation, also ...string) (int64, error) {
	if err := deltalog.CheckWritable(&read.Protocol, &read.Metadata, read.Schema, also...); err != nil {
		return 0, fmt.Errorf("write %s: %w", t.URI(), err)
	}
	v, err := deltalog.Commit(ctx, t.store, read, actions, op)
	if err != nil {
		return 0, err
	}
	if t.cfg.checkpoints && v%deltalog.CheckpointInterval(&read.Metadata) == 0 {
		if err := t.checkpointAt(ctx, v); err != nil {
			t.logger.Warn("checkpoint failed; the table stays readable from its commits", "version", v, "err", err)
		}
	}
	return v, nil
}

// Checkpoint writes a checkpoint of the latest version.
func (t *Table) Checkpoint(ctx context.Context) (int64, error) {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	return snap.Version, deltalog.WriteCheckpointAt(ctx, t.store, snap, t.cfg.now())
}

func (t *Table) checkpointAt(ctx context.Context, v int64) error {
	snap, err := t.Snapshot(ctx, deltalog.AtVersion(v))
	if err != nil {
		return err
	}
	return deltalog.WriteCheckpointAt(ctx, t.store, snap, t.cfg.now())
}

// validatePartitionColumns checks that each partition column exists, is a
// primitive type other than binary, and that not every column is one.
func validatePartitionColumns(schema *deltalog.Schema, cols []string) error {
	seen := map[string]bool{}
	for _, c := range cols {
		f := schema.FieldByName(c)
		if f == nil {
			return fmt.Errorf("partition column %q is not in the schema", c)
		}
		if !f.Type.IsPrimitive() || f.Type.Name == deltalog.TypeBinary {
			return fmt.Errorf("partition column %q has type %s: partition columns must be primitive and not binary", c, f.Type)
		}
		if seen[f.Name] {
			return fmt.Errorf("partition column %q is listed twice", c)
		}
		seen[f.Name] = true
	}
	if len(cols) > 0 && len(cols) == len(schema.Fields) {
		return errors.New("every column is a partition column: at least one data column is needed")
	}
	return nil
}
