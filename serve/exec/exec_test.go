package exec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
)

// testNow is the catalog's clock in tests: creation times are stable.
var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

type env struct {
	cat  *catalog.Catalog
	sink *policy.MemorySink
	ex   *exec.Executor
}

// newEnv opens a real SQLite catalog with users root (admin), alice and
// bob, and the default policy auditing to memory.
func newEnv(t testing.TB, opts ...exec.Option) *env {
	t.Helper()
	sink := &policy.MemorySink{}
	pol, err := policy.New(context.Background(), policy.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	cat := newCatalog(t)
	return &env{cat: cat, sink: sink, ex: exec.New(cat, pol, opts...)}
}

// newCatalog opens a real SQLite catalog with users root (admin), alice
// and bob.
func newCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	return newCatalogAt(t, filepath.Join(t.TempDir(), "catalog.db"))
}

// newCatalogAt is newCatalog in the file path.
func newCatalogAt(t testing.TB, path string) *catalog.Catalog {
	t.Helper()
	cat := openCatalog(t, path)
	err := cat.Update(context.Background(), func(tx *catalog.Tx) error {
		for _, u := range []string{"root", "alice", "bob"} {
			if _, _, err := tx.CreateUser(catalog.User{Name: u}); err != nil {
				return err
			}
		}
		_, err := tx.GrantRole(catalog.AdminRole, "root")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// openCatalog opens the SQLite catalog at path, closed at cleanup, with
// the test clock.
func openCatalog(t testing.TB, path string) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	cat.SetClock(func() time.Time { return testNow })
	return cat
}

func user(name string) exec.Principal {
	return exec.Principal{Kind: policy.PrincipalUser, Name: name}
}

// audit renders the events recorded since index from as "principal action
// path allow|deny".
func (e *env) audit(from int) []string {
	var out []string
	for _, ev := range e.sink.Events()[from:] {
		verdict := "deny"
		if ev.Allow {
			verdict = "allow"
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", ev.Principal, ev.Action, ev.Path, verdict))
	}
	return out
}

func messages(rs []exec.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Message
	}
	return out
}

// TestScenario runs one script after another against one catalog; each
// step asserts its messages, the error, and the exact audit events.
func TestScenario(t *testing.T) {
	e := newEnv(t)
	steps := []step{
		{
			name:  "admin creates a database and a schema",
			who:   "root",
			sql:   "CREATE DATABASE sales; CREATE SCHEMA sales.eu",
			want:  []string{"database sales created", "schema sales.eu created"},
			audit: []string{"user:root CREATE sales allow", "user:root CREATE sales.eu allow"},
		},
		{
			name:   "only admin creates top-level objects",
			who:    "alice",
			sql:    "CREATE DATABASE mine",
			denied: "missing CREATE: creating top-level database mine needs the admin role",
			audit:  []string{"user:alice CREATE mine deny"},
		},
		{
			name:   "user without grants is denied",
			who:    "alice",
			sql:    "SHOW SCHEMAS IN sales",
			denied: "missing USAGE on database sales",
			audit:  []string{"user:alice USAGE sales deny"},
		},
		{
			name:   "the check comes before existence",
			who:    "alice",
			sql:    "DROP DATABASE IF EXISTS nothere",
			denied: "missing DROP on database nothere",
			audit:  []string{"user:alice DROP nothere deny"},
		},
		{
			name: "admin sets up a role of a role",
			who:  "root",
			sql: `CREATE ROLE analyst; CREATE ROLE reader;
				GRANT ROLE reader TO ROLE analyst; GRANT ROLE analyst TO USER alice;
				GRANT USAGE ON DATABASE sales TO ROLE reader`,
			want: []string{"role analyst created", "role reader created",
				"role reader granted to role analyst", "role analyst granted to user alice",
				"USAGE on database sales granted to role reader"},
			audit: []string{"user:root CREATE analyst allow", "user:root CREATE reader allow",
				"user:root GRANT reader allow", "user:root GRANT analyst allow",
				"user:root GRANT sales allow"},
		},
		{
			name:  "USAGE through a role of a role allows, and does not open the schemas",
			who:   "alice",
			sql:   "SHOW SCHEMAS IN sales",
			want:  []string{"0 schemas"},
			rows:  [][]string{},
			audit: []string{"user:alice USAGE sales allow", "user:alice USAGE sales.eu deny"},
		},
		{
			name:   "GRANT on a schema needs GRANT there or on its database",
			who:    "alice",
			sql:    "GRANT USAGE ON SCHEMA sales.eu TO ROLE analyst",
			denied: "missing GRANT on schema sales.eu (or an ancestor)",
			audit:  []string{"user:alice GRANT sales.eu deny"},
		},
		{
			name:  "admin grants ALL on the database",
			who:   "root",
			sql:   "GRANT ALL ON DATABASE sales TO ROLE reader",
			want:  []string{"ALL on database sales granted to role reader"},
			audit: []string{"user:root GRANT sales allow"},
		},
		{
			name: "ALL on the database is inherited by its schemas",
			who:  "alice",
			sql:  "SHOW SCHEMAS IN sales; GRANT USAGE ON SCHEMA sales.eu TO ROLE analyst",
			want: []string{"1 schemas", "USAGE on schema sales.eu granted to role analyst"},
			audit: []string{"user:alice USAGE sales allow", "user:alice USAGE sales.eu allow",
				"user:alice GRANT sales.eu allow"},
		},
		{
			name:  "admin revokes ALL",
			who:   "root",
			sql:   "REVOKE ALL ON DATABASE sales FROM ROLE reader",
			want:  []string{"ALL on database sales revoked from role reader"},
			audit: []string{"user:root GRANT sales allow"},
		},
		{
			name:   "REVOKE takes the inherited privilege away",
			who:    "alice",
			sql:    "GRANT USAGE ON SCHEMA sales.eu TO ROLE analyst",
			denied: "missing GRANT on schema sales.eu (or an ancestor)",
			audit:  []string{"user:alice GRANT sales.eu deny"},
		},
		{
			name:   "a denial stops the script after the committed statements",
			who:    "alice",
			sql:    "SHOW DATABASES; DROP SCHEMA sales.eu; SHOW DATABASES",
			want:   []string{"1 databases"},
			denied: "missing DROP on schema sales.eu (or an ancestor)",
			audit:  []string{"user:alice USAGE sales allow", "user:alice DROP sales.eu deny"},
		},
		{
			name:  "bob sees no database",
			who:   "bob",
			sql:   "SHOW DATABASES",
			want:  []string{"0 databases"},
			rows:  [][]string{},
			audit: []string{"user:bob USAGE sales deny"},
		},
		{
			name:  "SHOW GRANTS of one's own roles needs no decision",
			who:   "alice",
			sql:   "SHOW GRANTS",
			want:  []string{"2 grants"},
			rows:  [][]string{{"USAGE", "schema", "sales.eu", "analyst"}, {"USAGE", "database", "sales", "reader"}},
			audit: nil,
		},
		{
			name:   "SHOW GRANTS of another user is checked",
			who:    "bob",
			sql:    "SHOW GRANTS TO USER alice",
			denied: "missing DESCRIBE on user alice",
			audit:  []string{"user:bob DESCRIBE alice deny"},
		},
		{
			name:  "IF NOT EXISTS and IF EXISTS skip",
			who:   "root",
			sql:   "CREATE DATABASE IF NOT EXISTS sales; DROP SCHEMA IF EXISTS sales.nope; CREATE SCHEMA IF NOT EXISTS sales.us",
			want:  []string{"database sales already exists, skipped", "schema sales.nope does not exist, skipped", "schema sales.us created"},
			audit: []string{"user:root CREATE sales allow", "user:root DROP sales.nope allow", "user:root CREATE sales.us allow"},
		},
		{
			name:  "a database with schemas needs CASCADE",
			who:   "root",
			sql:   "CREATE DATABASE scratch; CREATE SCHEMA scratch.tmp; DROP DATABASE scratch",
			want:  []string{"database scratch created", "schema scratch.tmp created"},
			errIs: catalog.ErrNotEmpty,
			audit: []string{"user:root CREATE scratch allow", "user:root CREATE scratch.tmp allow", "user:root DROP scratch allow"},
		},
		{
			name:  "CASCADE drops it",
			who:   "root",
			sql:   "DROP DATABASE scratch CASCADE",
			want:  []string{"database scratch dropped"},
			audit: []string{"user:root DROP scratch allow"},
		},
	}
	e.runSteps(t, steps)
}

// step is one script of a scenario: who runs it, and what it must give.
type step struct {
	name   string
	who    string
	sql    string
	want   []string // messages of the committed statements
	rows   [][]string
	denied string                  // exact reason of a *DeniedError
	errIs  error                   // class of a catalog error
	audit  []string                // exact audit events (see env.audit)
	before func(*catalog.Tx) error // catalog changes the SQL cannot make
}

// runSteps runs the steps in order against one catalog; each is a subtest
// asserting its messages, the error, the rows of its last result (owner
// and created left out) and the exact audit events.
func (e *env) runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				if err := e.cat.Update(context.Background(), st.before); err != nil {
					t.Fatal(err)
				}
			}
			from := len(e.sink.Events())
			res, err := e.ex.Execute(context.Background(), user(st.who), st.sql)
			var denied *exec.DeniedError
			switch {
			case st.denied != "":
				if !errors.As(err, &denied) {
					t.Fatalf("err = %v, want *DeniedError", err)
				}
				if denied.Reason != st.denied {
					t.Errorf("reason = %q, want %q", denied.Reason, st.denied)
				}
			case st.errIs != nil:
				if !errors.Is(err, st.errIs) {
					t.Fatalf("err = %v, want %v", err, st.errIs)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if got := messages(res); !slices.Equal(got, st.want) {
				t.Errorf("messages = %q, want %q", got, st.want)
			}
			if st.rows != nil {
				if got := projectRows(res[len(res)-1]); !slices.EqualFunc(got, st.rows, slices.Equal) {
					t.Errorf("rows = %q, want %q", got, st.rows)
				}
			}
			if got := e.audit(from); !slices.Equal(got, st.audit) {
				t.Errorf("audit =\n  %q\nwant\n  %q", got, st.audit)
			}
		})
	}
}

