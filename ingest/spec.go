// Package ingest runs pipeline workers: one Kafka topic into one Delta
// table, exactly once, with bounded memory and dead letters.
//
// A worker is configured by a Spec (what the SQL front end compiles to) and
// runs as its own process: `sluice worker --spec FILE`.
package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/ingest/decode"
	"github.com/sluice-io/sluice/ingest/transform"
	"github.com/sluice-io/sluice/internal/secret"
)

// Spec describes one pipeline: source, decoding, transform, sink, flush
// policy, dead letters and metrics.
type Spec struct {
	// Query is the query id: it names the consumer group and the txn
	// application ids (<query>-<partition>) that hold the Kafka offsets.
	Query      string          `yaml:"query" json:"query"`
	Source     SourceSpec      `yaml:"source,omitempty" json:"source"`
	Decode     DecodeSpec      `yaml:"decode,omitempty" json:"decode"`
	Transform  *transform.Spec `yaml:"transform,omitempty" json:"transform,omitempty"`
	Sink       SinkSpec        `yaml:"sink,omitempty" json:"sink"`
	DeadLetter DeadLetterSpec  `yaml:"deadLetter,omitempty" json:"deadLetter"`
	Flush      FlushSpec       `yaml:"flush,omitempty" json:"flush"`
	Metrics    MetricsSpec     `yaml:"metrics,omitempty" json:"metrics"`
}

// SourceSpec is the Kafka side.
type SourceSpec struct {
	Brokers []string `yaml:"brokers" json:"brokers"`
	Topic   string   `yaml:"topic" json:"topic"`
	// Group is the consumer group (default "sluice-<query>"). Several
	// workers of one query share it and split the partitions.
	Group string `yaml:"group,omitempty" json:"group"`
	// InstanceID makes the worker a static member of its group (KIP-345):
	// a worker restarted with the same id after a crash gets its
	// partitions back at once, instead of after the dead member's session
	// timeout (45 s). The default is DefaultInstanceID(query), the id the
	// supervisor uses too. Workers of one query running at the same time
	// need different ids (a second worker with the same id fences the
	// first): give each its own, here or with `sluice worker --instance-id`.
	InstanceID string `yaml:"instanceId,omitempty" json:"instanceId,omitempty"`
	// Start is where a new table starts reading: "earliest" (default),
	// "latest", or an RFC 3339 timestamp.
	Start string    `yaml:"start,omitempty" json:"start"`
	TLS   *TLSSpec  `yaml:"tls,omitempty" json:"tls,omitempty"`
	SASL  *SASLSpec `yaml:"sasl,omitempty" json:"sasl,omitempty"`
}

// TLSSpec configures TLS to the brokers.
type TLSSpec struct {
	CAFile             string `yaml:"caFile,omitempty" json:"caFile"`
	CertFile           string `yaml:"certFile,omitempty" json:"certFile"`
	KeyFile            string `yaml:"keyFile,omitempty" json:"keyFile"`
	ServerName         string `yaml:"serverName,omitempty" json:"serverName"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify,omitempty" json:"insecureSkipVerify"`
}

