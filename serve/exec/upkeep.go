package exec

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/upkeep"
)

// UpkeepProperty turns table upkeep on or off for one table. Unset, the
// tables queries write are kept and tables registered with LOCATION are
// not (Sluice only reads them unless told to keep them).
const UpkeepProperty = "sluice.upkeep"

// Upkept reports whether the upkeep loop keeps the table rel.
func Upkept(rel catalog.Relation) bool {
	if rel.Kind != object.KindTable {
		return false
	}
	if v, ok := rel.Properties[UpkeepProperty]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		return err == nil && b
	}
	return !rel.External
}

// TableStatus is what the upkeep loop knows of one table, as SHOW TABLE
// STATUS shows it.
type TableStatus struct {
	Version                                    int64
	Files, SmallFiles                          int
	Bytes                                      int64
	LastCompaction, LastVacuum, LastLogCleanup time.Time // zero: not yet
	LastError                                  string
}

// TableMonitor is what the executor needs of the upkeep loop.
type TableMonitor interface {
	// TableStatus returns the state of the table (database.schema.table);
	// false if the loop has not seen it (yet).
	TableStatus(table string) (TableStatus, bool)
}

// WithTableMonitor gives SHOW TABLE STATUS the upkeep loop's state.
func WithTableMonitor(m TableMonitor) Option {
	return func(e *Executor) { e.tables = m }
}

// isUpkeepProperty reports whether key is a table property of upkeep.
func isUpkeepProperty(key string) bool {
	return key == UpkeepProperty || slices.Contains(upkeep.Properties, key)
}

// upkeepPropertyList names the upkeep properties, for error messages.
func upkeepPropertyList() string {
	return strings.Join(append([]string{UpkeepProperty}, upkeep.Properties...), ", ")
}

// at is an error at a node of the statement (line:column).
func at(n sqlparse.Node, format string, args ...any) error {
	p := n.Position()
	return &sqlparse.ParseError{Line: p.Line, Col: p.Col, Offset: p.Offset, Msg: fmt.Sprintf(format, args...)}
}

// checkUpkeepProperties validates the upkeep properties that with sets on
// table, each at its value, and then all, the table's properties as they
// will be, as one set (limits that depend on each other), at stmt. A
// property under delta. or sluice. that upkeep does not know is refused
// at its key; only is set by ALTER TABLE, which sets nothing else.
func checkUpkeepProperties(table string, with []*sqlparse.Property, all map[string]string, stmt sqlparse.Node, only bool) error {
	for _, p := range with {
		known := isUpkeepProperty(p.Key)
		if !known && (only || strings.HasPrefix(p.Key, "sluice.") || strings.HasPrefix(p.Key, "delta.")) {
			return at(p, "table %s: %q is not an upkeep property (they are: %s)", table, p.Key, upkeepPropertyList())
		}
		if !known {
			continue
		}
		v, err := propertyText(p)
		if err != nil {
			return at(p.Value, "table %s: %v", table, err)
		}
		if p.Key == UpkeepProperty {
			if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
				return at(p.Value, "table %s: table property %s = %q: want true or false", table, p.Key, v)
			}
			continue
		}
		if err := upkeep.CheckProperty(p.Key, v); err != nil {
			return at(p.Value, "table %s: %v", table, err)
		}
	}
	if _, err := upkeep.ParseSettings(all); err != nil {
		return at(stmt, "table %s: %v", table, err)
	}
	return nil
}

// propertyText is the value of a property as a string.
func propertyText(p *sqlparse.Property) (string, error) {
	switch v := p.Value.(type) {
	case *sqlparse.Literal:
		return v.Value, nil
	case *sqlparse.ColumnRef:
		return v.Parts[0].Name, nil
	}
	return "", fmt.Errorf("property %q: want a string, number or name", p.Key)
}

// withoutUpkeep returns props without the upkeep properties: what the
// query compiler takes.
func withoutUpkeep(props map[string]string) map[string]string {
	out := maps.Clone(props)
	maps.DeleteFunc(out, func(k, _ string) bool { return isUpkeepProperty(k) })
	return out
}

