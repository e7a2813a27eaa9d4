package deltalog

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// goldenFiles returns the contents of the golden tables' _delta_log files
// matching pattern (a filepath.Glob pattern relative to a _delta_log dir).
func goldenFiles(f *testing.F, pattern string) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*", "_delta_log", pattern))
	if err != nil {
		f.Fatalf("glob golden %s: %v", pattern, err)
	}
	if len(paths) == 0 {
		f.Fatalf("no golden files match %s under %s", pattern, goldenDir)
	}
	out := make([][]byte, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatalf("read golden file: %v", err)
		}
		out = append(out, b)
	}
	return out
}

// checkParsed asserts the property shared by both action parsers: every
// action they return passes the validation readers rely on.
func checkParsed(t *testing.T, acts []Action) {
	t.Helper()
	for i := range acts {
		if err := acts[i].validate(); err != nil {
			t.Fatalf("action %d was returned but fails validation: %v", i, err)
		}
	}
}

// FuzzParseActions feeds arbitrary bytes to the newline-delimited JSON
// parser of commit files. It must never panic, and what it accepts must be
// valid actions.
func FuzzParseActions(f *testing.F) {
	for _, b := range goldenFiles(f, "*.json") {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"\n\n",
		`{"add":{"path":"","size":1}}`,
		`{"remove":{"path":""}}`,
		`{"txn":{"appId":"","version":3}}`,
		`{"protocol":{"minReaderVersion":0,"minWriterVersion":2}}`,
		`{"add":{"path":"a.parquet","partitionValues":{"p":null},"size":"x"}}`,
		`{"add":{"path":"a.parquet"}}` + "\n" + `{"metaData":{"id":"x","schemaString":"{\"type\":\"struct\",\"fields\":[]}"}}`,
		`{"commitInfo":{"timestamp":1,"operation":"WRITE"}` + "\n{",
		`{"add":{"path":"a.parquet","deletionVector":{"storageType":"u","sizeInBytes":99999999999}}}`,
		"{\"add\":{\"path\":\"\xff\xfe\"}}",
		`[1,2,3]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		acts, err := ParseActions(b)
		if err != nil {
			return
		}
		checkParsed(t, acts)
	})
}

// FuzzParseParquetActions feeds arbitrary bytes to the Parquet checkpoint
// reader. Corrupt files must give an error, never a panic or a hang, and
// what it accepts must be valid actions.
func FuzzParseParquetActions(f *testing.F) {
	// A few golden checkpoints: classic, multi-part and V2 (sidecar rows).
	for _, pattern := range []string{
		"00000000000000000010.checkpoint.parquet",
		"*.checkpoint.0000000001.0000000002.parquet",
		"*.checkpoint.*-*-*-*-*.parquet",
	} {
		files := goldenFiles(f, pattern)
		f.Add(files[0])
	}
	f.Add(ownCheckpoint(f))
	f.Add([]byte{})
	f.Add([]byte("PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		acts, err := ParseParquetActions(b)
		if err != nil {
			return
		}
		checkParsed(t, acts)
	})
}

// ownCheckpoint returns a checkpoint written by WriteCheckpoint: protocol,
// metadata, a txn, adds with partition values, tags and stats, a tombstone.
func ownCheckpoint(f *testing.F) []byte {
	f.Helper()
	ctx := context.Background()
	st, err := objstore.NewLocal(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	ss, err := SchemaString(testSchema)
	if err != nil {
		f.Fatal(err)
	}
	p := "x"
	acts := []Action{
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{MetaData: &Metadata{ID: "fuzz", Format: Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: ss, PartitionColumns: []string{"name"}, Configuration: map[string]string{"delta.checkpointInterval": "5"}}},
		{Txn: &Txn{AppID: "q-0", Version: 7}},
		{Add: &Add{Path: "name=x/a.parquet", PartitionValues: map[string]*string{"name": &p}, Size: 100, ModificationTime: 1,
			DataChange: true, Stats: `{"numRecords":3,"minValues":{"id":1},"maxValues":{"id":3},"nullCount":{"id":0}}`,
			Tags: map[string]string{"k": "v"}}},
		{Add: &Add{Path: "name=__HIVE_DEFAULT_PARTITION__/b.parquet", PartitionValues: map[string]*string{"name": nil}, Size: 50, ModificationTime: 2}},
	}
	v, err := Commit(ctx, st, nil, acts, Operation{Name: "CREATE TABLE"})
	if err != nil {
		f.Fatal(err)
	}
	now := int64(1 << 62) // far future: the tombstone is kept
	snap, err := Load(ctx, st)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := Commit(ctx, st, snap, []Action{{Remove: &Remove{Path: "name=x/a.parquet", DeletionTimestamp: &now, DataChange: true}}},
		Operation{Name: "DELETE"}); err != nil {
		f.Fatal(err)
	}
	if snap, err = Load(ctx, st); err != nil {
		f.Fatal(err)
	}
	if err := WriteCheckpoint(ctx, st, snap); err != nil {
		f.Fatal(err)
	}
	b, err := objstore.ReadAll(ctx, st, CheckpointKey(v+1))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzParseSchema checks that any schemaString that parses survives a
// round trip: SchemaString re-serializes it and ParseSchema reads back an
// Equal schema.
func FuzzParseSchema(f *testing.F) {
	n := 0
	for _, b := range goldenFiles(f, "*.json") {
		acts, err := ParseActions(b)
		if err != nil {
			continue // some golden tables are deliberately broken
		}
		for _, a := range acts {
			if a.MetaData != nil && a.MetaData.SchemaString != "" {
				f.Add(a.MetaData.SchemaString)
				n++
			}
		}
	}
	if n == 0 {
		f.Fatal("no golden schemaStrings found")
	}
	ss, err := SchemaString(testSchema)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ss)
	for _, s := range []string{
		`{"type":"struct","fields":[{"name":"d","type":"decimal( 10 , 2 )","nullable":true,"metadata":{}}]}`,
		`{"type":"struct","fields":[{"name":"a","type":{"type":"array","elementType":"LONG"},"nullable":true}]}`,
		`{"type":"struct","fields":[{"name":"m","type":{"type":"map","keyType":"string","valueType":"decimal","valueContainsNull":null}}]}`,
		`{"type":"struct","fields":[{"name":"x","type":null}]}`,
		`{"type":"struct","fields":null}`,
		`"long"`,
		`null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		schema, err := ParseSchema(s)
		if err != nil {
			return
		}
		out, err := SchemaString(schema)
		if err != nil {
			t.Fatalf("parsed schema does not serialize: %v\ninput: %q", err, s)
		}
		again, err := ParseSchema(out)
		if err != nil {
			t.Fatalf("re-serialized schema does not parse: %v\nserialized: %s", err, out)
		}
		if !again.Equal(schema) {
			t.Fatalf("round trip changed the schema:\nfirst:  %s\nsecond: %s", schema, again)
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("SchemaString produced invalid JSON: %s", out)
		}
	})
}

