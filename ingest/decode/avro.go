package decode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// avroDecoder decodes Confluent-framed Avro binary values. Each writer
// schema (one per schema id) is parsed once with hamba/avro and compiled
// against the columns into a program that reads the payload in one pass:
// fields no column wants are skipped, the others convert straight into the
// row through coerce.go, with no intermediate generic value.
type avroDecoder struct {
	plan  *plan
	reg   Registry
	progs *idCache[*avroProg]
}

// NewAvro returns a Decoder for Avro values in the Confluent wire format
// (magic byte 0, 4-byte big-endian schema id, Avro binary), with writer
// schemas fetched from reg by id and cached (WithSchemaCacheSize,
// WithRegistryTimeout).
//
// Each column without Meta takes the field at its Path: record field names
// from the root record, through records and unions of null and a record (a
// null on the way, or a field the writer schema lacks, is null). Values
// convert as NewJSON's do, from their Avro types:
//
//   - null, and the null branch of a union: null;
//   - boolean, int, long, float, double: as JSON booleans and numbers;
//   - string, and enum (its symbol): as JSON strings;
//   - bytes and fixed: binary (a string column takes them if UTF-8);
//   - decimal (bytes or fixed): its exact value, so a decimal(p,s) column
//     takes it if it fits p and s (WithDecimalRounding rounds);
//   - date: date (or timestamp at midnight UTC);
//   - timestamp-millis/-micros: timestamp; local-timestamp-millis/-micros:
//     timestamp_ntz (each also converts to the other, wall clock as UTC);
//   - time-millis/-micros: the number (of ms or µs since midnight);
//   - record: struct (fields by name, exact or else case-insensitive);
//     array: array; map: map (keys converted from strings).
//
// A record without the header, with an unknown schema id or a payload that
// does not match its schema fails with a *SchemaIDError or a plain error;
// a value that does not convert fails with a *ColumnError. Either way only
// that record fails.
func NewAvro(cols []Column, reg Registry, opts ...Option) (Decoder, error) {
	if reg == nil {
		return nil, errNoRegistry("avro")
	}
	p, err := newPlan(cols, opts)
	if err != nil {
		return nil, err
	}
	d := &avroDecoder{plan: p, reg: reg}
	d.progs = newIDCache(&p.opts, d.compile)
	return d, nil
}

// Schema is the Arrow schema of the rows.
func (d *avroDecoder) Schema() *arrow.Schema { return d.plan.schema }

// NewBatch starts an empty batch.
func (d *avroDecoder) NewBatch(mem memory.Allocator) Batch {
	return newBatch(d.plan, mem, &avroRows{d: d, set: make([]bool, len(d.plan.cols))})
}

// avroRows stages Avro records; one per batch.
type avroRows struct {
	d   *avroDecoder
	in  avroIn
	set []bool // which value columns the record filled
}

func (a *avroRows) stageRow(m *Message, row []val, s *stager) (err error) {
	id, payload, err := splitHeader(m.Value)
	if err != nil {
		return err
	}
	prog, err := a.d.progs.get(id)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = &SchemaIDError{ID: id, Err: fmt.Errorf("invalid Avro payload: decoder panic: %v", r)}
		}
	}()
	a.in.reset(payload)
	clear(a.set)
	err = a.d.runSteps(&a.in, s, prog.root, row, a.set)
	if err == nil && a.in.pos != len(payload) {
		err = &avroDataError{fmt.Sprintf("%d bytes left after the record (wrong schema?)", len(payload)-a.in.pos)}
	}
	if err != nil {
		var de *avroDataError
		if errors.As(err, &de) {
			return &SchemaIDError{ID: id, Err: fmt.Errorf("invalid Avro payload: %s", de.msg)}
		}
		return err
	}
	for _, i := range a.d.plan.valueCols {
		if !a.set[i] {
			if row[i], err = s.null(a.d.plan.nodes[i]); err != nil {
				return columnError(a.d.plan.cols[i].Name, err)
			}
		}
	}
	return nil
}

// avroProg is the compiled reader of one writer schema.
type avroProg struct {
	root []avroStep
}

