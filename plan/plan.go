// Package plan compiles a CREATE TABLE ... AS SELECT over a stream into the
// pipeline spec a worker runs, type-checking it against the stream's columns.
//
// It knows the SQL AST and the ingest spec, not the catalog's storage: the
// caller describes the stream, its store and the target table.
package plan

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/ingest/decode"
	"github.com/sluice-io/sluice/ingest/transform"
)

// Column is one declared column of a stream.
type Column struct {
	Name     string
	Type     *deltalog.Type
	Nullable bool
}

// Stream describes the source: its columns and its WITH properties
// ('topic', 'value.format', 'starting.position', ...), and its store's
// properties ('bootstrap.servers', 'security.protocol', 'sasl.*',
// 'schema.registry.url', 'ssl.*').
type Stream struct {
	Name       string
	Columns    []Column
	Props      map[string]string
	StoreProps map[string]string
}

// Table describes the target: its location and WITH properties
// ('partitioned.by', 'flush.interval', 'flush.max.bytes', 'target.file.size', 'kms.key', and
// 'location', which overrides Location).
type Table struct {
	Name     string
	Location string
	Props    map[string]string
	// PropPos is where each property's key is in the statement (optional):
	// errors about a property point there. See PropertyPositions.
	PropPos map[string]sqlparse.Pos
}

// TableProps are the WITH properties CREATE TABLE ... AS SELECT accepts.
var TableProps = []string{"flush.interval", "flush.max.bytes", "kms.key", "location", "partitioned.by", "target.file.size"}

// PropertyPositions maps each WITH property's key to its position.
func PropertyPositions(with []*sqlparse.Property) map[string]sqlparse.Pos {
	out := make(map[string]sqlparse.Pos, len(with))
	for _, p := range with {
		out[p.Key] = p.Pos
	}
	return out
}

// MetaColumns are the Kafka metadata pseudo-columns every query can select.
var MetaColumns = map[string]string{
	"kafka_topic": decode.MetaTopic, "kafka_partition": decode.MetaPartition, "kafka_offset": decode.MetaOffset,
	"kafka_timestamp": decode.MetaTimestamp, "kafka_key": decode.MetaKey, "kafka_headers": decode.MetaHeaders,
}

// Plan is a compiled query.
type Plan struct {
	Spec   *ingest.Spec     // what the worker runs
	Schema *deltalog.Schema // the target table's schema
}

// errAt is a semantic error at a node, rendered like a parse error so the
// CLI and API can show a caret under it.
func errAt(n sqlparse.Node, format string, args ...any) error {
	p := n.Position()
	return &sqlparse.ParseError{Line: p.Line, Col: p.Col, Offset: p.Offset, Msg: fmt.Sprintf(format, args...)}
}

// Compile compiles sel (the query of CREATE TABLE table AS sel) over src
// into the worker spec for query id.
func Compile(id string, sel *sqlparse.Select, src Stream, tbl Table) (*Plan, error) {
	cols := map[string]Column{}
	for _, c := range src.Columns {
		cols[strings.ToLower(c.Name)] = c
	}
	c := &compiler{stream: src, cols: cols, used: map[string]bool{}, streamName: strings.ToLower(src.Name), nodes: map[*transform.Expr]origin{}}

	var selects []transform.SelectItem
	names := map[string]bool{}
	add := func(n sqlparse.Node, name string, e *transform.Expr) error {
		if names[strings.ToLower(name)] {
			return errAt(n, "duplicate output column %q: give one of them another name with AS", name)
		}
		names[strings.ToLower(name)] = true
		selects = append(selects, transform.SelectItem{Name: name, Expr: e})
		return nil
	}
	for _, it := range sel.Items {
		if star, ok := it.Expr.(*sqlparse.Star); ok {
			if len(star.Qualifier) > 0 {
				if err := c.qualifier(star, star.Qualifier, "*"); err != nil {
					return nil, err
				}
			}
			for _, col := range src.Columns {
				c.used[strings.ToLower(col.Name)] = true
				e := &transform.Expr{Column: col.Name}
				c.nodes[e] = origin{node: it, item: len(selects)}
				if err := add(it, col.Name, e); err != nil {
					return nil, err
				}
			}
			continue
		}
		c.item = len(selects)
		e, err := c.expr(it.Expr)
		if err != nil {
			return nil, err
		}
		name := ""
		switch {
		case it.Alias != nil:
			name = it.Alias.Name
		case e.Column != "":
			name = e.Column
		default:
			return nil, errAt(it, "expression %s needs a name: add AS <column name>", sqlparse.Cut(it.Expr.String(), sqlparse.MaxExcerpt))
		}
		if err := add(it, name, e); err != nil {
			return nil, err
		}
	}
	var filter *transform.Expr
	if sel.Where != nil {
		c.item = -1
		f, err := c.expr(sel.Where)
		if err != nil {
			return nil, err
		}
		filter = f
	}

	spec := &ingest.Spec{Query: id}
	if err := c.source(&spec.Source, &spec.Decode); err != nil {
		return nil, err
	}
	// Type-check against the decoded columns.
	dec, err := c.decodeSchema(spec.Decode.Columns)
	if err != nil {
		return nil, err
	}
	ts := &transform.Spec{Filter: filter, Select: selects}
	xf, err := transform.Compile(dec, ts)
	if err != nil {
		return nil, c.blame(sel, filter, selects, err)
	}
	schema, err := deltalog.DeltaSchema(xf.OutputSchema())
	if err != nil {
		return nil, errAt(sel, "%v", err)
	}
	spec.Transform = ts
	if err := c.sink(spec, tbl, schema); err != nil {
		var pe *propError
		if errors.As(err, &pe) {
			if pos, ok := tbl.PropPos[pe.key]; ok {
				return nil, errAt(pos, "%v", err)
			}
		}
		return nil, errAt(sel, "%v", err)
	}
	return &Plan{Spec: spec, Schema: schema}, nil
}

