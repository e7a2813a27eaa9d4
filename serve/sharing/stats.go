package sharing

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// fileStats is one file's add.stats in the form the filters read: parsed
// once per cached snapshot (tableState.fileStats), each statistic of a
// top-level column typed as the column is.
type fileStats struct {
	numRecords int64
	hasRecords bool
	cols       []colStats // by column.idx; shorter (or nil) when later columns have none
}

// colStats are a column's statistics in one file.
type colStats struct {
	lo, hi       value
	nulls        int64
	hasLo, hasHi bool
	hasNulls     bool
}

// col returns the statistics of col, or nil when there are none.
func (st *fileStats) col(c column) *colStats {
	if st == nil || c.idx >= len(st.cols) {
		return nil
	}
	return &st.cols[c.idx]
}

// rawStats are the parts of add.stats the filters read, as JSON.
type rawStats struct {
	NumRecords *int64                     `json:"numRecords"`
	MinValues  map[string]json.RawMessage `json:"minValues"`
	MaxValues  map[string]json.RawMessage `json:"maxValues"`
	NullCount  map[string]json.RawMessage `json:"nullCount"`
}

// parseFileStats reads add.stats for the columns: nil for no stats or
// stats that are not valid JSON (no filtering by them, as before any
// parsing), and per column its min, max (read as the column's type) and
// null count when present and readable.
func parseFileStats(s string, cols []column) *fileStats {
	if s == "" {
		return nil
	}
	var raw rawStats
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil
	}
	st := &fileStats{}
	if raw.NumRecords != nil {
		st.numRecords, st.hasRecords = *raw.NumRecords, true
	}
	for _, c := range cols {
		vt := valueTypeOf(c.typ)
		if vt == "" || c.partition {
			continue
		}
		var cs colStats
		cs.lo, cs.hasLo = statValue(raw.MinValues, c.phys, vt)
		cs.hi, cs.hasHi = statValue(raw.MaxValues, c.phys, vt)
		if r, ok := lookupStat(raw.NullCount, c.phys); ok {
			if n, err := strconv.ParseInt(string(r), 10, 64); err == nil {
				cs.nulls, cs.hasNulls = n, true
			}
		}
		if cs.hasLo || cs.hasHi || cs.hasNulls {
			if len(st.cols) <= c.idx {
				st.cols = append(st.cols, make([]colStats, c.idx+1-len(st.cols))...)
			}
			st.cols[c.idx] = cs
		}
	}
	if len(st.cols) > 0 {
		st.cols = st.cols[:len(st.cols):len(st.cols)]
	}
	return st
}

// lookupStat finds the statistic of column name: by its exact name, else
// case-insensitively.
func lookupStat(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if raw, ok := m[name]; ok {
		return raw, true
	}
	for k, r := range m {
		if strings.EqualFold(k, name) {
			return r, true
		}
	}
	return nil, false
}

// statValue reads a min or max statistic of column name as valueType.
func statValue(m map[string]json.RawMessage, name, valueType string) (value, bool) {
	raw, ok := lookupStat(m, name)
	if !ok || len(raw) == 0 || raw[0] == '{' || raw[0] == '[' || string(raw) == "null" {
		return value{}, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return value{}, false
		}
	}
	v, err := parseValue(valueType, s)
	return v, err == nil
}

// sameFamily reports whether statistics read as the column's valueType
// compare with a literal of the hint's valueType: integers with integers,
// floating point with floating point, anything else only with itself.
func sameFamily(column, hint string) bool {
	family := func(t string) string {
		switch t {
		case "int", "long":
			return "integer"
		case "float", "double":
			return "float"
		}
		return t
	}
	return column != "" && family(column) == family(hint)
}

// orderedColumns are the columns by schema position.
func orderedColumns(cols map[string]column) []column {
	out := make([]column, 0, len(cols))
	for _, c := range cols {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].idx < out[j].idx })
	return out
}

// liveRows is a file's numRecords less the rows its deletion vector
// deletes, and false when its stats do not say.
func liveRows(st *fileStats, dvCardinality int64) (int64, bool) {
	if st == nil || !st.hasRecords {
		return 0, false
	}
	return st.numRecords - dvCardinality, true
}

// numRecordsOnly parses add.stats for numRecords alone (a limitHint
// without other hints needs nothing else).
func numRecordsOnly(s string) *fileStats {
	if s == "" {
		return nil
	}
	var raw struct {
		NumRecords *int64 `json:"numRecords"`
	}
	if json.Unmarshal([]byte(s), &raw) != nil || raw.NumRecords == nil {
		return nil
	}
	return &fileStats{numRecords: *raw.NumRecords, hasRecords: true}
}
