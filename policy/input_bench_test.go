package policy

import (
	"context"
	"testing"
)

// BenchmarkInput measures building the policy input (grant filtering and
// privilege sets) for 3-level requests of the BenchmarkDecide catalog.
func BenchmarkInput(b *testing.B) {
	cat := newBenchCatalog(1)
	reqs := cat.requests(1024, 3, 2)
	names := make([][]string, len(reqs))
	for i, r := range reqs {
		names[i] = QualifiedNames(r.Path)
	}
	eng, err := New(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(reqs)
		_ = eng.input(reqs[j], names[j])
	}
}
