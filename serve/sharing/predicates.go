package sharing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// File skipping by predicate hints. Hints are best effort: a predicate the
// server cannot compile (unknown op or column, bad literal, a type it does
// not compare) turns filtering off instead of failing the request, and the
// evaluation only drops a file when no row of it can match: partition
// values are exact, statistics give ranges, and anything unknown keeps the
// file.

// tri is a three-valued result for a whole file: every row matches (yes),
// none does (no), or some may (maybe).
type tri int

const (
	no tri = iota
	maybe
	yes
)

func (t tri) not() tri { return 2 - t }

// maxPredicateNodes bounds the size of a predicate tree.
const maxPredicateNodes = 1000

// jsonPredicate is one node of jsonPredicateHints.
type jsonPredicate struct {
	Op        string           `json:"op"`
	Children  []*jsonPredicate `json:"children"`
	Name      string           `json:"name"`
	Value     json.RawMessage  `json:"value"`
	ValueType string           `json:"valueType"`
}

// fileFilter decides whether a file may hold matching rows.
type fileFilter func(f *deltalog.Add, st *fileStats) tri

// hintsFilter compiles the query's hints into one filter, or nil when none
// applies. jsonPredicateHints win over predicateHints (which they replace).
func hintsFilter(q queryRequest, cols map[string]column) fileFilter {
	if q.JSONPredicateHints != nil && *q.JSONPredicateHints != "" && *q.JSONPredicateHints != "null" {
		var p jsonPredicate
		if err := json.Unmarshal([]byte(*q.JSONPredicateHints), &p); err != nil {
			return nil
		}
		n := 0
		f, err := compileJSON(&p, cols, &n, 0)
		if err != nil {
			return nil
		}
		return f
	}
	var fs []fileFilter
	for _, h := range q.PredicateHints {
		if f, err := compileSQL(h, cols); err == nil {
			fs = append(fs, f) // predicates it cannot read are skipped
		}
	}
	if len(fs) == 0 {
		return nil
	}
	return andFilter(fs)
}

// column is a top-level column of the table, by lower-cased name.
type column struct {
	name      string // as in the schema
	phys      string // in statistics and partition values: the physical name under column mapping
	typ       string // Delta primitive type name, "" for complex types
	partition bool
	idx       int // its position in the schema: the index of its statistics in fileStats.cols
}

func columnsOf(snap *deltalog.Snapshot) map[string]column {
	cols := map[string]column{}
	mode := deltalog.ColumnMappingMode(&snap.Metadata)
	if snap.Schema != nil {
		for i, f := range snap.Schema.Fields {
			c := column{name: f.Name, phys: deltalog.PhysicalName(&f, mode), idx: i}
			if f.Type != nil && f.Type.IsPrimitive() {
				c.typ = f.Type.Name
			}
			cols[strings.ToLower(f.Name)] = c
		}
	}
	for _, p := range snap.PartitionColumns() {
		if c, ok := cols[strings.ToLower(p)]; ok {
			c.partition = true
			cols[strings.ToLower(p)] = c
		}
	}
	return cols
}

func compileJSON(p *jsonPredicate, cols map[string]column, n *int, depth int) (fileFilter, error) {
	*n++
	if p == nil || *n > maxPredicateNodes || depth > 64 {
		return nil, errors.New("predicate too large")
	}
	kids := func() ([]fileFilter, error) {
		out := make([]fileFilter, len(p.Children))
		for i, ch := range p.Children {
			f, err := compileJSON(ch, cols, n, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = f
		}
		return out, nil
	}
	switch p.Op {
	case "and", "or":
		if len(p.Children) < 2 {
			return nil, fmt.Errorf("%s needs at least two children", p.Op)
		}
		fs, err := kids()
		if err != nil {
			return nil, err
		}
		if p.Op == "and" {
			return andFilter(fs), nil
		}
		return orFilter(fs), nil
	case "not":
		if len(p.Children) != 1 {
			return nil, errors.New("not needs one child")
		}
		fs, err := kids()
		if err != nil {
			return nil, err
		}
		return func(f *deltalog.Add, st *fileStats) tri { return fs[0](f, st).not() }, nil
	case "isNull":
		if len(p.Children) != 1 || p.Children[0].Op != "column" {
			return nil, errors.New("isNull needs one column child")
		}
		col, err := leafColumn(p.Children[0], cols)
		if err != nil {
			return nil, err
		}
		return isNullFilter(col), nil
	case "equal", "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual":
		if len(p.Children) != 2 {
			return nil, fmt.Errorf("%s needs two children", p.Op)
		}
		l, r := p.Children[0], p.Children[1]
		op := p.Op
		if l.Op == "literal" && r.Op == "column" {
			l, r, op = r, l, flip(op)
		}
		if l.Op != "column" || r.Op != "literal" {
			return nil, errors.New("comparisons must be between a column and a literal")
		}
		if l.ValueType != r.ValueType {
			return nil, errors.New("column and literal types differ")
		}
		col, err := leafColumn(l, cols)
		if err != nil {
			return nil, err
		}
		lit, err := literalValue(r)
		if err != nil {
			return nil, err
		}
		return compareFilter(col, l.ValueType, op, lit), nil
	}
	return nil, fmt.Errorf("unsupported op %q", p.Op)
}

func flip(op string) string {
	switch op {
	case "lessThan":
		return "greaterThan"
	case "lessThanOrEqual":
		return "greaterThanOrEqual"
	case "greaterThan":
		return "lessThan"
	case "greaterThanOrEqual":
		return "lessThanOrEqual"
	}
	return op
}

func leafColumn(p *jsonPredicate, cols map[string]column) (column, error) {
	c, ok := cols[strings.ToLower(p.Name)]
	if !ok {
		return column{}, fmt.Errorf("no column %q", p.Name)
	}
	if !knownType(p.ValueType) {
		return column{}, fmt.Errorf("unsupported valueType %q", p.ValueType)
	}
	return c, nil
}

func knownType(t string) bool {
	switch t {
	case "bool", "int", "long", "string", "date", "float", "double", "timestamp":
		return true
	}
	return false
}

func literalValue(p *jsonPredicate) (value, error) {
	raw := bytes.TrimSpace(p.Value)
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return value{}, err
		}
	} else {
		s = string(raw)
	}
	if s == "" {
		return value{}, errors.New("literal without a value")
	}
	return parseValue(p.ValueType, s)
}

