package catalog

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotShared is returned by Dial and WatchChanges for a catalog that only
// one server can use (SQLite).
var ErrNotShared = errors.New("catalog: this catalog is not shared (SQLite): only PostgreSQL has connections of its own and change notifications")

// changeNotifier is a backend whose write transactions tell other
// servers of the change (PostgreSQL's NOTIFY).
type changeNotifier interface {
	notifyChange(ctx context.Context, tx *sql.Tx) error
}

// dialer is a backend that opens connections of their own.
type dialer interface {
	dial(ctx context.Context) (*pgx.Conn, error)
}

// Shared reports whether several servers may use this catalog at once
// (PostgreSQL): then each runs as a replica, one of them leading.
func (c *Catalog) Shared() bool {
	_, ok := c.b.(dialer)
	return ok
}

// Dial opens a PostgreSQL connection of its own to the catalog's
// database, for the leader lock and for LISTEN; ErrNotShared on SQLite.
// The caller closes it.
func (c *Catalog) Dial(ctx context.Context) (*pgx.Conn, error) {
	d, ok := c.b.(dialer)
	if !ok {
		return nil, ErrNotShared
	}
	return d.dial(ctx)
}

// watchRetry is how long WatchChanges waits before reconnecting.
const watchRetry = time.Second

// WatchChanges calls changed after every change any server commits to the
// catalog (LISTEN on ChangesChannel, on a connection of its own), and once
// after each (re)connection, since changes made while it was not listening
// are not replayed: a caller refreshes what it keeps each time. It returns
// when ctx ends; ErrNotShared on SQLite, where this server makes every
// change itself. changed must not block for long.
func (c *Catalog) WatchChanges(ctx context.Context, changed func(), log *slog.Logger) error {
	if !c.Shared() {
		return ErrNotShared
	}
	failing := false
	for ctx.Err() == nil {
		err := c.listen(ctx, changed)
		if ctx.Err() != nil {
			break
		}
		if !failing {
			log.Warn("catalog change notifications interrupted; reconnecting", "every", watchRetry, "err", err)
		}
		failing = true
		select {
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
	return nil
}

// listen is one connection of WatchChanges.
func (c *Catalog) listen(ctx context.Context, changed func()) error {
	conn, err := c.Dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+ChangesChannel); err != nil {
		return err
	}
	changed()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		changed()
	}
}
