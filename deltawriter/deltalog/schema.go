package deltalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Primitive Delta type names, as they appear in a table's schemaString.
const (
	TypeBoolean      = "boolean"
	TypeByte         = "byte"
	TypeShort        = "short"
	TypeInteger      = "integer"
	TypeLong         = "long"
	TypeFloat        = "float"
	TypeDouble       = "double"
	TypeString       = "string"
	TypeBinary       = "binary"
	TypeDate         = "date"
	TypeTimestamp    = "timestamp"
	TypeTimestampNTZ = "timestamp_ntz"
	TypeVariant      = "variant" // semi-structured; read by no part of Sluice, passed through by sharing
	TypeDecimal      = "decimal"
	TypeStruct       = "struct"
	TypeArray        = "array"
	TypeMap          = "map"
)

// Type is a Delta data type: a primitive, a decimal, a struct, an array or a
// map. Exactly the fields for its Name are set.
type Type struct {
	Name string

	Precision, Scale int // decimal

	Fields []Field // struct

	Element      *Type // array
	ContainsNull bool  // array

	Key, Value        *Type // map
	ValueContainsNull bool  // map
}

// Field is one named column or struct member.
type Field struct {
	Name     string
	Type     *Type
	Nullable bool
	Metadata map[string]any
}

// Schema is a table schema: a struct type.
type Schema = Type

// Primitive returns the primitive type with the given name.
func Primitive(name string) *Type { return &Type{Name: name} }

// Decimal returns decimal(precision, scale).
func Decimal(precision, scale int) *Type {
	return &Type{Name: TypeDecimal, Precision: precision, Scale: scale}
}

// Struct returns a struct type of the given fields.
func Struct(fields ...Field) *Type { return &Type{Name: TypeStruct, Fields: fields} }

// Array returns an array type.
func Array(elem *Type, containsNull bool) *Type {
	return &Type{Name: TypeArray, Element: elem, ContainsNull: containsNull}
}

// Map returns a map type.
func Map(key, value *Type, valueContainsNull bool) *Type {
	return &Type{Name: TypeMap, Key: key, Value: value, ValueContainsNull: valueContainsNull}
}

// IsPrimitive reports whether t is neither struct, array nor map.
func (t *Type) IsPrimitive() bool {
	return t.Name != TypeStruct && t.Name != TypeArray && t.Name != TypeMap
}

// FieldByName returns the struct field with the given name (case-insensitive,
// as Delta column names are), or nil.
func (t *Type) FieldByName(name string) *Field {
	for i := range t.Fields {
		if strings.EqualFold(t.Fields[i].Name, name) {
			return &t.Fields[i]
		}
	}
	return nil
}

// String renders the type the way Delta and Spark print simple types, e.g.
// "decimal(10,2)", "array<long>", "struct<a:int,b:string>".
func (t *Type) String() string {
	switch t.Name {
	case TypeDecimal:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case TypeArray:
		return "array<" + t.Element.String() + ">"
	case TypeMap:
		return "map<" + t.Key.String() + "," + t.Value.String() + ">"
	case TypeStruct:
		var b strings.Builder
		b.WriteString("struct<")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.Name + ":" + f.Type.String())
		}
		b.WriteByte('>')
		return b.String()
	}
	return t.Name
}

// Equal reports whether two types are the same, ignoring field metadata.
func (t *Type) Equal(o *Type) bool {
	if t == nil || o == nil {
		return t == o
	}
	if t.Name != o.Name || t.Precision != o.Precision || t.Scale != o.Scale ||
		t.ContainsNull != o.ContainsNull || t.ValueContainsNull != o.ValueContainsNull ||
		len(t.Fields) != len(o.Fields) {
		return false
	}
	for i := range t.Fields {
		a, b := t.Fields[i], o.Fields[i]
		if a.Name != b.Name || a.Nullable != b.Nullable || !a.Type.Equal(b.Type) {
			return false
		}
	}
	switch t.Name {
	case TypeArray:
		return t.Element.Equal(o.Element)
	case TypeMap:
		return t.Key.Equal(o.Key) && t.Value.Equal(o.Value)
	}
	return true
}

var primitiveNames = map[string]bool{
	TypeBoolean: true, TypeByte: true, TypeShort: true, TypeInteger: true, TypeLong: true,
	TypeFloat: true, TypeDouble: true, TypeString: true, TypeBinary: true, TypeDate: true,
	TypeTimestamp: true, TypeTimestampNTZ: true, TypeVariant: true,
}

type jsonField struct {
	Name     string         `json:"name"`
	Type     *Type          `json:"type"`
	Nullable bool           `json:"nullable"`
	Metadata map[string]any `json:"metadata"`
}

