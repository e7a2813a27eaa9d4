package catalog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/internal/secret"
)

// ---- databases ----

func toDatabase(r objRow) (Database, error) {
	var d Database
	err := decode(r, &d)
	d.ID, d.Name, d.Owner, d.Created = r.id, r.name, r.owner, r.created
	return d, err
}

// CreateDatabase creates a database. ID and Created are assigned; Owner is a
// role name (AdminRole if empty).
func (t *Tx) CreateDatabase(d Database) (Database, error) {
	d.ID, d.Created = newID(), t.now
	if err := t.createTop(object.KindDatabase, d.ID, d.Name, d.Owner, d); err != nil {
		return Database{}, err
	}
	return t.GetDatabase(d.Name)
}

// GetDatabase returns the database named name.
func (t *Tx) GetDatabase(name string) (Database, error) {
	return getTop(t, object.KindDatabase, name, toDatabase)
}

// ListDatabases returns all databases, by name.
func (t *Tx) ListDatabases() ([]Database, error) {
	return listAs(t, object.KindDatabase, "", toDatabase)
}

// DropDatabase drops a database. It refuses a database that has schemas
// unless cascade is set, in which case everything inside goes too: schemas,
// relations, their entries in shares and all grants on them; the queries
// writing those tables are terminated and detached, as DropTable does.
func (t *Tx) DropDatabase(name string, cascade bool) error {
	r, err := t.mustFind(object.KindDatabase, "", name, name)
	if err != nil {
		return err
	}
	n, err := t.count(`SELECT COUNT(*) FROM objects WHERE parent_id = ?`, r.id)
	if err != nil {
		return err
	}
	if n > 0 && !cascade {
		return errorf(ErrNotEmpty, "database %s is not empty: drop its schemas first or use CASCADE", r.name)
	}
	if err := t.dropRelationDependents(`SELECT id FROM objects WHERE parent_id IN (SELECT id FROM objects WHERE parent_id = ?)`, r.id); err != nil {
		return err
	}
	return t.deleteObj(r)
}

// ---- schemas ----

func toSchema(db string) func(objRow) (Schema, error) {
	return func(r objRow) (Schema, error) {
		var s Schema
		err := decode(r, &s)
		s.ID, s.Database, s.Name, s.Owner, s.Created = r.id, db, r.name, r.owner, r.created
		return s, err
	}
}

// CreateSchema creates schema s.Name in database s.Database.
func (t *Tx) CreateSchema(s Schema) (Schema, error) {
	if err := ValidateName(object.KindSchema, s.Name); err != nil {
		return Schema{}, err
	}
	db, err := t.mustFind(object.KindDatabase, "", s.Database, s.Database)
	if err != nil {
		return Schema{}, err
	}
	display := db.name + "." + s.Name
	if err := t.checkFree(object.KindSchema, db.id, s.Name, display); err != nil {
		return Schema{}, err
	}
	s.ID, s.Created = newID(), t.now
	if err := t.insert(objRow{id: s.ID, kind: object.KindSchema, name: s.Name, display: display, parentID: db.id, owner: s.Owner}, s); err != nil {
		return Schema{}, err
	}
	return t.GetSchema(db.name, s.Name)
}

func (t *Tx) schemaRow(db, schema string) (dbRow, sRow *objRow, err error) {
	dbRow, err = t.mustFind(object.KindDatabase, "", db, db)
	if err != nil {
		return nil, nil, err
	}
	sRow, err = t.mustFind(object.KindSchema, dbRow.id, schema, dbRow.name+"."+schema)
	return dbRow, sRow, err
}

// GetSchema returns schema db.name.
func (t *Tx) GetSchema(db, name string) (Schema, error) {
	d, r, err := t.schemaRow(db, name)
	if err != nil {
		return Schema{}, err
	}
	return toSchema(d.name)(*r)
}

// ListSchemas returns the schemas of a database, by name.
func (t *Tx) ListSchemas(db string) ([]Schema, error) {
	d, err := t.mustFind(object.KindDatabase, "", db, db)
	if err != nil {
		return nil, err
	}
	return listAs(t, object.KindSchema, d.id, toSchema(d.name))
}