// value is a typed scalar: numbers as float64 or int64, strings, times as
// unix microseconds, dates as days.
type value struct {
	kind byte // 'i' int64, 'f' float64, 's' string, 'b' bool
	i    int64
	f    float64
	s    string
}

func cmpValues(a, b value) (int, bool) {
	if a.kind != b.kind {
		return 0, false
	}
	switch a.kind {
	case 'i':
		return cmpOrdered(a.i, b.i), true
	case 'f':
		if math.IsNaN(a.f) || math.IsNaN(b.f) {
			return 0, false
		}
		return cmpOrdered(a.f, b.f), true
	case 's':
		return strings.Compare(a.s, b.s), true
	case 'b':
		x, y := 0, 0
		if a.i != 0 {
			x = 1
		}
		if b.i != 0 {
			y = 1
		}
		return cmpOrdered(x, y), true
	}
	return 0, false
}

func cmpOrdered[T int | int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseValue reads s as valueType: a literal, a partition value or a
// statistic.
func parseValue(valueType, s string) (value, error) {
	switch valueType {
	case "int", "long":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return value{}, err
		}
		return value{kind: 'i', i: n}, nil
	case "float", "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return value{}, err
		}
		return value{kind: 'f', f: f}, nil
	case "string":
		return value{kind: 's', s: s}, nil
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return value{}, err
		}
		v := value{kind: 'b'}
		if b {
			v.i = 1
		}
		return v, nil
	case "date":
		t, err := time.Parse("2006-01-02", strings.TrimSpace(s))
		if err != nil {
			return value{}, err
		}
		return value{kind: 'i', i: t.Unix() / 86400}, nil
	case "timestamp":
		t, aerr := parseTimestamp("timestamp", s)
		if aerr != nil {
			return value{}, aerr
		}
		return value{kind: 'i', i: t.UnixMicro()}, nil
	}
	return value{}, fmt.Errorf("unsupported valueType %q", valueType)
}

// partitionValue is a file's value of a partition column; nil is null
// (the protocol's empty string included).
func partitionValue(f *deltalog.Add, col column) *string {
	for k, v := range f.PartitionValues {
		if strings.EqualFold(k, col.phys) {
			if v == nil || *v == "" {
				return nil
			}
			return v
		}
	}
	return nil
}

func isNullFilter(col column) fileFilter {
	return func(f *deltalog.Add, st *fileStats) tri {
		if col.partition {
			if partitionValue(f, col) == nil {
				return yes
			}
			return no
		}
		cs := st.col(col)
		switch {
		case cs == nil || !cs.hasNulls:
			return maybe
		case cs.nulls == 0:
			return no
		case st.hasRecords && cs.nulls == st.numRecords:
			return yes
		}
		return maybe
	}
}

func compareFilter(col column, valueType, op string, lit value) fileFilter {
	holds := func(c int) bool {
		switch op {
		case "equal":
			return c == 0
		case "lessThan":
			return c < 0
		case "lessThanOrEqual":
			return c <= 0
		case "greaterThan":
			return c > 0
		}
		return c >= 0
	}
	return func(f *deltalog.Add, st *fileStats) tri {
		if col.partition {
			pv := partitionValue(f, col)
			if pv == nil {
				return no // null compares to nothing
			}
			v, err := parseValue(valueType, *pv)
			if err != nil {
				return maybe
			}
			c, ok := cmpValues(v, lit)
			if !ok {
				return maybe
			}
			if holds(c) {
				return yes
			}
			return no
		}
		cs := st.col(col)
		if cs == nil || !sameFamily(valueTypeOf(col.typ), valueType) {
			return maybe // statistics are read as the column's type
		}
		lo, hasLo := cs.lo, cs.hasLo
		hi, hasHi := cs.hi, cs.hasHi
		// Statistics of strings may be truncated prefixes and those of
		// timestamps truncated to milliseconds: a max is then no bound.
		if hasHi && (valueType == "string" || valueType == "timestamp") {
			if valueType == "timestamp" {
				hi.i += 999
			} else {
				hasHi = false
			}
		}
		cLo, okLo := cmpValues(lo, lit)
		cHi, okHi := cmpValues(hi, lit)
		okLo, okHi = okLo && hasLo, okHi && hasHi
		switch op {
		case "equal":
			if (okLo && cLo > 0) || (okHi && cHi < 0) {
				return no
			}
		case "lessThan":
			if okLo && cLo >= 0 {
				return no
			}
		case "lessThanOrEqual":
			if okLo && cLo > 0 {
				return no
			}
		case "greaterThan":
			if okHi && cHi <= 0 {
				return no
			}
		case "greaterThanOrEqual":
			if okHi && cHi < 0 {
				return no
			}
		}
		return maybe
	}
}

