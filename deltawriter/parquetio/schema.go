package parquetio

import (
	"fmt"
	"reflect"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// listElementName is the name of the element field of Arrow list types built
// here; it matches the Parquet 3-level list layout.
const listElementName = "element"

// ArrowSchema converts a Delta table schema to the Arrow schema of the record
// batches that Writer accepts and ReadFile produces.
func ArrowSchema(s *deltalog.Schema) (*arrow.Schema, error) {
	if s == nil || s.Name != deltalog.TypeStruct {
		return nil, fmt.Errorf("parquetio: schema must be a struct type")
	}
	fields := make([]arrow.Field, len(s.Fields))
	for i, f := range s.Fields {
		t, err := arrowType(f.Type, f.Name)
		if err != nil {
			return nil, err
		}
		fields[i] = arrow.Field{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return arrow.NewSchema(fields, nil), nil
}

func arrowType(t *deltalog.Type, path string) (arrow.DataType, error) {
	if t == nil {
		return nil, fmt.Errorf("parquetio: column %q: missing type", path)
	}
	switch t.Name {
	case deltalog.TypeBoolean:
		return arrow.FixedWidthTypes.Boolean, nil
	case deltalog.TypeByte:
		return arrow.PrimitiveTypes.Int8, nil
	case deltalog.TypeShort:
		return arrow.PrimitiveTypes.Int16, nil
	case deltalog.TypeInteger:
		return arrow.PrimitiveTypes.Int32, nil
	case deltalog.TypeLong:
		return arrow.PrimitiveTypes.Int64, nil
	case deltalog.TypeFloat:
		return arrow.PrimitiveTypes.Float32, nil
	case deltalog.TypeDouble:
		return arrow.PrimitiveTypes.Float64, nil
	case deltalog.TypeString:
		return arrow.BinaryTypes.String, nil
	case deltalog.TypeBinary:
		return arrow.BinaryTypes.Binary, nil
	case deltalog.TypeDate:
		return arrow.FixedWidthTypes.Date32, nil
	case deltalog.TypeTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case deltalog.TypeTimestampNTZ:
		return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
	case deltalog.TypeDecimal:
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("parquetio: column %q: invalid %s", path, t)
		}
		return &arrow.Decimal128Type{Precision: int32(t.Precision), Scale: int32(t.Scale)}, nil
	case deltalog.TypeStruct:
		if len(t.Fields) == 0 {
			return nil, fmt.Errorf("parquetio: column %q: struct without fields", path)
		}
		fs := make([]arrow.Field, len(t.Fields))
		for i, f := range t.Fields {
			ft, err := arrowType(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			fs[i] = arrow.Field{Name: f.Name, Type: ft, Nullable: f.Nullable}
		}
		return arrow.StructOf(fs...), nil
	case deltalog.TypeArray:
		et, err := arrowType(t.Element, path+".element")
		if err != nil {
			return nil, err
		}
		return arrow.ListOfField(arrow.Field{Name: listElementName, Type: et, Nullable: t.ContainsNull}), nil
	case deltalog.TypeMap:
		kt, err := arrowType(t.Key, path+".key")
		if err != nil {
			return nil, err
		}
		vt, err := arrowType(t.Value, path+".value")
		if err != nil {
			return nil, err
		}
		mt := arrow.MapOf(kt, vt)
		mt.SetItemNullable(t.ValueContainsNull)
		return mt, nil
	}
	return nil, fmt.Errorf("parquetio: column %q: unsupported Delta type %q", path, t.Name)
}

// DeltaSchema converts an Arrow schema to a Delta table schema. Timestamps
// must have microsecond unit: with a time zone they map to timestamp, without
// one to timestamp_ntz.
func DeltaSchema(s *arrow.Schema) (*deltalog.Schema, error) {
	if s == nil {
		return nil, fmt.Errorf("parquetio: nil Arrow schema")
	}
	fields := make([]deltalog.Field, s.NumFields())
	for i, f := range s.Fields() {
		t, err := deltaType(f.Type, f.Name)
		if err != nil {
			return nil, err
		}
		fields[i] = deltalog.Field{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return deltalog.Struct(fields...), nil
}

func deltaType(dt arrow.DataType, path string) (*deltalog.Type, error) {
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return deltalog.Primitive(deltalog.TypeBoolean), nil
	case *arrow.Int8Type:
		return deltalog.Primitive(deltalog.TypeByte), nil
	case *arrow.Int16Type:
		return deltalog.Primitive(deltalog.TypeShort), nil
	case *arrow.Int32Type:
		return deltalog.Primitive(deltalog.TypeInteger), nil
	case *arrow.Int64Type:
		return deltalog.Primitive(deltalog.TypeLong), nil
	case *arrow.Float32Type:
		return deltalog.Primitive(deltalog.TypeFloat), nil
	case *arrow.Float64Type:
		return deltalog.Primitive(deltalog.TypeDouble), nil
	case *arrow.StringType:
		return deltalog.Primitive(deltalog.TypeString), nil
	case *arrow.BinaryType:
		return deltalog.Primitive(deltalog.TypeBinary), nil
	case *arrow.Date32Type:
		return deltalog.Primitive(deltalog.TypeDate), nil
	case *arrow.TimestampType:
		if t.Unit != arrow.Microsecond {
			return nil, fmt.Errorf("parquetio: column %q: timestamp unit %s not supported, want us", path, t.Unit)
		}
		if t.TimeZone == "" {
			return deltalog.Primitive(deltalog.TypeTimestampNTZ), nil
		}
		return deltalog.Primitive(deltalog.TypeTimestamp), nil
	case *arrow.Decimal128Type:
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("parquetio: column %q: invalid %s", path, t)
		}
		return deltalog.Decimal(int(t.Precision), int(t.Scale)), nil
	case *arrow.StructType:
		if t.NumFields() == 0 {
			return nil, fmt.Errorf("parquetio: column %q: struct without fields", path)
		}
		fs := make([]deltalog.Field, t.NumFields())
		for i, f := range t.Fields() {
			ft, err := deltaType(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			fs[i] = deltalog.Field{Name: f.Name, Type: ft, Nullable: f.Nullable}
		}
		return deltalog.Struct(fs...), nil
	case *arrow.MapType:
		kt, err := deltaType(t.KeyType(), path+".key")
		if err != nil {
			return nil, err
		}
		vt, err := deltaType(t.ItemType(), path+".value")
		if err != nil {
			return nil, err
		}
		return deltalog.Map(kt, vt, t.ItemField().Nullable), nil
	case *arrow.ListType:
		et, err := deltaType(t.Elem(), path+".element")
		if err != nil {
			return nil, err
		}
		return deltalog.Array(et, t.ElemField().Nullable), nil
	}
	return nil, fmt.Errorf("parquetio: column %q: unsupported Arrow type %s", path, dt)
}

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
			g.fields = append(g.fields, field(f.Name, repetition(n, f.Nullable)))
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
