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
// the committed statements together with that error, so a client can tell
// how far the script got. (A script is not one transaction: DDL over many
// objects would hold the catalog's write lock for the whole script.)
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
// The check comes before existence: a path whose tail does not exist is
// sent with bare nodes (no grants) for the missing part, so a principal
// without the privilege is denied whether or not the object exists, and
// learns nothing about it; an allowed one then gets the catalog's "does not
// exist" (or, with IF EXISTS, a skip).
//
// The statements and their actions:
//
//	CREATE DATABASE d             CREATE on [database d]: top level, admin only
//	CREATE SCHEMA d.s             CREATE on [database d, schema s]: CREATE on d
//	CREATE USER u / ROLE r        CREATE on [user u] / [role r]: admin only
//	DROP DATABASE|SCHEMA|USER|ROLE  DROP on the object (DROP, OWNERSHIP or ALL)
//	GRANT|REVOKE ROLE r ...       GRANT on [role r] (its owner, ALL, or admin)
//	GRANT|REVOKE privs ON ...     GRANT on the object; with OWNERSHIP among
//	                              them, OWNERSHIP (a transfer: the object's
//	                              owner becomes the role)
//	SHOW DATABASES                lists the databases the principal has USAGE
//	                              on (one decision per database)
//	SHOW SCHEMAS [IN d]           USAGE on d (denied: error), then lists the
//	                              schemas with USAGE (one decision each)
//	SHOW GRANTS ON kind x         DESCRIBE on x
//	SHOW GRANTS TO ROLE r|USER u  DESCRIBE on [role r] / [user u], except for
//	                              the principal itself and its own roles
//	SHOW GRANTS                   the grants of the principal's roles; no
//	                              decision (it reveals nothing about others)
//	SHOW QUERIES                  lists the queries with MONITOR on the table
//	                              each writes (one decision per query), with
//	                              their worker's state (WithQueryMonitor)
//	PAUSE|RESUME|TERMINATE QUERY q  OPERATE on the table q writes; sets the
//	                              query's desired state, which the supervisor
//	                              applies once the statement commits
//
// A retried catalog transaction (transient SQLite conflict) decides again
// against the state it then sees, and each attempt is audited.
//
// Objects created here are owned by the catalog's admin role: a principal has
// no current role yet to own them with.
package exec

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/sqlparse"
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
}

// DeniedError is returned when the policy denies a statement. Reason is
// the policy's reason: the missing privilege and the node, e.g.
// "missing USAGE on database sales".
type DeniedError struct {
	Statement string
	Reason    string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("permission denied: %s (statement: %s)", e.Reason, e.Statement)
}

// UnsupportedError is returned for a statement the server parses but does
// not execute yet.
type UnsupportedError struct {
	Statement string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("statement not supported by this server yet: %s", e.Statement)
}

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
	monitor       QueryMonitor // nil without a supervisor
}

// New returns an Executor over a catalog and a policy engine.
func New(cat *catalog.Catalog, pol *policy.Engine, opts ...Option) *Executor {
	e := &Executor{cat: cat, pol: pol, maxStatements: DefaultMaxStatements, warehouse: "warehouse"}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Execute parses sql and runs its statements in order as principal; see the
// package documentation for the semantics. It returns the results of the
// statements that committed, and the error that stopped the script, if any:
// a *sqlparse.ParseError, *UnsupportedError or *DeniedError, a catalog error
// (*catalog.Error, for errors.Is with catalog.ErrNotFound etc.) or an
// internal one.
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
			return nil, &UnsupportedError{Statement: s.String()}
		}
	}
	results := make([]Result, 0, len(stmts))
	for _, s := range stmts {
		var res Result
		err := e.cat.Update(ctx, func(tx *catalog.Tx) error {
			r := &run{e: e, ctx: ctx, tx: tx, who: principal, stmt: s}
			var err error
			res, err = r.exec()
			return err
		})
		if err != nil {
			return results, err
		}
		res.Statement = s.String()
		results = append(results, res)
		if e.monitor != nil && changesQueries(s) {
			e.monitor.QueriesChanged()
		}
	}
	return results, nil
}

// supported reports whether the executor implements s.
func supported(s sqlparse.Statement) bool {
	switch s := s.(type) {
	case *sqlparse.CreateObject:
		switch s.Kind {
		case sqlparse.KindDatabase, sqlparse.KindSchema, sqlparse.KindUser, sqlparse.KindRole, sqlparse.KindStore:
			return true
		}
	case *sqlparse.CreateStream, *sqlparse.CreateTable:
		return true
	case *sqlparse.Drop:
		switch s.Kind {
		case sqlparse.KindDatabase, sqlparse.KindSchema, sqlparse.KindUser, sqlparse.KindRole, sqlparse.KindStore, sqlparse.KindStream:
			return true
		}
	case *sqlparse.Show:
		return s.What == "DATABASES" || s.What == "SCHEMAS" || s.What == "STREAMS" || s.What == "TABLES" || s.What == "QUERIES"
	case *sqlparse.ShowGrants:
		return s.ToKind != sqlparse.KindRecipient && (s.On == nil || s.OnKind == sqlparse.KindDatabase || s.OnKind == sqlparse.KindSchema)
	case *sqlparse.GrantRole, *sqlparse.QueryControl:
		return true
	case *sqlparse.GrantPrivileges:
		return s.GranteeKind == sqlparse.KindRole && (s.OnKind == sqlparse.KindDatabase || s.OnKind == sqlparse.KindSchema)
	}
	return false
}
