package policy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
)

// benchCatalog is a realistic catalog: 10 databases × 10 schemas × 100
// relations (10k), 1k roles, each node carrying the grants made on it.
type benchCatalog struct {
	dbs     []Node
	schemas [][]Node   // [db][schema]
	rels    [][][]Node // [db][schema][relation]
	graph   map[string][]string
}

func newBenchCatalog(seed uint64) *benchCatalog {
	rng := rand.New(rand.NewPCG(seed, seed))
	const nDB, nSchema, nRel, nRoles = 10, 10, 100, 1000
	role := func() string { return fmt.Sprintf("role_%d", rng.IntN(nRoles)) }
	grants := func(n int, privs ...object.Privilege) []Grant {
		g := make([]Grant, n)
		for i := range g {
			g[i] = Grant{Role: role(), Privilege: privs[rng.IntN(len(privs))]}
		}
		return g
	}
	c := &benchCatalog{graph: map[string][]string{}}
	// Role hierarchy: each role is granted 0–2 others (cycles allowed).
	for r := 0; r < nRoles; r++ {
		for k := rng.IntN(3); k > 0; k-- {
			name := fmt.Sprintf("role_%d", r)
			c.graph[name] = append(c.graph[name], role())
		}
	}
	for d := 0; d < nDB; d++ {
		c.dbs = append(c.dbs, Node{Kind: object.KindDatabase, Name: fmt.Sprintf("db%d", d),
			Grants: append(grants(300, "USAGE"), grants(20, "SELECT", "DESCRIBE", "MONITOR", "OWNERSHIP", "CREATE")...)})
		c.schemas = append(c.schemas, nil)
		c.rels = append(c.rels, nil)
		for s := 0; s < nSchema; s++ {
			c.schemas[d] = append(c.schemas[d], Node{Kind: object.KindSchema, Name: fmt.Sprintf("s%d", s),
				Grants: append(grants(150, "USAGE"), grants(20, "SELECT", "INSERT", "CREATE", "ALL")...)})
			rels := make([]Node, nRel)
			for r := range rels {
				kind := object.KindTable
				if r%3 == 0 {
					kind = object.KindStream
				}
				rels[r] = Node{Kind: kind, Name: fmt.Sprintf("rel%d", r),
					Grants: grants(8+rng.IntN(8), "SELECT", "SELECT", "SELECT", "INSERT", "DESCRIBE", "OWNERSHIP", "ALTER")}
			}
			c.rels[d] = append(c.rels[d], rels)
		}
	}
	return c
}

// requests builds n requests on random relations by principals with about
// five effective roles.
func (c *benchCatalog) requests(n int, depth int, seed uint64) []Request {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	actions := []Action{ActionSelect, ActionSelect, ActionSelect, ActionInsert, ActionDescribe, ActionAlter}
	out := make([]Request, n)
	for i := range out {
		var roles []string
		for len(roles) < 4 || len(roles) > 7 {
			roles = ExpandRoles(c.graph, []string{fmt.Sprintf("role_%d", rng.IntN(1000)), fmt.Sprintf("role_%d", rng.IntN(1000))})
		}
		d, s, r := rng.IntN(len(c.dbs)), rng.IntN(10), rng.IntN(100)
		path := []Node{c.dbs[d], c.schemas[d][s], c.rels[d][s][r]}[:depth]
		a := actions[rng.IntN(len(actions))]
		if depth == 1 {
			a = ActionUsage
		}
		out[i] = Request{Principal: Principal{Kind: PrincipalUser, Name: fmt.Sprintf("u%d", i), Roles: roles}, Action: a, Path: path}
	}
	return out
}

