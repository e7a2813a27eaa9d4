package catalog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-io/sluice/deploy/testenv"
)

// testDB is one empty catalog database of a backend, made for one test.
type testDB struct {
	backend string
	// connect opens a new Catalog on the database (each call another one,
	// as another server would).
	connect func() (*Catalog, error)
	// stored reports whether s is anywhere in what the database stores.
	stored func(t testing.TB, s string) bool
}

// backends are the catalog's backends, each making a testDB: every
// catalog behaviour test runs on each (the conformance suite).
var backends = []struct {
	name string
	db   func(t testing.TB) *testDB
}{
	{"sqlite", sqliteDB},
	{"postgres", postgresDB},
}

// forEachBackend runs fn as a subtest per backend, on a database of its own.
// The PostgreSQL subtest needs deploy/testenv/test.sh: without it, it fails
// (skips under -short).
func forEachBackend(t *testing.T, fn func(t *testing.T, db *testDB)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.db(t)) })
	}
}

// openTest opens an empty SQLite catalog, for the tests of SQLite itself.
func openTest(t testing.TB) (*Catalog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

// open is connect, failing the test on error, with the Catalog closed at
// cleanup.
func (db *testDB) open(t testing.TB) *Catalog {
	t.Helper()
	c, err := db.connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sqliteDB(t testing.TB) *testDB {
	path := filepath.Join(t.TempDir(), "catalog.db")
	return &testDB{
		backend: "sqlite",
		connect: func() (*Catalog, error) { return OpenSQLite(path) },
		stored:  func(t testing.TB, s string) bool { return fileContains(t, path, s) },
	}
}

func postgresDB(t testing.TB) *testDB {
	t.Helper()
	url := testenv.Postgres(t).NewDatabase(t)
	return &testDB{
		backend: "postgres",
		connect: func() (*Catalog, error) { return OpenPostgres(ctx, url, "") },
		stored:  func(t testing.TB, s string) bool { return rowsContain(t, url, s) },
	}
}

// catalogTables are the tables the migrations create.
var catalogTables = []string{"objects", "role_grants", "grants", "tokens", "share_tables", "share_grants", "schema_migrations"}

// rowsContain reports whether any row of the catalog's tables in the
// PostgreSQL database at url, as text, contains s.
func rowsContain(t testing.TB, url, s string) bool {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, tbl := range catalogTables {
		var n int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM `+tbl+` x WHERE strpos(CAST(x AS TEXT), $1) > 0`, s).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return true
		}
	}
	return false
}

// fileContains reports whether any file of the SQLite database (main file,
// WAL, shared memory) contains s.
func fileContains(t testing.TB, dbPath string, s string) bool {
	t.Helper()
	files, _ := filepath.Glob(dbPath + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}
