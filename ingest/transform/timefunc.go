package transform

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Date and time functions. Timestamps are microseconds since the epoch;
// both timestamp (UTC) and timestamp_ntz are computed on their UTC wall
// clock, so there are no DST gaps or overlaps. Dates are days since the
// epoch.
//
//	date_trunc(unit, x)     unit a constant: year, quarter, month, week
//	                        (Monday), day, hour, minute, second; x a
//	                        timestamp or date, result of x's type
//	extract(field, x)       → bigint. field a constant: year, quarter,
//	                        month, day, hour, minute, second, dow (0 =
//	                        Sunday … 6), doy, epoch (whole seconds since
//	                        1970-01-01, floored)
//	to_date(s[, fmt])       string → date; ISO-8601 without fmt
//	to_timestamp(s[, fmt])  string → timestamp (text without a zone is
//	to_timestamp(ms)        UTC); an integer is milliseconds since the epoch
//	format_timestamp(x, fmt) timestamp or date → string
//	date_add(x, n[, unit])  n units (default day; year, month, week, day,
//	                        hour, minute, second) later; see compileDateAdd
//	current_timestamp()     the batch's processing time: the instant
//	                        Apply started, the same for every row of the
//	                        batch (so a batch re-read after a failure gets
//	                        a new one)
//
// fmt is a constant in Java DateTimeFormatter letters: yyyy yy MMMM MMM MM
// M dd d HH hh h mm m ss s S… (fraction, after . or ,) a EEEE EEE XXX XX X
// Z z, 'quoted text'. Text that does not parse fails the row.

const (
	usPerSecond = int64(time.Second / time.Microsecond)
	usPerDay    = 86400 * usPerSecond
)

func init() {
	funcs["date_trunc"] = compileDateTrunc
	funcs["extract"] = compileExtract
	funcs["to_date"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		return compileParseTime("to_date", e, args, arrow.FixedWidthTypes.Date32)
	}
	funcs["to_timestamp"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		return compileParseTime("to_timestamp", e, args, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})
	}
	funcs["format_timestamp"] = compileFormatTimestamp
	funcs["date_add"] = compileDateAdd
	funcs["current_timestamp"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		if err := wantArgs("current_timestamp", args, 0, 0); err != nil {
			return nil, err
		}
		return nowEval{}, nil
	}
}

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysFromCivil is the inverse of civil.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// temporalMicros returns x's values as microseconds since the epoch.
func temporalMicros(a arrow.Array) []int64 {
	if a.DataType().ID() == arrow.DATE32 {
		days := values[int32](a)
		out := make([]int64, len(days))
		for i, d := range days {
			out[i] = int64(d) * usPerDay
		}
		return out
	}
	return values[int64](a)
}

// unitArg returns the lower-case constant string argument i of fn.
func unitArg(fn string, args []Evaluator, i int, allowed map[string]bool) (string, error) {
	u, ok := stringConst(args[i])
	if !ok {
		return "", fmt.Errorf("%s: argument %d must be a string constant, got %s", fn, i+1, sqlType(args[i].Type()))
	}
	u = strings.ToLower(u)
	if !allowed[u] {
		return "", fmt.Errorf("%s: unsupported unit %q", fn, u)
	}
	return u, nil
}

var truncUnits = map[string]bool{"year": true, "quarter": true, "month": true, "week": true, "day": true, "hour": true, "minute": true, "second": true}

func compileDateTrunc(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("date_trunc", args, 2, 2); err != nil {
		return nil, err
	}
	if !isTemporal(args[1].Type()) {
		return nil, argTypeErr("date_trunc", 1, "a timestamp or date", args[1])
	}
	unit, err := unitArg("date_trunc", args, 0, truncUnits)
	if err != nil {
		return nil, err
	}
	t := args[1].Type()
	return &funcEval{name: e.String(), args: args[1:], typ: t, nullable: args[1].Nullable(),
		run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			us := temporalMicros(arrs[0])
			out := make([]int64, n)
			for i, v := range us {
				out[i] = truncMicros(unit, v)
			}
			if t.ID() == arrow.DATE32 {
				days := make([]int32, n)
				for i, v := range out {
					days[i] = int32(floorDiv(v, usPerDay))
				}
				return newFixed(t, days, validBits(arrs[0])), nil
			}
			return newFixed(t, out, validBits(arrs[0])), nil
		}}, nil
}

