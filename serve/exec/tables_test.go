package exec_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/serve/exec"
	"github.com/sluice-io/sluice/testdata"
)

// goldenDir holds the Delta golden tables (see testdata/delta-golden/README.md).
var goldenDir = testdata.Path("delta-golden")

// goldenTable returns the file:// URI of a golden table.
func goldenTable(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(goldenDir, name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("golden table %s: %v", name, err)
	}
	return "file://" + filepath.ToSlash(dir)
}

// setup runs sql as root and fails the test on error.
func (e *env) setup(t testing.TB, sql string) []exec.Result {
	t.Helper()
	res, err := e.ex.Execute(context.Background(), user("root"), sql)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, sql)
	}
	return res
}

// relationExists reports whether db.schema.name is in the catalog.
func (e *env) relationExists(t testing.TB, path string) bool {
	t.Helper()
	p := strings.Split(path, ".")
	err := e.cat.View(context.Background(), func(tx *catalog.Tx) error {
		_, err := tx.GetRelation(p[0], p[1], p[2])
		return err
	})
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestCreateTableLocation registers golden Delta tables: the columns come
// from the table's schema; a location that is malformed, empty or holds a
// table Sluice cannot read is refused with the reason, and nothing is
// registered.
func TestCreateTableLocation(t *testing.T) {
	e := newEnv(t)
	e.setup(t, "CREATE DATABASE sales; CREATE SCHEMA sales.eu")
	partFile, _ := filepath.Glob(filepath.Join(goldenDir, "data-reader-primitives", "*.parquet"))
	if len(partFile) == 0 {
		t.Fatal("no parquet file in data-reader-primitives")
	}
	absPart := partFile[0]
	missing := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "nothere"))
	for _, tc := range []struct {
		name, location string
		want           string // error message; "" for success
		cols           [][]string
	}{
		{name: "decimal", location: goldenTable(t, "basic-decimal-table"), cols: [][]string{
			{"part", "decimal(12,5)", "nullable"}, {"col1", "decimal(5,2)", "nullable"},
			{"col2", "decimal(10,5)", "nullable"}, {"col3", "decimal(20,10)", "nullable"}}},
		{name: "primitives", location: goldenTable(t, "data-reader-primitives"), cols: [][]string{
			{"as_int", "integer", "nullable"}, {"as_long", "long", "nullable"}, {"as_byte", "byte", "nullable"},
			{"as_short", "short", "nullable"}, {"as_boolean", "boolean", "nullable"}, {"as_float", "float", "nullable"},
			{"as_double", "double", "nullable"}, {"as_string", "string", "nullable"}, {"as_binary", "binary", "nullable"},
			{"as_big_decimal", "decimal(1,0)", "nullable"}}},
		{name: "checkpoint", location: goldenTable(t, "basic-with-inserts-deletes-checkpoint")},
		{name: "no log", location: goldenTable(t, "no-delta-log-folder"),
			want: "no Delta table at " + goldenTable(t, "no-delta-log-folder") + ": _delta_log is empty or missing (give the table's root, the directory holding _delta_log)"},
		{name: "missing directory", location: missing,
			want: "no Delta table at " + missing + ": the directory does not exist"},
		{name: "a file", location: "file://" + filepath.ToSlash(absPart),
			want: "no Delta table at file://" + filepath.ToSlash(absPart) + ": not a directory (give the table's root, the directory holding _delta_log)"},
		{name: "reader version", location: goldenTable(t, "deltalog-invalid-protocol-version"),
			want: "the Delta table at " + goldenTable(t, "deltalog-invalid-protocol-version") + ` cannot be registered: unsupported reader feature readerVersion99: Sluice cannot read this table yet (see docs/delta.md, "Table features")`},
		{name: "column mapping", location: goldenTable(t, "data-reader-timestamp_ntz-name-mode"), cols: [][]string{
			{"id", "integer", "nullable"}, {"tsNtz", "timestamp_ntz", "nullable"}, {"tsNtzPartition", "timestamp_ntz", "nullable"}}},
		{name: "column mapping id", location: goldenTable(t, "table-with-columnmapping-mode-id")},
		{name: "deletion vectors", location: goldenTable(t, "dv-with-columnmapping")},
		{name: "type widening", location: goldenTable(t, "type-widening")},
		{name: "variant", location: goldenTable(t, "spark-variant-checkpoint")},
		{name: "bad column name", location: goldenTable(t, "data-reader-array-complex-objects"),
			want: "the Delta table at " + goldenTable(t, "data-reader-array-complex-objects") + ` cannot be registered: invalid column name "3d_int_list": must start with a letter or _ (Sluice names columns with letters, digits and _)`},
		// (The parser already refuses a LOCATION that is not s3://, file://
		// or an absolute path: TestCreateTableLocationPath.)
		{name: "plain dot dot", location: "/data/../etc",
			want: `LOCATION "/data/../etc": ".." path component; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "plain root", location: "/",
			want: `LOCATION "/": a file URI needs an absolute path below the root; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "dot dot", location: "file:///data/../etc",
			want: `LOCATION "file:///data/../etc": ".." path component; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "encoded dot dot", location: "s3://lake/a/%2e%2e/b",
			want: `LOCATION "s3://lake/a/%2e%2e/b": ".." path component; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "control character", location: "s3://lake/a\nb",
			want: `LOCATION "s3://lake/a\nb": control character at byte 11; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "empty component", location: "s3://lake/a//b",
			want: `LOCATION "s3://lake/a//b": empty path component; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "bucket", location: "s3://Lake_1/t",
			want: `LOCATION "s3://Lake_1/t": invalid bucket name "Lake_1"; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "file host", location: "file://server/t",
			want: `LOCATION "file://server/t": a file URI names a local path, not host "server"; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "file root", location: "file:///",
			want: `LOCATION "file:///": a file URI needs an absolute path below the root; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{name: "query", location: "s3://lake/t?x=1",
			want: `LOCATION "s3://lake/t?x=1": no user, query or fragment allowed; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := "sales.eu." + strings.ReplaceAll(tc.name, " ", "_")
			res, err := e.ex.Execute(context.Background(), user("root"), "CREATE TABLE "+table+" LOCATION '"+strings.ReplaceAll(tc.location, "'", "''")+"'")
			if tc.want != "" {
				if !errors.Is(err, catalog.ErrInvalid) || err.Error() != "table "+table+": "+tc.want {
					t.Fatalf("err = %v\nwant  table %s: %s", err, table, tc.want)
				}
				if e.relationExists(t, table) {
					t.Errorf("%s registered despite the error", table)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res[0].Message, "table "+table+" registered at "+tc.location+" (version ") {
				t.Errorf("message = %q", res[0].Message)
			}
			if tc.cols == nil {
				return
			}
			res, err = e.ex.Execute(context.Background(), user("root"), "DESCRIBE TABLE "+table)
			if err != nil {
				t.Fatal(err)
			}
			var cols [][]string
			for _, row := range res[0].Rows {
				if row[0] == "column" {
					cols = append(cols, row[1:])
				}
			}
			if !slices.EqualFunc(cols, tc.cols, slices.Equal) {
				t.Errorf("columns = %q\nwant %q", cols, tc.cols)
			}
		})
	}
}

