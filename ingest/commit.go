package ingest

// The commit protocol: a window of records is committed to the table with
// each partition's offset in a txn action (exactly once), the consumer group
// follows, and on a conflict or a rebalance the window is dropped and re-read.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// flush commits the table partitions due (every one when due is nil), the
// dead letters, and each Kafka partition's progress. On a conflict or a
// storage failure the window is dropped and every partition re-reads from
// its committed offset, so nothing is lost or written twice. Only errors
// that retrying cannot fix are returned.
func (w *Worker) flush(ctx context.Context, why string, due map[string]bool) error {
	win := w.win
	if win == nil || len(win.last) == 0 {
		return nil
	}
	start := time.Now()
	err := w.commitWindow(ctx, due)
	var ce *deltalog.ConflictError
	switch {
	case err == nil:
		w.metrics.CommitLatency.Observe(time.Since(start).Seconds())
		if len(win.buckets) == 0 && win.batch.Len() == 0 {
			win.bw.Abort() // nothing open: the next rows start a window on a fresh snapshot
			win.batch.Release()
			win.dead.release()
			w.win = nil
		}
		return nil
	case errors.As(err, &ce) || errors.Is(err, errStaleBase):
		w.metrics.CommitConflicts.Inc()
		w.log.Warn("another writer advanced our partitions; re-reading them", "err", err)
	case errors.Is(err, errFatal):
		return err
	default:
		w.metrics.FlushErrors.Inc()
		w.log.Error("flush failed; re-reading the window from Kafka", "reason", why, "err", err)
	}
	w.abortWindow(ctx)
	return nil
}

var (
	errStaleBase = errors.New("a partition's table offset moved since this worker sought it")
	errFatal     = errors.New("fatal")
)

