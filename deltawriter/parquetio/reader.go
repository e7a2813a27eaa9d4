package parquetio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// ReadBatchRows is the most rows of a record passed to ReadFile's callback.
const ReadBatchRows = 64 << 10

// ReadFile reads a Parquet file into Arrow records of the Arrow form of the
// Delta schema (see ArrowSchema), one row group at a time, calling fn with
// records of at most ReadBatchRows rows. Columns are matched by name (case
// insensitive when no exact match); those absent from the file are read as
// nulls. The record is released when fn returns: fn must Retain it to keep
// it. Errors of fn are returned as they are.
func ReadFile(r io.ReaderAt, size int64, schema *deltalog.Schema, alloc memory.Allocator, fn func(arrow.Record) error, opts ...ReadOption) error {
	cfg := readConfig{mode: deltalog.ColumnMappingNone}
	for _, o := range opts {
		o(&cfg)
	}
	as, err := deltalog.ArrowSchema(schema)
	if err != nil {
		return err
	}
	var f *parquet.File
	var roots []*node
	var cols []*parquet.Column
	err = guard(func() error {
		var err error
		f, err = parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			return err
		}
		roots, cols, err = readerTree(schema.Fields, f.Root(), cfg.mode)
		return err
	})
	if err != nil {
		return fmt.Errorf("parquetio: open file: %w", err)
	}
	for i, rg := range f.RowGroups() {
		var rec arrow.Record
		err := guard(func() error {
			var err error
			rec, err = readRowGroup(rg, as, roots, cols, alloc)
			return err
		})
		if err != nil {
			return fmt.Errorf("parquetio: row group %d: %w", i, err)
		}
		n := rec.NumRows()
		for off := int64(0); off < n && err == nil; off += ReadBatchRows {
			part := rec.NewSlice(off, min(n, off+ReadBatchRows))
			err = fn(part)
			part.Release()
		}
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadOption tunes ReadFile.
type ReadOption func(*readConfig)

type readConfig struct {
	mode string // column mapping mode
}

// WithColumnMapping reads a file of a table with column mapping mode
// (deltalog.ColumnMappingName or ColumnMappingID): the columns of schema's
// fields, nested ones too, are found by their physical names, or in mode id
// by their field ids when the file has them; the records keep schema's
// names. A schema of physical names (deltalog.PhysicalSchema) reads the
// same columns.
func WithColumnMapping(mode string) ReadOption { return func(c *readConfig) { c.mode = mode } }

// guard runs f, turning a panic (parquet-go panics on some corrupt input)
// into an error.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt or unsupported file: %v", p)
		}
	}()
	return f()
}

// maxRowGroupRows bounds the rows of a row group read at once, so that a
// corrupt row count does not exhaust memory.
const maxRowGroupRows = math.MaxInt32

func readRowGroup(rg parquet.RowGroup, as *arrow.Schema, roots []*node, cols []*parquet.Column, alloc memory.Allocator) (arrow.Record, error) {
	n := rg.NumRows()
	if n < 0 || n > maxRowGroupRows {
		return nil, fmt.Errorf("invalid row count %d", n)
	}
	chunks := rg.ColumnChunks()
	a := &assembler{alloc: alloc, vals: make([][]parquet.Value, len(cols)), convs: make([]leafConv, len(cols))}
	ents := make([][]int32, len(cols))
	for i, c := range cols {
		idx := c.Index()
		if idx < 0 || idx >= len(chunks) {
			return nil, fmt.Errorf("column %q: no column chunk", c.Path())
		}
		vals, err := readChunk(chunks[idx])
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Path(), err)
		}
		a.vals[i] = vals
		ents[i] = make([]int32, len(vals))
		for j := range ents[i] {
			ents[i][j] = int32(j)
		}
	}
	arrs := make([]arrow.Array, len(roots))
	defer func() {
		for _, x := range arrs {
			if x != nil {
				x.Release()
			}
		}
	}()
	for i, r := range roots {
		var err error
		if arrs[i], err = a.build(r, 0, int(n), ents); err != nil {
			return nil, err
		}
	}
	return array.NewRecord(as, arrs, n), nil
}

// readChunk returns all values of a column chunk, with their levels.
func readChunk(cc parquet.ColumnChunk) ([]parquet.Value, error) {
	pages := cc.Pages()
	defer pages.Close()
	var vals []parquet.Value
	buf := make([]parquet.Value, 4096)
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return vals, nil
		}
		if err != nil {
			return nil, err
		}
		vr := p.Values()
		for {
			k, err := vr.ReadValues(buf)
			vals = append(vals, buf[:k]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if k == 0 {
				return nil, fmt.Errorf("page reader made no progress")
			}
		}
	}
}

