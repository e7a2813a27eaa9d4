package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/serve/exec"
	"github.com/sluice-io/sluice/serve/upkeep"
)

// appendRows commits n versions of one row each to tbl.
func appendRows(t *testing.T, tbl *deltawriter.Table, from, n int64) {
	t.Helper()
	as := arrow.NewSchema([]arrow.Field{{Name: "seq", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for i := from; i < from+n; i++ {
		b := array.NewRecordBuilder(memory.DefaultAllocator, as)
		b.Field(0).(*array.Int64Builder).Append(i)
		rec := b.NewRecord()
		b.Release()
		_, err := tbl.Append(context.Background(), []arrow.Record{rec}, deltalog.Txn{AppID: "test", Version: i})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// sql runs statements through the statements API as tok's user.
func sql(t *testing.T, base, tok, stmts string) []exec.Result {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/v1/statements", strings.NewReader(stmts))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %s", stmts, resp.Status, body)
	}
	var out StatementsResponse
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Results
}

// TestUpkeepHistoryThroughSharing: the server's upkeep loop keeps a
// registered table with 'sluice.upkeep' = 'true' and a one-second log
// retention. The table is shared WITH HISTORY at version 4 (its earlier
// commits are old): after log cleanup, versions 4 and later still load
// through the sharing endpoint's /query with version, older ones answer
// 400 INVALID_PARAMETER_VALUE; SHOW TABLE STATUS and /metrics show the
// loop's work. With upkeep.enabled false, nothing is cleaned.
func TestUpkeepHistoryThroughSharing(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprintf("enabled=%v", enabled), func(t *testing.T) { upkeepHistory(t, enabled) })
	}
}

func upkeepHistory(t *testing.T, enabled bool) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "orders")
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	tbl := deltawriter.New(st)
	schema := deltalog.Struct(deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: true})
	if _, err := tbl.Create(ctx, schema, deltawriter.CreateOptions{Configuration: map[string]string{"delta.checkpointInterval": "2"}}); err != nil {
		t.Fatal(err)
	}
	appendRows(t, tbl, 0, 4) // versions 1..4
	// Versions 0..4 were committed long before the share.
	old := time.Now().Add(-time.Hour)
	logs, _ := filepath.Glob(filepath.Join(dir, "_delta_log", "*"))
	for _, f := range logs {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}

	cfg := configIn(t.TempDir())
	cfg.Upkeep.Enabled, cfg.Upkeep.Interval = enabled, time.Second
	s := newServer(t, cfg)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	base, admin := s.ListenURL(), s.IssuedToken()
	res := sql(t, base, admin, `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE TABLE sales.eu.orders LOCATION 'file://`+filepath.ToSlash(dir)+`' WITH ('sluice.upkeep' = 'true',
  'delta.logRetentionDuration' = 'interval 1 second', 'sluice.logCleanup.interval' = 'interval 1 second',
  'sluice.vacuum.interval' = 'interval 1 second', 'delta.deletedFileRetentionDuration' = 'interval 1 second');
CREATE SHARE partners; ALTER SHARE partners ADD TABLE sales.eu.orders AS eu.orders WITH HISTORY;
CREATE RECIPIENT acme; GRANT SELECT ON SHARE partners TO RECIPIENT acme`)
	recipient := profileToken(res)
	if recipient == "" {
		t.Fatal("no recipient token in the results")
	}
	appendRows(t, tbl, 4, 4)            // versions 5..8, after the share: promised
	time.Sleep(1100 * time.Millisecond) // older than the retention

	query := func(v int) (int, string) {
		req, _ := http.NewRequest("POST", base+"/delta-sharing/shares/partners/schemas/eu/tables/orders/query",
			strings.NewReader(fmt.Sprintf(`{"version": %d}`, v)))
		req.Header.Set("Authorization", "Bearer "+recipient)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if !enabled {
		time.Sleep(2 * time.Second) // rounds would have run
		for v := 0; v <= 8; v++ {
			if code, body := query(v); code != http.StatusOK {
				t.Fatalf("upkeep off: version %d: %d %s", v, code, body)
			}
		}
		st := sql(t, base, admin, "SHOW TABLE STATUS IN sales.eu")[0]
		if !strings.Contains(st.Message, "table upkeep is off") {
			t.Fatalf("SHOW TABLE STATUS with upkeep off: %q", st.Message)
		}
		return
	}
	// Wait for a log cleanup that began once versions 5..8 were past the
	// retention: without the promise it would keep only version 8.
	past := time.Now()
	deadline := past.Add(20 * time.Second)
	for {
		if us, ok := s.upkeep.Status("sales.eu.orders"); ok && us.Last[upkeep.OpLogCleanup].After(past) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no log cleanup within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for v := 4; v <= 8; v++ {
		if code, body := query(v); code != http.StatusOK || !strings.Contains(body, `"add"`) && !strings.Contains(body, `"file"`) {
			t.Fatalf("promised version %d: %d %s", v, code, body)
		}
	}
	for v := 0; v < 4; v++ {
		code, body := query(v)
		if code != http.StatusBadRequest || !strings.Contains(body, `"errorCode":"INVALID_PARAMETER_VALUE"`) {
			t.Fatalf("version %d after log cleanup: %d %s, want 400 INVALID_PARAMETER_VALUE", v, code, body)
		}
	}
	row := sql(t, base, admin, "SHOW TABLE STATUS LIKE 'orders'")[0].Rows
	if len(row) != 1 || row[0][1] != "on" || row[0][2] != "8" || row[0][8] == "" || row[0][9] != "" {
		t.Fatalf("SHOW TABLE STATUS: %q, want upkeep on, version 8, a log cleanup and no error", row)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`sluice_upkeep_table_files{table="sales.eu.orders"} 8`,
		`sluice_upkeep_runs_total{operation="log_cleanup",table="sales.eu.orders"}`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
	// Removing the table from the share releases the promise: its
	// history start is gone from the list.
	sql(t, base, admin, "ALTER SHARE partners REMOVE TABLE sales.eu.orders")
	tgs, err := newCatalogTables(s.cat, s.log).Tables(ctx)
	if err != nil || len(tgs) != 1 || tgs[0].MinVersion != 0 || tgs[0].KeepAll {
		t.Fatalf("targets after the share let go: %+v %v", tgs, err)
	}
}

// TestCatalogTablesHistoryStart: the tables listed and what each share
// WITH HISTORY makes them keep: a query's table is listed and a
// registered one only with sluice.upkeep; a table added before its first
// commit (no log yet, or only commits newer than the addition) keeps
// everything, one added after commits keeps from the version
// then; a table without history keeps nothing extra.
func TestCatalogTablesHistoryStart(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	committed := filepath.Join(root, "committed")
	st, err := objstore.NewLocal(committed)
	if err != nil {
		t.Fatal(err)
	}
	tbl := deltawriter.New(st)
	schema := deltalog.Struct(deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: true})
	if _, err := tbl.Create(ctx, schema, deltawriter.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	appendRows(t, tbl, 0, 3)
	old := time.Now().Add(-time.Hour)
	logs, _ := filepath.Glob(filepath.Join(committed, "_delta_log", "*.json"))
	for _, f := range logs {
		os.Chtimes(f, old, old)
	}
	late := filepath.Join(root, "late") // committed after it was shared (its commits are new)
	lst, err := objstore.NewLocal(late)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deltawriter.New(lst).Create(ctx, schema, deltawriter.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	type table struct {
		name, location string
		external       bool
		props          map[string]string
		history        bool
	}
	tables := []table{
		{"empty", filepath.Join(root, "empty"), false, nil, true},
		{"late", late, false, nil, true}, // shared before its first commit
		{"committed", committed, true, map[string]string{exec.UpkeepProperty: "true"}, true},
		{"plain", filepath.Join(root, "plain"), false, nil, false},   // shared without history
		{"registered", filepath.Join(root, "reg"), true, nil, false}, // not kept
		{"off", filepath.Join(root, "off"), false, map[string]string{exec.UpkeepProperty: "false"}, false},
	}
	rels := make([]catalog.Relation, len(tables))
	history := map[string]bool{}
	for i, tb := range tables {
		rels[i] = catalog.Relation{Name: tb.name, Location: "file://" + filepath.ToSlash(tb.location), External: tb.external, Properties: tb.props}
		history[tb.name] = tb.history
	}
	tgs := catalogTargets(t, rels, history)
	got := map[string]string{}
	for _, tg := range tgs {
		got[tg.Name] = fmt.Sprintf("min %d all %v", tg.MinVersion, tg.KeepAll)
	}
	dl := deadLetterSuffix // a query's dead-letter table is in no share
	want := map[string]string{"d.s.empty": "min 0 all true", "d.s.late": "min 0 all true", "d.s.committed": "min 3 all false", "d.s.plain": "min 0 all false",
		"d.s.empty" + dl: "min 0 all false", "d.s.late" + dl: "min 0 all false", "d.s.plain" + dl: "min 0 all false"}
	if !maps.Equal(got, want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
}

// TestCatalogTablesDeadLetters: the dead-letter table the worker of a
// kept query's table writes (issue #16) is an upkeep target too, at the
// worker's default location and with the default policy (the query
// table's properties are not its own); a registered table has none, a
// query table with sluice.upkeep false keeps neither, and a dead-letter
// location registered as a table of its own is listed once, by it.
func TestCatalogTablesDeadLetters(t *testing.T) {
	root := "file://" + filepath.ToSlash(t.TempDir())
	tables := []struct {
		name, location string
		external       bool
		props          map[string]string
	}{
		{"orders", root + "/orders", false, map[string]string{"sluice.compaction.minFiles": "2"}},
		{"trailing", root + "/trailing/", false, nil},
		{"off", root + "/off", false, map[string]string{exec.UpkeepProperty: "false"}},
		{"registered", root + "/reg", true, map[string]string{exec.UpkeepProperty: "true"}},
		{"mine", root + "/mine", false, nil},
		{"mine_dlq", root + "/mine_dead_letters", true, map[string]string{exec.UpkeepProperty: "true"}},
	}
	rels := make([]catalog.Relation, len(tables))
	for i, tb := range tables {
		rels[i] = catalog.Relation{Name: tb.name, Location: tb.location, External: tb.external, Properties: tb.props}
	}
	tgs := catalogTargets(t, rels, nil)
	got := map[string]string{}
	for _, tg := range tgs {
		got[tg.Name] = fmt.Sprintf("%s %v", tg.URI, tg.Properties)
	}
	want := map[string]string{
		"d.s.orders":                      root + "/orders map[sluice.compaction.minFiles:2]",
		"d.s.orders" + deadLetterSuffix:   root + "/orders_dead_letters map[]",
		"d.s.trailing":                    root + "/trailing/ map[]",
		"d.s.trailing" + deadLetterSuffix: root + "/trailing_dead_letters map[]",
		"d.s.registered":                  root + "/reg map[sluice.upkeep:true]",
		"d.s.mine":                        root + "/mine map[]",
		"d.s.mine_dlq":                    root + "/mine_dead_letters map[sluice.upkeep:true]",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("targets:\n got %v\nwant %v", got, want)
	}
}

// catalogTargets is the upkeep targets of a catalog holding the tables
// rels in d.s, each also in share p when history has its name (WITH
// HISTORY when true).
func catalogTargets(t *testing.T, rels []catalog.Relation, history map[string]bool) []upkeep.Target {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateDatabase(catalog.Database{Name: "d"}); err != nil {
			return err
		}
		if _, err := tx.CreateSchema(catalog.Schema{Database: "d", Name: "s"}); err != nil {
			return err
		}
		if _, err := tx.CreateShare(catalog.Share{Name: "p"}); err != nil {
			return err
		}
		for _, r := range rels {
			r.Database, r.Schema, r.Kind = "d", "s", "table"
			if _, err := tx.CreateRelation(r); err != nil {
				return err
			}
			if h, ok := history[r.Name]; ok {
				if _, err := tx.AddShareTable("p", catalog.ShareTable{Table: "d.s." + r.Name, WithHistory: h}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tgs, err := newCatalogTables(cat, slog.New(slog.DiscardHandler)).Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tgs
}
