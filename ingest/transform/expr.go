package transform

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/arrow/scalar"

	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
)

// Expr is an expression tree, serialisable in pipeline specs. Exactly one
// of Column, Literal or Op is set.
type Expr struct {
	// Column references an input column by name.
	Column string `yaml:"column,omitempty" json:"column,omitempty"`
	// Literal is a constant, given as text and parsed as Type (a DDL type;
	// NULL literals have Literal "" and Null true).
	Literal string `yaml:"literal,omitempty" json:"literal,omitempty"`
	Null    bool   `yaml:"null,omitempty" json:"null,omitempty"`
	// Type is the literal's type, or the target type of a cast.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// Op applies an operator or function to Args; see doc.go for the list,
	// the argument layouts and the NULL semantics.
	Op   string  `yaml:"op,omitempty" json:"op,omitempty"`
	Args []*Expr `yaml:"args,omitempty" json:"args,omitempty"`
}

// Evaluator computes an expression over a record batch.
type Evaluator interface {
	// Type is the Arrow type of the result.
	Type() arrow.DataType
	// Nullable reports whether the result can hold nulls.
	Nullable() bool
	// Eval returns one value per row of b.Rec (the caller releases it).
	// A row it cannot compute (division by zero, a value a cast cannot
	// convert) is reported with b.Fail and is null in the result; a
	// non-nil error fails the whole batch.
	Eval(ctx context.Context, b *Batch) (arrow.Array, error)
}

// String renders the expression as SQL, for error messages.
func (e *Expr) String() string {
	switch {
	case e == nil:
		return "<nil>"
	case e.Column != "":
		return e.Column
	case e.Op == "" && e.Null:
		return "NULL"
	case e.Op == "":
		if t := strings.ToUpper(e.Type); t == "STRING" || strings.HasPrefix(t, "DATE") || strings.HasPrefix(t, "TIMESTAMP") {
			return "'" + strings.ReplaceAll(e.Literal, "'", "''") + "'"
		}
		return e.Literal
	}
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		args[i] = a.String()
	}
	op := strings.ToLower(e.Op)
	switch {
	case op == "neg" && len(args) == 1:
		return "(-" + args[0] + ")"
	case op == "not" && len(args) == 1:
		return "(NOT " + args[0] + ")"
	case op == "is_null" && len(args) == 1:
		return "(" + args[0] + " IS NULL)"
	case op == "is_not_null" && len(args) == 1:
		return "(" + args[0] + " IS NOT NULL)"
	case op == "cast" && len(args) == 1:
		return "CAST(" + args[0] + " AS " + e.Type + ")"
	case op == "between" && len(args) == 3:
		return "(" + args[0] + " BETWEEN " + args[1] + " AND " + args[2] + ")"
	case op == "in" && len(args) > 0:
		return "(" + args[0] + " IN (" + strings.Join(args[1:], ", ") + "))"
	case op == "like" && len(args) >= 2:
		s := "(" + args[0] + " LIKE " + args[1]
		if len(args) == 3 {
			s += " ESCAPE " + args[2]
		}
		return s + ")"
	case op == "case":
		var sb strings.Builder
		sb.WriteString("CASE")
		for i := 0; i+1 < len(args); i += 2 {
			sb.WriteString(" WHEN " + args[i] + " THEN " + args[i+1])
		}
		if len(args)%2 == 1 {
			sb.WriteString(" ELSE " + args[len(args)-1])
		}
		return sb.String() + " END"
	}
	if _, ok := binaryFuncs[op]; ok && len(args) == 2 {
		return "(" + args[0] + " " + strings.ToUpper(e.Op) + " " + args[1] + ")"
	}
	if strings.Contains("+-*/%||", op) && len(args) == 2 {
		return "(" + strings.Join(args, " "+op+" ") + ")"
	}
	return op + "(" + strings.Join(args, ", ") + ")"
}

// binaryFuncs are the operators evaluated by an Arrow compute function once
// both sides have a common type.
var binaryFuncs = map[string]string{
	"=": "equal", "!=": "not_equal", "<>": "not_equal", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal",
	"and": "and_kleene", "or": "or_kleene",
}

// compileFunc builds the evaluator of an operator or function from its
// compiled arguments. e is the whole expression (for options such as the
// CAST type, and for error messages).
type compileFunc func(e *Expr, args []Evaluator) (Evaluator, error)

// funcs holds every operator and function beyond the comparisons; it is
// filled by init functions in the files that implement them.
var funcs = map[string]compileFunc{}

