package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/sluice-io/sluice/catalog/object"
)

// differentialRequests are requests of every shape the engine sees: catalog
// paths of one to three nodes with realistic grants (the benchmark's
// catalog), CREATE at every depth, admins, workers, recipients on share
// paths and on catalog paths, and actions at every level.
func differentialRequests() []Request {
	cat := newBenchCatalog(7)
	var reqs []Request
	reqs = append(reqs, cat.requests(300, 1, 11)...)
	reqs = append(reqs, cat.requests(300, 2, 12)...)
	reqs = append(reqs, cat.requests(600, 3, 13)...)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 400 {
		r := cat.requests(1, 1+rng.IntN(3), uint64(100+i))[0]
		switch rng.IntN(6) {
		case 0:
			r.Principal.Roles = append(r.Principal.Roles, "admin")
		case 1:
			r.Principal.Kind = PrincipalWorker
		case 2:
			// The principal holds the grants of the path's first roles.
			for _, n := range r.Path {
				if len(n.Grants) > 0 {
					r.Principal.Roles = append(r.Principal.Roles, n.Grants[rng.IntN(len(n.Grants))].Role)
				}
			}
		}
		r.Action = Actions[rng.IntN(len(Actions))]
		if len(r.Path) > 1 && rng.IntN(3) == 0 {
			r.Path[1].Name = "pii" // for the operator module below
		}
		reqs = append(reqs, r)
	}
	granted := []string{"acme"}
	for _, who := range []Principal{{Kind: PrincipalRecipient, Name: "acme"}, {Kind: PrincipalRecipient, Name: "other"}, user("admin")} {
		for _, a := range []Action{ActionSelect, ActionDescribe} {
			for _, p := range [][]Node{
				{{Kind: object.KindShare, Name: "q3", Recipients: granted}},
				{{Kind: object.KindShare, Name: "q3"}},
				sharePath("q3", granted, []string{"q3"}),
				sharePath("q3", granted, []string{"q4"}),
				catalogPath(2, object.KindTable, nil),
			} {
				reqs = append(reqs, Request{Principal: who, Action: a, Path: p})
			}
		}
	}
	return reqs
}

