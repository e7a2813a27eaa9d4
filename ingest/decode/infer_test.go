package decode

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// addLatest registers text as the latest version of subject.
func (f *fakeRegistry) addLatest(subject string, id int, typ sr.SchemaType, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subjects[subject+"/latest"] = sr.SubjectSchema{Subject: subject, Version: 3, ID: id, Schema: sr.Schema{Schema: text, Type: typ}}
}

func columnsText(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Name + " " + deltalog.FormatType(c.Type)
		if !c.Nullable {
			parts[i] += " NOT NULL"
		}
	}
	return strings.Join(parts, ", ")
}

// inferProto is the Protobuf schema of the inference tests.
const inferProto = `syntax = "proto3";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
message Order {
  int64 id = 1;
  string name = 2;
  google.protobuf.Timestamp placed_at = 3;
  repeated string tags = 4;
  map<string, int64> attrs = 5;
  Line first = 6;
  google.protobuf.Int32Value maybe = 7;
  uint64 big = 8;
  enum Status { NEW = 0; }
  Status status = 9;
}
message Line { string sku = 1; uint32 qty = 2; }`

// avroNoUnions is orderAvro without its one field whose union of several
// non-null types has no column type.
var avroNoUnions = strings.Replace(orderAvro, ` {"name":"skipped","type":{"type":"array","items":{"type":"map","values":["null","string",{"type":"record","name":"S","fields":[{"name":"x","type":"double"}]}]}}},
`, "", 1)