// Compile type-checks the expression against schema. Mixed numeric types
// are made to agree by explicit casts inserted here (see coerce.go).
func (e *Expr) Compile(schema *arrow.Schema) (Evaluator, error) {
	if e == nil {
		return nil, fmt.Errorf("missing expression")
	}
	switch {
	case e.Column != "":
		idx := arrowutil.FieldIndexFold(schema, e.Column)
		if idx < 0 {
			return nil, fmt.Errorf("unknown column %q", e.Column)
		}
		f := schema.Field(idx)
		return &columnEval{idx: idx, typ: f.Type, nullable: f.Nullable}, nil
	case e.Op == "":
		return compileLiteral(e)
	}
	args := make([]Evaluator, len(e.Args))
	for i, a := range e.Args {
		ev, err := a.Compile(schema)
		if err != nil {
			return nil, err
		}
		args[i] = ev
	}
	op := strings.ToLower(e.Op)
	if fn, ok := binaryFuncs[op]; ok {
		if len(args) != 2 {
			return nil, fmt.Errorf("operator %s takes 2 arguments, got %d", e.Op, len(args))
		}
		if op == "and" || op == "or" {
			if err := wantBool(op, args); err != nil {
				return nil, err
			}
			return newCallEval(fn, args)
		}
		return compileCompare(fn, e, args)
	}
	if op == "||" {
		op = "concat"
	}
	if f, ok := funcs[op]; ok {
		return f(e, args)
	}
	return nil, fmt.Errorf("unsupported operator %q", e.Op)
}

func init() {
	funcs["not"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		if err := wantArgs("NOT", args, 1, 1); err != nil {
			return nil, err
		}
		if err := wantBool("NOT", args); err != nil {
			return nil, err
		}
		// Arrow Go registers no "invert" kernel: NOT x is x XOR true (null stays null).
		return newCallEval("xor", []Evaluator{args[0], &literalEval{sc: scalar.NewBooleanScalar(true)}})
	}
	nullTest := func(e *Expr, args []Evaluator) (Evaluator, error) {
		op := strings.ToLower(e.Op)
		if err := wantArgs(strings.ToUpper(op), args, 1, 1); err != nil {
			return nil, err
		}
		return &nullTestEval{arg: args[0], want: op == "is_null"}, nil
	}
	funcs["is_null"] = nullTest
	funcs["is_not_null"] = nullTest
}

