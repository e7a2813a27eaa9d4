package catalog

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/catalog/object"
)

// TestRebind: PostgreSQL's placeholders are numbered in order; a ? inside
// a string literal or a quoted identifier is not a placeholder.
func TestRebind(t *testing.T) {
	b := &postgresBackend{}
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = $1 AND b = $2`},
		{`SELECT '?', "a?b" FROM t WHERE a = ? AND c = 'x''?' AND d IN (?, ?)`, `SELECT '?', "a?b" FROM t WHERE a = $1 AND c = 'x''?' AND d IN ($2, $3)`},
		{`SELECT COALESCE(gp.name || '.', '') FROM g WHERE id = ?`, `SELECT COALESCE(gp.name || '.', '') FROM g WHERE id = $1`},
	} {
		if got := b.Rebind(tc.in); got != tc.want {
			t.Errorf("Rebind(%s)\n = %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestConcurrentMigrations: servers starting together on an empty database
// all open it, and each migration is applied once (on PostgreSQL the
// advisory lock makes the others wait; without it they race creating
// schema_migrations and the admin role).
func TestConcurrentMigrations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		const servers = 6
		cats := make([]*Catalog, servers)
		errs := make([]error, servers)
		var wg sync.WaitGroup
		for i := range servers {
			wg.Go(func() { cats[i], errs[i] = db.connect() })
		}
		wg.Wait()
		for i, c := range cats {
			if c != nil {
				t.Cleanup(func() { c.Close() })
			}
			if errs[i] != nil {
				t.Errorf("server %d: %v", i, errs[i])
			}
		}
		if t.Failed() {
			return
		}
		err := cats[0].View(ctx, func(tx *Tx) error {
			for q, want := range map[string]int{
				`SELECT COUNT(*) FROM schema_migrations WHERE 1 = 1`:                              len(migrations),
				`SELECT COUNT(*) FROM objects WHERE kind = 'role' AND name = '` + AdminRole + `'`: 1,
			} {
				if n, err := tx.count(q); err != nil || n != want {
					t.Errorf("%s = %d, %v; want %d", q, n, err, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestUniqueViolationIsExists: a name taken between the check and the
// insert (by another server's transaction) is the catalog's ErrExists,
// naming the object, not the backend's constraint error. The test inserts
// twice, skipping the check, to make the backend report the violation.
func TestUniqueViolationIsExists(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		must(t, c, func(tx *Tx) error { _, err := tx.CreateDatabase(Database{Name: "sales"}); return err })
		var salesID string
		must(t, c, func(tx *Tx) error { d, err := tx.GetDatabase("sales"); salesID = d.ID; return err })
		for _, tc := range []struct {
			name string
			row  objRow
			want string
		}{
			// The first insert collides with the committed sales.
			{"database", objRow{kind: object.KindDatabase, name: "Sales"}, "database Sales already exists"},
			{"schema", objRow{kind: object.KindSchema, name: "eu", display: "sales.eu", parentID: salesID}, "schema sales.eu already exists"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := c.Update(ctx, func(tx *Tx) error {
					for range 2 {
						r := tc.row
						r.id = newID()
						if err := tx.insert(r, struct{}{}); err != nil {
							return err
						}
					}
					return nil
				})
				wantErr(t, err, ErrExists, tc.want)
				if !c.b.UniqueViolation(err) {
					t.Errorf("error %v does not wrap the backend's unique violation", err)
				}
			})
		}
	})
}

// TestUpdateGivesUpWithConflict: a transaction that conflicts every time
// is run maxAttempts times, then reported as ErrConflict saying what to do.
func TestUpdateGivesUpWithConflict(t *testing.T) {
	c, _ := openTest(t)
	busy := errors.New("busy")
	c.b = alwaysBusy{Backend: c.b, busy: busy}
	runs := 0
	err := c.Update(ctx, func(tx *Tx) error { runs++; return busy })
	if runs != maxAttempts {
		t.Errorf("fn ran %d times, want %d", runs, maxAttempts)
	}
	wantErr(t, err, ErrConflict, fmt.Sprintf("the change conflicted with concurrent changes to the catalog %d times in a row (busy): run the statement again", maxAttempts))
	if !errors.Is(err, busy) {
		t.Errorf("%v does not wrap the last conflict", err)
	}
}

type alwaysBusy struct {
	Backend
	busy error
}

func (b alwaysBusy) Retryable(err error) bool { return errors.Is(err, b.busy) }

// TestConcurrentDDL races DDL from two Catalogs on one database (two
// servers): goroutines on each create, grant on and drop the same names and
// their own. Every outcome must be a success or a catalog error that says
// what happened (exists, does not exist, conflict); no grant that succeeded
// is lost; no object exists twice; and the successes add up as in some
// serial order (on each contested name, creates and drops alternate).
func TestConcurrentDDL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c1, c2 := db.open(t), db.open(t)
		const workers, rounds = 6, 15
		must(t, c1, func(tx *Tx) error {
			if _, err := tx.CreateDatabase(Database{Name: "d"}); err != nil {
				return err
			}
			if _, err := tx.CreateSchema(Schema{Database: "d", Name: "shared"}); err != nil {
				return err
			}
			for w := range workers {
				if _, err := tx.CreateRole(Role{Name: fmt.Sprintf("r%d", w)}); err != nil {
					return err
				}
			}
			return nil
		})

		type tally struct{ creates, drops int }
		var mu sync.Mutex
		counts := map[string]*tally{} // by contested name
		var granted []string          // "privilege object role" of each successful grant that nothing drops
		var unclear []error
		ownCreated := 0
		record := func(name string, create bool, err error, allowed ...error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				var ce *Error
				ok := errors.As(err, &ce) && (errors.Is(err, ErrConflict) || func() bool {
					for _, a := range allowed {
						if errors.Is(err, a) {
							return true
						}
					}
					return false
				}())
				if !ok {
					unclear = append(unclear, err)
				}
				return
			}
			if name == "" {
				return
			}
			if counts[name] == nil {
				counts[name] = &tally{}
			}
			if create {
				counts[name].creates++
			} else {
				counts[name].drops++
			}
		}
		var wg sync.WaitGroup
		for w := range workers {
			cat := c1
			if w%2 == 1 {
				cat = c2
			}
			role := fmt.Sprintf("r%d", w)
			wg.Go(func() {
				for i := range rounds {
					// The same names, contested by every worker.
					err := cat.Update(ctx, func(tx *Tx) error {
						_, err := tx.CreateRelation(Relation{Database: "d", Schema: "shared", Name: "t", Kind: object.KindTable, Location: "/t"})
						return err
					})
					record("table t", true, err, ErrExists)
					err = cat.Update(ctx, func(tx *Tx) error {
						_, err := tx.Grant(object.PrivSelect, object.KindTable, "d.shared.t", role)
						return err
					})
					record("", false, err, ErrNotFound)
					err = cat.Update(ctx, func(tx *Tx) error { return tx.DropRelation("d", "shared", "t", false) })
					record("table t", false, err, ErrNotFound)
					err = cat.Update(ctx, func(tx *Tx) error { _, err := tx.CreateRole(Role{Name: "contested"}); return err })
					record("role contested", true, err, ErrExists)
					if i%3 == 2 {
						err = cat.Update(ctx, func(tx *Tx) error { return tx.DropRole("contested") })
						record("role contested", false, err, ErrNotFound)
					}
					// Names of this worker's own, and grants on one object
					// all workers grant on: none may be lost.
					own := fmt.Sprintf("w%d_%d", w, i)
					err = cat.Update(ctx, func(tx *Tx) error {
						_, err := tx.CreateSchema(Schema{Database: "d", Name: own})
						return err
					})
					record("", true, err)
					if err == nil {
						mu.Lock()
						ownCreated++
						mu.Unlock()
					}
					err = cat.Update(ctx, func(tx *Tx) error {
						if _, err := tx.Grant(object.PrivUsage, object.KindSchema, "d."+own, role); err != nil {
							return err
						}
						_, err := tx.Grant(object.PrivUsage, object.KindDatabase, "d", role)
						return err
					})
					record("", true, err)
					if err == nil {
						mu.Lock()
						granted = append(granted, "USAGE schema d."+own+" "+role, "USAGE database d "+role)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		for _, err := range unclear {
			t.Errorf("unclear error from concurrent DDL: %v", err)
		}

		err := c2.View(ctx, func(tx *Tx) error {
			exists := map[string]bool{}
			if _, err := tx.GetRelation("d", "shared", "t"); err == nil {
				exists["table t"] = true
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			if _, err := tx.GetRole("contested"); err == nil {
				exists["role contested"] = true
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			for name, n := range counts {
				want := 0
				if exists[name] {
					want = 1
				}
				if n.creates-n.drops != want {
					t.Errorf("%s: %d creates and %d drops succeeded, and it exists = %v: no serial order does that",
						name, n.creates, n.drops, exists[name])
				}
			}
			have := map[string]bool{}
			schemas, err := tx.ListSchemas("d")
			if err != nil {
				return err
			}
			objects := [][2]string{{string(object.KindDatabase), "d"}}
			for _, s := range schemas {
				objects = append(objects, [2]string{string(object.KindSchema), "d." + s.Name})
			}
			for _, o := range objects {
				gs, err := tx.GrantsOn(object.Kind(o[0]), o[1])
				if err != nil {
					return err
				}
				for _, g := range gs {
					have[fmt.Sprintf("%s %s %s %s", g.Privilege, g.ObjectKind, g.Object, g.Role)] = true
				}
			}
			for _, g := range granted {
				if !have[g] {
					t.Errorf("grant %s succeeded and is lost", g)
				}
			}
			if len(schemas) != 1+ownCreated {
				t.Errorf("%d schemas, want %d (shared and the %d created)", len(schemas), 1+ownCreated, ownCreated)
			}
			// One row per grant: idempotent grants raced to no duplicates.
			dup, err := tx.count(`SELECT COUNT(*) FROM (SELECT object_id, role_id, privilege FROM grants
				GROUP BY object_id, role_id, privilege HAVING COUNT(*) > 1) x`)
			if err != nil || dup != 0 {
				t.Errorf("%d duplicated grants, %v", dup, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
