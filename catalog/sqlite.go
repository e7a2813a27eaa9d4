package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeoutMS is how long an SQLite connection waits for a lock held by
// another connection or process before giving up with SQLITE_BUSY.
const busyTimeoutMS = 10000

// sqliteBackend keeps two pools on one database file: writer connections
// whose transactions BEGIN IMMEDIATE (so a writer takes the write lock up
// front and never fails to upgrade a read lock; the Catalog runs one write
// transaction at a time, the second connection serves statement
// preparation), and a pool of readers, which in WAL mode run concurrently
// with the writer. Neither pool may be capped at the number of transactions
// in flight: Prepare needs a connection of its own.
type sqliteBackend struct {
	writer *sql.DB
	reader *sql.DB
}

// OpenSQLite opens (creating if needed) the catalog in the SQLite file at
// path, in WAL mode with foreign keys on and a busy timeout, and applies any
// pending migrations.
func OpenSQLite(path string) (*Catalog, error) {
	b, err := openSQLiteBackend(path)
	if err != nil {
		return nil, err
	}
	c, err := New(context.Background(), b)
	if err != nil {
		b.Close()
		return nil, err
	}
	return c, nil
}

func openSQLiteBackend(path string) (*sqliteBackend, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("catalog: invalid SQLite path %q: must be a file name without ? or #", path)
	}
	if err := ownerOnly(path); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	params := fmt.Sprintf("_pragma=foreign_keys(1)&_pragma=busy_timeout(%d)&_pragma=synchronous(NORMAL)", busyTimeoutMS)
	open := func(extra string) (*sql.DB, error) {
		return sql.Open("sqlite", "file:"+path+"?"+params+extra)
	}
	writer, err := open("&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(2)
	// The first connection creates the file and switches it to WAL.
	var mode string
	if err := writer.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		writer.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	if mode != "wal" {
		writer.Close()
		return nil, fmt.Errorf("catalog: open %s: journal mode is %q, want wal", path, mode)
	}
	reader, err := open("")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", path, err)
	}
	reader.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	return &sqliteBackend{writer: writer, reader: reader}, nil
}

func (b *sqliteBackend) Begin(ctx context.Context, write bool) (*sql.Tx, error) {
	if write {
		return b.writer.BeginTx(ctx, nil)
	}
	return b.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
}

func (b *sqliteBackend) Prepare(ctx context.Context, write bool, query string) (*sql.Stmt, error) {
	if write {
		return b.writer.PrepareContext(ctx, query)
	}
	return b.reader.PrepareContext(ctx, query)
}

func (b *sqliteBackend) Rebind(query string) string { return query }

func (b *sqliteBackend) Retryable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

func (b *sqliteBackend) UniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// LockMigrations needs no lock: each migration step runs in a write
// transaction, which BEGIN IMMEDIATE makes exclusive, and checks
// schema_migrations inside it.
func (b *sqliteBackend) LockMigrations(context.Context) (func() error, error) {
	return func() error { return nil }, nil
}

func (b *sqliteBackend) Close() error {
	return errors.Join(b.reader.Close(), b.writer.Close())
}

// ownerOnly creates the database file at path with mode 0600 if it does
// not exist, and takes group and other permissions off an existing one and
// its -wal and -shm files: SQLite creates the WAL and shared-memory files
// with the database file's permissions, and the catalog holds token
// hashes and store properties.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("make %s owner-only: %w", p, err)
			}
		}
	}
	return nil
}
