package decode

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/valyala/fastjson"
)

// jsonDecoder decodes JSON objects, one per message value.
type jsonDecoder struct {
	plan *plan
	fast *fastPlan // nil: the scanner cannot serve these columns
}

// NewJSON returns a Decoder for JSON object values. Each column without
// Meta takes the value at its Path (object keys, matched exactly; an absent
// key or JSON null is null) and converts it to the column's type:
//
//   - boolean: true/false, or the strings "true"/"false" (any case);
//   - byte, short, integer, long: integral numbers or numeric strings, range
//     checked ("42.0" and 1e3 are not integers);
//   - float, double: numbers or numeric strings (also "NaN", "Infinity");
//   - decimal(p,s): numbers or numeric strings, parsed exactly; more
//     fractional digits than s fail unless WithDecimalRounding;
//   - string: strings; any other value becomes its JSON text;
//   - binary: base64 strings (padded or not);
//   - date: "YYYY-MM-DD" or days since 1970-01-01;
//   - timestamp: RFC 3339 (converted to UTC; no offset means UTC) or a
//     number since the epoch in the unit of WithEpochUnit (default ms);
//   - timestamp_ntz: RFC 3339 without offset, or a number as for timestamp;
//   - struct: objects (fields by name), array: arrays, map: objects (keys
//     converted to the key type).
//
// A null for a NOT NULL column or field, or a value that does not convert,
// fails the row with a *ColumnError.
func NewJSON(cols []Column, opts ...JSONOption) (Decoder, error) {
	p, err := newPlan(cols, opts)
	if err != nil {
		return nil, err
	}
	return &jsonDecoder{plan: p, fast: newFastPlan(p)}, nil
}

// Schema is the Arrow schema of the rows.
func (d *jsonDecoder) Schema() *arrow.Schema { return d.plan.schema }

// NewBatch starts an empty batch. When the scanner's flat loop serves the
// columns and they are all flat columns in the batch, rows are appended to
// them straight from the scanner.
func (d *jsonDecoder) NewBatch(mem memory.Allocator) Batch {
	rows := newJSONRows(d.plan, d.fast)
	b := newBatch(d.plan, mem, rows)
	if d.fast != nil && d.fast.flat != nil && b.allFlat(d.plan.valueCols) {
		b.direct = rows
	}
	return b
}

// jsonRows stages JSON values: with the scanner (jsonscan.go) where it can,
// else with a fastjson parser reused across messages.
type jsonRows struct {
	plan *plan
	p    fastjson.Parser
	sc   *scanner // nil if the columns have no fast plan
}

func newJSONRows(p *plan, fp *fastPlan) *jsonRows {
	j := &jsonRows{plan: p}
	if fp != nil {
		j.sc = &scanner{fp: fp, plan: p, seen: make([]uint32, fp.slots)}
	}
	return j
}

var errNotObject = errors.New("value is not a JSON object")

func (j *jsonRows) stageRow(m *Message, row []val, s *stager) error {
	if j.try(s) {
		if j.sc.row(m.Value, row) {
			j.sc.misses = 0
			return nil
		}
		j.missed(s)
	}
	return j.slowRow(m, row, s)
}

// appendFlat appends the value columns of m straight to cols with the
// scanner's flat loop; false means it did not, and the row must be staged
// with slowRow.
func (j *jsonRows) appendFlat(m *Message, cols []*flatCol, n int, s *stager) (int, bool) {
	if j.try(s) {
		if size, ok := j.sc.flatRow(m.Value, cols, n); ok {
			j.sc.misses = 0
			return size, true
		}
		j.missed(s)
	}
	return 0, false
}

// try reports whether the scanner should try the next row (it rests after
// many misses), and gives it the row's stager.
func (j *jsonRows) try(s *stager) bool {
	sc := j.sc
	if sc == nil {
		return false
	}
	if sc.rest > 0 {
		sc.rest--
		return false
	}
	sc.s = s
	return true
}

