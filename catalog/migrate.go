package catalog

import (
	"context"
	"fmt"

	"github.com/sluice-io/sluice/catalog/object"
)

// migration is one step of the catalog's schema. Steps are applied in order,
// each in its own transaction, and recorded in schema_migrations; a step is
// never edited once released: add a new one.
type migration struct {
	version int
	stmts   []string
	after   func(t *Tx) error // data step run after stmts, same transaction
}

var migrations = []migration{
	{version: 1, stmts: []string{
		// objects holds every named object. ns and scope make names unique
		// case-insensitively within their parent (scope is the parent's
		// id, or '' at the top level). ref_id is the one object this one
		// depends on: a stream's store, a query's table.
		`CREATE TABLE objects (
			id TEXT PRIMARY KEY,
			kind TEXT NOT NULL,
			ns TEXT NOT NULL,
			parent_id TEXT REFERENCES objects(id) ON DELETE CASCADE,
			scope TEXT NOT NULL,
			name TEXT NOT NULL,
			name_key TEXT NOT NULL,
			owner_id TEXT REFERENCES objects(id),
			ref_id TEXT REFERENCES objects(id),
			created BIGINT NOT NULL,
			body TEXT NOT NULL,
			UNIQUE (ns, scope, name_key)
		)`,
		`CREATE INDEX objects_parent ON objects (parent_id)`,
		`CREATE INDEX objects_owner ON objects (owner_id)`,
		`CREATE INDEX objects_ref ON objects (ref_id)`,
		`CREATE TABLE role_grants (
			role_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			member_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			created BIGINT NOT NULL,
			PRIMARY KEY (role_id, member_id)
		)`,
		`CREATE INDEX role_grants_member ON role_grants (member_id)`,
		`CREATE TABLE grants (
			id TEXT PRIMARY KEY,
			role_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			privilege TEXT NOT NULL,
			object_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			created BIGINT NOT NULL,
			UNIQUE (object_id, role_id, privilege)
		)`,
		`CREATE INDEX grants_role ON grants (role_id)`,
		// tokens holds SHA-256 hashes of user and recipient tokens, never
		// the tokens. expires is unix nanoseconds, 0 for never.
		`CREATE TABLE tokens (
			hash TEXT PRIMARY KEY,
			principal_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			created BIGINT NOT NULL,
			expires BIGINT NOT NULL
		)`,
		`CREATE INDEX tokens_principal ON tokens (principal_id)`,
		`CREATE TABLE share_tables (
			share_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			relation_id TEXT NOT NULL REFERENCES objects(id),
			share_schema TEXT NOT NULL,
			alias TEXT NOT NULL,
			entry_key TEXT NOT NULL,
			with_history INTEGER NOT NULL,
			created BIGINT NOT NULL,
			PRIMARY KEY (share_id, relation_id),
			UNIQUE (share_id, entry_key)
		)`,
		`CREATE INDEX share_tables_relation ON share_tables (relation_id)`,
		`CREATE TABLE share_grants (
			share_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			recipient_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
			created BIGINT NOT NULL,
			PRIMARY KEY (share_id, recipient_id)
		)`,
		`CREATE INDEX share_grants_recipient ON share_grants (recipient_id)`,
	}, after: func(t *Tx) error {
		// The built-in admin role owns itself.
		id := newID()
		return t.insert(objRow{id: id, kind: object.KindRole, name: AdminRole, ownerID: id}, Role{})
	}},
	{version: 2, after: func(t *Tx) error {
		// The built-in day-to-day administration roles, owned by admin (a
		// role of that name made earlier becomes the built-in one).
		for _, name := range []string{SecurityAdminRole, UserAdminRole} {
			r, err := t.find(object.KindRole, "", name)
			if err != nil {
				return err
			}
			if r == nil {
				if err := t.insert(objRow{id: newID(), kind: object.KindRole, name: name}, Role{}); err != nil {
					return err
				}
			}
		}
		return nil
	}},
	// The per-recipient filter of a shared table (ShareTable.Filter).
	{version: 3, stmts: []string{
		`ALTER TABLE share_tables ADD COLUMN row_filter TEXT NOT NULL DEFAULT ''`,
	}},
}

// migrate applies the migrations the database has not seen yet, holding
// the backend's migration lock: of several servers starting together on one
// database, one applies each step and the others find it recorded.
func (c *Catalog) migrate(ctx context.Context) (err error) {
	unlock, err := c.b.LockMigrations(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("catalog: release migration lock: %w", uerr)
		}
	}()
	err = c.update(ctx, func(t *Tx) error {
		_, err := t.execDDL(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		err := c.update(ctx, func(t *Tx) error {
			var n int
			if err := t.tx.QueryRowContext(t.ctx, t.b.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, s := range m.stmts {
				if _, err := t.execDDL(s); err != nil {
					return err
				}
			}
			if m.after != nil {
				t.migrating = true
				if err := m.after(t); err != nil {
					return err
				}
			}
			_, err := t.execDDL(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, m.version, t.now.UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("catalog: migration %d: %w", m.version, err)
		}
	}
	return nil
}