// blame turns err, the failure to compile the transform, into an error at
// the node to blame: a WHERE that is not boolean, else the SQL node of the
// innermost failing sub-expression the transform reports (of the WHERE,
// else of the first failing SELECT item). Nothing is compiled again.
func (c *compiler) blame(sel *sqlparse.Select, filter *transform.Expr, selects []transform.SelectItem, err error) error {
	var fe *transform.FilterTypeError
	if errors.As(err, &fe) {
		if !isNullLiteral(filter) {
			return errAt(sel.Where, "WHERE needs a boolean condition, got an expression of type %s", sqlTypeName(fe.Type))
		}
		return errAt(sel.Where, "WHERE: %v", fe)
	}
	var ee *transform.ExprError
	if errors.As(err, &ee) {
		if o, ok := c.nodes[ee.At]; ok {
			if o.item < 0 {
				return errAt(o.node, "WHERE: %v", ee)
			}
			return errAt(o.node, "column %q: %v", selects[o.item].Name, ee)
		}
	}
	return errAt(sel, "%v", err)
}

type compiler struct {
	stream     Stream
	streamName string
	cols       map[string]Column
	used       map[string]bool // referenced columns, lower-case
	// nodes maps each expression built to where it came from, so a type
	// error points at the innermost expression that fails.
	nodes map[*transform.Expr]origin
	item  int // the SELECT item being built (its index in the transform's select list), -1 for the WHERE
	depth int // of the expression being built, see MaxExprDepth
}

// origin is where an expression came from: its SQL node, and the SELECT
// item (index in the select list, -1 for the WHERE) it is part of.
type origin struct {
	node sqlparse.Node
	item int
}

func isNullLiteral(e *transform.Expr) bool { return e.Op == "" && e.Column == "" && e.Null }

// sqlTypeName names an Arrow type as the SQL type it stands for, as the
// transform's own errors do (bigint, int, decimal(22,2), ...).
func sqlTypeName(t arrow.DataType) string {
	ds, err := deltalog.DeltaSchema(arrow.NewSchema([]arrow.Field{{Name: "v", Type: t, Nullable: true}}, nil))
	if err != nil || len(ds.Fields) != 1 {
		return t.String()
	}
	name := deltalog.FormatType(ds.Fields[0].Type)
	if sql, ok := map[string]string{"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}[name]; ok {
		return sql
	}
	return name
}

// binaryOps maps SQL operators to transform ops.
var binaryOps = map[string]string{
	"OR": "or", "AND": "and", "=": "=", "<>": "!=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
	"||": "concat", "+": "+", "-": "-", "*": "*", "/": "/", "%": "%",
}

// MaxExprDepth bounds how deeply a query's expressions nest once compiled
// (a chain of AND or OR counts as the logarithm of its length, see
// logical): the worker evaluates the tree recursively and reads it from a
// JSON spec.
const MaxExprDepth = 500

