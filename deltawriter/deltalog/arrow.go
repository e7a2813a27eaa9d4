package deltalog

// Delta table schemas to and from Arrow schemas: the types of the record
// batches the data path (decode, transform, the Parquet writer and reader)
// works on.

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// listElementName is the name of the element field of Arrow list types built
// here; it matches the Parquet 3-level list layout.
const listElementName = "element"

// ArrowSchema converts a Delta table schema to the Arrow schema of the record
// batches that parquetio's Writer accepts and ReadFile produces.
func ArrowSchema(s *Schema) (*arrow.Schema, error) {
	if s == nil || s.Name != TypeStruct {
		return nil, fmt.Errorf("deltalog: schema must be a struct type")
	}
	fields := make([]arrow.Field, len(s.Fields))
	for i, f := range s.Fields {
		t, err := ArrowType(f.Type, f.Name)
		if err != nil {
			return nil, err
		}
		fields[i] = arrow.Field{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return arrow.NewSchema(fields, nil), nil
}

// ArrowType converts one Delta type to Arrow; path names the column in errors.
func ArrowType(t *Type, path string) (arrow.DataType, error) {
	if t == nil {
		return nil, fmt.Errorf("deltalog: column %q: missing type", path)
	}
	switch t.Name {
	case TypeBoolean:
		return arrow.FixedWidthTypes.Boolean, nil
	case TypeByte:
		return arrow.PrimitiveTypes.Int8, nil
	case TypeShort:
		return arrow.PrimitiveTypes.Int16, nil
	case TypeInteger:
		return arrow.PrimitiveTypes.Int32, nil
	case TypeLong:
		return arrow.PrimitiveTypes.Int64, nil
	case TypeFloat:
		return arrow.PrimitiveTypes.Float32, nil
	case TypeDouble:
		return arrow.PrimitiveTypes.Float64, nil
	case TypeString:
		return arrow.BinaryTypes.String, nil
	case TypeBinary:
		return arrow.BinaryTypes.Binary, nil
	case TypeDate:
		return arrow.FixedWidthTypes.Date32, nil
	case TypeTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case TypeTimestampNTZ:
		return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
	case TypeDecimal:
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("deltalog: column %q: invalid %s", path, t)
		}
		return &arrow.Decimal128Type{Precision: int32(t.Precision), Scale: int32(t.Scale)}, nil
	case TypeStruct:
		if len(t.Fields) == 0 {
			return nil, fmt.Errorf("deltalog: column %q: struct without fields", path)
		}
		fs := make([]arrow.Field, len(t.Fields))
		for i, f := range t.Fields {
			ft, err := ArrowType(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			fs[i] = arrow.Field{Name: f.Name, Type: ft, Nullable: f.Nullable}
		}
		return arrow.StructOf(fs...), nil
	case TypeArray:
		et, err := ArrowType(t.Element, path+".element")
		if err != nil {
			return nil, err
		}
		return arrow.ListOfField(arrow.Field{Name: listElementName, Type: et, Nullable: t.ContainsNull}), nil
	case TypeMap:
		kt, err := ArrowType(t.Key, path+".key")
		if err != nil {
			return nil, err
		}
		vt, err := ArrowType(t.Value, path+".value")
		if err != nil {
			return nil, err
		}
		mt := arrow.MapOf(kt, vt)
		mt.SetItemNullable(t.ValueContainsNull)
		return mt, nil
	}
	return nil, fmt.Errorf("deltalog: column %q: unsupported Delta type %q", path, t.Name)
}

// DeltaSchema converts an Arrow schema to a Delta table schema. Timestamps
// must have microsecond unit: with a time zone they map to timestamp, without
// one to timestamp_ntz.
func DeltaSchema(s *arrow.Schema) (*Schema, error) {
	if s == nil {
		return nil, fmt.Errorf("deltalog: nil Arrow schema")
	}
	fields := make([]Field, s.NumFields())
	for i, f := range s.Fields() {
		t, err := DeltaType(f.Type, f.Name)
		if err != nil {
			return nil, err
		}
		fields[i] = Field{Name: f.Name, Type: t, Nullable: f.Nullable}
	}
	return Struct(fields...), nil
}

// DeltaType converts one Arrow type to Delta; path names the column in errors.
func DeltaType(dt arrow.DataType, path string) (*Type, error) {
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return Primitive(TypeBoolean), nil
	case *arrow.Int8Type:
		return Primitive(TypeByte), nil
	case *arrow.Int16Type:
		return Primitive(TypeShort), nil
	case *arrow.Int32Type:
		return Primitive(TypeInteger), nil
	case *arrow.Int64Type:
		return Primitive(TypeLong), nil
	case *arrow.Float32Type:
		return Primitive(TypeFloat), nil
	case *arrow.Float64Type:
		return Primitive(TypeDouble), nil
	case *arrow.StringType:
		return Primitive(TypeString), nil
	case *arrow.BinaryType:
		return Primitive(TypeBinary), nil
	case *arrow.Date32Type:
		return Primitive(TypeDate), nil
	case *arrow.TimestampType:
		if t.Unit != arrow.Microsecond {
			return nil, fmt.Errorf("deltalog: column %q: timestamp unit %s not supported, want us", path, t.Unit)
		}
		if t.TimeZone == "" {
			return Primitive(TypeTimestampNTZ), nil
		}
		return Primitive(TypeTimestamp), nil
	case *arrow.Decimal128Type:
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("deltalog: column %q: invalid %s", path, t)
		}
		return Decimal(int(t.Precision), int(t.Scale)), nil
	case *arrow.StructType:
		if t.NumFields() == 0 {
			return nil, fmt.Errorf("deltalog: column %q: struct without fields", path)
		}
		fs := make([]Field, t.NumFields())
		for i, f := range t.Fields() {
			ft, err := DeltaType(f.Type, path+"."+f.Name)
			if err != nil {
				return nil, err
			}
			fs[i] = Field{Name: f.Name, Type: ft, Nullable: f.Nullable}
		}
		return Struct(fs...), nil
	case *arrow.MapType:
		kt, err := DeltaType(t.KeyType(), path+".key")
		if err != nil {
			return nil, err
		}
		vt, err := DeltaType(t.ItemType(), path+".value")
		if err != nil {
			return nil, err
		}
		return Map(kt, vt, t.ItemField().Nullable), nil
	case *arrow.ListType:
		et, err := DeltaType(t.Elem(), path+".element")
		if err != nil {
			return nil, err
		}
		return Array(et, t.ElemField().Nullable), nil
	}
	return nil, fmt.Errorf("deltalog: column %q: unsupported Arrow type %s", path, dt)
}