// avroStep reads one field of a record the columns' paths go through.
type avroStep struct {
	sch   avro.Schema  // the field's writer schema, to skip it
	whole []avroTarget // columns taking the field's value
	// sub reads the field as a record (or union with null) for the
	// columns whose paths go below it.
	sub func(in *avroIn, s *stager, row []val, set []bool) error
}

// avroTarget converts a field's value for one column.
type avroTarget struct {
	col int
	fn  avroFn
}

// avroFn reads one value of a writer schema and stages it for a node.
type avroFn func(in *avroIn, s *stager) (val, error)

func (d *avroDecoder) runSteps(in *avroIn, s *stager, steps []avroStep, row []val, set []bool) error {
	for i := range steps {
		st := &steps[i]
		if len(st.whole) == 0 && st.sub == nil {
			if err := in.skip(st.sch, 0); err != nil {
				return err
			}
			continue
		}
		// Several consumers of one field each read it from its start.
		pos := in.pos
		for _, t := range st.whole {
			in.pos = pos
			v, err := t.fn(in, s)
			if err != nil {
				return d.fieldError(t.col, err)
			}
			row[t.col], set[t.col] = v, true
		}
		if st.sub != nil {
			in.pos = pos
			if err := st.sub(in, s, row, set); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldError names the column of a conversion error; payload errors pass.
func (d *avroDecoder) fieldError(col int, err error) error {
	var de *avroDataError
	if errors.As(err, &de) {
		return de
	}
	return columnError(d.plan.cols[col].Name, err)
}

// compile fetches and parses the writer schema of id and compiles it.
func (d *avroDecoder) compile(ctx context.Context, id int) (*avroProg, error) {
	s, err := fetchSchema(ctx, d.reg, id, sr.TypeAvro)
	if err != nil {
		return nil, err
	}
	rec, err := parseAvroRecord(ctx, d.reg, s)
	if err != nil {
		return nil, err
	}
	root, err := d.compileRecord(rec, d.plan.valueCols, 0)
	if err != nil {
		return nil, err
	}
	return &avroProg{root: root}, nil
}

// parseAvroRecord parses a registered Avro schema, resolving its
// references through reg; it must be a record.
func parseAvroRecord(ctx context.Context, reg Registry, s sr.Schema) (*avro.RecordSchema, error) {
	cache := &avro.SchemaCache{}
	if err := avroReferences(ctx, reg, s.References, cache, 0); err != nil {
		return nil, err
	}
	sch, err := avro.ParseWithCache(s.Schema, "", cache)
	if err != nil {
		return nil, fmt.Errorf("parse Avro schema: %w", err)
	}
	rec, ok := deref(sch).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("writer schema is %s, not a record", sch.Type())
	}
	return rec, nil
}

// avroReferences parses the schemas refs name (and theirs) into cache, so
// the named types of the schema that references them resolve.
func avroReferences(ctx context.Context, reg Registry, refs []sr.SchemaReference, cache *avro.SchemaCache, depth int) error {
	if depth > 32 {
		return fmt.Errorf("schema references nest more than 32 deep")
	}
	for _, r := range refs {
		ss, err := reg.SchemaByVersion(ctx, r.Subject, r.Version)
		if err != nil {
			return fmt.Errorf("reference %q (subject %q version %d): %w", r.Name, r.Subject, r.Version, registryError(err))
		}
		if err := avroReferences(ctx, reg, ss.References, cache, depth+1); err != nil {
			return err
		}
		if _, err := avro.ParseWithCache(ss.Schema.Schema, "", cache); err != nil {
			return fmt.Errorf("reference %q: parse Avro schema: %w", r.Name, err)
		}
	}
	return nil
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// pathMatches reports whether column col's path has name at depth.
func (d *avroDecoder) pathMatches(col, depth int, name string, exact bool) bool {
	p := d.plan.paths[col]
	if len(p) <= depth {
		return false
	}
	if exact {
		return p[depth] == name
	}
	return strings.EqualFold(p[depth], name)
}

// compileRecord builds the steps that read rec for cols, whose paths have
// matched down to depth. A path element matches a field by exact name, or
// case-insensitively when no field has the exact name.
func (d *avroDecoder) compileRecord(rec *avro.RecordSchema, cols []int, depth int) ([]avroStep, error) {
	fieldOf := make(map[int]int, len(cols)) // column -> writer field index
	for _, c := range cols {
		for _, exact := range []bool{true, false} {
			for fi, f := range rec.Fields() {
				if _, done := fieldOf[c]; !done && d.pathMatches(c, depth, f.Name(), exact) {
					fieldOf[c] = fi
				}
			}
		}
	}
	steps := make([]avroStep, len(rec.Fields()))
	for fi, f := range rec.Fields() {
		st := avroStep{sch: f.Type()}
		var below []int
		for _, c := range cols {
			if w, ok := fieldOf[c]; !ok || w != fi {
				continue
			}
			if len(d.plan.paths[c]) == depth+1 {
				st.whole = append(st.whole, avroTarget{col: c, fn: d.compileValue(f.Type(), d.plan.nodes[c], 0)})
			} else {
				below = append(below, c)
			}
		}
		if len(below) > 0 {
			sub, err := d.compileDescent(f.Type(), below, depth+1)
			if err != nil {
				return nil, err
			}
			st.sub = sub
		}
		steps[fi] = st
	}
	return steps, nil
}

// compileDescent reads a field the paths of cols go through: a record, or
// a union whose branches are null or records.
func (d *avroDecoder) compileDescent(sch avro.Schema, cols []int, depth int) (func(*avroIn, *stager, []val, []bool) error, error) {
	switch t := deref(sch).(type) {
	case *avro.RecordSchema:
		steps, err := d.compileRecord(t, cols, depth)
		if err != nil {
			return nil, err
		}
		return func(in *avroIn, s *stager, row []val, set []bool) error {
			return d.runSteps(in, s, steps, row, set)
		}, nil
	case *avro.UnionSchema:
		branches := make([]func(*avroIn, *stager, []val, []bool) error, len(t.Types()))
		for i, b := range t.Types() {
			if b.Type() == avro.Null {
				continue
			}
			br, err := d.compileDescent(b, cols, depth)
			if err != nil {
				return nil, err
			}
			branches[i] = br
		}
		return func(in *avroIn, s *stager, row []val, set []bool) error {
			i, err := in.unionIndex(len(branches))
			if err != nil || branches[i] == nil {
				return err
			}
			return branches[i](in, s, row, set)
		}, nil
	}
	c := cols[0]
	return nil, fmt.Errorf("column %q: path %q: %q is an Avro %s, not a record",
		d.plan.cols[c].Name, d.plan.paths[c], d.plan.paths[c][depth-1], sch.Type())
}

// maxAvroDepth bounds the nesting of values (and of skipped values in a
// recursive schema).
const maxAvroDepth = 256

// compileValue builds the reader of one value of sch for node n.
func (d *avroDecoder) compileValue(sch avro.Schema, n *node, depth int) avroFn {
	sch = deref(sch)
	if sch.Type() == avro.Null {
		return func(_ *avroIn, s *stager) (val, error) { return s.null(n) }
	}
	if depth > maxAvroDepth {
		return func(*avroIn, *stager) (val, error) { return val{}, &avroDataError{"schema nests too deep"} }
	}
	var logical avro.LogicalType
	if ls, ok := sch.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		logical = ls.Logical().Type()
	}
	switch t := sch.(type) {
	case *avro.UnionSchema:
		branches := make([]avroFn, len(t.Types()))
		for i, b := range t.Types() {
			branches[i] = d.compileValue(b, n, depth+1)
		}
		return func(in *avroIn, s *stager) (val, error) {
			i, err := in.unionIndex(len(branches))
			if err != nil {
				return val{}, err
			}
			return branches[i](in, s)
		}
	case *avro.RecordSchema:
		return d.compileStruct(t, n, depth)
	case *avro.ArraySchema:
		if n.kind != kArray {
			break
		}
		elem := d.compileValue(t.Items(), n.elem, depth+1)
		return func(in *avroIn, s *stager) (val, error) { return in.array(s, elem) }
	case *avro.MapSchema:
		if n.kind != kMap {
			break
		}
		value := d.compileValue(t.Values(), n.elem, depth+1)
		return func(in *avroIn, s *stager) (val, error) { return in.avroMap(s, n.key, value) }
	case *avro.EnumSchema:
		symbols := t.Symbols()
		return func(in *avroIn, s *stager) (val, error) {
			i, err := in.long()
			if err != nil {
				return val{}, err
			}
			if i < 0 || i >= int64(len(symbols)) {
				return val{}, &avroDataError{fmt.Sprintf("enum index %d out of range (%d symbols)", i, len(symbols))}
			}
			return s.fromText(n, strBytes(symbols[i]))
		}
	case *avro.FixedSchema:
		size := t.Size()
		if dl, ok := t.Logical().(*avro.DecimalLogicalSchema); ok && logical == avro.Decimal {
			scale := dl.Scale()
			return func(in *avroIn, s *stager) (val, error) {
				b, err := in.next(size)
				if err != nil {
					return val{}, err
				}
				return s.avroDecimal(n, b, scale)
			}
		}
		return func(in *avroIn, s *stager) (val, error) {
			b, err := in.next(size)
			if err != nil {
				return val{}, err
			}
			return s.fromBytes(n, b)
		}
	case *avro.PrimitiveSchema:
		return d.compilePrimitive(t, logical, n)
	}
	what := "an Avro " + string(sch.Type())
	return func(*avroIn, *stager) (val, error) { return val{}, cannot(what, n) }
}

// compileStruct reads a record into a struct node: writer fields by name,
// node fields the writer lacks null.
func (d *avroDecoder) compileStruct(rec *avro.RecordSchema, n *node, depth int) avroFn {
	if n.kind != kStruct {
		return func(*avroIn, *stager) (val, error) { return val{}, cannot("an Avro record", n) }
	}
	type wfield struct {
		sch avro.Schema
		j   int // node field index, -1 to skip
		fn  avroFn
	}
	wfs := make([]wfield, len(rec.Fields()))
	found := make([]bool, len(n.fields))
	for i, f := range rec.Fields() {
		wfs[i] = wfield{sch: f.Type(), j: -1}
		j := fieldIndex(n, f.Name(), found)
		if j >= 0 {
			found[j] = true
			wfs[i].j, wfs[i].fn = j, d.compileValue(f.Type(), n.fields[j], depth+1)
		}
	}
	var missing []int
	for j, ok := range found {
		if !ok {
			missing = append(missing, j)
		}
	}
	return func(in *avroIn, s *stager) (val, error) {
		start := s.reserve(len(n.fields))
		for _, wf := range wfs {
			if wf.j < 0 {
				if err := in.skip(wf.sch, depth+1); err != nil {
					return val{}, err
				}
				continue
			}
			v, err := wf.fn(in, s)
			if err != nil {
				return val{}, inField("."+n.fields[wf.j].name, err)
			}
			s.kids[start+wf.j] = v
		}
		for _, j := range missing {
			v, err := s.null(n.fields[j])
			if err != nil {
				return val{}, inField("."+n.fields[j].name, err)
			}
			s.kids[start+j] = v
		}
		return nested(start, len(n.fields)), nil
	}
}

// fieldIndex finds the node field named name among those not yet taken:
// exact first, else case-insensitive; -1 if none.
func fieldIndex(n *node, name string, taken []bool) int {
	for j, f := range n.fields {
		if !taken[j] && f.name == name {
			return j
		}
	}
	for j, f := range n.fields {
		if !taken[j] && strings.EqualFold(f.name, name) {
			return j
		}
	}
	return -1
}

// compilePrimitive reads a primitive, with its logical type.
func (d *avroDecoder) compilePrimitive(t *avro.PrimitiveSchema, logical avro.LogicalType, n *node) avroFn {
	switch t.Type() {
	case avro.Boolean:
		return func(in *avroIn, s *stager) (val, error) {
			b, err := in.next(1)
			if err != nil {
				return val{}, err
			}
			if b[0] > 1 {
				return val{}, &avroDataError{fmt.Sprintf("boolean byte 0x%02x is not 0 or 1", b[0])}
			}
			return s.fromBool(n, b[0] == 1)
		}
	case avro.Int, avro.Long:
		isInt := t.Type() == avro.Int
		read := func(in *avroIn) (int64, error) {
			v, err := in.long()
			if err == nil && isInt && (v < math.MinInt32 || v > math.MaxInt32) {
				err = &avroDataError{fmt.Sprintf("int %d out of range", v)}
			}
			return v, err
		}
		var unit int64 // microseconds per unit of a timestamp
		switch logical {
		case avro.Date:
			return func(in *avroIn, s *stager) (val, error) {
				v, err := read(in)
				if err != nil {
					return val{}, err
				}
				if n.kind == kDate {
					return val{i: v}, nil
				}
				return s.fromTime(n, time.Unix(v*86400, 0).UTC())
			}
		case avro.TimestampMillis, avro.LocalTimestampMillis:
			unit = 1000
		case avro.TimestampMicros, avro.LocalTimestampMicros:
			unit = 1
		}
		if unit == 0 || isInt {
			return func(in *avroIn, s *stager) (val, error) {
				v, err := read(in)
				if err != nil {
					return val{}, err
				}
				return s.fromInt(n, v)
			}
		}
		return func(in *avroIn, s *stager) (val, error) {
			v, err := read(in)
			if err != nil {
				return val{}, err
			}
			if v > math.MaxInt64/unit || v < math.MinInt64/unit {
				return val{}, fmt.Errorf("timestamp %d is out of range", v)
			}
			us := v * unit
			if n.kind == kTimestamp || n.kind == kTimestampNTZ {
				return val{i: us}, nil
			}
			return s.fromTime(n, time.UnixMicro(us).UTC())
		}
	case avro.Float:
		return func(in *avroIn, s *stager) (val, error) {
			b, err := in.next(4)
			if err != nil {
				return val{}, err
			}
			f := math.Float32frombits(binary.LittleEndian.Uint32(b))
			if n.kind == kFloat32 || n.kind == kFloat64 {
				return floatVal(float64(f)), nil
			}
			// Other types take the float's shortest text, not the digits of
			// its float64 widening.
			s.scratch = strconv.AppendFloat(s.scratch[:0], float64(f), 'g', -1, 32)
			return s.fromNumeric(n, s.scratch, false)
		}
	case avro.Double:
		return func(in *avroIn, s *stager) (val, error) {
			b, err := in.next(8)
			if err != nil {
				return val{}, err
			}
			return s.fromFloat(n, math.Float64frombits(binary.LittleEndian.Uint64(b)))
		}
	case avro.String:
		return func(in *avroIn, s *stager) (val, error) {
			b, err := in.bytes()
			if err != nil {
				return val{}, err
			}
			return s.fromText(n, b)
		}
	case avro.Bytes:
		if dl, ok := t.Logical().(*avro.DecimalLogicalSchema); ok && logical == avro.Decimal {
			scale := dl.Scale()
			return func(in *avroIn, s *stager) (val, error) {
				b, err := in.bytes()
				if err != nil {
					return val{}, err
				}
				return s.avroDecimal(n, b, scale)
			}
		}
		return func(in *avroIn, s *stager) (val, error) {
			b, err := in.bytes()
			if err != nil {
				return val{}, err
			}
			return s.fromBytes(n, b)
		}
	}
	what := "an Avro " + string(t.Type())
	return func(*avroIn, *stager) (val, error) { return val{}, cannot(what, n) }
}

// avroDecimal converts an Avro decimal (big-endian two's-complement
// unscaled value, and the schema's scale) through its exact decimal text,
// so the column's precision and scale are checked as for any number.
func (s *stager) avroDecimal(n *node, unscaled []byte, scale int) (val, error) {
	if len(unscaled) == 0 {
		return val{}, fmt.Errorf("empty Avro decimal")
	}
	var digits []byte
	if len(unscaled) <= 8 {
		v := int64(int8(unscaled[0]))
		for _, c := range unscaled[1:] {
			v = v<<8 | int64(c)
		}
		digits = strconv.AppendInt(s.scratch[:0], v, 10)
	} else {
		var bi big.Int
		bi.SetBytes(unscaled)
		if unscaled[0]&0x80 != 0 {
			bi.Sub(&bi, new(big.Int).Lsh(big.NewInt(1), uint(8*len(unscaled))))
		}
		digits = bi.Append(s.scratch[:0], 10)
	}
	s.scratch = insertPoint(digits, scale)
	return s.fromNumeric(n, s.scratch, false)
}

// insertPoint turns the digits of an unscaled integer (with an optional
// sign) into decimal text with scale fractional digits.
func insertPoint(b []byte, scale int) []byte {
	if scale <= 0 {
		return b
	}
	d := b
	out := make([]byte, 0, len(b)+scale+3)
	if len(d) > 0 && d[0] == '-' {
		out, d = append(out, '-'), d[1:]
	}
	if len(d) <= scale {
		out = append(out, '0', '.')
		for range scale - len(d) {
			out = append(out, '0')
		}
		return append(out, d...)
	}
	out = append(out, d[:len(d)-scale]...)
	out = append(out, '.')
	return append(out, d[len(d)-scale:]...)
}

// avroDataError is a payload that does not follow its writer schema.
type avroDataError struct{ msg string }

func (e *avroDataError) Error() string { return e.msg }

// avroIn reads Avro binary from a payload without copying: strings and
// bytes point into it (the message value stays unchanged while its row is
// staged).
type avroIn struct {
	data []byte
	pos  int
	tmp  [][]val // per nesting depth: items of an array or map being read
	dep  int
}

func (in *avroIn) reset(b []byte) { in.data, in.pos, in.dep = b, 0, 0 }

func (in *avroIn) truncated() error {
	return &avroDataError{fmt.Sprintf("truncated at byte %d of %d", in.pos, len(in.data))}
}

// long reads a zig-zag varint.
func (in *avroIn) long() (int64, error) {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		if in.pos >= len(in.data) {
			return 0, in.truncated()
		}
		if shift >= 64 {
			return 0, &avroDataError{fmt.Sprintf("varint at byte %d is longer than 10 bytes", in.pos)}
		}
		c := in.data[in.pos]
		in.pos++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

// next returns the next n bytes.
func (in *avroIn) next(n int) ([]byte, error) {
	if n < 0 || n > len(in.data)-in.pos {
		return nil, in.truncated()
	}
	b := in.data[in.pos : in.pos+n : in.pos+n]
	in.pos += n
	return b, nil
}

// bytes reads a length-prefixed byte string.
func (in *avroIn) bytes() ([]byte, error) {
	n, err := in.long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, &avroDataError{fmt.Sprintf("negative length %d", n)}
	}
	if n > int64(len(in.data)-in.pos) {
		return nil, in.truncated()
	}
	return in.next(int(n))
}

// unionIndex reads a union branch index and checks it.
func (in *avroIn) unionIndex(branches int) (int, error) {
	i, err := in.long()
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= int64(branches) {
		return 0, &avroDataError{fmt.Sprintf("union branch %d out of range (%d branches)", i, branches)}
	}
	return int(i), nil
}

// blockCount reads an array or map block header: the item count (0 ends
// the value), skipping the byte size a negative count carries. items is
// how many were read before; the total is bounded by the payload size so
// that zero-byte items cannot loop for long.
func (in *avroIn) blockCount(items int) (int, error) {
	n, err := in.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, &avroDataError{"invalid block count"}
		}
		n = -n
		if _, err := in.long(); err != nil {
			return 0, err
		}
	}
	if limit := int64(8*len(in.data) + 1024); n > limit-int64(items) {
		return 0, &avroDataError{fmt.Sprintf("block of %d items is more than a %d-byte payload can hold", n, len(in.data))}
	}
	return int(n), nil
}

