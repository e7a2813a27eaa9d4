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

// flush commits the window: dead letters first, then the data with the
// offsets. On a conflict or a storage failure the window is dropped and
// every partition re-reads from its committed offset, so nothing is lost or
// written twice. Only errors that retrying cannot fix are returned.
func (w *Worker) flush(ctx context.Context, why string) error {
	win := w.win
	if win == nil || len(win.last) == 0 {
		return nil
	}
	start := time.Now()
	err := w.commitWindow(ctx)
	var ce *deltalog.ConflictError
	switch {
	case err == nil:
		w.metrics.CommitLatency.Observe(time.Since(start).Seconds())
		win.batch.Release()
		win.dead.release()
		w.win = nil
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

func (w *Worker) commitWindow(ctx context.Context) error {
	win := w.win
	if err := w.drain(ctx); err != nil {
		return err
	}
	adds, err := win.bw.Close()
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
	now := time.Now().UnixMilli()
	txns := make([]deltalog.Txn, 0, len(win.last))
	for p, off := range win.last {
		txns = append(txns, deltalog.Txn{AppID: w.appID(p), Version: off, LastUpdated: &now})
	}
	if win.dead.n > 0 {
		if err := w.publishDeadLetters(ctx, win.dead.msgs); err != nil {
			return fmt.Errorf("dead-letter topic %s: %w", w.spec.DeadLetter.Topic, err)
		}
		if err := w.commitDeadLetters(ctx, txns); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
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
	for p, off := range win.last {
		w.base[p] = off
		w.dlqBase[p] = max(w.dlqBase[p], off)
		w.metrics.CommittedOffset.WithLabelValues(partitionLabel(p)).Set(float64(off))
	}
	st := win.bw.Stats()
	w.metrics.Commits.Inc()
	w.metrics.RecordsWritten.Add(float64(win.rows))
	w.metrics.FilesWritten.Add(float64(st.Files))
	w.metrics.BytesWritten.Add(float64(st.Bytes))
	w.metrics.TableVersion.Set(float64(v))
	w.metrics.BufferedBytes.Set(0)
	w.log.Debug("committed", "version", v, "rows", win.rows, "files", st.Files, "deadLetters", win.dead.n)
	w.ready.Store(true)
	w.commitGroupOffsets(ctx, win.last)
	return nil
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
	if err := w.flush(ctx, "rebalance"); err != nil {
		w.log.Error("flush on revoke", "err", err)
	}
	for _, p := range revoked[w.spec.Source.Topic] {
		delete(w.base, p)
	}
}

// onLost drops the window: another worker may already own the partitions.
func (w *Worker) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.win != nil {
		w.win.bw.Abort()
		w.win.batch.Release()
		w.win.dead.release()
		w.win = nil
	}
	for _, p := range lost[w.spec.Source.Topic] {
		delete(w.base, p)
	}
}

func (w *Worker) appID(p int32) string { return fmt.Sprintf("%s-%d", w.spec.Query, p) }

func partitionOf(appID string) int32 {
	i := strings.LastIndexByte(appID, '-')
	var p int32
	fmt.Sscanf(appID[i+1:], "%d", &p)
	return p
}
