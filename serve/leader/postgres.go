package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockKey is the key of the session advisory lock the leader of a
// PostgreSQL catalog holds ("sluicel" in ASCII; the catalog's migration
// lock is "sluice").
const LockKey int64 = 0x736c756963656c

// resignTimeout bounds giving leadership up when the server stops.
const resignTimeout = 5 * time.Second

// Postgres elects the leader with a PostgreSQL session advisory lock
// (pg_try_advisory_lock) held on a connection of its own: the replica whose
// session holds the lock leads. A follower tries again every Retry. The
// leader checks its connection every Check (a query with a deadline of
// Check): when that fails the term is lost at once, and the connection is
// closed, which ends the session and so the lock. A leader that dies
// closes its connection with it, and PostgreSQL releases the lock as soon
// as it sees the session end; a follower takes over within Retry.
type Postgres struct {
	// Dial opens the elector's own connection to the catalog's database.
	Dial func(ctx context.Context) (*pgx.Conn, error)
	// Key is the lock's key (default LockKey).
	Key int64
	// Retry is how often a follower tries the lock (default 1s).
	Retry time.Duration
	// Check is how often, and within how long, the leader's connection
	// must answer (default 1s).
	Check time.Duration
	Log   *slog.Logger
}

func (p *Postgres) defaults() (key int64, retry, check time.Duration, log *slog.Logger) {
	key, retry, check, log = p.Key, p.Retry, p.Check, p.Log
	if key == 0 {
		key = LockKey
	}
	if retry <= 0 {
		retry = time.Second
	}
	if check <= 0 {
		check = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return
}

// Campaign implements Elector.
func (p *Postgres) Campaign(ctx context.Context) (Term, error) {
	key, retry, check, log := p.defaults()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	failing := false
	for {
		if conn == nil {
			c, err := p.Dial(ctx)
			if err != nil && ctx.Err() == nil && !failing {
				log.Warn("leader election: cannot reach the catalog database; retrying", "every", retry, "err", err)
				failing = true
			}
			if err == nil {
				conn, failing = c, false
			}
		}
		if conn != nil {
			var got bool
			qctx, cancel := context.WithTimeout(ctx, check+retry)
			err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got)
			cancel()
			switch {
			case err != nil:
				if ctx.Err() == nil {
					log.Warn("leader election: lock query failed; reconnecting", "err", err)
				}
				conn.Close(context.Background())
				conn = nil
			case got:
				t := &pgTerm{conn: conn, key: key, check: check, log: log, lost: make(chan struct{}), stop: make(chan struct{})}
				conn = nil // the term's now
				t.wg.Add(1)
				go t.watch()
				return t, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retry):
		}
	}
}

// pgTerm is leadership by the lock held on conn.
type pgTerm struct {
	conn  *pgx.Conn
	key   int64
	check time.Duration
	log   *slog.Logger

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{} // closed by Resign: watch returns
	wg       sync.WaitGroup
	mu       sync.Mutex // the connection's: watch's pings and Resign's unlock
}

func (t *pgTerm) Lost() <-chan struct{} { return t.lost }

func (t *pgTerm) markLost() { t.lostOnce.Do(func() { close(t.lost) }) }

// watch pings the connection every check; the first failure loses the
// term and closes the connection (ending the session and its lock).
func (t *pgTerm) watch() {
	defer t.wg.Done()
	tick := time.NewTicker(t.check)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), t.check)
		err := t.conn.Ping(ctx)
		cancel()
		if err != nil {
			t.log.Error("leader election: the lock's connection failed: leadership lost", "err", err)
			t.markLost()
			t.conn.Close(context.Background())
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
	}
}

// Resign releases the lock and closes the connection.
func (t *pgTerm) Resign(ctx context.Context) error {
	close(t.stop)
	t.wg.Wait()
	t.markLost()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn.IsClosed() {
		return nil
	}
	var released bool
	err := t.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, t.key).Scan(&released)
	if err == nil && !released {
		err = errors.New("the lock was not held")
	}
	if err != nil {
		err = fmt.Errorf("release the leader lock: %w", err)
	}
	return errors.Join(err, t.conn.Close(ctx))
}