// push returns the item buffer of the next nesting depth.
func (in *avroIn) push() ([]val, error) {
	if in.dep >= maxAvroDepth {
		return nil, &avroDataError{"values nest too deep"}
	}
	for len(in.tmp) <= in.dep {
		in.tmp = append(in.tmp, nil)
	}
	in.dep++
	return in.tmp[in.dep-1][:0], nil
}

// pop stores the items of the current depth into the stager's kids.
func (in *avroIn) pop(s *stager, items []val) int {
	in.dep--
	in.tmp[in.dep] = items
	start := s.reserve(len(items))
	copy(s.kids[start:], items)
	return start
}

// array reads an array value whose items elem converts.
func (in *avroIn) array(s *stager, elem avroFn) (val, error) {
	items, err := in.push()
	if err != nil {
		return val{}, err
	}
	for {
		cnt, err := in.blockCount(len(items))
		if err != nil {
			in.dep--
			return val{}, err
		}
		if cnt == 0 {
			break
		}
		for range cnt {
			v, err := elem(in, s)
			if err != nil {
				in.dep--
				return val{}, inField("["+strconv.Itoa(len(items))+"]", err)
			}
			items = append(items, v)
		}
	}
	n := len(items)
	return nested(in.pop(s, items), n), nil
}

// avroMap reads a map value: string keys converted for key, values by value.
func (in *avroIn) avroMap(s *stager, key *node, value avroFn) (val, error) {
	items, err := in.push()
	if err != nil {
		return val{}, err
	}
	for {
		cnt, err := in.blockCount(len(items) / 2)
		if err != nil {
			in.dep--
			return val{}, err
		}
		if cnt == 0 {
			break
		}
		for range cnt {
			k, err := in.bytes()
			if err != nil {
				in.dep--
				return val{}, err
			}
			kv, err := s.fromText(key, k)
			if err != nil {
				in.dep--
				return val{}, inField(fmt.Sprintf("[%q]", k), fmt.Errorf("key: %w", err))
			}
			vv, err := value(in, s)
			if err != nil {
				in.dep--
				return val{}, inField(fmt.Sprintf("[%q]", k), err)
			}
			items = append(items, kv, vv)
		}
	}
	n := len(items) / 2
	return nested(in.pop(s, items), n), nil
}

