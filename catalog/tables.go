package catalog

import (
	"fmt"

	"github.com/sluice-io/sluice/catalog/object"
)

// CheckPrivilege returns an ErrInvalid error, naming the privileges that do
// apply, when p cannot be granted on an object of kind (USAGE on a table,
// INSERT on a stream). It needs no transaction: the rule depends on the
// kind alone, so a caller can check before it authorizes or looks anything
// up.
func CheckPrivilege(p object.Privilege, kind object.Kind) error { return checkPrivilege(p, kind) }

// DropTable drops the table db.schema.name and returns it as it was. The
// query writing it, if any, is not deleted: it is detached from the table
// and marked terminated, so the supervisor stops its worker and SHOW
// QUERIES still tells what happened to it. The grants on the table go with
// it. A table that is in a share is refused (remove it from the share
// first), and so is a stream (DROP STREAM). The table's files are left
// alone; deleting them is the caller's business (DROP TABLE ... PURGE).
func (t *Tx) DropTable(db, schema, name string) (Relation, error) {
	d, s, r, err := t.relationRow(db, schema, name)
	if err != nil {
		return Relation{}, err
	}
	display := d.name + "." + s.name + "." + r.name
	if r.kind != object.KindTable {
		return Relation{}, errorf(ErrInvalid, "%s is a %s, not a table: use DROP %s %s", display, r.kind, r.kind.Keyword(), display)
	}
	rel, err := toRelation(d.name, s.name)(*r)
	if err != nil {
		return Relation{}, err
	}
	var sh string
	if err := t.queryRow(`SELECT COALESCE(MIN(o.name), '') FROM share_tables st JOIN objects o ON o.id = st.share_id WHERE st.relation_id = ?`, r.id).Scan(&sh); err != nil {
		return Relation{}, fmt.Errorf("catalog: drop table %s: %w", display, err)
	}
	if sh != "" {
		return Relation{}, errorf(ErrInUse, "table %s is in share %s: remove it from the share first (ALTER SHARE %s REMOVE TABLE %s)", display, sh, sh, display)
	}
	if err := t.detachQueries(`SELECT CAST(? AS TEXT)`, r.id); err != nil {
		return Relation{}, fmt.Errorf("catalog: drop table %s: %w", display, err)
	}
	return rel, t.deleteObj(r)
}

// queriesWriting returns the queries whose table is one of the relations
// selected by sel (one ? argument).
func (t *Tx) queriesWriting(sel, arg string) ([]Query, error) {
	rows, err := t.query(selectObj+`WHERE o.kind = 'query' AND o.ref_id IN (`+sel+`)`, arg)
	if err != nil {
		return nil, fmt.Errorf("catalog: queries writing %s: %w", arg, err)
	}
	defer rows.Close()
	var out []Query
	for rows.Next() {
		r, err := scanObj(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: queries writing %s: %w", arg, err)
		}
		q, err := toQuery(r)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// SetTableProperties replaces the properties of the table db.schema.name
// (ALTER TABLE ... SET / UNSET TBLPROPERTIES) and returns the table. The
// properties Sluice interprets are checked as at creation; a stream is
// refused.
func (t *Tx) SetTableProperties(db, schema, name string, props map[string]string) (Relation, error) {
	d, s, r, err := t.relationRow(db, schema, name)
	if err != nil {
		return Relation{}, err
	}
	display := d.name + "." + s.name + "." + r.name
	if r.kind != object.KindTable {
		return Relation{}, errorf(ErrInvalid, "%s is a %s, not a table: table properties are for tables", display, r.kind)
	}
	rel, err := toRelation(d.name, s.name)(*r)
	if err != nil {
		return Relation{}, err
	}
	if err := validateTableProps(display, rel.Columns, props); err != nil {
		return Relation{}, err
	}
	rel.Properties = props
	if err := t.updateBody(r.id, rel); err != nil {
		return Relation{}, fmt.Errorf("catalog: set properties of table %s: %w", display, err)
	}
	return t.GetRelation(d.name, s.name, r.name)
}
