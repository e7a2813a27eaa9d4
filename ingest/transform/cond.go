package transform

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/arrowutil"
)

// Conditional operators: CASE, IF, COALESCE, NULLIF, GREATEST, LEAST, IN
// and BETWEEN. CASE, IF and COALESCE evaluate an argument only for the
// rows that need it in the SQL sense: a branch no row takes is not
// evaluated, and a row failure (e.g. division by zero) inside a branch
// only fails the rows that take that branch.

func init() {
	funcs["case"] = compileCase
	funcs["if"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		if err := wantArgs("if", args, 3, 3); err != nil {
			return nil, err
		}
		return newCase("if", e.String(), args)
	}
	funcs["coalesce"] = compileCoalesce
	funcs["nullif"] = compileNullIf
	funcs["greatest"] = compileExtreme
	funcs["least"] = compileExtreme
	funcs["in"] = compileIn
	funcs["between"] = compileBetween
}

// compileCase compiles a searched CASE. Args are [when1, then1, when2,
// then2, …] optionally followed by one more argument, the ELSE result;
// without ELSE, rows that match no WHEN are null. Every WHEN must be
// boolean (a null WHEN is not true); the results share a common type.
// A simple CASE (CASE x WHEN v THEN …) is compiled by the SQL front end
// into WHEN x = v.
func compileCase(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("case", args, 2, -1); err != nil {
		return nil, err
	}
	return newCase("case", e.String(), args)
}

type caseEval struct {
	name  string
	conds []Evaluator
	thens []Evaluator // one more than conds when there is an ELSE
	typ   arrow.DataType
}

func newCase(fn, name string, args []Evaluator) (Evaluator, error) {
	c := &caseEval{name: name}
	var results []Evaluator
	for i := 0; i < len(args); i++ {
		if i%2 == 0 && i+1 < len(args) {
			if n, ok := nullAs(args[i], arrow.FixedWidthTypes.Boolean); ok {
				args[i] = n // WHEN NULL: never taken
			}
			if args[i].Type().ID() != arrow.BOOL {
				return nil, argTypeErr(fn, i, "boolean", args[i])
			}
			c.conds = append(c.conds, args[i])
		} else {
			results = append(results, args[i])
		}
	}
	results, typ, err := unify(fn, results)
	if err != nil {
		return nil, err
	}
	if err := wantChoosable(fn, typ); err != nil {
		return nil, err
	}
	c.thens, c.typ = results, typ
	return c, nil
}

func (c *caseEval) Type() arrow.DataType { return c.typ }
func (c *caseEval) Nullable() bool {
	return len(c.thens) == len(c.conds) || anyNullable(c.thens)
}

func (c *caseEval) Eval(ctx context.Context, b *Batch) (arrow.Array, error) {
	n := int(b.Rec.NumRows())
	pick := make([]int32, n)
	for i := range pick {
		pick[i] = -1
	}
	open := n // rows no WHEN has taken yet
	branches := make([]arrow.Array, 0, len(c.thens))
	defer func() { releaseAll(branches) }()
	for k, cond := range c.conds {
		if open == 0 {
			break
		}
		mark := b.mark()
		m, err := cond.Eval(ctx, b)
		if err != nil {
			return nil, err
		}
		b.keepFailures(mark, func(r int) bool { return pick[r] < 0 })
		mask := m.(*array.Boolean)
		taken := 0
		for i := 0; i < n; i++ {
			if pick[i] < 0 && mask.IsValid(i) && mask.Value(i) {
				pick[i] = int32(k)
				taken++
			}
		}
		m.Release()
		open -= taken
		if err := c.branch(ctx, b, k, taken, pick, &branches); err != nil {
			return nil, err
		}
	}
	if len(c.thens) > len(c.conds) {
		k := len(c.conds)
		for i := range pick {
			if pick[i] < 0 {
				pick[i] = int32(k)
			}
		}
		if err := c.branch(ctx, b, k, open, pick, &branches); err != nil {
			return nil, err
		}
	}
	return choose(ctx, c.typ, branches, pick)
}

// branch evaluates result k if any row takes it, keeping its row failures
// only for those rows.
func (c *caseEval) branch(ctx context.Context, b *Batch, k, taken int, pick []int32, branches *[]arrow.Array) error {
	for len(*branches) < k {
		*branches = append(*branches, array.MakeArrayOfNull(memory.DefaultAllocator, c.typ, len(pick)))
	}
	if taken == 0 {
		*branches = append(*branches, array.MakeArrayOfNull(memory.DefaultAllocator, c.typ, len(pick)))
		return nil
	}
	mark := b.mark()
	a, err := c.thens[k].Eval(ctx, b)
	if err != nil {
		return err
	}
	b.keepFailures(mark, func(r int) bool { return pick[r] == int32(k) })
	*branches = append(*branches, a)
	return nil
}

