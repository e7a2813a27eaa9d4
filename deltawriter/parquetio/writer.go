package parquetio

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// Compression is the codec of data pages.
type Compression int

// Supported compression codecs. Zstd runs at its fastest level
// (klauspost's SpeedFastest, about zstd level 1): on the write benchmark's
// table it costs two thirds of the CPU time of the default level for a file
// 0.1% larger.
const (
	CompressionZstd Compression = iota
	CompressionSnappy
	CompressionNone
)

// Defaults of the writer options.
const (
	DefaultRowGroupSize = 64 << 20
	DefaultPageSize     = 1 << 20
)

// createdBy is the created_by of the files written; it keeps the
// "<app> version <v>" form parquet-mr parses, so Spark does not log warnings.
const createdBy = "sluice version 0.1.0"

type options struct {
	compression  Compression
	rowGroupSize int64
	pageSize     int
}

// Option configures a Writer.
type Option func(*options)

// WithCompression sets the compression codec (default zstd).
func WithCompression(c Compression) Option { return func(o *options) { o.compression = c } }

// WithRowGroupSize sets the target size in bytes of a row group, buffered in
// memory until it is reached and then flushed (default 64 MiB).
func WithRowGroupSize(bytes int64) Option { return func(o *options) { o.rowGroupSize = bytes } }

// WithPageSize sets the target size in bytes of an uncompressed data page
// (default 1 MiB).
func WithPageSize(bytes int) Option { return func(o *options) { o.pageSize = bytes } }

type createdByOption string

func (c createdByOption) ConfigureWriter(cfg *parquet.WriterConfig) { cfg.CreatedBy = string(c) }

// Writer writes one Parquet data file of a Delta table from Arrow records,
// streaming row groups to the underlying io.Writer, and collects the file's
// Delta statistics. It is not safe for concurrent use.
type Writer struct {
	schema  *deltalog.Schema
	opts    options
	pw      *parquet.Writer
	cols    []*parquet.ColumnWriter
	roots   []*node
	leaves  []*leafPath // per leaf column
	rows    int64
	rgStart int64 // pw.Size() when the current row group began
	rg      int   // index of the current row group
	slots   []slot
	next    []slot
	vals    []parquet.Value // values of a leaf array's entries, levels unset
	out     []parquet.Value // shred: the values written, with levels
	scratch []byte
	err     error // sticky: a writer that failed cannot produce a valid file
	noFlat  bool  // shred top-level primitive columns too (tests compare both paths)
	closed  bool
}

// writeSliceRows bounds the rows shredded at once, so row groups can be cut
// close to the target size even when records are large.
const writeSliceRows = 16 << 10

// valuesPerCall bounds the values passed to one ColumnWriter.WriteRowValues
// call; parquet-go cuts pages only between calls.
const valuesPerCall = 2048

