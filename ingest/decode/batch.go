package decode

import (
	"fmt"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// plan is what every decoder shares: the columns, their conversion plans
// and the Arrow schema.
type plan struct {
	cols  []Column
	nodes []*node
	paths [][]string
	// valueCols and metaCols index the columns without and with Meta.
	valueCols, metaCols []int
	schema              *arrow.Schema
	opts                options
}

// newPlan checks the columns and builds their conversion plans. The Arrow
// schema is parquetio's for the same Delta columns, so batches can be
// written to Delta tables as they are.
func newPlan(cols []Column, opts []Option) (*plan, error) {
	p := &plan{cols: cols}
	for _, o := range opts {
		o(&p.opts)
	}
	if p.opts.epoch < EpochMillis || p.opts.epoch > EpochMicros {
		return nil, fmt.Errorf("decode: unknown epoch unit %d", p.opts.epoch)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("decode: no columns")
	}
	fields := make([]deltalog.Field, len(cols))
	seen := map[string]bool{}
	for i, c := range cols {
		if c.Name == "" {
			return nil, fmt.Errorf("decode: column %d has no name", i)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("decode: column %q declared twice", c.Name)
		}
		seen[c.Name] = true
		n, err := newNode(c.Type, c.Nullable, c.Name)
		if err != nil {
			return nil, fmt.Errorf("decode: column %q: %w", c.Name, err)
		}
		if err := checkMeta(c); err != nil {
			return nil, fmt.Errorf("decode: column %q: %w", c.Name, err)
		}
		path := c.Path
		if len(path) == 0 {
			path = []string{c.Name}
		}
		if c.Meta == "" {
			p.valueCols = append(p.valueCols, i)
		} else {
			p.metaCols = append(p.metaCols, i)
		}
		p.nodes = append(p.nodes, n)
		p.paths = append(p.paths, path)
		fields[i] = deltalog.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	s, err := deltalog.ArrowSchema(deltalog.Struct(fields...))
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	p.schema = s
	return p, nil
}

// checkMeta checks that a metadata column has a type its value converts to.
func checkMeta(c Column) error {
	switch c.Meta {
	case "", MetaTopic, MetaPartition, MetaOffset, MetaTimestamp, MetaKey:
		return nil
	case MetaHeaders:
		if c.Type.Name != deltalog.TypeMap {
			return fmt.Errorf("metadata %q needs a map type, such as map<string,binary>, not %s", c.Meta, c.Type)
		}
		return nil
	}
	return fmt.Errorf("unknown metadata %q", c.Meta)
}

// rowSource stages the value columns (those without Meta) of one message;
// each format has one per batch.
type rowSource interface {
	stageRow(m *Message, row []val, s *stager) error
}

// flatSource is a rowSource that can also append the value columns of a
// message straight to the batch's flat columns, skipping the staged row.
type flatSource interface {
	// appendFlat appends m's value columns to cols (indexed by column, all
	// flat) as row n and returns the bytes SizeBytes counts for them; false
	// means it did not serve the row, cols hold n rows as before, and the
	// row must be staged with slowRow.
	appendFlat(m *Message, cols []*flatCol, n int, s *stager) (int, bool)
	slowRow(m *Message, row []val, s *stager) error
}

// batch implements Batch for every format: the format's rowSource stages
// the value columns, the batch stages the metadata columns, and only a row
// that converted completely is appended.
type batch struct {
	plan   *plan
	src    rowSource
	direct flatSource           // if set, tried first for every row
	rb     *array.RecordBuilder // for nested columns
	flat   []*flatCol           // per column; nil for nested columns
	st     stager
	row    []val
	n      int
	size   int64
}

func newBatch(p *plan, mem memory.Allocator, src rowSource) *batch {
	b := &batch{plan: p, src: src, rb: array.NewRecordBuilder(mem, p.schema),
		st: stager{opts: &p.opts}, row: make([]val, len(p.cols)), flat: make([]*flatCol, len(p.cols))}
	for i, n := range p.nodes {
		b.flat[i] = newFlatCol(n, p.schema.Field(i).Type)
	}
	return b
}

// allFlat reports whether the columns cols are all flat columns.
func (b *batch) allFlat(cols []int) bool {
	for _, i := range cols {
		if b.flat[i] == nil {
			return false
		}
	}
	return true
}

// Add decodes m into one row; see Batch.
func (b *batch) Add(m *Message) error {
	b.st.reset()
	if b.direct != nil {
		size, ok := b.direct.appendFlat(m, b.flat, b.n, &b.st)
		if ok {
			return b.addMeta(m, size)
		}
		if err := b.direct.slowRow(m, b.row, &b.st); err != nil {
			return err
		}
	} else if err := b.src.stageRow(m, b.row, &b.st); err != nil {
		return err
	}
	if err := b.stageMeta(m); err != nil {
		return err
	}
	size := 0
	for i := range b.row {
		size += b.appendStaged(i)
	}
	b.size += int64(size)
	b.n++
	return nil
}

// appendStaged appends column i's staged value and returns the bytes
// SizeBytes counts for it.
func (b *batch) appendStaged(i int) int {
	if f := b.flat[i]; f != nil {
		return f.add(&b.row[i])
	}
	return b.st.appendVal(b.rb.Field(i), b.plan.nodes[i], b.row[i])
}

// stageMeta stages the metadata columns of m into the row.
func (b *batch) stageMeta(m *Message) error {
	for _, i := range b.plan.metaCols {
		c := &b.plan.cols[i]
		v, err := b.st.meta(b.plan.nodes[i], c.Meta, m)
		if err != nil {
			return columnError(c.Name, err)
		}
		b.row[i] = v
	}
	return nil
}

// addMeta completes a row whose value columns were appended straight to
// the flat columns (size bytes): it appends the metadata columns, or
// truncates the value columns again if one fails.
func (b *batch) addMeta(m *Message, size int) error {
	if err := b.stageMeta(m); err != nil {
		for _, i := range b.plan.valueCols {
			b.flat[i].truncate(b.n)
		}
		return err
	}
	for _, i := range b.plan.metaCols {
		size += b.appendStaged(i)
	}
	b.size += int64(size)
	b.n++
	return nil
}

// Len is the number of rows added since the last Build.
func (b *batch) Len() int { return b.n }

// SizeBytes estimates the bytes the rows hold in the builders.
func (b *batch) SizeBytes() int64 { return b.size }

// Build returns the rows as a record and resets the batch. The columns
// are then sized for as many rows (and string bytes) as this record has, so
// the next batch of a similar size does not grow them step by step (growing
// by doubling would reach at least that capacity anyway).
func (b *batch) Build() arrow.Record {
	rows := b.n
	b.n, b.size = 0, 0
	cols := make([]arrow.Array, len(b.flat))
	for i, f := range b.flat {
		if f != nil {
			cols[i] = f.array()
			continue
		}
		bld := b.rb.Field(i)
		cols[i] = bld.NewArray()
		bld.Reserve(rows)
	}
	rec := array.NewRecord(b.plan.schema, cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// Release frees the batch's buffers.
func (b *batch) Release() { b.rb.Release() }

// strBytes views s as bytes without copying; the result must not be written.
func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// meta stages a Kafka metadata value.
func (s *stager) meta(n *node, which string, m *Message) (val, error) {
	switch which {
	case MetaTopic:
		return s.fromBytes(n, strBytes(m.Topic))
	case MetaPartition:
		return s.fromInt(n, int64(m.Partition))
	case MetaOffset:
		return s.fromInt(n, m.Offset)
	case MetaTimestamp:
		if m.Timestamp.IsZero() {
			return s.null(n)
		}
		return s.fromTime(n, m.Timestamp)
	case MetaKey:
		if m.Key == nil {
			return s.null(n)
		}
		return s.fromBytes(n, m.Key)
	}
	// MetaHeaders; newPlan checked the map type.
	start := s.reserve(2 * len(m.Headers))
	for i, h := range m.Headers {
		k, err := s.fromBytes(n.key, strBytes(h.Key))
		if err != nil {
			return val{}, inField(fmt.Sprintf("[%q]", h.Key), err)
		}
		v := val{null: true}
		if h.Value == nil {
			v, err = s.null(n.elem)
		} else {
			v, err = s.fromBytes(n.elem, h.Value)
		}
		if err != nil {
			return val{}, inField(fmt.Sprintf("[%q]", h.Key), err)
		}
		s.kids[start+2*i], s.kids[start+2*i+1] = k, v
	}
	return nested(start, len(m.Headers)), nil
}
