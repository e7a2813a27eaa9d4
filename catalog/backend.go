package catalog

import (
	"context"
	"database/sql"
)

// Backend is the persistence the catalog needs: SQL transactions over the
// catalog's tables. The catalog writes portable SQL (TEXT, BIGINT, INTEGER
// columns; `?` placeholders; WITH RECURSIVE; foreign keys with ON DELETE
// CASCADE), so a PostgreSQL backend only has to open connections, rebind
// placeholders to $n and classify its errors.
type Backend interface {
	// Begin starts a transaction. write is false for read-only
	// transactions, which a backend may run on a separate pool or snapshot.
	Begin(ctx context.Context, write bool) (*sql.Tx, error)
	// Prepare prepares a statement on the pool that Begin(ctx, write) draws
	// from. The catalog caches the result and binds it to each transaction
	// with sql.Tx.StmtContext, so a hot query is parsed once per connection
	// rather than once per call.
	Prepare(ctx context.Context, write bool, query string) (*sql.Stmt, error)
	// Rebind rewrites a query written with `?` placeholders into the
	// backend's dialect.
	Rebind(query string) string
	// Retryable reports whether a failed transaction may succeed if run
	// again (SQLite busy, PostgreSQL serialization failure).
	Retryable(err error) bool
	// UniqueViolation reports whether err is a unique-constraint violation.
	UniqueViolation(err error) bool
	// LockMigrations holds off other processes' migrations of the same
	// database until the returned function is called, so that servers
	// starting together apply each migration once.
	LockMigrations(ctx context.Context) (unlock func() error, err error)
	// Close releases the backend's connections.
	Close() error
}