// parseWithin runs ParseParquetActions on b and fails the test if it takes
// longer than d (a hang cannot be interrupted; the test binary's -timeout
// ends it).
func parseWithin(t *testing.T, b []byte, d time.Duration) ([]Action, error) {
	t.Helper()
	type result struct {
		acts []Action
		err  error
	}
	done := make(chan result, 1)
	go func() {
		acts, err := ParseParquetActions(b)
		done <- result{acts, err}
	}()
	select {
	case r := <-done:
		return r.acts, r.err
	case <-time.After(d):
		t.Fatalf("ParseParquetActions did not return within %s", d)
		return nil, nil
	}
}

// Regression (found by FuzzParseParquetActions, seed
// testdata/fuzz/FuzzParseParquetActions/lz4-codec-on-snappy-pages): a footer
// whose codec says LZ4_RAW over pages that are not LZ4 made parquet-go's LZ4
// decoder double its buffer forever (4 GB in 5 s, then out of memory).
func TestParseParquetActionsCorruptLZ4(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(goldenDir, "checkpoint", "_delta_log", "00000000000000000010.checkpoint.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	// Byte 9681 is the compact-thrift codec of one column chunk: 0x02 is
	// SNAPPY (zigzag 1), 0x0e is LZ4_RAW (zigzag 7).
	const codecOffset = 9681
	if b[codecOffset] != 0x02 {
		t.Fatalf("golden checkpoint changed: byte %d is %#x, want the SNAPPY codec 0x02", codecOffset, b[codecOffset])
	}
	b[codecOffset] = 0x0e
	_, err = parseWithin(t, b, 10*time.Second)
	if err == nil {
		t.Fatal("LZ4_RAW codec over snappy pages: no error")
	}
	t.Logf("error: %v", err)
}

// A genuine LZ4_RAW checkpoint still reads: the guard only refuses pages
// that do not decode.
func TestParseParquetActionsLZ4(t *testing.T) {
	p := "x"
	rows := []cpRow{
		{Protocol: &cpProtocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{Add: &cpAdd{Path: "a.parquet", PartitionValues: map[string]*string{"p": &p}, Size: 3, Stats: &p}},
		{Remove: &cpRemove{Path: "b.parquet", PartitionValues: map[string]*string{}}},
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[cpRow](&buf, parquet.Compression(&parquet.Lz4Raw))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	acts, err := parseWithin(t, buf.Bytes(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 3 || acts[1].Add == nil || acts[1].Add.Path != "a.parquet" || *acts[1].Add.PartitionValues["p"] != "x" || acts[2].Remove == nil {
		t.Fatalf("LZ4_RAW checkpoint read as %+v", acts)
	}
}

// rowViaJSON is the reference conversion of a checkpoint row: the JSON
// round trip that actionFromRow short-cuts.
func rowViaJSON(t *testing.T, v any) (Action, error) {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a Action
	err = json.Unmarshal(j, &a)
	return a, err
}

// actionFromRow gives exactly what the JSON round trip gives, for every row
// of the golden checkpoints and our own, and for crafted rows; where it
// declines, the JSON path is used.
func TestActionFromRowMatchesJSON(t *testing.T) {
	var rows []any
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*", "_delta_log", "*checkpoint*.parquet"))
	var blobs [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	for _, b := range blobs {
		pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		r := parquet.NewReader(pf)
		buf := make([]parquet.Row, 64)
		for {
			n, err := r.ReadRows(buf)
			for _, row := range buf[:n] {
				var v any
				if err := pf.Schema().Reconstruct(&v, row); err != nil {
					t.Fatal(err)
				}
				rows = append(rows, normalizeParquetValue(v))
			}
			if err != nil {
				break
			}
		}
		r.Close()
	}
	crafted := []string{
		`{"add":{"path":"a","partitionValues":{"p":null,"q":"1"},"size":1,"modificationTime":2,"dataChange":true,"stats":"{}","tags":{"t":null}}}`,
		`{"add":{"path":"a","stats_parsed":{"numRecords":1},"partitionValues_parsed":null}}`,
		`{"add":{"PATH":"a"}}`,
		`{"add":{"path":"a","size":1.5}}`,
		`{"add":{"path":"a","deletionVector":{"storageType":"u","pathOrInlineDv":"x","sizeInBytes":1,"cardinality":1}}}`,
		`{"add":null,"remove":{"path":"r","deletionTimestamp":5,"size":7,"extendedFileMetadata":false,"partitionValues":{}}}`,
		`{"Add":{"path":"a"}}`,
		`{"txn":{"appId":"q","version":1}}`,
		`{"add":{"path":"a"},"remove":{"path":"b"}}`,
		`{"somethingElse":1}`,
	}
	for _, c := range crafted {
		var v any
		if err := json.Unmarshal([]byte(c), &v); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		rows = append(rows, intsOf(v))
	}
	rows = append(rows,
		map[string]any{"add": map[string]any{"path": string([]byte{0xff}), "size": int64(1)}},
		map[string]any{"add": map[string]any{"path": "a", "partitionValues": map[string]any{string([]byte{0xfe}): "v"}}},
		map[string]any{"add": map[string]any{"path": "a", "size": int32(4), "modificationTime": int64(1)}},
	)
	fast := 0
	for i, v := range rows {
		got, ok := actionFromRow(v)
		if !ok {
			continue
		}
		fast++
		want, err := rowViaJSON(t, v)
		if err != nil {
			t.Fatalf("row %d: fast path accepted a row JSON rejects (%v): %#v", i, err, v)
		}
		if !reflect.DeepEqual(got, want) {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			t.Fatalf("row %d: fast path %s, JSON path %s", i, gj, wj)
		}
	}
	if fast < 100 {
		t.Fatalf("fast path taken for only %d of %d rows", fast, len(rows))
	}
}

// intsOf turns the float64 numbers json.Unmarshal gives into int64 where
// they are whole, as parquet-go reconstructs INT64 columns.
func intsOf(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = intsOf(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

// Regression (found by fuzzing, seed testdata/fuzz/FuzzParseParquetActions/
// footer-length-exceeds-file): parquet-go allocated a buffer of the footer
// length the file claims, up to 4 GiB, before checking it against the file.
func TestParseParquetActionsBadFooter(t *testing.T) {
	huge := []byte("PAR1\x00\x00\x00\x00\xf0\xff\xff\xffPAR1")
	fits := []byte("PAR1\x00\x00\x00\x00\x04\x00\x00\x00PAR1")
	for name, b := range map[string][]byte{
		"empty":             {},
		"magic only":        []byte("PAR1"),
		"no footer magic":   []byte("PAR1\x00\x00\x00\x00\x00\x00\x00\x00XXXX"),
		"footer too long":   huge,
		"footer not thrift": fits,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseWithin(t, b, 10*time.Second); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
