package transform

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
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

// RowError is a row that could not be transformed. Err names the filter or
// column and the expression that failed, e.g.
// `column "ratio": (a / b): division by zero`.
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
	now    func() time.Time // the clock for Batch.Now; nil is time.Now
}

// Compile type-checks spec against the input schema and returns the
// Transform. Errors name the expression and why it is invalid; they wrap
// the *ExprError of the failing expression (the filter's, else the first
// failing select item's), or a *FilterTypeError.
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
			return nil, fmt.Errorf("filter: %w", &FilterTypeError{Type: ev.Type()})
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

// FilterTypeError is a filter that compiles to another type than boolean.
type FilterTypeError struct{ Type arrow.DataType }

func (e *FilterTypeError) Error() string {
	return fmt.Sprintf("expression has type %s, want boolean", e.Type)
}

func (c *compiled) OutputSchema() *arrow.Schema { return c.out }

// Apply evaluates the filter, then the select list over the rows that pass.
// Rows an evaluator cannot compute (Batch.Fail) are left out of the output
// and returned as RowErrors, indexed in rec and sorted by row; a row that
// fails in several places gets one RowError joining the causes.
func (c *compiled) Apply(ctx context.Context, rec arrow.Record) (arrow.Record, []RowError, error) {
	out, rowErrs, _, err := c.apply(ctx, rec)
	return out, rowErrs, err
}

// ApplyWithSource is t.Apply that also returns, for each output row, the
// row of rec it came from (nil: output row i is input row i). A streaming
// writer needs it to know the Kafka offset behind every row it writes.
func ApplyWithSource(ctx context.Context, t Transform, rec arrow.Record) (arrow.Record, []RowError, []int64, error) {
	if c, ok := t.(*compiled); ok {
		return c.apply(ctx, rec)
	}
	out, rowErrs, err := t.Apply(ctx, rec)
	if err == nil && (len(rowErrs) > 0 || out.NumRows() != rec.NumRows()) {
		out.Release()
		return nil, nil, nil, fmt.Errorf("transform %T dropped rows but does not say which", t)
	}
	return out, rowErrs, nil, err
}

// apply is Apply with the source row of each output row (nil when every
// input row is kept).
func (c *compiled) apply(ctx context.Context, rec arrow.Record) (arrow.Record, []RowError, []int64, error) {
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	in := rec
	in.Retain()
	defer func() { in.Release() }()
	failed := map[int][]error{}
	var rows []int64 // rows of rec in in, when the filter dropped some
	if c.filter != nil {
		b := &Batch{Rec: in, Now: now, ctx: ctx}
		mask, err := c.filter.Eval(ctx, b)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("filter: %w", err)
		}
		for _, f := range b.failed {
			failed[f.Row] = append(failed[f.Row], fmt.Errorf("filter: %w", f.Err))
		}
		keep := mask.(*array.Boolean)
		rows = make([]int64, 0, keep.Len())
		for i := 0; i < keep.Len(); i++ {
			if keep.IsValid(i) && keep.Value(i) {
				if _, bad := failed[i]; !bad {
					rows = append(rows, int64(i))
				}
			}
		}
		mask.Release()
		if len(rows) == int(in.NumRows()) {
			rows = nil
		} else {
			sel, err := takeRecord(ctx, in, rows)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("filter: %w", err)
			}
			in.Release()
			in = sel
		}
	}
	b := &Batch{Rec: in, Now: now, ctx: ctx}
	cols := make([]arrow.Array, len(c.cols))
	defer func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}()
	var colFailed []int64 // rows of in that failed in some column
	for i, ev := range c.cols {
		mark := len(b.failed)
		a, err := ev.Eval(ctx, b)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("column %q: %w", c.out.Field(i).Name, err)
		}
		cols[i] = a
		for _, f := range b.failed[mark:] {
			r := f.Row
			if rows != nil {
				r = int(rows[r])
			}
			if _, seen := failed[r]; !seen {
				colFailed = append(colFailed, int64(f.Row))
			}
			failed[r] = append(failed[r], fmt.Errorf("column %q: %w", c.out.Field(i).Name, f.Err))
		}
	}
	n := in.NumRows()
	if len(colFailed) > 0 {
		keep := keepRows(int(n), colFailed)
		for i, a := range cols {
			t, err := takeRows(ctx, a, keep)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("column %q: dropping failed rows: %w", c.out.Field(i).Name, err)
			}
			a.Release()
			cols[i] = t
		}
		n = int64(len(keep))
		src := make([]int64, len(keep))
		for k, r := range keep {
			src[k] = r
			if rows != nil {
				src[k] = rows[r]
			}
		}
		rows = src
	}
	var rowErrs []RowError
	for r, errs := range failed {
		rowErrs = append(rowErrs, RowError{Row: r, Err: joinDistinct(errs)})
	}
	sort.Slice(rowErrs, func(i, j int) bool { return rowErrs[i].Row < rowErrs[j].Row })
	return array.NewRecord(c.out, cols, n), rowErrs, rows, nil
}

// joinDistinct joins errors, leaving out repeats of the same message (an
// argument evaluated twice fails twice).
func joinDistinct(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// keepRows returns the rows of [0, n) not in drop.
func keepRows(n int, drop []int64) []int64 {
	bad := make(map[int64]bool, len(drop))
	for _, r := range drop {
		bad[r] = true
	}
	keep := make([]int64, 0, n-len(bad))
	for r := int64(0); r < int64(n); r++ {
		if !bad[r] {
			keep = append(keep, r)
		}
	}
	return keep
}

// Batch is the state of one evaluation: the record, the processing time
// that current_timestamp returns for every row of it, and the rows that
// evaluators could not compute.
type Batch struct {
	// Rec is the record being evaluated.
	Rec arrow.Record
	// Now is the batch's processing time (when Apply started).
	Now    time.Time
	ctx    context.Context // for Arrow kernels called inside evaluators
	failed []RowError
}

// context returns the context of the evaluation.
func (b *Batch) context() context.Context {
	if b.ctx == nil {
		return context.Background()
	}
	return b.ctx
}

// Fail records that row of Rec cannot be computed by the expression named
// expr; the evaluator must leave the row null in its result. Apply drops
// the row and returns it as a RowError.
func (b *Batch) Fail(row int, expr string, err error) {
	b.failed = append(b.failed, RowError{Row: row, Err: fmt.Errorf("%s: %w", expr, err)})
}

// mark returns the position to pass to keepFailures.
func (b *Batch) mark() int { return len(b.failed) }

// keepFailures drops the failures recorded since mark for rows where used
// is false: a CASE branch or an IF arm not taken by a row must not fail it.
func (b *Batch) keepFailures(mark int, used func(row int) bool) {
	kept := b.failed[:mark]
	for _, f := range b.failed[mark:] {
		if used(f.Row) {
			kept = append(kept, f)
		}
	}
	b.failed = kept
}