// wantArgs checks the number of arguments of fn.
func wantArgs(fn string, args []Evaluator, lo, hi int) error {
	switch {
	case lo == hi && len(args) != lo:
		return fmt.Errorf("%s takes %d argument%s, got %d", fn, lo, plural(lo), len(args))
	case len(args) < lo:
		return fmt.Errorf("%s takes at least %d argument%s, got %d", fn, lo, plural(lo), len(args))
	case hi >= 0 && len(args) > hi:
		return fmt.Errorf("%s takes at most %d argument%s, got %d", fn, hi, plural(hi), len(args))
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// wantBool checks that every argument of fn is boolean; a NULL literal
// (of any type) becomes a boolean NULL in place.
func wantBool(fn string, args []Evaluator) error {
	for i, a := range args {
		if n, ok := nullAs(a, arrow.FixedWidthTypes.Boolean); ok {
			args[i] = n
			continue
		}
		if a.Type().ID() != arrow.BOOL {
			return argTypeErr(fn, i, "boolean", a)
		}
	}
	return nil
}

// nullAs returns a NULL literal of type t if ev is a NULL literal: the SQL
// front end types a bare NULL as string, and it must fit anywhere.
func nullAs(ev Evaluator, t arrow.DataType) (Evaluator, bool) {
	if l, ok := ev.(*literalEval); ok && !l.sc.IsValid() {
		return &literalEval{sc: scalar.MakeNullScalar(t)}, true
	}
	return nil, false
}

// argTypeErr is the compile error for argument i (0-based) of fn.
func argTypeErr(fn string, i int, want string, a Evaluator) error {
	return fmt.Errorf("%s: argument %d must be %s, got %s", fn, i+1, want, sqlType(a.Type()))
}

// sqlType names an Arrow type as the SQL type it stands for.
func sqlType(t arrow.DataType) string {
	switch dt := t.(type) {
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(%d,%d)", dt.Precision, dt.Scale)
	case *arrow.TimestampType:
		if dt.TimeZone == "" {
			return "timestamp_ntz"
		}
		return "timestamp"
	case *arrow.ListType:
		return "array<" + sqlType(dt.Elem()) + ">"
	case *arrow.MapType:
		return "map<" + sqlType(dt.KeyType()) + ", " + sqlType(dt.ItemType()) + ">"
	case *arrow.StructType:
		fields := make([]string, len(dt.Fields()))
		for i, f := range dt.Fields() {
			fields[i] = f.Name + ": " + sqlType(f.Type)
		}
		return "struct<" + strings.Join(fields, ", ") + ">"
	}
	switch t.ID() {
	case arrow.BOOL:
		return "boolean"
	case arrow.INT8:
		return "tinyint"
	case arrow.INT16:
		return "smallint"
	case arrow.INT32:
		return "int"
	case arrow.INT64:
		return "bigint"
	case arrow.FLOAT32:
		return "float"
	case arrow.FLOAT64:
		return "double"
	case arrow.STRING:
		return "string"
	case arrow.BINARY:
		return "binary"
	case arrow.DATE32:
		return "date"
	}
	return t.String()
}

// arrowType maps a DDL type to the Arrow type Sluice writes it as.
func arrowType(ddl string) (arrow.DataType, error) {
	t, err := deltalog.ParseType(ddl)
	if err != nil {
		return nil, err
	}
	s, err := parquetio.ArrowSchema(deltalog.Struct(deltalog.Field{Name: "v", Type: t, Nullable: true}))
	if err != nil {
		return nil, err
	}
	return s.Field(0).Type, nil
}

type columnEval struct {
	idx      int
	typ      arrow.DataType
	nullable bool
}

func (c *columnEval) Type() arrow.DataType { return c.typ }
func (c *columnEval) Nullable() bool       { return c.nullable }
func (c *columnEval) Eval(_ context.Context, b *Batch) (arrow.Array, error) {
	a := b.Rec.Column(c.idx)
	a.Retain()
	return a, nil
}

type literalEval struct{ sc scalar.Scalar }

func compileLiteral(e *Expr) (Evaluator, error) {
	if e.Type == "" {
		return nil, fmt.Errorf("literal %q: missing type", e.Literal)
	}
	dt, err := arrowType(e.Type)
	if err != nil {
		return nil, fmt.Errorf("literal %q: %w", e.Literal, err)
	}
	if e.Null {
		return &literalEval{sc: scalar.MakeNullScalar(dt)}, nil
	}
	sc, err := scalar.ParseScalar(dt, e.Literal)
	if err != nil {
		return nil, fmt.Errorf("literal %q is not a valid %s: %w", e.Literal, e.Type, err)
	}
	return &literalEval{sc: sc}, nil
}

func (l *literalEval) Type() arrow.DataType { return l.sc.DataType() }
func (l *literalEval) Nullable() bool       { return !l.sc.IsValid() }
func (l *literalEval) Eval(_ context.Context, b *Batch) (arrow.Array, error) {
	return scalar.MakeArrayFromScalar(l.sc, int(b.Rec.NumRows()), memory.DefaultAllocator)
}

// callEval calls an Arrow compute function on its arguments' values.
type callEval struct {
	fn   string
	args []Evaluator
	typ  arrow.DataType
}

func newCallEval(fn string, args []Evaluator) (Evaluator, error) {
	// Type-check on empty arrays: the kernel resolution is the type system.
	ds := make([]compute.Datum, len(args))
	for i, a := range args {
		arr := array.MakeArrayOfNull(memory.DefaultAllocator, a.Type(), 0)
		defer arr.Release()
		ds[i] = compute.NewDatum(arr)
	}
	out, err := compute.CallFunction(context.Background(), fn, nil, ds...)
	if err != nil {
		types := make([]string, len(args))
		for i, a := range args {
			types[i] = a.Type().String()
		}
		return nil, fmt.Errorf("%s is not defined for (%s)", fn, strings.Join(types, ", "))
	}
	defer out.Release()
	return &callEval{fn: fn, args: args, typ: out.(*compute.ArrayDatum).Type()}, nil
}

func (c *callEval) Type() arrow.DataType { return c.typ }
func (c *callEval) Nullable() bool {
	for _, a := range c.args {
		if a.Nullable() {
			return true
		}
	}
	return false
}
func (c *callEval) Eval(ctx context.Context, b *Batch) (arrow.Array, error) {
	arrs := make([]arrow.Array, len(c.args))
	for i, a := range c.args {
		arr, err := a.Eval(ctx, b)
		if err != nil {
			return nil, err
		}
		defer arr.Release()
		arrs[i] = arr
	}
	return callArrays(ctx, c.fn, arrs...)
}

type nullTestEval struct {
	arg  Evaluator
	want bool
}

func (n *nullTestEval) Type() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *nullTestEval) Nullable() bool       { return false }
func (n *nullTestEval) Eval(ctx context.Context, b *Batch) (arrow.Array, error) {
	a, err := n.arg.Eval(ctx, b)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	bb := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer bb.Release()
	bb.Reserve(a.Len())
	for i := 0; i < a.Len(); i++ {
		bb.UnsafeAppend(a.IsNull(i) == n.want)
	}
	return bb.NewArray(), nil
}
