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

// BenchmarkJSONDecode decodes 64k-row batches of 10-field, ~200-byte JSON
// records; MB/s is of JSON input.
func BenchmarkJSONDecode(b *testing.B) {
	const rows = 64 << 10
	recs := benchRecords(rows)
	total := 0
	for _, r := range recs {
		total += len(r)
	}
	d, err := NewJSON(benchColumns())
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
		}
		bt.Build().Release()
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(total)/rows, "bytes/record")
}
