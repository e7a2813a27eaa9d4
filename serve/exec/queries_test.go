package exec_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
)

// fakeMonitor stands in for the supervisor.
type fakeMonitor struct {
	mu      sync.Mutex
	changed int
	status  map[string]exec.QueryStatus
}

func (m *fakeMonitor) QueryStatus(id string) (exec.QueryStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.status[id]
	return st, ok
}

func (m *fakeMonitor) QueriesChanged() {
	m.mu.Lock()
	m.changed++
	m.mu.Unlock()
}

func (m *fakeMonitor) changes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// queryEnv is a catalog with one query (CREATE TABLE sales.eu.big AS
// SELECT), an executor with a fake monitor, and the users alice (USAGE on
// the schema only) and bob (ALL on the schema).
func queryEnv(t *testing.T) (*env, *fakeMonitor, string) {
	t.Helper()
	e := newEnv(t)
	mon := &fakeMonitor{status: map[string]exec.QueryStatus{}}
	pol, err := policy.New(context.Background(), policy.WithSink(e.sink))
	if err != nil {
		t.Fatal(err)
	}
	e.ex = exec.New(e.cat, pol, exec.WithQueryMonitor(mon))
	res, err := e.ex.Execute(context.Background(), user("root"), `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, amount DECIMAL(12,2), country STRING) WITH ('store' = 'kafka1', 'topic' = 'orders');
CREATE ROLE viewer; CREATE ROLE ops; GRANT ROLE viewer TO USER alice; GRANT ROLE ops TO USER bob;
GRANT USAGE ON DATABASE sales TO ROLE viewer; GRANT USAGE ON SCHEMA sales.eu TO ROLE viewer;
GRANT USAGE ON DATABASE sales TO ROLE ops; GRANT ALL ON SCHEMA sales.eu TO ROLE ops;
CREATE TABLE sales.eu.big AS SELECT id, amount * 2 AS doubled FROM orders WHERE country = 'DE'`)
	if err != nil {
		t.Fatal(err)
	}
	if mon.changes() != 1 {
		t.Fatalf("CREATE TABLE AS SELECT notified %d times, want 1", mon.changes())
	}
	return e, mon, res[len(res)-1].Rows[0][1]
}

