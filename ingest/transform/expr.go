package transform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/arrow/scalar"

	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
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

// maxExprText bounds String: evaluators name their expression with it at
// compile time, so an unbounded rendering would make compiling a deep
// tree quadratic in its depth.
const maxExprText = 256

// String renders the expression as SQL, for error messages, cut at about
// 256 bytes (with "..."). Its cost is bounded by that too: every node
// writes something before its first argument, so the walk stops at the
// cut however deep the tree.
func (e *Expr) String() string {
	w := &exprWriter{}
	w.expr(e)
	if w.b.Len() > maxExprText {
		return w.b.String()[:maxExprText] + "..."
	}
	return w.b.String()
}

// exprWriter renders an Expr until it holds more than maxExprText bytes.
type exprWriter struct{ b strings.Builder }

func (w *exprWriter) full() bool { return w.b.Len() > maxExprText }

func (w *exprWriter) str(ss ...string) {
	for _, s := range ss {
		if w.full() {
			return
		}
		w.b.WriteString(s)
	}
}

// args writes e's arguments from..to-1 separated by sep.
func (w *exprWriter) args(e *Expr, from, to int, sep string) {
	for i := from; i < to && !w.full(); i++ {
		if i > from {
			w.str(sep)
		}
		w.expr(e.Args[i])
	}
}

// unaryText is how String wraps the argument of each one-argument operator.
var unaryText = map[string][2]string{"neg": {"(-", ")"}, "not": {"(NOT ", ")"}, "is_null": {"(", " IS NULL)"}, "is_not_null": {"(", " IS NOT NULL)"}}

func (w *exprWriter) expr(e *Expr) {
	if w.full() {
		return
	}
	switch {
	case e == nil:
		w.str("<nil>")
		return
	case e.Column != "":
		w.str(e.Column)
		return
	case e.Op == "" && e.Null:
		w.str("NULL")
		return
	case e.Op == "":
		if t := strings.ToUpper(e.Type); t == "STRING" || strings.HasPrefix(t, "DATE") || strings.HasPrefix(t, "TIMESTAMP") {
			w.str("'" + strings.ReplaceAll(e.Literal, "'", "''") + "'")
			return
		}
		w.str(e.Literal)
		return
	}
	n := len(e.Args)
	op := strings.ToLower(e.Op)
	if u, ok := unaryText[op]; ok && n == 1 {
		w.str(u[0])
		w.expr(e.Args[0])
		w.str(u[1])
		return
	}
	switch {
	case op == "cast" && n == 1:
		w.str("CAST(")
		w.expr(e.Args[0])
		w.str(" AS ", e.Type, ")")
		return
	case op == "between" && n == 3:
		w.str("(")
		w.expr(e.Args[0])
		w.str(" BETWEEN ")
		w.expr(e.Args[1])
		w.str(" AND ")
		w.expr(e.Args[2])
		w.str(")")
		return
	case op == "in" && n > 0:
		w.str("(")
		w.expr(e.Args[0])
		w.str(" IN (")
		w.args(e, 1, n, ", ")
		w.str("))")
		return
	case op == "like" && n >= 2:
		w.str("(")
		w.expr(e.Args[0])
		w.str(" LIKE ")
		w.expr(e.Args[1])
		if n == 3 {
			w.str(" ESCAPE ")
			w.expr(e.Args[2])
		}
		w.str(")")
		return
	case op == "case":
		w.str("CASE")
		for i := 0; i+1 < n && !w.full(); i += 2 {
			w.str(" WHEN ")
			w.expr(e.Args[i])
			w.str(" THEN ")
			w.expr(e.Args[i+1])
		}
		if n%2 == 1 {
			w.str(" ELSE ")
			w.expr(e.Args[n-1])
		}
		w.str(" END")
		return
	}
	if _, ok := binaryFuncs[op]; ok && n == 2 {
		w.str("(")
		w.args(e, 0, 2, " "+strings.ToUpper(e.Op)+" ")
		w.str(")")
		return
	}
	if strings.Contains("+-*/%||", op) && n == 2 {
		w.str("(")
		w.args(e, 0, 2, " "+op+" ")
		w.str(")")
		return
	}
	w.str(op, "(")
	w.args(e, 0, n, ", ")
	w.str(")")
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
// are made to agree by explicit casts inserted here (see coerce.go). Each
// node is compiled once; on failure the error is an *ExprError naming the
// node to blame.
func (e *Expr) Compile(schema *arrow.Schema) (Evaluator, error) {
	ev, err := e.compileNode(schema)
	if err != nil {
		var ee *ExprError
		if errors.As(err, &ee) {
			return nil, ee
		}
		return nil, &ExprError{At: e, Err: err}
	}
	return ev, nil
}

// ExprError is the failure to compile an expression: At is the innermost
// sub-expression that fails on its own (its arguments all compile), the
// one an error message should point at, and Err says why.
type ExprError struct {
	At  *Expr
	Err error
}

func (e *ExprError) Error() string { return e.Err.Error() }
func (e *ExprError) Unwrap() error { return e.Err }

// compileNode compiles e; an argument's failure comes back as its
// *ExprError.
func (e *Expr) compileNode(schema *arrow.Schema) (Evaluator, error) {
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
			return nil, err // an *ExprError at the argument's failing node
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
	s, err := deltalog.ArrowSchema(deltalog.Struct(deltalog.Field{Name: "v", Type: t, Nullable: true}))
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
	var key strings.Builder
	key.WriteString(fn)
	for _, a := range args {
		key.WriteByte(0)
		key.WriteString(a.Type().Fingerprint())
	}
	if typ, ok := kernels.get(key.String()); ok {
		if typ == nil {
			return nil, callTypeErr(fn, args)
		}
		return &callEval{fn: fn, args: args, typ: typ}, nil
	}
	// Type-check on empty arrays: the kernel resolution is the type system.
	ds := make([]compute.Datum, len(args))
	for i, a := range args {
		arr := array.MakeArrayOfNull(memory.DefaultAllocator, a.Type(), 0)
		defer arr.Release()
		ds[i] = compute.NewDatum(arr)
	}
	out, err := compute.CallFunction(context.Background(), fn, nil, ds...)
	if err != nil {
		kernels.put(key.String(), nil)
		return nil, callTypeErr(fn, args)
	}
	defer out.Release()
	typ := out.(*compute.ArrayDatum).Type()
	kernels.put(key.String(), typ)
	return &callEval{fn: fn, args: args, typ: typ}, nil
}

func callTypeErr(fn string, args []Evaluator) error {
	types := make([]string, len(args))
	for i, a := range args {
		types[i] = a.Type().String()
	}
	return fmt.Errorf("%s is not defined for (%s)", fn, strings.Join(types, ", "))
}

// kernels caches the result type of a compute function by its argument
// types (nil: not defined for them): resolving a kernel on empty arrays
// costs tens of microseconds, and a long chain of comparisons asks the
// same question once per term. It stops growing at maxKernels entries.
var kernels = kernelCache{m: map[string]arrow.DataType{}}

const maxKernels = 4096

type kernelCache struct {
	mu sync.Mutex
	m  map[string]arrow.DataType
}

func (c *kernelCache) get(k string) (arrow.DataType, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[k]
	return t, ok
}

func (c *kernelCache) put(k string, t arrow.DataType) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) < maxKernels {
		c.m[k] = t
	}
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