// projectRows drops the columns that vary between runs (owner, created).
func projectRows(r exec.Result) [][]string {
	out := [][]string{}
	for _, row := range r.Rows {
		var keep []string
		for i, c := range r.Columns {
			if c != "created" && c != "owner" {
				keep = append(keep, row[i])
			}
		}
		out = append(out, keep)
	}
	return out
}

// TestFailingStatementRollsBackAlone: the statements before a failing one
// stay committed, the failing one leaves nothing, the ones after it do not
// run; the error says which statement failed, where it is, and how many
// did not run.
func TestFailingStatementRollsBackAlone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.ex.Execute(ctx, user("root"), "CREATE DATABASE sales; CREATE ROLE analyst"); err != nil {
		t.Fatal(err)
	}
	res, err := e.ex.Execute(ctx, user("root"), `CREATE SCHEMA sales.eu;
		GRANT USAGE, CREATE ON DATABASE sales TO ROLE nosuch;
		CREATE SCHEMA sales.us; CREATE SCHEMA sales.asia`)
	if !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("err = %v, want catalog.ErrNotFound", err)
	}
	var se *exec.StatementError
	if !errors.As(err, &se) {
		t.Fatalf("err = %T %v, want an *exec.StatementError", err, err)
	}
	want := exec.StatementError{Index: 2, Count: 4, Statement: "GRANT USAGE, CREATE ON DATABASE sales TO ROLE nosuch",
		Pos: sqlparse.Pos{Line: 2, Col: 3, Offset: 26}, Err: se.Err}
	if *se != want || se.NotRun() != 2 || se.Error() != se.Err.Error() {
		t.Errorf("StatementError = %+v (not run %d), want %+v (not run 2)", *se, se.NotRun(), want)
	}
	// A denial is located the same way, and stays a *DeniedError.
	_, err = e.ex.Execute(ctx, user("alice"), "SHOW DATABASES;\nDROP DATABASE sales")
	var de *exec.DeniedError
	if !errors.As(err, &se) || !errors.As(err, &de) || se.Index != 2 || se.Count != 2 || se.Pos.Line != 2 || se.NotRun() != 0 {
		t.Errorf("denied second statement: %T %+v", err, se)
	}
	if got, want := messages(res), []string{"schema sales.eu created"}; !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
	err = e.cat.View(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.GetSchema("sales", "eu"); err != nil {
			t.Errorf("earlier statement not committed: %v", err)
		}
		if _, err := tx.GetSchema("sales", "us"); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("later statement ran: %v", err)
		}
		gs, err := tx.GrantsOn(object.KindDatabase, "sales")
		if err != nil {
			return err
		}
		if len(gs) != 0 {
			t.Errorf("failing statement left grants: %+v", gs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseErrorRunsNothing(t *testing.T) {
	e := newEnv(t)
	res, err := e.ex.Execute(context.Background(), user("root"), "CREATE DATABASE sales;\nCREATE TABLE ;")
	var pe *sqlparse.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %T %v, want *sqlparse.ParseError", err, err)
	}
	if pe.Line != 2 || pe.Col != 14 || !strings.HasPrefix(pe.Error(), "line 2:14: ") {
		t.Errorf("position = %d:%d (%v), want 2:14", pe.Line, pe.Col, pe)
	}
	if len(res) != 0 || len(e.sink.Events()) != 0 {
		t.Errorf("results %v, %d decisions: want none", res, len(e.sink.Events()))
	}
	e.mustNotExist(t, "sales")
}

func (e *env) mustNotExist(t *testing.T, db string) {
	t.Helper()
	err := e.cat.View(context.Background(), func(tx *catalog.Tx) error {
		_, err := tx.GetDatabase(db)
		return err
	})
	if !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("database %s: %v, want not found", db, err)
	}
}

func TestCreateUserShowsTokenOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.ex.Execute(ctx, user("root"), "CREATE USER carol; CREATE USER IF NOT EXISTS carol")
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if !slices.Equal(r.Columns, []string{"user", "token"}) || len(r.Rows) != 1 || r.Rows[0][0] != "carol" {
		t.Fatalf("result = %+v", r)
	}
	if !strings.Contains(r.Message, "shown this once") {
		t.Errorf("message %q does not say the token is shown once", r.Message)
	}
	u, err := e.cat.AuthenticateUser(ctx, r.Rows[0][1])
	if err != nil || u.Name != "carol" {
		t.Errorf("token does not authenticate carol: %v, %v", u.Name, err)
	}
	if res[1].Message != "user carol already exists, skipped" || res[1].Rows != nil {
		t.Errorf("second result = %+v", res[1])
	}
	if _, err := e.ex.Execute(ctx, user("alice"), "CREATE USER mallory"); err == nil {
		t.Error("alice created a user")
	}
}

func TestGrantOwnershipTransfers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.ex.Execute(ctx, user("root"), `CREATE DATABASE sales; CREATE SCHEMA sales.eu; CREATE ROLE eng;
		GRANT ROLE eng TO USER bob; GRANT OWNERSHIP ON SCHEMA sales.eu TO ROLE eng; GRANT USAGE ON DATABASE sales TO ROLE eng`)
	if err != nil {
		t.Fatal(err)
	}
	// The owner may drop its schema, and only that.
	res, err := e.ex.Execute(ctx, user("bob"), "DROP SCHEMA sales.eu")
	if err != nil || res[0].Message != "schema sales.eu dropped" {
		t.Fatalf("owner drop: %v %v", res, err)
	}
	_, err = e.ex.Execute(ctx, user("bob"), "DROP DATABASE sales")
	var denied *exec.DeniedError
	if !errors.As(err, &denied) || denied.Reason != "missing DROP on database sales" {
		t.Errorf("err = %v", err)
	}
	if _, err := e.ex.Execute(ctx, user("root"), "REVOKE OWNERSHIP ON DATABASE sales FROM ROLE eng"); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("REVOKE OWNERSHIP: %v, want ErrInvalid", err)
	}
}