// truncMicros truncates a timestamp to the start of its unit.
func truncMicros(unit string, v int64) int64 {
	switch unit {
	case "second":
		return floorDiv(v, usPerSecond) * usPerSecond
	case "minute":
		return floorDiv(v, 60*usPerSecond) * 60 * usPerSecond
	case "hour":
		return floorDiv(v, 3600*usPerSecond) * 3600 * usPerSecond
	}
	days := floorDiv(v, usPerDay)
	switch unit {
	case "week": // 1970-01-01 was a Thursday: Monday is (days+3) mod 7 == 0
		days -= (days%7 + 7 + 3) % 7
	case "month", "quarter", "year":
		y, m, _ := civil(days)
		switch unit {
		case "quarter":
			m = (m-1)/3*3 + 1
		case "year":
			m = 1
		}
		days = daysFromCivil(y, m, 1)
	}
	return days * usPerDay
}

var extractFields = map[string]bool{"year": true, "quarter": true, "month": true, "day": true, "hour": true, "minute": true, "second": true, "dow": true, "doy": true, "epoch": true}

func compileExtract(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("extract", args, 2, 2); err != nil {
		return nil, err
	}
	if !isTemporal(args[1].Type()) {
		return nil, argTypeErr("extract", 1, "a timestamp or date", args[1])
	}
	field, err := unitArg("extract", args, 0, extractFields)
	if err != nil {
		return nil, err
	}
	return &funcEval{name: e.String(), args: args[1:], typ: arrow.PrimitiveTypes.Int64, nullable: args[1].Nullable(),
		run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			us := temporalMicros(arrs[0])
			out := make([]int64, n)
			for i, v := range us {
				out[i] = extractMicros(field, v)
			}
			return newFixed(arrow.PrimitiveTypes.Int64, out, validBits(arrs[0])), nil
		}}, nil
}

// extractMicros returns one field of a timestamp.
func extractMicros(field string, v int64) int64 {
	days := floorDiv(v, usPerDay)
	tod := v - days*usPerDay // microseconds into the day
	switch field {
	case "hour":
		return tod / (3600 * usPerSecond)
	case "minute":
		return tod / (60 * usPerSecond) % 60
	case "second":
		return tod / usPerSecond % 60
	case "dow": // 1970-01-01 was a Thursday (4)
		return ((days+4)%7 + 7) % 7
	case "epoch":
		return floorDiv(v, usPerSecond)
	}
	y, m, d := civil(days)
	switch field {
	case "year":
		return y
	case "quarter":
		return (m-1)/3 + 1
	case "month":
		return m
	case "doy":
		return days - daysFromCivil(y, 1, 1) + 1
	}
	return d
}

// javaLayout converts a Java DateTimeFormatter pattern to a Go layout.
func javaLayout(p string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		j := i
		for j < len(p) && p[j] == c {
			j++
		}
		n := j - i
		switch {
		case c == '\'':
			end := strings.IndexByte(p[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("format %q: unterminated quote", p)
			}
			lit := p[i+1 : i+1+end]
			if lit == "" {
				lit = "'"
			}
			if strings.ContainsAny(lit, "0123456789") {
				return "", fmt.Errorf("format %q: digits in quoted text are not supported", p)
			}
			out.WriteString(lit)
			j = i + end + 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			tok, ok := javaTokens[p[i:j]]
			if c == 'S' {
				if prev := out.String(); prev == "" || (prev[len(prev)-1] != '.' && prev[len(prev)-1] != ',') {
					return "", fmt.Errorf("format %q: fraction S must follow . or ,", p)
				}
				tok, ok = strings.Repeat("0", min(n, 9)), true
			}
			if !ok {
				return "", fmt.Errorf("format %q: unsupported pattern %q", p, p[i:j])
			}
			out.WriteString(tok)
		case c >= '0' && c <= '9':
			return "", fmt.Errorf("format %q: digits must be quoted", p)
		default:
			out.WriteString(p[i:j])
		}
		i = j
	}
	return out.String(), nil
}

