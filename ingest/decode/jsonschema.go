package decode

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/sr"
)

// jsonSchemaDecoder decodes Confluent-framed JSON (the JSON Schema format):
// the header is stripped and the JSON converts as NewJSON's does.
type jsonSchemaDecoder struct {
	plan  *plan
	fast  *fastPlan
	reg   Registry
	known *idCache[struct{}]
}

// NewJSONSchema returns a Decoder for JSON Schema values in the Confluent
// wire format (magic byte 0, 4-byte big-endian schema id, JSON text). The
// schema id must be registered as a JSON schema (checked once per id and
// cached); the schema is not used to validate the value. The JSON converts
// to the columns exactly as with NewJSON.
func NewJSONSchema(cols []Column, reg Registry, opts ...Option) (Decoder, error) {
	if reg == nil {
		return nil, errNoRegistry("jsonschema")
	}
	p, err := newPlan(cols, opts)
	if err != nil {
		return nil, err
	}
	d := &jsonSchemaDecoder{plan: p, fast: newFastPlan(p), reg: reg}
	d.known = newIDCache(&p.opts, func(ctx context.Context, id int) (struct{}, error) {
		_, err := fetchSchema(ctx, reg, id, sr.TypeJSON)
		return struct{}{}, err
	})
	return d, nil
}

// Schema is the Arrow schema of the rows.
func (d *jsonSchemaDecoder) Schema() *arrow.Schema { return d.plan.schema }

// NewBatch starts an empty batch.
func (d *jsonSchemaDecoder) NewBatch(mem memory.Allocator) Batch {
	return newBatch(d.plan, mem, &jsonSchemaRows{d: d, json: newJSONRows(d.plan, d.fast)})
}

// jsonSchemaRows strips the header and hands the JSON to jsonRows.
type jsonSchemaRows struct {
	d    *jsonSchemaDecoder
	json *jsonRows
	msg  Message
}

func (j *jsonSchemaRows) stageRow(m *Message, row []val, s *stager) error {
	id, payload, err := splitHeader(m.Value)
	if err != nil {
		return err
	}
	if _, err := j.d.known.get(id); err != nil {
		return err
	}
	j.msg = *m
	j.msg.Value = payload
	return j.json.stageRow(&j.msg, row, s)
}
