package decode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// This file derives a stream's columns from the latest schema of a
// registry subject, with the Delta types the decoders of this package
// convert each schema type to.

// ErrSubjectNotFound is returned by SubjectColumns when the registry has no
// such subject (or no version of it).
var ErrSubjectNotFound = errors.New("subject not found in the schema registry")

// maxInferDepth bounds the nesting of inferred types (and recursive schemas).
const maxInferDepth = 32

// SubjectColumns returns the columns of the latest schema registered under
// subject, read as format ("avro", "protobuf" or "jsonschema"): one column
// per field of the Avro record, of the first message of the .proto file, or
// per property of the JSON Schema object, in schema order, with the Delta
// type the decoder converts it to. A subject of another schema type, or a
// schema with a type no column can hold (a union of several non-null
// types, a recursive message), is an error naming the field.
func SubjectColumns(ctx context.Context, reg Registry, subject, format string) ([]Column, error) {
	ss, err := reg.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		if errors.Is(registryError(err), ErrSchemaNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrSubjectNotFound, subject)
		}
		return nil, fmt.Errorf("subject %q: %w", subject, registryError(err))
	}
	want := map[string]sr.SchemaType{FormatAvro: sr.TypeAvro, FormatProtobuf: sr.TypeProtobuf, FormatJSONSchema: sr.TypeJSON}[format]
	if ss.Type != want {
		if _, ok := map[string]bool{FormatAvro: true, FormatProtobuf: true, FormatJSONSchema: true}[format]; !ok {
			return nil, fmt.Errorf("format %q is not a schema registry format (avro, protobuf, jsonschema)", format)
		}
		return nil, fmt.Errorf("subject %q version %d is registered as %s, not %s", subject, ss.Version, ss.Type, want)
	}
	var cols []Column
	switch format {
	case FormatAvro:
		cols, err = avroColumns(ctx, reg, ss.Schema)
	case FormatProtobuf:
		cols, err = protoColumns(ctx, reg, subject, ss.Schema)
	default:
		cols, err = jsonSchemaColumns(ss.Schema.Schema)
	}
	if err != nil {
		return nil, fmt.Errorf("subject %q version %d: %w", subject, ss.Version, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("subject %q version %d: the schema has no fields", subject, ss.Version)
	}
	return cols, nil
}

// ---- Avro ----

func avroColumns(ctx context.Context, reg Registry, s sr.Schema) ([]Column, error) {
	rec, err := parseAvroRecord(ctx, reg, s)
	if err != nil {
		return nil, err
	}
	cols := make([]Column, 0, len(rec.Fields()))
	for _, f := range rec.Fields() {
		t, nullable, err := avroType(f.Type(), 0)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name(), err)
		}
		cols = append(cols, Column{Name: f.Name(), Type: t, Nullable: nullable})
	}
	return cols, nil
}

