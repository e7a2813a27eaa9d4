package deltawriter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/google/uuid"

	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
)

// BatchWriter writes Arrow records into new data files of a table, split by
// partition and rolled at the target file size, streaming each file to the
// object store. Close returns the add actions to commit; until they are
// committed the files are invisible orphans (VACUUM removes them).
// A BatchWriter is not safe for concurrent use.
type BatchWriter struct {
	t          *Table
	ctx        context.Context
	schema     *deltalog.Schema
	arrowSch   *arrow.Schema
	dataSchema *deltalog.Schema
	dataArrow  *arrow.Schema
	partCols   []string
	partIdx    []int // positions of partition columns in the table schema
	partTypes  []*deltalog.Type
	dataIdx    []int // positions of data columns in the table schema
	open       map[string]*openFile
	adds       []deltalog.Add
	addDirs    []string         // the partition directory of each add
	pending    map[string]int64 // bytes of the completed files not yet taken, per partition directory
	err        error
	closed     bool
	stats      WriteStats
	target     int64 // roll files at this size
}

// WriteStats count what a BatchWriter wrote.
type WriteStats struct {
	Files int64 // data files completed
	Bytes int64 // bytes of completed data files
	Rows  int64 // rows written
}

type openFile struct {
	key    string
	values map[string]*string
	pw     *parquetio.Writer
	pipe   *io.PipeWriter
	count  *countingWriter
	done   chan error
}

type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// NewBatchWriter returns a writer of data files for the table as of snap.
func (t *Table) NewBatchWriter(ctx context.Context, snap *deltalog.Snapshot) (*BatchWriter, error) {
	return t.newBatchWriter(ctx, snap, t.cfg.targetFileSize)
}

// newBatchWriter is NewBatchWriter with a target file size; also are the
// table features the caller handles (see deltalog.CheckWritable).
func (t *Table) newBatchWriter(ctx context.Context, snap *deltalog.Snapshot, targetFileSize int64, also ...string) (*BatchWriter, error) {
	if err := deltalog.CheckWritable(&snap.Protocol, &snap.Metadata, snap.Schema, also...); err != nil {
		return nil, fmt.Errorf("write %s: %w", t.URI(), err)
	}
	// A caller that handles column mapping (OPTIMIZE) writes the files'
	// physical schema: physical column names (also in partition values and
	// statistics) and field ids. CheckWritable refuses the others.
	schema := snap.Schema
	if slices.Contains(also, deltalog.FeatureColumnMapping) {
		phys, err := deltalog.PhysicalSchema(snap.Schema, deltalog.ColumnMappingMode(&snap.Metadata))
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", t.URI(), err)
		}
		schema = phys
	}
	arrowSch, err := deltalog.ArrowSchema(schema)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", t.URI(), err)
	}
	w := &BatchWriter{t: t, ctx: ctx, schema: schema, arrowSch: arrowSch, open: map[string]*openFile{}, pending: map[string]int64{}, target: targetFileSize}
	isPart := map[int]bool{}
	for _, c := range snap.Metadata.PartitionColumns {
		found := false
		for i, f := range snap.Schema.Fields { // partition columns are logical names
			if strings.EqualFold(f.Name, c) {
				isPart[i], found = true, true
				w.partIdx = append(w.partIdx, i)
				w.partTypes = append(w.partTypes, f.Type)
				w.partCols = append(w.partCols, schema.Fields[i].Name)
			}
		}
		if !found {
			return nil, fmt.Errorf("write %s: partition column %q is not in the schema", t.URI(), c)
		}
	}
	var dataFields []deltalog.Field
	var arrowFields []arrow.Field
	for i, f := range schema.Fields {
		if !isPart[i] {
			w.dataIdx = append(w.dataIdx, i)
			dataFields = append(dataFields, f)
			arrowFields = append(arrowFields, arrowSch.Field(i))
		}
	}
	w.dataSchema = deltalog.Struct(dataFields...)
	w.dataArrow = arrow.NewSchema(arrowFields, nil)
	return w, nil
}