func TestOnlyUsers(t *testing.T) {
	e := newEnv(t)
	_, err := e.ex.Execute(context.Background(), exec.Principal{Kind: policy.PrincipalRecipient, Name: "r"}, "SHOW DATABASES")
	if err == nil {
		t.Error("a recipient ran a statement")
	}
}

// TestStoresAndStreams: an admin registers a Kafka store and a stream; a
// user with USAGE on the database and schema sees it in SHOW STREAMS, one
// without does not; CREATE STREAM needs CREATE on the schema; a plaintext
// secret in a store is refused; a stream on a missing store is refused.
func TestStoresAndStreams(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	run := func(who, sql string) ([]exec.Result, error) { return e.ex.Execute(ctx, user(who), sql) }
	if _, err := run("root", `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092', 'sasl.password' = 'env:KAFKA_PASSWORD');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, amount DECIMAL(12,2)) WITH ('store' = 'kafka1', 'topic' = 'orders');
CREATE USER carol; CREATE USER dave; CREATE ROLE viewer; GRANT ROLE viewer TO USER carol;
GRANT USAGE ON DATABASE sales TO ROLE viewer; GRANT USAGE ON SCHEMA sales.eu TO ROLE viewer`); err != nil {
		t.Fatal(err)
	}
	res, err := run("carol", "SHOW STREAMS")
	if err != nil || len(res[0].Rows) != 1 || res[0].Rows[0][0] != "sales.eu.orders" || res[0].Rows[0][2] != "orders" {
		t.Fatalf("carol SHOW STREAMS: %v %v", res, err)
	}
	if res, err := run("dave", "SHOW STREAMS"); err != nil || len(res[0].Rows) != 0 {
		t.Fatalf("dave sees streams: %v %v", res, err)
	}
	_, err = run("carol", "CREATE STREAM sales.eu.x (a INT) WITH ('store' = 'kafka1', 'topic' = 'x')")
	var de *exec.DeniedError
	if !errors.As(err, &de) || !strings.Contains(de.Reason, "CREATE") {
		t.Fatalf("carol CREATE STREAM without CREATE: %v", err)
	}
	if _, err := run("root", "GRANT CREATE ON SCHEMA sales.eu TO ROLE viewer"); err != nil {
		t.Fatal(err)
	}
	// CREATE on the schema is not enough: the store's USAGE gives its topics.
	if _, err = run("carol", "CREATE STREAM sales.eu.x (a INT) WITH ('store' = 'kafka1', 'topic' = 'x')"); !errors.As(err, &de) || de.Reason != "missing USAGE on store kafka1" {
		t.Fatalf("carol CREATE STREAM without USAGE on the store: %v", err)
	}
	if _, err := run("root", "GRANT USAGE ON STORE kafka1 TO ROLE viewer"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("carol", "CREATE STREAM sales.eu.x (a INT) WITH ('store' = 'kafka1', 'topic' = 'x')"); err != nil {
		t.Fatalf("carol CREATE STREAM with CREATE: %v", err)
	}
	if _, err := run("root", "CREATE STORE leaky WITH ('type' = 'kafka', 'sasl.password' = 'hunter2')"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("plaintext store secret: %v", err)
	}
	if _, err := run("root", "CREATE STREAM sales.eu.y (a INT) WITH ('store' = 'nope', 'topic' = 'y')"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("stream on a missing store: %v", err)
	}
	if _, err := run("root", "DROP STREAM sales.eu.x; DROP STREAM IF EXISTS sales.eu.x"); err != nil {
		t.Fatal(err)
	}
}

// TestCreateTableAsSelect: the query is authorized (CREATE on the schema,
// SELECT on the stream), type-checked with positioned errors, stored with a
// pipeline spec the worker accepts, and listed by SHOW QUERIES; LOCATION
// registers an existing table.
func TestCreateTableAsSelect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	run := func(who, sql string) ([]exec.Result, error) { return e.ex.Execute(ctx, user(who), sql) }
	if _, err := run("root", `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, amount DECIMAL(12,2), country STRING) WITH ('store' = 'kafka1', 'topic' = 'orders');
CREATE USER erin; CREATE ROLE writer; GRANT ROLE writer TO USER erin;
GRANT USAGE, CREATE ON SCHEMA sales.eu TO ROLE writer; GRANT USAGE ON DATABASE sales TO ROLE writer`); err != nil {
		t.Fatal(err)
	}
	const ctas = "CREATE TABLE sales.eu.big WITH ('flush.interval' = '5s') AS SELECT id, amount * 2 AS doubled FROM orders WHERE country = 'DE'"
	_, err := run("erin", ctas)
	var de *exec.DeniedError
	if !errors.As(err, &de) || !strings.Contains(de.Reason, "SELECT") || !strings.Contains(de.Reason, "orders") {
		t.Fatalf("CTAS without SELECT on the stream: %v", err)
	}
	if _, err := run("root", "GRANT SELECT ON SCHEMA sales.eu TO ROLE writer"); err != nil {
		t.Fatal(err)
	}
	res, err := run("erin", ctas)
	if err != nil {
		t.Fatalf("CTAS: %v", err)
	}
	qid := res[0].Rows[0][1]
	var spec ingest.Spec
	if err := e.cat.View(ctx, func(tx *catalog.Tx) error {
		q, err := tx.GetQuery(qid)
		if err != nil {
			return err
		}
		if q.State != catalog.QueryRunning || q.Table != "sales.eu.big" {
			t.Errorf("query %+v", q)
		}
		return json.Unmarshal(q.Spec, &spec)
	}); err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(); err != nil || spec.Query != qid || spec.Source.Topic != "orders" || spec.Sink.Table != "warehouse/sales/eu/big" || spec.Flush.Interval.Duration.String() != "5s" {
		t.Fatalf("stored spec: %v %+v", err, spec)
	}
	// SHOW QUERIES needs MONITOR on the table (its owner is admin).
	res, err = run("erin", "SHOW QUERIES")
	if err != nil || len(res[0].Rows) != 0 {
		t.Fatalf("SHOW QUERIES without MONITOR: %v %v", res, err)
	}
	if _, err := run("root", "GRANT ALL ON SCHEMA sales.eu TO ROLE writer"); err != nil {
		t.Fatal(err)
	}
	res, err = run("erin", "SHOW QUERIES")
	if err != nil || len(res[0].Rows) != 1 || res[0].Rows[0][0] != qid {
		t.Fatalf("SHOW QUERIES: %v %v", res, err)
	}
	_, err = run("root", "CREATE TABLE sales.eu.bad AS SELECT id, custmer FROM orders")
	var pe *sqlparse.ParseError
	if !errors.As(err, &pe) || pe.Line != 1 || !strings.Contains(pe.Msg, `unknown column "custmer"`) {
		t.Fatalf("type error: %v", err)
	}
	if _, err := run("root", "CREATE TABLE sales.eu.golden LOCATION '"+goldenTable(t, "basic-decimal-table")+"'; SHOW TABLES IN sales.eu"); err != nil {
		t.Fatal(err)
	}
}