// TestCreateTableLocationPath: LOCATION takes an absolute directory path
// as `sluice delta inspect` does, registered as its file:// URI (what
// DESCRIBE shows and the sharing server reads); a relative path is a
// syntax error that says to write it from the root.
func TestCreateTableLocationPath(t *testing.T) {
	e := newEnv(t)
	e.setup(t, "CREATE DATABASE sales; CREATE SCHEMA sales.eu")
	uri := goldenTable(t, "basic-decimal-table")
	path := strings.TrimPrefix(uri, "file://")
	for _, tc := range []struct{ name, location string }{
		{"plain", path},
		{"plain_slash", path + "/"},
	} {
		table := "sales.eu." + tc.name
		res := e.setup(t, "CREATE TABLE "+table+" LOCATION '"+tc.location+"'")
		if want := "table " + table + " registered at " + uri; !strings.HasPrefix(res[0].Message, want+" (version ") {
			t.Errorf("%s: message %q, want it to start with %q", tc.location, res[0].Message, want)
		}
		res = e.setup(t, "DESCRIBE TABLE "+table)
		var loc string
		for _, row := range res[0].Rows {
			if row[0] == "info" && row[1] == "location" {
				loc = row[2]
			}
		}
		if loc != uri {
			t.Errorf("%s: DESCRIBE location %q, want %s", tc.location, loc, uri)
		}
	}
	_, err := e.ex.Execute(context.Background(), user("root"), "CREATE TABLE sales.eu.rel LOCATION 'testdata/t'")
	var pe *sqlparse.ParseError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "found the relative path 'testdata/t'") ||
		!strings.Contains(err.Error(), "write it from the root") {
		t.Fatalf("relative LOCATION: %v, want a syntax error saying to write it from the root", err)
	}
}