// assembler rebuilds Arrow arrays from the values and levels of leaf
// columns (Dremel assembly), one node at a time, top down.
type assembler struct {
	alloc memory.Allocator
	vals  [][]parquet.Value // per leaf
	convs []leafConv
}

// slotStarts returns the positions in ents that start a slot of a node whose
// slots begin at repetition level slotRep.
func slotStarts(vals []parquet.Value, ents []int32, slotRep int) []int {
	var starts []int
	for i, e := range ents {
		if vals[e].RepetitionLevel() <= slotRep {
			starts = append(starts, i)
		}
	}
	return starts
}

// build returns the array of the n slots of nd. ents[leaf] holds the entries
// (indices into vals[leaf]) of each leaf below nd that fall in those slots.
func (a *assembler) build(nd *node, slotRep, n int, ents [][]int32) (arrow.Array, error) {
	dt, err := deltalog.ArrowType(nd.typ, nd.path)
	if err != nil {
		return nil, err
	}
	if nd.firstLf < 0 {
		return array.MakeArrayOfNull(a.alloc, dt, n), nil
	}
	vals, ents0 := a.vals[nd.firstLf], ents[nd.firstLf]
	starts := slotStarts(vals, ents0, slotRep)
	if len(starts) != n {
		return nil, fmt.Errorf("column %q: %d values, want %d", nd.path, len(starts), n)
	}
	if nd.leaf >= 0 {
		return a.buildLeaf(nd, dt, vals, ents0)
	}
	valid := make([]byte, bitutil.BytesForBits(int64(n)))
	nulls := 0
	for i, s := range starts {
		if vals[ents0[s]].DefinitionLevel() >= nd.def {
			bitutil.SetBit(valid, i)
		} else {
			nulls++
		}
	}
	if nd.typ.Name == deltalog.TypeStruct {
		children, err := a.buildChildren(nd, slotRep, n, ents)
		if err != nil {
			return nil, err
		}
		defer releaseData(children)
		return fromData(array.NewData(dt, n, []*memory.Buffer{memory.NewBufferBytes(valid)}, children, nulls, 0)), nil
	}
	// List or map: offsets from the representative leaf; the element entries
	// of every leaf are those defined at least to the element level.
	offsets := make([]int32, n+1)
	m := 0
	for i, s := range starts {
		end := len(ents0)
		if i+1 < n {
			end = starts[i+1]
		}
		if vals[ents0[s]].DefinitionLevel() >= nd.elemDef {
			for _, e := range ents0[s:end] {
				if vals[e].RepetitionLevel() <= nd.rep {
					m++
				}
			}
		}
		if m > math.MaxInt32 {
			return nil, fmt.Errorf("column %q: too many elements", nd.path)
		}
		offsets[i+1] = int32(m)
	}
	sub := make([][]int32, len(ents))
	for l := range ents {
		if ents[l] == nil {
			continue
		}
		for _, e := range ents[l] {
			if a.vals[l][e].DefinitionLevel() >= nd.elemDef {
				sub[l] = append(sub[l], e)
			}
		}
		if sub[l] == nil {
			sub[l] = []int32{}
		}
	}
	children, err := a.buildChildren(nd, nd.rep, m, sub)
	if err != nil {
		return nil, err
	}
	defer releaseData(children)
	elem := children[0]
	if mt, ok := dt.(*arrow.MapType); ok {
		entries := array.NewData(mt.Elem(), m, []*memory.Buffer{nil}, children, 0, 0)
		defer entries.Release()
		elem = entries
	}
	bufs := []*memory.Buffer{memory.NewBufferBytes(valid), memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets))}
	return fromData(array.NewData(dt, n, bufs, []arrow.ArrayData{elem}, nulls, 0)), nil
}

// buildChildren builds the arrays of nd's children, n slots each.
func (a *assembler) buildChildren(nd *node, slotRep, n int, ents [][]int32) ([]arrow.ArrayData, error) {
	children := make([]arrow.ArrayData, len(nd.children))
	for i, c := range nd.children {
		arr, err := a.build(c, slotRep, n, ents)
		if err != nil {
			releaseData(children[:i])
			return nil, err
		}
		children[i] = arr.Data()
		children[i].Retain()
		arr.Release()
	}
	return children, nil
}

