package decode

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/bufbuild/protocompile"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// pbDecoder decodes Confluent-framed Protobuf values. The .proto source of
// each schema id (and of the files it references) is compiled once with
// protocompile; values decode into dynamicpb messages.
type pbDecoder struct {
	plan  *plan
	reg   Registry
	files *idCache[*pbFile]
}

// NewProtobuf returns a Decoder for Protobuf values in the Confluent wire
// format: magic byte 0, 4-byte big-endian schema id, the message indexes
// (a zig-zag varint count, then that many zig-zag varint indexes: the path
// from the file's top-level messages to the record's message type; a
// single 0 byte means [0], the first message), then the Protobuf binary.
// The registry holds the .proto source (schemaType PROTOBUF), with its
// imports as references; google/protobuf well-known imports are built in.
//
// Each column without Meta takes the field at its Path (field names, or
// JSON names, through singular message fields; an unset message on the way
// is null). Values convert as NewJSON's do, from their Protobuf types:
// bool, integers (uint64 above 2^63-1 range-checked), float, double, string
// and bytes as such; enums as their value name (an unknown number as the
// number); google.protobuf.Timestamp as a timestamp; the wrapper types
// (Int64Value, StringValue, ...) as their value; other messages as structs
// (fields by name or JSON name); repeated fields as arrays; maps as maps
// (in key order). A field with presence (a message, optional or oneof
// member) that is not set is null; a proto3 scalar without presence is its
// value, the default if absent.
func NewProtobuf(cols []Column, reg Registry, opts ...Option) (Decoder, error) {
	if reg == nil {
		return nil, errNoRegistry("protobuf")
	}
	p, err := newPlan(cols, opts)
	if err != nil {
		return nil, err
	}
	d := &pbDecoder{plan: p, reg: reg}
	d.files = newIDCache(&p.opts, d.compile)
	return d, nil
}

// Schema is the Arrow schema of the rows.
func (d *pbDecoder) Schema() *arrow.Schema { return d.plan.schema }

// NewBatch starts an empty batch.
func (d *pbDecoder) NewBatch(mem memory.Allocator) Batch {
	return newBatch(d.plan, mem, &pbRows{d: d, msgs: map[protoreflect.FullName]*dynamicpb.Message{}})
}

// pbFile is one compiled schema id, with the column paths resolved per
// message type as records use them.
type pbFile struct {
	fd    protoreflect.FileDescriptor
	mu    sync.Mutex
	progs map[string]*pbProg // by message index path
}

// pbProg is the column plan for one message type.
type pbProg struct {
	md   protoreflect.MessageDescriptor
	cols []pbCol // one per value column, in plan.valueCols order
}

// pbCol is the field path of one column, or why it cannot be followed.
type pbCol struct {
	path []protoreflect.FieldDescriptor // nil: absent from the schema
	err  error
}

// compile fetches the schema id and its references and compiles them.
func (d *pbDecoder) compile(ctx context.Context, id int) (*pbFile, error) {
	s, err := fetchSchema(ctx, d.reg, id, sr.TypeProtobuf)
	if err != nil {
		return nil, err
	}
	fd, err := compileProtoSource(ctx, d.reg, fmt.Sprintf("schema-registry/%d.proto", id), s)
	if err != nil {
		return nil, err
	}
	return &pbFile{fd: fd, progs: map[string]*pbProg{}}, nil
}

// compileProtoSource compiles the .proto source of s, named main, with the files
// it references (fetched from reg) and the well-known imports.
func compileProtoSource(ctx context.Context, reg Registry, main string, s sr.Schema) (protoreflect.FileDescriptor, error) {
	srcs := map[string]string{main: s.Schema}
	if err := protoReferences(ctx, reg, s.References, srcs, 0); err != nil {
		return nil, err
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(srcs),
		}),
	}
	files, err := c.Compile(ctx, main)
	if err != nil {
		return nil, fmt.Errorf("compile Protobuf schema: %w", err)
	}
	return files[0], nil
}

