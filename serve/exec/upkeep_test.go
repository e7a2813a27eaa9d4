package exec_test

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/internal/golden"
	"github.com/sluice-io/sluice/serve/exec"
)

// upkeepFixture is a stream, a table a query writes (with upkeep
// properties at creation) and a registered table.
func upkeepFixture(t *testing.T, e *env) {
	t.Helper()
	e.setup(t, `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, amount DECIMAL(12,2)) WITH ('store' = 'kafka1', 'topic' = 'orders');
CREATE TABLE sales.eu.big WITH ('flush.interval' = '5s', 'delta.logRetentionDuration' = 'interval 7 days', 'sluice.compaction.minFiles' = 20)
  AS SELECT id, amount FROM orders;
CREATE TABLE sales.eu.golden LOCATION '`+goldenTable(t, "basic-decimal-table")+`'`)
}

// properties returns the catalog properties of a table.
func (e *env) properties(t *testing.T, path string) map[string]string {
	t.Helper()
	p := strings.Split(path, ".")
	var props map[string]string
	err := e.cat.View(context.Background(), func(tx *catalog.Tx) error {
		rel, err := tx.GetRelation(p[0], p[1], p[2])
		props = rel.Properties
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return props
}

// TestUpkeepPropertiesErrors: an upkeep property with a bad value, an
// unknown one under delta. or sluice., a property ALTER TABLE cannot
// change, a missing key to unset and limits that contradict each other
// are refused at their line:column, naming the property, the value and
// what to write; nothing changes.
func TestUpkeepPropertiesErrors(t *testing.T) {
	e := newEnv(t)
	upkeepFixture(t, e)
	before := e.properties(t, "sales.eu.big")
	for _, tc := range []struct{ name, sql, want string }{
		{"bad interval at creation", "CREATE TABLE sales.eu.t2\n  WITH ('delta.logRetentionDuration' = 'seven days') AS SELECT id FROM orders",
			`line 2:40: table sales.eu.t2: table property delta.logRetentionDuration = "seven days": `},
		{"unknown sluice property", "CREATE TABLE sales.eu.t2 WITH ('sluice.compaction.targetSize' = '64MiB') AS SELECT id FROM orders",
			`line 1:32: table sales.eu.t2: "sluice.compaction.targetSize" is not an upkeep property (they are: sluice.upkeep, delta.checkpointInterval,`},
		{"bad value at registration", "CREATE TABLE sales.eu.t3 LOCATION '" + goldenTable(t, "basic-decimal-table") + "' WITH ('sluice.upkeep' = 'maybe')",
			`table sales.eu.t3: table property sluice.upkeep = "maybe": want true or false`},
		{"bad interval (docs/sql.md)", "ALTER TABLE sales.eu.big SET TBLPROPERTIES ('delta.logRetentionDuration' = 'seven days')",
			`line 1:76: table sales.eu.big: table property delta.logRetentionDuration = "seven days": invalid interval "seven days": "seven" is not a non-negative number`},
		{"not an upkeep property", "ALTER TABLE sales.eu.big SET TBLPROPERTIES ('flush.interval' = '1s')",
			`line 1:45: table sales.eu.big: "flush.interval" is not an upkeep property`},
		{"bad size", "ALTER TABLE sales.eu.big SET TBLPROPERTIES ('sluice.compaction.targetFileSize' = 'big')",
			`line 1:82: table sales.eu.big: table property sluice.compaction.targetFileSize = "big": want a positive size in bytes, optionally with a unit`},
		{"contradicting limits", "ALTER TABLE sales.eu.big SET TBLPROPERTIES ('sluice.compaction.maxBytesPerRun' = '1MiB')",
			`line 1:1: table sales.eu.big: table property sluice.compaction.maxBytesPerRun = 1048576 is below sluice.compaction.targetFileSize = 134217728: a run must be able to write one file of the target size`},
		{"unset a missing key", "ALTER TABLE sales.eu.big UNSET TBLPROPERTIES ('delta.checkpointInterval')",
			`line 1:47: table sales.eu.big has no property "delta.checkpointInterval" (UNSET TBLPROPERTIES IF EXISTS skips missing ones)`},
		{"unset a query property", "ALTER TABLE sales.eu.big UNSET TBLPROPERTIES ('flush.interval')",
			`line 1:47: table sales.eu.big: "flush.interval" is not an upkeep property, and only those can be unset`},
		{"a stream", "ALTER TABLE sales.eu.orders SET TBLPROPERTIES ('sluice.upkeep' = 'true')", "sales.eu.orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ex.Execute(context.Background(), user("root"), tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v\nwant one containing %q", err, tc.want)
			}
		})
	}
	if got := e.properties(t, "sales.eu.big"); !maps.Equal(got, before) {
		t.Fatalf("properties changed by refused statements: %v, was %v", got, before)
	}
}

