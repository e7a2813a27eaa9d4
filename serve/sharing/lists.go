package sharing

import (
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/catalog"
)

// Items of the list answers.
type shareItem struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

type schemaItem struct {
	Name  string `json:"name"`
	Share string `json:"share"`
}

type tableItem struct {
	Name    string `json:"name"`
	Schema  string `json:"schema"`
	Share   string `json:"share"`
	ShareID string `json:"shareId,omitempty"`
	ID      string `json:"id,omitempty"`
}

type listPage[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"nextPageToken,omitempty"`
}

// pageParams reads maxResults and pageToken, the token being bound to the
// recipient and the listed scope.
func (c *call) pageParams(scope string) (max int, after string, aerr *apiError) {
	q := c.r.URL.Query()
	max = defaultMaxResults
	if v := q.Get("maxResults"); v != "" || q.Has("maxResults") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, "", badParam("maxResults must be a non-negative integer, not %q", v)
		}
		max = min(n, maxMaxResults)
	}
	if q.Has("pageToken") && q.Get("pageToken") != "" {
		t, aerr := c.h.tokens.open(q.Get("pageToken"), kindList, c.recipient, scope)
		if aerr != nil {
			return 0, "", aerr
		}
		after = t.After
	}
	return max, after, nil
}

// paginate returns the items after `after` (by key, in order), at most max,
// and the next page's token.
func paginate[T any](c *call, scope string, items []T, key func(T) string, max int, after string) listPage[T] {
	start := 0
	if after != "" {
		for start < len(items) && key(items[start]) <= after {
			start++
		}
	}
	end := min(start+max, len(items))
	p := listPage[T]{Items: append([]T{}, items[start:end]...)}
	if end < len(items) {
		last := after
		if end > start {
			last = key(items[end-1])
		}
		p.NextPageToken = c.h.tokens.seal(token{Kind: kindList, Recipient: c.recipient, Scope: scope, After: last})
	}
	return p
}

func (c *call) listShares(_ []string) (int, *apiError) {
	max, after, aerr := c.pageParams("shares")
	if aerr != nil {
		return 0, aerr
	}
	var items []shareItem
	err := c.h.cat.View(c.ctx, func(tx *catalog.Tx) error {
		shares, err := c.grantedShares(tx)
		for _, s := range shares {
			items = append(items, shareItem{Name: s.Name, ID: s.ID})
		}
		return err
	})
	if err != nil {
		return 0, asAPIError(err)
	}
	return c.writeJSON(paginate(c, "shares", items, func(s shareItem) string { return strings.ToLower(s.Name) }, max, after))
}

func (c *call) getShare(segs []string) (int, *apiError) {
	c.path = segs[1]
	var s catalog.Share
	err := c.h.cat.View(c.ctx, func(tx *catalog.Tx) (err error) {
		s, err = c.share(tx, segs[1])
		return err
	})
	if err != nil {
		return 0, asAPIError(err)
	}
	c.path = s.Name
	return c.writeJSON(map[string]shareItem{"share": {Name: s.Name, ID: s.ID}})
}

// shareTables returns the share and the tables of it the recipient sees.
func (c *call) shareTables(name string) (catalog.Share, []sharedTable, *apiError) {
	c.path = name
	var s catalog.Share
	var tables []sharedTable
	err := c.h.cat.View(c.ctx, func(tx *catalog.Tx) (err error) {
		if s, err = c.share(tx, name); err != nil {
			return err
		}
		tables, err = c.visibleTables(tx, s)
		return err
	})
	if err != nil {
		return s, nil, asAPIError(err)
	}
	c.path = s.Name
	return s, tables, nil
}

func (c *call) listSchemas(segs []string) (int, *apiError) {
	s, tables, aerr := c.shareTables(segs[1])
	if aerr != nil {
		return 0, aerr
	}
	scope := "schemas/" + s.ID
	max, after, aerr := c.pageParams(scope)
	if aerr != nil {
		return 0, aerr
	}
	var items []schemaItem
	for _, t := range tables {
		if len(items) == 0 || !strings.EqualFold(items[len(items)-1].Name, t.entry.ShareSchema) {
			items = append(items, schemaItem{Name: t.entry.ShareSchema, Share: s.Name})
		}
	}
	return c.writeJSON(paginate(c, scope, items, func(s schemaItem) string { return strings.ToLower(s.Name) }, max, after))
}

func tableItems(s catalog.Share, tables []sharedTable) []tableItem {
	items := make([]tableItem, 0, len(tables))
	for _, t := range tables {
		items = append(items, tableItem{Name: t.entry.Alias, Schema: t.entry.ShareSchema, Share: s.Name, ShareID: s.ID, ID: t.entry.TableID})
	}
	return items
}

func tableKey(t tableItem) string {
	return strings.ToLower(t.Schema) + "\x00" + strings.ToLower(t.Name)
}

func (c *call) listTables(segs []string) (int, *apiError) {
	s, tables, aerr := c.shareTables(segs[1])
	if aerr != nil {
		return 0, aerr
	}
	var in []sharedTable
	for _, t := range tables {
		if strings.EqualFold(t.entry.ShareSchema, segs[3]) {
			in = append(in, t)
		}
	}
	if len(in) == 0 {
		c.path = s.Name + "." + segs[3]
		return 0, notFound("schema", s.Name+"."+segs[3])
	}
	c.path = s.Name + "." + in[0].entry.ShareSchema
	scope := "tables/" + s.ID + "/" + strings.ToLower(segs[3])
	max, after, aerr := c.pageParams(scope)
	if aerr != nil {
		return 0, aerr
	}
	return c.writeJSON(paginate(c, scope, tableItems(s, in), tableKey, max, after))
}

func (c *call) listAllTables(segs []string) (int, *apiError) {
	s, tables, aerr := c.shareTables(segs[1])
	if aerr != nil {
		return 0, aerr
	}
	scope := "all-tables/" + s.ID
	max, after, aerr := c.pageParams(scope)
	if aerr != nil {
		return 0, aerr
	}
	return c.writeJSON(paginate(c, scope, tableItems(s, tables), tableKey, max, after))
}
