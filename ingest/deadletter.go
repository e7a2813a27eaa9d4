package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/ingest/decode"
)

// DeadLetterSchema is the schema of dead-letter tables: the raw record, where
// it came from, and why it failed.
var DeadLetterSchema = deltalog.Struct(
	deltalog.Field{Name: "query", Type: deltalog.Primitive(deltalog.TypeString), Nullable: false},
	deltalog.Field{Name: "topic", Type: deltalog.Primitive(deltalog.TypeString), Nullable: false},
	deltalog.Field{Name: "partition", Type: deltalog.Primitive(deltalog.TypeInteger), Nullable: false},
	deltalog.Field{Name: "offset", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: false},
	deltalog.Field{Name: "timestamp", Type: deltalog.Primitive(deltalog.TypeTimestamp), Nullable: true},
	deltalog.Field{Name: "key", Type: deltalog.Primitive(deltalog.TypeBinary), Nullable: true},
	deltalog.Field{Name: "value", Type: deltalog.Primitive(deltalog.TypeBinary), Nullable: true},
	deltalog.Field{Name: "stage", Type: deltalog.Primitive(deltalog.TypeString), Nullable: false},
	deltalog.Field{Name: "error", Type: deltalog.Primitive(deltalog.TypeString), Nullable: false},
	deltalog.Field{Name: "failed_at", Type: deltalog.Primitive(deltalog.TypeTimestamp), Nullable: false},
)

// deadLetters accumulates dead-letter rows.
type deadLetters struct {
	query string
	b     *array.RecordBuilder
	n     int
	size  int64
	msgs  []deadMessage // kept for the dead-letter topic
}

// deadMessage is a dead letter to re-publish on the dead-letter topic.
type deadMessage struct {
	msg   decode.Message
	stage string
	err   string
}

func newDeadLetters(query string, schema *arrow.Schema) *deadLetters {
	return &deadLetters{query: query, b: array.NewRecordBuilder(memory.DefaultAllocator, schema)}
}

// add appends one failed record.
func (d *deadLetters) add(m *decode.Message, stage string, err error, keepForTopic bool) {
	f := d.b.Fields()
	f[0].(*array.StringBuilder).Append(d.query)
	f[1].(*array.StringBuilder).Append(m.Topic)
	f[2].(*array.Int32Builder).Append(m.Partition)
	f[3].(*array.Int64Builder).Append(m.Offset)
	if m.Timestamp.IsZero() {
		f[4].AppendNull()
	} else {
		f[4].(*array.TimestampBuilder).Append(arrow.Timestamp(m.Timestamp.UnixMicro()))
	}
	appendBytes(f[5].(*array.BinaryBuilder), m.Key)
	appendBytes(f[6].(*array.BinaryBuilder), m.Value)
	f[7].(*array.StringBuilder).Append(stage)
	f[8].(*array.StringBuilder).Append(err.Error())
	f[9].(*array.TimestampBuilder).Append(arrow.Timestamp(time.Now().UnixMicro()))
	d.n++
	d.size += int64(len(m.Key) + len(m.Value) + len(err.Error()) + 64)
	if keepForTopic {
		c := *m
		c.Headers = append([]decode.Header(nil), m.Headers...) // the caller reuses m
		d.msgs = append(d.msgs, deadMessage{msg: c, stage: stage, err: err.Error()})
	}
}

func appendBytes(b *array.BinaryBuilder, v []byte) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(v)
}

// build returns the rows and resets.
func (d *deadLetters) build() arrow.Record {
	d.n, d.size, d.msgs = 0, 0, nil
	return d.b.NewRecord()
}

func (d *deadLetters) release() { d.b.Release() }

func (w *Worker) deadLetter(m *decode.Message, stage string, err error) {
	if m.Offset <= w.dlqBase[m.Partition] {
		return // dead-lettered by an earlier attempt of this window
	}
	w.win.dead.add(m, stage, err, w.spec.DeadLetter.Topic != "")
	if w.win.progress.IsZero() {
		w.win.progress = time.Now()
	}
	w.metrics.DeadLettered.WithLabelValues(stage).Inc()
}

// newDeadLettersOnly returns the rows of a dead-letter record whose offset
// is past committed(partition). The caller releases both records.
func newDeadLettersOnly(ctx context.Context, rec arrow.Record, committed func(int32) int64) (arrow.Record, error) {
	parts := rec.Column(2).(*array.Int32)
	offs := rec.Column(3).(*array.Int64)
	keep := make([]int64, 0, rec.NumRows())
	for i := 0; i < int(rec.NumRows()); i++ {
		if offs.Value(i) > committed(parts.Value(i)) {
			keep = append(keep, int64(i))
		}
	}
	if len(keep) == int(rec.NumRows()) {
		rec.Retain()
		return rec, nil
	}
	return arrowutil.TakeRecord(ctx, rec, keep)
}

// commitDeadLetters writes the window's dead letters with the same offsets
// as txn actions of the dead-letter table, so a retried window does not
// dead-letter a record twice.
func (w *Worker) commitDeadLetters(ctx context.Context, txns []deltalog.Txn) error {
	win := w.win
	rec := win.dead.build()
	defer rec.Release()
	snap, err := w.dlq.Snapshot(ctx)
	if err != nil {
		return err
	}
	// A dead-letter commit that landed although its caller saw an error
	// (say, a timeout after the write) must not be written again: keep only
	// the rows past the table's offsets.
	rec, err = newDeadLettersOnly(ctx, rec, func(p int32) int64 {
		if v, ok := snap.TxnVersion(w.appID(p)); ok {
			return v
		}
		return -1
	})
	if err != nil {
		return err
	}
	defer rec.Release()
	bw, err := w.dlq.NewBatchWriter(ctx, snap)
	if err != nil {
		return err
	}
	if err := bw.Write(rec); err != nil {
		bw.Abort()
		return err
	}
	adds, err := bw.Close()
	if err != nil {
		return err
	}
	if _, err := w.dlq.Commit(ctx, snap, deltawriter.AppendActions(adds, txns, time.Now().UnixMilli()), deltalog.Operation{Name: "STREAMING UPDATE"}); err != nil {
		return err
	}
	for _, t := range txns {
		p := partitionOf(t.AppID)
		w.dlqBase[p] = max(w.dlqBase[p], t.Version)
	}
	return nil
}

// publishDeadLetters re-publishes dead letters to the dead-letter topic, if
// one is configured: the original key, value and headers, plus
// sluice-error, sluice-stage, sluice-topic, sluice-partition and
// sluice-offset headers. A window retried after a failure publishes again:
// the topic is at-least-once, the dead-letter table exactly-once.
func (w *Worker) publishDeadLetters(ctx context.Context, msgs []deadMessage) error {
	if w.spec.DeadLetter.Topic == "" || len(msgs) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(msgs))
	for i, d := range msgs {
		r := &kgo.Record{Topic: w.spec.DeadLetter.Topic, Key: d.msg.Key, Value: d.msg.Value}
		for _, h := range d.msg.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: "sluice-error", Value: []byte(d.err)},
			kgo.RecordHeader{Key: "sluice-stage", Value: []byte(d.stage)},
			kgo.RecordHeader{Key: "sluice-topic", Value: []byte(d.msg.Topic)},
			kgo.RecordHeader{Key: "sluice-partition", Value: []byte(fmt.Sprint(d.msg.Partition))},
			kgo.RecordHeader{Key: "sluice-offset", Value: []byte(fmt.Sprint(d.msg.Offset))})
		recs[i] = r
	}
	return w.cl.ProduceSync(ctx, recs...).FirstErr()
}
