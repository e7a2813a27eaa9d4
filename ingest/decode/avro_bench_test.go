package decode

import (
	"math/rand"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// benchAvroSchema has the 10 fields of benchColumns.
const benchAvroSchema = `{"type":"record","name":"Bench","fields":[
 {"name":"id","type":"long"},
 {"name":"user_id","type":["null","int"]},
 {"name":"qty","type":["null","int"]},
 {"name":"price","type":["null","double"]},
 {"name":"score","type":["null","double"]},
 {"name":"name","type":["null","string"]},
 {"name":"country","type":["null","string"]},
 {"name":"status","type":["null",{"type":"enum","name":"St","symbols":["pending","shipped","delivered","cancelled"]}]},
 {"name":"ts","type":["null",{"type":"long","logicalType":"timestamp-micros"}]},
 {"name":"active","type":["null","boolean"]}]}`

// BenchmarkAvroDecode decodes 64k-row batches of 10-field Avro records in
// the Confluent wire format; MB/s is of framed input.
func BenchmarkAvroDecode(b *testing.B) {
	const rows = 64 << 10
	f, srv := newFakeRegistry(b)
	f.add(1, sr.TypeAvro, benchAvroSchema)
	d, err := NewAvro(benchColumns(), f.client(b, srv))
	if err != nil {
		b.Fatal(err)
	}
	sch := avro.MustParse(benchAvroSchema)
	r := rand.New(rand.NewSource(1))
	countries := []string{"DE", "FR", "US", "GB", "JP"}
	statuses := []string{"pending", "shipped", "delivered", "cancelled"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([]Message, rows)
	total := 0
	for i := range msgs {
		v, err := avro.Marshal(sch, map[string]any{
			"id": int64(1_000_000_000 + i), "user_id": r.Int31n(1 << 30), "qty": int32(r.Intn(100)),
			"price": r.Float64() * 1000, "score": r.Float64(), "name": "customer name " + itoa(r.Intn(1e6)),
			"country": countries[r.Intn(5)], "status": map[string]any{"St": statuses[r.Intn(4)]},
			"ts":     map[string]any{"long.timestamp-micros": base.Add(time.Duration(r.Int63n(int64(365 * 24 * time.Hour))))},
			"active": r.Intn(2) == 0,
		})
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = Message{Topic: "orders", Value: frame(1, v)}
		total += len(msgs[i].Value)
	}
	bt := d.NewBatch(memory.DefaultAllocator)
	defer bt.Release()
	b.SetBytes(int64(total))
	b.ReportAllocs()
	batches := 0
	for b.Loop() {
		for j := range msgs {
			if err := bt.Add(&msgs[j]); err != nil {
				b.Fatal(err)
			}
		}
		bt.Build().Release()
		batches++
	}
	perSec := float64(batches*rows) / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "records/s")
	b.ReportMetric(float64(total)/rows, "bytes/record")
}
