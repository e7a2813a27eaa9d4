package exec_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/internal/golden"
	"github.com/sluice-io/sluice/serve/exec"
)

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// describeFixture is a catalog with one object of every kind, grants on
// them and role memberships; it returns the id of the query.
func describeFixture(t *testing.T, e *env) string {
	t.Helper()
	res := e.setup(t, `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092', 'sasl.password' = 'env:KAFKA_PASSWORD', 'ssl.key.password' = 'file:/etc/sluice/key.pass');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, amount DECIMAL(12,2), country STRING) WITH ('store' = 'kafka1', 'topic' = 'orders', 'value.format' = 'json', 'timestamp' = 'ts');
CREATE TABLE sales.eu.big WITH ('flush.interval' = '5s') AS SELECT id, amount FROM orders WHERE country = 'DE';
CREATE TABLE sales.eu.golden LOCATION '`+goldenTable(t, "basic-decimal-table")+`';
CREATE ROLE analyst; CREATE ROLE reader; GRANT ROLE reader TO ROLE analyst; GRANT ROLE analyst TO USER alice;
GRANT USAGE ON DATABASE sales TO ROLE reader; GRANT USAGE ON SCHEMA sales.eu TO ROLE reader;
GRANT SELECT ON STREAM sales.eu.orders TO ROLE reader; GRANT SELECT, INSERT ON TABLE sales.eu.big TO ROLE analyst;
ALTER USER bob ROTATE TOKEN`)
	qid := res[4].Rows[0][1]
	err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		if _, err := tx.CreateShare(catalog.Share{Name: "partners", Comment: "for partners"}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("partners", catalog.ShareTable{Table: "sales.eu.golden", ShareSchema: "eu", Alias: "decimals", WithHistory: true}); err != nil {
			return err
		}
		if _, _, err := tx.CreateRecipient(catalog.Recipient{Name: "acme", Properties: map[string]string{"token.ttl": "30d", "contact": "ops@acme.example"}}); err != nil {
			return err
		}
		if _, err := tx.RotateRecipientToken("acme", time.Hour); err != nil {
			return err
		}
		_, err := tx.GrantShare("partners", "acme")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return qid
}

// TestDescribe describes every kind of object, with and without the kind
// keyword; the golden file testdata/describe.golden holds the results.
// Secrets of stores and token hashes appear nowhere.
func TestDescribe(t *testing.T) {
	e := newEnv(t)
	qid := describeFixture(t, e)
	stmts := []string{
		"DESCRIBE DATABASE sales", "DESCRIBE sales",
		"DESCRIBE SCHEMA sales.eu", "DESCRIBE sales.eu",
		"DESCRIBE STREAM sales.eu.orders", "DESCRIBE sales.eu.orders",
		"DESCRIBE TABLE sales.eu.big", "DESCRIBE sales.eu.golden",
		"DESCRIBE STORE kafka1", "DESCRIBE kafka1",
		"DESCRIBE USER alice", "DESCRIBE USER bob",
		"DESCRIBE ROLE analyst", "DESCRIBE reader",
		"DESCRIBE SHARE partners", "DESCRIBE RECIPIENT acme",
		`DESCRIBE QUERY "` + qid + `"`, `DESCRIBE "` + qid + `"`,
	}
	var secrets []string
	err := e.cat.View(context.Background(), func(tx *catalog.Tx) error {
		rc, err := tx.GetRecipient("acme")
		for _, tok := range rc.Tokens {
			secrets = append(secrets, tok.Hash)
		}
		if len(rc.Tokens) != 2 {
			t.Errorf("acme has %d tokens, want 2", len(rc.Tokens))
		}
		for _, u := range []string{"alice", "bob"} {
			us, err := tx.GetUser(u)
			if err != nil {
				return err
			}
			secrets = append(secrets, us.TokenHash)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, "KAFKA_PASSWORD", "/etc/sluice/key.pass", "env:", "file:/etc")
	abs, _ := filepath.Abs(goldenDir)
	var b strings.Builder
	for _, sql := range stmts {
		res, err := e.ex.Execute(context.Background(), user("root"), sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		r := res[0]
		if !slices.Equal(r.Columns, exec.DescribeColumns) {
			t.Errorf("%s: columns %q", sql, r.Columns)
		}
		b.WriteString("== " + uuidRE.ReplaceAllString(sql, "<uuid>") + "\n-- " + r.Message + "\n")
		for _, row := range r.Rows {
			b.WriteString(strings.Join(row, " | ") + "\n")
		}
	}
	got := uuidRE.ReplaceAllString(strings.ReplaceAll(b.String(), "file://"+filepath.ToSlash(abs), "file://<golden>"), "<uuid>")
	for _, s := range secrets {
		if s != "" && strings.Contains(b.String(), s) {
			t.Errorf("DESCRIBE output shows %q", s)
		}
	}
	golden.Check(t, filepath.Join("testdata", "describe.golden"), got)
}

// TestDescribeQueryIDForms: DESCRIBE QUERY takes the id unquoted,
// 'single-' or "double-quoted", in either case, with the same result.
func TestDescribeQueryIDForms(t *testing.T) {
	e := newEnv(t)
	qid := describeFixture(t, e)
	var want []exec.Result
	for _, sql := range []string{`DESCRIBE QUERY "` + qid + `"`, "DESCRIBE QUERY " + qid, "describe query '" + qid + "'",
		"DESCRIBE QUERY " + strings.ToUpper(qid), `DESCRIBE QUERY '` + strings.ToUpper(qid) + `'`} {
		res, err := e.ex.Execute(context.Background(), user("root"), sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		got := []exec.Result{{Rows: res[0].Rows, Message: res[0].Message}}
		if want == nil {
			want = got
			if !strings.Contains(res[0].Message, qid) {
				t.Fatalf("%s: message %q does not name the query", sql, res[0].Message)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v\nwant %v", sql, got, want)
		}
	}
}

// TestDescribeErrors: ambiguous and unknown names, a kind that does not
// match, and denials that do not tell whether the object exists.
func TestDescribeErrors(t *testing.T) {
	e := newEnv(t)
	describeFixture(t, e)
	e.setup(t, "CREATE DATABASE dup; CREATE STORE dup WITH ('type' = 'kafka')")
	for _, tc := range []struct {
		who, sql string
		class    error
		want     string // error message, or the reason of a denial
	}{
		{"root", "DESCRIBE dup", catalog.ErrInvalid, "dup is ambiguous: there is a database and a store named so; say which, e.g. DESCRIBE DATABASE dup"},
		{"root", "DESCRIBE nothing", catalog.ErrNotFound, "no database, store, share, recipient, query, user or role named nothing (a schema is named database.schema, a stream or table database.schema.name)"},
		{"root", "DESCRIBE sales.eu.nothing", catalog.ErrNotFound, "no stream or table sales.eu.nothing: check the name with SHOW STREAMS / SHOW TABLES IN sales.eu"},
		{"root", "DESCRIBE TABLE sales.eu.orders", catalog.ErrInvalid, "sales.eu.orders is a stream, not a table: use DESCRIBE STREAM sales.eu.orders"},
		{"root", "DESCRIBE USER analyst", catalog.ErrInvalid, "analyst is a role, not a user"},
		{"root", "DESCRIBE SCHEMA sales.nothing", catalog.ErrNotFound, "schema sales.nothing does not exist"},
		// Denied the same way whether the object exists or not.
		{"alice", "DESCRIBE kafka1", nil, "missing DESCRIBE on database kafka1"},
		{"alice", "DESCRIBE nothing", nil, "missing DESCRIBE on database nothing"},
		{"alice", "DESCRIBE dup", nil, "missing DESCRIBE on database dup"},
		{"alice", "DESCRIBE TABLE sales.eu.nothing", nil, "missing DESCRIBE on table sales.eu.nothing (or an ancestor)"},
		{"alice", "DESCRIBE TABLE sales.eu.orders", nil, "missing DESCRIBE on table sales.eu.orders (or an ancestor)"},
		{"bob", "DESCRIBE sales.eu.big", nil, "missing USAGE on database sales"},
		{"bob", "DESCRIBE sales.eu.nothing", nil, "missing USAGE on database sales"},
		{"bob", "DESCRIBE QUERY q1", nil, "missing DESCRIBE on query q1"},
		{"bob", "DESCRIBE ROLE analyst", nil, "missing DESCRIBE on role analyst"},
		{"bob", "DESCRIBE USER nobody", nil, "missing DESCRIBE on user nobody"},
		{"bob", "DESCRIBE RECIPIENT acme", nil, "missing DESCRIBE on recipient acme"},
		{"bob", "DESCRIBE SHARE partners", nil, "missing DESCRIBE on share partners"},
	} {
		t.Run(tc.who+" "+tc.sql, func(t *testing.T) {
			_, err := e.ex.Execute(context.Background(), user(tc.who), tc.sql)
			if tc.class == nil {
				var de *exec.DeniedError
				if !errors.As(err, &de) || de.Reason != tc.want {
					t.Fatalf("err = %v\nwant denial %q", err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.class) || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
	// ALL on the database lets alice describe what is in it.
	e.setup(t, "GRANT ALL ON DATABASE sales TO ROLE reader")
	if _, err := e.ex.Execute(context.Background(), user("alice"), "DESCRIBE sales.eu.big; DESCRIBE sales; DESCRIBE SCHEMA sales.eu"); err != nil {
		t.Fatal(err)
	}
}

// TestRotateToken: a user rotates its own token without a decision; the
// admin rotates anyone's; others are denied. The old token stops working
// at once.
func TestRotateToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rotate := func(who, target string) (string, error) {
		res, err := e.ex.Execute(ctx, user(who), "ALTER USER "+target+" ROTATE TOKEN")
		if err != nil {
			return "", err
		}
		r := res[0]
		if !slices.Equal(r.Columns, []string{"user", "token"}) || len(r.Rows) != 1 || !strings.EqualFold(r.Rows[0][0], target) {
			t.Fatalf("result = %+v", r)
		}
		if !strings.Contains(r.Message, "shown this once") || !strings.Contains(r.Message, "old token no longer works") {
			t.Errorf("message = %q", r.Message)
		}
		return r.Rows[0][1], nil
	}
	authenticates := func(token string) bool {
		u, err := e.cat.AuthenticateUser(ctx, token)
		if err != nil && !errors.Is(err, catalog.ErrUnauthenticated) {
			t.Fatal(err)
		}
		return err == nil && u.Name == "alice"
	}
	from := len(e.sink.Events())
	first, err := rotate("alice", "ALICE")
	if err != nil {
		t.Fatalf("self rotation: %v", err)
	}
	if got := e.audit(from); len(got) != 0 {
		t.Errorf("self rotation made decisions: %q", got)
	}
	if !authenticates(first) {
		t.Fatal("new token does not authenticate alice")
	}
	_, err = rotate("bob", "alice")
	var de *exec.DeniedError
	if !errors.As(err, &de) || de.Reason != "missing ALTER on user alice" {
		t.Fatalf("bob rotating alice: %v", err)
	}
	if !authenticates(first) {
		t.Fatal("a denied rotation changed the token")
	}
	second, err := rotate("root", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if authenticates(first) || !authenticates(second) {
		t.Error("after rotation the old token works or the new one does not")
	}
	if _, err := rotate("root", "nobody"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("rotating a missing user: %v", err)
	}
	if _, err := rotate("bob", "nobody"); !errors.As(err, &de) || de.Reason != "missing ALTER on user nobody" {
		t.Errorf("bob rotating a missing user: %v", err)
	}
}

// TestGrantsOnRelations: privileges on streams and tables, checked against
// the kind before anything else; SHOW GRANTS ON STREAM|TABLE.
func TestGrantsOnRelations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setup(t, streamSetup+`; CREATE TABLE sales.eu.big AS SELECT id FROM orders; CREATE ROLE analyst`)
	for _, tc := range []struct {
		who, sql string
		want     string
	}{
		// A privilege that means nothing on the kind is refused by the
		// parser, before anything is decided (it reveals nothing).
		{"root", "GRANT USAGE ON TABLE sales.eu.big TO ROLE analyst",
			"line 1:7: privilege USAGE does not apply to a TABLE: use SELECT, INSERT, DROP, ALTER, DESCRIBE, MONITOR, OPERATE, GRANT, OWNERSHIP or ALL"},
		{"root", "GRANT SELECT, INSERT ON STREAM sales.eu.orders TO ROLE analyst",
			"line 1:15: privilege INSERT does not apply to a STREAM: use SELECT, DROP, ALTER, DESCRIBE, GRANT, OWNERSHIP or ALL"},
		{"root", "REVOKE CREATE ON STREAM sales.eu.orders FROM ROLE analyst",
			"line 1:8: privilege CREATE does not apply to a STREAM: use SELECT, DROP, ALTER, DESCRIBE, GRANT, OWNERSHIP or ALL"},
		{"alice", "GRANT USAGE ON TABLE sales.eu.nothing TO ROLE analyst",
			"line 1:7: privilege USAGE does not apply to a TABLE: use SELECT, INSERT, DROP, ALTER, DESCRIBE, MONITOR, OPERATE, GRANT, OWNERSHIP or ALL"},
		{"root", "GRANT SELECT ON TABLE sales.eu.orders TO ROLE analyst",
			"sales.eu.orders is a stream, not a table"},
	} {
		if _, err := e.ex.Execute(ctx, user(tc.who), tc.sql); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v\nwant %q", tc.sql, err, tc.want)
		}
	}
	// A denied principal is not told that the table is a stream.
	_, err := e.ex.Execute(ctx, user("alice"), "GRANT SELECT ON TABLE sales.eu.orders TO ROLE analyst")
	var de *exec.DeniedError
	if !errors.As(err, &de) || de.Reason != "missing USAGE on database sales" {
		t.Errorf("alice: %v", err)
	}
	res := e.setup(t, `GRANT SELECT, INSERT ON TABLE sales.eu.big TO ROLE analyst; GRANT SELECT ON STREAM sales.eu.orders TO ROLE analyst;
REVOKE INSERT ON TABLE sales.eu.big FROM ROLE analyst; SHOW GRANTS ON TABLE sales.eu.big; SHOW GRANTS ON STREAM sales.eu.orders;
GRANT OWNERSHIP ON TABLE sales.eu.big TO ROLE analyst; DESCRIBE TABLE sales.eu.big`)
	if got := messages(res[:3]); !slices.Equal(got, []string{"SELECT, INSERT on table sales.eu.big granted to role analyst",
		"SELECT on stream sales.eu.orders granted to role analyst", "INSERT on table sales.eu.big revoked from role analyst"}) {
		t.Errorf("messages = %q", got)
	}
	if got := res[3].Rows; !slices.EqualFunc(got, [][]string{{"SELECT", "table", "sales.eu.big", "analyst"}}, slices.Equal) {
		t.Errorf("SHOW GRANTS ON TABLE = %q", got)
	}
	if got := res[4].Rows; !slices.EqualFunc(got, [][]string{{"SELECT", "stream", "sales.eu.orders", "analyst"}}, slices.Equal) {
		t.Errorf("SHOW GRANTS ON STREAM = %q", got)
	}
	if !slices.ContainsFunc(res[6].Rows, func(r []string) bool { return slices.Equal(r, []string{"info", "owner", "analyst", ""}) }) {
		t.Errorf("owner after GRANT OWNERSHIP: %q", res[6].Rows)
	}
}

// TestReadersDescribe is the regression test of issue 21: a user holding
// USAGE on the database and schema and SELECT on a relation could read it
// but not DESCRIBE it ("missing DESCRIBE"). SELECT (and INSERT) now imply
// DESCRIBE; DESCRIBE alone can be granted, and gives no SELECT.
func TestReadersDescribe(t *testing.T) {
	e := newEnv(t)
	describeFixture(t, e) // alice: USAGE on sales and sales.eu, SELECT on the stream, SELECT and INSERT on the table
	ctx := context.Background()
	for _, sql := range []string{"DESCRIBE TABLE sales.eu.big", "DESCRIBE sales.eu.orders", "SHOW GRANTS ON TABLE sales.eu.big"} {
		if _, err := e.ex.Execute(ctx, user("alice"), sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	// DESCRIBE on golden, granted alone: describe yes, read no.
	e.setup(t, "GRANT DESCRIBE ON TABLE sales.eu.golden TO ROLE reader; GRANT ALTER ON SHARE partners TO ROLE reader")
	if _, err := e.ex.Execute(ctx, user("alice"), "DESCRIBE sales.eu.golden"); err != nil {
		t.Errorf("DESCRIBE after GRANT DESCRIBE: %v", err)
	}
	_, err := e.ex.Execute(ctx, user("alice"), "ALTER SHARE partners ADD TABLE sales.eu.golden AS eu.g2")
	var de *exec.DeniedError
	if !errors.As(err, &de) || de.Reason != "missing SELECT on table sales.eu.golden (or an ancestor)" {
		t.Fatalf("err = %v, want the denial of SELECT", err)
	}
	e.setup(t, "REVOKE DESCRIBE ON TABLE sales.eu.golden FROM ROLE reader")
	if _, err := e.ex.Execute(ctx, user("alice"), "DESCRIBE sales.eu.golden"); !errors.As(err, &de) ||
		de.Reason != "missing DESCRIBE on table sales.eu.golden (or an ancestor)" {
		t.Errorf("after REVOKE: err = %v", err)
	}
}