func (e *env) queryState(t *testing.T, id string) catalog.QueryState {
	t.Helper()
	var q catalog.Query
	if err := e.cat.View(context.Background(), func(tx *catalog.Tx) (err error) {
		q, err = tx.GetQuery(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return q.State
}

// TestQueryControl: PAUSE, RESUME and TERMINATE need OPERATE on the
// query's table (decided before existence), move the desired state, refuse
// to revive a terminated query, and notify the supervisor once committed.
func TestQueryControl(t *testing.T) {
	e, mon, qid := queryEnv(t)
	steps := []struct {
		who, sql string
		want     string // substring of the message
		denied   string // substring of the denial reason
		errIs    error
		errText  string
		state    catalog.QueryState // the query's state afterwards
		notified bool
	}{
		{who: "alice", sql: `PAUSE QUERY "$Q"`, denied: "missing OPERATE on query sales.eu.big.", state: catalog.QueryRunning},
		{who: "alice", sql: `PAUSE QUERY nope`, denied: "missing OPERATE on query nope", state: catalog.QueryRunning},
		{who: "root", sql: `PAUSE QUERY nope`, errIs: catalog.ErrNotFound, errText: "query nope does not exist: SHOW QUERIES lists the ids; a query id is a UUID", state: catalog.QueryRunning},
		{who: "root", sql: `PAUSE QUERY 00000000-0000-4000-8000-000000000000`, errIs: catalog.ErrNotFound, errText: "does not exist: SHOW QUERIES lists the ids", state: catalog.QueryRunning},
		// The id unquoted, single-quoted or upper-cased.
		{who: "alice", sql: `PAUSE QUERY $Q`, denied: "missing OPERATE on query sales.eu.big.", state: catalog.QueryRunning},
		{who: "bob", sql: `PAUSE QUERY $Q`, want: "(table sales.eu.big) paused", state: catalog.QueryPaused, notified: true},
		{who: "bob", sql: `resume query '$Q'`, want: "resumed", state: catalog.QueryRunning, notified: true},
		{who: "bob", sql: `PAUSE QUERY $UQ`, want: "(table sales.eu.big) paused", state: catalog.QueryPaused, notified: true},
		{who: "bob", sql: `RESUME QUERY '$UQ'`, want: "resumed", state: catalog.QueryRunning, notified: true},
		{who: "bob", sql: `RESUME QUERY "$Q"`, want: "is already running", state: catalog.QueryRunning, notified: true},
		{who: "bob", sql: `PAUSE QUERY "$Q"`, want: "(table sales.eu.big) paused", state: catalog.QueryPaused, notified: true},
		{who: "bob", sql: `PAUSE QUERY "$Q"`, want: "is already paused", state: catalog.QueryPaused, notified: true},
		{who: "bob", sql: `RESUME QUERY "$Q"`, want: "resumed", state: catalog.QueryRunning, notified: true},
		{who: "bob", sql: `TERMINATE QUERY "$Q"`, want: "terminated", state: catalog.QueryTerminated, notified: true},
		{who: "bob", sql: `RESUME QUERY "$Q"`, errIs: catalog.ErrInvalid, errText: "is terminated and cannot be resumed", state: catalog.QueryTerminated},
		{who: "bob", sql: `PAUSE QUERY "$Q"`, errIs: catalog.ErrInvalid, errText: "is terminated and cannot be paused", state: catalog.QueryTerminated},
		{who: "bob", sql: `TERMINATE QUERY "$Q"`, want: "is already terminated", state: catalog.QueryTerminated, notified: true},
	}
	for _, st := range steps {
		sql := strings.NewReplacer("$Q", qid, "$UQ", strings.ToUpper(qid)).Replace(st.sql)
		before := mon.changes()
		res, err := e.ex.Execute(context.Background(), user(st.who), sql)
		var de *exec.DeniedError
		switch {
		case st.denied != "":
			if !errors.As(err, &de) || !strings.Contains(de.Reason, st.denied) {
				t.Errorf("%s by %s: err = %v, want denied %q", sql, st.who, err, st.denied)
			}
		case st.errIs != nil:
			if !errors.Is(err, st.errIs) || !strings.Contains(err.Error(), st.errText) || !strings.Contains(err.Error(), strings.Trim(strings.Split(sql, " ")[2], `"'`)) {
				t.Errorf("%s by %s: err = %v, want %v naming the query and containing %q", sql, st.who, err, st.errIs, st.errText)
			}
		case err != nil:
			t.Errorf("%s by %s: %v", sql, st.who, err)
		case !strings.Contains(res[0].Message, st.want) || !strings.Contains(res[0].Message, qid):
			t.Errorf("%s: message %q, want it to name the query and contain %q", sql, res[0].Message, st.want)
		}
		if got := e.queryState(t, qid); got != st.state {
			t.Errorf("after %s by %s: state %s, want %s", sql, st.who, got, st.state)
		}
		if got := mon.changes() - before; got != map[bool]int{true: 1, false: 0}[st.notified] {
			t.Errorf("%s by %s: supervisor notified %d times, want notified=%v", sql, st.who, got, st.notified)
		}
	}
}

// TestShowQueriesStatus: SHOW QUERIES needs MONITOR on the table and shows
// the supervisor's view of the worker next to the desired state.
func TestShowQueriesStatus(t *testing.T) {
	e, mon, qid := queryEnv(t)
	started := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	mon.status[qid] = exec.QueryStatus{State: "restarting", Restarts: 2, LastError: "worker exited (signal: killed)", Started: started, Lag: -1}
	tests := []struct {
		who  string
		rows [][]string // id, table, state, status, pid, metrics_addr, restarts, lag, started, last_error
	}{
		{"alice", nil},
		{"bob", [][]string{{qid, "sales.eu.big", "running", "restarting", "", "", "2", "", "2026-05-01T12:00:00Z", "worker exited (signal: killed)"}}},
	}
	for _, tt := range tests {
		res, err := e.ex.Execute(context.Background(), user(tt.who), "SHOW QUERIES")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"id", "table", "state", "status", "pid", "metrics_addr", "restarts", "lag", "started", "last_error", "credentials_expire", "created"}
		if !slices.Equal(res[0].Columns, want) {
			t.Fatalf("columns %v, want %v", res[0].Columns, want)
		}
		if len(res[0].Rows) != len(tt.rows) {
			t.Fatalf("%s sees %d queries, want %d: %v", tt.who, len(res[0].Rows), len(tt.rows), res[0].Rows)
		}
		for i, r := range tt.rows {
			if got := res[0].Rows[i][:len(r)]; !slices.Equal(got, r) {
				t.Errorf("%s: row %v, want %v", tt.who, got, r)
			}
		}
	}
	mon.status[qid] = exec.QueryStatus{State: "running", PID: 4242, MetricsAddr: "127.0.0.1:40123", Lag: 17, Started: started, CredentialsExpire: started.Add(time.Hour)}
	res, err := e.ex.Execute(context.Background(), user("root"), "SHOW QUERIES")
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0].Rows[0]; r[3] != "running" || r[4] != "4242" || r[5] != "127.0.0.1:40123" || r[6] != "0" || r[7] != "17" || r[9] != "" || r[10] != "2026-05-01T13:00:00Z" {
		t.Errorf("running worker row %v", r)
	}
}

// TestQueryOfDroppedTable: a query is decided on the table it writes, not
// on whatever table now has that name. Once its table is dropped it is
// decided as on a missing table, even after a new table takes the name
// (regression: the new table's grants gave MONITOR and OPERATE on the old
// query).
func TestQueryOfDroppedTable(t *testing.T) {
	e := newEnv(t)
	old := matrixFixture(t, e.ex, e.cat)
	res, err := e.ex.Execute(context.Background(), user("root"), `DROP TABLE sales.eu.big;
CREATE TABLE sales.eu.big AS SELECT id FROM orders;
GRANT USAGE ON DATABASE sales TO ROLE r1; GRANT USAGE ON SCHEMA sales.eu TO ROLE r1; GRANT ALL ON TABLE sales.eu.big TO ROLE r1`)
	if err != nil {
		t.Fatal(err)
	}
	cur := res[1].Rows[0][1]
	res, err = e.ex.Execute(context.Background(), user("alice"), "SHOW QUERIES")
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Rows) != 1 || res[0].Rows[0][0] != cur {
		t.Errorf("alice sees %q, want only the query %s writing the new table", res[0].Rows, cur)
	}
	for _, sql := range []string{"TERMINATE QUERY " + old, "PAUSE QUERY " + old} {
		_, err = e.ex.Execute(context.Background(), user("alice"), sql)
		checkDenied(t, err, "missing OPERATE on query sales.eu.big."+old+" (or an ancestor)")
	}
	if _, err := e.ex.Execute(context.Background(), user("alice"), "PAUSE QUERY "+cur); err != nil {
		t.Errorf("alice pauses the query of the new table: %v", err)
	}
	// The admin still sees and controls both.
	res, err = e.ex.Execute(context.Background(), user("root"), "SHOW QUERIES; TERMINATE QUERY "+old)
	if err != nil || len(res[0].Rows) != 2 {
		t.Errorf("admin: %v, %v", res, err)
	}
}