// DropSchema drops a schema; with relations in it only if cascade is set
// (see DropDatabase for what CASCADE removes).
func (t *Tx) DropSchema(db, name string, cascade bool) error {
	d, r, err := t.schemaRow(db, name)
	if err != nil {
		return err
	}
	n, err := t.count(`SELECT COUNT(*) FROM objects WHERE parent_id = ?`, r.id)
	if err != nil {
		return err
	}
	if n > 0 && !cascade {
		return errorf(ErrNotEmpty, "schema %s.%s is not empty: drop its streams and tables first or use CASCADE", d.name, r.name)
	}
	if err := t.dropRelationDependents(`SELECT id FROM objects WHERE parent_id = ?`, r.id); err != nil {
		return err
	}
	return t.deleteObj(r)
}

// dropRelationDependents removes what depends on the relations selected by
// sel (one ? argument): their share entries go, and the queries writing them
// are terminated and detached (see detachQueries). Children and grants go
// with ON DELETE CASCADE.
func (t *Tx) dropRelationDependents(sel string, arg string) error {
	if _, err := t.exec(`DELETE FROM share_tables WHERE relation_id IN (`+sel+`)`, arg); err != nil {
		return fmt.Errorf("catalog: remove share entries: %w", err)
	}
	return t.detachQueries(sel, arg)
}

// detachQueries marks the queries writing the relations selected by sel
// (one ? argument) terminated and detaches them from their tables: the
// supervisor stops their workers, and SHOW QUERIES still tells what became
// of them (their Table keeps the name the table had).
func (t *Tx) detachQueries(sel string, arg string) error {
	qs, err := t.queriesWriting(sel, arg)
	if err != nil {
		return err
	}
	for _, q := range qs {
		q.State = QueryTerminated
		if err := t.updateBody(q.ID, q); err != nil {
			return err
		}
	}
	if _, err := t.exec(`UPDATE objects SET ref_id = NULL WHERE kind = 'query' AND ref_id IN (`+sel+`)`, arg); err != nil {
		return fmt.Errorf("catalog: detach queries: %w", err)
	}
	return nil
}

// ---- relations ----

func toRelation(db, schema string) func(objRow) (Relation, error) {
	return func(r objRow) (Relation, error) {
		var rel Relation
		err := decode(r, &rel)
		rel.ID, rel.Database, rel.Schema, rel.Name, rel.Kind, rel.Owner, rel.Created = r.id, db, schema, r.name, r.kind, r.owner, r.created
		return rel, err
	}
}

// CreateRelation creates a stream or a table in rel.Database.rel.Schema.
//
// A stream needs Store (an existing store) and Topic. A table needs
// Location; set External for a table created with LOCATION. A table written
// by a query gets its QueryID from CreateQuery, in the same transaction.
func (t *Tx) CreateRelation(rel Relation) (Relation, error) {
	kind := rel.Kind
	if kind != object.KindStream && kind != object.KindTable {
		return Relation{}, errorf(ErrInvalid, "relation %s: kind must be %s or %s, not %q", rel.Name, object.KindStream, object.KindTable, kind)
	}
	if err := ValidateName(kind, rel.Name); err != nil {
		return Relation{}, err
	}
	d, s, err := t.schemaRow(rel.Database, rel.Schema)
	if err != nil {
		return Relation{}, err
	}
	display := d.name + "." + s.name + "." + rel.Name
	if err := t.checkFree(kind, s.id, rel.Name, display); err != nil {
		return Relation{}, err
	}
	if err := validateColumns(kind, display, rel.Columns); err != nil {
		return Relation{}, err
	}
	var refID string
	switch kind {
	case object.KindStream:
		if rel.Location != "" || rel.QueryID != "" || rel.External {
			return Relation{}, errorf(ErrInvalid, "stream %s: LOCATION and AS SELECT are for tables", display)
		}
		if rel.Topic == "" {
			return Relation{}, errorf(ErrInvalid, "stream %s: a topic is required", display)
		}
		if rel.Store == "" {
			return Relation{}, errorf(ErrInvalid, "stream %s: a store is required (CREATE STORE first)", display)
		}
		st, err := t.mustFind(object.KindStore, "", rel.Store, rel.Store)
		if err != nil {
			return Relation{}, fmt.Errorf("stream %s: %w", display, err)
		}
		rel.Store, refID = st.name, st.id
	case object.KindTable:
		if rel.Store != "" || rel.Topic != "" || rel.ValueFormat != "" {
			return Relation{}, errorf(ErrInvalid, "table %s: store, topic and value format are for streams", display)
		}
		if rel.Location == "" {
			return Relation{}, errorf(ErrInvalid, "table %s: a location is required", display)
		}
		if rel.QueryID != "" {
			return Relation{}, errorf(ErrInvalid, "table %s: the query is attached by CreateQuery, leave QueryID empty", display)
		}
		if err := validateTableProps(display, rel.Columns, rel.Properties); err != nil {
			return Relation{}, err
		}
	}
	rel.ID, rel.Created = newID(), t.now
	if err := t.insert(objRow{id: rel.ID, kind: kind, name: rel.Name, display: display, parentID: s.id, owner: rel.Owner, refID: refID}, rel); err != nil {
		return Relation{}, err
	}
	return t.GetRelation(d.name, s.name, rel.Name)
}