// TestCreateTableLocationDeniedFirst: a principal without CREATE on the
// schema is denied before the location is looked at, and the statement
// then makes one decision; an allowed one makes two (before reading the
// location and in the transaction).
func TestCreateTableLocationDeniedFirst(t *testing.T) {
	e := newEnv(t)
	e.setup(t, "CREATE DATABASE sales; CREATE SCHEMA sales.eu")
	from := len(e.sink.Events())
	_, err := e.ex.Execute(context.Background(), user("alice"), "CREATE TABLE sales.eu.t LOCATION 'file:///nothere/at/all'")
	var de *exec.DeniedError
	if !errors.As(err, &de) || de.Reason != "missing USAGE on database sales" {
		t.Fatalf("err = %v, want a denial", err)
	}
	if got := e.audit(from); !slices.Equal(got, []string{"user:alice CREATE sales.eu.t deny"}) {
		t.Errorf("audit = %q", got)
	}
	from = len(e.sink.Events())
	e.setup(t, "CREATE TABLE sales.eu.t LOCATION '"+goldenTable(t, "basic-decimal-table")+"'")
	if got := e.audit(from); !slices.Equal(got, []string{"user:root CREATE sales.eu.t allow", "user:root CREATE sales.eu.t allow"}) {
		t.Errorf("audit = %q", got)
	}
	// IF NOT EXISTS on an existing table reads nothing.
	res := e.setup(t, "CREATE TABLE IF NOT EXISTS sales.eu.t LOCATION 'file:///nothere/at/all'")
	if res[0].Message != "table sales.eu.t already exists, skipped" {
		t.Errorf("message = %q", res[0].Message)
	}
}