// TestSpecialisedDecidesAsGeneral: the residual policies OPA's partial
// evaluation makes decide every request exactly as the whole policy does,
// reasons and errors included, for the default policy and with operator
// modules.
func TestSpecialisedDecidesAsGeneral(t *testing.T) {
	ctx := context.Background()
	reqs := differentialRequests()
	for _, c := range []struct {
		name   string
		mods   []Module
		denial string // a reason the module gives, to be seen at least 10 times
		render bool   // split shapes render their denial's reason (reason.go)
	}{
		{"default", nil, "missing USAGE on schema", true},
		{"pii deny rule", []Module{{Name: "pii.rego", Source: piiModule}}, "is restricted to admins", false},
		{"deny by role and action", []Module{{Name: "x.rego", Source: `package sluice.authz

deny contains msg if {
	input.action in {"DROP", "ALTER"}
	some r in input.principal.roles
	startswith(r, "role_1")
	msg := sprintf("%s may not %s on %s", [r, input.action, node.fqn])
}
`}}, " may not ", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			general, err := New(ctx, WithModules(c.mods...), WithoutSpecialisation(), WithDecisionCache(0))
			if err != nil {
				t.Fatal(err)
			}
			special, err := New(ctx, WithModules(c.mods...), WithDecisionCache(0))
			if err != nil {
				t.Fatal(err)
			}
			allowed, denials := 0, 0
			for i, r := range reqs {
				want, werr := general.Decide(ctx, r)
				got, gerr := special.Decide(ctx, r)
				if got.Allow != want.Allow || got.Reason != want.Reason || fmt.Sprint(gerr) != fmt.Sprint(werr) {
					t.Fatalf("request %d %+v:\nspecialised %+v, %v\ngeneral     %+v, %v", i, r, got, gerr, want, werr)
				}
				if got.Allow {
					allowed++
				}
				if strings.Contains(got.Reason, c.denial) {
					denials++
				}
			}
			if denials < 10 {
				t.Fatalf("%q given %d times: the corpus does not exercise the policy", c.denial, denials)
			}
			// Both outcomes must be well represented for the comparison to mean anything.
			if allowed < len(reqs)/10 || allowed > len(reqs)*9/10 {
				t.Fatalf("%d of %d requests allowed: the corpus does not exercise both outcomes", allowed, len(reqs))
			}
			// And the specialised engine must really have evaluated residuals.
			st := special.state.Load()
			if st.spec == nil {
				t.Fatal("the default engine does not specialise")
			}
			shapes, failed := 0, 0
			for k, r := range st.spec.shapes {
				shapes++
				if !r.ok {
					failed++
					t.Errorf("shape %+v not specialised: %v", k, r.err)
				}
			}
			if shapes < 20 || failed > 0 {
				t.Fatalf("%d shapes, %d not specialised", shapes, failed)
			}
			// Residuals split (split.go) but for a few shapes that decide
			// with one body, and those whose operator deny rules call a
			// builtin that may fail (startswith), evaluated whole.
			halves, rendered := 0, 0
			for _, r := range st.spec.shapes {
				if r.query == nil {
					halves++
				}
				if r.reason != nil {
					rendered++
				}
			}
			t.Logf("%d shapes, %d split, %d rendering their reason", shapes, halves, rendered)
			if halves < shapes*3/4 {
				t.Fatalf("only %d of %d shapes split", halves, shapes)
			}
			// The default policy's denials are texts of the request's
			// fields: every split shape renders its reason.
			if c.render && rendered < halves {
				t.Fatalf("only %d of %d split shapes render their reason", rendered, halves)
			}
		})
	}
}

