package decode

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// This file holds the one coercion path per Delta type that every format
// shares. A format turns each input value into a call of one of the
// stager's from* methods (fromBool, fromNumeric, fromText, fromInt,
// fromFloat, fromBytes, fromTime, null), or stages a nested value itself with
// reserve. The result is a val, staged until the whole row has converted;
// only then does appendVal copy the row into the Arrow builders, so a row
// that fails leaves the batch unchanged.

// EpochUnit is the unit of timestamps given as numbers since the Unix epoch.
type EpochUnit int

// Epoch units for numeric timestamps.
const (
	EpochMillis  EpochUnit = iota // milliseconds (the default)
	EpochSeconds                  // seconds; a fraction gives sub-second precision
	EpochMicros                   // microseconds
)

// Option configures a decoder.
type Option func(*options)

// JSONOption configures NewJSON.
type JSONOption = Option

type options struct {
	epoch         EpochUnit
	roundDecimals bool
	// Registry-backed decoders only (registry.go).
	registryTimeout time.Duration
	schemaCacheSize int
}

// WithEpochUnit sets the unit of numeric timestamps (and of timestamps given
// as numeric strings). The default is EpochMillis. Fractions finer than a
// microsecond are rounded.
func WithEpochUnit(u EpochUnit) Option { return func(o *options) { o.epoch = u } }

// WithDecimalRounding makes decimals with more fractional digits than their
// column's scale round half away from zero instead of failing.
func WithDecimalRounding() Option { return func(o *options) { o.roundDecimals = true } }

type kind uint8

const (
	kBool kind = iota
	kInt8
	kInt16
	kInt32
	kInt64
	kFloat32
	kFloat64
	kString
	kBinary
	kDate
	kTimestamp
	kTimestampNTZ
	kDecimal
	kStruct
	kArray
	kMap
)

var kinds = map[string]kind{
	deltalog.TypeBoolean: kBool, deltalog.TypeByte: kInt8, deltalog.TypeShort: kInt16,
	deltalog.TypeInteger: kInt32, deltalog.TypeLong: kInt64, deltalog.TypeFloat: kFloat32,
	deltalog.TypeDouble: kFloat64, deltalog.TypeString: kString, deltalog.TypeBinary: kBinary,
	deltalog.TypeDate: kDate, deltalog.TypeTimestamp: kTimestamp, deltalog.TypeTimestampNTZ: kTimestampNTZ,
	deltalog.TypeDecimal: kDecimal, deltalog.TypeStruct: kStruct, deltalog.TypeArray: kArray, deltalog.TypeMap: kMap,
}

// intRange is the range of each integer kind.
var intRange = [...]struct{ min, max int64 }{
	kInt8:  {math.MinInt8, math.MaxInt8},
	kInt16: {math.MinInt16, math.MaxInt16},
	kInt32: {math.MinInt32, math.MaxInt32},
	kInt64: {math.MinInt64, math.MaxInt64},
}

// node is the conversion plan for one Delta type: a column's, a struct
// field's, an array element's or a map key's or value's.
type node struct {
	kind     kind
	typ      *deltalog.Type
	nullable bool
	name     string  // struct field name, as looked up in the input
	fields   []*node // struct
	elem     *node   // array element; map value
	key      *node   // map key
}

func newNode(t *deltalog.Type, nullable bool, name string) (*node, error) {
	if t == nil {
		return nil, fmt.Errorf("missing type")
	}
	k, ok := kinds[t.Name]
	if !ok {
		return nil, fmt.Errorf("unsupported type %q", t.Name)
	}
	n := &node{kind: k, typ: t, nullable: nullable, name: name}
	var err error
	switch k {
	case kStruct:
		for _, f := range t.Fields {
			c, err := newNode(f.Type, f.Nullable, f.Name)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			n.fields = append(n.fields, c)
		}
	case kArray:
		n.elem, err = newNode(t.Element, t.ContainsNull, "")
	case kMap:
		if n.key, err = newNode(t.Key, false, ""); err == nil {
			n.elem, err = newNode(t.Value, t.ValueContainsNull, "")
		}
	}
	return n, err
}

// val is one staged value. Nested values keep their children in the
// stager's kids: i is the index of the first, hi the count (map entries take
// two: key then value).
type val struct {
	b    []byte // string, binary
	i    int64  // boolean (0/1), integers, date, timestamps, decimal low bits, float bits
	hi   int64  // decimal high bits
	null bool
}

func floatVal(f float64) val { return val{i: int64(math.Float64bits(f))} }

