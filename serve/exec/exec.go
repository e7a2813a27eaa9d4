// Package exec runs SQL statements against the catalog on behalf of an
// authenticated principal: it parses a script, asks the policy engine about
// each statement and applies the allowed ones to the catalog.
//
// # Semantics of a script
//
// A script is parsed whole first: a syntax error anywhere returns the
// *sqlparse.ParseError (with line:col) and runs nothing. A script holding a
// statement this server does not implement yet returns *UnsupportedError
// and runs nothing either: that is known before anything runs.
//
// The statements then run in order, each in its own catalog transaction
// (catalog.Update), which also holds the authorization: the path and grants
// the policy sees are the ones the statement then writes against, with no
// window between check and change. A statement either commits entirely or
// not at all. The first statement that is denied (*DeniedError) or fails
// stops the script: the statements before it stay committed, it is rolled
// back, the statements after it do not run. Execute returns the results of
// the committed statements together with that error, wrapped in a
// *StatementError that says which statement it was (number, position,
// SQL) and how many did not run, so a client can tell how far the script
// got. A statement whose commit is followed by more work (DROP TABLE ...
// PURGE deleting files) that fails is the one exception to "rolled back":
// its StatementError is Committed.
//
// A script is not one transaction, and cannot honestly be: statements have
// effects outside the catalog that a rollback would not undo (a CREATE
// TABLE ... AS SELECT starts a worker once committed, CREATE RECIPIENT
// hands out a profile with a live token, PURGE deletes files, LOCATION
// reads storage outside the catalog's lock), and DDL over many objects
// would hold the catalog's write lock for the whole script.
//
// # Authorization
//
// Every statement but SHOW GRANTS of one's own roles makes at least one
// policy decision, audited by the engine's sink. The request carries the
// statement's action (see docs/policy.md), the path from the root to the
// target with the grants made on each node, and the principal's effective
// roles as the catalog expands them. An object's owner (catalog.Node.Owner)
// is passed as an OWNERSHIP grant to the owning role: ownership is recorded
// as an owner, not as a grant row, and the policy only reads grants.
//
// The check comes before existence: a path whose tail does not exist, or
// names an object of another kind (DROP TABLE of a stream), is sent with
// bare nodes (no grants) for that part, so a principal without the
// privilege is denied whether or not the object exists, and learns nothing
// about it; an allowed one then gets the catalog's "does not exist" (or,
// with IF EXISTS, a skip). Checks that depend on the statement alone (a
// privilege that does not apply to the kind, USAGE on a table) come first.
//
// The statements and their actions:
//
//	CREATE DATABASE d             CREATE on [database d]: top level, admin only
//	CREATE SCHEMA d.s             CREATE on [database d, schema s]: CREATE on d
//	CREATE USER|ROLE|STORE x      CREATE on [user|role|store x]: admin only
//	CREATE STREAM d.s.x           CREATE on [d, s, stream x]: CREATE on s
//	CREATE TABLE d.s.t AS SELECT  CREATE on [d, s, table t], then SELECT on
//	                              the stream it reads
//	CREATE TABLE d.s.t LOCATION   CREATE on [d, s, table t], decided twice:
//	                              before the location is read (so a denied
//	                              principal causes no storage request) and in
//	                              the transaction that registers the table
//	DROP <kind> x                 DROP on the object (DROP, OWNERSHIP or ALL)
//	GRANT|REVOKE ROLE r ...       GRANT on [role r] (its owner, ALL, or admin)
//	GRANT|REVOKE privs ON ...     GRANT on the database, schema, stream,
//	                              table, share or recipient (USAGE on a
//	                              recipient lets a role grant it shares);
//	                              with OWNERSHIP among them, OWNERSHIP
//	                              (a transfer: the object's owner becomes the
//	                              role)
//	DESCRIBE [kind] x             DESCRIBE on the object (held through ALL or
//	                              OWNERSHIP); an unqualified name without a
//	                              kind is decided on [database x] and on each
//	                              other top-level object named x, and if all
//	                              are denied the database's reason is given,
//	                              whatever exists
//	ALTER USER u ROTATE TOKEN     none for u itself; ALTER on [user u] for
//	                              anyone else (admin)
//	SHOW DATABASES                lists the databases the principal has USAGE
//	                              on (one decision per database)
//	SHOW SCHEMAS [IN d]           USAGE on d (denied: error), then lists the
//	                              schemas with USAGE (one decision each)
//	SHOW STREAMS|TABLES [IN d.s]  as SHOW SCHEMAS, USAGE on each schema
//	SHOW TABLE STATUS [IN d.s] [LIKE p]  as SHOW TABLES, with the upkeep
//	                              loop's state (WithTableMonitor)
//	ALTER TABLE t SET|UNSET TBLPROPERTIES  ALTER on the table; upkeep
//	                              properties only, checked (see upkeep.go)
//	SHOW STORES|USERS|ROLES       lists those the principal may DESCRIBE
//	                              (one decision each); a store's secret
//	                              properties are left out (see show.go)
//	SHOW GRANTS ON kind x         DESCRIBE on x
//	SHOW GRANTS TO ROLE r|USER u  DESCRIBE on [role r] / [user u], except for
//	                              the principal itself and its own roles
//	SHOW GRANTS                   the grants of the principal's roles; no
//	                              decision (it reveals nothing about others)
//	SHARE and RECIPIENT statements  see shares.go; CREATE RECIPIENT and ROTATE
//	                              TOKEN return the recipient's Profile once
//	SHOW QUERIES                  lists the queries with MONITOR on the table
//	                              each writes (one decision per query), with
//	                              their worker's state (WithQueryMonitor)
//	PAUSE|RESUME|TERMINATE QUERY q  OPERATE on the table q writes (a query
//	                              that does not exist: a bare query node;
//	                              one whose table was dropped: a bare table
//	                              node, even if a new table has the name);
//	                              sets the query's desired state, which the
//	                              supervisor applies once the statement
//	                              commits. The id q is written unquoted,
//	                              'single-' or "double-quoted" (as for
//	                              DESCRIBE QUERY)
//
// A retried catalog transaction (transient SQLite conflict) decides again
// against the state it then sees, and each attempt is audited.
//
// # Tables, streams and storage
//
// CREATE TABLE ... LOCATION 'uri' takes file:///absolute/path,
// s3://bucket/prefix or an absolute directory path, recorded as its
// file:// URI (no "." or ".." component, no control character; a relative
// path is refused, by the parser already: relative to the server's working
// directory would mean nothing to the client), loads the Delta log there and refuses a location without one, or with a
// protocol Sluice cannot read (deltalog.CheckReadable); the table's
// columns are its schema's. The storage request runs between the two
// decisions, outside the catalog's write lock, bounded by StorageTimeout.
//
// DROP TABLE removes the table and its grants and marks the query writing
// it terminated (the supervisor reconciles on that state); its files stay.
// DROP TABLE ... PURGE also deletes every object under the table's
// location, once the drop has committed (even if the client goes away):
// if that fails, the error says so and what to delete by hand. The worker
// of the terminated query stops asynchronously; one still flushing when
// the purge runs can leave a last file, which a second purge cannot reach
// (the table is gone): stop the query first (TERMINATE QUERY) to be sure.
// A table registered with LOCATION is never purged (Sluice did not create
// its files), nor is a location that is a root; a query's table location
// is checked at CREATE TABLE like a LOCATION, or as a directory path below
// a root. DROP STREAM is refused while a query that is not terminated
// reads the stream (the error names the queries).
//
// DESCRIBE never shows a store's (or any object's) secret properties
// (catalog.IsSecretProperty), only SecretPlaceholder, nor token hashes: a
// recipient's tokens are listed by creation and expiry.
//
// Objects created here are owned by the catalog's admin role: a principal has
// no current role yet to own them with.
package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/policy"
)