// NewWriter returns a Writer of a Parquet file with the given Delta schema.
func NewWriter(w io.Writer, schema *deltalog.Schema, opts ...Option) (*Writer, error) {
	o := options{compression: CompressionZstd, rowGroupSize: DefaultRowGroupSize, pageSize: DefaultPageSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.rowGroupSize <= 0 || o.pageSize <= 0 {
		return nil, fmt.Errorf("parquetio: row group size and page size must be positive")
	}
	ps, err := parquetSchema(schema)
	if err != nil {
		return nil, err
	}
	var codec parquet.WriterOption
	switch o.compression {
	case CompressionZstd:
		codec = parquet.Compression(zstdCodec)
	case CompressionSnappy:
		codec = parquet.Compression(&parquet.Snappy)
	case CompressionNone:
		codec = parquet.Compression(&parquet.Uncompressed)
	default:
		return nil, fmt.Errorf("parquetio: unknown compression %d", o.compression)
	}
	popts := []parquet.WriterOption{ps, codec, createdByOption(createdBy),
		parquet.PageBufferSize(o.pageSize), parquet.DataPageVersion(1),
		// No statistics in data page headers: parquet-go would compute each
		// page's bounds a second time for them (it already does for the
		// column index and the column chunk statistics, which readers use).
		// parquet-mr stopped writing them in 1.11 (PARQUET-1365).
		parquet.DataPageStatistics(false)}
	// The config is checked here, because parquet.NewWriter panics on a bad
	// one; the options, not the config, go to NewWriter: a *WriterConfig
	// given as an option ORs its DataPageStatistics with the default (true).
	if _, err := parquet.NewWriterConfig(popts...); err != nil {
		return nil, fmt.Errorf("parquetio: writer config: %w", err)
	}
	wr := &Writer{schema: schema, opts: o, pw: parquet.NewWriter(w, popts...)}
	wr.cols = wr.pw.ColumnWriters()
	wr.roots = writerTree(schema.Fields)
	var walk func(top int, n *node, nodes []*node, child []int)
	walk = func(top int, n *node, nodes []*node, child []int) {
		nodes = append(nodes[:len(nodes):len(nodes)], n)
		if n.leaf >= 0 {
			wr.leaves = append(wr.leaves, &leafPath{top: top, nodes: nodes, child: child})
		}
		for i, c := range n.children {
			walk(top, c, nodes, append(child[:len(child):len(child)], i))
		}
	}
	for i, r := range wr.roots {
		walk(i, r, nil, nil)
	}
	if len(wr.leaves) != len(wr.cols) {
		return nil, fmt.Errorf("parquetio: internal error: %d leaves, %d Parquet columns", len(wr.leaves), len(wr.cols))
	}
	return wr, nil
}

// BytesWritten returns the bytes flushed to the underlying writer so far plus
// an estimate of the bytes buffered for the current row group (uncompressed
// for the page being filled), so that callers can roll files at a target size.
func (w *Writer) BytesWritten() int64 { return w.pw.Size() }

// Write appends the rows of rec, whose columns must match the writer's schema
// by position and type (Arrow nullability is not checked; nulls in a
// non-nullable field are an error). After an error the Writer is unusable.
func (w *Writer) Write(rec arrow.Record) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("parquetio: write after Close")
	}
	if err := w.checkSchema(rec.Schema()); err != nil {
		return err
	}
	n := int(rec.NumRows())
	for off := 0; off < n; off += writeSliceRows {
		end := min(n, off+writeSliceRows)
		part := rec
		if off != 0 || end != n {
			part = rec.NewSlice(int64(off), int64(end))
		}
		err := w.writeRows(part)
		if part != rec {
			part.Release()
		}
		if err == nil && w.pw.Size()-w.rgStart >= w.opts.rowGroupSize {
			if err = w.pw.Flush(); err != nil {
				err = fmt.Errorf("parquetio: flush row group %d: %w", w.rg, err)
			}
			w.rgStart = w.pw.Size()
			w.rg++
		}
		if err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

func (w *Writer) checkSchema(s *arrow.Schema) error {
	if s.NumFields() != len(w.schema.Fields) {
		return fmt.Errorf("parquetio: record has %d columns, schema has %d", s.NumFields(), len(w.schema.Fields))
	}
	for i, f := range s.Fields() {
		want := w.schema.Fields[i]
		got, err := deltalog.DeltaType(f.Type, f.Name)
		if err != nil {
			return err
		}
		if f.Name != want.Name || !sameShape(got, want.Type) {
			return fmt.Errorf("parquetio: record column %d is %s %s, schema has %s %s", i, f.Name, got, want.Name, want.Type)
		}
	}
	return nil
}

func (w *Writer) writeRows(rec arrow.Record) error {
	n := int(rec.NumRows())
	for leaf, lp := range w.leaves {
		var err error
		if len(lp.nodes) == 1 && !w.noFlat {
			err = w.writeFlat(leaf, lp.nodes[0], rec.Column(lp.top))
		} else {
			err = w.shred(leaf, lp, rec.Column(lp.top), n)
		}
		if err != nil {
			return fmt.Errorf("parquetio: row group %d: %w", w.rg, err)
		}
	}
	w.rows += int64(n)
	return nil
}

// leafPath is the path of nodes from a top-level column to a leaf; child[k]
// is the index among nodes[k]'s children of nodes[k+1].
type leafPath struct {
	top   int
	nodes []*node
	child []int
}

// slot is one position of a column while it is shredded: a value at index
// idx of the current array (def < 0), or a null or empty list that ends the
// path early, with the definition level def.
type slot struct {
	idx int32
	rep uint8
	def int16
}

// writeFlat writes a top-level primitive column: its values carry no
// repetition level and their definition level comes from the validity bitmap
// alone, so they are made straight from the Arrow buffers without shredding.
// It writes the same values shred would.
func (w *Writer) writeFlat(leaf int, nd *node, arr arrow.Array) error {
	n, nulls := arr.Len(), arr.NullN()
	if n == 0 {
		return nil
	}
	if nulls > 0 && !nd.nullable {
		return fmt.Errorf("column %q: null in non-nullable field", nd.path)
	}
	if nd.acc != nil {
		nd.acc.nulls += int64(nulls)
		if !chunkBounds(nd) {
			nd.acc.addAll(arr)
		}
	}
	vals, err := w.leafValues(arr, nd.typ, 0, n)
	if err != nil {
		return fmt.Errorf("column %q: %w", nd.path, err)
	}
	for i := range vals {
		vals[i].SetDefinitionLevel(nd.def)
		vals[i].SetColumnIndex(leaf)
	}
	if nulls > 0 {
		null := parquet.Value{}.Level(0, nd.def-1, leaf)
		for i := range vals {
			if arr.IsNull(i) {
				vals[i] = null
			}
		}
	}
	cw := w.cols[leaf]
	for len(vals) > 0 {
		end := min(len(vals), valuesPerCall)
		if _, err := cw.WriteRowValues(vals[:end]); err != nil {
			return fmt.Errorf("column %q: %w", nd.path, err)
		}
		vals = vals[end:]
	}
	return nil
}

// leafValues returns, in w.vals, the Parquet values of entries lo to hi-1
// of a leaf array: vals[i-lo] is the value of entry i, with levels unset.
// Null entries get an unspecified value. Byte array values alias the Arrow
// buffers (or w.scratch) until they are written.
func (w *Writer) leafValues(arr arrow.Array, t *deltalog.Type, lo, hi int) ([]parquet.Value, error) {
	if lo < 0 || lo > hi || hi > arr.Len() {
		return nil, fmt.Errorf("entries %d to %d out of range of %d", lo, hi, arr.Len())
	}
	vals := slices.Grow(w.vals[:0], hi-lo)[:hi-lo]
	w.vals = vals
	switch a := arr.(type) {
	case *array.Boolean:
		for i := range vals {
			vals[i] = parquet.BooleanValue(a.Value(lo + i))
		}
	case *array.Int8:
		fillNumbers(vals, a.Int8Values()[lo:hi], parquet.Int32)
	case *array.Int16:
		fillNumbers(vals, a.Int16Values()[lo:hi], parquet.Int32)
	case *array.Int32:
		fillNumbers(vals, a.Int32Values()[lo:hi], parquet.Int32)
	case *array.Date32:
		fillNumbers(vals, a.Date32Values()[lo:hi], parquet.Int32)
	case *array.Int64:
		fillNumbers(vals, a.Int64Values()[lo:hi], parquet.Int64)
	case *array.Timestamp:
		fillNumbers(vals, a.TimestampValues()[lo:hi], parquet.Int64)
	case *array.Float32:
		fillNumbers(vals, a.Float32Values()[lo:hi], parquet.Float)
	case *array.Float64:
		fillNumbers(vals, a.Float64Values()[lo:hi], parquet.Double)
	case *array.String:
		return vals, fillBytes(vals, a.ValueOffsets()[lo:hi+1], a.ValueOffsets()[0], a.ValueBytes())
	case *array.Binary:
		return vals, fillBytes(vals, a.ValueOffsets()[lo:hi+1], a.ValueOffsets()[0], a.ValueBytes())
	case *array.Decimal128:
		w.fillDecimals(vals, a.Values()[lo:hi], t.Precision)
	default:
		return nil, fmt.Errorf("unsupported Arrow array %s for %s", arr.DataType(), t)
	}
	return vals, nil
}

// number is the Go type of the values of a fixed-width numeric Arrow array.
type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~float32 | ~float64
}