// SASLSpec configures SASL authentication. Password is a secret reference:
// "env:NAME" or "file:PATH", never the secret itself.
type SASLSpec struct {
	Mechanism string `yaml:"mechanism" json:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, AWS_MSK_IAM
	Username  string `yaml:"username,omitempty" json:"username"`
	Password  string `yaml:"password,omitempty" json:"password"`
}

// DecodeSpec says how record values become rows.
type DecodeSpec struct {
	// Format is json (default), raw, or a Schema Registry format: avro,
	// protobuf, jsonschema (Confluent framing: magic byte and schema id).
	Format         string              `yaml:"format" json:"format"`
	SchemaRegistry *SchemaRegistrySpec `yaml:"schemaRegistry,omitempty" json:"schemaRegistry,omitempty"`
	Columns        []ColumnSpec        `yaml:"columns" json:"columns"`
}

// SchemaRegistrySpec locates a Confluent-compatible Schema Registry.
type SchemaRegistrySpec struct {
	URL      string `yaml:"url" json:"url"` // one URL, or several separated by commas
	Username string `yaml:"username,omitempty" json:"username"`
	Password string `yaml:"password,omitempty" json:"password"` // env:NAME or file:PATH
	CAFile   string `yaml:"caFile,omitempty" json:"caFile"`
}

// ColumnSpec declares one decoded column.
type ColumnSpec struct {
	Name     string `yaml:"name" json:"name"`
	Type     string `yaml:"type,omitempty" json:"type"` // DDL type: BIGINT, DECIMAL(10,2), ARRAY<STRING>, ...
	Nullable *bool  `yaml:"nullable,omitempty" json:"nullable"`
	// Path is a dotted path into the value (default: the name).
	Path string `yaml:"path,omitempty" json:"path"`
	// Meta fills the column from Kafka metadata: topic, partition, offset,
	// timestamp, key or headers.
	Meta string `yaml:"meta,omitempty" json:"meta"`
}

// SinkSpec is the Delta table side.
type SinkSpec struct {
	Table          string            `yaml:"table" json:"table"` // URI
	PartitionBy    []string          `yaml:"partitionBy,omitempty" json:"partitionBy"`
	TargetFileSize ByteSize          `yaml:"targetFileSize,omitempty" json:"targetFileSize"`
	Configuration  map[string]string `yaml:"configuration,omitempty" json:"configuration"`
	// KMSKey, if set, encrypts the table's objects on S3 with SSE-KMS and
	// this key id (otherwise SLUICE_S3_SSE / SLUICE_S3_KMS_KEY_ID apply).
	KMSKey string `yaml:"kmsKey,omitempty" json:"kmsKey"`
}

// DeadLetterSpec says where undecodable or untransformable records go.
type DeadLetterSpec struct {
	// Table is the dead-letter table URI (default: the sink URI with
	// "_dead_letters" appended to its last path element).
	Table string `yaml:"table" json:"table"`
	// Topic, if set, also receives each dead letter (value as-is, with
	// headers sluice-error, sluice-topic, sluice-partition, sluice-offset).
	Topic string `yaml:"topic,omitempty" json:"topic"`
}

// FlushSpec is the flush policy. Each table partition's rows are committed
// on their own, when the oldest is Interval old or they reach MaxBytes; the
// worker's limits (MaxRows, MemoryLimit) commit every partition at once.
type FlushSpec struct {
	// Interval is the freshness bound: the maximum age of a buffered row
	// in its table partition (default 10s, at least 1s).
	Interval Duration `yaml:"interval,omitempty" json:"interval"`
	MaxRows  int64    `yaml:"maxRows,omitempty" json:"maxRows"` // rows held in all partitions, default 1,000,000
	// MaxBytes commits a table partition when it holds this much Parquet
	// (default: the target file size), so a busy partition commits large
	// files early while a quiet one waits for Interval.
	MaxBytes ByteSize `yaml:"maxBytes,omitempty" json:"maxBytes"`
	// MemoryLimit is the worker's memory budget (default 256 MiB): buffers
	// are sized from it, a flush starts when buffered data reaches half of
	// it, fetching stops while a flush is blocked on storage, and `sluice
	// worker` sets the Go runtime's memory limit to 80% of it.
	MemoryLimit ByteSize `yaml:"memoryLimit,omitempty" json:"memoryLimit"`
}

// MetricsSpec configures the worker's HTTP endpoint (/metrics, /healthz).
type MetricsSpec struct {
	Addr string `yaml:"addr,omitempty" json:"addr"` // e.g. 127.0.0.1:9464; empty disables
}

// Duration is a time.Duration that reads "10s" from YAML/JSON.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q (want e.g. 10s, 500ms, 1m)", n.Line, s)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ByteSize is a size that reads "128MiB" (or a plain number) from YAML.
type ByteSize int64

// UnmarshalYAML parses sizes such as 512, 64KiB, 128MiB, 1GiB, 10MB.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseByteSize(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses sizes such as 512, 64KiB, 128MiB, 1GiB, 10MB.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(t, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != t {
		return 0, fmt.Errorf("invalid size %q (want e.g. 128MiB, 64KiB, 1GiB or a number of bytes)", s)
	}
	return n * mult, nil
}

