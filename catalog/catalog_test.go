package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog/object"
)

var ctx = context.Background()

// must runs fn in one Update and fails the test on error.
func must(t testing.TB, c *Catalog, fn func(tx *Tx) error) {
	t.Helper()
	if err := c.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is a catalog error of class with exactly msg.
func wantErr(t testing.TB, err error, class error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", msg)
	}
	if err.Error() != msg {
		t.Errorf("error = %q\nwant    %q", err.Error(), msg)
	}
	if class != nil && !errors.Is(err, class) {
		t.Errorf("error %q is not %v", err, class)
	}
}

// fixture creates sales.eu with a store, a stream and a table.
func fixture(t testing.TB, c *Catalog) {
	t.Helper()
	must(t, c, func(tx *Tx) error {
		if _, err := tx.CreateDatabase(Database{Name: "sales"}); err != nil {
			return err
		}
		if _, err := tx.CreateSchema(Schema{Database: "sales", Name: "eu"}); err != nil {
			return err
		}
		if _, err := tx.CreateStore(Store{Name: "kafka_prod", Properties: map[string]string{
			"bootstrap.servers": "broker:9092", "sasl.password": "env:KAFKA_PASSWORD"}}); err != nil {
			return err
		}
		if _, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "orders_raw", Kind: object.KindStream,
			Store: "kafka_prod", Topic: "orders", ValueFormat: "json",
			Columns: []Column{{Name: "id", Type: "BIGINT"}, {Name: "amount", Type: "DECIMAL(10,2)", Nullable: true}}}); err != nil {
			return err
		}
		_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "orders", Kind: object.KindTable,
			Location: "s3://lake/sales/eu/orders", Columns: []Column{{Name: "id", Type: "BIGINT"}, {Name: "day", Type: "DATE"}},
			Properties: map[string]string{"partitioned.by": "day", "flush.interval": "30s", "target.file.size": "134217728", "kms.key": "alias/lake"}})
		return err
	})
}

func TestValidateName(t *testing.T) {
	long := strings.Repeat("a", 129)
	for _, tc := range []struct {
		kind object.Kind
		name string
		want string // "" for valid
	}{
		{object.KindDatabase, "sales", ""},
		{object.KindSchema, "EU_2024", ""},
		{object.KindTable, "_tmp", ""},
		{object.KindTable, "café", ""},
		{object.KindRole, strings.Repeat("r", 128), ""},
		{object.KindDatabase, "", `invalid database name "": name is empty`},
		{object.KindSchema, "a..b", `invalid schema name "a..b": ".." is not allowed; use letters, digits and _`},
		{object.KindTable, "a/b", `invalid table name "a/b": "/" is not allowed; use letters, digits and _`},
		{object.KindStream, "a.b", `invalid stream name "a.b": character '.' is not allowed; use letters, digits and _`},
		{object.KindRole, "bad name", `invalid role name "bad name": character ' ' is not allowed; use letters, digits and _`},
		{object.KindUser, "bell\a", `invalid user name "bell\a": control character U+0007 is not allowed`},
		{object.KindShare, "1st", `invalid share name "1st": must start with a letter or _`},
		{object.KindStore, long, `invalid store name "` + long + `": longer than 128 characters (129)`},
		{object.KindRecipient, "a-b", `invalid recipient name "a-b": character '-' is not allowed; use letters, digits and _`},
	} {
		err := ValidateName(tc.kind, tc.name)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidateName(%s, %q) = %v, want ok", tc.kind, tc.name, err)
			}
			continue
		}
		wantErr(t, err, ErrInvalid, tc.want)
	}
}

func TestCreateErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		for _, tc := range []struct {
			name  string
			op    func(tx *Tx) error
			class error
			want  string
		}{
			{"database exists, other case", func(tx *Tx) error { _, err := tx.CreateDatabase(Database{Name: "SALES"}); return err },
				ErrExists, "database SALES already exists"},
			{"schema exists", func(tx *Tx) error { _, err := tx.CreateSchema(Schema{Database: "sales", Name: "Eu"}); return err },
				ErrExists, "schema sales.Eu already exists"},
			{"schema in missing database", func(tx *Tx) error { _, err := tx.CreateSchema(Schema{Database: "hr", Name: "eu"}); return err },
				ErrNotFound, "database hr does not exist"},
			{"bad schema name", func(tx *Tx) error { _, err := tx.CreateSchema(Schema{Database: "sales", Name: "e/u"}); return err },
				ErrInvalid, `invalid schema name "e/u": "/" is not allowed; use letters, digits and _`},
			{"table named like a stream", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "ORDERS_RAW", Kind: object.KindTable, Location: "/x"})
				return err
			}, ErrExists, "stream sales.eu.ORDERS_RAW already exists"},
			{"relation in missing schema", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "us", Name: "t", Kind: object.KindTable, Location: "/x"})
				return err
			}, ErrNotFound, "schema sales.us does not exist"},
			{"stream without store", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "s", Kind: object.KindStream, Topic: "t"})
				return err
			}, ErrInvalid, "stream sales.eu.s: a store is required (CREATE STORE first)"},
			{"stream with unknown store", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "s", Kind: object.KindStream, Topic: "t", Store: "nope"})
				return err
			}, ErrNotFound, "stream sales.eu.s: store nope does not exist"},
			{"table without location", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "t", Kind: object.KindTable})
				return err
			}, ErrInvalid, "table sales.eu.t: a location is required"},
			{"duplicate column", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "t", Kind: object.KindTable, Location: "/x",
					Columns: []Column{{Name: "a", Type: "INT"}, {Name: "A", Type: "INT"}}})
				return err
			}, ErrInvalid, "table sales.eu.t: column A appears twice"},
			{"partition on unknown column", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "t", Kind: object.KindTable, Location: "/x",
					Columns: []Column{{Name: "a", Type: "INT"}}, Properties: map[string]string{"partitioned.by": "b"}})
				return err
			}, ErrInvalid, `table sales.eu.t: property partitioned.by="b": no column "b"; list existing columns, comma-separated`},
			{"bad flush interval", func(tx *Tx) error {
				_, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "t", Kind: object.KindTable, Location: "/x",
					Properties: map[string]string{"flush.interval": "soon"}})
				return err
			}, ErrInvalid, `table sales.eu.t: property flush.interval="soon": want a positive duration such as 30s or 5m`},
			{"plaintext secret", func(tx *Tx) error {
				_, err := tx.CreateStore(Store{Name: "k2", Properties: map[string]string{"sasl.password": "hunter2"}})
				return err
			}, ErrInvalid, "store k2: property sasl.password holds a secret: give a reference, env:NAME or file:/absolute/path, not the secret itself"},
			{"relative secret file", func(tx *Tx) error {
				_, err := tx.CreateStore(Store{Name: "k2", Properties: map[string]string{"oauth.Token": "file:token.txt"}})
				return err
			}, ErrInvalid, "store k2: property oauth.Token holds a secret: give a reference, env:NAME or file:/absolute/path, not the secret itself"},
			{"role named like a user", func(tx *Tx) error {
				if _, _, err := tx.CreateUser(User{Name: "alice"}); err != nil {
					return err
				}
				_, err := tx.CreateRole(Role{Name: "Alice"})
				return err
			}, ErrExists, "user Alice already exists"},
			{"owner is not a role", func(tx *Tx) error {
				if _, _, err := tx.CreateUser(User{Name: "bob"}); err != nil {
					return err
				}
				_, err := tx.CreateDatabase(Database{Name: "hr", Owner: "bob"})
				return err
			}, ErrInvalid, "owner of database hr: bob is a user, not a role"},
			{"get table that is a stream", func(tx *Tx) error { _, err := tx.GrantsOn(object.KindTable, "sales.eu.orders_raw"); return err },
				ErrInvalid, "sales.eu.orders_raw is a stream, not a table"},
			{"bad path", func(tx *Tx) error { _, err := tx.ResolvePath(object.KindTable, "sales.orders"); return err },
				ErrInvalid, `invalid table path "sales.orders": want database.schema.name`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, c.Update(ctx, tc.op), tc.class, tc.want)
			})
		}
		// Secret references are accepted.
		must(t, c, func(tx *Tx) error {
			_, err := tx.CreateStore(Store{Name: "k3", Properties: map[string]string{
				"sasl.password": "file:/run/secrets/kafka", "client.secret": "env:CLIENT_SECRET", "sasl.username": "svc"}})
			return err
		})
	})
}

