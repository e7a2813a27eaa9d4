package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
)

// sharedEngine compiles the default policy once for the tests that need no
// options of their own (OPA's compile is the slow part of a test).
var shared struct {
	once sync.Once
	eng  *Engine
	sink *MemorySink
	err  error
}

func defaultEngine(t testing.TB) (*Engine, *MemorySink) {
	t.Helper()
	shared.once.Do(func() {
		shared.sink = &MemorySink{}
		shared.eng, shared.err = New(context.Background(), WithSink(shared.sink))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.eng, shared.sink
}

const (
	dbName, schemaName, tableName, streamName = "sales", "eu", "orders", "clicks"
)

// catalogPath builds the path to a target at the given level (0 database,
// 1 schema, 2 relation) of kind leaf, with grants[i] on node i.
func catalogPath(level int, leaf object.Kind, grants map[int][]Grant) []Node {
	all := []Node{
		{Kind: object.KindDatabase, Name: dbName},
		{Kind: object.KindSchema, Name: schemaName},
		{Kind: leaf, Name: tableName},
	}
	if leaf == object.KindStream {
		all[2].Name = streamName
	}
	p := slices.Clone(all[:level+1])
	for i := range p {
		p[i].Grants = grants[i]
	}
	return p
}

func user(roles ...string) Principal {
	return Principal{Kind: PrincipalUser, Name: "alice", Roles: roles}
}

// TestAuthorizationMatrix decides every action but CREATE (see TestCreate)
// at every level, for every source of the privilege.
func TestAuthorizationMatrix(t *testing.T) {
	eng, sink := defaultEngine(t)
	ctx := context.Background()
	// junior is granted analyst, analyst is granted reader (and back: a cycle).
	graph := map[string][]string{"junior": {"analyst"}, "analyst": {"reader"}, "reader": {"junior"}}

	type level struct {
		name  string
		index int
		leaf  object.Kind
		label string // the target as reasons name it
	}
	levels := []level{
		{"database", 0, object.KindTable, "database sales"},
		{"schema", 1, object.KindTable, "schema sales.eu (or an ancestor)"},
		{"table", 2, object.KindTable, "table sales.eu.orders (or an ancestor)"},
		{"stream", 2, object.KindStream, "stream sales.eu.clicks (or an ancestor)"},
	}
	sources := []string{"none", "direct", "from-database", "from-schema", "role-of-role"}

	decisions := 0
	for _, action := range Actions {
		if action == ActionCreate {
			continue
		}
		for _, lv := range levels {
			for _, src := range sources {
				on := -1 // node the privilege is granted on
				switch src {
				case "direct", "role-of-role":
					on = lv.index
				case "from-database":
					on = 0
				case "from-schema":
					on = 1
				}
				if on > lv.index || (src == "from-schema" && lv.index == 1) || (src == "from-database" && lv.index == 0) {
					continue // not an ancestor: the case is "direct"
				}
				name := fmt.Sprintf("%s/%s/%s", action, lv.name, src)
				t.Run(name, func(t *testing.T) {
					grantee, roles := "analyst", []string{"analyst"}
					if src == "role-of-role" {
						grantee = "reader"
						roles = ExpandRoles(graph, []string{"junior"})
					}
					grants := map[int][]Grant{}
					for i := 0; i < lv.index; i++ { // USAGE on every ancestor, as such
						grants[i] = append(grants[i], Grant{Role: "analyst", Privilege: "USAGE"})
					}
					if on >= 0 {
						grants[on] = append(grants[on], Grant{Role: grantee, Privilege: action})
					}
					// Noise: other roles' grants, which must change nothing.
					for i := 0; i <= lv.index; i++ {
						grants[i] = append(grants[i], Grant{Role: "other", Privilege: "ALL"}, Grant{Role: "other", Privilege: "OWNERSHIP"})
					}
					req := Request{Principal: user(roles...), Action: action, Path: catalogPath(lv.index, lv.leaf, grants)}

					// A grant counts only on a kind it applies to
					// (object.Grantable): USAGE on a table, INSERT on a
					// stream count for nothing.
					wantAllow := src != "none" && object.Applies(action, req.Path[on].Kind)
					label := lv.label
					if action == ActionUsage {
						// A USAGE grant covers its own node only.
						wantAllow = wantAllow && on == lv.index
						label = strings.TrimSuffix(label, " (or an ancestor)")
					}
					wantReason := ""
					if !wantAllow {
						wantReason = fmt.Sprintf("missing %s on %s", action, label)
					}

					d, err := eng.Decide(ctx, req)
					decisions++
					if err != nil {
						t.Fatalf("Decide: %v", err)
					}
					if d.Allow != wantAllow || d.Reason != wantReason {
						t.Fatalf("got allow=%v reason=%q, want allow=%v reason=%q", d.Allow, d.Reason, wantAllow, wantReason)
					}
					if d.Revision == "" || d.Revision != eng.Revision() {
						t.Fatalf("revision %q, engine's %q", d.Revision, eng.Revision())
					}
					assertAudited(t, sink, req, d)
				})
			}
		}
	}
	if decisions < 150 {
		t.Fatalf("matrix made only %d decisions", decisions)
	}
}

// assertAudited checks that the last event in sink is d's.
func assertAudited(t *testing.T, sink *MemorySink, req Request, d Decision) {
	t.Helper()
	ev := sink.Events()
	if len(ev) == 0 {
		t.Fatal("no audit event")
	}
	e := ev[len(ev)-1]
	names := QualifiedNames(req.Path)
	want := Event{
		Time:          e.Time,
		Principal:     string(req.Principal.Kind) + ":" + req.Principal.Name,
		Action:        req.Action,
		Path:          names[len(names)-1],
		Allow:         d.Allow,
		Reason:        d.Reason,
		Revision:      d.Revision,
		LatencyMicros: d.Latency.Microseconds(),
	}
	if e != want {
		t.Fatalf("audit event %+v, want %+v", e, want)
	}
}

func TestMissingUsageOnAncestor(t *testing.T) {
	eng, sink := defaultEngine(t)
	ctx := context.Background()
	sel := Grant{Role: "analyst", Privilege: "SELECT"}
	use := Grant{Role: "analyst", Privilege: "USAGE"}
	cases := []struct {
		name   string
		grants map[int][]Grant
		reason string
	}{
		{"no usage anywhere", map[int][]Grant{2: {sel}}, "missing USAGE on database sales"},
		{"usage on database only", map[int][]Grant{0: {use}, 2: {sel}}, "missing USAGE on schema sales.eu"},
		{"usage on schema only", map[int][]Grant{1: {use}, 2: {sel}}, "missing USAGE on database sales"},
		{"select on database, usage on database", map[int][]Grant{0: {use, sel}}, "missing USAGE on schema sales.eu"},
		{"usage on the table is not usage on its parents", map[int][]Grant{2: {use, sel}}, "missing USAGE on database sales"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := Request{Principal: user("analyst"), Action: ActionSelect, Path: catalogPath(2, object.KindTable, c.grants)}
			d, err := eng.Decide(ctx, req)
			if err != nil || d.Allow || d.Reason != c.reason {
				t.Fatalf("got %+v, %v; want deny %q", d, err, c.reason)
			}
			assertAudited(t, sink, req, d)
		})
	}
}

func TestOwnershipAndAll(t *testing.T) {
	eng, _ := defaultEngine(t)
	ctx := context.Background()
	owner := map[int][]Grant{0: {{Role: "owner", Privilege: "OWNERSHIP"}}}
	tableOwner := map[int][]Grant{
		0: {{Role: "owner", Privilege: "USAGE"}}, 1: {{Role: "owner", Privilege: "USAGE"}},
		2: {{Role: "owner", Privilege: "OWNERSHIP"}},
	}
	all := map[int][]Grant{0: {{Role: "owner", Privilege: "USAGE"}}, 1: {{Role: "owner", Privilege: "ALL"}}}
	for _, a := range Actions {
		if a == ActionCreate {
			continue
		}
		for name, g := range map[string]map[int][]Grant{"database owner": owner, "table owner": tableOwner} {
			d, err := eng.Decide(ctx, Request{Principal: user("owner"), Action: a, Path: catalogPath(2, object.KindTable, g)})
			if err != nil || !d.Allow {
				t.Errorf("%s %s: got %+v, %v; want allow", name, a, d, err)
			}
		}
		d, err := eng.Decide(ctx, Request{Principal: user("owner"), Action: a, Path: catalogPath(2, object.KindTable, all)})
		if a == ActionOwnership {
			if err != nil || d.Allow || d.Reason != "missing OWNERSHIP on table sales.eu.orders (or an ancestor)" {
				t.Errorf("ALL %s: got %+v, %v; want deny", a, d, err)
			}
		} else if err != nil || !d.Allow {
			t.Errorf("ALL %s: got %+v, %v; want allow", a, d, err)
		}
	}
}

func TestCreate(t *testing.T) {
	eng, _ := defaultEngine(t)
	ctx := context.Background()
	use := Grant{Role: "dev", Privilege: "USAGE"}
	create := Grant{Role: "dev", Privilege: "CREATE"}
	newTable := func(g map[int][]Grant) []Node {
		p := catalogPath(2, object.KindTable, g)
		p[2].Name = "new_orders"
		return p
	}
	cases := []struct {
		name   string
		roles  []string
		path   []Node
		reason string // "" for allow
	}{
		{"create on schema", []string{"dev"}, newTable(map[int][]Grant{0: {use}, 1: {create}}), ""},
		{"create inherited from database", []string{"dev"}, newTable(map[int][]Grant{0: {use, create}}), ""},
		{"no create", []string{"dev"}, newTable(map[int][]Grant{0: {use}, 1: {use}}), "missing CREATE on schema sales.eu (or an ancestor)"},
		{"create on schema, no usage on database", []string{"dev"}, newTable(map[int][]Grant{1: {create}}), "missing USAGE on database sales"},
		{"grants on the new object do not count", []string{"dev"}, newTable(map[int][]Grant{0: {use}, 2: {create, {Role: "dev", Privilege: "OWNERSHIP"}}}), "missing CREATE on schema sales.eu (or an ancestor)"},
		{"schema in a database", []string{"dev"}, catalogPath(1, object.KindTable, map[int][]Grant{0: {create}}), ""},
		{"top-level database", []string{"dev"}, catalogPath(0, object.KindTable, nil), "missing CREATE: creating top-level database sales needs the admin role"},
		{"top-level database by admin", []string{"admin"}, catalogPath(0, object.KindTable, nil), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := eng.Decide(ctx, Request{Principal: user(c.roles...), Action: ActionCreate, Path: c.path})
			if err != nil || d.Allow != (c.reason == "") || d.Reason != c.reason {
				t.Fatalf("got %+v, %v; want reason %q", d, err, c.reason)
			}
		})
	}
}

