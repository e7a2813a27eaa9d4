package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluice-io/sluice/catalog/object"
)

// TestMetrics: every decision is counted by outcome, cache hits apart, each
// node check and decision lands in its histogram, and the shapes gauge
// says the checks were specialised.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	eng, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g := map[int][]Grant{0: {{Role: "analyst", Privilege: "USAGE"}}, 1: {{Role: "analyst", Privilege: "USAGE"}}, 2: {{Role: "analyst", Privilege: "SELECT"}}}
	allowed := Request{Principal: user("analyst"), Action: ActionSelect, Path: catalogPath(2, object.KindTable, g)}
	denied := Request{Principal: user("analyst"), Action: ActionInsert, Path: catalogPath(2, object.KindTable, g)}
	invalid := Request{Principal: user("analyst"), Action: "FLY", Path: catalogPath(2, object.KindTable, g)}
	for _, r := range []Request{allowed, allowed, denied, invalid} {
		_, _ = eng.Decide(ctx, r)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(eng)
	want := `
# HELP sluice_policy_decision_cache_hits_total Decisions answered from the decision cache, without evaluating the policy.
# TYPE sluice_policy_decision_cache_hits_total counter
sluice_policy_decision_cache_hits_total 1
# HELP sluice_policy_decisions_total Authorization decisions, by outcome: allowed, denied, or error (denied because the policy could not decide).
# TYPE sluice_policy_decisions_total counter
sluice_policy_decisions_total{outcome="allowed"} 2
sluice_policy_decisions_total{outcome="denied"} 1
sluice_policy_decisions_total{outcome="error"} 1
# HELP sluice_policy_shapes Request shapes (principal kind, action, node, path length) seen by the policy in force, by whether OPA's partial evaluation specialised them or the whole policy is evaluated.
# TYPE sluice_policy_shapes gauge
sluice_policy_shapes{state="general"} 0
sluice_policy_shapes{state="specialised"} 6
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sluice_policy_decision_cache_hits_total", "sluice_policy_decisions_total", "sluice_policy_shapes"); err != nil {
		t.Fatal(err)
	}
	// 3 checks for the first allowed request, 3 for the denied one (INSERT
	// fails on the table, the last node); the cached one evaluates nothing.
	if n := testutil.CollectAndCount(eng, "sluice_policy_check_duration_seconds"); n != 1 {
		t.Fatalf("check histogram: %d series", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if h := mf.GetMetric()[0].GetHistogram(); h != nil {
			counts[mf.GetName()] = h.GetSampleCount()
		}
	}
	if counts["sluice_policy_check_duration_seconds"] != 6 || counts["sluice_policy_decision_duration_seconds"] != 4 {
		t.Fatalf("histogram counts %v, want 6 checks and 4 decisions", counts)
	}
	if n := testutil.CollectAndCount(eng, "sluice_policy_revision_info"); n != 1 {
		t.Fatalf("revision info: %d series", n)
	}
}
