// Package decode turns Kafka record values (JSON, Avro, Protobuf, JSON
// Schema, raw bytes) into rows of Arrow record batches, schema-directed.
//
// It knows nothing of the Kafka client: records arrive as Messages.
package decode

import (
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// Message is one Kafka record as the decoders see it.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Column declares one output column: its name, Delta type and nullability,
// and where its value comes from.
type Column struct {
	Name     string
	Type     *deltalog.Type
	Nullable bool
	// Path locates the value in the decoded record: field names from the
	// root, e.g. ["customer", "id"]. Empty means []string{Name}.
	Path []string
	// Meta, if set, fills the column from Kafka metadata instead of the
	// value: one of the Meta* constants.
	Meta string
}

// Kafka metadata pseudo-columns, available to every pipeline.
const (
	MetaTopic     = "topic"     // string
	MetaPartition = "partition" // integer
	MetaOffset    = "offset"    // long
	MetaTimestamp = "timestamp" // timestamp
	MetaKey       = "key"       // binary
	MetaHeaders   = "headers"   // map<string, binary>
)

// Decoder decodes messages of one format into rows of a fixed schema.
type Decoder interface {
	// Schema is the Arrow schema of the rows (the declared columns, in order).
	Schema() *arrow.Schema
	// NewBatch starts an empty batch.
	NewBatch(mem memory.Allocator) Batch
}

// Batch accumulates decoded rows.
type Batch interface {
	// Add decodes m and appends it as one row. On error (malformed input,
	// a value that cannot be coerced to its column's type, a missing NOT NULL
	// field) nothing is appended and the error says which column and why.
	Add(m *Message) error
	// Len is the number of rows added since the last Build.
	Len() int
	// SizeBytes estimates the memory the rows hold.
	SizeBytes() int64
	// Build returns the rows as a record (the caller releases it) and resets
	// the batch for reuse.
	Build() arrow.Record
	// Release frees the batch's buffers.
	Release()
}