// Write adds the rows of rec. Its columns must match the table schema by
// name and Arrow type (in any order); a NOT NULL column must hold no nulls.
func (w *BatchWriter) Write(rec arrow.Record) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("write after Close")
	}
	if rec.NumRows() == 0 {
		return nil
	}
	cols, err := w.align(rec)
	if err != nil {
		return err
	}
	if len(w.partIdx) == 0 {
		return w.fail(w.writeTo(nil, cols, nil))
	}
	// Group rows by partition, keeping first-seen order.
	dirs, vals, err := w.partitionKeys(cols)
	if err != nil {
		return w.fail(err)
	}
	groups := map[string][]int64{}
	var order []string
	for r, dir := range dirs {
		if _, ok := groups[dir]; !ok {
			order = append(order, dir)
		}
		groups[dir] = append(groups[dir], int64(r))
	}
	for _, dir := range order {
		rows := groups[dir]
		if len(order) == 1 {
			if err := w.writeTo(vals[dir], cols, nil); err != nil {
				return w.fail(err)
			}
			continue
		}
		if err := w.writeTo(vals[dir], cols, rows); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

// PartitionKeys returns the partition directory (e.g. "country=FR/") each
// row of rec is written to: the key of PartitionSize and Take. Every row of
// an unpartitioned table has the key "".
func (w *BatchWriter) PartitionKeys(rec arrow.Record) ([]string, error) {
	cols, err := w.align(rec)
	if err != nil {
		return nil, err
	}
	dirs, _, err := w.partitionKeys(cols)
	return dirs, err
}

// partitionKeys returns each row's partition directory and the partition
// values of each directory.
func (w *BatchWriter) partitionKeys(cols []arrow.Array) ([]string, map[string]map[string]*string, error) {
	n := 0
	if len(cols) > 0 {
		n = cols[0].Len()
	}
	dirs := make([]string, n)
	vals := map[string]map[string]*string{}
	if len(w.partIdx) == 0 {
		return dirs, vals, nil
	}
	for r := 0; r < n; r++ {
		pv := make(map[string]*string, len(w.partIdx))
		for j, i := range w.partIdx {
			v, err := partitionValue(cols[i], r, w.partTypes[j])
			if err != nil {
				return nil, nil, fmt.Errorf("partition column %q: %w", w.partCols[j], err)
			}
			pv[w.partCols[j]] = v
		}
		dir := partitionDir(w.partCols, pv)
		if _, ok := vals[dir]; !ok {
			vals[dir] = pv
		}
		dirs[r] = dir
	}
	return dirs, vals, nil
}

// align returns rec's columns in table-schema order, checking names, types
// and NOT NULL constraints.
func (w *BatchWriter) align(rec arrow.Record) ([]arrow.Array, error) {
	rs := rec.Schema()
	if int(rec.NumCols()) != len(w.schema.Fields) {
		return nil, fmt.Errorf("write %s: batch has %d columns, the table has %d (%s)", w.t.URI(), rec.NumCols(), len(w.schema.Fields), w.schema)
	}
	cols := make([]arrow.Array, len(w.schema.Fields))
	for i, f := range w.schema.Fields {
		idx := arrowutil.FieldIndexFold(rs, f.Name)
		if idx < 0 {
			return nil, fmt.Errorf("write %s: batch has no column %q", w.t.URI(), f.Name)
		}
		want := w.arrowSch.Field(i).Type
		if got := rs.Field(idx).Type; !arrow.TypeEqual(got, want) {
			return nil, fmt.Errorf("write %s: column %q has Arrow type %s, the table wants %s (Delta %s)", w.t.URI(), f.Name, got, want, f.Type)
		}
		col := rec.Column(idx)
		if !f.Nullable && col.NullN() > 0 {
			return nil, fmt.Errorf("write %s: column %q is NOT NULL but the batch has %d nulls", w.t.URI(), f.Name, col.NullN())
		}
		cols[i] = col
	}
	return cols, nil
}

// writeTo writes the data columns of the selected rows (all when rows is nil)
// to the open file of partition values pv.
func (w *BatchWriter) writeTo(pv map[string]*string, cols []arrow.Array, rows []int64) error {
	data := make([]arrow.Array, len(w.dataIdx))
	var nrows int64
	if rows == nil {
		for k, i := range w.dataIdx {
			data[k] = cols[i]
			data[k].Retain()
		}
		nrows = int64(cols[0].Len())
	} else {
		for k, i := range w.dataIdx {
			taken, err := arrowutil.TakeRows(w.ctx, cols[i], rows)
			if err != nil {
				for _, d := range data[:k] {
					d.Release()
				}
				return fmt.Errorf("split partition: column %q: %w", w.schema.Fields[i].Name, err)
			}
			data[k] = taken
		}
		nrows = int64(len(rows))
	}
	rec := array.NewRecord(w.dataArrow, data, nrows)
	for _, d := range data {
		d.Release()
	}
	defer rec.Release()
	return w.writePartition(pv, rec)
}

// writePartition writes a record of the data columns to the open file of
// partition values pv, rolling it at the target size.
func (w *BatchWriter) writePartition(pv map[string]*string, rec arrow.Record) error {
	nrows := rec.NumRows()
	dir := partitionDir(w.partCols, pv)
	f := w.open[dir]
	if f == nil {
		var err error
		if f, err = w.startFile(dir, pv); err != nil {
			return err
		}
		w.open[dir] = f
	}
	if err := f.pw.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", f.key, err)
	}
	w.stats.Rows += nrows
	if f.pw.BytesWritten() >= w.target {
		delete(w.open, dir)
		return w.finishFile(f)
	}
	return nil
}

