package decode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/sr"
)

// fakeRegistry is a tiny Confluent Schema Registry: GET /schemas/ids/{id}
// and GET /subjects/{subject}/versions/{version}, with request counts and
// an injectable failure.
type fakeRegistry struct {
	mu       sync.Mutex
	ids      map[int]sr.Schema
	subjects map[string]sr.SubjectSchema // "subject/version"
	hits     map[string]int
	fail     bool   // answer 500 to everything
	auth     string // required "user:password", if set
}

func newFakeRegistry(t testing.TB) (*fakeRegistry, *httptest.Server) {
	f := &fakeRegistry{ids: map[int]sr.Schema{}, subjects: map[string]sr.SubjectSchema{}, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

// client returns a franz-go registry client of the fake.
func (f *fakeRegistry) client(t testing.TB, srv *httptest.Server) Registry {
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func (f *fakeRegistry) add(id int, typ sr.SchemaType, text string, refs ...sr.SchemaReference) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids[id] = sr.Schema{Schema: text, Type: typ, References: refs}
}

func (f *fakeRegistry) addSubject(subject string, version, id int, typ sr.SchemaType, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subjects[subject+"/"+strconv.Itoa(version)] = sr.SubjectSchema{Subject: subject, Version: version, ID: id,
		Schema: sr.Schema{Schema: text, Type: typ}}
}

func (f *fakeRegistry) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits[r.URL.Path]++
	if f.auth != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u+":"+p != f.auth {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error_code":40101,"message":"Unauthorized"}`)
			return
		}
	}
	if f.fail {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error_code":50001,"message":"Error in the backend data store"}`)
		return
	}
	var body any
	if rest, ok := strings.CutPrefix(r.URL.Path, "/schemas/ids/"); ok {
		id, _ := strconv.Atoi(rest)
		if s, ok := f.ids[id]; ok {
			body = s
		}
	} else if rest, ok := strings.CutPrefix(r.URL.Path, "/subjects/"); ok {
		subject, version, _ := strings.Cut(rest, "/versions/")
		if s, ok := f.subjects[subject+"/"+version]; ok {
			body = s
		}
	}
	if body == nil {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":40403,"message":"Schema not found"}`)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	json.NewEncoder(w).Encode(body)
}

// frame prepends the Confluent header (and protobuf message indexes).
func frame(id int, payload []byte, index ...int) []byte {
	var h sr.ConfluentHeader
	b, _ := h.AppendEncode(nil, id, index)
	return append(b, payload...)
}

func TestSplitHeader(t *testing.T) {
	for _, tc := range []struct {
		in      []byte
		id      int
		wantErr string
	}{
		{[]byte{0, 0, 0, 1, 2, 9}, 258, ""},
		{[]byte{0, 0, 0, 0, 7}, 7, ""},
		{[]byte(`{"a":1}`), 0, "no schema registry header (want magic byte 0 and a 4-byte big-endian schema id): first byte is 0x7b"},
		{[]byte{0, 0, 1}, 0, "no schema registry header (want magic byte 0 and a 4-byte big-endian schema id): value is 3 bytes"},
		{nil, 0, "no schema registry header (want magic byte 0 and a 4-byte big-endian schema id): value is 0 bytes"},
	} {
		id, _, err := splitHeader(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrNoHeader) {
				t.Errorf("%x: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || id != tc.id {
			t.Errorf("%x: id %d err %v, want %d", tc.in, id, err, tc.id)
		}
	}
}

func TestSplitMessageIndexes(t *testing.T) {
	for _, idx := range [][]int{{0}, {1}, {1, 0}, {3, 2, 1}} {
		b := frame(1, []byte{0xAA}, idx...)[5:]
		got, rest, err := splitMessageIndexes(b)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(idx) || len(rest) != 1 || rest[0] != 0xAA {
			t.Errorf("%v: got %v %x %v", idx, got, rest, err)
		}
	}
	if b := frame(1, nil, 0)[5:]; len(b) != 1 || b[0] != 0 {
		t.Errorf("[0] shortcut is %x, want 00", b)
	}
	for _, bad := range [][]byte{{}, {0x80}, {0x01}, {0x03}, {0x02, 0x01}} {
		if _, _, err := splitMessageIndexes(bad); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

func TestRegistryErrorsArePerRecord(t *testing.T) {
	f, srv := newFakeRegistry(t)
	f.add(1, sr.TypeAvro, `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`)
	f.add(2, sr.TypeProtobuf, `syntax = "proto3"; message M { int64 a = 1; }`)
	cols := []Column{{Name: "a", Type: mustType(t, "bigint"), Nullable: true}}
	d, err := NewAvro(cols, f.client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	add := func(v []byte) error { return b.Add(&Message{Value: v}) }

	err = add(frame(42, []byte{2}))
	var se *SchemaIDError
	if err == nil || err.Error() != "schema id 42: not found in the registry" || !errors.As(err, &se) || se.ID != 42 || !errors.Is(err, ErrSchemaNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	// The miss is cached: a second record does not ask again.
	add(frame(42, []byte{2}))
	if n := f.count("/schemas/ids/42"); n != 1 {
		t.Errorf("registry asked %d times for id 42", n)
	}
	if err := add(frame(2, []byte{2})); err == nil || err.Error() != "schema id 2: registered as PROTOBUF, but the decoder reads AVRO" {
		t.Errorf("wrong schema type: %v", err)
	}
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	if err := add(frame(1, []byte{2})); err == nil || !strings.HasPrefix(err.Error(), "schema id 1: registry: ") || !strings.Contains(err.Error(), "Error in the backend data store") {
		t.Errorf("registry failure: %v", err)
	}
	if b.Len() != 0 {
		t.Errorf("Len %d after failures", b.Len())
	}
	// A failure is kept only briefly: once it expires the id loads.
	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	cache := d.(*avroDecoder).progs
	cache.mu.Lock()
	for _, e := range cache.m {
		e.expires = e.expires.Add(-failedTTL - notFoundTTL)
	}
	cache.mu.Unlock()
	if err := add(frame(1, []byte{2})); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if b.Len() != 1 {
		t.Errorf("Len %d", b.Len())
	}
}

func TestIDCacheBoundAndConcurrency(t *testing.T) {
	var mu sync.Mutex
	loads := map[int]int{}
	c := newIDCache(&options{schemaCacheSize: 4}, func(_ context.Context, id int) (int, error) {
		mu.Lock()
		loads[id]++
		mu.Unlock()
		return id * 10, nil
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				id := (i + g) % 3
				if v, err := c.get(id); err != nil || v != id*10 {
					t.Errorf("get(%d) = %d, %v", id, v, err)
				}
			}
		}()
	}
	wg.Wait()
	for id, n := range loads {
		if n != 1 {
			t.Errorf("id %d loaded %d times", id, n)
		}
	}
	for id := range 20 {
		c.get(id)
	}
	if len(c.m) > 4 {
		t.Errorf("cache holds %d ids, bound 4", len(c.m))
	}
}

func TestNewFromRegistry(t *testing.T) {
	f, srv := newFakeRegistry(t)
	f.auth = "alice:s3cret"
	f.add(5, sr.TypeJSON, `{"type":"object"}`)
	cols := []Column{{Name: "a", Type: mustType(t, "bigint"), Nullable: true}}
	d, err := NewFromRegistry("jsonschema", cols, srv.URL, WithBasicAuth("alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	if err := b.Add(&Message{Value: frame(5, []byte(`{"a": 7}`))}); err != nil {
		t.Fatal(err)
	}
	d2, _ := NewFromRegistry("avro", cols, srv.URL) // no credentials
	b2 := d2.NewBatch(memory.DefaultAllocator)
	defer b2.Release()
	if err := b2.Add(&Message{Value: frame(5, []byte{2})}); err == nil || !strings.Contains(err.Error(), "schema id 5: registry: Unauthorized") {
		t.Errorf("unauthenticated: %v", err)
	}
	for _, tc := range []struct {
		format, url string
		opts        []RegistryOption
		want        string
	}{
		{"xml", srv.URL, nil, `decode: format "xml" is not a schema registry format (avro, protobuf, jsonschema)`},
		{"avro", " ", nil, "decode: avro: no schema registry URL"},
		{"avro", srv.URL, []RegistryOption{WithTLSCAFile("/nonexistent/ca.pem")}, "decode: schema registry CA file: open /nonexistent/ca.pem: no such file or directory"},
	} {
		if _, err := NewFromRegistry(tc.format, cols, tc.url, tc.opts...); err == nil || err.Error() != tc.want {
			t.Errorf("%s %q: %v, want %q", tc.format, tc.url, err, tc.want)
		}
	}
	for _, format := range []string{"avro", "protobuf", "jsonschema"} {
		if _, err := NewFromRegistry(format, cols, "http://a:1,http://b:2", WithDecoderOptions(WithSchemaCacheSize(3), WithEpochUnit(EpochMicros))); err != nil {
			t.Errorf("%s: %v", format, err)
		}
	}
}

func TestJSONSchema(t *testing.T) {
	f, srv := newFakeRegistry(t)
	f.add(3, sr.TypeJSON, `{"type":"object","properties":{"id":{"type":"integer"}}}`)
	f.add(4, sr.TypeAvro, `"long"`)
	cols := []Column{
		{Name: "id", Type: mustType(t, "bigint")},
		{Name: "city", Type: mustType(t, "string"), Nullable: true, Path: []string{"addr", "city"}},
		{Name: "topic", Type: mustType(t, "string"), Meta: MetaTopic},
	}
	d, err := NewJSONSchema(cols, f.client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	if err := b.Add(&Message{Topic: "t", Value: frame(3, []byte(`{"id": 12, "addr": {"city": "Oslo"}}`))}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ v, want string }{
		{string(frame(3, []byte(`{"id": "x"}`))), `column "id": "x" is not a valid long`},
		{string(frame(3, []byte(`{"id": 1`))), "invalid JSON: "},
		{string(frame(9, []byte(`{}`))), "schema id 9: not found in the registry"},
		{string(frame(4, []byte(`{}`))), "schema id 4: registered as AVRO, but the decoder reads JSON"},
		{`{"id": 1}`, "no schema registry header (want magic byte 0 and a 4-byte big-endian schema id): first byte is 0x7b"},
	} {
		if err := b.Add(&Message{Topic: "t", Value: []byte(tc.v)}); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.v, err, tc.want)
		}
	}
	rec := b.Build()
	defer rec.Release()
	if rec.NumRows() != 1 || rec.Column(0).ValueStr(0) != "12" || rec.Column(1).ValueStr(0) != "Oslo" || rec.Column(2).ValueStr(0) != "t" {
		t.Errorf("rows: %v", rec)
	}
}