// avroType is the Delta type of an Avro schema, and whether it admits null
// (a union with null).
func avroType(sch avro.Schema, depth int) (*deltalog.Type, bool, error) {
	if depth > maxInferDepth {
		return nil, false, fmt.Errorf("the schema nests more than %d deep (a recursive type?)", maxInferDepth)
	}
	sch = deref(sch)
	var logical avro.LogicalType
	if ls, ok := sch.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		logical = ls.Logical().Type()
	}
	switch t := sch.(type) {
	case *avro.UnionSchema:
		var other []avro.Schema
		nullable := false
		for _, b := range t.Types() {
			if b.Type() == avro.Null {
				nullable = true
			} else {
				other = append(other, b)
			}
		}
		if len(other) != 1 {
			return nil, false, fmt.Errorf("a union of %d non-null types has no column type (only [\"null\", T] unions do)", len(other))
		}
		typ, _, err := avroType(other[0], depth+1)
		return typ, nullable, err
	case *avro.RecordSchema:
		fields := make([]deltalog.Field, 0, len(t.Fields()))
		for _, f := range t.Fields() {
			ft, nullable, err := avroType(f.Type(), depth+1)
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w", f.Name(), err)
			}
			fields = append(fields, deltalog.Field{Name: f.Name(), Type: ft, Nullable: nullable})
		}
		return deltalog.Struct(fields...), false, nil
	case *avro.ArraySchema:
		et, nullable, err := avroType(t.Items(), depth+1)
		if err != nil {
			return nil, false, err
		}
		return deltalog.Array(et, nullable), false, nil
	case *avro.MapSchema:
		vt, nullable, err := avroType(t.Values(), depth+1)
		if err != nil {
			return nil, false, err
		}
		return deltalog.Map(deltalog.Primitive(deltalog.TypeString), vt, nullable), false, nil
	case *avro.EnumSchema:
		return deltalog.Primitive(deltalog.TypeString), false, nil
	case *avro.FixedSchema:
		if dl, ok := t.Logical().(*avro.DecimalLogicalSchema); ok && logical == avro.Decimal {
			return deltalog.Decimal(dl.Precision(), dl.Scale()), false, nil
		}
		return deltalog.Primitive(deltalog.TypeBinary), false, nil
	case *avro.PrimitiveSchema:
		name := map[avro.Type]string{avro.Boolean: deltalog.TypeBoolean, avro.Int: deltalog.TypeInteger, avro.Long: deltalog.TypeLong,
			avro.Float: deltalog.TypeFloat, avro.Double: deltalog.TypeDouble, avro.String: deltalog.TypeString, avro.Bytes: deltalog.TypeBinary}[t.Type()]
		switch logical {
		case avro.Date:
			name = deltalog.TypeDate
		case avro.TimestampMillis, avro.TimestampMicros:
			name = deltalog.TypeTimestamp
		case avro.LocalTimestampMillis, avro.LocalTimestampMicros:
			name = deltalog.TypeTimestampNTZ
		case avro.Decimal:
			if dl, ok := t.Logical().(*avro.DecimalLogicalSchema); ok {
				return deltalog.Decimal(dl.Precision(), dl.Scale()), false, nil
			}
		}
		if t.Type() == avro.Null {
			return nil, false, fmt.Errorf("a field of type null has no column type")
		}
		if name != "" {
			return deltalog.Primitive(name), false, nil
		}
	}
	return nil, false, fmt.Errorf("Avro type %s has no column type", sch.Type())
}

// ---- Protobuf ----

func protoColumns(ctx context.Context, reg Registry, subject string, s sr.Schema) ([]Column, error) {
	fd, err := compileProtoSource(ctx, reg, subject+".proto", s)
	if err != nil {
		return nil, err
	}
	if fd.Messages().Len() == 0 {
		return nil, fmt.Errorf("the .proto file declares no message")
	}
	md := fd.Messages().Get(0) // Confluent's default: message index [0]
	fields := md.Fields()
	cols := make([]Column, 0, fields.Len())
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		t, err := protoType(f, 0)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name(), err)
		}
		cols = append(cols, Column{Name: string(f.Name()), Type: t, Nullable: true})
	}
	return cols, nil
}

// protoType is the Delta type of a field, repeated and map fields included.
func protoType(f protoreflect.FieldDescriptor, depth int) (*deltalog.Type, error) {
	if depth > maxInferDepth {
		return nil, fmt.Errorf("messages nest more than %d deep (a recursive message?)", maxInferDepth)
	}
	if f.IsMap() {
		k, err := protoKind(f.MapKey(), depth+1)
		if err != nil {
			return nil, err
		}
		v, err := protoKind(f.MapValue(), depth+1)
		if err != nil {
			return nil, err
		}
		return deltalog.Map(k, v, true), nil
	}
	t, err := protoKind(f, depth)
	if err != nil {
		return nil, err
	}
	if f.IsList() {
		return deltalog.Array(t, true), nil
	}
	return t, nil
}

