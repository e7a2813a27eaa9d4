package sharing

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// TestHintPruningEqualsFilteredAnswer: on a table of files with random id
// ranges, the answer with a hint (statistics parsed once per cached
// snapshot, reused across an incremental update) is the unhinted answer
// less exactly the files whose freshly parsed statistics rule the hint
// out, and keeps every file holding a matching row.
func TestHintPruningEqualsFilteredAnswer(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	e := newEnv(t)
	head := strings.SplitAfterN(ordersLog[0], "\n", 4)
	type span struct{ lo, hi int }
	spans := map[string]span{}
	commit := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			lo := rng.IntN(1000)
			hi := lo + rng.IntN(50)
			p := fmt.Sprintf("date=2026-01-01/part-%05d.parquet", len(spans))
			spans[p] = span{lo, hi}
			b.WriteString(addLine(p, str("2026-01-01"), 10, stats(hi-lo+1, lo, hi)) + "\n")
		}
		return b.String()
	}
	log := []string{head[0] + head[1] + head[2] + commit(150)}
	if err := os.RemoveAll(filepath.Join(e.dirs["orders"], "_delta_log")); err != nil {
		t.Fatal(err)
	}
	writeLog(t, e.dirs["orders"], log)
	ops := map[string]func(v, lit int) bool{
		"equal": func(v, lit int) bool { return v == lit }, "lessThan": func(v, lit int) bool { return v < lit },
		"lessThanOrEqual": func(v, lit int) bool { return v <= lit }, "greaterThan": func(v, lit int) bool { return v > lit },
		"greaterThanOrEqual": func(v, lit int) bool { return v >= lit },
	}
	names := []string{"equal", "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual"}
	for round := 0; round < 3; round++ {
		if round > 0 { // a new commit: the next answers come from an updated snapshot
			log = append(log, commit(50))
			writeLog(t, e.dirs["orders"], log)
		}
		all := fileURLs(t, e.do("POST", "acme", orders+"/query", `{}`).body)
		if len(all) != len(spans) {
			t.Fatalf("round %d: %d files, want %d", round, len(all), len(spans))
		}
		ts, aerr := (&call{h: e.h, ctx: t.Context()}).loadAt(sharedTable{}, mustStore(t, e), nil)
		if aerr != nil {
			t.Fatal(aerr)
		}
		cols := orderedColumns(ts.cols)
		for i := 0; i < 40; i++ {
			op, lit := names[rng.IntN(len(names))], rng.IntN(1100)
			hint := fmt.Sprintf(`{"op":%q,"children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"%d","valueType":"long"}]}`, op, lit)
			got := fileURLs(t, e.do("POST", "acme", orders+"/query", fmt.Sprintf(`{"jsonPredicateHints":%q}`, hint)).body)
			flt := hintsFilter(queryRequest{JSONPredicateHints: (*hintText)(&hint)}, ts.cols)
			var want []string
			for j, f := range ts.files {
				if flt(f, parseFileStats(f.Stats, cols)) != no {
					want = append(want, all[j])
				}
				sp := spans[f.Path]
				some := false
				for v := sp.lo; v <= sp.hi && !some; v++ {
					some = ops[op](v, lit)
				}
				if some && !slices.Contains(got, all[j]) {
					t.Fatalf("%s: file %s (ids %d..%d) has a matching row and was dropped", hint, f.Path, sp.lo, sp.hi)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, %s: %d files, want %d", round, hint, len(got), len(want))
			}
		}
	}
}

// mustStore is the store of the fixture table orders, as the handler
// opens it.
func mustStore(t *testing.T, e *env) objstore.Store {
	t.Helper()
	st, err := e.h.store(t.Context(), "file://"+e.dirs["orders"])
	if err != nil {
		t.Fatal(err)
	}
	return st
}
