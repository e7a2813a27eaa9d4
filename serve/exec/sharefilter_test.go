package exec_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/serve/exec"
)

// rowsOf returns the rows of the last result whose first cell is section
// (DESCRIBE) or all rows when section is "".
func rowsOf(res []exec.Result, section string) [][]string {
	var out [][]string
	for _, r := range res[len(res)-1].Rows {
		if section == "" || r[0] == section {
			out = append(out, r)
		}
	}
	return out
}

// TestRecipientPropertiesAndShareFilter: recipient properties set at
// creation, changed and removed, shown by DESCRIBE and SHOW RECIPIENTS; a
// filter on a partition column is accepted and shown, one on another
// column is refused saying files are shared whole, and nothing is added.
func TestRecipientPropertiesAndShareFilter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := newSharingEnv(t, &now)
	e.setup(t, `CREATE TABLE sales.eu.parts LOCATION '`+goldenTable(t, "time-travel-partition-changes-a")+`';
		CREATE SHARE geo;
		CREATE RECIPIENT de WITH ('token.ttl' = '30d') WITH PROPERTIES ('country' = 'DE', 'tier' = 'gold')`)
	steps := []struct {
		sql     string
		section string
		want    [][]string
		wantErr string
	}{
		{sql: "DESCRIBE RECIPIENT de", section: "recipient property", want: [][]string{
			{"recipient property", "country", "DE", "CURRENT_RECIPIENT('country')"},
			{"recipient property", "tier", "gold", "CURRENT_RECIPIENT('tier')"}}},
		{sql: "ALTER RECIPIENT de SET PROPERTIES ('country' = 'FR', 'region' = 'eu')"},
		{sql: "ALTER RECIPIENT de UNSET PROPERTIES ('tier')"},
		{sql: "ALTER RECIPIENT de UNSET PROPERTIES ('tier')", wantErr: `recipient de has no property "tier"`},
		{sql: "SHOW RECIPIENTS", want: [][]string{{"de", "1", "2026-01-31T00:00:00Z", "country=FR, region=eu", "admin", "2026-01-01T00:00:00Z"}}},
		{sql: "ALTER SHARE geo ADD TABLE sales.eu.parts WHERE id = CURRENT_RECIPIENT('country')",
			wantErr: "column id is not a partition column (the table is partitioned by part5): files are shared whole"},
		{sql: "ALTER SHARE geo ADD TABLE sales.eu.parts WHERE part5 > 1", wantErr: "part5 > 1 is not supported"},
		{sql: "DESCRIBE SHARE geo", section: "table", want: nil},
		{sql: "ALTER SHARE geo ADD TABLE sales.eu.parts WITH HISTORY WHERE part5 = CURRENT_RECIPIENT('part')"},
		{sql: "DESCRIBE SHARE geo", section: "table", want: [][]string{
			{"table", "sales.eu.parts", "eu.parts", "with history where part5 = CURRENT_RECIPIENT('part')"}}},
	}
	for _, s := range steps {
		res, err := e.ex.Execute(context.Background(), user("root"), s.sql)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("%s: error %v, want %q", s.sql, err, s.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
		if s.want == nil && s.section == "" {
			continue
		}
		got := rowsOf(res, s.section)
		if s.sql == "SHOW RECIPIENTS" {
			got = got[:1]
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("%s: rows %q, want %q", s.sql, got, s.want)
		}
	}
}