func validateColumns(kind object.Kind, display string, cols []Column) error {
	seen := map[string]bool{}
	for _, c := range cols {
		if err := ValidateName("column", c.Name); err != nil {
			return fmt.Errorf("%s %s: %w", kind, display, err)
		}
		if seen[nameKey(c.Name)] {
			return errorf(ErrInvalid, "%s %s: column %s appears twice", kind, display, c.Name)
		}
		seen[nameKey(c.Name)] = true
		if strings.TrimSpace(c.Type) == "" {
			return errorf(ErrInvalid, "%s %s: column %s has no type", kind, display, c.Name)
		}
	}
	return nil
}

// validateTableProps checks the table properties Sluice interprets; other
// keys are kept as given.
func validateTableProps(display string, cols []Column, props map[string]string) error {
	for k, v := range props {
		bad := func(rule string) error {
			return errorf(ErrInvalid, "table %s: property %s=%q: %s", display, k, v, rule)
		}
		switch k {
		case "partitioned.by":
			for _, c := range strings.Split(v, ",") {
				c = strings.TrimSpace(c)
				found := len(cols) == 0 // columns of a CTAS table may come later
				for _, col := range cols {
					found = found || nameKey(col.Name) == nameKey(c)
				}
				if c == "" || !found {
					return bad(fmt.Sprintf("no column %q; list existing columns, comma-separated", c))
				}
			}
		case "flush.interval":
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				return bad("want a positive duration such as 30s or 5m")
			}
		case "target.file.size":
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
				return bad("want a positive number of bytes")
			}
		case "kms.key":
			if strings.TrimSpace(v) == "" {
				return bad("want a KMS key id or ARN")
			}
		}
	}
	return nil
}

func (t *Tx) relationRow(db, schema, name string) (d, s, r *objRow, err error) {
	d, s, err = t.schemaRow(db, schema)
	if err != nil {
		return nil, nil, nil, err
	}
	r, err = t.mustFind(object.KindRelation, s.id, name, d.name+"."+s.name+"."+name)
	return d, s, r, err
}

// GetRelation returns the stream or table db.schema.name.
func (t *Tx) GetRelation(db, schema, name string) (Relation, error) {
	d, s, r, err := t.relationRow(db, schema, name)
	if err != nil {
		return Relation{}, err
	}
	return toRelation(d.name, s.name)(*r)
}

// ListRelations returns the streams and tables of a schema, by name.
func (t *Tx) ListRelations(db, schema string) ([]Relation, error) {
	d, s, err := t.schemaRow(db, schema)
	if err != nil {
		return nil, err
	}
	return listAs(t, object.KindRelation, s.id, toRelation(d.name, s.name))
}

