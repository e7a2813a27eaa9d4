package plan

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
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
	// Expected: DE (i%4==0) and NL (i%4==3) with 100 <= i*30+0.5 <= 2500.
	var want []string
	for i := 0; i < 100; i++ {
		amount := float64(i*30) + 0.5
		if (i%4 == 0 || i%4 == 3) && amount >= 100 && amount <= 2500 {
			seg := map[bool]string{true: "large", false: "small"}[amount >= 1000]
			want = append(want, fmt.Sprintf("id=%d segment=%s cc=%s", i, seg, map[bool]string{true: "de", false: "nl"}[i%4 == 0]))
		}
	}
	sort.Strings(want)
	got := runUntil(t, p.Spec, loc, len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestGoldensRun runs a few golden statements (testdata/valid) on a worker
// over rows sent through a fake Kafka, and checks every output value:
// three-valued logic, simple CASE, decimal arithmetic, JSON extraction,
// Kafka metadata and string concatenation with NULLs.
func TestGoldensRun(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "boolean", "cases", "decimals", "json", "meta", "concat"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the parallel subtests, unlike a defer
	addr := c.ListenAddrs()[0]
	cases := []struct {
		golden string
		topic  string
		values []string
		want   []string // rows as "col=value ..." in output column order
	}{
		{"boolean_columns", "boolean", []string{
			`{"id": 1, "active": true, "qty": 5, "customer": "x"}`,
			`{"id": 2, "active": false, "qty": null, "customer": null}`,
			`{"id": 3, "active": null, "qty": 5, "customer": "x"}`,
			`{"id": 4, "active": null, "qty": 0, "customer": null}`,
		}, []string{
			"a=false b=true c=true d=false",       // false AND NULL is false; false OR true
			"a=false b=true c=(null) d=(null)",    // NULL AND false is false; NULL OR true is true
			"a=(null) b=(null) c=(null) d=(null)", // NULL AND true, NULL OR false, NOT NULL: NULL
			"a=true b=true c=false d=true",
		}},
		{"case_simple_else", "cases", []string{
			`{"id": 1, "qty": 1}`, `{"id": 2, "qty": 2}`, `{"id": 3, "qty": 7}`, `{"id": 4}`,
		}, []string{"id=1 words=one", "id=2 words=two", "id=3 words=many", "id=4 words=many"}},
		{"arithmetic_decimal", "decimals", []string{
			`{"id": 1, "amount": "10.25", "qty": 3}`, `{"id": 2, "amount": null, "qty": 3}`, `{"id": 3, "amount": "-0.01", "qty": null}`,
		}, []string{
			"a=(null) b=(null) c=(null) d=(null) e=(null)",
			"a=1.49 b=0.0001 c=-0.0033333333333333333333 d=-0.01 e=(null)",
			"a=11.75 b=105.0625 c=3.4166666666666666666667 d=0.25 e=7.25",
		}},
		{"json_extraction", "json", []string{
			`{"id": 1, "payload": "{\"customer\": {\"id\": \"c1\"}, \"items\": [{\"sku\": \"A\"}], \"status\": \"paid\"}"}`,
			`{"id": 2, "payload": "{\"customer\": {\"id\": 7}, \"items\": [], \"status\": \"paid\"}"}`,
			`{"id": 3, "payload": "{\"status\": \"open\"}"}`,
			`{"id": 4, "payload": "not json"}`,
		}, []string{
			`customer_id=7 items=[] first_sku=(null)`,
			`customer_id=c1 items=[{"sku":"A"}] first_sku=A`, // json_query returns compact JSON
		}},
		{"concat_operator", "concat", []string{
			`{"id": 1, "customer": "ann", "country": "DE", "qty": 3}`, `{"id": 2, "customer": "bob", "country": null, "qty": null}`,
		}, []string{"label=(null) qlabel=(null)", "label=ann-DE qlabel=q3"}},
	}
	// kafka_metadata_where keeps offsets above 100 of partition 0.
	var meta []string
	for i := 0; i < 104; i++ {
		meta = append(meta, fmt.Sprintf(`{"id": %d}`, i))
	}
	cases = append(cases, struct {
		golden string
		topic  string
		values []string
		want   []string
	}{"kafka_metadata_where", "meta", meta, []string{"id=101 off=101", "id=102 off=102", "id=103 off=103"}})

	prod, _ := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("x"))
	defer prod.Close()
	for _, tc := range cases {
		var recs []*kgo.Record
		for _, v := range tc.values {
			recs = append(recs, &kgo.Record{Topic: tc.topic, Value: []byte(v), Timestamp: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)})
		}
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			src, _ := os.ReadFile(filepath.Join("testdata/valid", tc.golden+".sql"))
			stmt, err := sqlparse.ParseOne(string(src))
			if err != nil {
				t.Fatal(err)
			}
			stream := ordersStream(t)
			stream.Props["topic"] = tc.topic
			stream.StoreProps["bootstrap.servers"] = addr
			loc := filepath.Join(t.TempDir(), "t")
			p, err := Compile(tc.golden, stmt.(*sqlparse.CreateTable).Query, stream, Table{Name: "sales.eu.t", Location: loc})
			if err != nil {
				t.Fatal(err)
			}
			p.Spec.Flush.Interval.Duration = time.Second
			got := runUntil(t, p.Spec, loc, len(tc.want))
			sort.Strings(tc.want)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// runUntil runs a worker on spec until the table at loc holds n rows (or
// 30 s pass) and returns its rows, rendered and sorted.
func runUntil(t *testing.T, spec *ingest.Spec, loc string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := ingest.NewWorker(ctx, spec, ingest.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var rows []string
	for deadline := time.Now().Add(30 * time.Second); len(rows) < n && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		rows = tableRows(t, loc)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return tableRows(t, loc)
}

// tableRows reads every row of the Delta table at loc as "col=value ...".
func tableRows(t *testing.T, loc string) []string {
	ctx := context.Background()
	st, err := objstore.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := deltalog.Load(ctx, st)
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range snap.Files() {
		key, _ := deltawriter.KeyForPath(a.Path)
		b, err := objstore.ReadAll(ctx, st, key)
		if err != nil {
			t.Fatal(err)
		}
		err = parquetio.ReadFile(bytes.NewReader(b), int64(len(b)), snap.Schema, memory.DefaultAllocator, func(rec arrow.Record) error {
			for i := 0; i < int(rec.NumRows()); i++ {
				cells := make([]string, rec.NumCols())
				for j := range cells {
					cells[j] = rec.ColumnName(j) + "=" + rec.Column(j).ValueStr(i)
				}
				out = append(out, strings.Join(cells, " "))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}