// Defaults of the flush policy.
const (
	DefaultFlushInterval = 10 * time.Second
	DefaultMaxRows       = 1_000_000
	DefaultMemoryLimit   = 256 << 20
	MinFlushInterval     = time.Second
	MinFlushBytes        = 64 << 10
)

// LoadSpec reads a YAML (or JSON) spec file, applies defaults and validates
// it. Errors name the field (and line, for syntax errors).
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline spec: %w", err)
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("pipeline spec %s: %w", path, err)
	}
	return s, nil
}

// ParseSpec parses, defaults and validates a spec.
func ParseSpec(b []byte) (*Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// ApplyDefaults fills the fields left empty with their defaults.
func (s *Spec) ApplyDefaults() {
	if s.Source.Group == "" && s.Query != "" {
		s.Source.Group = "sluice-" + s.Query
	}
	if s.Source.InstanceID == "" && s.Query != "" {
		s.Source.InstanceID = DefaultInstanceID(s.Query)
	}
	if s.Source.Start == "" {
		s.Source.Start = "earliest"
	}
	if s.Decode.Format == "" {
		s.Decode.Format = "json"
	}
	if s.Sink.TargetFileSize == 0 {
		s.Sink.TargetFileSize = 128 << 20
	}
	if s.Flush.Interval.Duration == 0 {
		s.Flush.Interval.Duration = DefaultFlushInterval
	}
	if s.Flush.MaxRows == 0 {
		s.Flush.MaxRows = DefaultMaxRows
	}
	if s.Flush.MaxBytes == 0 {
		s.Flush.MaxBytes = s.Sink.TargetFileSize
	}
	if s.Flush.MemoryLimit == 0 {
		s.Flush.MemoryLimit = DefaultMemoryLimit
	}
	if s.DeadLetter.Table == "" && s.Sink.Table != "" {
		s.DeadLetter.Table = DeadLetterTable(s.Sink.Table)
	}
}

// DeadLetterTable is the default dead-letter table URI of the sink table
// sink: "_dead_letters" appended to its last path element.
func DeadLetterTable(sink string) string {
	return strings.TrimRight(sink, "/") + "_dead_letters"
}

// maxInstanceID is the longest group.instance.id Kafka accepts.
const maxInstanceID = 249

// validInstanceIDChar reports whether r may appear in a group.instance.id.
func validInstanceIDChar(r rune) bool {
	return r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// DefaultInstanceID is the static group member id of query's worker:
// "sluice-<query>", stable across restarts, with each character Kafka does
// not accept in an instance id replaced by '_', and an id longer than 249
// characters cut and ended by a hash of the whole so it stays unique.
func DefaultInstanceID(query string) string {
	id := []rune("sluice-" + query)
	for i, r := range id {
		if !validInstanceIDChar(r) {
			id[i] = '_'
		}
	}
	out := string(id) // ASCII only now: one byte a character
	if len(out) > maxInstanceID {
		sum := sha256.Sum256([]byte(query))
		out = out[:maxInstanceID-9] + "-" + hex.EncodeToString(sum[:4])
	}
	return out
}

// Validate checks the spec; the error names the field and the fix.
func (s *Spec) Validate() error {
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	if s.Query == "" || strings.ContainsAny(s.Query, " /\\\t\n") {
		bad("query", "required, without spaces or slashes (it names the consumer group and txn ids)")
	}
	if len(s.Source.Brokers) == 0 {
		bad("source.brokers", "at least one host:port is required")
	}
	if s.Source.Topic == "" {
		bad("source.topic", "required")
	}
	if id := s.Source.InstanceID; id != "" && (len(id) > maxInstanceID || strings.ContainsFunc(id, func(r rune) bool { return !validInstanceIDChar(r) })) {
		bad("source.instanceId", "%q: at most 249 of the characters a-z A-Z 0-9 . _ -", id)
	}
	switch s.Source.Start {
	case "earliest", "latest":
	default:
		if _, err := time.Parse(time.RFC3339Nano, s.Source.Start); err != nil {
			bad("source.start", "%q is not earliest, latest or an RFC 3339 time", s.Source.Start)
		}
	}
	if sa := s.Source.SASL; sa != nil {
		switch strings.ToUpper(sa.Mechanism) {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			if sa.Username == "" {
				bad("source.sasl.username", "required for %s", sa.Mechanism)
			}
			if !secret.IsRef(sa.Password) {
				bad("source.sasl.password", "must be a secret reference env:NAME or file:PATH, not the secret itself")
			}
		case "AWS_MSK_IAM":
		default:
			bad("source.sasl.mechanism", "%q is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM", sa.Mechanism)
		}
	}
	switch s.Decode.Format {
	case "json", "raw":
	case decode.FormatAvro, decode.FormatProtobuf, decode.FormatJSONSchema:
		switch r := s.Decode.SchemaRegistry; {
		case r == nil || r.URL == "":
			bad("decode.schemaRegistry.url", "required for format %s", s.Decode.Format)
		case r.Password != "" && !secret.IsRef(r.Password):
			bad("decode.schemaRegistry.password", "must be a secret reference env:NAME or file:PATH, not the secret itself")
		}
	default:
		bad("decode.format", "%q is not json, raw, avro, protobuf or jsonschema", s.Decode.Format)
	}
	if len(s.Decode.Columns) == 0 {
		bad("decode.columns", "at least one column is required")
	}
	seen := map[string]bool{}
	for i, c := range s.Decode.Columns {
		f := fmt.Sprintf("decode.columns[%d]", i)
		if c.Name == "" {
			bad(f+".name", "required")
		}
		if seen[strings.ToLower(c.Name)] {
			bad(f+".name", "duplicate column %q", c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		if c.Meta == "" {
			if _, err := deltalog.ParseType(c.Type); err != nil {
				bad(f+".type", "%v", err)
			}
		} else if _, ok := metaTypes[c.Meta]; !ok {
			bad(f+".meta", "%q is not one of topic, partition, offset, timestamp, key, headers", c.Meta)
		}
	}
	if s.Sink.Table == "" {
		bad("sink.table", "required (a path, file:///path or s3://bucket/prefix)")
	}
	if s.Flush.Interval.Duration < MinFlushInterval {
		bad("flush.interval", "%s is below the minimum of 1s", s.Flush.Interval.Duration)
	}
	if s.Flush.MaxRows < 0 {
		bad("flush.maxRows", "must be positive")
	}
	if s.Flush.MaxBytes < MinFlushBytes {
		bad("flush.maxBytes", "%d bytes is below the minimum of 64KiB (a table partition commits when it holds this much Parquet)", s.Flush.MaxBytes)
	}
	if s.Flush.MemoryLimit < 16<<20 {
		bad("flush.memoryLimit", "must be at least 16MiB")
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid pipeline spec:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// metaTypes are the Delta types of the Kafka metadata pseudo-columns.
var metaTypes = map[string]*deltalog.Type{
	decode.MetaTopic:     deltalog.Primitive(deltalog.TypeString),
	decode.MetaPartition: deltalog.Primitive(deltalog.TypeInteger),
	decode.MetaOffset:    deltalog.Primitive(deltalog.TypeLong),
	decode.MetaTimestamp: deltalog.Primitive(deltalog.TypeTimestamp),
	decode.MetaKey:       deltalog.Primitive(deltalog.TypeBinary),
	decode.MetaHeaders:   deltalog.Map(deltalog.Primitive(deltalog.TypeString), deltalog.Primitive(deltalog.TypeBinary), true),
}

// DecodeColumns converts the column specs for the decoders.
func (s *Spec) DecodeColumns() ([]decode.Column, error) {
	out := make([]decode.Column, 0, len(s.Decode.Columns))
	for _, c := range s.Decode.Columns {
		col := decode.Column{Name: c.Name, Nullable: c.Nullable == nil || *c.Nullable, Meta: c.Meta}
		if c.Meta != "" {
			col.Type = metaTypes[c.Meta]
			col.Nullable = c.Meta == decode.MetaKey || c.Meta == decode.MetaHeaders || (c.Nullable != nil && *c.Nullable)
		} else {
			t, err := deltalog.ParseType(c.Type)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
			col.Type = t
			if c.Path != "" {
				col.Path = strings.Split(c.Path, ".")
			}
		}
		out = append(out, col)
	}
	return out, nil
}