// protoKind is the Delta type of one value of a field.
func protoKind(f protoreflect.FieldDescriptor, depth int) (*deltalog.Type, error) {
	switch f.Kind() {
	case protoreflect.BoolKind:
		return deltalog.Primitive(deltalog.TypeBoolean), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return deltalog.Primitive(deltalog.TypeInteger), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return deltalog.Primitive(deltalog.TypeLong), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return deltalog.Decimal(20, 0), nil // up to 2^64-1
	case protoreflect.FloatKind:
		return deltalog.Primitive(deltalog.TypeFloat), nil
	case protoreflect.DoubleKind:
		return deltalog.Primitive(deltalog.TypeDouble), nil
	case protoreflect.StringKind, protoreflect.EnumKind:
		return deltalog.Primitive(deltalog.TypeString), nil
	case protoreflect.BytesKind:
		return deltalog.Primitive(deltalog.TypeBinary), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := f.Message()
		name := md.FullName()
		if name == "google.protobuf.Timestamp" {
			return deltalog.Primitive(deltalog.TypeTimestamp), nil
		}
		if name.Parent() == "google.protobuf" && strings.HasSuffix(string(name.Name()), "Value") &&
			md.Fields().Len() == 1 && md.Fields().Get(0).Name() == "value" {
			return protoKind(md.Fields().Get(0), depth+1) // wrappers: the wrapped value
		}
		fields := make([]deltalog.Field, 0, md.Fields().Len())
		for i := 0; i < md.Fields().Len(); i++ {
			sub := md.Fields().Get(i)
			t, err := protoType(sub, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sub.Name(), err)
			}
			fields = append(fields, deltalog.Field{Name: string(sub.Name()), Type: t, Nullable: true})
		}
		return deltalog.Struct(fields...), nil
	}
	return nil, fmt.Errorf("Protobuf kind %s has no column type", f.Kind())
}

// ---- JSON Schema ----

// jsNode is the part of a JSON Schema the column types come from.
type jsNode struct {
	Type        jsTypes            `json:"type"`
	Format      string             `json:"format"`
	Properties  jsProps            `json:"properties"`
	Required    []string           `json:"required"`
	Items       *jsNode            `json:"items"`
	Ref         string             `json:"$ref"`
	Enum        []any              `json:"enum"`
	Definitions map[string]*jsNode `json:"definitions"`
	Defs        map[string]*jsNode `json:"$defs"`
}

// jsTypes is "type": one name or a list of names.
type jsTypes []string

func (t *jsTypes) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = jsTypes{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("\"type\" must be a string or a list of strings")
	}
	*t = many
	return nil
}

// jsProps keeps "properties" in document order (columns follow it).
type jsProps struct {
	names []string
	nodes map[string]*jsNode
}

func (p *jsProps) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("\"properties\" must be an object")
	}
	p.nodes = map[string]*jsNode{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var n jsNode
		if err := dec.Decode(&n); err != nil {
			return fmt.Errorf("property %s: %w", name, err)
		}
		if _, dup := p.nodes[name]; !dup {
			p.names = append(p.names, name)
		}
		p.nodes[name] = &n
	}
	return nil
}

func jsonSchemaColumns(text string) ([]Column, error) {
	var root jsNode
	if err := json.Unmarshal([]byte(text), &root); err != nil {
		return nil, fmt.Errorf("parse JSON schema: %w", err)
	}
	r := &jsResolver{root: &root}
	obj, err := r.resolve(&root, 0)
	if err != nil {
		return nil, err
	}
	if len(obj.Properties.names) == 0 {
		return nil, fmt.Errorf("the JSON schema is not an object with properties")
	}
	st, err := r.object(obj, 0)
	if err != nil {
		return nil, err
	}
	cols := make([]Column, len(st.Fields))
	for i, f := range st.Fields {
		cols[i] = Column{Name: f.Name, Type: f.Type, Nullable: f.Nullable}
	}
	return cols, nil
}

type jsResolver struct{ root *jsNode }

