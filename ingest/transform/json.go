package transform

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/valyala/fastjson"
)

// JSON functions over a string column holding JSON text:
//
//	json_value(s, path)  the scalar at path as text: a string unquoted, a
//	                     number as written, true/false. Null when s is
//	                     null or not valid JSON, the path is missing, or
//	                     the value is JSON null, an object or an array.
//	json_query(s, path)  the value at path (object, array or scalar) as
//	                     compact JSON text; null when missing or JSON null.
//
// path is a constant JSONPath subset: $ followed by .name, ['name'] or
// ["name"] and [index] (0-based) steps, e.g. '$.a.b[0]'.

func init() {
	funcs["json_value"] = func(e *Expr, args []Evaluator) (Evaluator, error) { return compileJSON("json_value", e, args) }
	funcs["json_query"] = func(e *Expr, args []Evaluator) (Evaluator, error) { return compileJSON("json_query", e, args) }
}

// jsonStep is one step of a path: an object key, or an array index.
type jsonStep struct {
	key   string
	index int // -1: key step
}

// parseJSONPath parses the supported JSONPath subset.
func parseJSONPath(p string) ([]jsonStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("path %q must start with $", p)
	}
	var steps []jsonStep
	for i := 1; i < len(p); {
		switch p[i] {
		case '.':
			j := i + 1
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("path %q: empty name at offset %d", p, i)
			}
			steps = append(steps, jsonStep{key: p[i+1 : j], index: -1})
			i = j
		case '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: unclosed [", p)
			}
			inner := p[i+1 : i+end]
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				steps = append(steps, jsonStep{key: inner[1 : len(inner)-1], index: -1})
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("path %q: %q is not an array index or quoted name", p, inner)
				}
				steps = append(steps, jsonStep{index: n})
			}
			i += end + 1
		default:
			return nil, fmt.Errorf("path %q: unexpected %q at offset %d", p, p[i], i)
		}
	}
	return steps, nil
}

// walk follows steps from v; nil when a step is missing.
func walk(v *fastjson.Value, steps []jsonStep) *fastjson.Value {
	for _, s := range steps {
		if v == nil {
			return nil
		}
		if s.index < 0 {
			if v.Type() != fastjson.TypeObject {
				return nil
			}
			o, _ := v.Object()
			v = o.Get(s.key)
			continue
		}
		if v.Type() != fastjson.TypeArray {
			return nil
		}
		a, _ := v.Array()
		if s.index >= len(a) {
			return nil
		}
		v = a[s.index]
	}
	return v
}

func compileJSON(fn string, e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs(fn, args, 2, 2); err != nil {
		return nil, err
	}
	if !isString(args[0].Type()) {
		return nil, argTypeErr(fn, 0, "a string", args[0])
	}
	path, ok := stringConst(args[1])
	if !ok {
		return nil, fmt.Errorf("%s: argument 2 must be a string constant, got %s", fn, sqlType(args[1].Type()))
	}
	steps, err := parseJSONPath(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	query := fn == "json_query"
	return &funcEval{name: e.String(), args: args[:1], typ: arrow.BinaryTypes.String, nullable: true,
		run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			s := arrs[0].(*array.String)
			var p fastjson.Parser
			var buf []byte
			return mapStringRows(b, name, n, len(s.ValueBytes())/4, validBits(s), func(i int) (string, bool, error) {
				doc, err := p.Parse(s.Value(i))
				if err != nil {
					return "", false, nil
				}
				v := walk(doc, steps)
				if v == nil || v.Type() == fastjson.TypeNull {
					return "", false, nil
				}
				if query {
					buf = v.MarshalTo(buf[:0])
					return string(buf), true, nil
				}
				switch v.Type() {
				case fastjson.TypeString:
					sb, _ := v.StringBytes()
					return string(sb), true, nil
				case fastjson.TypeNumber, fastjson.TypeTrue, fastjson.TypeFalse:
					buf = v.MarshalTo(buf[:0])
					return string(buf), true, nil
				}
				return "", false, nil
			}), nil
		}}, nil
}
