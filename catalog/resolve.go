package catalog

import (
	"context"
	"strings"

	"github.com/sluice-io/sluice/catalog/object"
)

// ResolvePath returns the chain of objects leading to the object kind at
// path, root first, each with its owner and the grants on it: [database],
// [database, schema] or [database, schema, relation] for the namespace kinds
// (object.KindRelation accepts a stream or a table), the object alone for the
// top-level kinds. This is what an authorizer needs: privileges on a
// relation require USAGE on its schema and database.
func (t *Tx) ResolvePath(kind object.Kind, path string) ([]Node, error) {
	var rows []*objRow
	switch kind {
	case object.KindDatabase, object.KindStore, object.KindQuery, object.KindUser, object.KindRole, object.KindShare, object.KindRecipient:
		r, _, err := t.resolveObject(kind, path)
		if err != nil {
			return nil, err
		}
		rows = []*objRow{r}
	case object.KindSchema:
		p, err := splitPath(kind, path, 2)
		if err != nil {
			return nil, err
		}
		d, s, err := t.schemaRow(p[0], p[1])
		if err != nil {
			return nil, err
		}
		rows = []*objRow{d, s}
	case object.KindStream, object.KindTable, object.KindRelation:
		p, err := splitPath(kind, path, 3)
		if err != nil {
			return nil, err
		}
		d, s, err := t.schemaRow(p[0], p[1])
		if err != nil {
			return nil, err
		}
		r, err := t.mustFind(kind, s.id, p[2], d.name+"."+s.name+"."+p[2])
		if err != nil {
			return nil, err
		}
		rows = []*objRow{d, s, r}
	default:
		return nil, errorf(ErrInvalid, "unknown object kind %q", kind)
	}

	nodes := make([]Node, len(rows))
	byID := make(map[string]int, len(rows))
	ids := make([]any, len(rows))
	var names []string
	for i, r := range rows {
		names = append(names, r.name)
		nodes[i] = Node{Kind: r.kind, ID: r.id, Name: r.name, Path: strings.Join(names, "."), Owner: r.owner}
		byID[r.id] = i
		ids[i] = r.id
	}
	gs, err := t.grants(`g.object_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, ids...)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		n := &nodes[byID[g.ObjectID]]
		n.Grants = append(n.Grants, g)
	}
	return nodes, nil
}

// ResolvePath is Tx.ResolvePath in its own read transaction.
func (c *Catalog) ResolvePath(ctx context.Context, kind object.Kind, path string) (nodes []Node, err error) {
	err = c.View(ctx, func(tx *Tx) error {
		nodes, err = tx.ResolvePath(kind, path)
		return err
	})
	return nodes, err
}