type jsonType struct {
	Type              string      `json:"type"`
	Fields            []jsonField `json:"fields,omitempty"`
	ElementType       *Type       `json:"elementType,omitempty"`
	ContainsNull      *bool       `json:"containsNull,omitempty"`
	KeyType           *Type       `json:"keyType,omitempty"`
	ValueType         *Type       `json:"valueType,omitempty"`
	ValueContainsNull *bool       `json:"valueContainsNull,omitempty"`
}

// MarshalJSON writes the Delta schema serialization.
func (t *Type) MarshalJSON() ([]byte, error) {
	switch t.Name {
	case TypeDecimal:
		return json.Marshal(t.String())
	case TypeStruct:
		fs := make([]jsonField, len(t.Fields))
		for i, f := range t.Fields {
			md := f.Metadata
			if md == nil {
				md = map[string]any{}
			}
			fs[i] = jsonField{Name: f.Name, Type: f.Type, Nullable: f.Nullable, Metadata: md}
		}
		return json.Marshal(struct {
			Type   string      `json:"type"`
			Fields []jsonField `json:"fields"`
		}{TypeStruct, fs})
	case TypeArray:
		return json.Marshal(struct {
			Type         string `json:"type"`
			ElementType  *Type  `json:"elementType"`
			ContainsNull bool   `json:"containsNull"`
		}{TypeArray, t.Element, t.ContainsNull})
	case TypeMap:
		return json.Marshal(struct {
			Type              string `json:"type"`
			KeyType           *Type  `json:"keyType"`
			ValueType         *Type  `json:"valueType"`
			ValueContainsNull bool   `json:"valueContainsNull"`
		}{TypeMap, t.Key, t.Value, t.ValueContainsNull})
	}
	if !primitiveNames[t.Name] {
		return nil, fmt.Errorf("unknown Delta type %q", t.Name)
	}
	return json.Marshal(t.Name)
}

// UnmarshalJSON reads the Delta schema serialization.
func (t *Type) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return err
		}
		pt, err := ParsePrimitive(name)
		if err != nil {
			return err
		}
		*t = *pt
		return nil
	}
	var j jsonType
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("schema type: %w", err)
	}
	switch j.Type {
	case TypeStruct:
		fs := make([]Field, len(j.Fields))
		for i, f := range j.Fields {
			if f.Type == nil {
				return fmt.Errorf("schema field %q: missing type", f.Name)
			}
			fs[i] = Field{Name: f.Name, Type: f.Type, Nullable: f.Nullable, Metadata: f.Metadata}
		}
		*t = Type{Name: TypeStruct, Fields: fs}
	case TypeArray:
		if j.ElementType == nil {
			return fmt.Errorf("array type: missing elementType")
		}
		*t = Type{Name: TypeArray, Element: j.ElementType, ContainsNull: j.ContainsNull == nil || *j.ContainsNull}
	case TypeMap:
		if j.KeyType == nil || j.ValueType == nil {
			return fmt.Errorf("map type: missing keyType or valueType")
		}
		*t = Type{Name: TypeMap, Key: j.KeyType, Value: j.ValueType, ValueContainsNull: j.ValueContainsNull == nil || *j.ValueContainsNull}
	default:
		return fmt.Errorf("unknown Delta complex type %q", j.Type)
	}
	return nil
}

// ParsePrimitive parses a primitive type name such as "long" or "decimal(10,2)".
func ParsePrimitive(name string) (*Type, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if primitiveNames[n] {
		return Primitive(n), nil
	}
	if n == TypeDecimal {
		return Decimal(10, 0), nil
	}
	if strings.HasPrefix(n, "decimal(") && strings.HasSuffix(n, ")") {
		ps := strings.Split(n[len("decimal("):len(n)-1], ",")
		if len(ps) == 2 {
			p, err1 := strconv.Atoi(strings.TrimSpace(ps[0]))
			s, err2 := strconv.Atoi(strings.TrimSpace(ps[1]))
			if err1 == nil && err2 == nil && p >= 1 && p <= 38 && s >= 0 && s <= p {
				return Decimal(p, s), nil
			}
		}
		return nil, fmt.Errorf("invalid decimal type %q: want decimal(p,s) with 1 <= p <= 38 and 0 <= s <= p", name)
	}
	return nil, fmt.Errorf("unsupported Delta type %q", name)
}

// ParseSchema parses a metaData.schemaString.
func ParseSchema(s string) (*Schema, error) {
	var t Type
	if err := json.Unmarshal([]byte(s), &t); err != nil {
		return nil, fmt.Errorf("parse schemaString: %w", err)
	}
	if t.Name != TypeStruct {
		return nil, fmt.Errorf("parse schemaString: top-level type is %q, want struct", t.Name)
	}
	return &t, nil
}

// SchemaString serializes a schema for metaData.schemaString.
func SchemaString(s *Schema) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
