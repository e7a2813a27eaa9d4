package policy

import (
	"context"
	"testing"

	"github.com/sluice-io/sluice/catalog/object"
)

// TestDecisionCache: repeated requests are answered from the cache, still
// audited; anything in the input that changes makes a new key; Reload
// empties the cache.
func TestDecisionCache(t *testing.T) {
	ctx := context.Background()
	sink := &MemorySink{}
	eng, err := New(ctx, WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	g := map[int][]Grant{0: {{Role: "a", Privilege: "USAGE"}}, 1: {{Role: "a", Privilege: "USAGE"}}, 2: {{Role: "a", Privilege: "SELECT"}}}
	req := Request{Principal: user("a"), Action: ActionSelect, Path: catalogPath(2, object.KindTable, g)}
	for i := 0; i < 3; i++ {
		d, err := eng.Decide(ctx, req)
		if err != nil || !d.Allow {
			t.Fatalf("%+v, %v", d, err)
		}
		assertAudited(t, sink, req, d)
	}
	if n := eng.state.Load().cache.len(); n != 1 {
		t.Fatalf("%d cached decisions, want 1", n)
	}
	if n := len(sink.Events()); n != 3 {
		t.Fatalf("%d audit events, want 3", n)
	}
	// A grant taken away: a different key, a different decision.
	revoked := Request{Principal: req.Principal, Action: req.Action, Path: catalogPath(2, object.KindTable, map[int][]Grant{0: g[0], 1: g[1]})}
	if d, _ := eng.Decide(ctx, revoked); d.Allow {
		t.Fatalf("revoked: %+v", d)
	}
	// Other roles' grants are not passed to the policy: same key.
	noisy := catalogPath(2, object.KindTable, g)
	noisy[2].Grants = append(noisy[2].Grants, Grant{Role: "other", Privilege: "ALL"})
	if d, _ := eng.Decide(ctx, Request{Principal: req.Principal, Action: req.Action, Path: noisy}); !d.Allow {
		t.Fatalf("noisy: %+v", d)
	}
	for _, k := range []Request{
		{Principal: user("a", "b"), Action: req.Action, Path: req.Path},
		{Principal: Principal{Kind: PrincipalWorker, Name: "alice", Roles: []string{"a"}}, Action: req.Action, Path: req.Path},
		{Principal: req.Principal, Action: ActionInsert, Path: req.Path},
		{Principal: req.Principal, Action: req.Action, Path: catalogPath(2, object.KindStream, g)},
	} {
		if eng.key(k) == eng.key(req) {
			t.Errorf("same key for %+v", k)
		}
	}
	if eng.key(Request{Principal: req.Principal, Action: req.Action, Path: noisy}) != eng.key(req) {
		t.Error("other roles' grants changed the key")
	}
	// Reload: a new, empty cache, and the new policy decides.
	mod := Module{Name: "deny.rego", Source: "package sluice.authz\n\ndeny contains \"closed\" if true\n"}
	if err := eng.Reload(ctx, mod); err != nil {
		t.Fatal(err)
	}
	if n := eng.state.Load().cache.len(); n != 0 {
		t.Fatalf("%d cached decisions after Reload", n)
	}
	if d, _ := eng.Decide(ctx, req); d.Allow || d.Reason != "closed" {
		t.Fatalf("after reload: %+v", d)
	}
}

func TestDecisionCacheBoundedAndOptional(t *testing.T) {
	ctx := context.Background()
	eng, err := New(ctx, WithDecisionCache(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Actions {
		eng.Decide(ctx, Request{Principal: user("admin"), Action: a, Path: catalogPath(1, object.KindTable, nil)})
	}
	if n := eng.state.Load().cache.len(); n != 2 {
		t.Fatalf("%d cached, want 2", n)
	}
	off, err := New(ctx, WithDecisionCache(0))
	if err != nil {
		t.Fatal(err)
	}
	if off.state.Load().cache != nil {
		t.Fatal("cache on with size 0")
	}
	// A policy reading the clock is never cached.
	clock := Module{Name: "hours.rego", Source: "package sluice.authz\n\ndeny contains \"after hours\" if time.now_ns() < 0\n"}
	nd, err := New(ctx, WithModules(clock))
	if err != nil {
		t.Fatal(err)
	}
	if nd.state.Load().cache != nil {
		t.Fatal("nondeterministic policy cached")
	}
	nested := Module{Name: "rand.rego", Source: "package sluice.authz\n\ndeny contains msg if {\n\tmsg := sprintf(\"%d\", [rand.intn(\"x\", 10)])\n\tfalse\n}\n"}
	if err := nd.Reload(ctx, nested); err != nil {
		t.Fatal(err)
	}
	if nd.state.Load().cache != nil {
		t.Fatal("nondeterministic (nested call) policy cached")
	}
	if err := nd.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if nd.state.Load().cache == nil {
		t.Fatal("default policy not cached")
	}
}