// fillNumbers sets vals[i] to the Parquet value of physical kind k (INT32,
// INT64, FLOAT or DOUBLE) of xs[i].
func fillNumbers[T number](vals []parquet.Value, xs []T, k parquet.Kind) {
	xs = xs[:len(vals)]
	for i, x := range xs {
		switch k {
		case parquet.Int32:
			vals[i] = parquet.Int32Value(int32(x))
		case parquet.Int64:
			vals[i] = parquet.Int64Value(int64(x))
		case parquet.Float:
			vals[i] = parquet.FloatValue(float32(x))
		default:
			vals[i] = parquet.DoubleValue(float64(x))
		}
	}
}

// fillBytes sets vals[i] to a BYTE_ARRAY value aliasing the bytes of entry i
// of a string or binary Arrow array: offs holds the offsets of the entries and
// the one after them, base is the offset of data[0].
func fillBytes(vals []parquet.Value, offs []int32, base int32, data []byte) error {
	if len(offs) != len(vals)+1 {
		return fmt.Errorf("string array has %d offsets for %d values", len(offs), len(vals))
	}
	for i := range vals {
		lo, hi := offs[i]-base, offs[i+1]-base
		if lo < 0 || lo > hi || int(hi) > len(data) {
			return fmt.Errorf("string array offsets out of range at %d", i)
		}
		vals[i] = parquet.ByteArrayValue(data[lo:hi:hi])
	}
	return nil
}