// stager converts the values of one row; it is reset for every row.
type stager struct {
	opts    *options
	kids    []val  // children of the row's nested values
	bytes   []byte // bytes made for the row: number text, decoded base64
	scratch []byte // short-lived text, e.g. a number being parsed
}

func (s *stager) reset() {
	s.kids = s.kids[:0]
	s.bytes = s.bytes[:0]
}

// keep copies b into the row's byte arena. Earlier results stay valid when
// the arena grows, as they keep pointing at the old array.
func (s *stager) keep(b []byte) []byte {
	start := len(s.bytes)
	s.bytes = append(s.bytes, b...)
	return s.bytes[start:len(s.bytes):len(s.bytes)]
}

// reserve makes room for n children and returns the index of the first.
func (s *stager) reserve(n int) int {
	start := len(s.kids)
	s.kids = append(s.kids, make([]val, n)...)
	return start
}

// nested is the staged value of a struct, array or map with n children
// starting at kids[start].
func nested(start, n int) val { return val{i: int64(start), hi: int64(n)} }

// nestedError locates an error inside a nested value; ColumnError flattens
// the path.
type nestedError struct {
	path string // e.g. ".customer.id" or "[3]"
	err  error
}

func (e *nestedError) Error() string { return e.path + ": " + e.err.Error() }

// inField wraps err from a struct field, array element ("[i]") or map entry.
func inField(seg string, err error) error {
	var ne *nestedError
	if errors.As(err, &ne) {
		return &nestedError{path: seg + ne.path, err: ne.err}
	}
	return &nestedError{path: seg, err: err}
}

// ColumnError reports a value that could not be stored in a column.
type ColumnError struct {
	Column string // the column name, with the path inside it for nested values
	Err    error
}

func (e *ColumnError) Error() string { return fmt.Sprintf("column %q: %v", e.Column, e.Err) }

// Unwrap returns the cause.
func (e *ColumnError) Unwrap() error { return e.Err }

// columnError wraps a conversion error of the named column.
func columnError(name string, err error) error {
	var ne *nestedError
	if errors.As(err, &ne) {
		return &ColumnError{Column: name + ne.path, Err: ne.err}
	}
	return &ColumnError{Column: name, Err: err}
}

var errNotNull = errors.New("null or missing, but the column is NOT NULL")

func (s *stager) null(n *node) (val, error) {
	if !n.nullable {
		return val{}, errNotNull
	}
	return val{null: true}, nil
}

func cannot(what string, n *node) error { return fmt.Errorf("cannot convert %s to %s", what, n.typ) }

// describe renders an input for an error message: text quoted, numbers bare.
func describe(b []byte, quoted bool) string {
	if quoted {
		return quoteText(b)
	}
	return string(b)
}

func (s *stager) fromBool(n *node, v bool) (val, error) {
	switch n.kind {
	case kBool:
		if v {
			return val{i: 1}, nil
		}
		return val{}, nil
	case kString:
		return val{b: []byte(strconv.FormatBool(v))}, nil
	}
	return val{}, cannot(strconv.FormatBool(v), n)
}

// fromText converts a string value. b must stay unchanged until the row is
// appended.
func (s *stager) fromText(n *node, b []byte) (val, error) {
	switch n.kind {
	case kString:
		if !utf8.Valid(b) {
			return val{}, fmt.Errorf("%s is not valid UTF-8", quoteText(b))
		}
		return val{b: b}, nil
	case kBinary:
		enc := base64.StdEncoding
		if len(b)%4 != 0 {
			enc = base64.RawStdEncoding
		}
		start := len(s.bytes)
		s.bytes = append(s.bytes, make([]byte, enc.DecodedLen(len(b)))...)
		m, err := enc.Decode(s.bytes[start:], b)
		if err != nil {
			s.bytes = s.bytes[:start]
			return val{}, fmt.Errorf("%s is not valid base64", quoteText(b))
		}
		s.bytes = s.bytes[:start+m]
		return val{b: s.bytes[start : start+m : start+m]}, nil
	case kBool:
		switch {
		case strings.EqualFold(bstr(b), "true"):
			return val{i: 1}, nil
		case strings.EqualFold(bstr(b), "false"):
			return val{}, nil
		}
		return val{}, fmt.Errorf("%s is not a valid boolean", quoteText(b))
	case kDate:
		if len(b) == 10 && b[4] == '-' {
			d, ok := parseDate(b)
			if !ok || d < math.MinInt32 || d > math.MaxInt32 {
				return val{}, fmt.Errorf("%s is not a valid date (want YYYY-MM-DD)", quoteText(b))
			}
			return val{i: d}, nil
		}
	case kTimestamp, kTimestampNTZ:
		if len(b) >= 10 && b[4] == '-' {
			return s.dateTime(n, b)
		}
	}
	return s.fromNumeric(n, b, true)
}

