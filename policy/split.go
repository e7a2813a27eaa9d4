package policy

import (
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Splitting a residual into a grant and a denial.
//
// The default policy's decision is two rules on allow: {"allow": true} if
// allow, {"allow": false, "reason": reason} if not allow. Its residual for a
// shape is therefore
//
//	x = V if A1, ..., x = V if An       (V ground: the same grant)
//	x = T if { not N; R }              (N's rules are exactly A1, ..., An)
//
// and evaluated as one complete rule OPA must try every candidate body of,
// the negation included, which evaluates the Ai a second time as N's rules.
// Split recognises that form and proves it: the Ai exclude the last body
// (it needs none of them to hold), and all give the same V, so the decision
// is V as soon as one Ai holds and the last body otherwise, with its
// negation true by then. OPA then evaluates two rules in turn:
//
//	granted := true if A1, ..., granted := true if An
//	denied := T if R                    (or T's reason, see below)
//
// granted has a constant value, so OPA's rule index stops at the first Ai
// that holds (its "early exit"); denied is evaluated only when none does.
// Stopping early skips the Ai not yet tried, which is exact only if they
// could not have failed the evaluation: split requires every Ai to be made
// of input references, variables, constants, unification, comparisons and
// membership, none of which raises an error. A residual of any other form
// (an operator's policy may make one) is left whole.

// errorFreeCalls are the builtins whose evaluation never raises an error:
// unification, comparisons (OPA orders any two values) and membership.
var errorFreeCalls = map[string]bool{
	ast.Equality.Name:      true,
	ast.Assign.Name:        true,
	ast.Equal.Name:         true,
	ast.NotEqual.Name:      true,
	ast.LessThan.Name:      true,
	ast.LessThanEq.Name:    true,
	ast.GreaterThan.Name:   true,
	ast.GreaterThanEq.Name: true,
	ast.Member.Name:        true,
	ast.MemberWithKey.Name: true,
}

// splitResidual is a residual split into its grant and its denial.
type splitResidual struct {
	// value is V, the decision every granting body gives.
	value *ast.Term
	// granted are the bodies A1, ..., An.
	granted []ast.Body
	// denied is R with the binding of the decision, x = T; nil when the
	// residual has no denying body (no Ai holding leaves the decision
	// undefined).
	denied ast.Body
	// reason, when not nil, is the reason term of T = {"allow": false,
	// "reason": reason}; denied then lacks the binding, and the denial's
	// rule gives the reason alone, which spares OPA building the object.
	reason *ast.Term
}

// split recognises a residual of the decision (queries, each binding the
// variable x; support, the rules they call) of the form above. It returns
// false for any other form.
func split(queries []ast.Body, support []*ast.Module) (*splitResidual, bool) {
	x := ast.Var("x")
	s := &splitResidual{}
	var deny ast.Body
	for _, q := range queries {
		i, t, ok := binding(q, x)
		if !ok {
			return nil, false
		}
		if !t.IsGround() {
			if deny != nil {
				return nil, false // two denying bodies
			}
			deny = q
			continue
		}
		if s.value != nil && !s.value.Equal(t) {
			return nil, false // two grants
		}
		s.value = t
		cond := slices.Delete(slices.Clone(q), i, i+1)
		if len(cond) == 0 || !errorFree(cond) {
			return nil, false
		}
		s.granted = append(s.granted, cond)
	}
	if len(s.granted) == 0 {
		return nil, false
	}
	if deny == nil {
		return s, true
	}
	// The denying body must hold "not N" with N's rules the Ai, and nothing
	// before it that could fail the evaluation of a request granted.
	neg := -1
	for i, e := range deny {
		if ref, ok := negatedRef(e); ok && sameBodies(supportRules(support, ref), s.granted) {
			neg = i
			break
		}
		if !errorFree(ast.NewBody(e)) {
			return nil, false
		}
	}
	if neg < 0 {
		return nil, false
	}
	rest := slices.Delete(slices.Clone(deny), neg, neg+1)
	i, t, _ := binding(rest, x)
	if r, ok := denialReason(t); ok {
		s.reason = r
		rest = slices.Delete(rest, i, i+1)
	}
	if len(rest) == 0 {
		rest = ast.NewBody(ast.NewExpr(ast.BooleanTerm(true)))
	}
	s.denied = rest
	return s, true
}

// binding finds in body the one expression x = t (or t = x) and returns its
// index and t. x must occur nowhere else in body.
func binding(body ast.Body, x ast.Var) (int, *ast.Term, bool) {
	at := -1
	var t *ast.Term
	for i, e := range body {
		if e.IsEquality() && !e.Negated && len(e.With) == 0 {
			a, b := e.Operand(0), e.Operand(1)
			if b.Value.Compare(x) == 0 {
				a, b = b, a
			}
			if a.Value.Compare(x) == 0 && !b.Vars().Contains(x) {
				if at >= 0 {
					return 0, nil, false
				}
				at, t = i, b
				continue
			}
		}
		if e.Vars(ast.VarVisitorParams{}).Contains(x) {
			return 0, nil, false
		}
	}
	return at, t, at >= 0
}

// denialReason returns r when t is the object {"allow": false, "reason": r}.
func denialReason(t *ast.Term) (*ast.Term, bool) {
	obj, ok := t.Value.(ast.Object)
	if !ok || obj.Len() != 2 {
		return nil, false
	}
	if a := obj.Get(keyAllow); a == nil || a.Value.Compare(ast.Boolean(false)) != 0 {
		return nil, false
	}
	r := obj.Get(keyReason)
	return r, r != nil
}

// errorFree reports whether evaluating body reads only input and cannot
// raise an error.
func errorFree(body ast.Body) bool {
	for _, e := range body {
		if e.Negated || len(e.With) > 0 {
			return false
		}
		switch ts := e.Terms.(type) {
		case *ast.Term:
			if !plainTerm(ts) {
				return false
			}
		case []*ast.Term:
			if !errorFreeCalls[e.Operator().String()] {
				return false
			}
			for _, t := range ts[1:] {
				if !plainTerm(t) {
					return false
				}
			}
		default: // some, every, not
			return false
		}
	}
	return true
}

// plainTerm reports whether t is a variable, a constant, or a reference
// into input whose other parts are variables or scalars.
func plainTerm(t *ast.Term) bool {
	switch v := t.Value.(type) {
	case ast.Var:
		return true
	case ast.Ref:
		if !v.HasPrefix(ast.InputRootRef) {
			return false
		}
		for _, p := range v[1:] {
			switch p.Value.(type) {
			case ast.Var, ast.String, ast.Number, ast.Boolean, ast.Null:
			default:
				return false
			}
		}
		return true
	default:
		return ast.IsConstant(v)
	}
}

// negatedRef returns ref when e is "not ref", ref a ground reference to a
// document under data.
func negatedRef(e *ast.Expr) (ast.Ref, bool) {
	t, ok := e.Terms.(*ast.Term)
	if !ok || !e.Negated || len(e.With) > 0 {
		return nil, false
	}
	ref, ok := t.Value.(ast.Ref)
	if !ok || !ref.HasPrefix(ast.DefaultRootRef) || !ref.IsGround() {
		return nil, false
	}
	return ref, true
}

// supportRules returns the bodies of the rules defining ref in support, or
// nil if any of them is not a plain "ref = true if body": a default, an
// else, arguments or another value would make ref more than the
// disjunction of its bodies.
func supportRules(support []*ast.Module, ref ast.Ref) []ast.Body {
	var bodies []ast.Body
	for _, m := range support {
		for _, r := range m.Rules {
			if !m.Package.Path.Extend(r.Head.Ref()).Equal(ref) {
				continue
			}
			if r.Default || r.Else != nil || len(r.Head.Args) > 0 || r.Head.Key != nil ||
				r.Head.Value == nil || r.Head.Value.Value.Compare(ast.Boolean(true)) != 0 {
				return nil
			}
			bodies = append(bodies, r.Body)
		}
	}
	return bodies
}

// sameBodies reports whether a and b hold the same bodies, as sets, up to
// the names of their local variables.
func sameBodies(a, b []ast.Body) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	set := func(bs []ast.Body) []string {
		out := make([]string, len(bs))
		for i, b := range bs {
			out[i] = canonical(b)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(set(a), set(b))
}

// canonical prints body with its generated variables renamed in order of
// first occurrence, so that bodies equal but for those names print alike.
func canonical(body ast.Body) string {
	names := map[ast.Var]ast.Var{}
	out, err := ast.TransformVars(body.Copy(), func(v ast.Var) (ast.Value, error) {
		if !v.IsGenerated() && !v.IsWildcard() {
			return v, nil
		}
		n, ok := names[v]
		if !ok {
			n = ast.Var(fmt.Sprintf("__v%d__", len(names)))
			names[v] = n
		}
		return n, nil
	})
	if err != nil {
		return "" // never: the function returns no error
	}
	return out.(ast.Body).String()
}