func TestCRUD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		err := c.View(ctx, func(tx *Tx) error {
			d, err := tx.GetDatabase("SaLeS")
			if err != nil {
				return err
			}
			if d.Name != "sales" || d.Owner != AdminRole || d.ID == "" || d.Created.IsZero() {
				t.Errorf("database = %+v", d)
			}
			s, err := tx.GetSchema("sales", "EU")
			if err != nil {
				return err
			}
			if s.Database != "sales" || s.Name != "eu" {
				t.Errorf("schema = %+v", s)
			}
			rels, err := tx.ListRelations("sales", "eu")
			if err != nil {
				return err
			}
			if len(rels) != 2 || rels[0].Name != "orders" || rels[1].Name != "orders_raw" {
				t.Fatalf("relations = %+v", rels)
			}
			tbl, str := rels[0], rels[1]
			if tbl.Kind != object.KindTable || tbl.Location != "s3://lake/sales/eu/orders" || tbl.Properties["kms.key"] != "alias/lake" || tbl.Path() != "sales.eu.orders" {
				t.Errorf("table = %+v", tbl)
			}
			if str.Kind != object.KindStream || str.Store != "kafka_prod" || str.Topic != "orders" || len(str.Columns) != 2 || !str.Columns[1].Nullable || str.Columns[1].Type != "DECIMAL(10,2)" {
				t.Errorf("stream = %+v", str)
			}
			st, err := tx.GetStore("kafka_prod")
			if err != nil {
				return err
			}
			if st.Type != "kafka" || st.Properties["sasl.password"] != "env:KAFKA_PASSWORD" {
				t.Errorf("store = %+v", st)
			}
			for _, n := range []func() (int, error){
				func() (int, error) { l, err := tx.ListDatabases(); return len(l), err },
				func() (int, error) { l, err := tx.ListSchemas("sales"); return len(l), err },
				func() (int, error) { l, err := tx.ListStores(); return len(l), err },
				func() (int, error) { l, err := tx.ListRoles(); return len(l) - 2, err }, // securityadmin and useradmin are built in
			} {
				if got, err := n(); err != nil || got != 1 {
					t.Errorf("list: %d, %v; want 1", got, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// Queries: CREATE TABLE AS SELECT writes the table.
		var qid string
		must(t, c, func(tx *Tx) error {
			if _, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "big", Kind: object.KindTable, Location: "/lake/big"}); err != nil {
				return err
			}
			q, err := tx.CreateQuery(Query{SQL: "SELECT * FROM sales.eu.orders_raw WHERE amount > 100", Table: "SALES.eu.big",
				Spec: []byte(`{"source":"orders"}`)})
			if err != nil {
				return err
			}
			qid = q.ID
			if q.State != QueryRunning || q.Table != "sales.eu.big" || string(q.Spec) != `{"source":"orders"}` || q.Owner != AdminRole {
				t.Errorf("query = %+v", q)
			}
			r, err := tx.GetRelation("sales", "eu", "big")
			if err != nil || r.QueryID != q.ID {
				t.Errorf("table's query = %q, %v; want %s", r.QueryID, err, q.ID)
			}
			_, err = tx.CreateQuery(Query{SQL: "SELECT 1", Table: "sales.eu.big"})
			wantErr(t, err, ErrInUse, "query: table sales.eu.big is already written by query "+q.ID+": drop that query first")
			_, err = tx.CreateQuery(Query{SQL: "SELECT 1", Table: "sales.eu.orders_raw"})
			wantErr(t, err, ErrInvalid, "query: sales.eu.orders_raw is a stream; queries write tables")
			if q, err = tx.SetQueryState(q.ID, QueryPaused); err != nil || q.State != QueryPaused {
				t.Errorf("SetQueryState: %+v, %v", q, err)
			}
			_, err = tx.SetQueryState(q.ID, "sleeping")
			wantErr(t, err, ErrInvalid, `query `+q.ID+`: state "sleeping" is not one of running, paused, terminated`)
			return nil
		})
		wantErr(t, c.Update(ctx, func(tx *Tx) error { return tx.DropRelation("sales", "eu", "big", false) }),
			ErrNotEmpty, "table sales.eu.big is written by query "+qid+": drop the query first or use CASCADE")
		must(t, c, func(tx *Tx) error {
			if err := tx.DropQuery(qid); err != nil {
				return err
			}
			r, err := tx.GetRelation("sales", "eu", "big")
			if err != nil || r.QueryID != "" {
				t.Errorf("after DropQuery the table's query = %q, %v", r.QueryID, err)
			}
			return tx.DropRelation("sales", "eu", "big", false)
		})

		// Drops.
		wantErr(t, c.Update(ctx, func(tx *Tx) error { return tx.DropStore("kafka_prod") }),
			ErrInUse, "store kafka_prod is used by stream sales.eu.orders_raw: drop the streams reading from it first")
		must(t, c, func(tx *Tx) error {
			if err := tx.DropRelation("sales", "eu", "orders_raw", false); err != nil {
				return err
			}
			return tx.DropStore("kafka_prod")
		})
		wantErr(t, c.View(ctx, func(tx *Tx) error { _, err := tx.GetStore("kafka_prod"); return err }),
			ErrNotFound, "store kafka_prod does not exist")
		wantErr(t, c.View(ctx, func(tx *Tx) error { _, err := tx.GetRelation("sales", "eu", "orders_raw"); return err }),
			ErrNotFound, "relation sales.eu.orders_raw does not exist")
	})
}

