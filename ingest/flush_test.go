package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// kindSpec is a pipeline partitioned by the column kind.
func kindSpec(t *testing.T, brokers []string, dir string) *Spec {
	t.Helper()
	y := fmt.Sprintf(`
query: q1
source: {brokers: [%q], topic: orders}
decode:
  format: json
  columns:
    - {name: id, type: BIGINT, nullable: false}
    - {name: kind, type: STRING}
    - {name: pad, type: STRING}
sink: {table: %s, partitionBy: [kind]}
flush: {interval: 1m, maxBytes: 64KiB}
`, brokers[0], filepath.Join(dir, "t"))
	s, err := ParseSpec([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// produceKind produces n records of kind from id from, each with about
// padBytes of incompressible padding, spread over the partitions by key.
func produceKind(t *testing.T, cl *kgo.Client, kind string, from, n, padBytes int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		var pad []byte
		for len(pad) < padBytes {
			sum := sha256.Sum256(fmt.Appendf(nil, "%d-%d", i, len(pad)))
			pad = hex.AppendEncode(pad, sum[:])
		}
		v := fmt.Sprintf(`{"id": %d, "kind": %q, "pad": %q}`, i, kind, pad)
		recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// filesByKind counts the table's live files per partition value of kind,
// and each id's rows.
func filesByKind(t *testing.T, uri string) (files map[string]int, ids map[int64]int) {
	t.Helper()
	ids = map[int64]int{}
	snap := readTable(t, uri, func(rec arrow.Record) {
		col := rec.Column(0).(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			ids[col.Value(i)]++
		}
	})
	files = map[string]int{}
	for _, a := range snap.Files() {
		files[*a.PartitionValues["kind"]]++
	}
	return files, ids
}

// TestPartitionFlushBySizeAndAge: a busy table partition commits each time
// it holds flush.maxBytes, while a quiet one beside it waits for its max age
// (flush.interval) and writes one file, not one per commit of the busy one.
// A worker killed while the quiet partition still holds rows older than the
// busy one's commits loses and duplicates nothing on restart.
func TestPartitionFlushBySizeAndAge(t *testing.T) {
	c, prod := fakeKafka(t, 3)
	dir := t.TempDir()
	spec := kindSpec(t, c.ListenAddrs(), dir)
	const cold, hot = 12, 400
	produceKind(t, prod, "cold", 0, cold, 10)

	ctx, cancel := context.WithCancel(context.Background())
	w, done := startWorker(t, ctx, spec)
	const rounds = 4
	for r := range rounds {
		// Each round is more than flush.maxBytes of Parquet.
		produceKind(t, prod, "hot", cold+r*hot/rounds, hot/rounds, 1000)
		waitFor(t, fmt.Sprintf("the hot partition's size commit %d", r+1), 30*time.Second, func() bool {
			files, _ := filesByKindIfTable(t, spec.Sink.Table)
			return files["hot"] == r+1
		})
	}
	// Killed: what the worker holds is never committed.
	w.mu.Lock()
	w.skipFinalFlush = true
	w.mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	files, ids := filesByKind(t, spec.Sink.Table)
	if files["cold"] != 0 || files["hot"] != rounds {
		t.Fatalf("files per partition %v: want %d hot files (one per size commit) and no cold one before its max age", files, rounds)
	}
	for id, n := range ids {
		if id < cold || n != 1 {
			t.Fatalf("before the restart: id %d has %d rows", id, n)
		}
	}

	// Restarted with a short max age: the cold rows land once, the hot rows
	// committed before the kill are not written again.
	spec.Flush.Interval.Duration = time.Second
	runUntil(t, spec, func(*Worker) bool {
		_, ids := filesByKindIfTable(t, spec.Sink.Table)
		return len(ids) == cold+hot
	})
	files, ids = filesByKind(t, spec.Sink.Table)
	for id := int64(0); id < cold+hot; id++ {
		if ids[id] != 1 {
			t.Errorf("id %d: %d rows, want 1", id, ids[id])
		}
	}
	if files["cold"] != 1 || files["hot"] != rounds {
		t.Errorf("files per partition %v: want 1 cold file and %d hot ones", files, rounds)
	}
	snap := readTable(t, spec.Sink.Table, func(arrow.Record) {})
	checkMarksBelowBase(t, snap)
	checkProtocolTypes(t, spec.Sink.Table)
}

// filesByKindIfTable is filesByKind, with nothing before the first commit.
func filesByKindIfTable(t *testing.T, uri string) (map[string]int, map[int64]int) {
	t.Helper()
	if _, err := loadSnapshot(uri); err != nil {
		return nil, nil
	}
	return filesByKind(t, uri)
}

// checkMarksBelowBase: once every row is committed, no partition's mark is
// above its base, so a restart re-reads nothing.
func checkMarksBelowBase(t *testing.T, snap *deltalog.Snapshot) {
	t.Helper()
	txns := snap.Txns()
	for id, v := range txns {
		var p int32
		var dirPart string
		if n, _ := fmt.Sscanf(id, "q1-%d/%s", &p, &dirPart); n == 2 {
			if base := txns[fmt.Sprintf("q1-%d", p)]; v > base {
				t.Errorf("mark %s = %d is above the base %d", id, v, base)
			}
		}
	}
}

func TestDuePartitions(t *testing.T) {
	now := time.Unix(1000, 0)
	p := Policy{MaxAge: 10 * time.Second, MaxBytes: 1 << 20}
	parts := map[string]partitionState{
		"k=old/":   {started: now.Add(-10 * time.Second), bytes: 10},
		"k=big/":   {started: now.Add(-time.Second), bytes: 1 << 20},
		"k=young/": {started: now.Add(-9 * time.Second), bytes: 1<<20 - 1},
	}
	due := duePartitions(parts, now, p)
	if len(due) != 3 || !due["k=old/"] || !due["k=big/"] || !due["k=young/"] {
		t.Errorf("due %v: want k=old/ (max age), k=big/ (max bytes) and k=young/ (half way, joins)", due)
	}
	// Half way to a bound joins a commit but starts none.
	halfway := map[string]partitionState{
		"k=a/": {started: now.Add(-5 * time.Second), bytes: 10},
		"k=b/": {started: now.Add(-time.Second), bytes: 1 << 19},
	}
	if due := duePartitions(halfway, now, p); len(due) != 0 {
		t.Errorf("due %v: want none (no partition at a bound)", due)
	}
	halfway["k=c/"] = partitionState{started: now.Add(-11 * time.Second)}
	halfway["k=d/"] = partitionState{started: now.Add(-4 * time.Second), bytes: 1<<19 - 1}
	due = duePartitions(halfway, now, p)
	if len(due) != 3 || !due["k=a/"] || !due["k=b/"] || !due["k=c/"] {
		t.Errorf("due %v: want k=c/ (max age) joined by k=a/ (half the age) and k=b/ (half the bytes), not k=d/", due)
	}
}

// loadSnapshot reads the table's latest version.
func loadSnapshot(uri string) (*deltalog.Snapshot, error) {
	ctx := context.Background()
	st, err := objstore.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	return deltalog.Load(ctx, st)
}

// startWorker starts spec's worker until ctx ends; done receives Run's error.
func startWorker(t *testing.T, ctx context.Context, spec *Spec) (*Worker, chan error) {
	t.Helper()
	w, err := NewWorker(ctx, spec, WithLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return w, done
}