func (c *compiler) expr(e sqlparse.Expr) (*transform.Expr, error) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > MaxExprDepth {
		return nil, errAt(e, "expression nested too deeply (more than %d levels): split it, or use IN (...) or CASE instead of long chains of operators", MaxExprDepth)
	}
	out, err := c.build(e)
	if err != nil {
		return nil, err
	}
	if _, seen := c.nodes[out]; !seen {
		var at sqlparse.Node = e
		if b, ok := e.(*sqlparse.Binary); ok && b.OpPos.Line > 0 {
			at = b.OpPos // a type error of x + y points at the +
		}
		c.nodes[out] = origin{node: at, item: c.item}
	}
	return out, nil
}

func (c *compiler) build(e sqlparse.Expr) (*transform.Expr, error) {
	switch x := e.(type) {
	case *sqlparse.ColumnRef:
		return c.column(x)
	case *sqlparse.Literal:
		return literal(x)
	case *sqlparse.Unary:
		arg, err := c.expr(x.X)
		if err != nil {
			return nil, err
		}
		switch x.Op {
		case "NOT":
			return op("not", arg), nil
		case "-":
			return op("neg", arg), nil
		}
		return arg, nil
	case *sqlparse.Binary:
		if x.Op == "AND" || x.Op == "OR" {
			return c.logical(x)
		}
		l, err := c.expr(x.X)
		if err != nil {
			return nil, err
		}
		r, err := c.expr(x.Y)
		if err != nil {
			return nil, err
		}
		return op(binaryOps[x.Op], l, r), nil
	case *sqlparse.IsNull:
		arg, err := c.expr(x.X)
		if err != nil {
			return nil, err
		}
		if x.Not {
			return op("is_not_null", arg), nil
		}
		return op("is_null", arg), nil
	case *sqlparse.In:
		args, err := c.exprs(append([]sqlparse.Expr{x.X}, x.List...))
		if err != nil {
			return nil, err
		}
		return negate(x.Not, op("in", args...)), nil
	case *sqlparse.Between:
		args, err := c.exprs([]sqlparse.Expr{x.X, x.Lo, x.Hi})
		if err != nil {
			return nil, err
		}
		return negate(x.Not, op("between", args...)), nil
	case *sqlparse.Like:
		args, err := c.exprs([]sqlparse.Expr{x.X, x.Pattern})
		if err != nil {
			return nil, err
		}
		return negate(x.Not, op("like", args...)), nil
	case *sqlparse.Case:
		// Searched CASE: args = when1, then1, ..., [else].
		var args []*transform.Expr
		for _, w := range x.Whens {
			cond := w.Cond
			if x.Operand != nil {
				cond = &sqlparse.Binary{Pos: w.Pos, OpPos: w.Cond.Position(), Op: "=", X: x.Operand, Y: w.Cond}
			}
			pair, err := c.exprs([]sqlparse.Expr{cond, w.Result})
			if err != nil {
				return nil, err
			}
			args = append(args, pair...)
		}
		if x.Else != nil {
			el, err := c.expr(x.Else)
			if err != nil {
				return nil, err
			}
			args = append(args, el)
		}
		return op("case", args...), nil
	case *sqlparse.Cast:
		arg, err := c.expr(x.X)
		if err != nil {
			return nil, err
		}
		return &transform.Expr{Op: "cast", Type: x.Type.Text, Args: []*transform.Expr{arg}}, nil
	case *sqlparse.FuncCall:
		name := strings.ToLower(x.Name.Name)
		if aggregates[name] {
			return nil, errAt(x, "%s is an aggregate function: streaming tables have no windows yet, so queries compute each row on its own", x.Name.Name)
		}
		fn, ok := functions[name]
		if !ok {
			return nil, errAt(x, "unknown function %s (functions: %s)", x.Name.Name, strings.Join(FunctionNames(), ", "))
		}
		for _, a := range x.Args {
			if _, star := a.(*sqlparse.Star); star {
				return nil, errAt(a, "%s(*): * is only an argument of aggregates, which streaming queries do not have yet", x.Name.Name)
			}
		}
		args, err := c.exprs(x.Args)
		if err != nil {
			return nil, err
		}
		return op(fn, args...), nil
	}
	return nil, errAt(e, "%s is not supported in streaming queries yet", sqlparse.Cut(e.String(), sqlparse.MaxExcerpt))
}

