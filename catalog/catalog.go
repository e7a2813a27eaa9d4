package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sluice-io/sluice/catalog/object"
)

// maxAttempts bounds how often Update re-runs a transaction that failed
// because the backend was busy (another process holding the SQLite lock past
// the busy timeout, a PostgreSQL serialization failure or deadlock).
const maxAttempts = 8

// Catalog is the catalog over a Backend. It is safe for concurrent use.
type Catalog struct {
	b Backend

	mu          sync.RWMutex
	now         func() time.Time
	maxTokenTTL time.Duration // 0: recipient tokens may live as long as asked

	// writeMu runs this process's write transactions one at a time: DDL is
	// rare, and queuing here is cheaper than contending for the database
	// lock. It orders nothing across processes and needs not: other
	// servers' transactions are the backend's to order (SQLite's busy
	// timeout; PostgreSQL's SERIALIZABLE, whose conflicts Update retries).
	writeMu sync.Mutex

	stmtMu sync.Mutex
	stmts  map[stmtKey]*sql.Stmt // prepared statements, by pool and query
}

type stmtKey struct {
	write bool
	query string
}

// New returns a catalog over b, applying pending migrations first.
func New(ctx context.Context, b Backend) (*Catalog, error) {
	c := &Catalog{b: b, now: time.Now, stmts: map[stmtKey]*sql.Stmt{}}
	if err := c.migrate(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the prepared statements and the backend.
func (c *Catalog) Close() error {
	c.stmtMu.Lock()
	var errs []error
	for k, s := range c.stmts {
		errs = append(errs, s.Close())
		delete(c.stmts, k)
	}
	c.stmtMu.Unlock()
	return errors.Join(append(errs, c.b.Close())...)
}

// prepared returns the catalog-wide prepared statement for query.
func (c *Catalog) prepared(ctx context.Context, write bool, query string) (*sql.Stmt, error) {
	k := stmtKey{write, query}
	c.stmtMu.Lock()
	defer c.stmtMu.Unlock()
	if s, ok := c.stmts[k]; ok {
		return s, nil
	}
	s, err := c.b.Prepare(ctx, write, query)
	if err != nil {
		return nil, err
	}
	c.stmts[k] = s
	return s, nil
}

// SetClock replaces the catalog's clock (time.Now by default), for tests of
// token expiry.
func (c *Catalog) SetClock(now func() time.Time) {
	c.mu.Lock()
	c.now = now
	c.mu.Unlock()
}

// SetMaxTokenLifetime caps the lifetime of the recipient tokens created or
// rotated from now on at d (0: no cap): a token.ttl beyond it, or none, is
// cut to d. Tokens already issued keep their expiry.
func (c *Catalog) SetMaxTokenLifetime(d time.Duration) {
	c.mu.Lock()
	c.maxTokenTTL = d
	c.mu.Unlock()
}

func (c *Catalog) maxTokenLifetime() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.maxTokenTTL
}

func (c *Catalog) clock() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.now().UTC()
}

// Update runs fn in a read-write transaction: if fn returns nil the changes
// are committed, otherwise none of them is. Run each DDL statement in one
// Update. fn may be called again if the backend reports a transient conflict,
// so it must not have effects outside tx.
//
// A transaction that still conflicts after maxAttempts runs returns an
// ErrConflict error saying so.
func (c *Catalog) Update(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		err = c.update(ctx, fn)
		if err == nil || !c.b.Retryable(err) {
			return err
		}
		// Exponential backoff with jitter, so that servers that conflicted
		// once do not meet again at the same moment.
		d := min(10*time.Millisecond<<attempt, time.Second)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d/2 + rand.N(d/2)):
		}
	}
	return &Error{Class: ErrConflict, cause: err, Msg: fmt.Sprintf(
		"the change conflicted with concurrent changes to the catalog %d times in a row (%v): run the statement again", maxAttempts, err)}
}

// View runs fn in a read-only transaction, which sees one consistent state of
// the catalog.
func (c *Catalog) View(ctx context.Context, fn func(tx *Tx) error) error {
	return c.run(ctx, false, fn)
}

func (c *Catalog) update(ctx context.Context, fn func(tx *Tx) error) error {
	return c.run(ctx, true, fn)
}