var javaTokens = map[string]string{
	"yyyy": "2006", "yy": "06", "MMMM": "January", "MMM": "Jan", "MM": "01", "M": "1",
	"dd": "02", "d": "2", "HH": "15", "hh": "03", "h": "3", "mm": "04", "m": "4",
	"ss": "05", "s": "5", "a": "PM", "EEEE": "Monday", "EEE": "Mon",
	"XXX": "Z07:00", "XX": "Z0700", "X": "Z07", "Z": "-0700", "z": "MST",
}

// layoutArg compiles the constant format argument i of fn.
func layoutArg(fn string, args []Evaluator, i int) (string, error) {
	f, ok := stringConst(args[i])
	if !ok {
		return "", fmt.Errorf("%s: argument %d must be a string constant, got %s", fn, i+1, sqlType(args[i].Type()))
	}
	l, err := javaLayout(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", fn, err)
	}
	return l, nil
}

// compileParseTime compiles to_date and to_timestamp.
func compileParseTime(fn string, e *Expr, args []Evaluator, to arrow.DataType) (Evaluator, error) {
	if err := wantArgs(fn, args, 1, 2); err != nil {
		return nil, err
	}
	x := args[0]
	if fn == "to_timestamp" && isInt(x.Type()) && len(args) == 1 {
		c, _ := implicitCast(fn, 0, x, arrow.PrimitiveTypes.Int64)
		return &funcEval{name: e.String(), args: []Evaluator{c}, typ: to, nullable: x.Nullable(),
			run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
				ms := values[int64](arrs[0])
				return mapRows(b, name, to, n, validBits(arrs[0]), func(i int) (arrow.Timestamp, bool, error) {
					us := ms[i] * 1000
					if us/1000 != ms[i] {
						return 0, false, fmt.Errorf("epoch milliseconds %d out of range", ms[i])
					}
					return arrow.Timestamp(us), true, nil
				}), nil
			}}, nil
	}
	if !isString(x.Type()) {
		want := "a string"
		if fn == "to_timestamp" {
			want = "a string or integer (epoch milliseconds)"
		}
		return nil, argTypeErr(fn, 0, want, x)
	}
	layout := ""
	if len(args) == 2 {
		var err error
		if layout, err = layoutArg(fn, args, 1); err != nil {
			return nil, err
		}
	}
	parse := func(s string) (time.Time, error) {
		if layout == "" {
			return parseDateTime(strings.TrimSpace(s))
		}
		t, err := time.Parse(layout, s)
		return t.UTC(), err
	}
	return &funcEval{name: e.String(), args: args[:1], typ: to, nullable: x.Nullable(),
		run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			s := arrs[0].(*array.String)
			valid := validBits(s)
			if to.ID() == arrow.DATE32 {
				return mapRows(b, name, to, n, valid, func(i int) (arrow.Date32, bool, error) {
					t, err := parse(s.Value(i))
					if err != nil {
						return 0, false, fmt.Errorf("%q is not a valid date", s.Value(i))
					}
					return arrow.Date32(floorDiv(t.Unix(), 86400)), true, nil
				}), nil
			}
			return mapRows(b, name, to, n, valid, func(i int) (arrow.Timestamp, bool, error) {
				t, err := parse(s.Value(i))
				if err != nil {
					return 0, false, fmt.Errorf("%q is not a valid timestamp", s.Value(i))
				}
				return arrow.Timestamp(t.UnixMicro()), true, nil
			}), nil
		}}, nil
}

func compileFormatTimestamp(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("format_timestamp", args, 2, 2); err != nil {
		return nil, err
	}
	if !isTemporal(args[0].Type()) {
		return nil, argTypeErr("format_timestamp", 0, "a timestamp or date", args[0])
	}
	layout, err := layoutArg("format_timestamp", args, 1)
	if err != nil {
		return nil, err
	}
	return &funcEval{name: e.String(), args: args[:1], typ: arrow.BinaryTypes.String, nullable: args[0].Nullable(),
		run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			us := temporalMicros(arrs[0])
			var buf []byte
			return mapStringRows(b, name, n, n*len(layout), validBits(arrs[0]), func(i int) (string, bool, error) {
				buf = time.UnixMicro(us[i]).UTC().AppendFormat(buf[:0], layout)
				return string(buf), true, nil
			}), nil
		}}, nil
}

// nowEval is current_timestamp: Batch.Now in every row.
type nowEval struct{}

