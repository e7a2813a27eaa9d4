package ingest

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// conform returns rec with the columns of the table schema, in its order:
// columns the pipeline does not produce (nullable, checked at start-up) are
// filled with nulls.
func conform(rec arrow.Record, table *deltalog.Schema) (arrow.Record, error) {
	as, err := deltalog.ArrowSchema(table)
	if err != nil {
		return nil, err
	}
	rs := rec.Schema()
	if rs.Equal(as) {
		rec.Retain()
		return rec, nil
	}
	cols := make([]arrow.Array, len(table.Fields))
	for i, f := range table.Fields {
		idx := arrowutil.FieldIndexFold(rs, f.Name)
		if idx < 0 {
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, as.Field(i).Type, int(rec.NumRows()))
			continue
		}
		c := rec.Column(idx)
		if !arrow.TypeEqual(c.DataType(), as.Field(i).Type) {
			return nil, fmt.Errorf("column %q: pipeline produces %s, table wants %s", f.Name, c.DataType(), as.Field(i).Type)
		}
		c.Retain()
		cols[i] = c
	}
	out := array.NewRecord(as, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}