// fillDecimals sets vals[i] to the Parquet value of xs[i] for a decimal of
// the given precision: INT32 or INT64 of the unscaled value up to precision
// 18, else FIXED_LEN_BYTE_ARRAY of its big-endian two's complement, the low
// decimalBytes(precision) bytes of the 16-byte value, kept in w.scratch.
func (w *Writer) fillDecimals(vals []parquet.Value, xs []decimal128.Num, precision int) {
	xs = xs[:len(vals)]
	switch {
	case precision <= 9:
		for i, x := range xs {
			vals[i] = parquet.Int32Value(int32(x.LowBits()))
		}
	case precision <= 18:
		for i, x := range xs {
			vals[i] = parquet.Int64Value(int64(x.LowBits()))
		}
	default:
		size := decimalBytes(precision)
		buf := slices.Grow(w.scratch[:0], len(xs)*16)[:len(xs)*16]
		w.scratch = buf
		for i, x := range xs {
			b := buf[i*16 : i*16+16]
			binary.BigEndian.PutUint64(b[:8], uint64(x.HighBits()))
			binary.BigEndian.PutUint64(b[8:], x.LowBits())
			vals[i] = parquet.FixedLenByteArrayValue(b[16-size:])
		}
	}
}

// shred computes the Dremel levels of one leaf column from the Arrow arrays
// along its path, updates its statistics and writes its values.
func (w *Writer) shred(leaf int, lp *leafPath, arr arrow.Array, n int) error {
	path := lp.nodes
	slots := w.slots[:0]
	for i := range n {
		slots = append(slots, slot{idx: int32(i), def: -1})
	}
	for k, nd := range path {
		if arr.NullN() > 0 {
			for k := range slots {
				s := &slots[k]
				if s.def < 0 && arr.IsNull(int(s.idx)) {
					if !nd.nullable {
						return fmt.Errorf("column %q: null in non-nullable field", nd.path)
					}
					s.def = int16(nd.def - 1)
				}
			}
		}
		if nd.acc != nil && nd.firstLf == leaf {
			for _, s := range slots {
				if s.def >= 0 {
					nd.acc.nulls++
				}
			}
		}
		switch nd.typ.Name {
		case deltalog.TypeStruct:
			arr = arr.(*array.Struct).Field(lp.child[k])
		case deltalog.TypeArray, deltalog.TypeMap:
			ll := arr.(array.ListLike)
			next := w.next[:0]
			for _, s := range slots {
				if s.def >= 0 {
					next = append(next, s)
					continue
				}
				start, end := ll.ValueOffsets(int(s.idx))
				if start == end {
					next = append(next, slot{rep: s.rep, def: int16(nd.def)})
					continue
				}
				next = append(next, slot{idx: int32(start), rep: s.rep, def: -1})
				for j := start + 1; j < end; j++ {
					next = append(next, slot{idx: int32(j), rep: uint8(nd.rep), def: -1})
				}
			}
			w.next, slots = slots, next
			switch {
			case nd.typ.Name == deltalog.TypeArray:
				arr = ll.ListValues()
			case lp.child[k] == 0:
				arr = arr.(*array.Map).Keys()
			default:
				arr = arr.(*array.Map).Items()
			}
		}
	}
	w.slots = slots
	nd := path[len(path)-1]
	if nd.acc != nil {
		nd.acc.add(arr, liveSlots(slots))
	}
	// The values of the live slots, from the entries they span.
	lo, hi := int(^uint(0)>>1), 0
	for _, s := range slots {
		if s.def < 0 {
			lo, hi = min(lo, int(s.idx)), max(hi, int(s.idx)+1)
		}
	}
	var dense []parquet.Value
	if lo < hi {
		var err error
		if dense, err = w.leafValues(arr, nd.typ, lo, hi); err != nil {
			return fmt.Errorf("column %q: %w", nd.path, err)
		}
	}
	vals := w.out[:0]
	for _, s := range slots {
		if s.def >= 0 {
			vals = append(vals, parquet.Value{}.Level(int(s.rep), int(s.def), leaf))
		} else {
			vals = append(vals, dense[int(s.idx)-lo].Level(int(s.rep), nd.def, leaf))
		}
	}
	w.out = vals
	// Write whole rows only: cut before a value starting a row (rep 0).
	cw := w.cols[leaf]
	for len(vals) > 0 {
		end := min(len(vals), valuesPerCall)
		for end < len(vals) && vals[end].RepetitionLevel() != 0 {
			end++
		}
		if _, err := cw.WriteRowValues(vals[:end]); err != nil {
			return fmt.Errorf("column %q: %w", nd.path, err)
		}
		vals = vals[end:]
	}
	return nil
}

