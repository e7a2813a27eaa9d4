package deltaspec

import (
	"strings"
	"testing"
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
