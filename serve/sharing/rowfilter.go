package sharing

import (
	"strings"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/sharefilter"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// recipientFilter is the share entry's per-recipient filter bound to the
// recipient's properties: nil when the entry has none. Every endpoint that
// lists files (query, time travel, pages, refresh, changes) keeps a file
// only when keep says so, before hints, limits and page offsets, so no
// parameter reaches a file outside it.
type recipientFilter struct {
	text  string
	bound sharefilter.Bound
	none  bool // the filter cannot hold for this recipient: no file
}

// bindFilter binds the entry's filter to the recipient's properties. A
// filter that no longer parses, or reads a property the recipient lacks,
// keeps no file (fail closed).
func bindFilter(st catalog.ShareTable, props map[string]string) *recipientFilter {
	if st.Filter == "" {
		return nil
	}
	f, err := sharefilter.Parse(st.Filter)
	if err != nil {
		return &recipientFilter{text: st.Filter, none: true}
	}
	b, missing := f.Bind(props)
	return &recipientFilter{text: f.Text, bound: b, none: len(missing) > 0}
}

// keeper returns whether a file with partition values pv passes the
// filter, for the table's columns cols; nil rf keeps every file. An
// equality on a column that is not a partition column of this version of
// the table, or whose value does not parse as the column's type, keeps no
// file.
func (rf *recipientFilter) keeper(cols map[string]column) func(pv map[string]*string) bool {
	if rf == nil {
		return func(map[string]*string) bool { return true }
	}
	if rf.none {
		return func(map[string]*string) bool { return false }
	}
	var fs []fileFilter
	for _, t := range rf.bound.Terms {
		col, ok := cols[strings.ToLower(t.Column)]
		vt := valueTypeOf(col.typ)
		if !ok || !col.partition || vt == "" {
			return func(map[string]*string) bool { return false }
		}
		lit := t.Value
		if t.Kind == sqlparse.LitBool {
			lit = strings.ToLower(lit)
		}
		v, err := parseValue(vt, lit)
		if err != nil {
			return func(map[string]*string) bool { return false }
		}
		fs = append(fs, compareFilter(col, vt, "equal", v))
	}
	all := andFilter(fs)
	return func(pv map[string]*string) bool {
		if pv == nil {
			return false // a remove without partition values: unknown, not shared
		}
		return all(&deltalog.Add{PartitionValues: pv}, nil) == yes
	}
}