func (c *Catalog) run(ctx context.Context, write bool, fn func(tx *Tx) error) (err error) {
	if write {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
	}
	stx, err := c.b.Begin(ctx, write)
	if err != nil {
		return fmt.Errorf("catalog: begin transaction: %w", err)
	}
	t := &Tx{ctx: ctx, tx: stx, c: c, b: c.b, now: c.clock(), write: write}
	defer func() {
		if p := recover(); p != nil {
			stx.Rollback()
			panic(p)
		}
		if err != nil {
			stx.Rollback()
			return
		}
		if n, ok := c.b.(changeNotifier); ok && write && !t.migrating {
			if err = n.notifyChange(ctx, stx); err != nil {
				stx.Rollback()
				err = fmt.Errorf("catalog: notify the change: %w", err)
				return
			}
		}
		if cerr := stx.Commit(); cerr != nil {
			err = fmt.Errorf("catalog: commit: %w", cerr)
		}
	}()
	return fn(t)
}

// Tx is one catalog transaction, valid only inside the function given to
// Update or View. Its methods are the catalog's operations.
type Tx struct {
	ctx   context.Context
	tx    *sql.Tx
	c     *Catalog
	b     Backend
	stmts map[string]*sql.Stmt // this transaction's bindings of prepared statements

	migrating bool // prepare on the transaction only
	now       time.Time
	write     bool
}

// Now is the transaction's timestamp: every object created in it has this
// creation time.
func (t *Tx) Now() time.Time { return t.now }

// stmt returns q prepared and bound to this transaction.
func (t *Tx) stmt(q string) (*sql.Stmt, error) {
	if s, ok := t.stmts[q]; ok {
		return s, nil
	}
	var s *sql.Stmt
	if t.migrating {
		// Other connections cannot see tables this transaction creates.
		var err error
		if s, err = t.tx.PrepareContext(t.ctx, t.b.Rebind(q)); err != nil {
			return nil, err
		}
	} else {
		ps, err := t.c.prepared(t.ctx, t.write, t.b.Rebind(q))
		if err != nil {
			return nil, err
		}
		s = t.tx.StmtContext(t.ctx, ps)
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = s
	return s, nil
}

func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	s, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(t.ctx, args...)
}

// execDDL runs a statement without preparing it for reuse (migrations).
func (t *Tx) execDDL(q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.b.Rebind(q), args...)
}

func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(t.ctx, args...)
}

// errRow is a row whose Scan reports a preparation error, so queryRow keeps
// sql.Row's single error path.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t *Tx) queryRow(q string, args ...any) interface{ Scan(...any) error } {
	s, err := t.stmt(q)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(t.ctx, args...)
}

func newID() string { return uuid.NewString() }

// namespace is the uniqueness namespace of a kind: streams and tables share
// one per schema, users and roles one globally.
func namespace(k object.Kind) string {
	switch k {
	case object.KindStream, object.KindTable:
		return "relation"
	case object.KindUser, object.KindRole:
		return "principal"
	}
	return string(k)
}

// objRow is one row of the objects table.
type objRow struct {
	id       string
	kind     object.Kind
	name     string
	parentID string
	display  string // path in error messages (write; default name)
	owner    string // owner's name (read) or requested owner (write)
	ownerID  string
	refID    string
	created  time.Time
	body     []byte
}

