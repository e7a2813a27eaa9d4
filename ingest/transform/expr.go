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
	// Op applies an operator to Args: = != < <= > >= + - * / and or not
	// is_null is_not_null in cast.
	Op   string  `yaml:"op,omitempty" json:"op,omitempty"`
	Args []*Expr `yaml:"args,omitempty" json:"args,omitempty"`
}

// Evaluator computes an expression over a record batch.
type Evaluator interface {
	// Type is the Arrow type of the result.
	Type() arrow.DataType
	// Nullable reports whether the result can hold nulls.
	Nullable() bool
	// Eval returns one value per row of rec (the caller releases it).
	Eval(ctx context.Context, rec arrow.Record) (arrow.Array, error)
}

var binaryFuncs = map[string]string{
	"=": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal",
	"+": "add", "-": "subtract", "*": "multiply", "/": "divide",
	"and": "and_kleene", "or": "or_kleene",
}

// Compile type-checks the expression against schema.
func (e *Expr) Compile(schema *arrow.Schema) (Evaluator, error) {
	if e == nil {
		return nil, fmt.Errorf("missing expression")
	}
	switch {
	case e.Column != "":
		idx := schema.FieldIndices(e.Column)
		if len(idx) == 0 {
			for i, f := range schema.Fields() {
				if strings.EqualFold(f.Name, e.Column) {
					idx = []int{i}
				}
			}
		}
		if len(idx) != 1 {
			return nil, fmt.Errorf("unknown column %q", e.Column)
		}
		f := schema.Field(idx[0])
		return &columnEval{idx: idx[0], typ: f.Type, nullable: f.Nullable}, nil
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
		return newCallEval(fn, args)
	}
	switch op {
	case "not":
		if len(args) != 1 {
			return nil, fmt.Errorf("NOT takes 1 argument, got %d", len(args))
		}
		// Arrow Go registers no "invert" kernel: NOT x is x XOR true (null stays null).
		return newCallEval("xor", []Evaluator{args[0], &literalEval{sc: scalar.NewBooleanScalar(true)}})
	case "is_null", "is_not_null":
		if len(args) != 1 {
			return nil, fmt.Errorf("%s takes 1 argument, got %d", strings.ToUpper(op), len(args))
		}
		return &nullTestEval{arg: args[0], want: op == "is_null"}, nil
	case "cast":
		if len(args) != 1 {
			return nil, fmt.Errorf("CAST takes 1 argument, got %d", len(args))
		}
		dt, err := arrowType(e.Type)
		if err != nil {
			return nil, fmt.Errorf("CAST: %w", err)
		}
		return &castEval{arg: args[0], to: dt}, nil
	}
	return nil, fmt.Errorf("unsupported operator %q", e.Op)
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
func (c *columnEval) Eval(_ context.Context, rec arrow.Record) (arrow.Array, error) {
	a := rec.Column(c.idx)
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
func (l *literalEval) Eval(_ context.Context, rec arrow.Record) (arrow.Array, error) {
	return scalar.MakeArrayFromScalar(l.sc, int(rec.NumRows()), memory.DefaultAllocator)
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
func (c *callEval) Eval(ctx context.Context, rec arrow.Record) (arrow.Array, error) {
	ds := make([]compute.Datum, len(c.args))
	for i, a := range c.args {
		arr, err := a.Eval(ctx, rec)
		if err != nil {
			return nil, err
		}
		defer arr.Release()
		ds[i] = compute.NewDatum(arr)
	}
	out, err := compute.CallFunction(ctx, c.fn, nil, ds...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.fn, err)
	}
	defer out.Release()
	return out.(*compute.ArrayDatum).MakeArray(), nil
}

type nullTestEval struct {
	arg  Evaluator
	want bool
}

func (n *nullTestEval) Type() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *nullTestEval) Nullable() bool       { return false }
func (n *nullTestEval) Eval(ctx context.Context, rec arrow.Record) (arrow.Array, error) {
	a, err := n.arg.Eval(ctx, rec)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(a.Len())
	for i := 0; i < a.Len(); i++ {
		b.UnsafeAppend(a.IsNull(i) == n.want)
	}
	return b.NewArray(), nil
}

type castEval struct {
	arg Evaluator
	to  arrow.DataType
}

func (c *castEval) Type() arrow.DataType { return c.to }
func (c *castEval) Nullable() bool       { return true }
func (c *castEval) Eval(ctx context.Context, rec arrow.Record) (arrow.Array, error) {
	a, err := c.arg.Eval(ctx, rec)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	return compute.CastArray(ctx, a, compute.SafeCastOptions(c.to))
}