// BenchmarkDecide measures Engine.Decide on a 10k-relation, 1k-role catalog:
// a single-node check (USAGE on a database) and a full 3-level
// authorization (database, schema, relation), reporting p50/p99 per call
// and per node check (one OPA evaluation; a denied request stops at the
// first node denied, so checks/op is below the depth).
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	cat := newBenchCatalog(1)
	cases := []struct {
		name  string
		depth int
		opts  func(b *testing.B) []Option
	}{
		{"node", 1, nil},
		{"path3", 3, nil},
		{"path3-prefiltered", 3, nil},
		{"path3-cached", 3, nil},
		{"path3-reference", 3, nil},
		{"path3-general", 3, func(*testing.B) []Option { return []Option{WithoutSpecialisation()} }},
		{"path3-all-grants", 3, func(*testing.B) []Option { return []Option{WithAllGrants()} }},
		// An operator's deny rule (schemas named pii for admins only):
		// every check also evaluates the deny set.
		{"path3-deny-rule", 3, func(*testing.B) []Option {
			return []Option{WithModules(Module{Name: "pii.rego", Source: piiModule})}
		}},
		{"path3-jsonl-audit", 3, func(b *testing.B) []Option {
			s, err := NewJSONLSink(filepath.Join(b.TempDir(), "audit.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return []Option{WithSink(s)}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var opts []Option
			if c.opts != nil {
				opts = c.opts(b)
			}
			if c.name != "path3-cached" {
				// Every case but path3-cached measures evaluation: the 4096
				// requests are distinct, so b.N ≤ 4096 never hits the cache;
				// turning it off keeps larger b.N honest too.
				opts = append(opts, WithDecisionCache(0))
			}
			var checks, granted, denied []time.Duration
			opts = append(opts, func(c *config) {
				c.observeCheck = func(d time.Duration, allow bool) {
					checks = append(checks, d)
					if allow {
						granted = append(granted, d)
					} else {
						denied = append(denied, d)
					}
				}
			})
			eng, err := New(ctx, opts...)
			if err != nil {
				b.Fatal(err)
			}
			reqs := cat.requests(4096, c.depth, 2)
			if c.name == "path3-cached" {
				// A gateway's working set: 256 distinct requests, asked
				// over and over (all cached after the warm-up below).
				reqs = reqs[:256]
			}
			if c.name == "path3-prefiltered" {
				prefilter(reqs)
			}
			allowed := 0
			for _, r := range reqs[:min(512, len(reqs))] {
				if d, _ := eng.Decide(ctx, r); d.Allow {
					allowed++
				}
			}
			if c.name == "path3-reference" {
				benchReference(b, eng, reqs, &checks)
				return
			}
			durs := make([]time.Duration, 0, b.N)
			checks = make([]time.Duration, 0, 3*b.N)
			granted, denied = make([]time.Duration, 0, 3*b.N), make([]time.Duration, 0, b.N)
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := eng.Decide(ctx, reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				durs = append(durs, time.Since(t0))
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
			b.ReportMetric(percentile(durs, 0.50), "p50-µs")
			b.ReportMetric(percentile(durs, 0.99), "p99-µs")
			// Node checks: one OPA evaluation each (none for a cache hit).
			if len(checks) > 0 {
				b.ReportMetric(percentile(checks, 0.50), "p50-µs/check")
				b.ReportMetric(percentile(checks, 0.99), "p99-µs/check")
				b.ReportMetric(float64(len(checks))/float64(b.N), "checks/op")
			}
			// Granted and denied checks apart: a denial evaluates the grant
			// and then the denial (see split.go).
			for _, k := range []struct {
				name string
				ds   []time.Duration
			}{{"granted", granted}, {"denied", denied}} {
				if len(k.ds) > 0 {
					b.ReportMetric(percentile(k.ds, 0.50), "p50-µs/"+k.name)
					b.ReportMetric(percentile(k.ds, 0.99), "p99-µs/"+k.name)
				}
			}
			b.ReportMetric(float64(allowed)/float64(min(512, len(reqs)))*100, "%allowed")
		})
	}
}

// benchReference separates the machine's latency tail from the policy's.
// It interleaves three-level decisions with three reference tasks, the
// first two sized so that their median equals the node checks' median, and
// reports the p50/p99 of the checks and of each task, measured under the
// same conditions:
//
//   - ref: pure CPU work with no allocation and a tiny working set
//     (SHA-256 over 512 bytes, repeated): its spread is the machine's own
//     (timer interrupts, the hypervisor, other processes);
//   - ref-alloc: the same work, less, plus as many heap objects as a node
//     check allocates, of the same average size, linked so the collector
//     scans them: its spread is what any Go code of a check's length and
//     allocation rate gets here;
//   - ref10: the pure CPU work sized to a 10 µs median, the p99 a check
//     would see here if it were that fast.
//
// A check cannot be expected to have a shorter tail than a task of the same
// length that does less; how far its p99 lies above the references' says
// how much of its tail is the evaluator's own.
func benchReference(b *testing.B, eng *Engine, reqs []Request, checks *[]time.Duration) {
	ctx := context.Background()
	*checks = (*checks)[:0]
	for _, r := range reqs[:2048] {
		_, _ = eng.Decide(ctx, r)
	}
	target := percentile(*checks, 0.50)

	// A node check's allocations, count and bytes, measured on the checks
	// of a few hundred requests.
	st := eng.state.Load()
	var ms0, ms1 runtime.MemStats
	var nChecks, mallocs, bytes uint64
	for _, r := range reqs[:256] {
		in := eng.input(r, QualifiedNames(r.Path))
		for i := range r.Path {
			runtime.ReadMemStats(&ms0)
			_, _, _ = eng.check(ctx, st, r, in.node(i))
			runtime.ReadMemStats(&ms1)
			mallocs += ms1.Mallocs - ms0.Mallocs
			bytes += ms1.TotalAlloc - ms0.TotalAlloc
			nChecks++
		}
	}
	// The reference allocates objects of two allocations each (a node and
	// its payload), as many and as large in total as a check's.
	objs := int(mallocs / nChecks / 2)
	pad := max(0, int(bytes/nChecks)/max(1, objs)-32)

	var buf [512]byte
	var sum [sha256.Size]byte
	type obj struct {
		next *obj
		pad  []byte
	}
	var keep *obj
	work := func(n, allocs int) time.Duration {
		t0 := time.Now()
		var head *obj
		for i := range max(n, allocs) {
			if i < n {
				sum = sha256.Sum256(buf[:])
				buf[0] = sum[0]
			}
			if i < allocs {
				head = &obj{next: head, pad: make([]byte, pad)}
			}
		}
		keep = head // live until the next task, as a check's garbage is until a cycle
		return time.Since(t0)
	}
	median := func(n, allocs int) time.Duration {
		ds := make([]time.Duration, 2000)
		for i := range ds {
			ds[i] = work(n, allocs)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	unit := float64(median(1, 0).Nanoseconds()) / 1e3
	allocCost := float64(median(0, objs).Nanoseconds()) / 1e3
	nPure := max(1, int(target/unit+0.5))
	nAlloc := max(0, int((target-allocCost)/unit+0.5))
	n10 := max(1, int(10/unit+0.5))

	refs := make([]time.Duration, 0, b.N)
	refsAlloc := make([]time.Duration, 0, b.N)
	refs10 := make([]time.Duration, 0, b.N)
	*checks = make([]time.Duration, 0, 3*b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := eng.Decide(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		refs = append(refs, work(nPure, 0))
		refsAlloc = append(refsAlloc, work(nAlloc, objs))
		refs10 = append(refs10, work(n10, 0))
	}
	b.StopTimer()
	_ = keep
	b.ReportMetric(percentile(*checks, 0.50), "p50-µs/check")
	b.ReportMetric(percentile(*checks, 0.99), "p99-µs/check")
	b.ReportMetric(percentile(refs, 0.50), "p50-µs/ref")
	b.ReportMetric(percentile(refs, 0.99), "p99-µs/ref")
	b.ReportMetric(percentile(refsAlloc, 0.50), "p50-µs/ref-alloc")
	b.ReportMetric(percentile(refsAlloc, 0.99), "p99-µs/ref-alloc")
	b.ReportMetric(percentile(refs10, 0.50), "p50-µs/ref10")
	b.ReportMetric(percentile(refs10, 0.99), "p99-µs/ref10")
	b.ReportMetric(float64(mallocs)/float64(nChecks), "allocs/check")
}

// percentile returns the p-th percentile of ds in µs (ds is sorted).
func percentile(ds []time.Duration, p float64) float64 {
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Nanoseconds()) / 1e3
}

// prefilter keeps in each request only the grants to the principal's roles,
// as a catalog that indexes grants by role would pass them.
func prefilter(reqs []Request) {
	for i := range reqs {
		r := &reqs[i]
		path := slices.Clone(r.Path)
		for j := range path {
			path[j].Grants = slices.DeleteFunc(slices.Clone(path[j].Grants), func(g Grant) bool {
				return !slices.Contains(r.Principal.Roles, g.Role)
			})
		}
		r.Path = path
	}
}

// cpuTime is the CPU time (user+system) the process has used: with other
// work on the machine it shows the cost of a decision apart from waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheck measures one node check, the OPA evaluation of a
// residual, on a fixed input: a relation SELECT granted on the relation
// itself, granted through ALL on the database (the index's last candidate),
// and denied; with the default policy, and with an operator's deny rule
// added (the pii module of the authorization tests). With nothing varying
// between iterations it shows a check's cost apart from the catalog's
// variety and the machine's tail, for comparing changes to the evaluation.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	for _, p := range []struct {
		name string
		mods []Module
	}{
		{"default", nil},
		{"deny-rule", []Module{{Name: "pii.rego", Source: piiModule}}},
	} {
		eng, err := New(ctx, WithDecisionCache(0), WithModules(p.mods...))
		if err != nil {
			b.Fatal(err)
		}
		st := eng.state.Load()
		for _, c := range []struct {
			name   string
			grants map[int][]Grant
			allow  bool
		}{
			{"granted", map[int][]Grant{2: {{Role: "analyst", Privilege: "SELECT"}}}, true},
			{"granted-inherited", map[int][]Grant{0: {{Role: "analyst", Privilege: "ALL"}}}, true},
			{"denied", nil, false},
		} {
			r := Request{Principal: user("analyst", "r1", "r2", "r3", "r4"), Action: ActionSelect, Path: catalogPath(2, object.KindTable, c.grants)}
			in := eng.input(r, QualifiedNames(r.Path)).node(2)
			if allow, _, err := eng.check(ctx, st, r, in); err != nil || allow != c.allow {
				b.Fatalf("%s: allow = %v, %v", c.name, allow, err)
			}
			b.Run(p.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					_, _, _ = eng.check(ctx, st, r, in)
				}
			})
		}
	}
}