// fromData makes an array of d, handing over the caller's reference.
func fromData(d *array.Data) arrow.Array {
	defer d.Release()
	return array.MakeFromData(d)
}

func releaseData(ds []arrow.ArrayData) {
	for _, d := range ds {
		if d != nil {
			d.Release()
		}
	}
}

func (a *assembler) buildLeaf(nd *node, dt arrow.DataType, vals []parquet.Value, ents []int32) (arrow.Array, error) {
	conv := a.convs[nd.leaf]
	if conv == nil {
		var err error
		if conv, err = leafConverter(nd); err != nil {
			return nil, err
		}
		a.convs[nd.leaf] = conv
	}
	b := array.NewBuilder(a.alloc, dt)
	defer b.Release()
	b.Reserve(len(ents))
	add := conv(b)
	for _, e := range ents {
		v := vals[e]
		if v.DefinitionLevel() < nd.def || v.IsNull() {
			b.AppendNull()
			continue
		}
		if err := add(v); err != nil {
			return nil, fmt.Errorf("column %q: %w", nd.path, err)
		}
	}
	return b.NewArray(), nil
}

// leafConv binds a builder to the function appending one Parquet value.
type leafConv func(b array.Builder) func(parquet.Value) error

func intOf(v parquet.Value) (int64, error) {
	switch v.Kind() {
	case parquet.Int32:
		return int64(v.Int32()), nil
	case parquet.Int64:
		return v.Int64(), nil
	}
	return 0, fmt.Errorf("%s value, want an integer", v.Kind())
}

// intConv appends integers, checking they fit the Arrow type.
func intConv[T int8 | int16 | int32 | int64](appendFn func(array.Builder, T)) leafConv {
	return func(b array.Builder) func(parquet.Value) error {
		return func(v parquet.Value) error {
			x, err := intOf(v)
			if err != nil {
				return err
			}
			if int64(T(x)) != x {
				return fmt.Errorf("value %d out of range", x)
			}
			appendFn(b, T(x))
			return nil
		}
	}
}

func floatOf(v parquet.Value) (float64, error) {
	switch v.Kind() {
	case parquet.Float:
		return float64(v.Float()), nil
	case parquet.Double:
		return v.Double(), nil
	case parquet.Int32, parquet.Int64:
		x, err := intOf(v)
		return float64(x), err
	}
	return 0, fmt.Errorf("%s value, want a number", v.Kind())
}

// timestampMicros returns the function converting a timestamp column's values
// to microseconds since the epoch.
func timestampMicros(c *parquet.Column) func(parquet.Value) (int64, error) {
	scale := int64(1) // multiplier to micros; negative: divisor
	if lt := c.Type().LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok {
			switch ts.Unit.Value.(type) {
			case *format.MilliSeconds:
				scale = 1000
			case *format.NanoSeconds:
				scale = -1000
			}
		}
	} else if ct := c.Type().ConvertedType(); ct != nil && *ct == deprecated.TimestampMillis {
		scale = 1000
	}
	date := isDate(c) // a date column widened to timestamp_ntz: midnight
	return func(v parquet.Value) (int64, error) {
		switch v.Kind() {
		case parquet.Int32:
			if date {
				return int64(v.Int32()) * 86400_000_000, nil
			}
		case parquet.Int96:
			// Julian day and nanoseconds of the day (legacy Spark/Impala).
			b := v.ByteArray()
			nanos := int64(binary.LittleEndian.Uint64(b[:8]))
			day := int64(binary.LittleEndian.Uint32(b[8:12]))
			return (day-2440588)*86400_000_000 + floorDiv(nanos, 1000), nil
		case parquet.Int64:
			x := v.Int64()
			if scale < 0 {
				return floorDiv(x, -scale), nil
			}
			return x * scale, nil
		}
		return 0, fmt.Errorf("%s value, want a timestamp", v.Kind())
	}
}

// isDate reports whether a column holds dates (days since the epoch).
func isDate(c *parquet.Column) bool {
	if lt := c.Type().LogicalType(); lt != nil {
		_, ok := lt.Value.(*format.DateType)
		return ok
	}
	ct := c.Type().ConvertedType()
	return ct != nil && *ct == deprecated.Date
}

