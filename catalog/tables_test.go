package catalog

import (
	"errors"
	"testing"

	"github.com/sluice-io/sluice/catalog/object"
)

// TestDropTable: the query writing a dropped table is kept, detached and
// terminated; a shared table and a stream are refused with the fix.
func TestDropTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		qid := queryAndShareFixture(t, c, "sales.eu.big").ID
		for _, tc := range []struct {
			name, table string
			class       error
			want        string
		}{
			{"shared", "orders", ErrInUse, "table sales.eu.orders is in share partners: remove it from the share first (ALTER SHARE partners REMOVE TABLE sales.eu.orders)"},
			{"stream", "orders_raw", ErrInvalid, "sales.eu.orders_raw is a stream, not a table: use DROP STREAM sales.eu.orders_raw"},
			{"missing", "nope", ErrNotFound, "relation sales.eu.nope does not exist"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, c.Update(ctx, func(tx *Tx) error { _, err := tx.DropTable("sales", "eu", tc.table); return err }), tc.class, tc.want)
			})
		}
		must(t, c, func(tx *Tx) error {
			rel, err := tx.DropTable("sales", "EU", "Big")
			if err != nil {
				return err
			}
			if rel.Path() != "sales.eu.big" || rel.QueryID != qid || rel.Location != "/lake/big" {
				t.Errorf("dropped relation = %+v", rel)
			}
			return nil
		})
		err := c.View(ctx, func(tx *Tx) error {
			if _, err := tx.GetRelation("sales", "eu", "big"); !errors.Is(err, ErrNotFound) {
				t.Errorf("table still there: %v", err)
			}
			q, err := tx.GetQuery(qid)
			if err != nil {
				return err
			}
			if q.State != QueryTerminated || q.Table != "sales.eu.big" {
				t.Errorf("query after drop = %+v, want terminated, table kept", q)
			}
			if n, err := tx.count(`SELECT COUNT(*) FROM grants g JOIN objects r ON r.id = g.role_id WHERE r.name = 'analysts'`); err != nil || n != 0 {
				t.Errorf("grants on the dropped table: %d %v", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The name is free again, and a new query may write the new table.
		must(t, c, func(tx *Tx) error {
			if _, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "big", Kind: object.KindTable, Location: "/lake/big2"}); err != nil {
				return err
			}
			_, err := tx.CreateQuery(Query{SQL: "SELECT 2", Table: "sales.eu.big"})
			return err
		})
	})
}

func TestCheckPrivilege(t *testing.T) {
	for _, tc := range []struct {
		p    object.Privilege
		kind object.Kind
		want string
	}{
		{object.PrivSelect, object.KindTable, ""},
		{object.PrivInsert, object.KindTable, ""},
		{object.PrivSelect, object.KindStream, ""},
		{object.PrivUsage, object.KindTable, "privilege USAGE does not apply to a table: use SELECT, INSERT, DROP, ALTER, DESCRIBE, MONITOR, OPERATE, GRANT, OWNERSHIP, ALL"},
		{object.PrivInsert, object.KindStream, "privilege INSERT does not apply to a stream: use SELECT, DROP, ALTER, DESCRIBE, GRANT, OWNERSHIP, ALL"},
		{object.PrivCreate, object.KindStream, "privilege CREATE does not apply to a stream: use SELECT, DROP, ALTER, DESCRIBE, GRANT, OWNERSHIP, ALL"},
		// Every privilege on the containers, for what they hold.
		{object.PrivOperate, object.KindDatabase, ""},
		{object.PrivDescribe, object.KindSchema, ""},
		{object.PrivMonitor, object.KindQuery, ""},
		{object.PrivUsage, object.KindStore, ""},
		{object.PrivAlter, object.KindRecipient, ""},
		{object.PrivInsert, object.KindShare, "privilege INSERT does not apply to a share: use USAGE, DROP, ALTER, DESCRIBE, GRANT, OWNERSHIP, ALL"},
		{object.PrivSelect, object.KindQuery, "privilege SELECT does not apply to a query: use DESCRIBE, MONITOR, OPERATE, GRANT, OWNERSHIP, ALL"},
		{object.PrivGrant, object.KindUser, "privilege GRANT does not apply to a user: use DROP, ALTER, DESCRIBE, OWNERSHIP, ALL"},
	} {
		err := CheckPrivilege(tc.p, tc.kind)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s on %s: %v", tc.p, tc.kind, err)
			}
			continue
		}
		wantErr(t, err, ErrInvalid, tc.want)
	}
}

// queryAndShareFixture adds to fixture the table sales.eu.big written by a
// query (returned), the role analysts granted SELECT on granted, and the
// share partners holding sales.eu.orders.
func queryAndShareFixture(t *testing.T, c *Catalog, granted string) Query {
	t.Helper()
	var q Query
	must(t, c, func(tx *Tx) error {
		if _, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "big", Kind: object.KindTable, Location: "/lake/big"}); err != nil {
			return err
		}
		var err error
		if q, err = tx.CreateQuery(Query{SQL: "SELECT 1", Table: "sales.eu.big"}); err != nil {
			return err
		}
		if _, err := tx.CreateRole(Role{Name: "analysts"}); err != nil {
			return err
		}
		if _, err := tx.Grant(object.PrivSelect, object.KindTable, granted, "analysts"); err != nil {
			return err
		}
		if _, err := tx.CreateShare(Share{Name: "partners"}); err != nil {
			return err
		}
		_, err = tx.AddShareTable("partners", ShareTable{Table: "sales.eu.orders"})
		return err
	})
	return q
}

// TestSetTableProperties: the properties are replaced and read back; a
// bad value of a property Sluice interprets, a stream and a missing table
// are refused.
func TestSetTableProperties(t *testing.T) {
	c, _ := openTest(t)
	fixture(t, c)
	for _, tc := range []struct {
		name, table string
		props       map[string]string
		class       error
		want        string
	}{
		{"stream", "orders_raw", map[string]string{"a": "b"}, ErrInvalid, "sales.eu.orders_raw is a stream, not a table: table properties are for tables"},
		{"missing", "nope", nil, ErrNotFound, "relation sales.eu.nope does not exist"},
		{"bad flush", "orders", map[string]string{"flush.interval": "soon"}, ErrInvalid, `table sales.eu.orders: property flush.interval="soon": want a positive duration such as 30s or 5m`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, c.Update(ctx, func(tx *Tx) error { _, err := tx.SetTableProperties("sales", "eu", tc.table, tc.props); return err }), tc.class, tc.want)
		})
	}
	want := map[string]string{"delta.logRetentionDuration": "interval 7 days"}
	must(t, c, func(tx *Tx) error {
		_, err := tx.SetTableProperties("sales", "EU", "Orders", want)
		return err
	})
	must(t, c, func(tx *Tx) error {
		rel, err := tx.GetRelation("sales", "eu", "orders")
		if err == nil && (len(rel.Properties) != 1 || rel.Properties["delta.logRetentionDuration"] != "interval 7 days") {
			t.Errorf("properties read back: %v, want %v", rel.Properties, want)
		}
		return err
	})
}