func (nowEval) Type() arrow.DataType {
	return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
}
func (nowEval) Nullable() bool { return false }
func (n nowEval) Eval(_ context.Context, b *Batch) (arrow.Array, error) {
	out := make([]arrow.Timestamp, b.Rec.NumRows())
	now := arrow.Timestamp(b.Now.UnixMicro())
	for i := range out {
		out[i] = now
	}
	return newFixed(n.Type(), out, nil), nil
}

var addUnits = map[string]bool{"year": true, "month": true, "week": true, "day": true, "hour": true, "minute": true, "second": true}

// compileDateAdd: date_add(x, n[, unit]) adds n units (default day) to a
// timestamp or date, keeping x's type. Adding months or years keeps the
// day of the month, clamped to the month's last day (2024-01-31 + 1 month
// = 2024-02-29). A date only takes year, month, week and day. A result
// out of range fails the row.
func compileDateAdd(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("date_add", args, 2, 3); err != nil {
		return nil, err
	}
	x := args[0]
	if !isTemporal(x.Type()) {
		return nil, argTypeErr("date_add", 0, "a timestamp or date", x)
	}
	if !isInt(args[1].Type()) {
		return nil, argTypeErr("date_add", 1, "an integer", args[1])
	}
	n, _ := implicitCast("date_add", 1, args[1], arrow.PrimitiveTypes.Int64)
	unit := "day"
	if len(args) == 3 {
		var err error
		if unit, err = unitArg("date_add", args, 2, addUnits); err != nil {
			return nil, err
		}
	}
	isDate := x.Type().ID() == arrow.DATE32
	step := map[string]int64{"week": 7 * usPerDay, "day": usPerDay, "hour": 3600 * usPerSecond, "minute": 60 * usPerSecond, "second": usPerSecond}[unit]
	if isDate && step != 0 && step%usPerDay != 0 {
		return nil, fmt.Errorf("date_add: cannot add %ss to a date", unit)
	}
	t := x.Type()
	return &funcEval{name: e.String(), args: []Evaluator{x, n}, typ: t, nullable: anyNullable(args[:2]),
		run: func(b *Batch, name string, rows int, arrs []arrow.Array) (arrow.Array, error) {
			us, ns := temporalMicros(arrs[0]), values[int64](arrs[1])
			add := func(i int) (int64, error) {
				if step == 0 {
					return addMonths(us[i], ns[i], unit == "year")
				}
				d := ns[i] * step
				r := us[i] + d
				if d/step != ns[i] || (d > 0 && r < us[i]) || (d < 0 && r > us[i]) {
					return 0, errors.New("timestamp out of range")
				}
				return r, nil
			}
			valid := validAnd(rows, arrs...)
			if isDate {
				return mapRows(b, name, t, rows, valid, func(i int) (arrow.Date32, bool, error) {
					v, err := add(i)
					days := floorDiv(v, usPerDay)
					if err == nil && (days < math.MinInt32 || days > math.MaxInt32) {
						err = errors.New("date out of range")
					}
					return arrow.Date32(days), err == nil, err
				}), nil
			}
			return mapRows(b, name, t, rows, valid, func(i int) (arrow.Timestamp, bool, error) {
				v, err := add(i)
				return arrow.Timestamp(v), err == nil, err
			}), nil
		}}, nil
}

// addMonths adds n months (n years) to a timestamp, clamping the day.
func addMonths(v, n int64, years bool) (int64, error) {
	if years {
		if n > 1<<40 || n < -(1<<40) {
			return 0, errors.New("timestamp out of range")
		}
		n *= 12
	}
	if n > 1<<44 || n < -(1<<44) {
		return 0, errors.New("timestamp out of range")
	}
	days := floorDiv(v, usPerDay)
	tod := v - days*usPerDay
	y, m, d := civil(days)
	total := y*12 + m - 1 + n
	y, m = floorDiv(total, 12), total-floorDiv(total, 12)*12+1
	if last := daysFromCivil(y, m+1, 1) - daysFromCivil(y, m, 1); m < 12 && d > last {
		d = last
	} else if m == 12 && d > 31 {
		d = 31
	}
	nd := daysFromCivil(y, m, d)
	if nd > math.MaxInt64/usPerDay-1 || nd < math.MinInt64/usPerDay+1 {
		return 0, errors.New("timestamp out of range")
	}
	return nd*usPerDay + tod, nil
}
