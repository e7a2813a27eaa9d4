package ingest

import (
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

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
