package catalog

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
)

// TestConcurrentUpdates runs writers and readers at once, on two Catalogs
// of one database: every Update must commit (SQLite busy handling,
// PostgreSQL serialization failures retried), and no read sees a half-done
// one.
func TestConcurrentUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		must(t, c, func(tx *Tx) error { _, err := tx.CreateDatabase(Database{Name: "db"}); return err })
		// A second Catalog on the same database competes for it like another
		// process would.
		c2 := db.open(t)

		const writers, perWriter = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*perWriter+writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cat := c
				if w%2 == 1 {
					cat = c2
				}
				for i := range perWriter {
					// Each Update creates a schema and a table in it: readers
					// must never see the schema without its table.
					errs <- cat.Update(ctx, func(tx *Tx) error {
						s := fmt.Sprintf("s_%d_%d", w, i)
						if _, err := tx.CreateSchema(Schema{Database: "db", Name: s}); err != nil {
							return err
						}
						_, err := tx.CreateRelation(Relation{Database: "db", Schema: s, Name: "t", Kind: object.KindTable, Location: "/" + s})
						return err
					})
				}
			}()
		}
		stop := make(chan struct{})
		var readErr atomic.Pointer[error]
		var readers sync.WaitGroup
		for range 2 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					err := c.View(ctx, func(tx *Tx) error {
						schemas, err := tx.count(`SELECT COUNT(*) FROM objects WHERE kind = 'schema'`)
						if err != nil {
							return err
						}
						tables, err := tx.count(`SELECT COUNT(*) FROM objects WHERE kind = 'table'`)
						if err != nil {
							return err
						}
						if schemas != tables {
							return fmt.Errorf("torn read: %d schemas, %d tables", schemas, tables)
						}
						return nil
					})
					if err != nil {
						readErr.Store(&err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		close(errs)
		if p := readErr.Load(); p != nil {
			t.Fatal(*p)
		}
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		err := c.View(ctx, func(tx *Tx) error {
			schemas, err := tx.ListSchemas("db")
			if err != nil {
				return err
			}
			if len(schemas) != writers*perWriter {
				t.Errorf("%d schemas, want %d", len(schemas), writers*perWriter)
			}
			if db.backend != "sqlite" {
				return nil
			}
			var ok string
			if err := tx.queryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
				t.Errorf("integrity_check = %q, %v", ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// buildScale creates 10 databases x 10 schemas x 100 tables (10,000
// relations), 1,000 roles in chains of 10 (role_i granted to role_i+1), one
// user per chain, and a SELECT grant on every table plus USAGE on every
// database and schema: the size the policy benchmark works at.
func buildScale(t testing.TB, c *Catalog) {
	t.Helper()
	must(t, c, func(tx *Tx) error {
		for r := range 1000 {
			if _, err := tx.CreateRole(Role{Name: fmt.Sprintf("role_%d", r)}); err != nil {
				return err
			}
			if r%10 != 0 {
				if _, err := tx.GrantRole(fmt.Sprintf("role_%d", r-1), fmt.Sprintf("role_%d", r)); err != nil {
					return err
				}
			} else {
				u := fmt.Sprintf("user_%d", r/10)
				if _, _, err := tx.CreateUser(User{Name: u}); err != nil {
					return err
				}
			}
			if r%10 == 9 {
				if _, err := tx.GrantRole(fmt.Sprintf("role_%d", r), fmt.Sprintf("user_%d", r/10)); err != nil {
					return err
				}
			}
		}
		n := 0
		for d := range 10 {
			db := fmt.Sprintf("db_%d", d)
			if _, err := tx.CreateDatabase(Database{Name: db}); err != nil {
				return err
			}
			if _, err := tx.Grant(object.PrivUsage, object.KindDatabase, db, fmt.Sprintf("role_%d", d)); err != nil {
				return err
			}
			for s := range 10 {
				schema := fmt.Sprintf("s_%d", s)
				if _, err := tx.CreateSchema(Schema{Database: db, Name: schema}); err != nil {
					return err
				}
				if _, err := tx.Grant(object.PrivUsage, object.KindSchema, db+"."+schema, fmt.Sprintf("role_%d", d*10+s)); err != nil {
					return err
				}
				for r := range 100 {
					name := fmt.Sprintf("t_%d", r)
					if _, err := tx.CreateRelation(Relation{Database: db, Schema: schema, Name: name, Kind: object.KindTable,
						Location: fmt.Sprintf("s3://lake/%s/%s/%s", db, schema, name), Columns: []Column{{Name: "id", Type: "BIGINT"}}}); err != nil {
						return err
					}
					if _, err := tx.Grant(object.PrivSelect, object.KindTable, db+"."+schema+"."+name, fmt.Sprintf("role_%d", n%1000)); err != nil {
						return err
					}
					n++
				}
			}
		}
		return nil
	})
}

// TestScale builds 10k relations and 1k roles and checks ResolvePath and
// role expansion stay fast at that size (figures in the -v log).
func TestScale(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		if testing.Short() {
			t.Skip("builds 10k relations")
		}
		c := db.open(t)
		start := time.Now()
		buildScale(t, c)
		t.Logf("built 10,000 tables, 1,000 roles, 100 users, 10,100 grants in %v", time.Since(start).Round(time.Millisecond))

		const n = 2000
		start = time.Now()
		for i := range n {
			path := fmt.Sprintf("db_%d.s_%d.t_%d", i%10, i/10%10, i%100)
			nodes, err := c.ResolvePath(ctx, object.KindTable, path)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != 3 || len(nodes[2].Grants) != 1 || len(nodes[0].Grants) != 1 {
				t.Fatalf("ResolvePath(%s) = %+v", path, nodes)
			}
		}
		per := time.Since(start) / n
		t.Logf("ResolvePath (own read transaction): %v per call", per)
		if per > 5*time.Millisecond {
			t.Errorf("ResolvePath takes %v per call, want < 5ms", per)
		}

		start = time.Now()
		err := c.View(ctx, func(tx *Tx) error {
			g, err := tx.RoleGraph()
			if err != nil {
				return err
			}
			t.Logf("RoleGraph (1,000 roles, 1,000 edges): %v", time.Since(start).Round(time.Microsecond))
			roles, err := tx.EffectiveRoles("user_5")
			if err != nil {
				return err
			}
			if len(roles) != 10 || len(g.EffectiveRoles("user_5")) != 11 {
				t.Errorf("EffectiveRoles(user_5) = %v", roles)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkResolvePath measures ResolvePath on the 10k-relation catalog.
func BenchmarkResolvePath(b *testing.B) {
	c, _ := openTest(b)
	buildScale(b, c)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := c.ResolvePath(ctx, object.KindTable, fmt.Sprintf("db_%d.s_%d.t_%d", i%10, i/10%10, i%100)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