func (w *BatchWriter) startFile(dir string, pv map[string]*string) (*openFile, error) {
	codec := map[parquetio.Compression]string{parquetio.CompressionZstd: ".zstd", parquetio.CompressionSnappy: ".snappy"}[w.t.cfg.compression]
	key := fmt.Sprintf("%spart-00000-%s-c000%s.parquet", dir, uuid.NewString(), codec)
	pr, pwr := io.Pipe()
	f := &openFile{key: key, values: pv, pipe: pwr, count: &countingWriter{w: pwr}, done: make(chan error, 1)}
	go func() {
		err := w.t.store.Put(w.ctx, key, pr, objstore.PutOptions{ContentType: "application/vnd.apache.parquet"})
		pr.CloseWithError(err) // unblock the writer if the upload failed early
		f.done <- err
	}()
	pw, err := parquetio.NewWriter(f.count, w.dataSchema,
		parquetio.WithCompression(w.t.cfg.compression), parquetio.WithRowGroupSize(w.t.cfg.rowGroupSize))
	if err != nil {
		pwr.CloseWithError(err)
		<-f.done
		return nil, err
	}
	f.pw = pw
	return f, nil
}

func (w *BatchWriter) finishFile(f *openFile) error {
	st, err := f.pw.Close()
	if err != nil {
		f.pipe.CloseWithError(err)
		<-f.done
		return fmt.Errorf("finish %s: %w", f.key, err)
	}
	f.pipe.Close()
	if err := <-f.done; err != nil {
		return fmt.Errorf("upload %s: %w", f.key, err)
	}
	stats, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("stats of %s: %w", f.key, err)
	}
	size := f.count.n.Load()
	dir := partitionDir(w.partCols, f.values)
	w.addDirs = append(w.addDirs, dir)
	w.pending[dir] += f.count.n.Load()
	w.adds = append(w.adds, deltalog.Add{
		Path: encodeAddPath(f.key), PartitionValues: f.values, Size: size,
		ModificationTime: w.t.cfg.now().UnixMilli(), DataChange: true, Stats: string(stats),
	})
	w.stats.Files++
	w.stats.Bytes += size
	return nil
}