func (s *stager) dateTime(n *node, b []byte) (val, error) {
	t, ok := parseDateTime(b)
	if !ok {
		return val{}, fmt.Errorf("%s is not a valid RFC 3339 timestamp", quoteText(b))
	}
	if n.kind == kTimestampNTZ && t.hasOffset {
		return val{}, fmt.Errorf("%s has a time zone, but timestamp_ntz takes local date-times", quoteText(b))
	}
	// A timestamp without offset is taken as UTC.
	return val{i: t.micros - t.offset*1e6}, nil
}

// epochScale is the number of decimal places that turn a numeric timestamp
// into microseconds.
var epochScale = [...]int{EpochMillis: 3, EpochSeconds: 6, EpochMicros: 0}

// fromNumeric converts number text: a JSON number (quoted false) or a string
// holding one (quoted true). b need not outlive the call.
func (s *stager) fromNumeric(n *node, b []byte, quoted bool) (val, error) {
	switch n.kind {
	case kInt8, kInt16, kInt32, kInt64:
		v, err := parseInt(b)
		if err == errSyntax {
			return val{}, fmt.Errorf("%s is not a valid %s", describe(b, quoted), n.typ)
		}
		r := intRange[n.kind]
		if err != nil || v < r.min || v > r.max {
			return val{}, fmt.Errorf("%s is out of range for %s (%d to %d)", describe(b, quoted), n.typ, r.min, r.max)
		}
		return val{i: v}, nil
	case kFloat32, kFloat64:
		bitSize := 64
		if n.kind == kFloat32 {
			bitSize = 32
		}
		f, err := strconv.ParseFloat(bstr(b), bitSize)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return val{}, fmt.Errorf("%s is out of range for %s", describe(b, quoted), n.typ)
			}
			return val{}, fmt.Errorf("%s is not a valid %s", describe(b, quoted), n.typ)
		}
		return floatVal(f), nil
	case kString:
		if quoted {
			return s.fromText(n, b)
		}
		return val{b: s.keep(b)}, nil
	case kDecimal:
		return s.decimal(n, b, quoted, n.typ.Precision, n.typ.Scale, s.opts.roundDecimals)
	case kDate:
		v, err := parseInt(b)
		if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
			return val{}, fmt.Errorf("%s is not a valid date (want YYYY-MM-DD or days since 1970-01-01)", describe(b, quoted))
		}
		return val{i: v}, nil
	case kTimestamp, kTimestampNTZ:
		v, err := s.decimal(n, b, quoted, 18, epochScale[s.opts.epoch], true)
		if err != nil {
			return val{}, fmt.Errorf("%s is not a valid timestamp (want RFC 3339 or a number since the epoch): %w", describe(b, quoted), err)
		}
		return val{i: v.i}, nil
	case kBool:
		return val{}, fmt.Errorf("%s is not a valid boolean", describe(b, quoted))
	}
	return val{}, cannot(describe(b, quoted), n)
}

// decimal parses b exactly into a decimal(precision, scale).
func (s *stager) decimal(n *node, b []byte, quoted bool, precision, scale int, round bool) (val, error) {
	var d decimalText
	if !d.parse(b) {
		return val{}, fmt.Errorf("%s is not a valid number", describe(b, quoted))
	}
	num, issue := d.toDecimal(precision, scale, round)
	switch {
	case issue == nil:
		return val{i: int64(num.LowBits()), hi: num.HighBits()}, nil
	case issue.fracDigits > 0:
		return val{}, fmt.Errorf("%s has %d fractional digits, %s allows %d", describe(b, quoted), issue.fracDigits, n.typ, scale)
	}
	return val{}, fmt.Errorf("%s has %d integer digits, %s allows %d", describe(b, quoted), issue.intDigits, n.typ, precision-scale)
}

// fromInt converts a native integer.
func (s *stager) fromInt(n *node, v int64) (val, error) {
	switch n.kind {
	case kInt8, kInt16, kInt32, kInt64:
		if r := intRange[n.kind]; v < r.min || v > r.max {
			return val{}, fmt.Errorf("%d is out of range for %s (%d to %d)", v, n.typ, r.min, r.max)
		}
		return val{i: v}, nil
	case kFloat32, kFloat64:
		return floatVal(float64(v)), nil
	}
	s.scratch = strconv.AppendInt(s.scratch[:0], v, 10)
	return s.fromNumeric(n, s.scratch, false)
}

