package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/ingest/decode"
	"github.com/sluice-io/sluice/internal/deltaspec"
)

// testSpec is a JSON pipeline over topic into a table under dir.
func testSpec(t testing.TB, brokers []string, topic, dir string) *Spec {
	t.Helper()
	y := fmt.Sprintf(`
query: q1
source:
  brokers: [%q]
  topic: %s
decode:
  format: json
  columns:
    - {name: id, type: BIGINT, nullable: false}
    - {name: name, type: STRING}
    - {name: amount, type: "DECIMAL(10,2)"}
    - {name: ts, type: TIMESTAMP}
    - {name: kafka_partition, meta: partition}
    - {name: kafka_offset, meta: offset}
sink:
  table: %s
flush:
  interval: 1s
`, brokers[0], topic, filepath.Join(dir, "orders"))
	s, err := ParseSpec([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func produce(t testing.TB, cl *kgo.Client, topic string, from, n int, poisonEvery int) (good int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		v := fmt.Sprintf(`{"id": %d, "name": "order-%d", "amount": "%d.%02d", "ts": "2024-05-01T12:00:00Z"}`, i, i, i, i%100)
		if poisonEvery > 0 && i%poisonEvery == poisonEvery-1 {
			v = []string{`{"id": "not a number"}`, `{not json`, `{"name": "missing id"}`}[i%3]
		} else {
			good++
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return good
}

// tableIDs reads every id in the table with our own Parquet reader.
func tableIDs(t testing.TB, uri string) (ids map[int64]int, snap *deltalog.Snapshot) {
	t.Helper()
	ids = map[int64]int{}
	snap = readTable(t, uri, func(rec arrow.Record) {
		col := rec.Column(0).(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			ids[col.Value(i)]++
		}
	})
	return ids, snap
}

// checkProtocolTypes fails the test on every field of the table's log that
// the Delta protocol's types reject.
func checkProtocolTypes(t testing.TB, uri string) {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := deltaspec.CheckTable(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("%s: %s", uri, e)
	}
}

// readTable calls fn with every record batch of the table's current version.
func readTable(t testing.TB, uri string, fn func(arrow.Record)) *deltalog.Snapshot {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := deltalog.Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range snap.Files() {
		key, _ := deltawriter.KeyForPath(a.Path)
		b, err := objstore.ReadAll(ctx, st, key)
		if err != nil {
			t.Fatal(err)
		}
		err = parquetio.ReadFile(bytes.NewReader(b), int64(len(b)), snap.Schema, memory.DefaultAllocator, func(rec arrow.Record) error {
			fn(rec)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWorkerExactlyOnceKfake: records in, restart in the middle, every good
// record exactly once in the table, every bad one in the dead-letter table.
func TestWorkerExactlyOnceKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "orders"), kfake.SeedTopics(1, "orders-dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	dir := t.TempDir()
	spec := testSpec(t, c.ListenAddrs(), "orders", dir)
	spec.DeadLetter.Topic = "orders-dlq"
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	run := func(until func() bool) {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := NewWorker(ctx, spec, WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		waitFor(t, "the table to catch up", 30*time.Second, until)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	good := produce(t, prod, "orders", 0, 500, 50)
	run(func() bool { ids, _ := tableIDs(t, spec.Sink.Table); return len(ids) >= good })
	good += produce(t, prod, "orders", 500, 500, 50)
	run(func() bool { ids, _ := tableIDs(t, spec.Sink.Table); return len(ids) >= good })

	ids, snap := tableIDs(t, spec.Sink.Table)
	if len(ids) != good {
		t.Fatalf("table has %d distinct ids, want %d", len(ids), good)
	}
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("id %d written %d times", id, n)
		}
	}
	// The txn versions are the last offsets of each partition.
	var sum int64
	for p := 0; p < 4; p++ {
		v, ok := snap.TxnVersion(fmt.Sprintf("q1-%d", p))
		if !ok {
			t.Fatalf("no txn for partition %d", p)
		}
		sum += v + 1
	}
	if sum != 1000 {
		t.Fatalf("txn offsets cover %d records, want 1000", sum)
	}
	// Every action of the worker's commits (table and dead letters) has the
	// protocol's JSON types.
	for _, uri := range []string{spec.Sink.Table, spec.DeadLetter.Table} {
		checkProtocolTypes(t, uri)
	}
	// Every poison record is in the dead-letter table once, with its reason.
	dead := map[int64]string{}
	readTable(t, spec.DeadLetter.Table, func(rec arrow.Record) {
		offs := rec.Column(3).(*array.Int64)
		parts := rec.Column(2).(*array.Int32)
		errs := rec.Column(8).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			k := int64(parts.Value(i))<<32 | offs.Value(i)
			if _, dup := dead[k]; dup {
				t.Fatalf("dead letter p%d@%d twice", parts.Value(i), offs.Value(i))
			}
			dead[k] = errs.Value(i)
		}
	})
	if len(dead) != 1000-good {
		t.Fatalf("%d dead letters, want %d", len(dead), 1000-good)
	}
	for _, e := range dead {
		if e == "" {
			t.Fatal("dead letter without a reason")
		}
	}
	// And each was re-published on the dead-letter topic with its reason.
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("orders-dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	topicDead := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for topicDead < len(dead) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead-letter topic has %d records, want %d", topicDead, len(dead))
		}
		fs.EachRecord(func(r *kgo.Record) {
			topicDead++
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			if h["sluice-error"] == "" || h["sluice-stage"] != "decode" || h["sluice-topic"] != "orders" || h["sluice-offset"] == "" {
				t.Fatalf("dead-letter topic record headers %v", h)
			}
		})
	}
}

// A dead-letter commit that landed although its caller saw an error is
// not written again: only rows past the table's offsets are kept.
func TestDeadLettersPastCommittedOffsets(t *testing.T) {
	as, err := deltalog.ArrowSchema(DeadLetterSchema)
	if err != nil {
		t.Fatal(err)
	}
	d := newDeadLetters("q", as)
	defer d.release()
	for _, m := range []struct {
		p   int32
		off int64
	}{{0, 5}, {0, 9}, {1, 3}, {1, 4}} {
		d.add(&decode.Message{Topic: "t", Partition: m.p, Offset: m.off, Value: []byte("x")}, "decode", fmt.Errorf("bad"), false)
	}
	rec := d.build()
	defer rec.Release()
	committed := map[int32]int64{0: 5, 1: -1}
	out, err := newDeadLettersOnly(context.Background(), rec, func(p int32) int64 { return committed[p] })
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := out.Column(3).String(); got != "[9 3 4]" {
		t.Fatalf("kept offsets %s, want [9 3 4]", got)
	}
}