// wantChoosable rejects result types choose cannot assemble: Arrow's
// take has no kernel for maps.
func wantChoosable(fn string, typ arrow.DataType) error {
	if arrowutil.HasMap(typ) {
		return fmt.Errorf("%s: %s results are not supported", fn, sqlType(typ))
	}
	return nil
}

// choose returns, per row i, row i of branches[pick[i]] (null where
// pick[i] < 0). All branches have typ and len(pick) rows.
func choose(ctx context.Context, typ arrow.DataType, branches []arrow.Array, pick []int32) (arrow.Array, error) {
	n := len(pick)
	if n == 0 {
		return array.MakeArrayOfNull(memory.DefaultAllocator, typ, 0), nil
	}
	same := pick[0]
	for _, p := range pick {
		if p != same {
			same = -2
			break
		}
	}
	switch {
	case same == -1:
		return array.MakeArrayOfNull(memory.DefaultAllocator, typ, n), nil
	case same >= 0:
		branches[same].Retain()
		return branches[same], nil
	}
	rows := make([]int64, n)
	for i := range rows {
		rows[i] = int64(i)
	}
	if out, ok := gather(typ, branches, pick, rows); ok {
		return out, nil
	}
	cat, err := array.Concatenate(branches, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("combining branches: %w", err)
	}
	defer cat.Release()
	idx := make([]int64, n)
	valid := make([]byte, bitutil.BytesForBits(int64(n)))
	for i, p := range pick {
		if p >= 0 {
			idx[i] = int64(p)*int64(n) + int64(i)
			bitutil.SetBit(valid, i)
		}
	}
	ia := newFixed(arrow.PrimitiveTypes.Int64, idx, valid)
	defer ia.Release()
	return compute.TakeArray(ctx, cat, ia)
}

// compileCoalesce: the first non-null argument, null if all are.
func compileCoalesce(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("coalesce", args, 1, -1); err != nil {
		return nil, err
	}
	args, typ, err := unify("coalesce", args)
	if err != nil {
		return nil, err
	}
	if err := wantChoosable("coalesce", typ); err != nil {
		return nil, err
	}
	return &coalesceEval{args: args, typ: typ}, nil
}

type coalesceEval struct {
	args []Evaluator
	typ  arrow.DataType
}

func (c *coalesceEval) Type() arrow.DataType { return c.typ }
func (c *coalesceEval) Nullable() bool {
	for _, a := range c.args {
		if !a.Nullable() {
			return false
		}
	}
	return true
}

func (c *coalesceEval) Eval(ctx context.Context, b *Batch) (arrow.Array, error) {
	n := int(b.Rec.NumRows())
	pick := make([]int32, n)
	for i := range pick {
		pick[i] = -1
	}
	var arrs []arrow.Array
	defer func() { releaseAll(arrs) }()
	open := n
	for k, ev := range c.args {
		if open == 0 {
			break
		}
		mark := b.mark()
		a, err := ev.Eval(ctx, b)
		if err != nil {
			return nil, err
		}
		b.keepFailures(mark, func(r int) bool { return pick[r] < 0 })
		arrs = append(arrs, a)
		for i := 0; i < n; i++ {
			if pick[i] < 0 && a.IsValid(i) {
				pick[i] = int32(k)
				open--
			}
		}
	}
	return choose(ctx, c.typ, arrs, pick)
}

// compileNullIf: NULLIF(a, b) is null where a = b, else a.
func compileNullIf(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("nullif", args, 2, 2); err != nil {
		return nil, err
	}
	args, typ, err := unify("nullif", args)
	if err != nil {
		return nil, err
	}
	if _, err := newCallEval("equal", args); err != nil {
		return nil, fmt.Errorf("nullif: %w", err)
	}
	return &funcEval{name: e.String(), args: args, typ: typ, nullable: true,
		run: func(b *Batch, _ string, n int, arrs []arrow.Array) (arrow.Array, error) {
			eq, err := callArrays(b.context(), "equal", arrs...)
			if err != nil {
				return nil, err
			}
			defer eq.Release()
			m := eq.(*array.Boolean)
			var rows []int
			for i := 0; i < n; i++ {
				if m.IsValid(i) && m.Value(i) {
					rows = append(rows, i)
				}
			}
			if len(rows) == 0 {
				arrs[0].Retain()
				return arrs[0], nil
			}
			return withNulls(arrs[0], rows), nil
		}}, nil
}