// writeFiles creates files (relative paths) under dir.
func writeFiles(t testing.TB, dir string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const streamSetup = `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, amount DECIMAL(12,2)) WITH ('store' = 'kafka1', 'topic' = 'orders')`

// TestDropTable: DROP TABLE terminates the query writing the table and
// leaves its files; PURGE deletes them; a table registered with LOCATION
// is never purged; a stream read by a live query cannot be dropped.
func TestDropTable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setup(t, streamSetup)
	root := func(sql string) ([]exec.Result, error) { return e.ex.Execute(ctx, user("root"), sql) }
	keep, purge := filepath.Join(t.TempDir(), "keep"), filepath.Join(t.TempDir(), "purge")
	res := e.setup(t, "CREATE TABLE sales.eu.keep WITH ('location' = '"+keep+"') AS SELECT id FROM orders")
	keepQuery := res[0].Rows[0][1]
	res = e.setup(t, "CREATE TABLE sales.eu.purged WITH ('location' = '"+purge+"') AS SELECT id, amount FROM sales.eu.orders")
	purgeQuery := res[0].Rows[0][1]
	files := []string{"_delta_log/00000000000000000000.json", "part-0.parquet", "day=1/part-1.parquet"}
	writeFiles(t, keep, files...)
	writeFiles(t, purge, files...)

	_, err := root("DROP STREAM sales.eu.orders")
	want := "stream sales.eu.orders is read by 2 queries, " + keepQuery + " (writing table sales.eu.keep), " + purgeQuery +
		" (writing table sales.eu.purged): terminate them first (TERMINATE QUERY, or DROP TABLE of the table each writes)"
	if !errors.Is(err, catalog.ErrInUse) || err.Error() != want {
		t.Fatalf("DROP STREAM read by queries: %v\nwant %s", err, want)
	}
	if _, err := root("DROP STREAM sales.eu.keep"); !errors.Is(err, catalog.ErrInvalid) ||
		err.Error() != "sales.eu.keep is a table, not a stream: use DROP TABLE sales.eu.keep" {
		t.Fatalf("DROP STREAM of a table: %v", err)
	}
	if !e.relationExists(t, "sales.eu.keep") {
		t.Fatal("DROP STREAM dropped a table")
	}

	res, err = root("DROP TABLE sales.eu.keep")
	if err != nil {
		t.Fatal(err)
	}
	if want := "table sales.eu.keep dropped; query " + keepQuery + " terminated; its files stay at " + keep; res[0].Message != want {
		t.Errorf("message = %q\nwant %q", res[0].Message, want)
	}
	if _, err := os.Stat(filepath.Join(keep, "part-0.parquet")); err != nil {
		t.Errorf("DROP TABLE without PURGE deleted files: %v", err)
	}
	_, err = root("DROP STREAM sales.eu.orders")
	want = "stream sales.eu.orders is read by query " + purgeQuery + " (writing table sales.eu.purged): terminate the query first (TERMINATE QUERY, or DROP TABLE sales.eu.purged)"
	if !errors.Is(err, catalog.ErrInUse) || err.Error() != want {
		t.Fatalf("DROP STREAM read by a query: %v\nwant %s", err, want)
	}
	res, err = root("DROP TABLE sales.eu.purged PURGE")
	if err != nil {
		t.Fatal(err)
	}
	if want := "table sales.eu.purged dropped; query " + purgeQuery + " terminated; its files at " + purge + " purged"; res[0].Message != want {
		t.Errorf("message = %q\nwant %q", res[0].Message, want)
	}
	if _, err := os.Stat(purge); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("purged table directory still there: %v", err)
	}
	err = e.cat.View(ctx, func(tx *catalog.Tx) error {
		for _, id := range []string{keepQuery, purgeQuery} {
			q, err := tx.GetQuery(id)
			if err != nil {
				return err
			}
			if q.State != catalog.QueryTerminated {
				t.Errorf("query %s is %s, want terminated", id, q.State)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Both queries are terminated: the stream may go.
	if _, err := root("DROP STREAM sales.eu.orders"); err != nil {
		t.Fatalf("DROP STREAM with only terminated queries: %v", err)
	}

	ext := goldenTable(t, "basic-decimal-table")
	e.setup(t, "CREATE TABLE sales.eu.ext LOCATION '"+ext+"'")
	_, err = root("DROP TABLE sales.eu.ext PURGE")
	want = "table sales.eu.ext was registered with LOCATION " + ext + ": Sluice did not create its files and will not delete them (other tables or tools may use them); drop it without PURGE and delete the files with the tool that wrote them"
	if !errors.Is(err, catalog.ErrInvalid) || err.Error() != want {
		t.Fatalf("PURGE of a LOCATION table: %v\nwant %s", err, want)
	}
	if !e.relationExists(t, "sales.eu.ext") {
		t.Error("refused PURGE dropped the table")
	}
	if _, err := os.Stat(filepath.Join(goldenDir, "basic-decimal-table", "_delta_log")); err != nil {
		t.Fatalf("golden table damaged: %v", err)
	}
	if _, err := root("DROP TABLE sales.eu.ext; DROP TABLE IF EXISTS sales.eu.ext PURGE"); err != nil {
		t.Fatal(err)
	}
}

// TestPurgeFailsAfterCommit: DROP TABLE ... PURGE commits the drop, then
// deletes the files; when that fails the error says the statement
// committed (its result is among the results) and the rest did not run.
func TestPurgeFailsAfterCommit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setup(t, "CREATE DATABASE sales; CREATE SCHEMA sales.eu")
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := e.cat.Update(ctx, func(tx *catalog.Tx) error {
		_, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: "t", Kind: object.KindTable, Location: notADir})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.ex.Execute(ctx, user("root"), "CREATE SCHEMA sales.us; DROP TABLE sales.eu.t PURGE; CREATE SCHEMA sales.asia")
	var se *exec.StatementError
	if !errors.As(err, &se) || se.Index != 2 || !se.Committed || se.NotRun() != 1 || !strings.Contains(err.Error(), "was dropped, but purging its files failed") {
		t.Fatalf("err = %v (%+v), want statement 2 committed with its purge failed", err, se)
	}
	if len(res) != 2 || !strings.HasPrefix(res[1].Message, "table sales.eu.t dropped") {
		t.Errorf("results %q, want CREATE SCHEMA's and the committed DROP's", messages(res))
	}
	if e.relationExists(t, "sales.eu.t") {
		t.Error("the table is still there")
	}
}

// TestTableLocations: a query's table is written below a root, with no
// "." or ".." component; a table that has a root for location anyway (made
// through the catalog) is dropped only without PURGE.
func TestTableLocations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setup(t, streamSetup)
	for _, tc := range []struct{ loc, want string }{
		{"/", `location "/": a root; want a directory path, file:///absolute/path or s3://bucket/prefix`},
		{".", `location ".": "." path component; want a directory path, file:///absolute/path or s3://bucket/prefix`},
		{"a/../../etc", `location "a/../../etc": ".." path component; want a directory path, file:///absolute/path or s3://bucket/prefix`},
		{"/data//t", `location "/data//t": empty path component; want a directory path, file:///absolute/path or s3://bucket/prefix`},
		{"s3://bucket", `location "s3://bucket" is the root of bucket bucket: give a prefix below it, s3://bucket/<prefix>`},
		{"s3://bucket/a/../b", `LOCATION "s3://bucket/a/../b": ".." path component; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{"file:///", `LOCATION "file:///": a file URI needs an absolute path below the root; want /absolute/path, file:///absolute/path or s3://bucket/prefix`},
		{"/data/sales/t", ""},
		{"s3://lake/sales/t", ""},
	} {
		_, err := e.ex.Execute(ctx, user("root"), "CREATE TABLE sales.eu.t WITH ('location' = '"+tc.loc+"') AS SELECT id FROM orders")
		if tc.want == "" {
			if err != nil {
				t.Errorf("location %q: %v", tc.loc, err)
			}
			e.setup(t, "DROP TABLE sales.eu.t")
			continue
		}
		if !errors.Is(err, catalog.ErrInvalid) || err.Error() != "table sales.eu.t: "+tc.want {
			t.Errorf("location %q: %v\nwant table sales.eu.t: %s", tc.loc, err, tc.want)
		}
	}
	for i, loc := range []string{"/", ".", "file:///", "s3://bucket/", "a/../.."} {
		name := "r" + string(rune('a'+i))
		err := e.cat.Update(ctx, func(tx *catalog.Tx) error {
			_, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: name, Kind: object.KindTable, Location: loc})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.ex.Execute(ctx, user("root"), "DROP TABLE sales.eu."+name+" PURGE")
		if !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "PURGE never deletes") {
			t.Errorf("PURGE of %q: %v", loc, err)
		}
		if !e.relationExists(t, "sales.eu."+name) {
			t.Errorf("refused PURGE of %q dropped the table", loc)
		}
	}
}

// TestDropStreamUnknownQuery: a live query whose SQL does not say what it
// reads (made through the catalog) keeps every stream from being dropped.
func TestDropStreamUnknownQuery(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setup(t, streamSetup)
	var qid string
	err := e.cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: "t", Kind: object.KindTable, Location: "/lake/t"}); err != nil {
			return err
		}
		q, err := tx.CreateQuery(catalog.Query{SQL: "SELECT 1", Table: "sales.eu.t"})
		qid = q.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ex.Execute(ctx, user("root"), "DROP STREAM sales.eu.orders")
	if !errors.Is(err, catalog.ErrInUse) || !strings.Contains(err.Error(), "read by query "+qid) {
		t.Fatalf("err = %v", err)
	}
	res := e.setup(t, "DESCRIBE STREAM sales.eu.orders")
	for _, row := range res[0].Rows {
		if row[0] == "reader" {
			t.Errorf("DESCRIBE lists a query it cannot tell reads the stream: %q", row)
		}
	}
}