// Principal is the authenticated party running statements. Only users run
// SQL for now.
type Principal struct {
	Kind policy.PrincipalKind
	Name string
}

// Result is the outcome of one statement: a message ("database sales
// created") and, for SHOW and CREATE USER, a table of strings.
type Result struct {
	// Statement is the statement, as canonical SQL.
	Statement string     `json:"statement"`
	Columns   []string   `json:"columns,omitempty"`
	Rows      [][]string `json:"rows,omitempty"`
	Message   string     `json:"message,omitempty"`
	// Profile is the Delta Sharing profile (see Profile) issued by CREATE
	// RECIPIENT and ALTER RECIPIENT ... ROTATE TOKEN, shown once.
	Profile json.RawMessage `json:"profile,omitempty"`
}

// DeniedError is returned when the policy denies a statement. Reason is
// the policy's reason: the missing privilege and the node, e.g.
// "missing USAGE on database sales". Statement is the statement as
// canonical SQL, cut after sqlparse.MaxExcerpt characters (see
// sqlparse.Excerpt).
type DeniedError struct {
	Statement string
	Reason    string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("permission denied: %s (statement: %s)", e.Reason, e.Statement)
}

// UnsupportedError is returned for a statement the server parses but does
// not execute yet (Statement: as in DeniedError, cut).
type UnsupportedError struct {
	Statement string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("statement not supported by this server yet: %s", e.Statement)
}