func TestAdminMayDoAnything(t *testing.T) {
	eng, sink := defaultEngine(t)
	for _, a := range Actions {
		for level := 0; level < 3; level++ {
			req := Request{Principal: user("viewer", "admin"), Action: a, Path: catalogPath(level, object.KindStream, nil)}
			d, err := eng.Decide(context.Background(), req)
			if err != nil || !d.Allow || d.Reason != "" {
				t.Fatalf("admin %s at level %d: %+v, %v", a, level, d, err)
			}
			assertAudited(t, sink, req, d)
		}
	}
	// Other kinds of node, one level deep.
	for _, k := range []object.Kind{object.KindStore, object.KindShare, object.KindQuery, object.KindUser, object.KindRole, object.KindRecipient} {
		d, err := eng.Decide(context.Background(), Request{Principal: user("admin"), Action: ActionDrop, Path: []Node{{Kind: k, Name: "x"}}})
		if err != nil || !d.Allow {
			t.Fatalf("admin DROP %s: %+v, %v", k, d, err)
		}
	}
}

func TestNonCatalogNodes(t *testing.T) {
	eng, _ := defaultEngine(t)
	ctx := context.Background()
	q := []Node{{Kind: object.KindQuery, Name: "q42", Grants: []Grant{{Role: "ops", Privilege: "OPERATE"}, {Role: "ops", Privilege: "MONITOR"}}}}
	for _, c := range []struct {
		a      Action
		reason string
	}{{ActionOperate, ""}, {ActionMonitor, ""}, {ActionDrop, "missing DROP on query q42"}} {
		d, err := eng.Decide(ctx, Request{Principal: Principal{Kind: PrincipalWorker, Name: "w1", Roles: []string{"ops"}}, Action: c.a, Path: q})
		if err != nil || d.Allow != (c.reason == "") || d.Reason != c.reason {
			t.Fatalf("%s: %+v, %v; want %q", c.a, d, err, c.reason)
		}
	}
}

