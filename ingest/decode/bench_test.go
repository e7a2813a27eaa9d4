package decode

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// benchColumns are the 10 columns of the benchmark records.
func benchColumns() []Column {
	p := deltalog.Primitive
	return []Column{
		{Name: "id", Type: p(deltalog.TypeLong)},
		{Name: "user_id", Type: p(deltalog.TypeInteger), Nullable: true},
		{Name: "qty", Type: p(deltalog.TypeShort), Nullable: true},
		{Name: "price", Type: p(deltalog.TypeDouble), Nullable: true},
		{Name: "score", Type: p(deltalog.TypeDouble), Nullable: true},
		{Name: "name", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "country", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "status", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "ts", Type: p(deltalog.TypeTimestamp), Nullable: true},
		{Name: "active", Type: p(deltalog.TypeBoolean), Nullable: true},
	}
}

// benchRecords makes n JSON records of about 200 bytes.
func benchRecords(n int) [][]byte {
	r := rand.New(rand.NewSource(1))
	countries := []string{"DE", "FR", "US", "GB", "JP"}
	statuses := []string{"pending", "shipped", "delivered", "cancelled"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		ts := base.Add(time.Duration(r.Int63n(int64(365 * 24 * time.Hour))))
		out[i] = fmt.Appendf(nil, `{"id":%d,"user_id":%d,"qty":%d,"price":%.2f,"score":%g,"name":"customer name %06d","country":%q,"status":%q,"ts":%q,"active":%t}`,
			1_000_000_000+i, r.Int31n(1<<30), r.Intn(100), r.Float64()*1000, r.Float64(), r.Intn(1e6),
			countries[r.Intn(len(countries))], statuses[r.Intn(len(statuses))], ts.Format(time.RFC3339Nano), r.Intn(2) == 0)
	}
	return out
}

// ingestColumns and ingestRecords are the columns and records of the
// end-to-end benchmark (BenchmarkIngestJSON in package ingest): 10 fields,
// ~175 bytes, short strings, one date for every timestamp, a double with 2
// decimals.
func ingestColumns() []Column {
	p := deltalog.Primitive
	return []Column{
		{Name: "id", Type: p(deltalog.TypeLong)},
		{Name: "user", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "event", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "amount", Type: p(deltalog.TypeDouble), Nullable: true},
		{Name: "qty", Type: p(deltalog.TypeInteger), Nullable: true},
		{Name: "ok", Type: p(deltalog.TypeBoolean), Nullable: true},
		{Name: "ts", Type: p(deltalog.TypeTimestamp), Nullable: true},
		{Name: "country", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "device", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "session", Type: p(deltalog.TypeString), Nullable: true},
	}
}

func ingestRecords(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"id":%d,"user":"user-%06d","event":"%s","amount":%d.%02d,"qty":%d,"ok":%t,"ts":"2024-05-01T12:%02d:%02d.%03dZ","country":"%s","device":"%s","session":"s-%012x"}`,
			i, i%100000, []string{"click", "view", "purchase", "scroll"}[i%4], i%1000, i%100, i%10, i%3 == 0,
			i%60, i%60, i%1000, []string{"DE", "FR", "US", "JP", "BR"}[i%5], []string{"ios", "android", "web"}[i%3], i*7919)
	}
	return out
}

// BenchmarkJSONDecode decodes 64k-row batches of 10-field, ~200-byte JSON
// records; MB/s is of JSON input.
func BenchmarkJSONDecode(b *testing.B) {
	recs := benchRecords(64 << 10)
	benchDecode(b, benchColumns(), recs, len(recs))
}

// BenchmarkJSONDecodeIngest decodes the 65,536 records of the end-to-end
// benchmark's shape in batches of 8,192 rows, as the worker does.
func BenchmarkJSONDecodeIngest(b *testing.B) {
	benchDecode(b, ingestColumns(), ingestRecords(64<<10), 8192)
}

// benchDecode decodes recs per iteration, building a record every
// batchRows rows.
func benchDecode(b *testing.B, cols []Column, recs [][]byte, batchRows int) {
	rows := len(recs)
	total := 0
	for _, r := range recs {
		total += len(r)
	}
	d, err := NewJSON(cols)
	if err != nil {
		b.Fatal(err)
	}
	bt := d.NewBatch(memory.DefaultAllocator)
	defer bt.Release()
	msgs := make([]Message, rows)
	for i := range msgs {
		msgs[i] = Message{Topic: "orders", Value: recs[i]}
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range msgs {
			if err := bt.Add(&msgs[j]); err != nil {
				b.Fatal(err)
			}
			if bt.Len() == batchRows {
				bt.Build().Release()
			}
		}
		if bt.Len() > 0 {
			bt.Build().Release()
		}
	}
	b.ReportMetric(float64(b.N)*float64(rows)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(total)/float64(rows), "bytes/record")
}