// StatementError is the error that stopped a script at one of its
// statements, once the script had begun to run: the statements before it
// committed (their results are returned with it), it did not (unless
// Committed), and the NotRun statements after it did not run. It wraps
// the statement's error (a *DeniedError, a *catalog.Error, ...), whose
// message it keeps.
type StatementError struct {
	Index     int          // the failing statement's number in the script, from 1
	Count     int          // the statements in the script
	Statement string       // the failing statement, as canonical SQL
	Pos       sqlparse.Pos // where it starts in the script
	// Committed is set when the statement itself committed and what it
	// does after its commit failed (DROP TABLE ... PURGE deleting the
	// files): its result is then the last one returned.
	Committed bool
	Err       error
}

func (e *StatementError) Error() string { return e.Err.Error() }

func (e *StatementError) Unwrap() error { return e.Err }

// NotRun is the number of statements after the failing one: none of them
// ran.
func (e *StatementError) NotRun() int { return e.Count - e.Index }

// ErrTooManyStatements is returned for a script longer than the executor's
// limit (WithMaxStatements).
var ErrTooManyStatements = errors.New("too many statements in one script")

// DefaultMaxStatements is the default limit on statements per script.
const DefaultMaxStatements = 1000

// Option configures an Executor.
type Option func(*Executor)

// WithMaxStatements limits the statements of one script (n <= 0: the
// default, DefaultMaxStatements).
func WithMaxStatements(n int) Option {
	return func(e *Executor) {
		if n > 0 {
			e.maxStatements = n
		}
	}
}

// WithWarehouse sets the URI under which tables created by queries get
// their default location, <warehouse>/<database>/<schema>/<table>
// (default: the relative directory "warehouse").
func WithWarehouse(uri string) Option {
	return func(e *Executor) { e.warehouse = strings.TrimRight(uri, "/") }
}

// Executor runs statements. It is safe for concurrent use.
type Executor struct {
	cat           *catalog.Catalog
	pol           *policy.Engine
	maxStatements int
	warehouse     string
	storeOpts     []objstore.OpenOption
	publicURL     string       // see WithPublicURL
	monitor       QueryMonitor // nil without a supervisor
	tables        TableMonitor // nil without table upkeep
}