func TestInvalidRequestsFailClosed(t *testing.T) {
	eng, sink := defaultEngine(t)
	ok := catalogPath(0, object.KindTable, nil)
	for name, req := range map[string]Request{
		"no principal kind": {Principal: Principal{Name: "x", Roles: []string{"admin"}}, Action: ActionSelect, Path: ok},
		"no principal name": {Principal: Principal{Kind: PrincipalUser, Roles: []string{"admin"}}, Action: ActionSelect, Path: ok},
		"unknown action":    {Principal: user("admin"), Action: "DELETE", Path: ok},
		"ALL as action":     {Principal: user("admin"), Action: object.PrivAll, Path: ok},
		"empty path":        {Principal: user("admin"), Action: ActionSelect},
		"unknown kind":      {Principal: user("admin"), Action: ActionSelect, Path: []Node{{Kind: "view", Name: "v"}}},
		"unnamed node":      {Principal: user("admin"), Action: ActionSelect, Path: []Node{{Kind: object.KindDatabase}}},
	} {
		d, err := eng.Decide(context.Background(), req)
		if !errors.Is(err, ErrInvalidRequest) || d.Allow || !strings.Contains(d.Reason, "invalid authorization request") {
			t.Errorf("%s: got %+v, %v", name, d, err)
		}
		if ev := sink.Events(); ev[len(ev)-1].Allow || ev[len(ev)-1].Reason != d.Reason {
			t.Errorf("%s: audit %+v", name, ev[len(ev)-1])
		}
	}
}

