package decode

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// rawDecoder stores message values as they are.
type rawDecoder struct {
	plan  *plan
	value int // index of the value column
}

// NewRaw returns a Decoder that stores each message value in the one column
// without Meta, whose type must be valueType: "string" (the value must be
// valid UTF-8) or "binary". A nil value (a tombstone) is null. The other
// columns are metadata columns.
func NewRaw(cols []Column, valueType string) (Decoder, error) {
	if valueType != deltalog.TypeString && valueType != deltalog.TypeBinary {
		return nil, fmt.Errorf("decode: raw value type %q: want string or binary", valueType)
	}
	p, err := newPlan(cols, nil)
	if err != nil {
		return nil, err
	}
	d := &rawDecoder{plan: p, value: -1}
	for i, c := range cols {
		if c.Meta != "" {
			continue
		}
		if d.value >= 0 {
			return nil, fmt.Errorf("decode: raw: columns %q and %q both take the value; the others must be metadata columns", cols[d.value].Name, c.Name)
		}
		if c.Type.Name != valueType {
			return nil, fmt.Errorf("decode: raw: value column %q is %s, want %s", c.Name, c.Type, valueType)
		}
		d.value = i
	}
	if d.value < 0 {
		return nil, fmt.Errorf("decode: raw: no value column (one without Meta)")
	}
	return d, nil
}

// Schema is the Arrow schema of the rows.
func (d *rawDecoder) Schema() *arrow.Schema { return d.plan.schema }

// NewBatch starts an empty batch.
func (d *rawDecoder) NewBatch(mem memory.Allocator) Batch { return newBatch(d.plan, mem, d) }

func (d *rawDecoder) stageRow(m *Message, row []val, s *stager) error {
	n := d.plan.nodes[d.value]
	var err error
	if m.Value == nil {
		row[d.value], err = s.null(n)
	} else {
		row[d.value], err = s.fromBytes(n, m.Value)
	}
	if err != nil {
		return columnError(d.plan.cols[d.value].Name, err)
	}
	return nil
}