// TestUpkeepProperties: upkeep properties given at creation are kept in
// the catalog (and kept out of the query's compiled spec); SET adds and
// replaces them, UNSET [IF EXISTS] removes them; sluice.upkeep turns
// upkeep on for a registered table.
func TestUpkeepProperties(t *testing.T) {
	e := newEnv(t)
	upkeepFixture(t, e)
	want := map[string]string{"flush.interval": "5s", "delta.logRetentionDuration": "interval 7 days", "sluice.compaction.minFiles": "20"}
	if got := e.properties(t, "sales.eu.big"); !maps.Equal(got, want) {
		t.Fatalf("properties at creation %v, want %v", got, want)
	}
	steps := []struct {
		sql, msg string
		want     map[string]string
	}{
		{"ALTER TABLE sales.eu.big SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 1 day', 'sluice.vacuum.interval' = 'interval 6 hours')",
			"table sales.eu.big: set delta.logRetentionDuration, sluice.vacuum.interval (upkeep reads them on its next round)",
			map[string]string{"flush.interval": "5s", "delta.logRetentionDuration": "interval 1 day", "sluice.compaction.minFiles": "20", "sluice.vacuum.interval": "interval 6 hours"}},
		{"ALTER TABLE sales.eu.big SET TBLPROPERTIES ('sluice.compaction.targetFileSize' = '512KiB', 'sluice.compaction.maxBytesPerRun' = '1MiB')",
			"table sales.eu.big: set sluice.compaction.targetFileSize, sluice.compaction.maxBytesPerRun (upkeep reads them on its next round)",
			map[string]string{"flush.interval": "5s", "delta.logRetentionDuration": "interval 1 day", "sluice.compaction.minFiles": "20", "sluice.vacuum.interval": "interval 6 hours",
				"sluice.compaction.targetFileSize": "512KiB", "sluice.compaction.maxBytesPerRun": "1MiB"}},
		{"ALTER TABLE sales.eu.big UNSET TBLPROPERTIES IF EXISTS ('sluice.compaction.minFiles', 'delta.checkpointInterval')",
			"table sales.eu.big: unset sluice.compaction.minFiles (upkeep reads them on its next round)",
			map[string]string{"flush.interval": "5s", "delta.logRetentionDuration": "interval 1 day", "sluice.vacuum.interval": "interval 6 hours",
				"sluice.compaction.targetFileSize": "512KiB", "sluice.compaction.maxBytesPerRun": "1MiB"}},
	}
	for _, s := range steps {
		res := e.setup(t, s.sql)
		if res[0].Message != s.msg {
			t.Errorf("%s: %q, want %q", s.sql, res[0].Message, s.msg)
		}
		if got := e.properties(t, "sales.eu.big"); !maps.Equal(got, s.want) {
			t.Errorf("%s: properties %v, want %v", s.sql, got, s.want)
		}
	}
	var spec string
	err := e.cat.View(context.Background(), func(tx *catalog.Tx) error {
		qs, err := tx.ListQueries()
		if len(qs) == 1 {
			spec = string(qs[0].Spec)
		}
		return err
	})
	if err != nil || spec == "" || strings.Contains(spec, "logRetention") || strings.Contains(spec, "minFiles") {
		t.Fatalf("query spec %s (%v): want one without the upkeep properties", spec, err)
	}
	rels := map[string]catalog.Relation{}
	err = e.cat.View(context.Background(), func(tx *catalog.Tx) error {
		all, err := tx.ListRelations("sales", "eu")
		for _, r := range all {
			rels[r.Name] = r
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !exec.Upkept(rels["big"]) || exec.Upkept(rels["golden"]) || exec.Upkept(rels["orders"]) {
		t.Fatalf("Upkept: big %v, golden %v, orders %v; want true, false, false", exec.Upkept(rels["big"]), exec.Upkept(rels["golden"]), exec.Upkept(rels["orders"]))
	}
	e.setup(t, "ALTER TABLE sales.eu.golden SET TBLPROPERTIES ('sluice.upkeep' = true); ALTER TABLE sales.eu.big SET TBLPROPERTIES ('sluice.upkeep' = 'false')")
	if p := e.properties(t, "sales.eu.golden"); !exec.Upkept(catalog.Relation{Kind: "table", External: true, Properties: p}) {
		t.Fatalf("golden with %v is not kept", p)
	}
	if p := e.properties(t, "sales.eu.big"); exec.Upkept(catalog.Relation{Kind: "table", Properties: p}) {
		t.Fatalf("big with %v is kept", p)
	}
}

// fakeTables is a TableMonitor with fixed answers.
type fakeTables map[string]exec.TableStatus

func (f fakeTables) TableStatus(name string) (exec.TableStatus, bool) {
	s, ok := f[name]
	return s, ok
}

// TestShowTableStatus: SHOW TABLE STATUS lists the tables with whether
// upkeep keeps them and what the loop saw; IN and LIKE narrow it; without
// upkeep the message says so. testdata/table_status.golden holds the
// results.
func TestShowTableStatus(t *testing.T) {
	at := time.Date(2026, 11, 22, 13, 0, 0, 0, time.UTC)
	mon := fakeTables{"sales.eu.big": {Version: 42, Files: 12, SmallFiles: 3, Bytes: 123456789,
		LastCompaction: at, LastLogCleanup: at.Add(-time.Hour), LastError: "vacuum: disk full"}}
	var b strings.Builder
	for _, tc := range []struct {
		name string
		opts []exec.Option
		sql  []string
	}{
		{"with upkeep", []exec.Option{exec.WithTableMonitor(mon)}, []string{"SHOW TABLE STATUS", "SHOW TABLE STATUS IN sales.eu LIKE 'B%'", "SHOW TABLE STATUS LIKE 'gold_n'", "SHOW TABLE STATUS LIKE 'nothing'"}},
		{"without upkeep", nil, []string{"SHOW TABLE STATUS IN sales.eu"}},
	} {
		e := newEnv(t, tc.opts...)
		upkeepFixture(t, e)
		for _, sql := range tc.sql {
			res := e.setup(t, sql)[0]
			b.WriteString("== " + tc.name + ": " + sql + "\n-- " + res.Message + "\n" + strings.Join(res.Columns, " | ") + "\n")
			for _, row := range res.Rows {
				b.WriteString(strings.Join(row, " | ") + "\n")
			}
		}
	}
	golden.Check(t, filepath.Join("testdata", "table_status.golden"), b.String())
}