func TestExpandRoles(t *testing.T) {
	graph := map[string][]string{
		"junior":  {"analyst"},
		"analyst": {"reader", "writer"},
		"writer":  {"reader", "junior"}, // cycle back to junior
		"self":    {"self"},
		"island":  {"x"},
	}
	cases := []struct {
		direct []string
		want   []string
	}{
		{nil, []string{}},
		{[]string{"reader"}, []string{"reader"}},
		{[]string{"junior"}, []string{"analyst", "junior", "reader", "writer"}},
		{[]string{"writer", "junior", "writer"}, []string{"analyst", "junior", "reader", "writer"}},
		{[]string{"self"}, []string{"self"}},
		{[]string{"unknown"}, []string{"unknown"}},
		{[]string{"island", "reader"}, []string{"island", "reader", "x"}},
	}
	for _, c := range cases {
		if got := ExpandRoles(graph, c.direct); !slices.Equal(got, c.want) {
			t.Errorf("ExpandRoles(%v) = %v, want %v", c.direct, got, c.want)
		}
	}
}

func TestQualifiedNames(t *testing.T) {
	got := QualifiedNames([]Node{{Name: "sales"}, {Name: "e.u"}, {Name: `or"ders`}})
	want := []string{"sales", `sales."e.u"`, `sales."e.u"."or""ders"`}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

const piiModule = `package sluice.authz

# Schemas named pii are for admins only, whatever was granted.
deny contains msg if {
	not is_admin
	some node in input.path
	node.kind == "schema"
	node.name == "pii"
	msg := sprintf("schema %s is restricted to admins", [node.fqn])
}
`

// TestCustomDenyModule: a module loaded from a file changes decisions with no
// code change.
func TestCustomDenyModule(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pii.rego")
	if err := os.WriteFile(file, []byte(piiModule), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := &MemorySink{}
	eng, err := New(context.Background(), WithModuleFiles(file), WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := defaultEngine(t)
	if eng.Revision() == base.Revision() {
		t.Fatal("revision did not change with the extra module")
	}
	g := map[int][]Grant{
		0: {{Role: "analyst", Privilege: "USAGE"}},
		1: {{Role: "analyst", Privilege: "USAGE"}, {Role: "analyst", Privilege: "SELECT"}},
	}
	pii := catalogPath(2, object.KindTable, g)
	pii[1].Name = "pii"
	eu := catalogPath(2, object.KindTable, g)
	ctx := context.Background()

	for _, c := range []struct {
		name   string
		eng    *Engine
		p      Principal
		path   []Node
		reason string
	}{
		{"default policy allows pii", base, user("analyst"), pii, ""},
		{"module denies pii", eng, user("analyst"), pii, "schema sales.pii is restricted to admins"},
		{"module leaves other schemas", eng, user("analyst"), eu, ""},
		{"module leaves admins", eng, user("admin"), pii, ""},
	} {
		d, err := c.eng.Decide(ctx, Request{Principal: c.p, Action: ActionSelect, Path: c.path})
		if err != nil || d.Allow != (c.reason == "") || d.Reason != c.reason {
			t.Errorf("%s: got %+v, %v; want reason %q", c.name, d, err, c.reason)
		}
	}
	// Schema-level actions too.
	d, _ := eng.Decide(ctx, Request{Principal: user("analyst"), Action: ActionUsage, Path: pii[:2]})
	if d.Allow || d.Reason != "schema sales.pii is restricted to admins" {
		t.Fatalf("USAGE on pii: %+v", d)
	}
	if n := len(sink.Events()); n != 4 {
		t.Fatalf("%d audit events, want 4", n)
	}

	// A directory of modules works the same, and Reload can take the
	// module away again.
	eng2, err := New(ctx, WithModuleDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if eng2.Revision() != eng.Revision() {
		t.Fatalf("same modules, revisions %s and %s", eng2.Revision(), eng.Revision())
	}
	if err := eng2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if eng2.Revision() != base.Revision() {
		t.Fatal("reload to the default policy: revision differs from the default's")
	}
	if d, _ := eng2.Decide(ctx, Request{Principal: user("analyst"), Action: ActionSelect, Path: pii}); !d.Allow {
		t.Fatalf("after reload: %+v", d)
	}
}

func TestSyntaxErrorCitesFileAndLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broken.rego")
	src := "package sluice.authz\n\ndeny contains msg if {\n\tmsg := \"x\" +\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), WithModuleFiles(file))
	if err == nil {
		t.Fatal("New compiled a broken policy")
	}
	if !strings.Contains(err.Error(), file+":5: rego_parse_error") {
		t.Fatalf("error does not cite %s:line: %v", file, err)
	}
	t.Log(err)

	// A type/compile error (not a parse error) cites its place too.
	file2 := filepath.Join(t.TempDir(), "unsafe.rego")
	if err := os.WriteFile(file2, []byte("package sluice.authz\n\ndeny contains msg if {\n\tmsg := undefined_thing\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), WithModuleFiles(file2)); err == nil || !strings.Contains(err.Error(), file2+":4") {
		t.Fatalf("unsafe variable: %v", err)
	}
	if _, err := New(context.Background(), WithModuleFiles(filepath.Join(t.TempDir(), "absent.rego"))); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestEvaluationErrorsFailClosed(t *testing.T) {
	ctx := context.Background()
	req := Request{Principal: user("admin"), Action: ActionSelect, Path: catalogPath(0, object.KindTable, nil)}
	for name, src := range map[string]string{
		"no decision":       "package sluice.authz\n\nallow := true\n",
		"not an object":     "package sluice.authz\n\ndecision := true\n",
		"allow not boolean": "package sluice.authz\n\ndecision := {\"allow\": \"yes\"}\n",
		"builtin error":     "package sluice.authz\n\ndecision := {\"allow\": to_number(input.principal.name) > 0}\n",
		"conflict":          "package sluice.authz\n\ndecision := {\"allow\": true} if true\n\ndecision := {\"allow\": false} if true\n",
	} {
		sink := &MemorySink{}
		eng, err := New(ctx, WithoutDefaultPolicy(), WithModules(Module{Name: name + ".rego", Source: src}), WithSink(sink))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d, err := eng.Decide(ctx, req)
		if err == nil || d.Allow || !strings.HasPrefix(d.Reason, "denied: policy") {
			t.Errorf("%s: got %+v, %v; want a denial with an error", name, d, err)
		}
		if ev := sink.Events(); len(ev) != 1 || ev[0].Allow {
			t.Errorf("%s: audit %+v", name, ev)
		}
	}
	// A cancelled context fails closed too.
	eng, _ := defaultEngine(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if d, err := eng.Decide(cctx, req); err == nil || d.Allow {
		t.Errorf("cancelled: %+v, %v", d, err)
	}
}

func TestReloadIsAtomicUnderLoad(t *testing.T) {
	ctx := context.Background()
	eng, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := eng.Revision()
	req := Request{Principal: user("admin"), Action: ActionSelect, Path: catalogPath(1, object.KindTable, nil)}
	req.Path[1].Name = "pii"
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]bool{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := eng.Decide(ctx, req)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[fmt.Sprintf("%s %v", d.Revision, d.Allow)] = true
				mu.Unlock()
			}
		}()
	}
	// Admins are denied pii by this module: each decision must be the old
	// policy's (allow) or the new one's (deny), never a mix.
	mod := Module{Name: "pii.rego", Source: strings.Replace(piiModule, "\tnot is_admin\n", "", 1)}
	time.Sleep(20 * time.Millisecond)
	if err := eng.Reload(ctx, mod); err != nil {
		t.Fatal(err)
	}
	after := eng.Revision()
	// Wait for a decision by the new policy rather than for a fixed time:
	// under the race detector on a busy machine 20 ms may hold none.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		done := seen[after+" false"]
		mu.Unlock()
		if done {
			break
		}
	}
	if err := eng.Reload(ctx, Module{Name: "bad.rego", Source: "package x\n\np if {"}); err == nil {
		t.Fatal("reload of a broken module succeeded")
	}
	if eng.Revision() != after {
		t.Fatal("a failed reload changed the policy")
	}
	close(stop)
	wg.Wait()
	for k := range seen {
		if k != before+" true" && k != after+" false" {
			t.Fatalf("decision %q mixes policies (before %s, after %s)", k, before, after)
		}
	}
	if !seen[after+" false"] {
		t.Fatal("no decision by the reloaded policy")
	}
}

// TestAllGrants: by default the policy sees only the principal's grants;
// WithAllGrants shows it every grant.
func TestAllGrants(t *testing.T) {
	ctx := context.Background()
	src := `package sluice.authz

decision := {"allow": true, "reason": ""} if {
	count(input.path[0].grants) == 2
} else := {"allow": false, "reason": sprintf("%d grants", [count(input.path[0].grants)])}
`
	req := Request{Principal: user("a"), Action: ActionSelect, Path: []Node{{Kind: object.KindDatabase, Name: "d", Grants: []Grant{{Role: "a", Privilege: "SELECT"}, {Role: "b", Privilege: "SELECT"}}}}}
	for _, all := range []bool{false, true} {
		opts := []Option{WithoutDefaultPolicy(), WithModules(Module{Name: "count.rego", Source: src})}
		if all {
			opts = append(opts, WithAllGrants())
		}
		eng, err := New(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		d, err := eng.Decide(ctx, req)
		if err != nil || d.Allow != all {
			t.Fatalf("all grants %v: %+v, %v", all, d, err)
		}
	}
}

func TestClock(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	calls := 0
	clock := func() time.Time { calls++; return now.Add(time.Duration(calls) * 7 * time.Microsecond) }
	sink := &MemorySink{}
	eng, err := New(context.Background(), WithClock(clock), WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := eng.Decide(context.Background(), Request{Principal: user("admin"), Action: ActionDrop, Path: catalogPath(0, object.KindTable, nil)})
	ev := sink.Events()
	if d.Latency != 7*time.Microsecond || ev[0].LatencyMicros != 7 || !ev[0].Time.Equal(now.Add(7*time.Microsecond)) {
		t.Fatalf("decision %+v, event %+v", d, ev[0])
	}
}

// TestImplications: a privilege held gives the privileges object.Implies
// lists, on its node and (as it does) below; nothing else. ALL and
// OWNERSHIP are covered by TestAuthorizationMatrix and TestOwnershipAndAll.
func TestImplications(t *testing.T) {
	eng, _ := defaultEngine(t)
	usage := []Grant{{Role: "analyst", Privilege: "USAGE"}}
	for _, tc := range []struct {
		granted object.Privilege
		on      int // node of the grant: 1 schema, 2 table
		action  Action
		allow   bool
	}{
		{object.PrivSelect, 2, ActionDescribe, true},
		{object.PrivSelect, 1, ActionDescribe, true}, // inherited, as SELECT is
		{object.PrivInsert, 2, ActionDescribe, true},
		{object.PrivAlter, 2, ActionDescribe, true},
		{object.PrivGrant, 2, ActionDescribe, true},
		{object.PrivOperate, 2, ActionMonitor, true},
		{object.PrivOperate, 1, ActionDescribe, true},
		{object.PrivMonitor, 2, ActionDescribe, true},
		{object.PrivMonitor, 2, ActionOperate, false},
		{object.PrivDescribe, 2, ActionSelect, false},
		{object.PrivSelect, 2, ActionInsert, false},
		{object.PrivDrop, 2, ActionDescribe, false},
		{object.PrivGrant, 2, ActionAlter, false},
	} {
		t.Run(fmt.Sprintf("%s_on_%d/%s", tc.granted, tc.on, tc.action), func(t *testing.T) {
			grants := map[int][]Grant{0: usage, 1: usage}
			grants[tc.on] = append(slices.Clone(grants[tc.on]), Grant{Role: "analyst", Privilege: tc.granted})
			d, err := eng.Decide(context.Background(), Request{Principal: user("analyst"), Action: tc.action,
				Path: catalogPath(2, object.KindTable, grants)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tc.allow {
				t.Fatalf("allow = %v (%s), want %v", d.Allow, d.Reason, tc.allow)
			}
		})
	}
}

// TestQueryPath: a query is decided on [database, schema, table, query]:
// USAGE on the two namespaces, nothing of its own on the table, and the
// action granted on the query or inherited from the table or above.
func TestQueryPath(t *testing.T) {
	eng, _ := defaultEngine(t)
	usage := []Grant{{Role: "analyst", Privilege: "USAGE"}}
	operate := []Grant{{Role: "analyst", Privilege: "OPERATE"}}
	for _, tc := range []struct {
		name   string
		grants map[int][]Grant
		reason string
	}{
		{"on the query", map[int][]Grant{0: usage, 1: usage, 3: operate}, ""},
		{"on the table", map[int][]Grant{0: usage, 1: usage, 2: operate}, ""},
		{"on the database", map[int][]Grant{0: append(slices.Clone(usage), operate...), 1: usage}, ""},
		{"none", map[int][]Grant{0: usage, 1: usage}, "missing OPERATE on query sales.eu.orders.q1 (or an ancestor)"},
		{"no USAGE on the schema", map[int][]Grant{0: usage, 3: operate}, "missing USAGE on schema sales.eu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := append(catalogPath(2, object.KindTable, tc.grants), Node{Kind: object.KindQuery, Name: "q1", Grants: tc.grants[3]})
			d, err := eng.Decide(context.Background(), Request{Principal: user("analyst"), Action: ActionOperate, Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != (tc.reason == "") || d.Reason != tc.reason {
				t.Fatalf("allow=%v reason=%q, want reason %q", d.Allow, d.Reason, tc.reason)
			}
		})
	}
}
