package decode

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/bufbuild/protocompile"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const commonProto = `syntax = "proto3";
package common;
message Customer {
  int64 id = 1;
  string email_address = 2;
  repeated string phones = 3;
}`

const orderProto = `syntax = "proto3";
package t;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "common.proto";

message Ping { string note = 1; }

message Order {
  int64 id = 1;
  string name = 2;
  bool active = 3;
  double price = 4;
  float ratio = 5;
  Status status = 6;
  bytes raw = 7;
  google.protobuf.Timestamp ts = 8;
  common.Customer customer = 9;
  repeated string tags = 10;
  map<string, int64> attrs = 11;
  optional int32 maybe = 12;
  google.protobuf.Int64Value wrapped = 13;
  uint64 big_u = 14;
  repeated Line lines = 15;
  sint32 delta = 16;
  oneof choice { string code = 17; int32 number = 18; }

  enum Status { NEW = 0; SHIPPED = 1; }
  message Line { string sku = 1; uint32 qty = 2; }
}`

// compileProto compiles the test .proto sources as the decoder does.
func compileProto(t testing.TB) protoreflect.FileDescriptor {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"order.proto": orderProto, "common.proto": commonProto}),
	})}
	files, err := c.Compile(context.Background(), "order.proto")
	if err != nil {
		t.Fatal(err)
	}
	return files[0]
}

// pbSet sets fields of m by name from Go values.
func pbSet(m *dynamicpb.Message, fields map[string]any) *dynamicpb.Message {
	md := m.Descriptor()
	for name, v := range fields {
		fd := md.Fields().ByName(protoreflect.Name(name))
		switch v := v.(type) {
		case []string:
			l := m.Mutable(fd).List()
			for _, s := range v {
				l.Append(protoreflect.ValueOfString(s))
			}
		case map[string]int64:
			mp := m.Mutable(fd).Map()
			for k, x := range v {
				mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfInt64(x))
			}
		case []*dynamicpb.Message:
			l := m.Mutable(fd).List()
			for _, x := range v {
				l.Append(protoreflect.ValueOfMessage(x))
			}
		case *dynamicpb.Message:
			m.Set(fd, protoreflect.ValueOfMessage(v))
		case protoreflect.EnumNumber:
			m.Set(fd, protoreflect.ValueOfEnum(v))
		default:
			m.Set(fd, protoreflect.ValueOf(v))
		}
	}
	return m
}

func TestProtobuf(t *testing.T) {
	f, srv := newFakeRegistry(t)
	f.addSubject("common-value", 1, 10, sr.TypeProtobuf, commonProto)
	f.add(11, sr.TypeProtobuf, orderProto, sr.SchemaReference{Name: "common.proto", Subject: "common-value", Version: 1})
	fd := compileProto(t)
	order := fd.Messages().ByName("Order")
	customer := order.Fields().ByName("customer").Message()
	line := order.Messages().ByName("Line")
	tsMD := order.Fields().ByName("ts").Message()
	wrapMD := order.Fields().ByName("wrapped").Message()
	ts := time.Date(2024, 1, 31, 8, 20, 30, 123456789, time.UTC)

	full := pbSet(dynamicpb.NewMessage(order), map[string]any{
		"id": int64(-5), "name": "Zoë", "active": true, "price": 19.99, "ratio": float32(0.1),
		"status": protoreflect.EnumNumber(1), "raw": []byte{0, 255},
		"ts":       pbSet(dynamicpb.NewMessage(tsMD), map[string]any{"seconds": ts.Unix(), "nanos": int32(ts.Nanosecond())}),
		"customer": pbSet(dynamicpb.NewMessage(customer), map[string]any{"id": int64(42), "email_address": "a@b.c", "phones": []string{"1", "2"}}),
		"tags":     []string{"x", "y"}, "attrs": map[string]int64{"b": 2, "a": 1, "c": 3},
		"maybe": int32(0), "wrapped": pbSet(dynamicpb.NewMessage(wrapMD), map[string]any{"value": int64(77)}),
		"big_u": uint64(1) << 63, "lines": []*dynamicpb.Message{pbSet(dynamicpb.NewMessage(line), map[string]any{"sku": "A", "qty": uint32(3)})},
		"delta": int32(-9), "code": "Z9",
	})
	empty := dynamicpb.NewMessage(order)
	fullB, _ := proto.Marshal(full)
	emptyB, _ := proto.Marshal(empty)

	c := func(name, ddl string, nullable bool, path ...string) Column {
		return Column{Name: name, Type: mustType(t, ddl), Nullable: nullable, Path: path}
	}
	cols := []Column{
		c("id", "bigint", false), c("name", "string", false), c("active", "boolean", false),
		c("price", "double", false), c("ratio", "float", false), c("status", "string", false),
		c("raw", "binary", false), c("ts", "timestamp", true), c("ts_ntz", "timestamp_ntz", true, "ts"),
		c("customer", "struct<id:bigint,emailAddress:string,phones:array<string>,nope:int>", true),
		c("email", "string", true, "customer", "email_address"),
		c("email_json", "string", true, "customer", "emailAddress"),
		c("tags", "array<string>", false), c("attrs", "map<string,bigint>", false),
		c("maybe", "int", true), c("wrapped", "bigint", true), c("big_u", "decimal(20,0)", false),
		c("lines", "array<struct<sku:string,qty:bigint>>", false), c("delta", "int", false),
		c("code", "string", true), c("number", "int", true), c("absent", "string", true),
	}
	d, err := NewProtobuf(cols, f.client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	for _, v := range [][]byte{frame(11, fullB, 1), frame(11, emptyB, 1)} {
		if err := b.Add(&Message{Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.Build()
	defer rec.Release()
	want := []map[string]string{{
		"id": "-5", "name": "Zoë", "active": "true", "price": "19.99", "ratio": "0.1", "status": "SHIPPED",
		"raw": "AP8=", "ts": "2024-01-31 08:20:30.123456Z", "ts_ntz": "2024-01-31 08:20:30.123456Z",
		"customer": `{"emailAddress":"a@b.c","id":42,"nope":null,"phones":["1","2"]}`,
		"email":    "a@b.c", "email_json": "a@b.c", "tags": `["x","y"]`,
		"attrs": `[{"key":"a","value":1},{"key":"b","value":2},{"key":"c","value":3}]`,
		"maybe": "0", "wrapped": "77", "big_u": "9223372036854775808", "lines": `[{"qty":3,"sku":"A"}]`,
		"delta": "-9", "code": "Z9", "number": "(null)", "absent": "(null)",
	}, {
		"id": "0", "name": "", "active": "false", "status": "NEW", "raw": "", "ts": "(null)",
		"customer": "(null)", "email": "(null)", "tags": "[]", "attrs": "[]", "maybe": "(null)",
		"wrapped": "(null)", "big_u": "0", "lines": "[]", "code": "(null)",
	}}
	for i, w := range want {
		got := rowStrings(rec, i)
		for k, v := range w {
			if got[k] != v {
				t.Errorf("row %d %s = %s, want %s", i, k, got[k], v)
			}
		}
	}

	// The [0] shortcut selects the first message; [1, 1] a nested one:
	// Order's nested types are, as in its descriptor, AttrsEntry (the
	// map's entry type) and Line.
	ping := pbSet(dynamicpb.NewMessage(fd.Messages().ByName("Ping")), map[string]any{"note": "hi"})
	pingB, _ := proto.Marshal(ping)
	lineB, _ := proto.Marshal(pbSet(dynamicpb.NewMessage(line), map[string]any{"sku": "Q", "qty": uint32(1)}))
	d2, err := NewProtobuf([]Column{c("note", "string", true), c("sku", "string", true)}, f.client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	b2 := d2.NewBatch(memory.DefaultAllocator)
	defer b2.Release()
	if v := frame(11, pingB, 0); v[5] != 0 {
		t.Fatalf("[0] not framed as the single 0 byte: %x", v[:6])
	}
	for _, v := range [][]byte{frame(11, pingB, 0), frame(11, lineB, 1, 1)} {
		if err := b2.Add(&Message{Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	r2 := b2.Build()
	defer r2.Release()
	if g := rowStrings(r2, 0); g["note"] != "hi" || g["sku"] != "(null)" {
		t.Errorf("Ping row: %v", g)
	}
	if g := rowStrings(r2, 1); g["note"] != "(null)" || g["sku"] != "Q" {
		t.Errorf("Line row: %v", g)
	}
	if n := f.count("/subjects/common-value/versions/1"); n != 2 {
		t.Errorf("reference fetched %d times, want once per decoder", n)
	}
}

func TestProtobufErrors(t *testing.T) {
	f, srv := newFakeRegistry(t)
	f.addSubject("common-value", 1, 10, sr.TypeProtobuf, commonProto)
	f.add(11, sr.TypeProtobuf, orderProto, sr.SchemaReference{Name: "common.proto", Subject: "common-value", Version: 1})
	f.add(12, sr.TypeProtobuf, orderProto) // missing its reference
	f.add(13, sr.TypeProtobuf, `syntax = "proto3"; message M { int64 a = 1 }`)
	f.add(14, sr.TypeProtobuf, orderProto, sr.SchemaReference{Name: "common.proto", Subject: "gone", Version: 3})
	fd := compileProto(t)
	order := fd.Messages().ByName("Order")
	good, _ := proto.Marshal(pbSet(dynamicpb.NewMessage(order), map[string]any{"id": int64(1), "name": "x", "tags": []string{"a"}}))
	cols := []Column{
		{Name: "id", Type: mustType(t, "int")},
		{Name: "name", Type: mustType(t, "string"), Nullable: true},
	}
	d, err := NewProtobuf(cols, f.client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	if err := b.Add(&Message{Value: frame(11, good, 1)}); err != nil {
		t.Fatal(err)
	}
	big, _ := proto.Marshal(pbSet(dynamicpb.NewMessage(order), map[string]any{"id": int64(1) << 40}))
	for _, tc := range []struct {
		name string
		v    []byte
		want string
	}{
		{"unknown id", frame(99, good, 1), "schema id 99: not found in the registry"},
		{"no magic byte", []byte("hello world"), "no schema registry header (want magic byte 0 and a 4-byte big-endian schema id): first byte is 0x68"},
		{"missing reference", frame(12, good, 1), `schema id 12: compile Protobuf schema: `},
		{"reference not in registry", frame(14, good, 1), `schema id 14: reference "common.proto" (subject "gone" version 3): not found in the registry`},
		{"syntax error", frame(13, good, 0), "schema id 13: compile Protobuf schema: "},
		{"bad message index", frame(11, good, 7), "schema id 11: message indexes [7]: no such message type in the schema"},
		{"no message indexes", frame(11, nil), "schema id 11: invalid message indexes: truncated varint"},
		{"truncated", frame(11, good[:len(good)-1], 1), "schema id 11: invalid Protobuf payload for t.Order: "},
		{"wrong type", frame(11, big, 1), `column "id": 1099511627776 is out of range for integer (-2147483648 to 2147483647)`},
	} {
		err := b.Add(&Message{Value: tc.v})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v\n want %s", tc.name, err, tc.want)
		}
		if b.Len() != 1 {
			t.Errorf("%s: Len %d after a failed Add", tc.name, b.Len())
		}
	}
	d3, _ := NewProtobuf([]Column{{Name: "x", Type: mustType(t, "string"), Path: []string{"tags", "x"}}}, f.client(t, srv))
	b3 := d3.NewBatch(memory.DefaultAllocator)
	defer b3.Release()
	if err := b3.Add(&Message{Value: frame(11, good, 1)}); err == nil || err.Error() != `column "x": path ["tags" "x"]: "tags" is a Protobuf repeated string, not a message` {
		t.Errorf("path through a list: %v", err)
	}
}
