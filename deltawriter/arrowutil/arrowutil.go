// Package arrowutil holds Arrow helpers shared by the Delta writer and the
// ingest pipeline: row selection that works for every type Sluice writes.
package arrowutil

import (
	"context"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TakeRows returns the rows of arr at the given (ascending) indices. Arrow's
// take kernel lacks some nested types (maps), so those are assembled from
// slices of consecutive rows.
func TakeRows(ctx context.Context, arr arrow.Array, rows []int64) (arrow.Array, error) {
	if !HasMap(arr.DataType()) {
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		bld.AppendValues(rows, nil)
		idx := bld.NewArray()
		bld.Release()
		defer idx.Release()
		return compute.TakeArray(ctx, arr, idx)
	}
	var parts []arrow.Array
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end] == rows[end-1]+1 {
			end++
		}
		parts = append(parts, array.NewSlice(arr, rows[start], rows[end-1]+1))
		start = end
	}
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	if len(parts) == 0 {
		return array.MakeArrayOfNull(memory.DefaultAllocator, arr.DataType(), 0), nil
	}
	return array.Concatenate(parts, memory.DefaultAllocator)
}

// TakeRecord returns the rows of rec at the given (ascending) indices.
func TakeRecord(ctx context.Context, rec arrow.Record, rows []int64) (arrow.Record, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		c, err := TakeRows(ctx, rec.Column(i), rows)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecord(rec.Schema(), cols, int64(len(rows))), nil
}

// HasMap reports whether t is or contains a map type.
func HasMap(t arrow.DataType) bool {
	switch dt := t.(type) {
	case *arrow.MapType:
		return true
	case *arrow.ListType:
		return HasMap(dt.Elem())
	case *arrow.StructType:
		for _, f := range dt.Fields() {
			if HasMap(f.Type) {
				return true
			}
		}
	}
	return false
}

// FieldIndexFold returns the index of the field named name in s, matched
// exactly first and then case-insensitively (Delta column names are
// case-insensitive), or -1.
func FieldIndexFold(s *arrow.Schema, name string) int {
	if idx := s.FieldIndices(name); len(idx) > 0 {
		return idx[0]
	}
	for i, f := range s.Fields() {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}