// missed counts a row the scanner gave up on; the reference decides it, and
// stages the row or says why not.
func (j *jsonRows) missed(s *stager) {
	s.reset()
	sc := j.sc
	if sc.misses++; sc.misses >= missLimit {
		sc.misses, sc.rest = 0, missRest
	}
}

// slowRow stages a row through a fastjson tree: the reference for the
// scanner, and the path for every row the scanner does not serve.
func (j *jsonRows) slowRow(m *Message, row []val, s *stager) error {
	root, err := j.p.ParseBytes(m.Value)
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if t := root.Type(); t != fastjson.TypeObject && t != fastjson.TypeNull {
		return fmt.Errorf("%w: it is a JSON %s", errNotObject, t)
	}
	for _, i := range j.plan.valueCols {
		v, err := lookup(root, j.plan.paths[i])
		if err == nil {
			row[i], err = s.json(j.plan.nodes[i], v)
		}
		if err != nil {
			return columnError(j.plan.cols[i].Name, err)
		}
	}
	return nil
}

// lookup follows path through nested objects; a missing key or a null on
// the way gives nil.
func lookup(v *fastjson.Value, path []string) (*fastjson.Value, error) {
	for i, key := range path {
		switch v.Type() {
		case fastjson.TypeNull:
			return nil, nil
		case fastjson.TypeObject:
		default:
			if i == 0 {
				return nil, errNotObject
			}
			return nil, fmt.Errorf("path %q: %q is a JSON %s, not an object", path, path[i-1], v.Type())
		}
		o, _ := v.Object()
		if v = o.Get(key); v == nil {
			return nil, nil
		}
	}
	return v, nil
}

// json stages one JSON value (nil if absent) for n.
func (s *stager) json(n *node, v *fastjson.Value) (val, error) {
	if v == nil {
		return s.null(n)
	}
	switch t := v.Type(); t {
	case fastjson.TypeNull:
		return s.null(n)
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return s.fromBool(n, t == fastjson.TypeTrue)
	case fastjson.TypeNumber:
		s.scratch = v.MarshalTo(s.scratch[:0])
		return s.fromNumeric(n, s.scratch, false)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return s.fromText(n, b)
	case fastjson.TypeObject:
		o, _ := v.Object()
		switch n.kind {
		case kStruct:
			start := s.reserve(len(n.fields))
			for i, f := range n.fields {
				fv, err := s.json(f, o.Get(f.name))
				if err != nil {
					return val{}, inField("."+f.name, err)
				}
				s.kids[start+i] = fv
			}
			return nested(start, len(n.fields)), nil
		case kMap:
			return s.jsonMap(n, o)
		}
	case fastjson.TypeArray:
		if n.kind == kArray {
			a, _ := v.Array()
			start := s.reserve(len(a))
			for i, e := range a {
				ev, err := s.json(n.elem, e)
				if err != nil {
					return val{}, inField("["+strconv.Itoa(i)+"]", err)
				}
				s.kids[start+i] = ev
			}
			return nested(start, len(a)), nil
		}
	}
	if n.kind == kString {
		// Any other JSON value for a string column: its JSON text.
		start := len(s.bytes)
		s.bytes = v.MarshalTo(s.bytes)
		return val{b: s.bytes[start:len(s.bytes):len(s.bytes)]}, nil
	}
	return val{}, cannot("a JSON "+v.Type().String(), n)
}

// jsonMap stages an object as a map: its keys (as strings) and values.
func (s *stager) jsonMap(n *node, o *fastjson.Object) (val, error) {
	start := s.reserve(2 * o.Len())
	i := 0
	var err error
	o.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		var kv, vv val
		if kv, err = s.fromText(n.key, key); err != nil {
			err = inField(fmt.Sprintf("[%q]", key), fmt.Errorf("key: %w", err))
			return
		}
		if vv, err = s.json(n.elem, v); err != nil {
			err = inField(fmt.Sprintf("[%q]", key), err)
			return
		}
		s.kids[start+2*i], s.kids[start+2*i+1] = kv, vv
		i++
	})
	if err != nil {
		return val{}, err
	}
	return nested(start, i), nil
}
