package deltawriter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/google/uuid"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// Size of one write benchmark iteration: benchRows rows in Arrow batches of
// benchBatchRows, committed as one table version.
const (
	benchRows      = 1 << 20
	benchBatchRows = 64 << 10
)

// benchSchema is the 10-column table the write benchmarks append to.
var benchSchema = func() *deltalog.Schema {
	f := func(name, typ string, nullable bool) deltalog.Field {
		return deltalog.Field{Name: name, Type: deltalog.Primitive(typ), Nullable: nullable}
	}
	return deltalog.Struct(
		f("id", deltalog.TypeLong, false),
		f("quantity", deltalog.TypeInteger, true),
		f("shard", deltalog.TypeInteger, true),
		f("price", deltalog.TypeDouble, true),
		f("score", deltalog.TypeDouble, true),
		f("customer", deltalog.TypeString, true),
		f("country", deltalog.TypeString, true),
		f("session", deltalog.TypeString, true),
		f("event_time", deltalog.TypeTimestamp, true),
		f("is_test", deltalog.TypeBoolean, true),
	)
}()

// benchData is the Arrow input of one write iteration, built once.
var benchData struct {
	once  sync.Once
	recs  []arrow.Record
	bytes int64 // Arrow buffer bytes of recs
	err   error
}

// benchRecords returns benchRows deterministic rows of benchSchema in
// batches of benchBatchRows: sequential ids, small and random integers,
// normal doubles (5% null), ~20-byte strings of high (customer, session)
// and low (country) cardinality, increasing timestamps, booleans.
func benchRecords(b *testing.B) ([]arrow.Record, int64) {
	b.Helper()
	benchData.once.Do(func() {
		as, err := deltalog.ArrowSchema(benchSchema)
		if err != nil {
			benchData.err = err
			return
		}
		r := rand.New(rand.NewPCG(7, 11))
		countries := []string{"country-DE-bavaria-1", "country-FR-idf-00002", "country-US-ca-000003", "country-JP-tokyo-004"}
		base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
		for start := 0; start < benchRows; start += benchBatchRows {
			rb := array.NewRecordBuilder(memory.DefaultAllocator, as)
			for i := start; i < start+benchBatchRows; i++ {
				rb.Field(0).(*array.Int64Builder).Append(int64(i))
				rb.Field(1).(*array.Int32Builder).Append(int32(1 + r.IntN(100)))
				rb.Field(2).(*array.Int32Builder).Append(r.Int32())
				for c := 3; c <= 4; c++ {
					if r.IntN(20) == 0 {
						rb.Field(c).AppendNull()
					} else {
						rb.Field(c).(*array.Float64Builder).Append(r.NormFloat64() * 100)
					}
				}
				rb.Field(5).(*array.StringBuilder).Append(fmt.Sprintf("cust-%015d", r.IntN(1_000_000)))
				rb.Field(6).(*array.StringBuilder).Append(countries[r.IntN(len(countries))])
				rb.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("sess-%016x", r.Uint64()>>1))
				rb.Field(8).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1000 + r.Int64N(1000)))
				rb.Field(9).(*array.BooleanBuilder).Append(r.IntN(50) == 0)
			}
			rec := rb.NewRecord()
			rb.Release()
			for _, col := range rec.Columns() {
				for _, buf := range col.Data().Buffers() {
					if buf != nil {
						benchData.bytes += int64(buf.Len())
					}
				}
			}
			benchData.recs = append(benchData.recs, rec)
		}
	})
	if benchData.err != nil {
		b.Fatalf("build benchmark records: %v", benchData.err)
	}
	return benchData.recs, benchData.bytes
}