// insert adds an object whose body is v (JSON). A name taken meanwhile (by
// another server's transaction: the callers check first) is an ErrExists
// error naming r.display.
func (t *Tx) insert(r objRow, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("catalog: encode %s %s: %w", r.kind, r.name, err)
	}
	if r.ownerID == "" {
		owner := r.owner
		if owner == "" {
			owner = AdminRole
		}
		role, err := t.mustFind(object.KindRole, "", owner, owner)
		if err != nil {
			return fmt.Errorf("owner of %s %s: %w", r.kind, r.name, err)
		}
		r.ownerID = role.id
	}
	_, err = t.exec(`INSERT INTO objects (id, kind, ns, parent_id, scope, name, name_key, owner_id, ref_id, created, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.id, string(r.kind), namespace(r.kind), nullable(r.parentID), r.parentID, r.name, nameKey(r.name),
		r.ownerID, nullable(r.refID), t.now.UnixNano(), string(body))
	if err != nil && t.b.UniqueViolation(err) {
		display := r.display
		if display == "" {
			display = r.name
		}
		return &Error{Class: ErrExists, Msg: fmt.Sprintf("%s %s already exists", r.kind, display), cause: err}
	}
	if err != nil {
		return fmt.Errorf("catalog: insert %s %s: %w", r.kind, r.name, err)
	}
	return nil
}

// checkFree returns an ErrExists error naming display if a kind object named
// name exists under scope.
func (t *Tx) checkFree(kind object.Kind, scope, name, display string) error {
	r, err := t.find(kind, scope, name)
	if err != nil {
		return err
	}
	if r != nil {
		return errorf(ErrExists, "%s %s already exists", r.kind, display)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const selectObj = `SELECT o.id, o.kind, o.name, COALESCE(o.parent_id, ''), COALESCE(w.name, ''), COALESCE(o.owner_id, ''),
	COALESCE(o.ref_id, ''), o.created, o.body FROM objects o LEFT JOIN objects w ON w.id = o.owner_id `

func scanObj(s interface{ Scan(...any) error }) (objRow, error) {
	var r objRow
	var kind, body string
	var created int64
	err := s.Scan(&r.id, &kind, &r.name, &r.parentID, &r.owner, &r.ownerID, &r.refID, &created, &body)
	r.kind, r.body, r.created = object.Kind(kind), []byte(body), time.Unix(0, created).UTC()
	return r, err
}

// find returns the object of kind's namespace named name under scope, or nil.
// The row's kind may differ from kind within a shared namespace (a stream
// found when looking for a table).
func (t *Tx) find(kind object.Kind, scope, name string) (*objRow, error) {
	r, err := scanObj(t.queryRow(selectObj+`WHERE o.ns = ? AND o.scope = ? AND o.name_key = ?`,
		namespace(kind), scope, nameKey(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: look up %s %s: %w", kind, name, err)
	}
	return &r, nil
}

// mustFind is find with an ErrNotFound error naming display when absent or
// of another kind.
func (t *Tx) mustFind(kind object.Kind, scope, name, display string) (*objRow, error) {
	r, err := t.find(kind, scope, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errorf(ErrNotFound, "%s %s does not exist", kind, display)
	}
	if kind != object.KindRelation && r.kind != kind && namespace(kind) != string(kind) {
		return nil, errorf(ErrInvalid, "%s is a %s, not a %s", display, r.kind, kind)
	}
	return r, nil
}

func (t *Tx) byID(id string) (*objRow, error) {
	r, err := scanObj(t.queryRow(selectObj+`WHERE o.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: look up object %s: %w", id, err)
	}
	return &r, nil
}

// list returns the objects of kind under scope, by name. A kind sharing a
// namespace with others (stream, table; user, role) filters on the kind;
// object.KindRelation returns streams and tables.
func (t *Tx) list(kind object.Kind, scope string) ([]objRow, error) {
	q := selectObj + `WHERE o.ns = ? AND o.scope = ?`
	args := []any{namespace(kind), scope}
	if kind != object.KindRelation {
		q += ` AND o.kind = ?`
		args = append(args, string(kind))
	}
	rows, err := t.query(q+` ORDER BY o.name_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list %s: %w", kind, err)
	}
	defer rows.Close()
	var out []objRow
	for rows.Next() {
		r, err := scanObj(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: list %s: %w", kind, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: list %s: %w", kind, err)
	}
	return out, nil
}

func (t *Tx) updateBody(id string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("catalog: encode object %s: %w", id, err)
	}
	if _, err := t.exec(`UPDATE objects SET body = ? WHERE id = ?`, string(body), id); err != nil {
		return fmt.Errorf("catalog: update object %s: %w", id, err)
	}
	return nil
}

func (t *Tx) deleteObj(r *objRow) error {
	if _, err := t.exec(`DELETE FROM objects WHERE id = ?`, r.id); err != nil {
		return fmt.Errorf("catalog: drop %s %s: %w", r.kind, r.name, err)
	}
	return nil
}

// count runs a COUNT query.
func (t *Tx) count(q string, args ...any) (int, error) {
	var n int
	if err := t.queryRow(q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog: count: %w", err)
	}
	return n, nil
}

func decode(r objRow, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("catalog: decode %s %s: %w", r.kind, r.name, err)
	}
	return nil
}

// createTop validates name, checks it is free at the top level and inserts
// the object with body v (whose ID and Created the caller has set).
func (t *Tx) createTop(kind object.Kind, id, name, owner string, v any) error {
	if err := ValidateName(kind, name); err != nil {
		return err
	}
	if err := t.checkFree(kind, "", name, name); err != nil {
		return err
	}
	return t.insert(objRow{id: id, kind: kind, name: name, owner: owner}, v)
}

// getTop returns the top-level object kind named name, converted.
func getTop[T any](t *Tx, kind object.Kind, name string, conv func(objRow) (T, error)) (T, error) {
	r, err := t.mustFind(kind, "", name, name)
	if err != nil {
		var zero T
		return zero, err
	}
	return conv(*r)
}

// dropTop deletes the top-level object kind named name; ON DELETE CASCADE
// removes its grants, tokens and memberships.
func (t *Tx) dropTop(kind object.Kind, name string) error {
	r, err := t.mustFind(kind, "", name, name)
	if err != nil {
		return err
	}
	return t.deleteObj(r)
}
