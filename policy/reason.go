package policy

import (
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Rendering a denial's reason without a second query.
//
// Once OPA has found a split residual's grant undefined, the check is
// denied: what is left is the reason. The default policy's reason for a
// shape is, after partial evaluation,
//
//	denied := r if {
//		k = input.path[2].kind
//		f = input.path[2].fqn
//		concat("", ["missing ", "SELECT", " on ", k, " ", f, " (or an ancestor)"], r)
//	}
//
// a text of constants and input fields, which OPA would evaluate as a
// second query costing more than the first (its set-up, the rule, the
// builtin call: ~10 µs and ~30 allocations). A reasonTemplate is such a
// denial read into steps the engine follows itself: look up a ground
// reference into input (with OPA's own ast.Value.Find), join strings as
// concat does, format strings as sprintf does. It accepts only a rule made of those steps, each defined or
// not exactly as OPA's evaluation would be, and whenever a step would not
// give a value (a field missing, a part that is not a string: OPA would
// leave the denial undefined or raise an error) render reports false and
// the engine asks OPA the denial query as before, so the decision, the
// reason and any error stay OPA's. The grant, which decides, is always
// OPA's.

// reasonTemplate is a denial rule read as steps: see above.
type reasonTemplate struct {
	steps []reasonStep
	value reasonPart // the rule's value
	slots int        // how many variables the steps bind
}

// reasonStep binds slot out to the value at ref in input (ref != nil), or
// to the result of call (concat or sprintf) on arg and parts.
type reasonStep struct {
	out   int
	ref   ast.Ref // path below input
	call  string  // ast.Concat.Name or ast.Sprintf.Name
	arg   reasonPart
	parts []reasonPart
}

// reasonPart is a constant (slot < 0) or a variable bound by an earlier
// step.
type reasonPart struct {
	slot  int
	value ast.Value
}

// newReasonTemplate reads rule, a compiled complete rule "name := value if
// body" with no else, as a template. It returns false for any rule with
// another form.
func newReasonTemplate(rule *ast.Rule) (*reasonTemplate, bool) {
	if rule.Else != nil || rule.Head.Value == nil || len(rule.Head.Args) > 0 {
		return nil, false
	}
	t := &reasonTemplate{}
	slots := map[ast.Var]int{}
	// bind gives a fresh variable its slot; a variable bound twice would
	// be a unification the steps do not make.
	bind := func(v *ast.Term) (int, bool) {
		name, ok := v.Value.(ast.Var)
		if !ok || name.IsWildcard() {
			return 0, false
		}
		if _, seen := slots[name]; seen {
			return 0, false
		}
		slots[name] = t.slots
		t.slots++
		return slots[name], true
	}
	// part reads a constant or a bound variable.
	part := func(x *ast.Term) (reasonPart, bool) {
		if v, ok := x.Value.(ast.Var); ok {
			s, bound := slots[v]
			return reasonPart{slot: s}, bound
		}
		return reasonPart{slot: -1, value: x.Value}, ast.IsConstant(x.Value)
	}
	for _, e := range rule.Body {
		if e.Negated || len(e.With) > 0 {
			return nil, false
		}
		switch ts := e.Terms.(type) {
		case *ast.Term:
			if ts.Value.Compare(ast.Boolean(true)) != 0 {
				return nil, false
			}
		case []*ast.Term:
			switch {
			case e.IsEquality() || e.IsAssignment():
				v, r := e.Operand(0), e.Operand(1)
				if _, ok := r.Value.(ast.Var); ok {
					v, r = r, v
				}
				ref, ok := r.Value.(ast.Ref)
				if !ok || !ref.HasPrefix(ast.InputRootRef) || !ref.IsGround() {
					return nil, false
				}
				out, ok := bind(v)
				if !ok {
					return nil, false
				}
				t.steps = append(t.steps, reasonStep{out: out, ref: ref[1:]})
			case (e.Operator().Equal(ast.Concat.Ref()) || e.Operator().Equal(ast.Sprintf.Ref())) && len(ts) == 4:
				arg, ok := part(ts[1])
				arr, isArr := ts[2].Value.(*ast.Array)
				if !ok || !isArr {
					return nil, false
				}
				parts := make([]reasonPart, arr.Len())
				for i := range parts {
					if parts[i], ok = part(arr.Elem(i)); !ok {
						return nil, false
					}
				}
				out, ok := bind(ts[3])
				if !ok {
					return nil, false
				}
				t.steps = append(t.steps, reasonStep{out: out, call: e.Operator().String(), arg: arg, parts: parts})
			default:
				return nil, false
			}
		default: // some, every
			return nil, false
		}
	}
	value, ok := part(rule.Head.Value)
	if !ok {
		return nil, false
	}
	t.value = value
	return t, true
}

// render evaluates the template on input. It returns false when a step
// gives no value (OPA would leave the rule undefined, or fail): the caller
// then evaluates the rule with OPA.
func (t *reasonTemplate) render(input ast.Value) (ast.Value, bool) {
	var fixed [8]ast.Value
	slots := fixed[:0]
	if t.slots > len(fixed) {
		slots = make([]ast.Value, 0, t.slots)
	}
	slots = slots[:t.slots]
	get := func(p reasonPart) ast.Value {
		if p.slot < 0 {
			return p.value
		}
		return slots[p.slot]
	}
	for _, s := range t.steps {
		if s.ref != nil {
			v, err := input.Find(s.ref)
			if err != nil {
				return nil, false
			}
			slots[s.out] = v
			continue
		}
		// concat(sep, [parts...]) and sprintf(format, [parts...]) with
		// every operand a string. concat raises a type error on any other;
		// sprintf formats numbers and other values its own way, left to
		// OPA.
		arg, ok := get(s.arg).(ast.String)
		if !ok {
			return nil, false
		}
		var fixedParts [8]string
		parts := fixedParts[:0]
		for _, p := range s.parts {
			str, ok := get(p).(ast.String)
			if !ok {
				return nil, false
			}
			parts = append(parts, string(str))
		}
		if s.call == ast.Sprintf.Name {
			// OPA's sprintf passes a string operand to fmt.Sprintf as a Go
			// string.
			args := make([]any, len(parts))
			for i, p := range parts {
				args[i] = p
			}
			slots[s.out] = ast.String(fmt.Sprintf(string(arg), args...))
			continue
		}
		slots[s.out] = ast.String(strings.Join(parts, string(arg)))
	}
	return get(t.value), true
}