// benchWrite appends the benchmark records to a new table in st, one commit
// per iteration, and reports Arrow MB/s (SetBytes), rows/s and Parquet MB/s.
func benchWrite(b *testing.B, st objstore.Store) {
	ctx := context.Background()
	recs, arrowBytes := benchRecords(b)
	tbl := New(st)
	if _, err := tbl.Create(ctx, benchSchema, CreateOptions{Name: "bench"}); err != nil {
		b.Fatalf("create table: %v", err)
	}
	b.SetBytes(arrowBytes)
	b.ReportAllocs()
	var parquetBytes int64
	b.ResetTimer()
	for range b.N {
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		w, err := tbl.NewBatchWriter(ctx, snap)
		if err != nil {
			b.Fatal(err)
		}
		for _, rec := range recs {
			if err := w.Write(rec); err != nil {
				b.Fatal(err)
			}
		}
		adds, err := w.Close()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tbl.Commit(ctx, snap, AppendActions(adds, nil, time.Now().UnixMilli()),
			deltalog.Operation{Name: "WRITE", Parameters: map[string]string{"mode": "Append"}}); err != nil {
			b.Fatal(err)
		}
		parquetBytes += w.Stats().Bytes
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(benchRows)*float64(b.N)/sec, "rows/s")
	b.ReportMetric(float64(parquetBytes)/1e6/sec, "parquetMB/s")
	b.ReportMetric(float64(parquetBytes)/float64(b.N)/1e6, "parquetMB/op")
}

// BenchmarkWriteLocal appends 1M rows per iteration to a table in a local
// directory.
func BenchmarkWriteLocal(b *testing.B) {
	st, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	benchWrite(b, st)
}

// BenchmarkWriteMinIO appends 1M rows per iteration to a table in a bucket
// of the test MinIO server (no SSE). Like the integration tests, it fails
// when deploy/testenv/test.sh did not set up MinIO.
func BenchmarkWriteMinIO(b *testing.B) {
	env := testenv.MinIO(b)
	st, err := objstore.NewS3(context.Background(), env.NewBucket(b), "warehouse/bench",
		objstore.WithEndpoint(env.Endpoint), objstore.WithRegion(env.Region), objstore.WithPathStyle(true),
		objstore.WithStaticCredentials(env.AccessKey, env.SecretKey, ""))
	if err != nil {
		b.Fatalf("open MinIO store: %v", err)
	}
	benchWrite(b, st)
}

// Shape of the synthetic table BenchmarkSnapshotLoad100k replays.
const (
	snapCommits       = 100
	snapAddsPerCommit = 1000
)