// decimalOf decodes a decimal stored as INT32, INT64 or big-endian two's
// complement bytes.
func decimalOf(v parquet.Value) (decimal128.Num, error) {
	switch v.Kind() {
	case parquet.Int32, parquet.Int64:
		x, _ := intOf(v)
		return decimal128.FromI64(x), nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		b := v.ByteArray()
		if len(b) == 0 || len(b) > 16 {
			return decimal128.Num{}, fmt.Errorf("decimal of %d bytes", len(b))
		}
		var full [16]byte
		if b[0]&0x80 != 0 {
			for i := range full {
				full[i] = 0xff
			}
		}
		copy(full[16-len(b):], b)
		return decimal128.New(int64(binary.BigEndian.Uint64(full[:8])), binary.BigEndian.Uint64(full[8:])), nil
	}
	return decimal128.Num{}, fmt.Errorf("%s value, want a decimal", v.Kind())
}

// leafConverter returns the conversion of a file column's values to the
// Arrow type of the Delta type, tolerating the physical types other writers
// (and Delta type widening) use.
func leafConverter(nd *node) (leafConv, error) {
	switch nd.typ.Name {
	case deltalog.TypeBoolean:
		return func(b array.Builder) func(parquet.Value) error {
			bb := b.(*array.BooleanBuilder)
			return func(v parquet.Value) error {
				if v.Kind() != parquet.Boolean {
					return fmt.Errorf("%s value, want boolean", v.Kind())
				}
				bb.Append(v.Boolean())
				return nil
			}
		}, nil
	case deltalog.TypeByte:
		return intConv(func(b array.Builder, x int8) { b.(*array.Int8Builder).Append(x) }), nil
	case deltalog.TypeShort:
		return intConv(func(b array.Builder, x int16) { b.(*array.Int16Builder).Append(x) }), nil
	case deltalog.TypeInteger:
		return intConv(func(b array.Builder, x int32) { b.(*array.Int32Builder).Append(x) }), nil
	case deltalog.TypeLong:
		return intConv(func(b array.Builder, x int64) { b.(*array.Int64Builder).Append(x) }), nil
	case deltalog.TypeDate:
		return intConv(func(b array.Builder, x int32) { b.(*array.Date32Builder).Append(arrow.Date32(x)) }), nil
	case deltalog.TypeFloat, deltalog.TypeDouble:
		return func(b array.Builder) func(parquet.Value) error {
			return func(v parquet.Value) error {
				x, err := floatOf(v)
				if err != nil {
					return err
				}
				if fb, ok := b.(*array.Float32Builder); ok {
					fb.Append(float32(x))
				} else {
					b.(*array.Float64Builder).Append(x)
				}
				return nil
			}
		}, nil
	case deltalog.TypeString, deltalog.TypeBinary:
		return func(b array.Builder) func(parquet.Value) error {
			var bb *array.BinaryBuilder
			if sb, ok := b.(*array.StringBuilder); ok {
				bb = sb.BinaryBuilder
			} else {
				bb = b.(*array.BinaryBuilder)
			}
			return func(v parquet.Value) error {
				if k := v.Kind(); k != parquet.ByteArray && k != parquet.FixedLenByteArray {
					return fmt.Errorf("%s value, want bytes", k)
				}
				bb.Append(v.ByteArray())
				return nil
			}
		}, nil
	case deltalog.TypeTimestamp, deltalog.TypeTimestampNTZ:
		micros := timestampMicros(nd.col)
		return func(b array.Builder) func(parquet.Value) error {
			tb := b.(*array.TimestampBuilder)
			return func(v parquet.Value) error {
				x, err := micros(v)
				tb.Append(arrow.Timestamp(x))
				return err
			}
		}, nil
	case deltalog.TypeDecimal:
		fileScale := int32(nd.typ.Scale)
		lt := nd.col.Type().LogicalType()
		ct := nd.col.Type().ConvertedType()
		d, isDec := (*format.DecimalType)(nil), false
		if lt != nil {
			d, isDec = lt.Value.(*format.DecimalType)
		}
		switch {
		case isDec:
			fileScale = d.Scale
		case ct != nil && *ct == deprecated.Decimal:
			// legacy annotation: the scale is the table's
		case nd.col.Type().Kind() == parquet.Int32 || nd.col.Type().Kind() == parquet.Int64:
			fileScale = 0 // an integer column widened to a decimal
		}
		want := int32(nd.typ.Scale)
		return func(b array.Builder) func(parquet.Value) error {
			db := b.(*array.Decimal128Builder)
			return func(v parquet.Value) error {
				x, err := decimalOf(v)
				if err != nil {
					return err
				}
				if fileScale != want {
					if x, err = x.Rescale(fileScale, want); err != nil {
						return err
					}
				}
				db.Append(x)
				return nil
			}
		}, nil
	}
	return nil, fmt.Errorf("column %q: unsupported type %s", nd.path, nd.typ)
}