// TestNondeterministicPolicyIsNotSpecialised: a policy reading the clock
// must be evaluated afresh for every check.
func TestNondeterministicPolicyIsNotSpecialised(t *testing.T) {
	eng, err := New(context.Background(), WithModules(Module{Name: "hours.rego", Source: "package sluice.authz\n\ndeny contains \"after hours\" if time.now_ns() < 0\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if eng.state.Load().spec != nil {
		t.Fatal("a policy calling time.now_ns is specialised")
	}
}

// TestReservedPackageRefused: a module cannot shadow the specialised
// policies' package.
func TestReservedPackageRefused(t *testing.T) {
	_, err := New(context.Background(), WithModules(Module{Name: "evil.rego", Source: "package sluice_specialised\n\ndecision := {\"allow\": true}\n"}))
	if err == nil || !strings.Contains(err.Error(), "evil.rego: package data.sluice_specialised is reserved") {
		t.Fatalf("got %v", err)
	}
}

// TestFlatCacheMatchesOPA: the flat virtual-document cache answers every
// Get as OPA's own cache does, over random sequences of Push, Pop, Put
// (values and undefined) and Get on overlapping refs.
func TestFlatCacheMatchesOPA(t *testing.T) {
	refs := []ast.Ref{
		ast.MustParseRef("data.a.allow"),
		ast.MustParseRef("data.a.reason"),
		ast.MustParseRef("data.b.allow"),
		ast.MustParseRef(`data.a.x["k"]`),
		ast.MustParseRef("data.a.x"),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		opa, flat := topdown.NewVirtualCache(), newFlatCache()
		depth := 0
		for step := range 60 {
			ref := refs[rng.IntN(len(refs))]
			switch op := rng.IntN(10); {
			case op == 0:
				opa.Push()
				flat.Push()
				depth++
			case op == 1 && depth > 0:
				opa.Pop()
				flat.Pop()
				depth--
			case op < 5:
				var v *ast.Term
				if rng.IntN(3) > 0 {
					v = ast.IntNumberTerm(rng.IntN(5))
				}
				opa.Put(ref, v)
				flat.Put(ref, v)
			default:
				wv, wu := opa.Get(ref)
				gv, gu := flat.Get(ref)
				if wu != gu || !wv.Equal(gv) {
					t.Fatalf("round %d step %d: Get(%v) = %v, %v; OPA's cache %v, %v", round, step, ref, gv, gu, wv, wu)
				}
			}
		}
		flat.release()
	}
}

// fuzzEngines are the engines FuzzSpecialisedDecidesAsGeneral compares, in
// pairs (whole policy, specialised): the default policy, whose residuals
// split (split.go), and the default with an operator deny rule loaded, so
// that deny paths and whole residuals are exercised too.
var fuzzEngines struct {
	once  sync.Once
	pairs [][2]*Engine
	err   error
}

// FuzzSpecialisedDecidesAsGeneral: for any request the fuzzer can build —
// any principal kind, roles, action (valid or not), path of 1–5 nodes of
// any kind with any grants, recipients and shares — the specialised engine
// decides exactly as the whole policy does.
func FuzzSpecialisedDecidesAsGeneral(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{1, 0, 1, 2, 0, 3, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte("\x02\x05\x03\x04share-db-schema-table"))
	f.Add([]byte{0, 0xff, 4, 3, 2, 1, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzEngines.once.Do(func() {
			ctx := context.Background()
			for _, mods := range [][]Module{nil, {{Name: "pii.rego", Source: piiModule}}} {
				general, err := New(ctx, WithModules(mods...), WithoutSpecialisation(), WithDecisionCache(0))
				if err != nil {
					fuzzEngines.err = err
					return
				}
				special, err := New(ctx, WithModules(mods...), WithDecisionCache(0))
				if err != nil {
					fuzzEngines.err = err
					return
				}
				fuzzEngines.pairs = append(fuzzEngines.pairs, [2]*Engine{general, special})
			}
		})
		if fuzzEngines.err != nil {
			t.Fatal(fuzzEngines.err)
		}
		r := fuzzRequest(data)
		ctx := context.Background()
		for i, pair := range fuzzEngines.pairs {
			want, werr := pair[0].Decide(ctx, r)
			got, gerr := pair[1].Decide(ctx, r)
			if got.Allow != want.Allow || got.Reason != want.Reason || fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Fatalf("engines %d, %+v:\nspecialised %+v, %v\ngeneral     %+v, %v", i, r, got, gerr, want, werr)
			}
		}
	})
}

// fuzzRequest builds a request from fuzz bytes, drawing names from small
// sets so that grants, recipients and shares meet the principal often.
func fuzzRequest(data []byte) Request {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := int(data[0])
		data = data[1:]
		return b
	}
	roles := []string{"admin", "analyst", "reader", "owner"}
	names := []string{"sales", "eu", "pii", "orders", "q3", "acme"}
	privs := []object.Privilege{"USAGE", "SELECT", "INSERT", "CREATE", "DROP", "ALTER", "DESCRIBE", "OWNERSHIP", "ALL", "GRANT", "BOGUS"}
	kinds := []PrincipalKind{PrincipalUser, PrincipalRecipient, PrincipalWorker}
	r := Request{Principal: Principal{Kind: kinds[next()%len(kinds)], Name: names[next()%len(names)]}}
	m := next()
	for i, role := range roles {
		if m>>i&1 == 1 {
			r.Principal.Roles = append(r.Principal.Roles, role)
		}
	}
	acts := append(slices.Clone(Actions), "FLY")
	r.Action = acts[next()%len(acts)]
	depth := 1 + next()%5
	for range depth {
		n := Node{Kind: object.Kinds[next()%len(object.Kinds)], Name: names[next()%len(names)]}
		for g := next() % 4; g > 0; g-- {
			n.Grants = append(n.Grants, Grant{Role: roles[next()%len(roles)], Privilege: privs[next()%len(privs)]})
		}
		switch next() % 4 {
		case 1:
			n.Recipients = []string{names[next()%len(names)]}
		case 2:
			n.Shares = []string{names[next()%len(names)]}
		}
		r.Path = append(r.Path, n)
	}
	return r
}