// snapAction returns add i of the synthetic table: a file in one of 30
// dates x 4 regions with realistic size and per-column stats.
func snapAction(r *rand.Rand, i int, now int64) deltalog.Action {
	date := time.Date(2024, 1, 1+i%30, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	region := []string{"eu-west-1", "us-east-1", "us-west-2", "ap-south-1"}[(i/30)%4]
	minID := int64(i) * 10_000
	stats := fmt.Sprintf(`{"numRecords":%d,"minValues":{"id":%d,"quantity":1,"price":-%.2f,"customer":"cust-%015d","event_time":"2024-01-01T00:00:00.000Z"},`+
		`"maxValues":{"id":%d,"quantity":100,"price":%.2f,"customer":"cust-%015d","event_time":"2024-01-31T23:59:59.999Z"},`+
		`"nullCount":{"id":0,"quantity":0,"price":%d,"customer":0,"event_time":0}}`,
		10_000, minID, r.Float64()*1000, r.IntN(1000), minID+9_999, r.Float64()*1000, 999_000+r.IntN(1000), r.IntN(500))
	return deltalog.Action{Add: &deltalog.Add{
		Path:             fmt.Sprintf("date=%s/region=%s/part-%05d-%s-c000.zstd.parquet", date, region, i%1000, uuid.New()),
		PartitionValues:  map[string]*string{"date": &date, "region": &region},
		Size:             8<<20 + r.Int64N(120<<20),
		ModificationTime: now - int64(snapCommits*snapAddsPerCommit-i)*1000,
		DataChange:       true,
		Stats:            stats,
	}}
}

// buildSnapTables writes the synthetic log of BenchmarkSnapshotLoad100k with
// deltalog.Commit into two directories under root: the same 101 commits
// (CREATE TABLE and 100 appends), and in the second one a checkpoint at the
// last version.
func buildSnapTables(ctx context.Context, root string) (jsonOnly, withCP objstore.Store, err error) {
	schema := deltalog.Struct(
		deltalog.Field{Name: "id", Type: deltalog.Primitive(deltalog.TypeLong)},
		deltalog.Field{Name: "quantity", Type: deltalog.Primitive(deltalog.TypeInteger), Nullable: true},
		deltalog.Field{Name: "price", Type: deltalog.Primitive(deltalog.TypeDouble), Nullable: true},
		deltalog.Field{Name: "customer", Type: deltalog.Primitive(deltalog.TypeString), Nullable: true},
		deltalog.Field{Name: "event_time", Type: deltalog.Primitive(deltalog.TypeTimestamp), Nullable: true},
		deltalog.Field{Name: "date", Type: deltalog.Primitive(deltalog.TypeString), Nullable: true},
		deltalog.Field{Name: "region", Type: deltalog.Primitive(deltalog.TypeString), Nullable: true},
	)
	ss, err := deltalog.SchemaString(schema)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().UnixMilli()
	create := []deltalog.Action{
		{Protocol: &deltalog.Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{MetaData: &deltalog.Metadata{ID: uuid.NewString(), Format: deltalog.Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: ss, PartitionColumns: []string{"date", "region"}, Configuration: map[string]string{}, CreatedTime: &now}},
	}
	var stores [2]objstore.Store
	for i, name := range []string{"json-only", "with-checkpoint"} {
		if stores[i], err = objstore.NewLocal(filepath.Join(root, name)); err != nil {
			return nil, nil, err
		}
		if _, err := deltalog.Commit(ctx, stores[i], nil, create, deltalog.Operation{Name: "CREATE TABLE"}); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for c := range snapCommits {
		acts := make([]deltalog.Action, snapAddsPerCommit)
		for j := range acts {
			acts[j] = snapAction(r, c*snapAddsPerCommit+j, now)
		}
		// Commit only looks at the read snapshot's version.
		read := &deltalog.Snapshot{Version: int64(c)}
		for i, st := range stores {
			if _, err := deltalog.Commit(ctx, st, read, acts, deltalog.Operation{Name: "WRITE"}); err != nil {
				return nil, nil, fmt.Errorf("store %d commit %d: %w", i, c+1, err)
			}
		}
	}
	snap, err := deltalog.Load(ctx, stores[1])
	if err != nil {
		return nil, nil, fmt.Errorf("load for checkpoint: %w", err)
	}
	if err := deltalog.WriteCheckpoint(ctx, stores[1], snap); err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	return stores[0], stores[1], nil
}

// BenchmarkSnapshotLoad100k measures deltalog.Load of a table of 100,000
// live files in 100 commits of 1,000 adds, replayed from the JSON commits
// alone and from a checkpoint at the last version. The tables are built
// outside the timer, once per run of this benchmark (the sub-benchmarks
// share them), in a temp directory removed afterwards.
func BenchmarkSnapshotLoad100k(b *testing.B) {
	ctx := context.Background()
	jsonOnly, withCP, err := buildSnapTables(ctx, b.TempDir())
	if err != nil {
		b.Fatalf("build synthetic table: %v", err)
	}
	for _, bc := range []struct {
		name       string
		st         objstore.Store
		checkpoint int64
	}{
		{"without-checkpoint", jsonOnly, -1},
		{"with-checkpoint", withCP, snapCommits},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				snap, err := deltalog.Load(ctx, bc.st)
				if err != nil {
					b.Fatal(err)
				}
				if snap.NumFiles() != snapCommits*snapAddsPerCommit || snap.CheckpointVersion != bc.checkpoint {
					b.Fatalf("loaded %d files from checkpoint %d, want %d from %d",
						snap.NumFiles(), snap.CheckpointVersion, snapCommits*snapAddsPerCommit, bc.checkpoint)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}