func (w *BatchWriter) fail(err error) error {
	if err != nil && w.err == nil {
		w.err = err
		w.Abort()
	}
	return err
}

// Close finishes every open file and returns the add actions to commit.
func (w *BatchWriter) Close() ([]deltalog.Add, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.closed {
		return w.adds, nil
	}
	w.closed = true
	for dir, f := range w.open {
		delete(w.open, dir)
		if err := w.finishFile(f); err != nil {
			w.err = err
			w.Abort()
			return nil, err
		}
	}
	return w.adds, nil
}

// Size estimates the bytes written and not yet taken: completed files
// plus what the open files have flushed and buffered.
func (w *BatchWriter) Size() int64 {
	var n int64
	for _, b := range w.pending {
		n += b
	}
	for _, f := range w.open {
		n += f.pw.BytesWritten()
	}
	return n
}

// PartitionSize is Size for the rows of one partition directory (a key of
// PartitionKeys).
func (w *BatchWriter) PartitionSize(dir string) int64 {
	n := w.pending[dir]
	if f := w.open[dir]; f != nil {
		n += f.pw.BytesWritten()
	}
	return n
}

// Take finishes the open files of the partition directories dirs (every
// directory when dirs is nil) and returns the add actions of their files,
// which the writer then forgets: the caller commits them while the writer
// keeps writing the other partitions. A streaming writer commits each
// partition when it is due, not all of them at once.
func (w *BatchWriter) Take(dirs map[string]bool) ([]deltalog.Add, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.closed {
		return nil, errors.New("take after Close")
	}
	for dir, f := range w.open {
		if dirs != nil && !dirs[dir] {
			continue
		}
		delete(w.open, dir)
		if err := w.finishFile(f); err != nil {
			return nil, w.fail(err)
		}
	}
	var taken, kept []deltalog.Add
	var keptDirs []string
	for i, a := range w.adds {
		if dirs == nil || dirs[w.addDirs[i]] {
			taken = append(taken, a)
			delete(w.pending, w.addDirs[i])
			continue
		}
		kept = append(kept, a)
		keptDirs = append(keptDirs, w.addDirs[i])
	}
	w.adds, w.addDirs = kept, keptDirs
	return taken, nil
}

// Stats reports what was written so far.
func (w *BatchWriter) Stats() WriteStats { return w.stats }

// Abort stops every open upload; nothing written by this writer is committed.
func (w *BatchWriter) Abort() {
	for dir, f := range w.open {
		delete(w.open, dir)
		f.pipe.CloseWithError(errors.New("batch writer aborted"))
		<-f.done
	}
	w.closed = true
}

// Append writes recs as new files and commits them in one version, with the
// given application transactions (e.g. Kafka offsets). It returns the version.
func (t *Table) Append(ctx context.Context, recs []arrow.Record, txns ...deltalog.Txn) (int64, error) {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	w, err := t.NewBatchWriter(ctx, snap)
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return 0, err
		}
	}
	adds, err := w.Close()
	if err != nil {
		return 0, err
	}
	return t.Commit(ctx, snap, AppendActions(adds, txns, t.cfg.now().UnixMilli()), deltalog.Operation{
		Name: "WRITE", Parameters: map[string]string{"mode": "Append", "partitionBy": deltalog.JSONParam(snap.Metadata.PartitionColumns)},
	})
}

// AppendActions builds the actions of an append commit.
func AppendActions(adds []deltalog.Add, txns []deltalog.Txn, nowMillis int64) []deltalog.Action {
	acts := make([]deltalog.Action, 0, len(adds)+len(txns))
	for i := range txns {
		tx := txns[i]
		if tx.LastUpdated == nil {
			tx.LastUpdated = &nowMillis
		}
		acts = append(acts, deltalog.Action{Txn: &tx})
	}
	for i := range adds {
		acts = append(acts, deltalog.Action{Add: &adds[i]})
	}
	return acts
}
