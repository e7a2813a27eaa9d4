package policy

import (
	"slices"
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
		// An operator's deny rules, as partial evaluation leaves them: every
		// grant holds count(deny, 0), and the denial is two bodies.
		denyRead  = `count(data.partial.sluice.authz.deny, 0)`
		denyRules = `package partial.sluice.authz

deny contains m if { not data.partial.adm; input.path[i].name = "pii"; sprintf("%s is for admins", [input.path[i].fqn], m) }
`
		admRules = `package partial

adm = true if { internal.member_2("admin", input.principal.roles) }
`
		denyByDeny  = `not data.partial.n; gt(count(data.partial.sluice.authz.deny), 0); concat("; ", data.partial.sluice.authz.deny, r); x = {"allow": false, "reason": r}`
		denyMissing = `not data.partial.n; ` + denyRead + `; concat("", ["missing SELECT on ", input.path[2].kind], r); x = {"allow": false, "reason": r}`
	)
	grants := []string{
		`__local1__ = input.principal.roles; internal.member_2("admin", __local1__); ` + grant,
		`input.path[2].privileges.SELECT; ` + grant,
		`input.path[2].inherited.ALL; ` + grant,
	}
	// withDeny adds the read of the deny rules to every grant and to N.
	withDeny := func(grantsAndDenials ...string) []string {
		out := make([]string, len(grantsAndDenials))
		for i, q := range grantsAndDenials {
			out[i] = strings.Replace(q, grant, denyRead+"; "+grant, 1)
		}
		return out
	}
	supportDeny := strings.ReplaceAll(support, " }\n", "; "+denyRead+" }\n")
	for _, tc := range []struct {
		name    string
		queries []string
		support []string
		want    bool     // split
		reasons []string // the reason terms split finds, if any
	}{
		{"default form", append(grants[:3:3], deny), []string{support}, true, []string{"r"}},
		{"bodies in another order", []string{deny, grants[2], grants[0], grants[1]}, []string{support}, true, []string{"r"}},
		{"grants only", grants, nil, true, nil},
		{"denial object with another key",
			append(grants[:3:3], strings.Replace(deny, `"reason": r}`, `"reason": r, "code": 7}`, 1)), []string{support}, true, nil},
		{"two denials", append(grants[:3:3], deny, deny), []string{support}, true, []string{"r", "r"}},
		{"two denials, one with another key", append(grants[:3:3], deny,
			strings.Replace(deny, `"reason": r}`, `"reason": r, "code": 7}`, 1)), []string{support}, true, nil},
		{"operator deny rules", append(withDeny(grants...), denyByDeny, denyMissing),
			[]string{supportDeny, denyRules, admRules}, true, []string{"r", "r"}},
		{"a denial giving a computed reason", append(grants[:3:3],
			`not data.partial.n; x = {"allow": false, "reason": concat("; ", data.partial.sluice.authz.deny)}`),
			[]string{support, denyRules, admRules}, true, []string{`concat("; ", data.partial.sluice.authz.deny)`}},
		{"no grant", []string{deny}, []string{support}, false, nil},
		{"negation of other rules",
			append(grants[:3:3], deny), []string{strings.Replace(support, "inherited.ALL", "inherited.OWNERSHIP", 1)}, false, nil},
		{"negation of more rules",
			append(grants[:3:3], deny), []string{support + "n = true if { input.path[2].privileges.ALL }\n"}, false, nil},
		{"negation of fewer rules", append(grants[:3:3], deny), []string{support[:strings.LastIndex(support, "n = true")]}, false, nil},
		{"negated rule with a default", append(grants[:3:3], deny), []string{support + "default n = false\n"}, false, nil},
		{"no negation", append(grants[:3:3], strings.TrimPrefix(deny, "not data.partial.n; ")), []string{support}, false, nil},
		{"denials negating different rules", append(grants[:3:3], deny, strings.Replace(deny, "partial.n", "partial.m", 1)),
			[]string{support, strings.ReplaceAll(support, "\nn = ", "\nm = ")}, false, nil},
		{"two grant values",
			append(grants[:2:2], strings.Replace(grants[2], `"reason": ""`, `"reason": "why"`, 1), deny), []string{support}, false, nil},
		{"a grant that may fail", append(grants[:3:3],
			`to_number(input.path[2].name, __local5__); __local5__ > 3; `+grant, deny),
			[]string{support + "n = true if { to_number(input.path[2].name, __local6__); __local6__ > 3 }\n"}, false, nil},
		{"a grant reading data", append(grants[:3:3], `data.flags.open; `+grant, deny),
			[]string{support + "n = true if { data.flags.open }\n"}, false, nil},
		{"a grant counting what may be no collection", append(grants[:3:3], `count(input.path[2].grants, 0); `+grant, deny),
			[]string{support + "n = true if { count(input.path[2].grants, 0) }\n"}, false, nil},
		{"deny rules that may fail", append(withDeny(grants...), denyByDeny, denyMissing),
			[]string{supportDeny, strings.Replace(denyRules, `input.path[i].name = "pii"`, `startswith(input.path[i].name, "pii")`, 1), admRules}, false, nil},
		{"deny rules counted though not a set", append(withDeny(grants...), denyByDeny, denyMissing),
			[]string{supportDeny, "package partial.sluice.authz\n\ndeny = \"x\" if { input.path[2].name = \"pii\" }\n"}, false, nil},
		{"deny rules reading themselves", append(withDeny(grants...), denyByDeny, denyMissing),
			[]string{supportDeny, "package partial.sluice.authz\n\ndeny contains 1 if { count(data.partial.sluice.authz.deny, 0) }\n"}, false, nil},
		{"a denial failing before its negation",
			append(grants[:3:3], `to_number(input.path[2].name, __local7__); `+deny), []string{support}, false, nil},
		{"decision bound twice", append(grants[:3:3], deny+"; x = input.y"), []string{support}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var queries []ast.Body
			for _, q := range tc.queries {
				queries = append(queries, ast.MustParseBody(q))
			}
			var mods []*ast.Module
			for _, src := range tc.support {
				mods = append(mods, ast.MustParseModule(src))
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
			var reasons []string
			for _, r := range got.reasons {
				reasons = append(reasons, r.String())
			}
			if !slices.Equal(reasons, tc.reasons) {
				t.Errorf("reasons = %v, want %v", reasons, tc.reasons)
			}
			for _, d := range got.denied {
				if strings.Contains(d.String(), "not data.partial.n") {
					t.Errorf("denial %v keeps the negation", d)
				}
				if binds := strings.Contains(d.String(), "x ="); binds != (tc.reasons == nil) {
					t.Errorf("denial %v: binds the decision %v, want %v", d, binds, tc.reasons == nil)
				}
			}
		})
	}
}
