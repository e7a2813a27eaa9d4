package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL error codes the catalog classifies.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
)

// migrationLockKey is the key of the advisory lock servers hold while they
// migrate the catalog: the first to start migrates, the others wait and
// then find nothing left to do. ("sluice" in ASCII.)
const migrationLockKey int64 = 0x736c75696365

// postgresBackend is the catalog on PostgreSQL, through pgx's database/sql
// driver (the Backend interface is database/sql's transactions and
// prepared statements, which pgxpool's native API would not give). Write
// transactions are SERIALIZABLE, so DDL from several servers on one
// database behaves as if run one at a time: a transaction that would break
// that fails with a serialization failure, which is Retryable. Read
// transactions are REPEATABLE READ READ ONLY: one snapshot, and they never
// fail on a conflict.
type postgresBackend struct {
	db  *sql.DB
	cfg *pgx.ConnConfig // for connections of their own (Dial)
}

// OpenPostgres opens the catalog in the PostgreSQL database at connURL
// (postgres://user@host:port/database?sslmode=...) and applies pending
// migrations. password, when not empty, is the password (else pgx's
// defaults apply: PGPASSWORD, ~/.pgpass). Neither the password nor the URL's
// query is ever logged or put in an error.
func OpenPostgres(ctx context.Context, connURL, password string) (*Catalog, error) {
	b, err := openPostgresBackend(ctx, connURL, password)
	if err != nil {
		return nil, err
	}
	c, err := New(ctx, b)
	if err != nil {
		b.Close()
		return nil, err
	}
	return c, nil
}

// RedactURL is a catalog URL as it may be shown: scheme, user, host and
// database, without password and query.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !IsPostgresURL(s) {
		return "(not a postgres:// URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// IsPostgresURL reports whether s is a postgres:// or postgresql:// URL.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func openPostgresBackend(ctx context.Context, connURL, password string) (*postgresBackend, error) {
	shown := RedactURL(connURL)
	if !IsPostgresURL(connURL) {
		return nil, fmt.Errorf("catalog: the PostgreSQL catalog needs a postgres:// URL (postgres://user@host:5432/database?sslmode=verify-full)")
	}
	cfg, err := pgx.ParseConfig(connURL)
	if err != nil {
		// pgx's message may quote the URL, password and all: leave it out.
		return nil, fmt.Errorf("catalog: %s is not a PostgreSQL URL (want postgres://user@host:5432/database?sslmode=verify-full)", shown)
	}
	if password != "" {
		cfg.Password = password
	}
	db := stdlib.OpenDB(*cfg)
	// Writes run one at a time per process (Catalog.writeMu); reads run
	// concurrently, and Prepare needs a connection of its own.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxLifetime(30 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: connect to %s: %w", shown, err)
	}
	var collate string
	if err := db.QueryRowContext(pctx, `SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&collate); err == nil &&
		collate != "C" && collate != "POSIX" {
		slog.Warn("the catalog database does not use the C collation: listings sort by its collation, not bytewise as with SQLite (create it with LC_COLLATE 'C')",
			"catalog", shown, "collation", collate)
	}
	return &postgresBackend{db: db, cfg: cfg}, nil
}

func (b *postgresBackend) Begin(ctx context.Context, write bool) (*sql.Tx, error) {
	if write {
		return b.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	}
	return b.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
}

func (b *postgresBackend) Prepare(ctx context.Context, _ bool, query string) (*sql.Stmt, error) {
	return b.db.PrepareContext(ctx, query)
}

// Rebind numbers the `?` placeholders $1, $2, ..., leaving string literals
// and quoted identifiers alone.
func (b *postgresBackend) Rebind(query string) string {
	var sb strings.Builder
	sb.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(ch)
	}
	return sb.String()
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func (b *postgresBackend) Retryable(err error) bool {
	c := pgCode(err)
	return c == pgSerializationFailure || c == pgDeadlockDetected
}

func (b *postgresBackend) UniqueViolation(err error) bool { return pgCode(err) == pgUniqueViolation }

// LockMigrations takes the session advisory lock migrationLockKey on a
// connection of its own; servers starting together wait for each other
// here, and each migration runs once.
func (b *postgresBackend) LockMigrations(ctx context.Context) (func() error, error) {
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: migration lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		conn.Close()
		return nil, fmt.Errorf("catalog: migration lock: %w", err)
	}
	return func() error {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)
		return errors.Join(err, conn.Close())
	}, nil
}

func (b *postgresBackend) Close() error { return b.db.Close() }

// ChangesChannel is the PostgreSQL notification channel on which every
// committed write transaction of the catalog notifies (LISTEN/NOTIFY), so
// that the servers sharing the catalog learn of a change at once.
const ChangesChannel = "sluice_catalog"

// notifyChange queues the notification of this transaction's change; it
// is delivered when (and only if) the transaction commits.
func (b *postgresBackend) notifyChange(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, ChangesChannel)
	return err
}

// dial opens a connection of its own to the catalog's database, outside
// the pool.
func (b *postgresBackend) dial(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, b.cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("catalog: connect: %w", err)
	}
	return c, nil
}
