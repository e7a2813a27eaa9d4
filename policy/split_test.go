package policy

import (
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestSplit: split accepts the residual form it can prove, up to the order
// of bodies and the names of local variables, and refuses every variation
// that would make evaluating the grant first and stopping early decide
// differently from the whole residual.
func TestSplit(t *testing.T) {
	const (
		grant = `x = {"allow": true, "reason": ""}`
		deny  = `not data.partial.n; k = input.path[2].kind; concat("", ["missing SELECT on ", k], r); x = {"allow": false, "reason": r}`
		// The support rules of the negation: exactly the grants' bodies.
		support = `package partial
n = true if { input.path[2].inherited.ALL }
n = true if { input.path[2].privileges.SELECT }
n = true if { __local9__ = input.principal.roles; internal.member_2("admin", __local9__) }
`
	)
	grants := []string{
		`__local1__ = input.principal.roles; internal.member_2("admin", __local1__); ` + grant,
		`input.path[2].privileges.SELECT; ` + grant,
		`input.path[2].inherited.ALL; ` + grant,
	}
	for _, tc := range []struct {
		name    string
		queries []string
		support string
		want    bool   // split
		reason  string // the reason term split finds, if any
	}{
		{"default form", append(grants[:3:3], deny), support, true, "r"},
		{"bodies in another order", []string{deny, grants[2], grants[0], grants[1]}, support, true, "r"},
		{"grants only", grants, "", true, ""},
		{"denial object with another key",
			append(grants[:3:3], strings.Replace(deny, `"reason": r}`, `"reason": r, "code": 7}`, 1)), support, true, ""},
		{"no grant", []string{deny}, support, false, ""},
		{"negation of other rules",
			append(grants[:3:3], deny), strings.Replace(support, "inherited.ALL", "inherited.OWNERSHIP", 1), false, ""},
		{"negation of more rules",
			append(grants[:3:3], deny), support + "n = true if { input.path[2].privileges.ALL }\n", false, ""},
		{"negation of fewer rules", append(grants[:3:3], deny), support[:strings.LastIndex(support, "n = true")], false, ""},
		{"negated rule with a default", append(grants[:3:3], deny), support + "default n = false\n", false, ""},
		{"no negation", append(grants[:3:3], strings.TrimPrefix(deny, "not data.partial.n; ")), support, false, ""},
		{"two denials", append(grants[:3:3], deny, deny), support, false, ""},
		{"two grant values",
			append(grants[:2:2], strings.Replace(grants[2], `"reason": ""`, `"reason": "why"`, 1), deny), support, false, ""},
		{"a grant that may fail", append(grants[:3:3],
			`to_number(input.path[2].name, __local5__); __local5__ > 3; `+grant, deny),
			support + "n = true if { to_number(input.path[2].name, __local6__); __local6__ > 3 }\n", false, ""},
		{"a grant reading data", append(grants[:3:3], `data.flags.open; `+grant, deny),
			support + "n = true if { data.flags.open }\n", false, ""},
		{"a denial failing before its negation",
			append(grants[:3:3], `to_number(input.path[2].name, __local7__); `+deny), support, false, ""},
		{"decision bound twice", append(grants[:3:3], deny+"; x = input.y"), support, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var queries []ast.Body
			for _, q := range tc.queries {
				queries = append(queries, ast.MustParseBody(q))
			}
			var mods []*ast.Module
			if tc.support != "" {
				mods = append(mods, ast.MustParseModule(tc.support))
			}
			got, ok := split(queries, mods)
			if ok != tc.want {
				t.Fatalf("split = %v, want %v", ok, tc.want)
			}
			if !ok {
				return
			}
			if got.value.String() != `{"allow": true, "reason": ""}` {
				t.Errorf("grant = %v", got.value)
			}
			if want := strings.Count(strings.Join(tc.queries, "\n"), grant); len(got.granted) != want {
				t.Errorf("%d granting bodies, want %d", len(got.granted), want)
			}
			for _, b := range got.granted {
				if strings.Contains(b.String(), "x =") {
					t.Errorf("granting body %v still binds the decision", b)
				}
			}
			switch {
			case tc.reason != "":
				if got.reason == nil || got.reason.String() != tc.reason {
					t.Errorf("reason = %v, want %s", got.reason, tc.reason)
				}
				if strings.Contains(got.denied.String(), "not ") || strings.Contains(got.denied.String(), "x =") {
					t.Errorf("denial %v keeps the negation or the binding", got.denied)
				}
			case got.denied != nil:
				if got.reason != nil || !strings.Contains(got.denied.String(), "x =") {
					t.Errorf("denial %v (reason %v) should give the whole object", got.denied, got.reason)
				}
			}
		})
	}
}