// commitWindow commits the buckets due. Exactly once with partial flushes:
// a Kafka partition's txn <query>-<p> (its base) is the offset below the
// oldest row still buffered in a bucket left for later, so a restart
// re-reads every uncommitted row; and a committed bucket whose rows of p go
// past that base records how far in the txn <query>-<p>/<partition dir>
// (a mark), so the re-read skips the rows it already holds.
func (w *Worker) commitWindow(ctx context.Context, due map[string]bool) error {
	win := w.win
	if err := w.drain(ctx); err != nil {
		return err
	}
	if due == nil {
		due = make(map[string]bool, len(win.buckets))
		for dir := range win.buckets {
			due[dir] = true
		}
	}
	adds, err := win.bw.Take(due)
	if err != nil {
		return err
	}
	// The offsets this window starts from must still be the table's.
	for p := range win.last {
		cur := int64(-1)
		if v, ok := win.snap.TxnVersion(w.appID(p)); ok {
			cur = v
		}
		if cur != w.base[p] {
			return fmt.Errorf("partition %d: table at offset %d, worker at %d: %w", p, cur, w.base[p], errStaleBase)
		}
	}
	newBase := make(map[int32]int64, len(win.last))
	for p, off := range win.last {
		newBase[p] = off
	}
	var rows int64
	for dir, b := range win.buckets {
		if due[dir] {
			rows += b.rows
			continue
		}
		for p, first := range b.first {
			newBase[p] = min(newBase[p], first-1)
		}
	}
	now := time.Now().UnixMilli()
	var txns []deltalog.Txn
	for p, off := range newBase {
		if off != w.base[p] {
			txns = append(txns, deltalog.Txn{AppID: w.appID(p), Version: off, LastUpdated: &now})
		}
	}
	type mark struct {
		p   int32
		dir string
		off int64
	}
	var marks []mark
	for dir := range due {
		b := win.buckets[dir]
		if b == nil {
			continue
		}
		for p, last := range b.last {
			if last > newBase[p] {
				marks = append(marks, mark{p, dir, last})
				txns = append(txns, deltalog.Txn{AppID: w.markID(p, dir), Version: last, LastUpdated: &now})
			}
		}
	}
	if win.dead.n > 0 {
		if err := w.publishDeadLetters(ctx, win.dead.msgs); err != nil {
			return fmt.Errorf("dead-letter topic %s: %w", w.spec.DeadLetter.Topic, err)
		}
		// Every record up to last was dead-lettered if it failed: the
		// dead-letter table's txns are the consumed offsets.
		dtxns := make([]deltalog.Txn, 0, len(win.last))
		for p, off := range win.last {
			dtxns = append(dtxns, deltalog.Txn{AppID: w.appID(p), Version: off, LastUpdated: &now})
		}
		if err := w.commitDeadLetters(ctx, dtxns); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	win.progress = time.Time{}
	if len(adds) == 0 && len(txns) == 0 {
		return nil
	}
	acts := deltawriter.AppendActions(adds, txns, now)
	if len(w.extra) > 0 {
		md := win.snap.Metadata
		ss, err := deltalog.SchemaString(w.schema)
		if err != nil {
			return err
		}
		md.SchemaString = ss
		acts = append([]deltalog.Action{{MetaData: &md}}, acts...)
	}
	v, err := w.table.Commit(ctx, win.snap, acts, deltalog.Operation{Name: "STREAMING UPDATE", Parameters: map[string]string{
		"outputMode": "Append", "queryId": w.spec.Query, "epochId": deltalog.JSONParam(win.snap.Version + 1),
	}})
	if err != nil {
		return err
	}
	w.extra = nil
	for p, off := range newBase {
		w.base[p] = off
		w.dlqBase[p] = max(w.dlqBase[p], win.last[p])
		for dir, m := range w.marks[p] {
			if m <= off {
				delete(w.marks[p], dir) // below the base: never re-read
			}
		}
		if off == win.last[p] {
			delete(win.first, p)
			delete(win.last, p)
		}
		w.metrics.CommittedOffset.WithLabelValues(partitionLabel(p)).Set(float64(off))
	}
	for _, m := range marks {
		w.setMark(m.p, m.dir, m.off)
	}
	for dir := range due {
		delete(win.buckets, dir)
	}
	win.rows -= rows
	var bytes int64
	for _, a := range adds {
		bytes += a.Size
	}
	w.metrics.Commits.Inc()
	w.metrics.RecordsWritten.Add(float64(rows))
	w.metrics.FilesWritten.Add(float64(len(adds)))
	w.metrics.BytesWritten.Add(float64(bytes))
	w.metrics.TableVersion.Set(float64(v))
	w.metrics.BufferedBytes.Set(float64(win.bw.Size()))
	w.log.Debug("committed", "version", v, "rows", rows, "files", len(adds), "partitionsLeft", len(win.buckets))
	w.ready.Store(true)
	w.commitGroupOffsets(ctx, newBase)
	if len(win.buckets) > 0 {
		// The buckets left are committed later, on top of this version.
		snap, err := w.table.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("re-read %s after commit %d: %w", w.table.URI(), v, err)
		}
		win.snap = snap
	}
	return nil
}

func (w *Worker) setMark(p int32, dir string, off int64) {
	if w.marks[p] == nil {
		w.marks[p] = map[string]int64{}
	}
	w.marks[p][dir] = off
}

// loadMarks reads partition p's marks above its base from snap.
func (w *Worker) loadMarks(snap *deltalog.Snapshot, p int32) {
	delete(w.marks, p)
	prefix := w.appID(p) + "/"
	for id, v := range snap.Txns() {
		if dir, ok := strings.CutPrefix(id, prefix); ok && v > w.base[p] {
			w.setMark(p, dir, v)
		}
	}
}

// commitGroupOffsets records progress in the consumer group for monitoring
// tools; the table, not the group, is the source of truth.
func (w *Worker) commitGroupOffsets(ctx context.Context, last map[int32]int64) {
	offs := map[string]map[int32]kgo.EpochOffset{w.spec.Source.Topic: {}}
	for p, o := range last {
		offs[w.spec.Source.Topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o + 1}
	}
	w.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			w.log.Debug("group offset commit failed (monitoring only)", "err", err)
		}
	})
}