// logical compiles a chain of one logical operator (a AND b AND c ...,
// which parses as a left-deep tree as deep as it is long) into a balanced
// tree of the same operator: AND and OR are associative (also with SQL's
// NULLs), so the result is the same, and the tree is only log2(terms)
// deep. Its terms are collected by a loop, not recursion. Each operator
// node built points, for errors, at the SQL operator between its halves.
func (c *compiler) logical(x *sqlparse.Binary) (*transform.Expr, error) {
	type item struct {
		e   sqlparse.Expr
		sep *sqlparse.Binary // set: the operator between two terms
	}
	var terms []sqlparse.Expr
	var seps []*sqlparse.Binary // seps[i] joins terms[i] and terms[i+1]
	stack := []item{{e: x}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.sep != nil {
			seps = append(seps, it.sep)
			continue
		}
		if b, ok := it.e.(*sqlparse.Binary); ok && b.Op == x.Op {
			stack = append(stack, item{e: b.Y}, item{sep: b}, item{e: b.X})
			continue
		}
		terms = append(terms, it.e)
	}
	built, err := c.exprs(terms)
	if err != nil {
		return nil, err
	}
	var balance func(lo, hi int) *transform.Expr
	balance = func(lo, hi int) *transform.Expr {
		if hi-lo == 1 {
			return built[lo]
		}
		mid := (lo + hi + 1) / 2 // three terms stay (a AND b) AND c, as written
		n := op(binaryOps[x.Op], balance(lo, mid), balance(mid, hi))
		var at sqlparse.Node = seps[mid-1]
		if seps[mid-1].OpPos.Line > 0 {
			at = seps[mid-1].OpPos
		}
		c.nodes[n] = origin{node: at, item: c.item}
		return n
	}
	return balance(0, len(built)), nil
}