func andFilter(fs []fileFilter) fileFilter { return combineFilters(fs, no, yes) }

func orFilter(fs []fileFilter) fileFilter { return combineFilters(fs, yes, no) }

// combineFilters is AND (decisive no, empty yes) or OR (decisive yes,
// empty no) over three-valued filters: the decisive answer of any filter
// wins, else maybe if any filter is unsure, else the empty answer.
func combineFilters(fs []fileFilter, decisive, empty tri) fileFilter {
	return func(f *deltalog.Add, st *fileStats) tri {
		out := empty
		for _, g := range fs {
			switch g(f, st) {
			case decisive:
				return decisive
			case maybe:
				out = maybe
			}
		}
		return out
	}
}

// sqlHint is the restricted SQL of predicateHints: col op literal, literal
// op col, col IS [NOT] NULL.
var (
	sqlCompare = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*|'(?:[^']|'')*'|[-+]?[0-9][0-9.eE+-]*)\s*(=|<>|!=|<=|>=|<|>)\s*([A-Za-z_][A-Za-z0-9_]*|'(?:[^']|'')*'|[-+]?[0-9][0-9.eE+-]*)\s*$`)
	sqlIsNull  = regexp.MustCompile(`(?i)^\s*([A-Za-z_][A-Za-z0-9_]*)\s+IS\s+(NOT\s+)?NULL\s*$`)
)

// valueTypeOf maps a Delta primitive type to a predicate valueType.
func valueTypeOf(t string) string {
	switch t {
	case deltalog.TypeInteger, deltalog.TypeShort, deltalog.TypeByte:
		return "int"
	case deltalog.TypeLong:
		return "long"
	case deltalog.TypeString:
		return "string"
	case deltalog.TypeDate:
		return "date"
	case deltalog.TypeBoolean:
		return "bool"
	case deltalog.TypeFloat:
		return "float"
	case deltalog.TypeDouble:
		return "double"
	case deltalog.TypeTimestamp, deltalog.TypeTimestampNTZ:
		return "timestamp"
	}
	return ""
}

func compileSQL(h string, cols map[string]column) (fileFilter, error) {
	if m := sqlIsNull.FindStringSubmatch(h); m != nil {
		col, ok := cols[strings.ToLower(m[1])]
		if !ok {
			return nil, fmt.Errorf("no column %q", m[1])
		}
		f := isNullFilter(col)
		if m[2] != "" {
			return func(a *deltalog.Add, st *fileStats) tri { return f(a, st).not() }, nil
		}
		return f, nil
	}
	m := sqlCompare.FindStringSubmatch(h)
	if m == nil {
		return nil, fmt.Errorf("unsupported predicate %q", h)
	}
	left, op, right := m[1], m[2], m[3]
	ops := map[string]string{"=": "equal", "<": "lessThan", "<=": "lessThanOrEqual", ">": "greaterThan", ">=": "greaterThanOrEqual", "<>": "notEqual", "!=": "notEqual"}
	name := ops[op]
	col, ok := cols[strings.ToLower(left)]
	lit := right
	if !ok || isSQLLiteral(left) {
		col, ok = cols[strings.ToLower(right)]
		lit = left
		name = flip(name)
		if !ok || isSQLLiteral(right) {
			return nil, fmt.Errorf("predicate %q compares no column with a literal", h)
		}
	}
	vt := valueTypeOf(col.typ)
	if vt == "" || !isSQLLiteral(lit) {
		return nil, fmt.Errorf("predicate %q: unsupported column type or operand", h)
	}
	if strings.HasPrefix(lit, "'") {
		lit = strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
	}
	v, err := parseValue(vt, lit)
	if err != nil {
		return nil, err
	}
	if name == "notEqual" {
		eq := compareFilter(col, vt, "equal", v)
		return func(a *deltalog.Add, st *fileStats) tri {
			if col.partition {
				if partitionValue(a, col) == nil {
					return no
				}
				return eq(a, st).not()
			}
			return maybe // a range says nothing about "<>"
		}, nil
	}
	return compareFilter(col, vt, name, v), nil
}

func isSQLLiteral(s string) bool {
	return strings.HasPrefix(s, "'") || (s != "" && (s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
}
