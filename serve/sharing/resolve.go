package sharing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/policy"
)

// sharedTable is a table of a share the recipient may read, with what the
// server needs to serve it.
type sharedTable struct {
	share    catalog.Share
	entry    catalog.ShareTable
	location string
	filter   *recipientFilter // the entry's filter for this recipient; nil: none
}

// key is the table's identity within the share, for page tokens.
func (t sharedTable) scope() string { return t.share.ID + "/" + t.entry.TableID }

// label is share.schema.table as the recipient names it.
func (t sharedTable) label() string {
	return t.share.Name + "." + t.entry.ShareSchema + "." + t.entry.Alias
}

// allowed asks the policy whether the recipient may SELECT the last node of
// path. A denial is no error; a failed decision is.
func (c *call) allowed(tx *catalog.Tx, path []policy.Node) (bool, error) {
	if c.props == nil {
		rc, err := tx.GetRecipient(c.recipient)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return false, fmt.Errorf("sharing: recipient %s: %w", c.recipient, err)
		}
		c.props = rc.SharingProperties
		if c.props == nil {
			c.props = map[string]string{}
		}
	}
	d, err := c.h.pol.Decide(c.ctx, policy.Request{
		Principal: policy.Principal{Kind: policy.PrincipalRecipient, Name: c.recipient, Properties: c.props},
		Action:    policy.ActionSelect,
		Path:      path,
	})
	if err != nil {
		return false, fmt.Errorf("sharing: authorize %s: %w", c.recipient, err)
	}
	return d.Allow, nil
}

func shareNode(s catalog.Share, recipient string) policy.Node {
	// SharesOf returned the share: it is granted to the recipient.
	return policy.Node{Kind: object.KindShare, Name: s.Name, Recipients: []string{recipient}}
}

// grantedShares returns the shares granted to the recipient that the
// policy lets it see, by name.
func (c *call) grantedShares(tx *catalog.Tx) ([]catalog.Share, error) {
	all, err := tx.SharesOf(c.recipient)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil // the recipient was dropped since it authenticated
	}
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, s := range all {
		ok, err := c.allowed(tx, []policy.Node{shareNode(s, c.recipient)})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// share returns the share named name (case-insensitively) if the
// recipient may see it; otherwise the same 404 as for a missing share.
func (c *call) share(tx *catalog.Tx, name string) (catalog.Share, error) {
	shares, err := c.grantedShares(tx)
	if err != nil {
		return catalog.Share{}, err
	}
	for _, s := range shares {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	return catalog.Share{}, notFound("share", name)
}

// tablePath is the policy path of a share's table: [share, database,
// schema, table], the table carrying the share it is reached through.
func (c *call) tablePath(tx *catalog.Tx, s catalog.Share, st catalog.ShareTable) ([]policy.Node, catalog.Relation, error) {
	nodes, err := tx.ResolvePath(object.KindTable, st.Table)
	if err != nil {
		return nil, catalog.Relation{}, err
	}
	if len(nodes) != 3 {
		return nil, catalog.Relation{}, fmt.Errorf("sharing: table %s resolved to %d nodes", st.Table, len(nodes))
	}
	rel, err := tx.GetRelation(nodes[0].Name, nodes[1].Name, nodes[2].Name)
	if err != nil {
		return nil, catalog.Relation{}, err
	}
	path := []policy.Node{
		shareNode(s, c.recipient),
		{Kind: object.KindDatabase, Name: nodes[0].Name},
		{Kind: object.KindSchema, Name: nodes[1].Name},
		{Kind: object.KindTable, Name: nodes[2].Name, Shares: []string{s.Name}, Filter: st.Filter},
	}
	return path, rel, nil
}

// visibleTables returns the tables of share s the recipient may read, by
// share schema then alias.
func (c *call) visibleTables(tx *catalog.Tx, s catalog.Share) ([]sharedTable, error) {
	var out []sharedTable
	for _, st := range s.Tables {
		path, rel, err := c.tablePath(tx, s, st)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ok, err := c.allowed(tx, path)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, sharedTable{share: s, entry: st, location: rel.Location, filter: bindFilter(st, c.props)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].entry, out[j].entry
		if !strings.EqualFold(a.ShareSchema, b.ShareSchema) {
			return strings.ToLower(a.ShareSchema) < strings.ToLower(b.ShareSchema)
		}
		return strings.ToLower(a.Alias) < strings.ToLower(b.Alias)
	})
	return out, nil
}

// table resolves share.schema.table for the recipient: a 404 unless the
// share is granted and visible, the table is in it and the policy allows
// it, all as for names that do not exist.
func (c *call) table(segs []string) (sharedTable, *apiError) {
	shareName, schema, name := segs[1], segs[3], segs[5]
	c.path = shareName + "." + schema + "." + name
	var out sharedTable
	err := c.h.cat.View(c.ctx, func(tx *catalog.Tx) error {
		s, err := c.share(tx, shareName)
		if err != nil {
			return err
		}
		for _, st := range s.Tables {
			if !strings.EqualFold(st.ShareSchema, schema) || !strings.EqualFold(st.Alias, name) {
				continue
			}
			path, rel, err := c.tablePath(tx, s, st)
			if err != nil {
				return err
			}
			ok, err := c.allowed(tx, path)
			if err != nil {
				return err
			}
			if ok {
				out = sharedTable{share: s, entry: st, location: rel.Location, filter: bindFilter(st, c.props)}
				return nil
			}
			break
		}
		return notFound("table", c.path)
	})
	if err != nil {
		return sharedTable{}, asAPIError(err)
	}
	c.path = out.label()
	return out, nil
}

// asAPIError passes an *apiError through, maps the catalog's not-found to
// 404 and anything else to 500.
func asAPIError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, catalog.ErrNotFound):
		return &apiError{status: 404, code: codeNotFound, msg: "not found"}
	case errors.Is(err, context.Canceled):
		return &apiError{status: 499, code: "CANCELLED", msg: "request cancelled"}
	}
	return internal(err)
}
