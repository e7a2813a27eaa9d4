package exec_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
)

// TestShowStoresUsersRoles: each lists the objects the principal may
// DESCRIBE, with one decision per object (the admin sees all), and a
// store's secret properties never appear, not even by name.
func TestShowStoresUsersRoles(t *testing.T) {
	e := newEnv(t)
	describeFixture(t, e) // kafka1 has secret properties; alice holds analyst, which holds reader
	e.setup(t, `CREATE STORE kafka2 WITH ('type' = 'kafka', 'sasl.jaas.config' = 'env:JAAS', 'client.id' = 'sluice')`)
	err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		for _, g := range []struct {
			priv object.Privilege
			kind object.Kind
			obj  string
		}{
			{object.PrivAll, object.KindStore, "kafka1"},
			{object.PrivUsage, object.KindStore, "kafka2"}, // USAGE is not DESCRIBE
			{object.PrivOwnership, object.KindUser, "bob"},
			{object.PrivAll, object.KindRole, "reader"},
		} {
			if _, err := tx.Grant(g.priv, g.kind, g.obj, "analyst"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const created = "2026-11-22T12:00:00Z" // the test clock
	tests := []struct {
		who, sql string
		columns  []string
		rows     [][]string
	}{
		{"root", "SHOW STORES", []string{"name", "type", "properties", "owner", "created"}, [][]string{
			{"kafka1", "kafka", "bootstrap.servers=k1:9092", "admin"},
			{"kafka2", "kafka", "client.id=sluice", "admin"}}},
		{"alice", "SHOW STORES", nil, [][]string{{"kafka1", "kafka", "bootstrap.servers=k1:9092", "admin"}}},
		{"bob", "SHOW STORES", nil, [][]string{}},
		{"root", "SHOW USERS", []string{"name", "roles", "rotated", "owner", "created"}, [][]string{
			{"alice", "analyst", "", "admin"},
			{"bob", "", created, "admin"},
			{"root", "admin", "", "admin"}}},
		{"alice", "show users", nil, [][]string{{"bob", "", created, "admin"}}},
		{"bob", "SHOW USERS", nil, [][]string{}},
		{"root", "SHOW ROLES", []string{"name", "comment", "owner", "created"}, [][]string{
			{"admin", "", "admin"}, {"analyst", "", "admin"}, {"reader", "", "admin"}, {"securityadmin", "", "admin"}, {"useradmin", "", "admin"}}},
		{"alice", "SHOW ROLES", nil, [][]string{{"reader", "", "admin"}}},
		{"bob", "SHOW ROLES", nil, [][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.sql, func(t *testing.T) {
			from := len(e.sink.Events())
			res, err := e.ex.Execute(context.Background(), user(tt.who), tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if tt.columns != nil && !slices.Equal(r.Columns, tt.columns) {
				t.Errorf("columns %q, want %q", r.Columns, tt.columns)
			}
			// The last column is the creation time (the admin role's is
			// the real clock's).
			var got [][]string
			for _, row := range r.Rows {
				if _, err := time.Parse(time.RFC3339, row[len(row)-1]); err != nil {
					t.Errorf("created %q: %v", row[len(row)-1], err)
				}
				got = append(got, row[:len(row)-1])
			}
			if len(got) != len(tt.rows) || !slices.EqualFunc(got, tt.rows, slices.Equal) {
				t.Errorf("rows\n%q\nwant\n%q", r.Rows, tt.rows)
			}
			kind := strings.TrimSuffix(strings.ToLower(strings.Fields(tt.sql)[1]), "s")
			if want := fmt.Sprintf("%d %ss", len(tt.rows), kind); r.Message != want {
				t.Errorf("message %q, want %q", r.Message, want)
			}
			// One DESCRIBE decision per object of the kind, allowed exactly
			// for the listed ones.
			var decided, allowed []string
			for _, ev := range e.sink.Events()[from:] {
				if ev.Action != "DESCRIBE" {
					t.Errorf("decision %s on %s, want DESCRIBE", ev.Action, ev.Path)
				}
				decided = append(decided, ev.Path)
				if ev.Allow {
					allowed = append(allowed, ev.Path)
				}
			}
			var listed []string
			for _, row := range r.Rows {
				listed = append(listed, row[0])
			}
			if !slices.Equal(allowed, listed) {
				t.Errorf("allowed %q, listed %q", allowed, listed)
			}
			if tt.who == "root" && !slices.Equal(decided, listed) {
				t.Errorf("admin: decisions on %q, listed %q", decided, listed)
			}
			if tt.who != "root" && len(decided) != len(e.showAll(t, tt.sql)) {
				t.Errorf("%d decisions, want one per object (%d)", len(decided), len(e.showAll(t, tt.sql)))
			}
			out := fmt.Sprint(r.Rows)
			for _, secret := range []string{"sasl", "password", "jaas", "JAAS", "KAFKA_PASSWORD", "key.pass"} {
				if strings.Contains(out, secret) {
					t.Errorf("SHOW output shows %q: %s", secret, out)
				}
			}
		})
	}
}

// showAll returns the rows sql shows to the admin.
func (e *env) showAll(t *testing.T, sql string) [][]string {
	t.Helper()
	res, err := e.ex.Execute(context.Background(), user("root"), sql)
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Rows
}
