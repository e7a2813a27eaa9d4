package sharing

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/testdata"
)

// shareGolden registers a golden table of testdata/delta-golden as
// q3.golden.<alias> (with history) and returns its directory.
func (e *env) shareGolden(name, alias string) string {
	e.t.Helper()
	dir := testdata.Path("delta-golden", name)
	if _, err := os.Stat(filepath.Join(dir, "_delta_log")); err != nil {
		e.t.Fatalf("golden table %s: %v (see testdata/delta-golden/README.md)", name, err)
	}
	e.shareAt(alias, dir)
	return dir
}

// shareAt registers the table at location as q3.golden.<alias> (with
// history).
func (e *env) shareAt(alias, location string) {
	e.t.Helper()
	err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		if _, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: alias, Kind: object.KindTable, Location: location, External: true}); err != nil {
			return err
		}
		_, err := tx.AddShareTable("q3", catalog.ShareTable{Table: "sales.eu." + alias, ShareSchema: "golden", WithHistory: true})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestGoldenPartitionValues: on a table written by Spark with a partition
// column of each primitive type (data-reader-partition-values), an equal
// hint on each column and value returns exactly the files with that value:
// the server reads every type's partition values (a value it could not
// read would keep every file).
func TestGoldenPartitionValues(t *testing.T) {
	e := newEnv(t)
	e.shareGolden("data-reader-partition-values", "parts")
	path := "/shares/q3/schemas/golden/tables/parts/query"
	all := fileURLs(t, e.do("POST", "acme", path, `{}`).body)
	if len(all) != 3 {
		t.Fatalf("files %v", all)
	}
	// The files' partition values, by file, from the delta format answer
	// (its file lines are in the same order as fileURLs lists them).
	pvs := map[string]map[string]any{}
	delta := e.do("POST", "acme", path, `{}`, capsHeader, "responseformat=delta").body
	names := fileURLs(t, delta)
	i := 0
	for _, l := range ndjson(t, delta) {
		if f, ok := l["file"].(map[string]any); ok {
			add := f["deltaSingleAction"].(map[string]any)["add"].(map[string]any)
			pvs["file:"+strings.TrimPrefix(names[i], "delta-add:")] = add["partitionValues"].(map[string]any)
			i++
		}
	}
	types := map[string]string{"as_int": "int", "as_long": "long", "as_byte": "int", "as_short": "int", "as_boolean": "bool",
		"as_float": "float", "as_double": "double", "as_string": "string", "as_date": "date", "as_timestamp": "timestamp"}
	for col, typ := range types {
		for _, pv := range pvs {
			v, _ := pv[col].(string)
			if v == "" {
				continue
			}
			hint, _ := json.Marshal(map[string]any{"op": "equal", "children": []any{
				map[string]string{"op": "column", "name": col, "valueType": typ},
				map[string]string{"op": "literal", "value": v, "valueType": typ}}})
			body, _ := json.Marshal(map[string]string{"jsonPredicateHints": string(hint)})
			got := fileURLs(t, e.do("POST", "acme", path, string(body)).body)
			var want []string
			for _, f := range all {
				if pvs[f][col] == v {
					want = append(want, f)
				}
			}
			if !slices.Equal(got, want) || len(got) == len(all) {
				t.Errorf("%s = %q (%s): %v, want %v", col, v, typ, got, want)
			}
		}
	}
}