// fromFloat converts a native floating-point number.
func (s *stager) fromFloat(n *node, f float64) (val, error) {
	switch n.kind {
	case kFloat32, kFloat64:
		return floatVal(f), nil
	}
	s.scratch = strconv.AppendFloat(s.scratch[:0], f, 'g', -1, 64)
	return s.fromNumeric(n, s.scratch, false)
}

// fromBytes converts native bytes. b must stay unchanged until the row is
// appended.
func (s *stager) fromBytes(n *node, b []byte) (val, error) {
	switch n.kind {
	case kBinary:
		return val{b: b}, nil
	case kString:
		return s.fromText(n, b)
	}
	return val{}, cannot("bytes", n)
}

// fromTime converts a native time: for timestamp_ntz and date its wall clock
// in its location; for numbers, the time since the epoch in the epoch unit.
func (s *stager) fromTime(n *node, t time.Time) (val, error) {
	_, off := t.Zone()
	wall := t.UnixMicro() + int64(off)*1e6
	switch n.kind {
	case kTimestamp:
		return val{i: t.UnixMicro()}, nil
	case kTimestampNTZ:
		return val{i: wall}, nil
	case kDate:
		d := wall / 86400e6
		if wall < 0 && wall%86400e6 != 0 {
			d--
		}
		return val{i: d}, nil
	case kString:
		start := len(s.bytes)
		s.bytes = t.AppendFormat(s.bytes, time.RFC3339Nano)
		return val{b: s.bytes[start:len(s.bytes):len(s.bytes)]}, nil
	}
	var v int64
	switch s.opts.epoch {
	case EpochSeconds:
		v = t.Unix()
	case EpochMicros:
		v = t.UnixMicro()
	default:
		v = t.UnixMilli()
	}
	return s.fromInt(n, v)
}

// appendVal appends a staged value to its builder and returns the bytes it
// adds (an estimate for SizeBytes).
func (s *stager) appendVal(bld array.Builder, n *node, v val) int {
	if v.null {
		bld.AppendNull()
		return 1
	}
	switch n.kind {
	case kBool:
		bld.(*array.BooleanBuilder).Append(v.i != 0)
		return 1
	case kInt8:
		bld.(*array.Int8Builder).Append(int8(v.i))
		return 1
	case kInt16:
		bld.(*array.Int16Builder).Append(int16(v.i))
		return 2
	case kInt32:
		bld.(*array.Int32Builder).Append(int32(v.i))
		return 4
	case kInt64:
		bld.(*array.Int64Builder).Append(v.i)
	case kFloat32:
		bld.(*array.Float32Builder).Append(float32(math.Float64frombits(uint64(v.i))))
		return 4
	case kFloat64:
		bld.(*array.Float64Builder).Append(math.Float64frombits(uint64(v.i)))
	case kString:
		bld.(*array.StringBuilder).BinaryBuilder.Append(v.b)
		return 4 + len(v.b)
	case kBinary:
		bld.(*array.BinaryBuilder).Append(v.b)
		return 4 + len(v.b)
	case kDate:
		bld.(*array.Date32Builder).Append(arrow.Date32(v.i))
		return 4
	case kTimestamp, kTimestampNTZ:
		bld.(*array.TimestampBuilder).Append(arrow.Timestamp(v.i))
	case kDecimal:
		bld.(*array.Decimal128Builder).Append(decimal128.New(v.hi, uint64(v.i)))
		return 16
	case kStruct:
		sb := bld.(*array.StructBuilder)
		sb.Append(true)
		size := 1
		for i, f := range n.fields {
			size += s.appendVal(sb.FieldBuilder(i), f, s.kids[int(v.i)+i])
		}
		return size
	case kArray:
		lb := bld.(*array.ListBuilder)
		lb.Append(true)
		eb, size := lb.ValueBuilder(), 4
		for _, e := range s.kids[v.i : v.i+v.hi] {
			size += s.appendVal(eb, n.elem, e)
		}
		return size
	case kMap:
		mb := bld.(*array.MapBuilder)
		mb.Append(true)
		kb, ib, size := mb.KeyBuilder(), mb.ItemBuilder(), 4
		kids := s.kids[v.i : v.i+2*v.hi]
		for i := 0; i < len(kids); i += 2 {
			size += s.appendVal(kb, n.key, kids[i])
			size += s.appendVal(ib, n.elem, kids[i+1])
		}
		return size
	}
	return 8
}
