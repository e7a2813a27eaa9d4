package plan

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"gopkg.in/yaml.v3"

	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/ingest/transform"
	"github.com/sluice-io/sluice/internal/golden"
)

func ordersStream(t *testing.T) Stream {
	t.Helper()
	cols := []struct {
		name, typ string
		nullable  bool
	}{
		{"id", "BIGINT", false}, {"customer", "STRING", true}, {"amount", "DECIMAL(12,2)", true},
		{"country", "STRING", true}, {"placed_at", "TIMESTAMP", true}, {"tags", "ARRAY<STRING>", true},
		{"qty", "INT", true}, {"price", "DOUBLE", true}, {"active", "BOOLEAN", true}, {"shipped_on", "DATE", true},
		{"payload", "STRING", true}, {"raw", "BINARY", true},
	}
	s := Stream{Name: "sales.eu.orders", Props: map[string]string{"topic": "orders", "value.format": "json"},
		StoreProps: map[string]string{"bootstrap.servers": "kafka-1:9092,kafka-2:9092"}}
	for _, c := range cols {
		typ, err := deltalog.ParseType(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		s.Columns = append(s.Columns, Column{Name: c.name, Type: typ, Nullable: c.nullable})
	}
	return s
}

// compileFile parses one CREATE TABLE ... AS SELECT and compiles it.
func compileFile(t *testing.T, src string) (*Plan, error) {
	t.Helper()
	stmt, err := sqlparse.ParseOne(src)
	if err != nil {
		return nil, err
	}
	ct, ok := stmt.(*sqlparse.CreateTable)
	if !ok || ct.Query == nil {
		t.Fatalf("not a CREATE TABLE ... AS SELECT: %s", src)
	}
	props := map[string]string{}
	for _, p := range ct.With {
		props[p.Key] = strings.Trim(p.Value.String(), "'")
	}
	return Compile("q-test", ct.Query, ordersStream(t), Table{Name: ct.Name.String(), Location: "s3://lake/sales/eu/t", Props: props, PropPos: PropertyPositions(ct.With)})
}

// TestValid: statement -> pipeline spec and table schema (golden).
func TestValid(t *testing.T) {
	golden.Each(t, "testdata/valid/*.sql", func(t *testing.T, f string) {
		src, _ := os.ReadFile(f)
		p, err := compileFile(t, string(src))
		if err != nil {
			var pe *sqlparse.ParseError
			if errors.As(err, &pe) {
				t.Fatalf("%v\n%s", err, pe.Caret(string(src)))
			}
			t.Fatal(err)
		}
		ss, _ := deltalog.SchemaString(p.Schema)
		out, err := yaml.Marshal(struct {
			Spec   any    `yaml:"spec"`
			Schema string `yaml:"tableSchema"`
		}{p.Spec, ss})
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, strings.TrimSuffix(f, ".sql")+".golden", string(out))
		// The worker reads the spec back from YAML: it must round-trip.
		b, err := yaml.Marshal(p.Spec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ingest.ParseSpec(b)
		if err != nil {
			t.Fatalf("the spec does not load back: %v\n%s", err, b)
		}
		b2, _ := yaml.Marshal(back)
		if string(b) != string(b2) {
			t.Fatalf("spec changed through YAML:\n%s\n---\n%s", b, b2)
		}
	})
}

// TestInvalid: statement -> exact error text with position and caret.
func TestInvalid(t *testing.T) {
	golden.Each(t, "testdata/invalid/*.sql", func(t *testing.T, f string) {
		src, _ := os.ReadFile(f)
		_, err := compileFile(t, string(src))
		if err == nil {
			t.Fatal("compiled; want an error")
		}
		got := err.Error() + "\n"
		var pe *sqlparse.ParseError
		if errors.As(err, &pe) {
			got += pe.Caret(string(src))
		}
		golden.Check(t, strings.TrimSuffix(f, ".sql")+".golden", got)
	})
}

// TestFunctionsExist: every SQL function the compiler accepts names an
// operator the transform implements (called with no arguments, each fails
// on its arguments, not as an unknown operator).
func TestFunctionsExist(t *testing.T) {
	for _, name := range FunctionNames() {
		e := &transform.Expr{Op: functions[name]}
		_, err := e.Compile(arrow.NewSchema(nil, nil))
		if err != nil && strings.Contains(err.Error(), "unsupported operator") {
			t.Errorf("%s -> %s: %v", name, functions[name], err)
		}
	}
	for name := range aggregates {
		if _, ok := functions[name]; ok {
			t.Errorf("%s is both a function and an aggregate", name)
		}
	}
}