func TestCascade(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		cascaded := queryAndShareFixture(t, c, "sales.eu.orders")
		for _, tc := range []struct {
			name string
			op   func(tx *Tx) error
			want string
		}{
			{"database", func(tx *Tx) error { return tx.DropDatabase("sales", false) },
				"database sales is not empty: drop its schemas first or use CASCADE"},
			{"schema", func(tx *Tx) error { return tx.DropSchema("sales", "eu", false) },
				"schema sales.eu is not empty: drop its streams and tables first or use CASCADE"},
			{"shared table", func(tx *Tx) error { return tx.DropRelation("sales", "eu", "orders", false) },
				"table sales.eu.orders is in share partners: remove it from the share first or use CASCADE"},
		} {
			t.Run(tc.name, func(t *testing.T) { wantErr(t, c.Update(ctx, tc.op), ErrNotEmpty, tc.want) })
		}
		must(t, c, func(tx *Tx) error { return tx.DropDatabase("sales", true) })
		err := c.View(ctx, func(tx *Tx) error {
			for _, q := range []string{
				`SELECT COUNT(*) FROM objects WHERE kind IN ('database', 'schema', 'stream', 'table')`,
				`SELECT COUNT(*) FROM objects WHERE kind = 'query' AND ref_id IS NOT NULL`,
				`SELECT COUNT(*) FROM grants`, `SELECT COUNT(*) FROM share_tables`,
			} {
				if n, err := tx.count(q); err != nil || n != 0 {
					t.Errorf("%s = %d, %v; want 0", q, n, err)
				}
			}
			sh, err := tx.GetShare("partners")
			if err != nil || len(sh.Tables) != 0 {
				t.Errorf("share after cascade: %+v, %v", sh, err)
			}
			// The query writing a dropped table is terminated, not deleted, as
			// DROP TABLE does: its worker stops and SHOW QUERIES still shows it.
			q, err := tx.GetQuery(cascaded.ID)
			if err != nil || q.State != QueryTerminated || q.Table != "sales.eu.big" {
				t.Errorf("query after cascade: %+v, %v; want it terminated, naming sales.eu.big", q, err)
			}
			_, err = tx.GetStore("kafka_prod") // stores are not inside databases
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// An empty database drops without CASCADE.
		must(t, c, func(tx *Tx) error {
			if _, err := tx.CreateDatabase(Database{Name: "hr"}); err != nil {
				return err
			}
			return tx.DropDatabase("HR", false)
		})
	})
}

func TestRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		boom := errors.New("boom")
		err := c.Update(ctx, func(tx *Tx) error {
			if _, err := tx.CreateDatabase(Database{Name: "sales"}); err != nil {
				return err
			}
			if _, err := tx.CreateSchema(Schema{Database: "sales", Name: "eu"}); err != nil {
				return err
			}
			if _, _, err := tx.CreateUser(User{Name: "alice"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want boom", err)
		}
		// A failing statement in the middle also rolls back the earlier ones.
		err = c.Update(ctx, func(tx *Tx) error {
			if _, err := tx.CreateDatabase(Database{Name: "hr"}); err != nil {
				return err
			}
			_, err := tx.CreateSchema(Schema{Database: "hr", Name: "bad/name"})
			return err
		})
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Update = %v, want ErrInvalid", err)
		}
		err = c.View(ctx, func(tx *Tx) error {
			for _, tbl := range []string{"objects", "tokens", "grants", "role_grants"} {
				n, err := tx.count(`SELECT COUNT(*) FROM ` + tbl + ` WHERE 1 = 1`)
				if err != nil {
					return err
				}
				if want := map[string]int{"objects": len(BuiltinRoles)}[tbl]; n != want { // the built-in roles
					t.Errorf("%s has %d rows after rollback, want %d", tbl, n, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestPersistence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		var token string
		must(t, c, func(tx *Tx) error {
			if _, err := tx.CreateRole(Role{Name: "analysts"}); err != nil {
				return err
			}
			if _, err := tx.Grant(object.PrivSelect, object.KindTable, "sales.eu.orders", "analysts"); err != nil {
				return err
			}
			var err error
			if _, token, err = tx.CreateUser(User{Name: "alice"}); err != nil {
				return err
			}
			_, err = tx.GrantRole("analysts", "alice")
			return err
		})
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}

		c = db.open(t) // migrations are not applied twice
		u, err := c.AuthenticateUser(ctx, token)
		if err != nil || u.Name != "alice" {
			t.Fatalf("AuthenticateUser after reopen = %+v, %v", u, err)
		}
		err = c.View(ctx, func(tx *Tx) error {
			r, err := tx.GetRelation("sales", "eu", "orders")
			if err != nil {
				return err
			}
			if r.Properties["partitioned.by"] != "day" || len(r.Columns) != 2 {
				t.Errorf("table after reopen = %+v", r)
			}
			roles, err := tx.EffectiveRoles("alice")
			if err != nil || strings.Join(roles, ",") != "analysts" {
				t.Errorf("EffectiveRoles(alice) = %v, %v", roles, err)
			}
			gs, err := tx.GrantsTo("analysts")
			if err != nil || len(gs) != 1 || gs[0].Object != "sales.eu.orders" {
				t.Errorf("GrantsTo(analysts) = %+v, %v", gs, err)
			}
			n, err := tx.count(`SELECT COUNT(*) FROM schema_migrations WHERE 1 = 1`)
			if err != nil || n != len(migrations) {
				t.Errorf("schema_migrations has %d rows, %v; want %d", n, err, len(migrations))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