// abortWindow drops the window and seeks every assigned partition back to
// the table's offset.
func (w *Worker) abortWindow(ctx context.Context) {
	win := w.win
	w.win = nil
	if win == nil {
		return
	}
	win.bw.Abort()
	win.batch.Release()
	win.dead.release()
	snap, err := w.table.Snapshot(ctx)
	if err != nil {
		w.log.Error("re-read table after a failed flush", "err", err)
	}
	seek := map[int32]kgo.EpochOffset{}
	for p := range w.base {
		if snap != nil {
			if v, ok := snap.TxnVersion(w.appID(p)); ok {
				w.base[p] = v
			}
			w.loadMarks(snap, p)
		}
		switch {
		case w.base[p] >= 0:
			seek[p] = kgo.EpochOffset{Epoch: -1, Offset: w.base[p] + 1}
		case win.first[p] > 0 || hasKey(win.first, p):
			seek[p] = kgo.EpochOffset{Epoch: -1, Offset: win.first[p]}
		}
	}
	w.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{w.spec.Source.Topic: seek})
}

// dropWindow forgets the window without committing it.
func (w *Worker) dropWindow() {
	if w.win != nil {
		w.win.bw.Abort()
		w.win.batch.Release()
		w.win.dead.release()
		w.win = nil
	}
}

func hasKey(m map[int32]int64, k int32) bool { _, ok := m[k]; return ok }

// adjustOffsets runs when partitions are assigned: each starts after the
// offset the table last committed for it, whatever the group says.
func (w *Worker) adjustOffsets(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	snap, err := w.table.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("read table offsets: %w", err)
	}
	dsnap, err := w.dlq.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("read dead-letter offsets: %w", err)
	}
	start := w.startOffset()
	for topic, parts := range assigned {
		for p := range parts {
			off := start
			w.base[p] = -1
			if v, ok := snap.TxnVersion(w.appID(p)); ok {
				w.base[p] = v
				off = kgo.NewOffset().At(v + 1)
			}
			w.loadMarks(snap, p)
			w.dlqBase[p] = -1
			if v, ok := dsnap.TxnVersion(w.appID(p)); ok {
				w.dlqBase[p] = v
			}
			assigned[topic][p] = off
		}
	}
	w.log.Info("partitions assigned", "partitions", len(assigned[w.spec.Source.Topic]), "tableVersion", snap.Version)
	w.ready.Store(true)
	return assigned, nil
}

func (w *Worker) startOffset() kgo.Offset {
	switch s := w.spec.Source.Start; s {
	case "earliest":
		return kgo.NewOffset().AtStart()
	case "latest":
		return kgo.NewOffset().AtEnd()
	default:
		t, _ := time.Parse(time.RFC3339Nano, s)
		return kgo.NewOffset().AfterMilli(t.UnixMilli())
	}
}

// onRevoked commits what the window holds before the partitions move.
func (w *Worker) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.skipFinalFlush {
		w.dropWindow()
		return
	}
	if err := w.flush(ctx, "rebalance", nil); err != nil {
		w.log.Error("flush on revoke", "err", err)
	}
	for _, p := range revoked[w.spec.Source.Topic] {
		delete(w.base, p)
		delete(w.marks, p)
	}
}

// onLost drops the window: another worker may already own the partitions.
func (w *Worker) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropWindow()
	for _, p := range lost[w.spec.Source.Topic] {
		delete(w.base, p)
		delete(w.marks, p)
	}
}

func (w *Worker) appID(p int32) string { return fmt.Sprintf("%s-%d", w.spec.Query, p) }

// markID is the txn application id of partition p's progress in the table
// partition directory dir (see commitWindow).
func (w *Worker) markID(p int32, dir string) string { return w.appID(p) + "/" + dir }

func partitionOf(appID string) int32 {
	i := strings.LastIndexByte(appID, '-')
	var p int32
	fmt.Sscanf(appID[i+1:], "%d", &p)
	return p
}