// DropRelation drops a stream or table. A table written by a query or added
// to a share is refused unless cascade is set, which drops the query and
// removes the share entries.
func (t *Tx) DropRelation(db, schema, name string, cascade bool) error {
	d, s, r, err := t.relationRow(db, schema, name)
	if err != nil {
		return err
	}
	display := d.name + "." + s.name + "." + r.name
	if !cascade {
		var q string
		if err := t.queryRow(`SELECT COALESCE(MIN(id), '') FROM objects WHERE kind = 'query' AND ref_id = ?`, r.id).Scan(&q); err != nil {
			return fmt.Errorf("catalog: drop %s: %w", display, err)
		}
		if q != "" {
			return errorf(ErrNotEmpty, "%s %s is written by query %s: drop the query first or use CASCADE", r.kind, display, q)
		}
		var sh string
		if err := t.queryRow(`SELECT COALESCE(MIN(o.name), '') FROM share_tables st JOIN objects o ON o.id = st.share_id WHERE st.relation_id = ?`, r.id).Scan(&sh); err != nil {
			return fmt.Errorf("catalog: drop %s: %w", display, err)
		}
		if sh != "" {
			return errorf(ErrNotEmpty, "%s %s is in share %s: remove it from the share first or use CASCADE", r.kind, display, sh)
		}
	}
	if err := t.dropRelationDependents(`SELECT CAST(? AS TEXT)`, r.id); err != nil {
		return err
	}
	return t.deleteObj(r)
}

// ---- stores ----

// secretKeyWords mark a store property as a secret: its value must be a
// reference, never the secret itself.
var secretKeyWords = []string{"password", "secret", "token", "credential", "jaas"}

