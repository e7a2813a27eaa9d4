package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

const orderAvro = `{"type":"record","name":"Order","fields":[
  {"name":"id","type":"long"},
  {"name":"customer","type":["null","string"],"default":null},
  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}}
]}`

// fakeRegistry answers GET /schemas/ids/{id} for the given schemas.
func fakeRegistry(t *testing.T, schemas map[int]string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id int
		if _, err := fmt.Sscanf(r.URL.Path, "/schemas/ids/%d", &id); err != nil {
			http.NotFound(w, r)
			return
		}
		s, ok := schemas[id]
		if !ok {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error_code":40403,"message":"Schema not found"}`)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		json.NewEncoder(w).Encode(map[string]any{"schema": s, "schemaType": "AVRO"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func framed(id int, payload []byte) []byte {
	out := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	return append(out, payload...)
}

// TestPoisonRecords: Avro records through a Schema Registry on the real
// broker; records with an unknown schema id, without the wire-format header,
// with a truncated payload or with invalid JSON go to the dead-letter table
// with their reason, while the good records keep flowing.
func TestPoisonRecords(t *testing.T) {
	e := newE2E(t, 3, "flush:\n  interval: 1s\n")
	reg := fakeRegistry(t, map[int]string{7: orderAvro})
	spec := fmt.Sprintf(`query: poison
source:
  brokers: [%q]
  topic: %s
decode:
  format: avro
  schemaRegistry: {url: %q}
  columns:
    - {name: id, type: BIGINT, nullable: false}
    - {name: customer, type: STRING}
    - {name: amount, type: "DECIMAL(12,2)"}
    - {name: kafka_key, meta: key}
sink:
  table: %s
flush:
  interval: 1s
`, e.kafka.Brokers[0], e.topic, reg, e.table)
	if err := os.WriteFile(e.spec, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	schema := avro.MustParse(orderAvro)
	type order struct {
		ID       int64   `avro:"id"`
		Customer *string `avro:"customer"`
		Amount   []byte  `avro:"amount"`
	}
	var recs []*kgo.Record
	wantReasons := map[string]string{}
	for i := 0; i < 400; i++ {
		c := fmt.Sprintf("c%d", i)
		payload, err := avro.Marshal(schema, order{ID: int64(i), Customer: &c, Amount: []byte{0x01, 0x2c}}) // 3.00
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("k%d", i)
		v := framed(7, payload)
		switch i % 10 {
		case 3:
			v, wantReasons[key] = framed(999, payload), "schema id 999"
		case 5:
			v, wantReasons[key] = payload, "no schema registry header"
		case 7:
			v, wantReasons[key] = framed(7, payload[:2]), "schema id 7"
		case 9:
			v, wantReasons[key] = []byte(`{"id": 1}`), "no schema registry header"
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Key: []byte(key), Value: v})
	}
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w := e.worker()
	good := 400 - len(wantReasons)
	e.waitCaughtUp([]*exec.Cmd{w}, good, 90*time.Second)
	e.stop(w)

	rows := e.rows(e.table).Rows
	if len(rows) != good {
		t.Fatalf("table has %d rows, want %d good ones", len(rows), good)
	}
	for _, r := range rows {
		key := string(decodeB64(t, r.(map[string]any)["kafka_key"]))
		if _, bad := wantReasons[key]; bad {
			t.Fatalf("poison record %s reached the table", key)
		}
		if r.(map[string]any)["amount"] != "3.00" {
			t.Fatalf("row %v: amount not decoded", r)
		}
	}
	dead := e.rows(e.table + "_dead_letters").Rows
	if len(dead) != len(wantReasons) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(wantReasons))
	}
	for _, r := range dead {
		m := r.(map[string]any)
		key := string(decodeB64(t, m["key"]))
		if !strings.Contains(m["error"].(string), wantReasons[key]) || m["stage"] != "decode" {
			t.Errorf("dead letter %s: stage %v, error %q, want it to mention %q", key, m["stage"], m["error"], wantReasons[key])
		}
	}
}