// TestSubjectColumns: the latest schema of a subject gives the columns, in
// schema order, with the types the decoders convert to.
func TestSubjectColumns(t *testing.T) {
	f, srv := newFakeRegistry(t)
	reg := f.client(t, srv)
	f.addLatest("orders-value", 1, sr.TypeAvro, avroNoUnions)
	f.addLatest("unions-value", 2, sr.TypeAvro, orderAvro)
	f.addLatest("pb-value", 3, sr.TypeProtobuf, inferProto)
	f.addLatest("js-value", 4, sr.TypeJSON, `{"type":"object","required":["id","at"],
 "properties":{"id":{"type":"integer"},"at":{"type":"string","format":"date-time"},"score":{"type":["number","null"]},
  "day":{"type":"string","format":"date"},"ok":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string"}},
  "customer":{"$ref":"#/definitions/Customer"},"kind":{"enum":["a","b"]}},
 "definitions":{"Customer":{"type":"object","required":["email"],"properties":{"email":{"type":"string"},"tier":{"type":"integer"}}}}}`)
	f.addLatest("js-mixed-value", 5, sr.TypeJSON, `{"type":"object","properties":{"v":{"type":["string","integer"]}}}`)
	f.addLatest("js-ref-value", 6, sr.TypeJSON, `{"type":"object","properties":{"v":{"$ref":"https://example.com/x.json"}}}`)
	f.addLatest("js-empty-value", 7, sr.TypeJSON, `{"type":"object"}`)

	cases := []struct {
		subject, format string
		want            string // columns, or the error
	}{
		{"orders-value", "avro", "id long NOT NULL, user_id integer NOT NULL, name string, active boolean NOT NULL, price double NOT NULL, " +
			"ratio float NOT NULL, status string NOT NULL, raw binary NOT NULL, hash binary NOT NULL, day date NOT NULL, ts_ms timestamp NOT NULL, " +
			"ts_us timestamp NOT NULL, local_ms timestamp_ntz NOT NULL, local_us timestamp_ntz NOT NULL, tod integer NOT NULL, " +
			"amount decimal(10,2) NOT NULL, big decimal(30,3) NOT NULL, customer struct<id:long not null,email:string,level:string not null>, " +
			"tags array<string not null> NOT NULL, attrs map<string,long> NOT NULL, lines array<struct<sku:string not null,qty:integer not null> not null> NOT NULL"},
		{"pb-value", "protobuf", "id long, name string, placed_at timestamp, tags array<string>, attrs map<string,long>, " +
			"first struct<sku:string,qty:long>, maybe integer, big decimal(20,0), status string"},
		{"js-value", "jsonschema", "id long NOT NULL, at timestamp NOT NULL, score double, day date, ok boolean, tags array<string not null>, " +
			"customer struct<email:string not null,tier:long>, kind string"},
		{"unions-value", "avro", `error: subject "unions-value" version 3: field skipped: a union of 2 non-null types has no column type (only ["null", T] unions do)`},
		{"js-mixed-value", "jsonschema", `error: subject "js-mixed-value" version 3: property v: "type" [string integer]: a column needs exactly one non-null type`},
		{"js-ref-value", "jsonschema", `error: subject "js-ref-value" version 3: property v: $ref "https://example.com/x.json": only local references (#/definitions/..., #/$defs/...) are followed`},
		{"js-empty-value", "jsonschema", `error: subject "js-empty-value" version 3: the JSON schema is not an object with properties`},
		{"orders-value", "protobuf", `error: subject "orders-value" version 3 is registered as AVRO, not PROTOBUF`},
		{"nope-value", "avro", `error: subject not found in the schema registry: "nope-value"`},
	}
	for _, tc := range cases {
		t.Run(tc.subject+"/"+tc.format, func(t *testing.T) {
			cols, err := SubjectColumns(context.Background(), reg, tc.subject, tc.format)
			got := ""
			if err != nil {
				got = "error: " + err.Error()
			} else {
				got = columnsText(cols)
			}
			if got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	if _, err := SubjectColumns(context.Background(), reg, "nope-value", "avro"); !errors.Is(err, ErrSubjectNotFound) {
		t.Fatalf("missing subject: %v is not ErrSubjectNotFound", err)
	}
}

// TestSubjectColumnsDecode: the inferred Avro columns decode a record of
// that schema (the types are the ones the decoder converts to).
func TestSubjectColumnsDecode(t *testing.T) {
	f, srv := newFakeRegistry(t)
	reg := f.client(t, srv)
	f.addLatest("orders-value", 1, sr.TypeAvro, avroNoUnions)
	f.add(1, sr.TypeAvro, avroNoUnions)
	cols, err := SubjectColumns(context.Background(), reg, "orders-value", "avro")
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewAvro(cols, reg)
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	rec := orderRecord(false)
	delete(rec, "skipped")
	if err := b.Add(&Message{Value: frame(1, mustAvro(t, avroNoUnions, rec))}); err != nil {
		t.Fatal(err)
	}
	out := b.Build()
	defer out.Release()
	row := rowStrings(out, 0)
	for col, want := range map[string]string{"id": "9007199254740993", "name": "Zoë", "status": "SHIPPED", "amount": "-12.34"} {
		if row[col] != want {
			t.Errorf("%s = %q, want %q (row %v)", col, row[col], want, row)
		}
	}
}

// TestSubjectColumnsDecodeProtobuf: the inferred Protobuf columns decode a
// message of that schema (uint64 as decimal(20,0), wrappers, timestamps,
// nested messages, maps).
func TestSubjectColumnsDecodeProtobuf(t *testing.T) {
	f, srv := newFakeRegistry(t)
	reg := f.client(t, srv)
	f.addLatest("pb-value", 3, sr.TypeProtobuf, inferProto)
	f.add(3, sr.TypeProtobuf, inferProto)
	cols, err := SubjectColumns(context.Background(), reg, "pb-value", "protobuf")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := compileProtoSource(context.Background(), reg, "t.proto", sr.Schema{Schema: inferProto})
	if err != nil {
		t.Fatal(err)
	}
	order := fd.Messages().Get(0)
	fields := order.Fields()
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	msg := pbSet(dynamicpb.NewMessage(order), map[string]any{
		"id": int64(9), "name": "Zoë", "tags": []string{"a", "b"}, "attrs": map[string]int64{"k": 1},
		"placed_at": pbSet(dynamicpb.NewMessage(fields.ByName("placed_at").Message()), map[string]any{"seconds": ts.Unix()}),
		"first":     pbSet(dynamicpb.NewMessage(fields.ByName("first").Message()), map[string]any{"sku": "S1", "qty": uint32(4)}),
		"maybe":     pbSet(dynamicpb.NewMessage(fields.ByName("maybe").Message()), map[string]any{"value": int32(-3)}),
		"big":       uint64(1)<<63 + 5,
	})
	payload, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewProtobuf(cols, reg)
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	if err := b.Add(&Message{Value: frame(3, payload, 0)}); err != nil {
		t.Fatal(err)
	}
	out := b.Build()
	defer out.Release()
	row := rowStrings(out, 0)
	for col, want := range map[string]string{"id": "9", "name": "Zoë", "maybe": "-3", "big": "9223372036854775813", "status": "NEW"} {
		if row[col] != want {
			t.Errorf("%s = %q, want %q (row %v)", col, row[col], want, row)
		}
	}
}

// TestSubjectColumnsUnreachable: a registry that does not answer is an
// error naming the subject, not a missing subject.
func TestSubjectColumnsUnreachable(t *testing.T) {
	_, srv := newFakeRegistry(t)
	url := srv.URL
	srv.Close()
	reg, err := NewRegistryClient(url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = SubjectColumns(context.Background(), reg, "orders-value", "avro")
	if err == nil || errors.Is(err, ErrSubjectNotFound) || !strings.HasPrefix(err.Error(), `subject "orders-value": registry: `) {
		t.Fatalf("unreachable: %v", err)
	}
}

// FuzzJSONSchemaColumns: no JSON schema text panics the column inference.
func FuzzJSONSchemaColumns(f *testing.F) {
	f.Add(`{"type":"object","required":["id"],"properties":{"id":{"type":"integer"},"c":{"$ref":"#/definitions/C"}},"definitions":{"C":{"type":"object","properties":{"x":{"type":["string","null"]}}}}}`)
	f.Add(`{"type":"object","properties":{"a":{"type":"array","items":{"$ref":"#/$defs/a"}}},"$defs":{"a":{"$ref":"#/$defs/a"}}}`)
	f.Add(`{"properties":{"e":{"enum":[1,2]}}}`)
	f.Fuzz(func(t *testing.T, text string) {
		_, _ = jsonSchemaColumns(text)
	})
}
