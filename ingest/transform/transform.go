// Package transform filters rows and computes columns over Arrow batches.
// It is the target the SQL compiler compiles WHERE and SELECT lists into.
package transform

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/sluice-io/sluice/deltawriter/arrowutil"
)

// Transform filters and computes columns over record batches.
type Transform interface {
	// OutputSchema is the schema of the records Apply returns.
	OutputSchema() *arrow.Schema
	// Apply returns the transformed rows of rec (the caller releases it) and
	// the rows of rec that failed (e.g. a cast that cannot convert a value),
	// which are not in the output and go to the dead-letter table. A non-nil
	// error fails the whole batch.
	Apply(ctx context.Context, rec arrow.Record) (arrow.Record, []RowError, error)
}

// RowError is a row that could not be transformed.
type RowError struct {
	Row int // index in the input record
	Err error
}

// Spec is a compiled query: a filter and a select list.
type Spec struct {
	// Filter keeps rows for which it is true (SQL semantics: null drops).
	Filter *Expr `yaml:"filter,omitempty" json:"filter,omitempty"`
	// Select lists the output columns; empty keeps the input columns.
	Select []SelectItem `yaml:"select,omitempty" json:"select,omitempty"`
}

// SelectItem is one output column.
type SelectItem struct {
	Name string `yaml:"name" json:"name"`
	Expr *Expr  `yaml:"expr" json:"expr"`
}

// Identity returns rows unchanged.
type Identity struct{ Schema *arrow.Schema }

// OutputSchema implements Transform.
func (t Identity) OutputSchema() *arrow.Schema { return t.Schema }

// Apply implements Transform.
func (t Identity) Apply(_ context.Context, rec arrow.Record) (arrow.Record, []RowError, error) {
	rec.Retain()
	return rec, nil, nil
}

// compiled is a Transform built from a Spec.
type compiled struct {
	filter Evaluator
	cols   []Evaluator
	out    *arrow.Schema
}

// Compile type-checks spec against the input schema and returns the
// Transform. Errors name the expression and why it is invalid.
func Compile(in *arrow.Schema, spec *Spec) (Transform, error) {
	if spec == nil || (spec.Filter == nil && len(spec.Select) == 0) {
		return Identity{Schema: in}, nil
	}
	c := &compiled{}
	if spec.Filter != nil {
		ev, err := spec.Filter.Compile(in)
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		if ev.Type().ID() != arrow.BOOL {
			return nil, fmt.Errorf("filter: expression has type %s, want boolean", ev.Type())
		}
		c.filter = ev
	}
	if len(spec.Select) == 0 {
		for i, f := range in.Fields() {
			c.cols = append(c.cols, &columnEval{idx: i, typ: f.Type, nullable: f.Nullable})
		}
		c.out = in
		return c, nil
	}
	fields := make([]arrow.Field, 0, len(spec.Select))
	seen := map[string]bool{}
	for i, s := range spec.Select {
		if s.Name == "" {
			return nil, fmt.Errorf("select item %d: missing name", i+1)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("select item %d: duplicate column name %q", i+1, s.Name)
		}
		seen[s.Name] = true
		ev, err := s.Expr.Compile(in)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", s.Name, err)
		}
		c.cols = append(c.cols, ev)
		fields = append(fields, arrow.Field{Name: s.Name, Type: ev.Type(), Nullable: ev.Nullable()})
	}
	c.out = arrow.NewSchema(fields, nil)
	return c, nil
}

func (c *compiled) OutputSchema() *arrow.Schema { return c.out }

func (c *compiled) Apply(ctx context.Context, rec arrow.Record) (arrow.Record, []RowError, error) {
	in := rec
	in.Retain()
	defer func() { in.Release() }()
	if c.filter != nil {
		mask, err := c.filter.Eval(ctx, in)
		if err != nil {
			return nil, nil, fmt.Errorf("filter: %w", err)
		}
		b := mask.(*array.Boolean)
		rows := make([]int64, 0, b.Len())
		for i := 0; i < b.Len(); i++ {
			if b.IsValid(i) && b.Value(i) {
				rows = append(rows, int64(i))
			}
		}
		mask.Release()
		if len(rows) != int(in.NumRows()) {
			sel, err := arrowutil.TakeRecord(ctx, in, rows)
			if err != nil {
				return nil, nil, fmt.Errorf("filter: %w", err)
			}
			in.Release()
			in = sel
		}
	}
	cols := make([]arrow.Array, len(c.cols))
	for i, ev := range c.cols {
		a, err := ev.Eval(ctx, in)
		if err != nil {
			for _, done := range cols[:i] {
				done.Release()
			}
			return nil, nil, fmt.Errorf("column %q: %w", c.out.Field(i).Name, err)
		}
		cols[i] = a
	}
	out := array.NewRecord(c.out, cols, in.NumRows())
	for _, a := range cols {
		a.Release()
	}
	return out, nil, nil
}