// skip reads past one value of sch.
func (in *avroIn) skip(sch avro.Schema, depth int) error {
	if depth > maxAvroDepth {
		return &avroDataError{"values nest too deep"}
	}
	sch = deref(sch)
	switch t := sch.(type) {
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			if err := in.skip(f.Type(), depth+1); err != nil {
				return err
			}
		}
		return nil
	case *avro.UnionSchema:
		i, err := in.unionIndex(len(t.Types()))
		if err != nil {
			return err
		}
		return in.skip(t.Types()[i], depth+1)
	case *avro.ArraySchema, *avro.MapSchema:
		items := 0
		for {
			n, err := in.long()
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if n < 0 {
				// A negative count is followed by the block's byte size.
				size, err := in.long()
				if err != nil {
					return err
				}
				if _, err := in.next(int(min(size, math.MaxInt32))); err != nil || size < 0 {
					return in.truncated()
				}
				continue
			}
			if n > int64(8*len(in.data)+1024-items) {
				return &avroDataError{fmt.Sprintf("block of %d items is more than a %d-byte payload can hold", n, len(in.data))}
			}
			items += int(n)
			for range n {
				if a, ok := t.(*avro.ArraySchema); ok {
					err = in.skip(a.Items(), depth+1)
				} else if _, err = in.bytes(); err == nil {
					err = in.skip(t.(*avro.MapSchema).Values(), depth+1)
				}
				if err != nil {
					return err
				}
			}
		}
	case *avro.EnumSchema:
		_, err := in.long()
		return err
	case *avro.FixedSchema:
		_, err := in.next(t.Size())
		return err
	}
	switch sch.Type() {
	case avro.Null:
		return nil
	case avro.Boolean:
		_, err := in.next(1)
		return err
	case avro.Int, avro.Long:
		_, err := in.long()
		return err
	case avro.Float:
		_, err := in.next(4)
		return err
	case avro.Double:
		_, err := in.next(8)
		return err
	case avro.String, avro.Bytes:
		_, err := in.bytes()
		return err
	}
	return &avroDataError{fmt.Sprintf("cannot read Avro type %s", sch.Type())}
}
