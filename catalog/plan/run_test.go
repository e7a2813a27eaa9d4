package plan

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/ingest"
)

// TestCompiledQueryRuns compiles a query with a WHERE and computed columns
// and runs the resulting spec on a worker: the table holds exactly the
// filtered rows with the computed values.
func TestCompiledQueryRuns(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prod, _ := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	defer prod.Close()
	var recs []*kgo.Record
	for i := 0; i < 100; i++ {
		country := []string{"DE", "FR", "US", "NL"}[i%4]
		recs = append(recs, &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprintf(
			`{"id": %d, "customer": "c%d", "amount": "%d.50", "country": %q, "placed_at": "2024-05-01T13:14:15Z"}`, i, i, i*30, country))})
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stmt, err := sqlparse.ParseOne(`CREATE TABLE sales.eu.segments AS
SELECT id, CASE WHEN amount >= 1000 THEN 'large' ELSE 'small' END AS segment, lower(country) AS cc
FROM sales.eu.orders WHERE country IN ('DE', 'NL') AND amount BETWEEN 100 AND 2500`)
	if err != nil {
		t.Fatal(err)
	}
	src := ordersStream(t)
	src.StoreProps["bootstrap.servers"] = c.ListenAddrs()[0]
	loc := filepath.Join(t.TempDir(), "segments")
	p, err := Compile("segments", stmt.(*sqlparse.CreateTable).Query, src, Table{Name: "sales.eu.segments", Location: loc,
		Props: map[string]string{"flush.interval": "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := ingest.NewWorker(ctx, p.Spec, ingest.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Expected: DE (i%4==0) and NL (i%4==3) with 100 <= i*30+0.5 <= 2500.
	want := map[int64]string{}
	for i := 0; i < 100; i++ {
		amount := float64(i*30) + 0.5
		if (i%4 == 0 || i%4 == 3) && amount >= 100 && amount <= 2500 {
			want[int64(i)] = map[bool]string{true: "large", false: "small"}[amount >= 1000]
		}
	}
	got := map[int64]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		got = readSegments(t, loc)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got = readSegments(t, loc)
	if len(got) != len(want) {
		t.Fatalf("table has %d rows, want %d", len(got), len(want))
	}
	for id, seg := range want {
		if got[id] != seg {
			t.Fatalf("id %d: segment %q, want %q", id, got[id], seg)
		}
	}
}

func readSegments(t *testing.T, loc string) map[int64]string {
	ctx := context.Background()
	st, err := objstore.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := deltalog.Load(ctx, st)
	if err != nil {
		return nil
	}
	out := map[int64]string{}
	for _, a := range snap.Files() {
		key, _ := deltawriter.KeyForPath(a.Path)
		b, _ := objstore.ReadAll(ctx, st, key)
		parquetio.ReadFile(bytes.NewReader(b), int64(len(b)), snap.Schema, memory.DefaultAllocator, func(rec arrow.Record) error {
			ids, segs, cc := rec.Column(0).(*array.Int64), rec.Column(1).(*array.String), rec.Column(2).(*array.String)
			for i := 0; i < int(rec.NumRows()); i++ {
				if cc.Value(i) != "de" && cc.Value(i) != "nl" {
					t.Fatalf("computed column cc = %q", cc.Value(i))
				}
				out[ids.Value(i)] = segs.Value(i)
			}
			return nil
		})
	}
	return out
}