// New returns an Executor over a catalog and a policy engine.
func New(cat *catalog.Catalog, pol *policy.Engine, opts ...Option) *Executor {
	e := &Executor{cat: cat, pol: pol, maxStatements: DefaultMaxStatements, warehouse: "warehouse", publicURL: DefaultPublicURL}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Execute parses sql and runs its statements in order as principal; see the
// package documentation for the semantics. It returns the results of the
// statements that committed, and the error that stopped the script, if any:
// a *sqlparse.ParseError, *UnsupportedError or ErrTooManyStatements before
// anything ran; once statements run, a *StatementError wrapping a
// *DeniedError, a catalog error (*catalog.Error, for errors.Is with
// catalog.ErrNotFound etc.) or an internal one.
func (e *Executor) Execute(ctx context.Context, principal Principal, sql string) ([]Result, error) {
	if principal.Kind != policy.PrincipalUser || principal.Name == "" {
		return nil, fmt.Errorf("exec: only a named user can run statements, not %s %q", principal.Kind, principal.Name)
	}
	stmts, err := sqlparse.Parse(sql)
	if err != nil {
		return nil, err // *sqlparse.ParseError, as is
	}
	if len(stmts) > e.maxStatements {
		return nil, fmt.Errorf("%w: %d (at most %d)", ErrTooManyStatements, len(stmts), e.maxStatements)
	}
	for _, s := range stmts {
		if !supported(s) {
			return nil, &UnsupportedError{Statement: sqlparse.Excerpt(s)}
		}
	}
	results := make([]Result, 0, len(stmts))
	for i, s := range stmts {
		failed := func(err error, committed bool) ([]Result, error) {
			return results, &StatementError{Index: i + 1, Count: len(stmts), Statement: s.String(), Pos: s.Position(), Committed: committed, Err: err}
		}
		pre, err := e.prepare(ctx, principal, s)
		if err != nil {
			return failed(err, false)
		}
		var (
			res Result
			r   *run
		)
		err = e.cat.Update(ctx, func(tx *catalog.Tx) error {
			r = &run{e: e, ctx: ctx, tx: tx, who: principal, stmt: s, pre: pre}
			var err error
			res, err = r.exec()
			return err
		})
		if err != nil {
			return failed(err, false)
		}
		res.Statement = s.String()
		results = append(results, res)
		// The supervisor hears of a committed change before any follow-up
		// work (a PURGE) that may still fail.
		if e.monitor != nil && changesQueries(s) {
			e.monitor.QueriesChanged()
		}
		if r.after != nil {
			if err := r.after(ctx); err != nil {
				return failed(err, true)
			}
		}
	}
	return results, nil
}

// supported reports whether the executor implements s.
func supported(s sqlparse.Statement) bool {
	switch s := s.(type) {
	case *sqlparse.CreateObject:
		switch s.Kind {
		case object.KindDatabase, object.KindSchema, object.KindUser, object.KindRole, object.KindStore,
			object.KindShare, object.KindRecipient:
			return true
		}
	case *sqlparse.CreateStream, *sqlparse.CreateTable, *sqlparse.AlterShare, *sqlparse.AlterTable:
		return true
	case *sqlparse.Drop:
		switch s.Kind {
		case object.KindDatabase, object.KindSchema, object.KindUser, object.KindRole, object.KindStore, object.KindStream,
			object.KindTable, object.KindShare, object.KindRecipient:
			return true
		}
	case *sqlparse.Describe, *sqlparse.RotateToken, *sqlparse.QueryControl, *sqlparse.AlterRecipient:
		return true
	case *sqlparse.Show:
		switch s.What {
		case "DATABASES", "SCHEMAS", "STREAMS", "TABLES", "TABLE STATUS", "QUERIES", "SHARES", "RECIPIENTS", "STORES", "USERS", "ROLES":
			return true
		}
	case *sqlparse.ShowGrants, *sqlparse.GrantRole, *sqlparse.GrantPrivileges:
		return true
	}
	return false
}