// Close flushes the last row group and the file footer, and returns the
// file's Delta statistics. It does not close the underlying io.Writer.
func (w *Writer) Close() (*deltalog.FileStats, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.closed {
		return nil, fmt.Errorf("parquetio: Close called twice")
	}
	w.closed = true
	if err := w.pw.Close(); err != nil {
		w.err = fmt.Errorf("parquetio: close file (row group %d): %w", w.rg, err)
		return nil, w.err
	}
	if !w.noFlat {
		w.boundsFromChunks()
	}
	return fileStats(w.rows, w.roots), nil
}

// chunkBounds reports whether the min/max of a column written by writeFlat
// are taken from the file's column chunk statistics, which parquet-go
// computes anyway, instead of being computed a second time: strings, whose
// comparisons are the costly part of the statistics. Parquet's BYTE_ARRAY
// order is Go's string order, and parquet-go keeps the chunk bounds whole.
func chunkBounds(nd *node) bool { return nd.acc != nil && nd.acc.kind == statString }

// boundsFromChunks folds the column chunk statistics of every row group into
// the min/max of the flat columns for which chunkBounds holds.
func (w *Writer) boundsFromChunks() {
	md := w.pw.File().Metadata()
	for leaf, lp := range w.leaves {
		nd := lp.nodes[0]
		if len(lp.nodes) != 1 || !chunkBounds(nd) {
			continue
		}
		for _, rg := range md.RowGroups {
			st := rg.Columns[leaf].MetaData.Statistics
			if st.MinValue != nil && st.MaxValue != nil {
				nd.acc.addStrings(strBounds{lo: string(st.MinValue), hi: string(st.MaxValue), ok: true})
			}
		}
	}
}

// zstdCodec is the zstd codec of data pages, shared by all writers so they
// share its pool of encoders.
var zstdCodec = &zstd.Codec{Level: zstd.SpeedFastest}