// alterTable is ALTER TABLE t SET / UNSET TBLPROPERTIES: the upkeep
// properties of a table, in the catalog; the loop reads them each round.
func (r *run) alterTable(s *sqlparse.AlterTable) (Result, error) {
	p, err := r.authorizeOn(policy.ActionAlter, object.KindTable, s.Table)
	if err != nil {
		return Result{}, err
	}
	name := strings.Join(p, ".")
	rel, err := r.tx.GetRelation(p[0], p[1], p[2])
	if err != nil {
		return Result{}, err
	}
	props := maps.Clone(rel.Properties)
	if props == nil {
		props = map[string]string{}
	}
	var keys []string
	for _, pr := range s.Set {
		v, err := propertyText(pr)
		if err != nil {
			return Result{}, at(pr.Value, "table %s: %v", name, err)
		}
		props[pr.Key] = v
		keys = append(keys, pr.Key)
	}
	for _, k := range s.Unset {
		if !isUpkeepProperty(k.Value) {
			return Result{}, at(k, "table %s: %q is not an upkeep property, and only those can be unset (they are: %s)", name, k.Value, upkeepPropertyList())
		}
		if _, ok := props[k.Value]; !ok {
			if s.IfExists {
				continue
			}
			return Result{}, at(k, "table %s has no property %q (UNSET TBLPROPERTIES IF EXISTS skips missing ones)", name, k.Value)
		}
		delete(props, k.Value)
		keys = append(keys, k.Value)
	}
	if err := checkUpkeepProperties(name, s.Set, props, s, true); err != nil {
		return Result{}, err
	}
	if _, err := r.tx.SetTableProperties(p[0], p[1], p[2], props); err != nil {
		return Result{}, err
	}
	verb := "set"
	if s.Unset != nil {
		verb = "unset"
	}
	if len(keys) == 0 {
		return msg("table %s: no property to unset", name), nil
	}
	return msg("table %s: %s %s (upkeep reads them on its next round)", name, verb, strings.Join(keys, ", ")), nil
}

// likeMatcher matches a SQL LIKE pattern ('%' any run, '_' one
// character), case-insensitively.
func likeMatcher(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, c := range pattern {
		switch c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// showTableStatus is SHOW TABLE STATUS [IN schema] [LIKE 'pattern']: per
// table (of the schemas SHOW TABLES would list, the pattern matched
// against the table's name), whether upkeep keeps it and what the loop
// last saw and did.
func (r *run) showTableStatus(s *sqlparse.Show) (Result, error) {
	schemas, err := r.listedSchemas(s.In)
	if err != nil {
		return Result{}, err
	}
	var like *regexp.Regexp
	if s.Like != nil {
		like = likeMatcher(s.Like.Value)
	}
	res := Result{Columns: []string{"name", "upkeep", "version", "files", "small_files", "bytes",
		"last_compaction", "last_vacuum", "last_log_cleanup", "last_error"}, Rows: [][]string{}}
	for _, sc := range schemas {
		rels, err := r.tx.ListRelations(sc.db, sc.name)
		if err != nil {
			return Result{}, err
		}
		for _, rel := range rels {
			if rel.Kind != object.KindTable || like != nil && !like.MatchString(rel.Name) {
				continue
			}
			row := []string{rel.Path(), "off", "", "", "", "", "", "", "", ""}
			if Upkept(rel) {
				row[1] = "on"
			}
			if r.e.tables != nil {
				if st, ok := r.e.tables.TableStatus(rel.Path()); ok {
					row = append(row[:2], strconv.FormatInt(st.Version, 10), strconv.Itoa(st.Files), strconv.Itoa(st.SmallFiles),
						strconv.FormatInt(st.Bytes, 10), tsOrEmpty(st.LastCompaction), tsOrEmpty(st.LastVacuum), tsOrEmpty(st.LastLogCleanup), st.LastError)
				}
			}
			res.Rows = append(res.Rows, row)
		}
	}
	res.Message = fmt.Sprintf("%d tables", len(res.Rows))
	if r.e.tables == nil {
		res.Message += " (table upkeep is off on this server)"
	}
	return res, nil
}

// tsOrEmpty is ts(t), or "" for the zero time.
func tsOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ts(t)
}
