package transform

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func init() {
	funcs["cast"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		if err := wantArgs("CAST", args, 1, 1); err != nil {
			return nil, err
		}
		dt, err := arrowType(e.Type)
		if err != nil {
			return nil, fmt.Errorf("CAST: %w", err)
		}
		if err := checkCast(args[0].Type(), dt); err != nil {
			return nil, err
		}
		return &castEval{arg: args[0], to: dt, name: e.String()}, nil
	}
}

// checkCast reports whether values of type from can be cast to to: by the
// conversions done here, or else by an Arrow cast kernel.
func checkCast(from, to arrow.DataType) error {
	switch {
	case arrow.TypeEqual(from, to), isNumeric(from) && isNumeric(to), isDecimal(from) && isString(to),
		from.ID() == arrow.TIMESTAMP && to.ID() == arrow.TIMESTAMP:
		return nil
	case isString(from) && (isNumeric(to) || isTemporal(to) || to.ID() == arrow.BOOL):
		return nil
	}
	empty := array.MakeArrayOfNull(memory.DefaultAllocator, from, 0)
	defer empty.Release()
	out, err := arrowCast(context.Background(), empty, to)
	if err != nil {
		return fmt.Errorf("CAST: cannot cast %s to %s", sqlType(from), sqlType(to))
	}
	out.Release()
	return nil
}

// castEval converts its argument to another type. A value that cannot be
// converted (unparsable string, overflow, lost precision) fails its row,
// not the batch. Strings are parsed here (numbers, booleans, decimals,
// dates, timestamps); every other conversion is Arrow's safe cast, and if
// that rejects the batch the offending rows are found by bisection, failed
// and nulled, and the rest cast again.
type castEval struct {
	arg  Evaluator
	to   arrow.DataType
	name string
}

func (c *castEval) Type() arrow.DataType { return c.to }
func (c *castEval) Nullable() bool       { return true }
func (c *castEval) Eval(ctx context.Context, b *Batch) (arrow.Array, error) {
	a, err := c.arg.Eval(ctx, b)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	if arrow.TypeEqual(a.DataType(), c.to) {
		a.Retain()
		return a, nil
	}
	if s, ok := a.(*array.String); ok {
		if out := parseStrings(b, c.name, s, c.to); out != nil {
			return out, nil
		}
	}
	if out := castNumeric(b, c.name, a, c.to); out != nil {
		return out, nil
	}
	if from, ok := a.DataType().(*arrow.TimestampType); ok {
		if to, ok := c.to.(*arrow.TimestampType); ok && from.Unit == to.Unit {
			// timestamp <-> timestamp_ntz: the same UTC wall clock values.
			d := array.NewData(c.to, a.Len(), a.Data().Buffers(), nil, a.NullN(), a.Data().Offset())
			defer d.Release()
			return array.MakeFromData(d), nil
		}
	}
	if d, ok := a.(*array.Decimal128); ok && isString(c.to) {
		scale := d.DataType().(*arrow.Decimal128Type).Scale
		return mapStringRows(b, c.name, d.Len(), d.Len()*8, validBits(d), func(i int) (string, bool, error) {
			return d.Value(i).ToString(scale), true, nil
		}), nil
	}
	out, err := arrowCast(ctx, a, c.to)
	if err == nil {
		return out, nil
	}
	bad, err := failingRows(ctx, a, c.to, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	for _, r := range bad {
		b.Fail(r.row, c.name, r.err)
	}
	rows := make([]int, len(bad))
	for i, r := range bad {
		rows[i] = r.row
	}
	clean := withNulls(a, rows)
	defer clean.Release()
	out, err = arrowCast(ctx, clean, c.to)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	return out, nil
}

// arrowCast is Arrow's safe cast, with a kernel panic turned into an error.
func arrowCast(ctx context.Context, a arrow.Array, to arrow.DataType) (out arrow.Array, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("cast %s to %s: %v", sqlType(a.DataType()), sqlType(to), r)
		}
	}()
	return compute.CastArray(ctx, a, compute.SafeCastOptions(to))
}

type badRow struct {
	row int
	err error
}

// failingRows finds the rows of a (at offset base) that Arrow cannot cast,
// bisecting so that k bad rows cost O(k log n) cast calls.
func failingRows(ctx context.Context, a arrow.Array, to arrow.DataType, base int) ([]badRow, error) {
	out, err := arrowCast(ctx, a, to)
	if err == nil {
		out.Release()
		return nil, nil
	}
	if a.Len() == 1 {
		return []badRow{{base, cleanCastErr(err)}}, nil
	}
	if a.Len() == 0 {
		return nil, err
	}
	mid := a.Len() / 2
	var bad []badRow
	for _, part := range [][2]int{{0, mid}, {mid, a.Len()}} {
		s := array.NewSlice(a, int64(part[0]), int64(part[1]))
		r, err := failingRows(ctx, s, to, base+part[0])
		s.Release()
		if err != nil {
			return nil, err
		}
		bad = append(bad, r...)
	}
	return bad, nil
}

// cleanCastErr strips Arrow's error prefixes to the reason.
func cleanCastErr(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return errors.New(msg[i+2:])
	}
	return err
}

// withNulls returns a with the given rows made null (buffers are shared).
func withNulls(a arrow.Array, rows []int) arrow.Array {
	d := a.Data()
	off, n := d.Offset(), d.Len()
	bm := make([]byte, bitutil.BytesForBits(int64(off+n)))
	if vb := d.Buffers()[0]; vb != nil && a.NullN() > 0 {
		bitutil.CopyBitmap(vb.Bytes(), off, n, bm, off)
	} else {
		bitutil.SetBitsTo(bm, int64(off), int64(n), true)
	}
	for _, r := range rows {
		bitutil.ClearBit(bm, off+r)
	}
	bufs := append([]*memory.Buffer(nil), d.Buffers()...)
	bufs[0] = memory.NewBufferBytes(bm)
	nd := array.NewData(d.DataType(), n, bufs, d.Children(), array.UnknownNullCount, off)
	defer nd.Release()
	return array.MakeFromData(nd)
}

