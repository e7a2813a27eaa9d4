package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/sluice-io/sluice/catalog/object"
)

// TestReasonTemplate: a denial rule is read as a template only in the forms
// render follows exactly, and wherever render gives a reason it is the one
// OPA's evaluation of the rule gives; where OPA's rule is undefined or
// fails, or formats a value other than a string, render declines (and the
// engine asks OPA).
func TestReasonTemplate(t *testing.T) {
	inputs := map[string]string{
		"table": `{"node": 2, "path": [{}, {}, {"kind": "table", "fqn": "a.b.c", "privileges": ["SELECT"], "tags": {"pii"}}]}`,
		// the fields missing: OPA leaves the rule undefined
		"missing": `{"node": 2, "path": [{}, {}, {"kind": "table"}]}`,
		// fqn a number: concat raises a type error
		"number": `{"node": 2, "path": [{}, {}, {"kind": "table", "fqn": 7}]}`,
		"short":  `{"path": []}`,
	}
	for _, tc := range []struct {
		name, rule string
		template   bool
		renders    []string // inputs on which render gives a reason
	}{
		{"the default policy's denial", `denied := r if { k = input.path[2].kind; f = input.path[2].fqn; concat("", ["missing ", "SELECT", " on ", k, " ", f, " (or an ancestor)"], r) }`,
			true, []string{"table"}},
		{"a constant", `denied := "no" if { true }`, true, []string{"table", "missing", "number", "short"}},
		{"an input field", `denied := f if { f = input.path[2].fqn }`, true, []string{"table", "number"}},
		{"the reference on the right", `denied := f if { input.path[2].fqn = f }`, true, []string{"table", "number"}},
		{"a set member", `denied := t if { t = input.path[2].tags.pii }`, true, []string{"table"}},
		{"a variable separator", `denied := r if { s = input.path[2].kind; concat(s, ["x", "y"], r) }`, true, []string{"table", "missing", "number"}},
		{"concat of concat", `denied := r if { concat(",", ["a", "b"], p); concat("", [p, "c"], r) }`, true, []string{"table", "missing", "number", "short"}},

		{"a variable index", `denied := f if { i = input.node; f = input.path[i].fqn }`, false, nil},
		{"a comparison", `denied := "no" if { input.node > 1 }`, false, nil},
		{"a negation", `denied := "no" if { not input.path[2].fqn }`, false, nil},
		{"sprintf", `denied := r if { k = input.path[2].kind; f = input.path[2].fqn; sprintf("top-level %s %s", [k, f], r) }`,
			true, []string{"table"}},
		// sprintf of a number is OPA's to format
		{"sprintf of a field", `denied := r if { f = input.path[2].fqn; sprintf("%v!", [f], r) }`, true, []string{"table"}},
		{"sprintf with a variable format", `denied := r if { f = input.path[2].fqn; sprintf(f, [], r) }`, true, []string{"table"}},
		{"another builtin", `denied := r if { f = input.path[2].fqn; upper(f, r) }`, false, nil},
		{"a variable bound twice", `denied := f if { f = input.path[2].fqn; f = input.path[2].kind }`, false, nil},
		{"a concat of a set", `denied := r if { concat("", {"a"}, r) }`, false, nil},
		{"a data reference", `denied := f if { f = data.x }`, false, nil},
		{"a with modifier", `denied := f if { f = input.path[2].fqn with input as {} }`, false, nil},
		{"an else", `denied := f if { f = input.path[2].fqn } else := "no"`, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ast.NewCompiler().WithStrict(false)
			c.Compile(map[string]*ast.Module{"r.rego": ast.MustParseModuleWithOpts("package sluice_specialised\n\n"+tc.rule, ast.ParserOptions{RegoVersion: ast.RegoV1})})
			if c.Failed() {
				t.Fatal(c.Errors)
			}
			rules := c.GetRules(deniedRef)
			if len(rules) != 1 {
				t.Fatalf("%d rules", len(rules))
			}
			tmpl, ok := newReasonTemplate(rules[0])
			if ok != tc.template {
				t.Fatalf("read as a template: %v, want %v (rule %v)", ok, tc.template, rules[0])
			}
			if !ok {
				return
			}
			query, err := c.QueryCompiler().Compile(ast.MustParseBody(deniedQuery))
			if err != nil {
				t.Fatal(err)
			}
			for name, src := range inputs {
				in := ast.MustParseTerm(src)
				store := inmem.New()
				txn, _ := store.NewTransaction(context.Background())
				rs, err := topdown.NewQuery(query).WithCompiler(c).WithStore(store).WithTransaction(txn).
					WithInput(in).WithStrictBuiltinErrors(true).Run(context.Background())
				store.Abort(context.Background(), txn)
				got, rendered := tmpl.render(in.Value)
				if want := slices.Contains(tc.renders, name); rendered != want {
					t.Errorf("%s: rendered %v, want %v (OPA: %v, %v)", name, rendered, want, rs, err)
				}
				if !rendered {
					continue // always safe: the engine asks OPA
				}
				if err != nil || len(rs) != 1 {
					t.Fatalf("%s: rendered %v where OPA gives %v, %v", name, got, rs, err)
				}
				if want := rs[0]["x"].Value; got.Compare(want) != 0 {
					t.Errorf("%s: rendered %v, OPA gives %v", name, got, want)
				}
			}
		})
	}
}

