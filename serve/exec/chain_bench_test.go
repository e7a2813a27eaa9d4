package exec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/ingest/transform"
	"github.com/sluice-io/sluice/serve/exec"
)

// chainSQL is a CREATE TABLE ... AS SELECT whose WHERE is a chain of n
// comparisons joined by op (AND or OR).
func chainSQL(n int, op string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE db.s.e AS SELECT id FROM db.s.x WHERE ")
	for i := range n {
		if i > 0 {
			b.WriteString(" " + op + " ")
		}
		fmt.Fprintf(&b, "amount > %d", i)
	}
	return b.String()
}

// chainEnv is an executor with a stream db.s.x (id, amount, country) that
// alice, who holds no grant, cannot use.
func chainEnv(t testing.TB) *env {
	e := newEnv(t)
	e.setup(t, `CREATE DATABASE db; CREATE SCHEMA db.s;
CREATE STORE k WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092');
CREATE STREAM db.s.x (id BIGINT NOT NULL, amount BIGINT, country STRING) WITH ('store' = 'k', 'topic' = 'x')`)
	return e
}

// BenchmarkChain times statements whose WHERE is a chain of 1k, 10k and
// 40k terms joined by AND or OR, on each path a statement takes: denied
// (alice, no grants), a type error at the first term (root; the error's
// position is searched for), and created (root). The time per byte
// (MB/s) should stay about the same across the lengths: see
// docs/hardening.md.
func BenchmarkChain(b *testing.B) {
	e := chainEnv(b)
	ctx := context.Background()
	for _, path := range []string{"denied", "typeerror", "created"} {
		for _, op := range []string{"AND", "OR"} {
			for _, n := range []int{1000, 10000, 40000} {
				sql := chainSQL(n, op)
				who := "root"
				switch path {
				case "denied":
					who = "alice"
				case "typeerror":
					sql = strings.Replace(sql, "amount > 0", "country", 1)
				}
				b.Run(fmt.Sprintf("%s/%s/%d", path, op, n), func(b *testing.B) {
					b.SetBytes(int64(len(sql)))
					i := 0
					for b.Loop() {
						q := sql
						if path == "created" {
							i++
							q = strings.Replace(sql, "db.s.e ", fmt.Sprintf("db.s.e%s%d_%d ", op, n, i), 1)
						}
						_, err := e.ex.Execute(ctx, user(who), q)
						var de *exec.DeniedError
						var pe *sqlparse.ParseError
						switch {
						case path == "denied" && !errors.As(err, &de),
							path == "typeerror" && !errors.As(err, &pe),
							path == "created" && err != nil:
							b.Fatalf("%s: %v", path, err)
						}
					}
				})
			}
		}
	}
}

// depth is how deeply e nests.
func depth(e *transform.Expr) int {
	d := 0
	for _, a := range e.Args {
		d = max(d, depth(a))
	}
	return d + 1
}

// TestLongChains: statements with 40k-term chains of AND or OR are
// denied with a bounded message, compiled into a shallow tree the worker
// can read back from its JSON spec, and their errors point at the right
// term; a chain of another operator deeper than plan.MaxExprDepth is
// refused with a positioned error, not a deep tree.
func TestLongChains(t *testing.T) {
	e := chainEnv(t)
	ctx := context.Background()
	for _, op := range []string{"AND", "OR"} {
		sql := chainSQL(40000, op)
		t.Run(op+"/denied", func(t *testing.T) {
			_, err := e.ex.Execute(ctx, user("alice"), sql)
			var de *exec.DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("want a denial, got %v", err)
			}
			if n := len(err.Error()); n > 400 || !strings.HasSuffix(de.Statement, "...") {
				t.Fatalf("denial of %d bytes of SQL is %d bytes long: %.300s", len(sql), n, err)
			}
		})
		t.Run(op+"/created", func(t *testing.T) {
			q := strings.Replace(sql, "db.s.e ", "db.s.e"+op+" ", 1)
			res, err := e.ex.Execute(ctx, user("root"), q)
			if err != nil {
				t.Fatal(err)
			}
			var spec ingest.Spec
			if err := e.cat.View(ctx, func(tx *catalog.Tx) error {
				qr, err := tx.GetQuery(res[0].Rows[0][1])
				if err != nil {
					return err
				}
				return json.Unmarshal(qr.Spec, &spec) // encoding/json refuses nesting past 10000
			}); err != nil {
				t.Fatalf("the stored spec does not read back: %v", err)
			}
			if d := depth(spec.Transform.Filter); d > 20 {
				t.Fatalf("filter of 40000 terms is %d levels deep", d)
			}
		})
		t.Run(op+"/type error at the first term", func(t *testing.T) {
			q := strings.Replace(sql, "amount > 0", "country", 1)
			_, err := e.ex.Execute(ctx, user("root"), q)
			var pe *sqlparse.ParseError
			if !errors.As(err, &pe) || pe.Line != 1 || pe.Offset != len("CREATE TABLE db.s.e AS SELECT id FROM db.s.x WHERE country ") {
				t.Fatalf("want an error at the %s after country, got %v", op, err)
			}
		})
	}
	t.Run("deep arithmetic", func(t *testing.T) {
		q := "CREATE TABLE db.s.deep AS SELECT id FROM db.s.x WHERE amount" + strings.Repeat(" + 1", 2000) + " > 0"
		_, err := e.ex.Execute(ctx, user("root"), q)
		var pe *sqlparse.ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "nested too deeply") {
			t.Fatalf("want a nesting error, got %v", err)
		}
	})
}
