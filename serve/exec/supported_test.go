package exec

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
)

// kinds are every object kind of the SQL dialect.
var kinds = []object.Kind{object.KindDatabase, object.KindSchema, object.KindStream, object.KindTable,
	object.KindStore, object.KindShare, object.KindRecipient, object.KindUser, object.KindRole, object.KindQuery}

// shapes are statement templates over a kind (%[1]s) and its plural
// (%[2]s); whichever of them parses must be supported.
var shapes = []string{
	"CREATE %[1]s a", "CREATE %[1]s a.b", "CREATE %[1]s a.b.c (x INT)", "CREATE %[1]s a.b.c AS SELECT x FROM s",
	"DROP %[1]s a", "DROP %[1]s a.b", "DROP %[1]s a.b.c", "DESCRIBE %[1]s a", "DESCRIBE %[1]s a.b", "DESCRIBE %[1]s a.b.c",
	"ALTER %[1]s a ROTATE TOKEN", "ALTER %[1]s a ADD TABLE a.b.c", "ALTER %[1]s a REMOVE TABLE a.b.c",
	"SHOW %[2]s", "SHOW %[2]s IN a", "SHOW %[2]s IN a.b", "SHOW GRANTS ON %[1]s a", "SHOW GRANTS ON %[1]s a.b",
	"SHOW GRANTS ON %[1]s a.b.c", "SHOW GRANTS TO %[1]s a",
	"GRANT USAGE ON %[1]s a TO ROLE r", "GRANT USAGE ON %[1]s a.b TO ROLE r", "GRANT SELECT ON %[1]s a.b.c TO ROLE r",
	"REVOKE ALL ON %[1]s a FROM ROLE r", "GRANT SELECT ON %[1]s a TO RECIPIENT r", "GRANT ROLE a TO %[1]s b",
	"PAUSE %[1]s a", "RESUME %[1]s a", "TERMINATE %[1]s a",
}

// TestEveryParsedStatementIsSupported guards the parser and the executor
// against drifting apart: every statement of the parser's valid corpus
// (catalog/sqlparse/testdata/valid) and every statement of the shapes
// above that parses, for every kind, is one the executor runs. A new
// statement added to the grammar fails here until exec implements it
// (Execute answers *UnsupportedError for it meanwhile, running nothing).
func TestEveryParsedStatementIsSupported(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "catalog", "sqlparse", "testdata", "valid", "*.sql"))
	if err != nil || len(paths) < 5 {
		t.Fatalf("the parser's valid corpus: %v %v", paths, err)
	}
	var stmts []sqlparse.Statement
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := sqlparse.Parse(string(src))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		stmts = append(stmts, ss...)
	}
	corpus := len(stmts)
	plural := map[object.Kind]string{object.KindQuery: "QUERIES"}
	for _, k := range kinds {
		p, ok := plural[k]
		if !ok {
			p = string(k) + "S"
		}
		for _, shape := range shapes {
			if s, err := sqlparse.ParseOne(fmt.Sprintf(shape, k, p)); err == nil {
				stmts = append(stmts, s)
			}
		}
	}
	t.Logf("%d corpus, %d shapes", corpus, len(stmts)-corpus)
	if len(stmts)-corpus < 50 {
		t.Errorf("only %d shapes parse: the templates no longer match the grammar", len(stmts)-corpus)
	}
	for _, s := range stmts {
		if !supported(s) {
			t.Errorf("%s (%T) parses but is not supported", s, s)
		}
	}
}

// TestUnsupportedIsRefused: a statement form the executor does not know
// is refused up front.
func TestUnsupportedIsRefused(t *testing.T) {
	for _, s := range []sqlparse.Statement{
		&sqlparse.Show{What: "WAREHOUSES"},
		&sqlparse.Drop{Kind: object.KindQuery, Name: &sqlparse.Name{Parts: []*sqlparse.Ident{{Name: "q"}}}},
		&sqlparse.CreateObject{Kind: object.KindQuery, Name: &sqlparse.Name{Parts: []*sqlparse.Ident{{Name: "q"}}}},
	} {
		if supported(s) {
			t.Errorf("%T %s is supported", s, s)
		}
	}
}