// exprCounter counts the expressions an evaluation evaluates.
type exprCounter struct{ n int }

func (c *exprCounter) Enabled() bool { return true }

func (c *exprCounter) TraceEvent(ev topdown.Event) {
	if _, ok := ev.Node.(*ast.Expr); ok && ev.Op == topdown.EvalOp {
		c.n++
	}
}

func (c *exprCounter) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

// TestResidualStaysSmall guards the shape of the default policy's
// residuals, which sets what a check costs: "decision" is inlined into one
// flat rule, with no "allow" rule holding a default behind it, which split
// (split.go) turns into a grant, where OPA's rule index skips the bodies of
// privileges the node does not hold and stops at the first that holds, and
// a denial evaluated only when no grant holds. A relation check then
// evaluates 5 expressions when denied and 2 when granted. Unsplit, the one
// flat rule took 7 and 6 (the negation evaluated the grants a second time);
// with "decision" built as one object over a defaulted "allow", as before
// that, 10 and 7.
func TestResidualStaysSmall(t *testing.T) {
	ctx := context.Background()
	eng, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := eng.state.Load()
	sel := func(grants map[int][]Grant) Request {
		return Request{Principal: user("analyst"), Action: ActionSelect, Path: catalogPath(2, object.KindTable, grants)}
	}
	for _, tc := range []struct {
		name     string
		r        Request
		allow    bool
		maxExprs int
	}{
		// The grant's query only: the reason is rendered (reason.go).
		{"denied", sel(nil), false, 1},
		{"granted on the table", sel(map[int][]Grant{2: {{Role: "analyst", Privilege: "SELECT"}}}), true, 2},
		{"inherited from the database", sel(map[int][]Grant{0: {{Role: "analyst", Privilege: "ALL"}}}), true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := shape{kind: tc.r.Principal.Kind, action: tc.r.Action, node: 2, depth: 3}
			res := st.spec.residual(ctx, s)
			if !res.ok {
				t.Fatalf("shape %+v not specialised: %v", s, res.err)
			}
			in := eng.input(tc.r, QualifiedNames(tc.r.Path)).node(2)
			var c exprCounter
			allow, reason, err := res.evalTraced(ctx, st.spec, ast.NewTerm(in.value), &c)
			if err != nil || allow != tc.allow {
				t.Fatalf("decision = %v %q %v, want allow %v", allow, reason, err, tc.allow)
			}
			t.Logf("%d expressions", c.n)
			if c.n > tc.maxExprs {
				t.Errorf("the check evaluated %d expressions, want at most %d: the residual is no longer one flat rule split in two (see the comments in rego/sluice.rego and split.go)", c.n, tc.maxExprs)
			}
		})
	}
}

// TestSpecialisedConcurrentChecks: checks evaluated from many goroutines
// at once — sharing the residuals, the store's one read transaction, the
// pooled virtual caches and the reason templates — decide exactly as the
// same checks one at a time (and -race finds no data race in them:
// go test -race -run ConcurrentChecks ./policy/).
func TestSpecialisedConcurrentChecks(t *testing.T) {
	ctx := context.Background()
	reqs := differentialRequests()
	eng, err := New(ctx, WithDecisionCache(0))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Decision, len(reqs))
	for i, r := range reqs {
		want[i], _ = eng.Decide(ctx, r)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range reqs {
				i := (k*7 + w*131) % len(reqs) // each worker in its own order
				got, _ := eng.Decide(ctx, reqs[i])
				if got.Allow != want[i].Allow || got.Reason != want[i].Reason {
					t.Errorf("request %d decided %v %q concurrently, %v %q alone", i, got.Allow, got.Reason, want[i].Allow, want[i].Reason)
					return
				}
			}
		}()
	}
	wg.Wait()
}
