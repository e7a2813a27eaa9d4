package deltaspec

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestCheckAction(t *testing.T) {
	tests := []struct {
		name, line string
		want       string // a substring of the only error; "" for none
	}{
		{"add", `{"add":{"path":"a.parquet","partitionValues":{"p":null,"q":"1"},"size":10,"modificationTime":1,"dataChange":true,"stats":"{\"numRecords\":1}"}}`, ""},
		{"add size a string", `{"add":{"path":"a","partitionValues":{},"size":"10","modificationTime":1,"dataChange":true}}`, "add.size: want a long"},
		{"add size fractional", `{"add":{"path":"a","partitionValues":{},"size":1.5,"modificationTime":1,"dataChange":true}}`, "add.size: want an integral long"},
		{"add without partitionValues", `{"add":{"path":"a","size":1,"modificationTime":1,"dataChange":true}}`, "add.partitionValues: required, missing"},
		{"add stats not JSON", `{"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true,"stats":"x"}}`, "add.stats: want a string holding a JSON object"},
		{"add unknown field", `{"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true,"rows":3}}`, "add.rows: not a field of the spec"},
		{"remove", `{"remove":{"path":"a","deletionTimestamp":1,"dataChange":false,"extendedFileMetadata":true,"partitionValues":{},"size":3}}`, ""},
		{"remove dataChange a string", `{"remove":{"path":"a","dataChange":"false"}}`, "remove.dataChange: want a boolean"},
		{"metaData", `{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":["p"],"configuration":{},"createdTime":1}}`, ""},
		{"metaData configuration a number", `{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{}","partitionColumns":[],"configuration":{"delta.checkpointInterval":10}}}`, "metaData.configuration.delta.checkpointInterval: want a string"},
		{"protocol features not strings", `{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":[1],"writerFeatures":[]}}`, "protocol.readerFeatures: want an array of strings"},
		{"txn", `{"txn":{"appId":"q-0","version":4,"lastUpdated":5}}`, ""},
		{"txn version a string", `{"txn":{"appId":"q-0","version":"4"}}`, "txn.version: want a long"},
		{"commitInfo", `{"commitInfo":{"timestamp":1,"operation":"WRITE","operationParameters":{"mode":"Append","partitionBy":"[]"},"readVersion":0,"isBlindAppend":true,"engineInfo":"sluice","txnId":"t","isolationLevel":"Serializable"}}`, ""},
		{"commitInfo partitionBy an array", `{"commitInfo":{"operationParameters":{"partitionBy":["country"]}}}`, `commitInfo.operationParameters.partitionBy: want a string, got ["country"]`},
		{"commitInfo parameter a number", `{"commitInfo":{"operationParameters":{"epochId":3}}}`, "commitInfo.operationParameters.epochId: want a string, got 3"},
		{"commitInfo unknown field", `{"commitInfo":{"sluiceQuery":"q1"}}`, "commitInfo.sluiceQuery: not a field of the spec"},
		{"unknown action", `{"upsert":{}}`, `unknown action "upsert"`},
		{"two actions in a line", `{"txn":{"appId":"a","version":1},"add":{}}`, "exactly one key"},
		{"not JSON", `{"txn":`, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := CheckAction([]byte(tt.line))
			if tt.want == "" {
				if len(errs) != 0 {
					t.Fatalf("want no errors, got %q", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0], tt.want) {
				t.Fatalf("want one error containing %q, got %q", tt.want, errs)
			}
		})
	}
}

func TestCheckLastCheckpoint(t *testing.T) {
	if errs := CheckLastCheckpoint([]byte(`{"version":10,"size":13,"sizeInBytes":100,"numOfAddFiles":11}`)); len(errs) != 0 {
		t.Fatalf("valid _last_checkpoint: %q", errs)
	}
	if errs := CheckLastCheckpoint([]byte(`{"version":"10"}`)); len(errs) != 2 {
		t.Fatalf("version a string and size missing: want 2 errors, got %q", errs)
	}
}

func TestCheckCheckpoint(t *testing.T) {
	type goodTxn struct {
		AppID   string `parquet:"appId"`
		Version int64  `parquet:"version"`
	}
	type goodProtocol struct {
		MinReaderVersion int32    `parquet:"minReaderVersion"`
		MinWriterVersion int32    `parquet:"minWriterVersion"`
		WriterFeatures   []string `parquet:"writerFeatures,optional,list"`
	}
	type goodAdd struct {
		Path            string             `parquet:"path"`
		PartitionValues map[string]*string `parquet:"partitionValues"`
		Size            int64              `parquet:"size"`
		DataChange      bool               `parquet:"dataChange"`
	}
	type good struct {
		Txn      *goodTxn      `parquet:"txn,optional"`
		Protocol *goodProtocol `parquet:"protocol,optional"`
		Add      *goodAdd      `parquet:"add,optional"`
	}
	type badTxn struct {
		AppID   string `parquet:"appId"`
		Version int32  `parquet:"version"`
	}
	type badProtocol struct {
		MinReaderVersion int64 `parquet:"minReaderVersion"`
	}
	type badAdd struct {
		Path string `parquet:"path"`
		Size string `parquet:"size"`
		Rows int64  `parquet:"rows"`
	}
	type bad struct {
		Txn      *badTxn      `parquet:"txn,optional"`
		Protocol *badProtocol `parquet:"protocol,optional"`
		Add      *badAdd      `parquet:"add,optional"`
	}
	if errs := CheckCheckpoint(writeParquet(t, []good{{Txn: &goodTxn{AppID: "a", Version: 1}}})); len(errs) != 0 {
		t.Fatalf("valid checkpoint: %q", errs)
	}
	got := CheckCheckpoint(writeParquet(t, []bad{{Txn: &badTxn{AppID: "a", Version: 1}}}))
	want := []string{
		"add.rows: not a field of the spec",
		"add.size: want int64, got string",
		"protocol.minReaderVersion: want int32, got int64",
		"txn.version: want int64, got int32",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func writeParquet[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