func (c *compiler) exprs(es []sqlparse.Expr) ([]*transform.Expr, error) {
	out := make([]*transform.Expr, len(es))
	for i, e := range es {
		x, err := c.expr(e)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

func op(name string, args ...*transform.Expr) *transform.Expr {
	return &transform.Expr{Op: name, Args: args}
}

func negate(not bool, e *transform.Expr) *transform.Expr {
	if not {
		return op("not", e)
	}
	return e
}

// column resolves a column reference: col, or stream.col / db.s.stream.col.
func (c *compiler) column(x *sqlparse.ColumnRef) (*transform.Expr, error) {
	parts := make([]string, len(x.Parts))
	for i, p := range x.Parts {
		parts[i] = p.Name
	}
	name := parts[len(parts)-1]
	if len(parts) > 1 {
		if err := c.qualifier(x, x.Parts[:len(x.Parts)-1], strings.Join(parts, ".")); err != nil {
			return nil, err
		}
	}
	l := strings.ToLower(name)
	if col, ok := c.cols[l]; ok {
		c.used[l] = true
		return &transform.Expr{Column: col.Name}, nil
	}
	if _, ok := MetaColumns[l]; ok {
		c.used[l] = true
		return &transform.Expr{Column: l}, nil
	}
	known := make([]string, 0, len(c.cols))
	for _, col := range c.stream.Columns {
		known = append(known, col.Name)
	}
	return nil, errAt(x, "unknown column %q in stream %s (columns: %s; Kafka metadata: kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, kafka_headers)",
		name, c.stream.Name, strings.Join(known, ", "))
}

// qualifier checks the qualifier of a column reference (or *): it must name
// the stream, by its last parts (orders, eu.orders, sales.eu.orders).
func (c *compiler) qualifier(at sqlparse.Node, qual []*sqlparse.Ident, ref string) error {
	q := make([]string, len(qual))
	for i, p := range qual {
		q[i] = strings.ToLower(p.Name)
	}
	qs := strings.Join(q, ".")
	if c.streamName == qs || strings.HasSuffix(c.streamName, "."+qs) {
		return nil
	}
	return errAt(at, "%s: %q does not name the stream %s (struct field access is not supported yet)", ref, qs, c.stream.Name)
}

func literal(l *sqlparse.Literal) (*transform.Expr, error) {
	switch l.Kind {
	case sqlparse.LitNumber:
		if _, err := strconv.ParseInt(l.Value, 10, 64); err == nil {
			return &transform.Expr{Literal: l.Value, Type: "BIGINT"}, nil
		}
		if strings.ContainsAny(l.Value, "eE") {
			return &transform.Expr{Literal: l.Value, Type: "DOUBLE"}, nil
		}
		// An exact decimal literal keeps its digits.
		digits := strings.TrimLeft(strings.Replace(strings.TrimPrefix(l.Value, "-"), ".", "", 1), "0")
		scale := 0
		if i := strings.IndexByte(l.Value, '.'); i >= 0 {
			scale = len(l.Value) - i - 1
		}
		prec := max(len(digits), scale, 1)
		if prec > 38 {
			return &transform.Expr{Literal: l.Value, Type: "DOUBLE"}, nil
		}
		return &transform.Expr{Literal: l.Value, Type: fmt.Sprintf("DECIMAL(%d,%d)", prec, scale)}, nil
	case sqlparse.LitString:
		return &transform.Expr{Literal: l.Value, Type: "STRING"}, nil
	case sqlparse.LitBool:
		return &transform.Expr{Literal: strings.ToLower(l.Value), Type: "BOOLEAN"}, nil
	case sqlparse.LitNull:
		return &transform.Expr{Null: true, Type: "STRING"}, nil
	case sqlparse.LitDate:
		return &transform.Expr{Literal: l.Value, Type: "DATE"}, nil
	case sqlparse.LitTimestamp:
		return &transform.Expr{Literal: l.Value, Type: "TIMESTAMP"}, nil
	}
	return nil, errAt(l, "%s literals are not supported in streaming queries yet", l.Kind)
}

// decodeColumns are the stream's columns plus the metadata pseudo-columns
// the query uses.
func (c *compiler) decodeColumns() []ingest.ColumnSpec {
	var out []ingest.ColumnSpec
	for _, col := range c.stream.Columns {
		nullable := col.Nullable
		out = append(out, ingest.ColumnSpec{Name: col.Name, Type: deltalog.FormatType(col.Type), Nullable: &nullable})
	}
	var metas []string
	for name := range MetaColumns {
		if c.used[name] {
			metas = append(metas, name)
		}
	}
	sort.Strings(metas)
	for _, m := range metas {
		out = append(out, ingest.ColumnSpec{Name: m, Meta: MetaColumns[m]})
	}
	return out
}

func (c *compiler) decodeSchema(specCols []ingest.ColumnSpec) (*arrow.Schema, error) {
	s := &ingest.Spec{Decode: ingest.DecodeSpec{Columns: specCols}}
	cols, err := s.DecodeColumns()
	if err != nil {
		return nil, err
	}
	fields := make([]deltalog.Field, len(cols))
	for i, col := range cols {
		fields[i] = deltalog.Field{Name: col.Name, Type: col.Type, Nullable: col.Nullable}
	}
	return deltalog.ArrowSchema(deltalog.Struct(fields...))
}

// source fills the Kafka side from the stream's and its store's properties.
func (c *compiler) source(src *ingest.SourceSpec, dec *ingest.DecodeSpec) error {
	sp, st := c.stream.Props, c.stream.StoreProps
	src.Topic = sp["topic"]
	if src.Topic == "" {
		return fmt.Errorf("stream %s has no 'topic' property", c.stream.Name)
	}
	for _, b := range strings.Split(st["bootstrap.servers"], ",") {
		if b = strings.TrimSpace(b); b != "" {
			src.Brokers = append(src.Brokers, b)
		}
	}
	if len(src.Brokers) == 0 {
		return fmt.Errorf("the store of stream %s has no 'bootstrap.servers'", c.stream.Name)
	}
	switch pos := strings.ToLower(sp["starting.position"]); pos {
	case "", "earliest":
		src.Start = "earliest"
	case "latest":
		src.Start = "latest"
	default:
		if _, err := time.Parse(time.RFC3339Nano, sp["starting.position"]); err != nil {
			return fmt.Errorf("stream %s: 'starting.position' %q is not earliest, latest or an RFC 3339 time", c.stream.Name, sp["starting.position"])
		}
		src.Start = sp["starting.position"]
	}
	switch proto := strings.ToUpper(st["security.protocol"]); proto {
	case "", "PLAINTEXT":
	case "SSL", "SASL_SSL", "SASL_PLAINTEXT":
		if proto != "SASL_PLAINTEXT" {
			src.TLS = &ingest.TLSSpec{CAFile: st["ssl.ca.location"], CertFile: st["ssl.certificate.location"], KeyFile: st["ssl.key.location"]}
		}
		if strings.HasPrefix(proto, "SASL") {
			src.SASL = &ingest.SASLSpec{Mechanism: st["sasl.mechanism"], Username: st["sasl.username"], Password: st["sasl.password"]}
		}
	default:
		return fmt.Errorf("store of stream %s: 'security.protocol' %q is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", c.stream.Name, proto)
	}
	dec.Format = strings.ToLower(sp["value.format"])
	if dec.Format == "" {
		dec.Format = "json"
	}
	dec.SchemaRegistry = RegistrySpec(st)
	dec.Columns = c.decodeColumns()
	return nil
}

// RegistrySpec is the Schema Registry of a store, from its properties
// 'schema.registry.url', 'schema.registry.username' and
// 'schema.registry.password' (a secret reference), or nil without a URL.
func RegistrySpec(storeProps map[string]string) *ingest.SchemaRegistrySpec {
	u := storeProps["schema.registry.url"]
	if u == "" {
		return nil
	}
	return &ingest.SchemaRegistrySpec{URL: u, Username: storeProps["schema.registry.username"], Password: storeProps["schema.registry.password"]}
}

// sink fills the table side and the flush policy from the table's properties.
func (c *compiler) sink(spec *ingest.Spec, tbl Table, schema *deltalog.Schema) error {
	spec.Sink.Table = tbl.Location
	p := tbl.Props
	if v := strings.TrimSpace(p["location"]); v != "" {
		spec.Sink.Table = v
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(TableProps, k) {
			return &propError{k, fmt.Sprintf("unknown table property %q (properties: %s)", k, strings.Join(TableProps, ", "))}
		}
	}
	if v, ok := p["partitioned.by"]; ok {
		seen := map[string]bool{}
		for _, col := range strings.Split(v, ",") {
			col = strings.TrimSpace(col)
			f := schema.FieldByName(col)
			switch {
			case f == nil:
				return &propError{"partitioned.by", fmt.Sprintf("'partitioned.by': %q is not a column of the query", col)}
			case seen[strings.ToLower(col)]:
				return &propError{"partitioned.by", fmt.Sprintf("'partitioned.by': %q is listed twice", col)}
			case !partitionable(f.Type):
				return &propError{"partitioned.by", fmt.Sprintf("'partitioned.by': column %q is a %s, and a table can only be partitioned by a column of a primitive type", col, deltalog.FormatType(f.Type))}
			}
			seen[strings.ToLower(col)] = true
			spec.Sink.PartitionBy = append(spec.Sink.PartitionBy, f.Name)
		}
		if len(spec.Sink.PartitionBy) == len(schema.Fields) {
			return &propError{"partitioned.by", "'partitioned.by' lists every column of the query: leave at least one out"}
		}
	}
	if v, ok := p["flush.interval"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return &propError{"flush.interval", fmt.Sprintf("'flush.interval' %q: want a duration such as 10s or 1m", v)}
		}
		if d < ingest.MinFlushInterval {
			return &propError{"flush.interval", fmt.Sprintf("'flush.interval' %q: want at least %s", v, ingest.MinFlushInterval)}
		}
		spec.Flush.Interval.Duration = d
	}
	if v, ok := p["flush.max.bytes"]; ok {
		n, err := ingest.ParseByteSize(v)
		if err != nil {
			return &propError{"flush.max.bytes", fmt.Sprintf("'flush.max.bytes': %v", err)}
		}
		if n < ingest.MinFlushBytes {
			return &propError{"flush.max.bytes", fmt.Sprintf("'flush.max.bytes' %q: want at least 64KiB", v)}
		}
		spec.Flush.MaxBytes = ingest.ByteSize(n)
	}
	if v, ok := p["target.file.size"]; ok {
		n, err := ingest.ParseByteSize(v)
		if err != nil {
			return &propError{"target.file.size", fmt.Sprintf("'target.file.size': %v", err)}
		}
		if n < 1<<20 {
			return &propError{"target.file.size", fmt.Sprintf("'target.file.size' %q: want at least 1MiB", v)}
		}
		spec.Sink.TargetFileSize = ingest.ByteSize(n)
	}
	if v, ok := p["kms.key"]; ok {
		if strings.TrimSpace(v) == "" {
			return &propError{"kms.key", "'kms.key' is empty: give a KMS key id or ARN, or leave the property out"}
		}
		spec.Sink.KMSKey = v
	}
	spec.ApplyDefaults()
	return spec.Validate()
}

// propError is an error about one table property (positioned at it).
type propError struct{ key, msg string }

func (e *propError) Error() string { return e.msg }

// partitionable reports whether a column of type t can partition a table
// (Delta partition values are strings of primitive values).
func partitionable(t *deltalog.Type) bool {
	switch t.Name {
	case deltalog.TypeStruct, deltalog.TypeArray, deltalog.TypeMap, deltalog.TypeBinary:
		return false
	}
	return true
}
