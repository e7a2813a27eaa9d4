package exec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/policy"
)

// QueryMonitor is what the executor needs of the supervisor that runs the
// queries' workers.
type QueryMonitor interface {
	// QueryStatus returns the live state of query id's worker; false if
	// the supervisor does not know the query (yet).
	QueryStatus(id string) (QueryStatus, bool)
	// QueriesChanged is called after a statement that changed the queries
	// (CREATE TABLE ... AS SELECT, PAUSE, RESUME, TERMINATE, DROP) has
	// committed. It must not block.
	QueriesChanged()
}

// QueryStatus is the live state of a query's worker, as SHOW QUERIES shows
// it.
type QueryStatus struct {
	State     string // e.g. running, restarting, paused, failed, terminated
	PID       int    // 0 when no process runs
	Restarts  int
	LastError string
	Started   time.Time
	Lag       int64 // records behind the end of the topic; -1 when not known
	// MetricsAddr is the host:port of the running worker's Prometheus
	// /metrics; empty when no process runs.
	MetricsAddr string
	// CredentialsExpire is when the worker's scoped storage credentials
	// expire (it is restarted with new ones before); zero without them.
	CredentialsExpire time.Time
}

// WithQueryMonitor connects the executor to the supervisor: SHOW QUERIES
// shows the workers' state and statements that change queries notify it.
func WithQueryMonitor(m QueryMonitor) Option {
	return func(e *Executor) { e.monitor = m }
}

// changesQueries reports whether s may change what the supervisor runs.
func changesQueries(s sqlparse.Statement) bool {
	switch s := s.(type) {
	case *sqlparse.CreateTable:
		return s.Query != nil
	case *sqlparse.QueryControl:
		return true
	case *sqlparse.Drop:
		return s.Kind != object.KindUser && s.Kind != object.KindRole
	}
	return false
}

// queryTarget resolves query id to its policy path: the path of the table
// it writes, then the query itself, [database, schema, table, query], so
// that a privilege granted on the query, the table or above decides the
// statements on the query (MONITOR, OPERATE, DESCRIBE, GRANT). A query
// that does not exist is given as a bare query node, so the check still
// comes before existence (and only the admin role passes it); one whose
// table was dropped, under a bare table node under the table's schema
// (whatever table has the name now).
func (r *run) queryTarget(id string) (catalog.Query, []policy.Node, error) {
	q, err := r.tx.GetQuery(id)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Query{}, []policy.Node{{Kind: object.KindQuery, Name: id}}, nil
	}
	if err != nil {
		return catalog.Query{}, nil, err
	}
	parts := strings.SplitN(q.Table, ".", 3)
	if len(parts) != 3 {
		return catalog.Query{}, nil, fmt.Errorf("exec: query %s writes %q, not a database.schema.table", q.ID, q.Table)
	}
	path, err := r.path(object.KindTable, parts)
	if err != nil {
		return catalog.Query{}, nil, err
	}
	// The table of that name may no longer be the query's: dropped (the
	// query is then terminated and detached), and perhaps created anew.
	// The grants of another table say nothing about this query: it is
	// decided as on a missing table.
	rel, err := r.tx.GetRelation(parts[0], parts[1], parts[2])
	if err == nil && !strings.EqualFold(rel.QueryID, q.ID) {
		path[len(path)-1] = policy.Node{Kind: object.KindTable, Name: parts[2]}
	}
	self, err := r.tx.ResolvePath(object.KindQuery, q.ID)
	if err != nil {
		return catalog.Query{}, nil, err
	}
	return q, append(path, policyNode(self[0])), nil
}

// controls are the query-control statements: the state each asks for and
// its participle.
var controls = map[string]struct {
	state catalog.QueryState
	verb  string
}{
	"PAUSE":     {catalog.QueryPaused, "paused"},
	"RESUME":    {catalog.QueryRunning, "resumed"},
	"TERMINATE": {catalog.QueryTerminated, "terminated"},
}

// queryControl runs PAUSE, RESUME or TERMINATE QUERY: OPERATE on the
// query's table, then the new desired state in the catalog, which the
// supervisor acts on once the statement commits.
func (r *run) queryControl(s *sqlparse.QueryControl) (Result, error) {
	id := s.Query.Name
	q, path, err := r.queryTarget(id)
	if err != nil {
		return Result{}, err
	}
	if err := r.authorize(policy.ActionOperate, path); err != nil {
		return Result{}, err
	}
	if q.ID == "" {
		hint := ""
		if !isQueryID(id) {
			hint = "; " + sqlparse.QueryIDShape
		}
		return Result{}, &catalog.Error{Class: catalog.ErrNotFound,
			Msg: fmt.Sprintf("query %s does not exist: SHOW QUERIES lists the ids%s", id, hint)}
	}
	c, ok := controls[s.Action]
	switch {
	case !ok:
		return Result{}, &UnsupportedError{Statement: sqlparse.Excerpt(s)}
	case q.State == c.state:
		return msg("query %s (table %s) is already %s", q.ID, q.Table, q.State), nil
	case q.State == catalog.QueryTerminated:
		return Result{}, invalid("query %s (table %s) is terminated and cannot be %s: a terminated query never runs again; create a new table with CREATE TABLE ... AS SELECT", q.ID, q.Table, c.verb)
	}
	if _, err := r.tx.SetQueryState(q.ID, c.state); err != nil {
		return Result{}, err
	}
	switch c.state {
	case catalog.QueryPaused:
		return msg("query %s (table %s) paused: its worker commits what it holds and stops; RESUME QUERY continues where it stopped", q.ID, q.Table), nil
	case catalog.QueryTerminated:
		return msg("query %s (table %s) terminated: its worker commits what it holds and stops for good; the table stays", q.ID, q.Table), nil
	}
	return msg("query %s (table %s) resumed from the offsets stored in its table", q.ID, q.Table), nil
}

// showQueries lists the queries the principal may MONITOR (decided on the
// table each writes), with their worker's live state when a supervisor is
// attached.
func (r *run) showQueries() (Result, error) {
	qs, err := r.tx.ListQueries()
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: []string{"id", "table", "state", "status", "pid", "metrics_addr", "restarts", "lag", "started", "last_error", "credentials_expire", "created"}, Rows: [][]string{}}
	for _, q := range qs {
		_, path, err := r.queryTarget(q.ID)
		if err != nil {
			return Result{}, err
		}
		d, err := r.allowed(policy.ActionMonitor, path)
		if err != nil {
			return Result{}, err
		}
		if !d.Allow {
			continue
		}
		var st QueryStatus
		known := false
		if r.e.monitor != nil {
			st, known = r.e.monitor.QueryStatus(q.ID)
		}
		row := []string{q.ID, q.Table, string(q.State), "", "", "", "", "", "", "", "", ts(q.Created)}
		if known {
			row[3], row[5], row[6], row[9] = st.State, st.MetricsAddr, strconv.Itoa(st.Restarts), st.LastError
			if st.PID > 0 {
				row[4] = strconv.Itoa(st.PID)
			}
			if st.Lag >= 0 {
				row[7] = strconv.FormatInt(st.Lag, 10)
			}
			if !st.Started.IsZero() {
				row[8] = ts(st.Started)
			}
			if !st.CredentialsExpire.IsZero() {
				row[10] = ts(st.CredentialsExpire)
			}
		}
		res.Rows = append(res.Rows, row)
	}
	res.Message = fmt.Sprintf("%d queries", len(res.Rows))
	return res, nil
}
