package testenv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// CanonicalRows renders Arrow records as rows in the canonical JSON form the
// Python oracles print (deltawriter/testdata/deltars_read.py): timestamps as
// ISO-8601 with microseconds (Z for UTC), dates as YYYY-MM-DD, decimals as
// plain text, binary as "b64:…", maps as sorted [key, value] pairs. The rows
// are sorted by their JSON text, so two readers' outputs compare with
// reflect.DeepEqual after both go through SortRows.
func CanonicalRows(recs ...arrow.Record) ([]any, error) {
	var rows []any
	for _, rec := range recs {
		for r := 0; r < int(rec.NumRows()); r++ {
			row := map[string]any{}
			for c := 0; c < int(rec.NumCols()); c++ {
				v, err := canonicalValue(rec.Column(c), r)
				if err != nil {
					return nil, fmt.Errorf("column %q row %d: %w", rec.ColumnName(c), r, err)
				}
				row[rec.ColumnName(c)] = v
			}
			rows = append(rows, row)
		}
	}
	return SortRows(rows)
}

// SortRows normalises rows through JSON (so numbers are float64 on both
// sides) and sorts them by their JSON text.
func SortRows(rows []any) ([]any, error) {
	type keyed struct {
		key string
		v   any
	}
	ks := make([]keyed, len(rows))
	for i, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		nb, _ := json.Marshal(v) // map keys sorted
		ks[i] = keyed{string(nb), v}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].key < ks[j].key })
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = k.v
	}
	return out, nil
}

func canonicalValue(arr arrow.Array, i int) (any, error) {
	if arr.IsNull(i) {
		return nil, nil
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Int8:
		return int64(a.Value(i)), nil
	case *array.Int16:
		return int64(a.Value(i)), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Float32:
		return canonicalFloat(float64(a.Value(i))), nil
	case *array.Float64:
		return canonicalFloat(a.Value(i)), nil
	case *array.String:
		return a.Value(i), nil
	case *array.Binary:
		return "b64:" + base64.StdEncoding.EncodeToString(a.Value(i)), nil
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02"), nil
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		ts := a.Value(i).ToTime(tt.Unit).UTC()
		if tt.TimeZone != "" {
			return ts.Format("2006-01-02T15:04:05.000000Z"), nil
		}
		return ts.Format("2006-01-02T15:04:05.000000"), nil
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale), nil
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		m := map[string]any{}
		for f := 0; f < a.NumField(); f++ {
			v, err := canonicalValue(a.Field(f), i)
			if err != nil {
				return nil, err
			}
			m[st.Field(f).Name] = v
		}
		return m, nil
	case *array.Map:
		start, end := a.ValueOffsets(i)
		keys, items := a.Keys(), a.Items()
		pairs := make([]any, 0, end-start)
		for j := int(start); j < int(end); j++ {
			k, err := canonicalValue(keys, j)
			if err != nil {
				return nil, err
			}
			v, err := canonicalValue(items, j)
			if err != nil {
				return nil, err
			}
			pairs = append(pairs, []any{k, v})
		}
		// Sorted by the key's JSON text, as the Python oracle does.
		sort.Slice(pairs, func(x, y int) bool {
			kx, _ := json.Marshal(pairs[x].([]any)[0])
			ky, _ := json.Marshal(pairs[y].([]any)[0])
			return string(kx) < string(ky)
		})
		return pairs, nil
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		out := make([]any, 0, end-start)
		for j := int(start); j < int(end); j++ {
			v, err := canonicalValue(vals, j)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no canonical form for Arrow type %s", arr.DataType())
}

func canonicalFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// Python's repr: nan, inf, -inf
		switch {
		case math.IsNaN(f):
			return "nan"
		case f > 0:
			return "inf"
		}
		return "-inf"
	}
	return f
}
