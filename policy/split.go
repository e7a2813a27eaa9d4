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
//	x = V if A1, ..., x = V if An       (V constant: the same grant)
//	x = T1 if { not N; R1 }, ...       (N's rules are exactly A1, ..., An)
//
// and evaluated as one complete rule OPA must try every candidate body of,
// the negations included, which evaluate the Ai a second time as N's rules.
// Split recognises that form and proves it: the Ai exclude the denying
// bodies (those need none of them to hold), and all give the same V, so the
// decision is V as soon as one Ai holds and the denying bodies' otherwise,
// with their negation true by then. OPA then evaluates two rules in turn:
//
//	granted := true if A1, ..., granted := true if An
//	denied := T1 if R1, ...             (or the Tk's reasons, see below)
//
// granted has a constant value, so OPA's rule index stops at the first Ai
// that holds (its "early exit"); denied is evaluated only when none does.
// Stopping early skips the Ai not yet tried, which is exact only if they
// could not have failed the evaluation: split requires every Ai to be made
// of input references, variables, constants, unification, comparisons and
// membership, none of which raises an error, and of reads of support
// documents whose own rules are made of the same (plus count of a set and
// sprintf of a literal array, which cannot fail either): an operator's
// "deny" rules put such a read, count(deny) == 0, into every Ai, and the
// denial is then several bodies, each holding "not N". A residual of any
// other form is left whole.

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
	// denied are the denying bodies R, each with its binding of the
	// decision, x = T; none when the residual has no denying body (no Ai
	// holding leaves the decision undefined).
	denied []ast.Body
	// reasons, when not nil, are the reason terms of each T = {"allow":
	// false, "reason": reason}; the denied bodies then lack the binding, and
	// the denial's rule gives the reason alone, which spares OPA building
	// the object.
	reasons []*ast.Term
}