// parseStrings casts strings to the types Sluice parses itself; nil means
// Arrow does the cast.
func parseStrings(b *Batch, name string, s *array.String, to arrow.DataType) arrow.Array {
	n := s.Len()
	valid := validBits(s)
	str := func(i int) string { return strings.TrimSpace(s.Value(i)) }
	switch to.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		bits := intWidth(to)
		parse := func(i int) (int64, bool, error) {
			v, err := strconv.ParseInt(str(i), 10, bits)
			if err != nil {
				return 0, false, fmt.Errorf("%q is not a valid %s", s.Value(i), sqlType(to))
			}
			return v, true, nil
		}
		switch to.ID() {
		case arrow.INT8:
			return mapRows(b, name, to, n, valid, narrow[int8](parse))
		case arrow.INT16:
			return mapRows(b, name, to, n, valid, narrow[int16](parse))
		case arrow.INT32:
			return mapRows(b, name, to, n, valid, narrow[int32](parse))
		}
		return mapRows(b, name, to, n, valid, parse)
	case arrow.FLOAT32, arrow.FLOAT64:
		bits := 64
		if to.ID() == arrow.FLOAT32 {
			bits = 32
		}
		parse := func(i int) (float64, bool, error) {
			v, err := strconv.ParseFloat(str(i), bits)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return 0, false, fmt.Errorf("%q is not a valid %s", s.Value(i), sqlType(to))
			}
			return v, true, nil
		}
		if bits == 32 {
			return mapRows(b, name, to, n, valid, func(i int) (float32, bool, error) {
				v, ok, err := parse(i)
				return float32(v), ok, err
			})
		}
		return mapRows(b, name, to, n, valid, parse)
	case arrow.BOOL:
		return mapBoolRows(b, name, n, valid, func(i int) (bool, bool, error) {
			switch strings.ToLower(str(i)) {
			case "true", "t", "yes", "y", "1":
				return true, true, nil
			case "false", "f", "no", "n", "0":
				return false, true, nil
			}
			return false, false, fmt.Errorf("%q is not a valid boolean", s.Value(i))
		})
	case arrow.DECIMAL128:
		dt := to.(*arrow.Decimal128Type)
		return mapRows(b, name, to, n, valid, func(i int) (decimal128.Num, bool, error) {
			v, err := parseDecimal(str(i), dt.Precision, dt.Scale)
			if err != nil {
				return v, false, fmt.Errorf("%q is not a valid %s: %w", s.Value(i), sqlType(to), err)
			}
			return v, true, nil
		})
	case arrow.DATE32:
		return mapRows(b, name, to, n, valid, func(i int) (arrow.Date32, bool, error) {
			t, err := parseDateTime(str(i))
			if err != nil {
				return 0, false, fmt.Errorf("%q is not a valid date", s.Value(i))
			}
			return arrow.Date32FromTime(t), true, nil
		})
	case arrow.TIMESTAMP:
		return mapRows(b, name, to, n, valid, func(i int) (arrow.Timestamp, bool, error) {
			t, err := parseDateTime(str(i))
			if err != nil {
				return 0, false, fmt.Errorf("%q is not a valid timestamp", s.Value(i))
			}
			return arrow.Timestamp(t.UnixMicro()), true, nil
		})
	}
	return nil
}

// narrow adapts an int64 row function to a narrower integer type (the
// value was range-checked by the parser).
func narrow[T int8 | int16 | int32](f rowFunc[int64]) rowFunc[T] {
	return func(i int) (T, bool, error) {
		v, ok, err := f(i)
		return T(v), ok, err
	}
}

// parseDecimal parses a decimal string to the given precision and scale,
// rounding extra fractional digits half away from zero and rejecting
// values with too many integer digits.
func parseDecimal(s string, prec, scale int32) (decimal128.Num, error) {
	if s == "" {
		return decimal128.Num{}, errors.New("empty")
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '.' || r == '-' || r == '+' || r == 'e' || r == 'E') {
			return decimal128.Num{}, fmt.Errorf("unexpected %q", r)
		}
	}
	mantissa := s
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mantissa = s[:i]
	}
	if !strings.ContainsAny(mantissa, "0123456789") {
		return decimal128.Num{}, errors.New("no digits")
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		// Bound the exponent: FromString materialises 10^exp.
		exp, err := strconv.Atoi(s[i+1:])
		switch {
		case err != nil:
			return decimal128.Num{}, errors.New("bad exponent")
		case exp > 100:
			return decimal128.Num{}, errors.New("out of range")
		case exp < -100:
			return decimal128.Num{}, nil // rounds to zero at any scale
		}
	}
	v, err := decimal128.FromString(s, prec, scale)
	if err != nil {
		return v, errors.New("out of range")
	}
	if !v.FitsInPrecision(prec) {
		return v, fmt.Errorf("does not fit precision %d", prec)
	}
	return v, nil
}

// dateTimeLayouts are the layouts strings are parsed with, most specific
// first. Without a zone the text is UTC.
var dateTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseDateTime parses an ISO-8601 date or timestamp.
func parseDateTime(s string) (time.Time, error) {
	for _, l := range dateTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not an ISO-8601 date or timestamp")
}