// protoReferences adds the sources of refs (and of theirs) to srcs by
// import path.
func protoReferences(ctx context.Context, reg Registry, refs []sr.SchemaReference, srcs map[string]string, depth int) error {
	if depth > 32 {
		return fmt.Errorf("schema references nest more than 32 deep")
	}
	for _, r := range refs {
		if _, ok := srcs[r.Name]; ok {
			continue
		}
		ss, err := reg.SchemaByVersion(ctx, r.Subject, r.Version)
		if err != nil {
			return fmt.Errorf("reference %q (subject %q version %d): %w", r.Name, r.Subject, r.Version, registryError(err))
		}
		srcs[r.Name] = ss.Schema.Schema
		if err := protoReferences(ctx, reg, ss.References, srcs, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// maxMessageIndexes bounds the message index path of a record.
const maxMessageIndexes = 64

// splitMessageIndexes strips the Confluent message indexes from a payload.
func splitMessageIndexes(b []byte) ([]int, []byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("invalid message indexes: truncated varint")
	}
	b = b[k:]
	if n == 0 {
		return []int{0}, b, nil
	}
	if n < 0 || n > maxMessageIndexes {
		return nil, nil, fmt.Errorf("invalid message indexes: count %d", n)
	}
	idx := make([]int, n)
	for i := range idx {
		v, k := binary.Varint(b)
		if k <= 0 {
			return nil, nil, fmt.Errorf("invalid message indexes: truncated varint")
		}
		if v < 0 || v > math.MaxInt32 {
			return nil, nil, fmt.Errorf("invalid message indexes: index %d", v)
		}
		idx[i], b = int(v), b[k:]
	}
	return idx, b, nil
}

// prog returns the column plan for the message at indexes.
func (d *pbDecoder) prog(f *pbFile, indexes []int) (*pbProg, error) {
	key := fmt.Sprint(indexes)
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.progs[key]; ok {
		return p, nil
	}
	msgs := f.fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range indexes {
		if i >= msgs.Len() {
			return nil, fmt.Errorf("message indexes %v: no such message type in the schema", indexes)
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	p := &pbProg{md: md}
	for _, c := range d.plan.valueCols {
		p.cols = append(p.cols, resolvePBPath(md, d.plan.paths[c]))
	}
	f.progs[key] = p // bounded: one per message type of the file
	return p, nil
}

// pbFieldByName finds a field by proto name, else JSON name.
func pbFieldByName(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	if fd := md.Fields().ByName(protoreflect.Name(name)); fd != nil {
		return fd
	}
	return md.Fields().ByJSONName(name)
}

// resolvePBPath follows a column path through singular message fields.
func resolvePBPath(md protoreflect.MessageDescriptor, path []string) pbCol {
	var fds []protoreflect.FieldDescriptor
	for i, name := range path {
		fd := pbFieldByName(md, name)
		if fd == nil {
			return pbCol{}
		}
		fds = append(fds, fd)
		if i == len(path)-1 {
			break
		}
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return pbCol{err: fmt.Errorf("path %q: %q is a Protobuf %s, not a message", path, name, pbTypeName(fd))}
		}
		md = fd.Message()
	}
	return pbCol{path: fds}
}

func pbTypeName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.IsList():
		return "repeated " + fd.Kind().String()
	}
	return fd.Kind().String()
}

// pbRows stages Protobuf records, reusing one message per type.
type pbRows struct {
	d    *pbDecoder
	msgs map[protoreflect.FullName]*dynamicpb.Message
}

func (r *pbRows) stageRow(m *Message, row []val, s *stager) (err error) {
	id, payload, err := splitHeader(m.Value)
	if err != nil {
		return err
	}
	f, err := r.d.files.get(id)
	if err != nil {
		return err
	}
	indexes, payload, err := splitMessageIndexes(payload)
	if err != nil {
		return &SchemaIDError{ID: id, Err: err}
	}
	p, err := r.d.prog(f, indexes)
	if err != nil {
		return &SchemaIDError{ID: id, Err: err}
	}
	msg := r.msgs[p.md.FullName()]
	if msg == nil {
		msg = dynamicpb.NewMessage(p.md)
		r.msgs[p.md.FullName()] = msg
	}
	defer func() {
		if rec := recover(); rec != nil {
			err = &SchemaIDError{ID: id, Err: fmt.Errorf("invalid Protobuf payload: decoder panic: %v", rec)}
		}
	}()
	if err := proto.Unmarshal(payload, msg); err != nil {
		return &SchemaIDError{ID: id, Err: fmt.Errorf("invalid Protobuf payload for %s: %w", p.md.FullName(), err)}
	}
	for k, c := range r.d.plan.valueCols {
		n := r.d.plan.nodes[c]
		v, err := s.pbPath(n, msg, p.cols[k])
		if err != nil {
			return columnError(r.d.plan.cols[c].Name, err)
		}
		row[c] = v
	}
	return nil
}

// pbPath stages the field at a resolved column path.
func (s *stager) pbPath(n *node, msg protoreflect.Message, c pbCol) (val, error) {
	if c.err != nil {
		return val{}, c.err
	}
	if c.path == nil {
		return s.null(n)
	}
	last := len(c.path) - 1
	for _, fd := range c.path[:last] {
		if !msg.Has(fd) {
			return s.null(n)
		}
		msg = msg.Get(fd).Message()
	}
	return s.pbField(n, msg, c.path[last])
}

// pbField stages field fd of msg: a list, a map or a singular value.
func (s *stager) pbField(n *node, msg protoreflect.Message, fd protoreflect.FieldDescriptor) (val, error) {
	switch {
	case fd.IsList():
		if n.kind != kArray {
			return val{}, cannot("a Protobuf "+pbTypeName(fd), n)
		}
		l := msg.Get(fd).List()
		start := s.reserve(l.Len())
		for i := range l.Len() {
			v, err := s.pbValue(n.elem, fd, l.Get(i))
			if err != nil {
				return val{}, inField("["+strconv.Itoa(i)+"]", err)
			}
			s.kids[start+i] = v
		}
		return nested(start, l.Len()), nil
	case fd.IsMap():
		if n.kind != kMap {
			return val{}, cannot("a Protobuf map", n)
		}
		return s.pbMap(n, msg.Get(fd).Map(), fd)
	case fd.HasPresence() && !msg.Has(fd):
		return s.null(n)
	}
	return s.pbValue(n, fd, msg.Get(fd))
}

// pbMap stages a map field, its entries in key order so equal messages
// give equal rows.
func (s *stager) pbMap(n *node, m protoreflect.Map, fd protoreflect.FieldDescriptor) (val, error) {
	keys := make([]protoreflect.MapKey, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
		switch fd.MapKey().Kind() {
		case protoreflect.StringKind:
			return strings.Compare(a.String(), b.String())
		case protoreflect.BoolKind:
			return cmpBool(a.Bool(), b.Bool())
		case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
			return cmpOrdered(a.Uint(), b.Uint())
		}
		return cmpOrdered(a.Int(), b.Int())
	})
	start := s.reserve(2 * len(keys))
	for i, k := range keys {
		seg := fmt.Sprintf("[%q]", k.String())
		kv, err := s.pbValue(n.key, fd.MapKey(), k.Value())
		if err != nil {
			return val{}, inField(seg, fmt.Errorf("key: %w", err))
		}
		vv, err := s.pbValue(n.elem, fd.MapValue(), m.Get(k))
		if err != nil {
			return val{}, inField(seg, err)
		}
		s.kids[start+2*i], s.kids[start+2*i+1] = kv, vv
	}
	return nested(start, len(keys)), nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

func cmpOrdered[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pbValue stages one singular value of fd's type.
func (s *stager) pbValue(n *node, fd protoreflect.FieldDescriptor, v protoreflect.Value) (val, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return s.fromBool(n, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return s.fromInt(n, v.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if u := v.Uint(); u > math.MaxInt64 {
			s.scratch = strconv.AppendUint(s.scratch[:0], u, 10)
			return s.fromNumeric(n, s.scratch, false)
		}
		return s.fromInt(n, int64(v.Uint()))
	case protoreflect.FloatKind:
		if n.kind == kFloat32 || n.kind == kFloat64 {
			return floatVal(v.Float()), nil
		}
		s.scratch = strconv.AppendFloat(s.scratch[:0], v.Float(), 'g', -1, 32)
		return s.fromNumeric(n, s.scratch, false)
	case protoreflect.DoubleKind:
		return s.fromFloat(n, v.Float())
	case protoreflect.StringKind:
		return s.fromText(n, strBytes(v.String()))
	case protoreflect.BytesKind:
		return s.fromBytes(n, v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return s.fromText(n, strBytes(string(ev.Name())))
		}
		return s.fromInt(n, int64(v.Enum()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return s.pbMessage(n, v.Message())
	}
	return val{}, cannot("a Protobuf "+fd.Kind().String(), n)
}

// pbMessage stages a message: a well-known Timestamp or wrapper, or a
// struct.
func (s *stager) pbMessage(n *node, m protoreflect.Message) (val, error) {
	md := m.Descriptor()
	name := md.FullName()
	switch {
	case name == "google.protobuf.Timestamp":
		f := md.Fields()
		sec, nanos := m.Get(f.ByNumber(1)).Int(), m.Get(f.ByNumber(2)).Int()
		return s.fromTime(n, time.Unix(sec, nanos).UTC())
	case name.Parent() == "google.protobuf" && strings.HasSuffix(string(name.Name()), "Value") &&
		md.Fields().Len() == 1 && md.Fields().Get(0).Name() == "value":
		fd := md.Fields().Get(0)
		return s.pbValue(n, fd, m.Get(fd))
	}
	if n.kind != kStruct {
		return val{}, cannot("a Protobuf message "+string(name), n)
	}
	start := s.reserve(len(n.fields))
	for i, f := range n.fields {
		var v val
		var err error
		if fd := pbFieldByName(md, f.name); fd == nil {
			v, err = s.null(f)
		} else {
			v, err = s.pbField(f, m, fd)
		}
		if err != nil {
			return val{}, inField("."+f.name, err)
		}
		s.kids[start+i] = v
	}
	return nested(start, len(n.fields)), nil
}