// split recognises a residual of the decision (queries, each binding the
// variable x; support, the rules they call) of the form above. It returns
// false for any other form.
func split(queries []ast.Body, support []*ast.Module) (*splitResidual, bool) {
	x := ast.Var("x")
	a := newAnalyser(support)
	s := &splitResidual{}
	var denials []ast.Body
	for _, q := range queries {
		i, t, ok := binding(q, x)
		if !ok {
			return nil, false
		}
		if !ast.IsConstant(t.Value) { // a ground reference or call is no constant
			denials = append(denials, q)
			continue
		}
		if s.value != nil && !s.value.Equal(t) {
			return nil, false // two grants
		}
		s.value = t
		cond := slices.Delete(slices.Clone(q), i, i+1)
		if len(cond) == 0 || !a.body(cond) {
			return nil, false
		}
		s.granted = append(s.granted, cond)
	}
	if len(s.granted) == 0 {
		return nil, false
	}
	// Every denying body must hold "not N" with N's rules the Ai, and
	// nothing before it that could fail the evaluation of a request granted.
	var negated ast.Ref
	reasons := make([]*ast.Term, 0, len(denials))
	for _, deny := range denials {
		neg := -1
		for i, e := range deny {
			if ref, ok := negatedRef(e); ok && (ref.Equal(negated) ||
				negated == nil && sameBodies(supportRules(support, ref), s.granted)) {
				negated, neg = ref, i
				break
			}
			if !a.body(ast.NewBody(e)) {
				return nil, false
			}
		}
		if neg < 0 {
			return nil, false
		}
		rest := slices.Delete(slices.Clone(deny), neg, neg+1)
		i, t, _ := binding(rest, x)
		if r, ok := denialReason(t); ok && reasons != nil {
			reasons = append(reasons, r)
			rest = slices.Delete(rest, i, i+1)
		} else if reasons != nil {
			// Not every denial gives a reason alone: put back the bindings
			// taken out so far, and give the object for all of them.
			for k, r := range reasons {
				s.denied[k] = append(s.denied[k], ast.Equality.Expr(ast.VarTerm("x"), denialObject(r)))
			}
			reasons = nil
		}
		if len(rest) == 0 {
			rest = ast.NewBody(ast.NewExpr(ast.BooleanTerm(true)))
		}
		s.denied = append(s.denied, rest)
	}
	if len(s.denied) > 0 {
		s.reasons = reasons
	}
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

// denialObject is the decision {"allow": false, "reason": r}.
func denialObject(r *ast.Term) *ast.Term {
	return ast.ObjectTerm([2]*ast.Term{keyAllow, ast.BooleanTerm(false)}, [2]*ast.Term{keyReason, r})
}

// analyser tells which bodies of a residual cannot raise an error. It knows
// the residual's support rules, so that a body may read a support document
// whose rules cannot raise one either.
type analyser struct {
	support []*ast.Module
	docs    map[string]docInfo // by reference; absent: not analysed yet
}

// docInfo is what the analyser found of a support document.
type docInfo struct {
	done      bool // false while its rules are being analysed (a cycle)
	errorFree bool
	set       bool // every rule is a partial set rule: the value is a set
}

func newAnalyser(support []*ast.Module) *analyser {
	return &analyser{support: support, docs: map[string]docInfo{}}
}

// body reports whether evaluating body reads only input and support
// documents and cannot raise an error.
func (a *analyser) body(body ast.Body) bool {
	for _, e := range body {
		if len(e.With) > 0 {
			return false
		}
		switch ts := e.Terms.(type) {
		case *ast.Term:
			if !a.term(ts) {
				return false
			}
		case []*ast.Term:
			if e.Negated || !a.call(e.Operator().String(), ts[1:]) {
				return false
			}
		default: // some, every
			return false
		}
	}
	return true
}

// call reports whether calling op on args cannot raise an error.
func (a *analyser) call(op string, args []*ast.Term) bool {
	switch {
	case errorFreeCalls[op]:
	case op == ast.Count.Name && len(args) > 0:
		// count fails on what is not a collection or a string.
		if !a.collection(args[0]) {
			return false
		}
		args = args[1:]
	case op == ast.Sprintf.Name && len(args) > 1:
		// sprintf fails only on a format that is not a string or
		// arguments that are not an array.
		arr, ok := args[1].Value.(*ast.Array)
		if _, str := args[0].Value.(ast.String); !str || !ok {
			return false
		}
		for i := range arr.Len() {
			if !a.term(arr.Elem(i)) {
				return false
			}
		}
		args = args[2:]
	default:
		return false
	}
	for _, t := range args {
		if !a.term(t) {
			return false
		}
	}
	return true
}

// term reports whether t is a variable, a constant, a reference into input
// whose other parts are variables or scalars, or a support document that
// cannot raise an error.
func (a *analyser) term(t *ast.Term) bool {
	if plainTerm(t) {
		return true
	}
	ok, _ := a.doc(t)
	return ok
}

// collection reports whether t is certainly a collection: a constant one, or
// a support document of partial set rules.
func (a *analyser) collection(t *ast.Term) bool {
	switch t.Value.(type) {
	case ast.Set, ast.Object, *ast.Array:
		return ast.IsConstant(t.Value)
	}
	ok, set := a.doc(t)
	return ok && set
}

// doc analyses the support document t refers to, if it does.
func (a *analyser) doc(t *ast.Term) (errorFree, set bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || !ref.HasPrefix(ast.DefaultRootRef) || !ref.IsGround() {
		return false, false
	}
	key := ref.String()
	if d, seen := a.docs[key]; seen {
		return d.done && d.errorFree, d.set
	}
	a.docs[key] = docInfo{} // a cycle back here finds it not done: refused
	d := docInfo{done: true, set: true}
	for _, r := range rulesOf(a.support, ref) {
		d.errorFree = true
		if r.Head.RuleKind() != ast.MultiValue {
			d.set = false
		}
		if r.Default || r.Else != nil || len(r.Head.Args) > 0 ||
			!plainHead(r.Head.Key) || !plainHead(r.Head.Value) || !a.body(r.Body) {
			a.docs[key] = docInfo{done: true}
			return false, false
		}
	}
	d.set = d.set && d.errorFree
	a.docs[key] = d
	return d.errorFree, d.set
}

// plainHead reports whether a rule head's key or value (nil if it has none)
// is a variable or a constant.
func plainHead(t *ast.Term) bool {
	if t == nil {
		return true
	}
	_, isVar := t.Value.(ast.Var)
	return isVar || ast.IsConstant(t.Value)
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
	for _, r := range rulesOf(support, ref) {
		if r.Default || r.Else != nil || len(r.Head.Args) > 0 || r.Head.Key != nil ||
			r.Head.Value == nil || r.Head.Value.Value.Compare(ast.Boolean(true)) != 0 {
			return nil
		}
		bodies = append(bodies, r.Body)
	}
	return bodies
}

// rulesOf returns the rules of support that define the document ref.
func rulesOf(support []*ast.Module, ref ast.Ref) []*ast.Rule {
	var rules []*ast.Rule
	for _, m := range support {
		for _, r := range m.Rules {
			if m.Package.Path.Extend(r.Head.Ref()).Equal(ref) {
				rules = append(rules, r)
			}
		}
	}
	return rules
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