// resolve follows local $refs (#/definitions/X, #/$defs/X).
func (r *jsResolver) resolve(n *jsNode, depth int) (*jsNode, error) {
	for n.Ref != "" {
		if depth > maxInferDepth {
			return nil, fmt.Errorf("$ref chain longer than %d (a recursive schema?)", maxInferDepth)
		}
		var defs map[string]*jsNode
		var name string
		switch {
		case strings.HasPrefix(n.Ref, "#/definitions/"):
			defs, name = r.root.Definitions, strings.TrimPrefix(n.Ref, "#/definitions/")
		case strings.HasPrefix(n.Ref, "#/$defs/"):
			defs, name = r.root.Defs, strings.TrimPrefix(n.Ref, "#/$defs/")
		default:
			return nil, fmt.Errorf("$ref %q: only local references (#/definitions/..., #/$defs/...) are followed", n.Ref)
		}
		next, ok := defs[name]
		if !ok {
			return nil, fmt.Errorf("$ref %q: no such definition", n.Ref)
		}
		n = next
		depth++
	}
	return n, nil
}

// object is the struct type of an object schema: a property is nullable
// unless it is required and its type excludes null.
func (r *jsResolver) object(n *jsNode, depth int) (*deltalog.Type, error) {
	required := map[string]bool{}
	for _, q := range n.Required {
		required[q] = true
	}
	fields := make([]deltalog.Field, 0, len(n.Properties.names))
	for _, name := range n.Properties.names {
		t, nullable, err := r.typ(n.Properties.nodes[name], depth+1)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", name, err)
		}
		fields = append(fields, deltalog.Field{Name: name, Type: t, Nullable: nullable || !required[name]})
	}
	return deltalog.Struct(fields...), nil
}

// typ is the Delta type of a property, and whether its type admits null.
func (r *jsResolver) typ(n *jsNode, depth int) (*deltalog.Type, bool, error) {
	if depth > maxInferDepth {
		return nil, false, fmt.Errorf("the schema nests more than %d deep", maxInferDepth)
	}
	n, err := r.resolve(n, depth)
	if err != nil {
		return nil, false, err
	}
	var types []string
	nullable := false
	for _, t := range n.Type {
		if t == "null" {
			nullable = true
		} else {
			types = append(types, t)
		}
	}
	if len(types) == 0 && len(n.Enum) > 0 {
		types = []string{"string"}
	}
	if len(types) == 0 && len(n.Properties.names) > 0 {
		types = []string{"object"}
	}
	if len(types) != 1 {
		return nil, false, fmt.Errorf("\"type\" %v: a column needs exactly one non-null type", []string(n.Type))
	}
	switch types[0] {
	case "string":
		switch n.Format {
		case "date-time":
			return deltalog.Primitive(deltalog.TypeTimestamp), nullable, nil
		case "date":
			return deltalog.Primitive(deltalog.TypeDate), nullable, nil
		}
		return deltalog.Primitive(deltalog.TypeString), nullable, nil
	case "integer":
		return deltalog.Primitive(deltalog.TypeLong), nullable, nil
	case "number":
		return deltalog.Primitive(deltalog.TypeDouble), nullable, nil
	case "boolean":
		return deltalog.Primitive(deltalog.TypeBoolean), nullable, nil
	case "array":
		if n.Items == nil {
			return nil, false, fmt.Errorf("an array needs \"items\" to have a column type")
		}
		et, en, err := r.typ(n.Items, depth+1)
		if err != nil {
			return nil, false, fmt.Errorf("items: %w", err)
		}
		return deltalog.Array(et, en), nullable, nil
	case "object":
		if len(n.Properties.names) == 0 {
			return nil, false, fmt.Errorf("an object without \"properties\" has no column type")
		}
		st, err := r.object(n, depth)
		return st, nullable, err
	}
	return nil, false, fmt.Errorf("JSON Schema type %q has no column type", types[0])
}