// callArrays calls an Arrow compute function on arrays.
func callArrays(ctx context.Context, fn string, arrs ...arrow.Array) (arrow.Array, error) {
	if _, cmp := compareOutcomes[fn]; cmp && len(arrs) == 2 {
		x, okx := arrs[0].(*array.Decimal128)
		y, oky := arrs[1].(*array.Decimal128)
		if okx && oky {
			return compareDecimals(fn, x, y), nil
		}
	}
	ds := make([]compute.Datum, len(arrs))
	for i, a := range arrs {
		ds[i] = compute.NewDatum(a)
	}
	out, err := compute.CallFunction(ctx, fn, nil, ds...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	defer out.Release()
	return out.(*compute.ArrayDatum).MakeArray(), nil
}

// compileExtreme: GREATEST / LEAST of the non-null arguments (null only
// when all are null), as in PostgreSQL.
func compileExtreme(e *Expr, args []Evaluator) (Evaluator, error) {
	fn := e.Op
	if err := wantArgs(fn, args, 1, -1); err != nil {
		return nil, err
	}
	args, typ, err := unify(fn, args)
	if err != nil {
		return nil, err
	}
	cmp := "greater"
	if fn == "least" {
		cmp = "less"
	}
	if _, err := newCallEval(cmp, []Evaluator{args[0], args[0]}); err != nil {
		return nil, fmt.Errorf("%s: %s values cannot be ordered", fn, sqlType(typ))
	}
	nullable := true
	for _, a := range args {
		nullable = nullable && a.Nullable()
	}
	return &funcEval{name: e.String(), args: args, typ: typ, nullable: nullable,
		run: func(b *Batch, _ string, n int, arrs []arrow.Array) (arrow.Array, error) {
			cur := arrs[0]
			cur.Retain()
			for _, next := range arrs[1:] {
				better, err := callArrays(b.context(), cmp, next, cur)
				if err != nil {
					cur.Release()
					return nil, err
				}
				m := better.(*array.Boolean)
				pick := make([]int32, n)
				for i := 0; i < n; i++ {
					switch {
					case cur.IsNull(i) && next.IsValid(i), m.IsValid(i) && m.Value(i):
						pick[i] = 1
					case cur.IsNull(i):
						pick[i] = -1
					}
				}
				better.Release()
				nc, err := choose(b.context(), typ, []arrow.Array{cur, next}, pick)
				cur.Release()
				if err != nil {
					return nil, err
				}
				cur = nc
			}
			return cur, nil
		}}, nil
}

// compileBetween: a BETWEEN lo AND hi is lo <= a AND a <= hi; reversed
// bounds (lo > hi) match nothing, as in standard SQL (no SYMMETRIC).
func compileBetween(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("between", args, 3, 3); err != nil {
		return nil, err
	}
	args, _, err := unify("between", args)
	if err != nil {
		return nil, err
	}
	if _, err := newCallEval("less_equal", args[:2]); err != nil {
		return nil, fmt.Errorf("between: %w", err)
	}
	return &funcEval{name: e.String(), args: args, typ: arrow.FixedWidthTypes.Boolean, nullable: anyNullable(args),
		run: func(b *Batch, _ string, n int, arrs []arrow.Array) (arrow.Array, error) {
			ge, err := callArrays(b.context(), "greater_equal", arrs[0], arrs[1])
			if err != nil {
				return nil, err
			}
			defer ge.Release()
			le, err := callArrays(b.context(), "less_equal", arrs[0], arrs[2])
			if err != nil {
				return nil, err
			}
			defer le.Release()
			return callArrays(b.context(), "and_kleene", ge, le)
		}}, nil
}

// compileIn: a IN (v1, v2, …) is true if a equals some v, else null if a
// or some v is null, else false. A list of constants is matched with a
// hash set; otherwise it is a chain of = combined with Kleene OR.
func compileIn(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("in", args, 2, -1); err != nil {
		return nil, err
	}
	args, typ, err := unify("in", args)
	if err != nil {
		return nil, err
	}
	if _, err := newCallEval("equal", args[:2]); err != nil {
		return nil, fmt.Errorf("in: %w", err)
	}
	name := e.String()
	if ev := newInSet(name, args, typ); ev != nil {
		return ev, nil
	}
	return &funcEval{name: name, args: args, typ: arrow.FixedWidthTypes.Boolean, nullable: anyNullable(args),
		run: func(b *Batch, _ string, n int, arrs []arrow.Array) (arrow.Array, error) {
			var acc arrow.Array
			for _, v := range arrs[1:] {
				eq, err := callArrays(b.context(), "equal", arrs[0], v)
				if err != nil {
					if acc != nil {
						acc.Release()
					}
					return nil, err
				}
				if acc == nil {
					acc = eq
					continue
				}
				or, err := callArrays(b.context(), "or_kleene", acc, eq)
				acc.Release()
				eq.Release()
				if err != nil {
					return nil, err
				}
				acc = or
			}
			return acc, nil
		}}, nil
}
