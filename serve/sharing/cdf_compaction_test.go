package sharing

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// TestConnectorChangesAcrossCompactions: the Python connector's
// load_table_changes_as_pandas over versions that span compactions (their
// commits are dataChange=false) gets every appended row exactly once, as
// an insert of the version that appended it, whether it reads the whole
// range at once or, as a streaming reader does, one window after another;
// in the parquet and the delta response formats.
func TestConnectorChangesAcrossCompactions(t *testing.T) {
	testenv.Python(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	schema := deltalog.Struct(
		deltalog.Field{Name: "p", Type: deltalog.Primitive(deltalog.TypeString), Nullable: true},
		deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: true},
	)
	tbl := deltawriter.New(st, deltawriter.WithLogger(slog.New(slog.DiscardHandler)))
	if _, err := tbl.Create(ctx, schema, deltawriter.CreateOptions{PartitionColumns: []string{"p"}}); err != nil {
		t.Fatal(err)
	}
	as, err := deltalog.ArrowSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	cp := deltawriter.CompactPolicy{TargetFileSize: 1 << 20, MinFiles: 3, MinBytes: 1 << 20, MaxFiles: 100, MaxBytes: 1 << 30, MaxAttempts: 1}
	appendedAt := map[string]int64{} // "p/seq" -> the version that appended it
	var compactions []int64
	seq := 0
	for round := 0; round < 4; round++ {
		for range 3 {
			var rows []string
			for _, p := range []string{"a", "b"} {
				for range 2 {
					rows = append(rows, fmt.Sprintf(`{"p":%q,"seq":%d}`, p, seq))
					seq++
				}
			}
			rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, as, strings.NewReader("["+strings.Join(rows, ",")+"]"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := tbl.Append(ctx, []arrow.Record{rec})
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				var m struct {
					P   string
					Seq int
				}
				_ = json.Unmarshal([]byte(r), &m)
				appendedAt[fmt.Sprintf("%s/%d", m.P, m.Seq)] = v
			}
		}
		res, err := tbl.Compact(ctx, cp)
		if err != nil || res.FilesRemoved == 0 {
			t.Fatalf("round %d: compaction %+v, %v: want files rewritten", round, res, err)
		}
		compactions = append(compactions, res.Version)
	}
	latest := compactions[len(compactions)-1]
	profile := serveLocalShare(t, dir)

	var ops []map[string]any
	for _, delta := range []bool{false, true} {
		ops = append(ops, map[string]any{"op": "changes", "table": "q.s.t", "starting_version": 1, "use_delta_format": delta})
		// A streaming reader: windows of 4 versions, each starting after the last.
		for from := int64(1); from <= latest; from += 4 {
			ops = append(ops, map[string]any{"op": "changes", "table": "q.s.t", "starting_version": from,
				"ending_version": min(from+3, latest), "use_delta_format": delta})
		}
	}
	results := runConnector(t, profile, ops)
	check := func(name string, res []connectorResult) {
		t.Helper()
		got := map[string]int64{}
		for i, r := range res {
			if r.Error != "" {
				t.Fatalf("%s, op %d: %s", name, i, r.Error)
			}
			for _, row := range r.Rows {
				m := row.(map[string]any)
				k := fmt.Sprintf("%v/%v", m["p"], m["seq"])
				if _, dup := got[k]; dup {
					t.Fatalf("%s: row %s twice", name, k)
				}
				if m["_change_type"] != "insert" {
					t.Fatalf("%s: row %s is a %v change (compaction commits are dataChange=false)", name, k, m["_change_type"])
				}
				got[k] = int64(m["_commit_version"].(float64))
			}
		}
		if len(got) != len(appendedAt) {
			t.Fatalf("%s: %d rows, want %d", name, len(got), len(appendedAt))
		}
		for k, v := range appendedAt {
			if got[k] != v {
				t.Fatalf("%s: row %s at version %d, want %d", name, k, got[k], v)
			}
		}
	}
	windows := (len(ops) - 2) / 2
	check("parquet, whole range", results[:1])
	check("parquet, windows", results[1:1+windows])
	check("delta, whole range", results[1+windows:2+windows])
	check("delta, windows", results[2+windows:])
	t.Logf("%d rows over %d versions, compactions at %v", len(appendedAt), latest, compactions)
}

// serveLocalShare serves the local table at dir as q.s.t, with history, to
// the recipient acme, and returns acme's profile file.
func serveLocalShare(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	var token string
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateDatabase(catalog.Database{Name: "d"}); err != nil {
			return err
		}
		if _, err := tx.CreateSchema(catalog.Schema{Database: "d", Name: "s"}); err != nil {
			return err
		}
		if _, err := tx.CreateRelation(catalog.Relation{Database: "d", Schema: "s", Name: "t", Kind: object.KindTable, Location: dir, External: true}); err != nil {
			return err
		}
		if _, err := tx.CreateShare(catalog.Share{Name: "q"}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("q", catalog.ShareTable{Table: "d.s.t", WithHistory: true}); err != nil {
			return err
		}
		if _, token, err = tx.CreateRecipient(catalog.Recipient{Name: "acme"}); err != nil {
			return err
		}
		_, err = tx.GrantShare("q", "acme")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	url := fileServer(t, &env{t: t, cat: cat})
	profile := filepath.Join(t.TempDir(), "profile.share")
	pb, _ := json.Marshal(map[string]any{"shareCredentialsVersion": 1, "endpoint": url + DefaultPrefix, "bearerToken": token})
	if err := os.WriteFile(profile, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	return profile
}
