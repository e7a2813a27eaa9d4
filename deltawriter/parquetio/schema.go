package parquetio

import (
	"fmt"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// sameShape reports whether two Delta types have the same structure and
// primitive types, ignoring nullability and field-name case.
func sameShape(a, b *deltalog.Type) bool {
	if a == nil || b == nil || a.Name != b.Name || a.Precision != b.Precision || a.Scale != b.Scale ||
		len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if !sameShape(a.Fields[i].Type, b.Fields[i].Type) {
			return false
		}
	}
	switch a.Name {
	case deltalog.TypeArray:
		return sameShape(a.Element, b.Element)
	case deltalog.TypeMap:
		return sameShape(a.Key, b.Key) && sameShape(a.Value, b.Value)
	}
	return true
}

// decimalBytes is the number of bytes of the FIXED_LEN_BYTE_ARRAY holding a
// decimal of the given precision, as Spark chooses it: the fewest bytes whose
// signed range holds 10^precision.
func decimalBytes(precision int) int {
	for n := 1; ; n++ {
		// 2^(8n-1) > 10^p  <=>  (8n-1)*log10(2) > p
		if float64(8*n-1)*0.30102999566398120 > float64(precision) {
			return n
		}
	}
}

// Parquet group types borrowed from parquet-go's constructors: they carry the
// LIST and MAP logical types, and no logical type for plain groups.
var (
	groupType = parquet.Group{}.Type()
	listType  = parquet.List(parquet.Leaf(parquet.Int32Type)).Type()
	mapType   = parquet.Map(parquet.Leaf(parquet.Int32Type), parquet.Leaf(parquet.Int32Type)).Type()
)

// group is a Parquet group node that keeps its fields in the order given
// (parquet.Group sorts them by name, which would reorder Delta columns).
type group struct {
	typ    parquet.Type
	fields []parquet.Field
}

type namedNode struct {
	parquet.Node
	name string
}

func (f namedNode) Name() string                      { return f.name }
func (f namedNode) Value(reflect.Value) reflect.Value { return reflect.Value{} }
func (g *group) ID() int                              { return 0 }
func (g *group) String() string                       { return "group" }
func (g *group) Type() parquet.Type                   { return g.typ }
func (g *group) Optional() bool                       { return false }
func (g *group) Repeated() bool                       { return false }
func (g *group) Required() bool                       { return true }
func (g *group) Leaf() bool                           { return false }
func (g *group) Fields() []parquet.Field              { return g.fields }
func (g *group) Encoding() encoding.Encoding          { return nil }
func (g *group) Compression() compress.Codec          { return nil }
func (g *group) GoType() reflect.Type                 { return reflect.TypeOf(map[string]any(nil)) }
func field(name string, n parquet.Node) parquet.Field { return namedNode{Node: n, name: name} }
func repetition(n parquet.Node, nullable bool) parquet.Node {
	if nullable {
		return parquet.Optional(n)
	}
	return parquet.Required(n)
}

// parquetNode returns the Parquet node (without repetition) that stores a
// Delta type the way Spark writes it.
func parquetNode(t *deltalog.Type, path string) (parquet.Node, error) {
	switch t.Name {
	case deltalog.TypeBoolean:
		return parquet.Leaf(parquet.BooleanType), nil
	case deltalog.TypeByte:
		return parquet.Int(8), nil
	case deltalog.TypeShort:
		return parquet.Int(16), nil
	case deltalog.TypeInteger:
		return parquet.Leaf(parquet.Int32Type), nil
	case deltalog.TypeLong:
		return parquet.Leaf(parquet.Int64Type), nil
	case deltalog.TypeFloat:
		return parquet.Leaf(parquet.FloatType), nil
	case deltalog.TypeDouble:
		return parquet.Leaf(parquet.DoubleType), nil
	case deltalog.TypeString:
		return parquet.String(), nil
	case deltalog.TypeBinary:
		return parquet.Leaf(parquet.ByteArrayType), nil
	case deltalog.TypeDate:
		return parquet.Date(), nil
	case deltalog.TypeTimestamp:
		return parquet.TimestampAdjusted(parquet.Microsecond, true), nil
	case deltalog.TypeTimestampNTZ:
		return parquet.TimestampAdjusted(parquet.Microsecond, false), nil
	case deltalog.TypeDecimal:
		switch {
		case t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision:
			return nil, fmt.Errorf("parquetio: column %q: invalid %s", path, t)
		case t.Precision <= 9:
			return parquet.Decimal(t.Scale, t.Precision, parquet.Int32Type), nil
		case t.Precision <= 18:
			return parquet.Decimal(t.Scale, t.Precision, parquet.Int64Type), nil
		}
		return parquet.Decimal(t.Scale, t.Precision, parquet.FixedLenByteArrayType(decimalBytes(t.Precision))), nil
	case deltalog.TypeStruct:
		if len(t.Fields) == 0 {
			return nil, fmt.Errorf("parquetio: column %q: struct without fields", path)
		}
		g := &group{typ: groupType}
		for _, f := range t.Fields {
			n, err := parquetNode(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			n = repetition(n, f.Nullable)
			if id, ok := deltalog.FieldID(&f); ok {
				n = parquet.FieldID(n, id) // column mapping: readers in mode id match by it
			}
			g.fields = append(g.fields, field(f.Name, n))
		}
		return g, nil
	case deltalog.TypeArray:
		e, err := parquetNode(t.Element, path+".element")
		if err != nil {
			return nil, err
		}
		elem := &group{typ: groupType, fields: []parquet.Field{field("element", repetition(e, t.ContainsNull))}}
		return &group{typ: listType, fields: []parquet.Field{field("list", parquet.Repeated(elem))}}, nil
	case deltalog.TypeMap:
		k, err := parquetNode(t.Key, path+".key")
		if err != nil {
			return nil, err
		}
		v, err := parquetNode(t.Value, path+".value")
		if err != nil {
			return nil, err
		}
		kv := &group{typ: groupType, fields: []parquet.Field{
			field("key", parquet.Required(k)), field("value", repetition(v, t.ValueContainsNull)),
		}}
		return &group{typ: mapType, fields: []parquet.Field{field("key_value", parquet.Repeated(kv))}}, nil
	}
	return nil, fmt.Errorf("parquetio: column %q: unsupported Delta type %q", path, t.Name)
}

// parquetSchema is the Parquet schema of files written for a Delta schema.
func parquetSchema(s *deltalog.Schema) (*parquet.Schema, error) {
	if s == nil || s.Name != deltalog.TypeStruct {
		return nil, fmt.Errorf("parquetio: schema must be a struct type")
	}
	root, err := parquetNode(s, "")
	if err != nil {
		return nil, err
	}
	return parquet.NewSchema("spark_schema", root), nil
}