// TestReasonTemplateDeclines: a policy whose denial reads a field the
// engine does not supply is decided by OPA's denial query when render
// declines, so the specialised engine fails exactly as the whole policy
// does.
func TestReasonTemplateDeclines(t *testing.T) {
	const src = `package sluice.authz

decision := {"allow": true, "reason": ""} if allow

decision := {"allow": false, "reason": reason} if not allow

allow if {
	input.path[input.node].privileges.SELECT
	input.principal.name != "nobody"
}

allow if {
	input.path[input.node].privileges.ALL
	input.principal.name != "nobody"
}

reason := concat("", ["owner of ", input.path[input.node].fqn, " is ", input.path[input.node].owner])
`
	ctx := context.Background()
	mods := []Module{{Name: "owner.rego", Source: src}}
	special, err := New(ctx, WithoutDefaultPolicy(), WithModules(mods...), WithDecisionCache(0))
	if err != nil {
		t.Fatal(err)
	}
	general, err := New(ctx, WithoutDefaultPolicy(), WithModules(mods...), WithDecisionCache(0), WithoutSpecialisation())
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Principal: user("analyst"), Action: ActionSelect, Path: catalogPath(2, object.KindTable, nil)}
	want, werr := general.Decide(ctx, r)
	got, gerr := special.Decide(ctx, r)
	if !errors.Is(werr, ErrNoDecision) {
		t.Fatalf("the whole policy gives %+v, %v; want no decision (owner is not in the input)", want, werr)
	}
	if got.Allow || got.Reason != want.Reason || fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("specialised %+v, %v; whole policy %+v, %v", got, gerr, want, werr)
	}
	// The shape was split and its denial read as a template: the decline,
	// not a whole-policy evaluation, is what this test exercises.
	res := special.state.Load().spec.residual(ctx, shape{kind: PrincipalUser, action: ActionSelect, node: 0, depth: 3})
	if !res.ok || res.reason == nil {
		t.Fatalf("shape not split with a reason template (ok %v, err %v)", res.ok, res.err)
	}
}

// TestReasonRenderAllocations: rendering the default policy's denial
// allocates the reason and little else (boxing each part into an
// interface for concat once cost one allocation per part).
func TestReasonRenderAllocations(t *testing.T) {
	c := ast.NewCompiler().WithStrict(false)
	c.Compile(map[string]*ast.Module{"r.rego": ast.MustParseModuleWithOpts(`package sluice_specialised

denied := r if { k = input.path[2].kind; f = input.path[2].fqn; concat("", ["missing ", "SELECT", " on ", k, " ", f, " (or an ancestor)"], r) }
`, ast.ParserOptions{RegoVersion: ast.RegoV1})})
	if c.Failed() {
		t.Fatal(c.Errors)
	}
	tmpl, ok := newReasonTemplate(c.GetRules(deniedRef)[0])
	if !ok {
		t.Fatal("not a template")
	}
	in := ast.MustParseTerm(`{"path": [{}, {}, {"kind": "table", "fqn": "a.b.c"}]}`).Value
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := tmpl.render(in); !ok {
			t.Fatal("not rendered")
		}
	})
	// The joined string and its boxing as an ast.Value.
	if allocs > 2 {
		t.Fatalf("render allocates %.0f times, want at most 2", allocs)
	}
}