// IsSecretProperty reports whether a store property key holds a secret.
func IsSecretProperty(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretKeyWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func toStore(r objRow) (Store, error) {
	var s Store
	err := decode(r, &s)
	s.ID, s.Name, s.Owner, s.Created = r.id, r.name, r.owner, r.created
	return s, err
}

// CreateStore creates a Kafka store. Type defaults to "kafka". Secret
// properties (see IsSecretProperty) must be env:NAME or file:/path
// references; a plaintext secret is refused and never echoed back.
func (t *Tx) CreateStore(s Store) (Store, error) {
	if s.Type == "" {
		s.Type = "kafka"
	}
	for k, v := range s.Properties {
		if IsSecretProperty(k) && !secret.WellFormed(v) {
			return Store{}, errorf(ErrInvalid, "store %s: property %s holds a secret: give a reference, env:NAME or file:/absolute/path, not the secret itself", s.Name, k)
		}
	}
	s.ID, s.Created = newID(), t.now
	if err := t.createTop(object.KindStore, s.ID, s.Name, s.Owner, s); err != nil {
		return Store{}, err
	}
	return t.GetStore(s.Name)
}

// GetStore returns the store named name.
func (t *Tx) GetStore(name string) (Store, error) { return getTop(t, object.KindStore, name, toStore) }

// ListStores returns all stores, by name.
func (t *Tx) ListStores() ([]Store, error) { return listAs(t, object.KindStore, "", toStore) }

// DropStore drops a store no stream reads from.
func (t *Tx) DropStore(name string) error {
	r, err := t.mustFind(object.KindStore, "", name, name)
	if err != nil {
		return err
	}
	var stream string
	err = t.queryRow(`SELECT COALESCE(MIN(d.name || '.' || s.name || '.' || o.name), '') FROM objects o
		JOIN objects s ON s.id = o.parent_id JOIN objects d ON d.id = s.parent_id WHERE o.ref_id = ?`, r.id).Scan(&stream)
	if err != nil {
		return fmt.Errorf("catalog: drop store %s: %w", r.name, err)
	}
	if stream != "" {
		return errorf(ErrInUse, "store %s is used by stream %s: drop the streams reading from it first", r.name, stream)
	}
	return t.deleteObj(r)
}

// ---- queries ----

func toQuery(r objRow) (Query, error) {
	var q Query
	err := decode(r, &q)
	q.ID, q.Owner, q.Created = r.id, r.owner, r.created
	return q, err
}

func validState(s QueryState) bool {
	return s == QueryRunning || s == QueryPaused || s == QueryTerminated
}

// CreateQuery records a query writing q.Table (database.schema.table), which
// must be a non-external table not already written by another query; the
// table's QueryID is set to the new query. ID is assigned; State defaults to
// running.
func (t *Tx) CreateQuery(q Query) (Query, error) {
	if strings.TrimSpace(q.SQL) == "" {
		return Query{}, errorf(ErrInvalid, "query: SQL text is empty")
	}
	if q.State == "" {
		q.State = QueryRunning
	}
	if !validState(q.State) {
		return Query{}, errorf(ErrInvalid, "query: state %q is not one of running, paused, terminated", q.State)
	}
	if len(q.Spec) > 0 && !json.Valid(q.Spec) {
		return Query{}, errorf(ErrInvalid, "query: pipeline spec is not valid JSON")
	}
	parts, err := splitPath(object.KindTable, q.Table, 3)
	if err != nil {
		return Query{}, err
	}
	d, s, r, err := t.relationRow(parts[0], parts[1], parts[2])
	if err != nil {
		return Query{}, err
	}
	display := d.name + "." + s.name + "." + r.name
	rel, err := toRelation(d.name, s.name)(*r)
	if err != nil {
		return Query{}, err
	}
	switch {
	case rel.Kind != object.KindTable:
		return Query{}, errorf(ErrInvalid, "query: %s is a %s; queries write tables", display, rel.Kind)
	case rel.External:
		return Query{}, errorf(ErrInvalid, "query: table %s is external (created with LOCATION); Sluice does not write it", display)
	case rel.QueryID != "":
		return Query{}, errorf(ErrInUse, "query: table %s is already written by query %s: drop that query first", display, rel.QueryID)
	}
	q.ID, q.Created, q.Table = newID(), t.now, display
	if err := t.insert(objRow{id: q.ID, kind: object.KindQuery, name: q.ID, owner: q.Owner, refID: r.id}, q); err != nil {
		return Query{}, err
	}
	rel.QueryID = q.ID
	if err := t.updateBody(r.id, rel); err != nil {
		return Query{}, err
	}
	return t.GetQuery(q.ID)
}

// GetQuery returns the query with the given id.
func (t *Tx) GetQuery(id string) (Query, error) { return getTop(t, object.KindQuery, id, toQuery) }

// ListQueries returns all queries, by id.
func (t *Tx) ListQueries() ([]Query, error) { return listAs(t, object.KindQuery, "", toQuery) }

// SetQueryState records the desired state of a query (the reconciler acts on
// it).
func (t *Tx) SetQueryState(id string, state QueryState) (Query, error) {
	if !validState(state) {
		return Query{}, errorf(ErrInvalid, "query %s: state %q is not one of running, paused, terminated", id, state)
	}
	q, err := t.GetQuery(id)
	if err != nil {
		return Query{}, err
	}
	q.State = state
	return q, t.updateBody(q.ID, q)
}

// SetQuerySpec replaces the compiled pipeline spec of a query.
func (t *Tx) SetQuerySpec(id string, spec json.RawMessage) (Query, error) {
	if len(spec) > 0 && !json.Valid(spec) {
		return Query{}, errorf(ErrInvalid, "query %s: pipeline spec is not valid JSON", id)
	}
	q, err := t.GetQuery(id)
	if err != nil {
		return Query{}, err
	}
	q.Spec = spec
	return q, t.updateBody(q.ID, q)
}

// DropQuery drops a query and detaches it from its table (the table stays).
func (t *Tx) DropQuery(id string) error {
	r, err := t.mustFind(object.KindQuery, "", id, id)
	if err != nil {
		return err
	}
	if tr, err := t.byID(r.refID); err != nil {
		return err
	} else if tr != nil {
		var rel Relation
		if err := decode(*tr, &rel); err != nil {
			return err
		}
		rel.QueryID = ""
		if err := t.updateBody(tr.id, rel); err != nil {
			return err
		}
	}
	return t.deleteObj(r)
}

// listAs lists objects of kind under scope and converts them.
func listAs[T any](t *Tx, kind object.Kind, scope string, conv func(objRow) (T, error)) ([]T, error) {
	rows, err := t.list(kind, scope)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		v, err := conv(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
