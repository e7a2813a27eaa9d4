package parquetio

import (
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// ingestShapeBatches is BenchmarkIngestJSON's event (ingest/bench_test.go)
// as the worker hands it to the writer: rows in 8192-row Arrow batches.
func ingestShapeBatches(b *testing.B, rows int) (*deltalog.Schema, []arrow.Record) {
	s := mustSchemaF(schemaJSON("id long", "user string", "event string", "amount double", "qty integer",
		"ok boolean", "ts timestamp", "country string", "device string", "session string"))
	as, err := deltalog.ArrowSchema(s)
	if err != nil {
		b.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	const batch = 8192
	var recs []arrow.Record
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixMicro()
	for lo := 0; lo < rows; lo += batch {
		rb := array.NewRecordBuilder(mem, as)
		for i := lo; i < min(lo+batch, rows); i++ {
			rb.Field(0).(*array.Int64Builder).Append(int64(i))
			rb.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("user-%06d", i%100000))
			rb.Field(2).(*array.StringBuilder).Append([]string{"click", "view", "purchase", "scroll"}[i%4])
			rb.Field(3).(*array.Float64Builder).Append(float64(i%1000) + float64(i%100)/100)
			rb.Field(4).(*array.Int32Builder).Append(int32(i % 10))
			rb.Field(5).(*array.BooleanBuilder).Append(i%3 == 0)
			rb.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i%60)*61_000_000 + int64(i%1000)*1000))
			rb.Field(7).(*array.StringBuilder).Append([]string{"DE", "FR", "US", "JP", "BR"}[i%5])
			rb.Field(8).(*array.StringBuilder).Append([]string{"ios", "android", "web"}[i%3])
			rb.Field(9).(*array.StringBuilder).Append(fmt.Sprintf("s-%036x", uint64(i)*0x9e3779b97f4a7c15))
		}
		recs = append(recs, rb.NewRecord())
		rb.Release()
	}
	return s, recs
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriters writes the same 1M rows of the ingest benchmark's shape
// with parquetio.Writer (parquet-go, Delta statistics included) and with
// Arrow's own writer (pqarrow, no Delta statistics) at several compression
// settings, to a byte counter; it reports CPU-seconds per file, allocations
// and the file size.
func BenchmarkWriters(b *testing.B) {
	s, recs := ingestShapeBatches(b, 1<<20)
	as, _ := deltalog.ArrowSchema(s)
	parquetGo := func(opts ...Option) func(io.Writer) error {
		return func(out io.Writer) error {
			w, err := NewWriter(out, s, opts...)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if err := w.Write(r); err != nil {
					return err
				}
			}
			_, err = w.Close()
			return err
		}
	}
	arrowWriter := func(props ...parquet.WriterProperty) func(io.Writer) error {
		return func(out io.Writer) error {
			props = append([]parquet.WriterProperty{parquet.WithMaxRowGroupLength(1 << 30),
				parquet.WithDataPageSize(DefaultPageSize), parquet.WithCreatedBy(createdBy)}, props...)
			w, err := pqarrow.NewFileWriter(as, out, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
			if err != nil {
				return err
			}
			for _, r := range recs {
				if err := w.WriteBuffered(r); err != nil {
					return err
				}
			}
			return w.Close()
		}
	}
	zstdAt := func(level int) []parquet.WriterProperty {
		return []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd), parquet.WithCompressionLevel(level)}
	}
	cases := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"parquet-go/zstd-fastest", parquetGo()},
		{"parquet-go/snappy", parquetGo(WithCompression(CompressionSnappy))},
		{"parquet-go/none", parquetGo(WithCompression(CompressionNone))},
		{"pqarrow/zstd1-dict", arrowWriter(zstdAt(1)...)},
		{"pqarrow/zstd1-nodict", arrowWriter(append(zstdAt(1), parquet.WithDictionaryDefault(false))...)},
		{"pqarrow/zstd3-dict", arrowWriter(zstdAt(3)...)},
		{"pqarrow/snappy-dict", arrowWriter(parquet.WithCompression(compress.Codecs.Snappy))},
		{"pqarrow/none-dict", arrowWriter()},
		{"pqarrow/none-nodict", arrowWriter(parquet.WithDictionaryDefault(false))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var out countingWriter
			cpu0 := processCPU()
			for range b.N {
				out = 0
				if err := c.write(&out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(out), "file-bytes")
		})
	}
}
