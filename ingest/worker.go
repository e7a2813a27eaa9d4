package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/ingest/decode"
	"github.com/sluice-io/sluice/ingest/transform"
)

// batchRows is how many decoded rows are transformed and written at once.
const batchRows = 8192

// Worker runs one pipeline: it consumes the topic in the query's consumer
// group, decodes and transforms records, writes Parquet files and commits
// them with the Kafka offsets as Delta txn actions, so every record lands
// exactly once even across crashes and rebalances.
type Worker struct {
	spec     *Spec
	log      *slog.Logger
	metrics  *Metrics
	table    *deltawriter.Table
	dlq      *deltawriter.Table
	dec      decode.Decoder
	xf       transform.Transform
	schema   *deltalog.Schema // the table schema the pipeline writes
	extra    []deltalog.Field // columns the first commit adds (schema evolution)
	dlqArrow *arrow.Schema
	cl       *kgo.Client
	kopts    []kgo.Opt
	ready    atomic.Bool
	maddr    atomic.Pointer[string] // where /metrics is served, once it is

	mu      sync.Mutex      // guards everything below; held while processing a poll or flushing
	base    map[int32]int64 // table txn version per assigned partition (-1: none)
	dlqBase map[int32]int64 // dead-letter table txn version per partition
	win     *window
	msg     decode.Message // reused for every record
}

// window is the data of the next commit.
type window struct {
	snap     *deltalog.Snapshot
	bw       *deltawriter.BatchWriter
	batch    decode.Batch
	src      []*kgo.Record // the record behind each row of batch
	dead     *deadLetters
	first    map[int32]int64 // first offset consumed per partition
	last     map[int32]int64 // last offset consumed per partition
	rows     int64           // rows written (after the filter)
	filtered int64
	started  time.Time
}

// Option configures a Worker.
type Option func(*Worker)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(w *Worker) { w.log = l } }

// WithKafkaOptions adds franz-go client options (tests use it for short
// session timeouts).
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(w *Worker) { w.kopts = append(w.kopts, opts...) }
}

// NewWorker validates the spec, opens the tables (creating them, or adding
// new nullable columns, as needed) and connects to Kafka.
func NewWorker(ctx context.Context, spec *Spec, opts ...Option) (*Worker, error) {
	w := &Worker{spec: spec, log: slog.Default(), base: map[int32]int64{}, dlqBase: map[int32]int64{}}
	for _, o := range opts {
		o(w)
	}
	w.log = w.log.With("query", spec.Query)
	w.metrics = NewMetrics(spec.Query)
	cols, err := spec.DecodeColumns()
	if err != nil {
		return nil, err
	}
	switch spec.Decode.Format {
	case "json":
		w.dec, err = decode.NewJSON(cols)
	case "raw":
		w.dec, err = decode.NewRaw(cols, "")
	case decode.FormatAvro, decode.FormatProtobuf, decode.FormatJSONSchema:
		w.dec, err = newRegistryDecoder(spec.Decode, cols)
	default:
		err = fmt.Errorf("decode.format %q is not supported yet", spec.Decode.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if w.xf, err = transform.Compile(w.dec.Schema(), spec.Transform); err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	out, err := parquetio.DeltaSchema(w.xf.OutputSchema())
	if err != nil {
		return nil, fmt.Errorf("output schema: %w", err)
	}
	if w.table, err = openTable(ctx, spec.Sink.Table, spec, w.log); err != nil {
		return nil, err
	}
	if w.schema, w.extra, err = prepareTable(ctx, w.table, out, deltawriter.CreateOptions{
		Name: spec.Query, PartitionColumns: spec.Sink.PartitionBy, Configuration: spec.Sink.Configuration,
	}); err != nil {
		return nil, fmt.Errorf("table %s: %w", spec.Sink.Table, err)
	}
	if w.dlq, err = openTable(ctx, spec.DeadLetter.Table, spec, w.log); err != nil {
		return nil, err
	}
	if _, _, err = prepareTable(ctx, w.dlq, DeadLetterSchema, deltawriter.CreateOptions{Name: spec.Query + "_dead_letters"}); err != nil {
		return nil, fmt.Errorf("dead-letter table %s: %w", spec.DeadLetter.Table, err)
	}
	if w.dlqArrow, err = parquetio.ArrowSchema(DeadLetterSchema); err != nil {
		return nil, err
	}
	if w.cl, err = w.newClient(); err != nil {
		return nil, err
	}
	return w, nil
}

// newRegistryDecoder builds a decoder whose schemas come from a Schema
// Registry; the registry password is resolved from its reference here.
func newRegistryDecoder(d DecodeSpec, cols []decode.Column) (decode.Decoder, error) {
	r := d.SchemaRegistry
	var opts []decode.RegistryOption
	if r.Username != "" {
		pass, err := ResolveSecret(r.Password)
		if err != nil {
			return nil, fmt.Errorf("decode.schemaRegistry.password: %w", err)
		}
		opts = append(opts, decode.WithBasicAuth(r.Username, pass))
	}
	if r.CAFile != "" {
		opts = append(opts, decode.WithTLSCAFile(r.CAFile))
	}
	return decode.NewFromRegistry(d.Format, cols, r.URL, opts...)
}

func openTable(ctx context.Context, uri string, spec *Spec, log *slog.Logger) (*deltawriter.Table, error) {
	var opts []objstore.OpenOption
	if spec.Sink.KMSKey != "" {
		opts = append(opts, objstore.WithS3Options(objstore.WithSSE(objstore.SSEModeKMS, spec.Sink.KMSKey)))
	}
	st, err := objstore.Open(ctx, uri, opts...)
	if err != nil {
		return nil, err
	}
	// A row group is buffered whole per open file: keep it a fraction of
	// the worker's memory budget.
	rowGroup := min(max(int64(spec.Flush.MemoryLimit)/8, 4<<20), parquetio.DefaultRowGroupSize)
	return deltawriter.New(st, deltawriter.WithTargetFileSize(int64(spec.Sink.TargetFileSize)),
		deltawriter.WithRowGroupSize(rowGroup), deltawriter.WithLogger(log)), nil
}

// prepareTable creates the table with schema want, or checks that want can
// be written to the existing table: the same columns, or new nullable ones
// (returned as extra, added by the first commit). Type changes, and dropped
// NOT NULL columns, are errors naming the column.
func prepareTable(ctx context.Context, t *deltawriter.Table, want *deltalog.Schema, co deltawriter.CreateOptions) (*deltalog.Schema, []deltalog.Field, error) {
	snap, err := t.Snapshot(ctx)
	if errors.Is(err, deltalog.ErrNotATable) {
		if _, err := t.Create(ctx, want, co); err != nil && !errors.Is(err, deltalog.ErrTableExists) {
			return nil, nil, err
		}
		snap, err = t.Snapshot(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	have := snap.Schema
	for _, hf := range have.Fields {
		wf := want.FieldByName(hf.Name)
		if wf == nil {
			if !hf.Nullable {
				return nil, nil, fmt.Errorf("column %q is NOT NULL in the table but the pipeline no longer produces it", hf.Name)
			}
			continue // written as nulls
		}
		if !wf.Type.Equal(hf.Type) {
			return nil, nil, fmt.Errorf("column %q has type %s in the table but the pipeline produces %s: incompatible change (create a new table)", hf.Name, hf.Type, wf.Type)
		}
		if wf.Nullable && !hf.Nullable {
			return nil, nil, fmt.Errorf("column %q is NOT NULL in the table but the pipeline may produce nulls", hf.Name)
		}
	}
	var extra []deltalog.Field
	for _, wf := range want.Fields {
		if have.FieldByName(wf.Name) == nil {
			if !wf.Nullable {
				return nil, nil, fmt.Errorf("new column %q must be nullable: existing rows have no value for it", wf.Name)
			}
			wf.Nullable = true
			extra = append(extra, wf)
		}
	}
	full := deltalog.Struct(append(append([]deltalog.Field{}, have.Fields...), extra...)...)
	return full, extra, nil
}

func (w *Worker) newClient() (*kgo.Client, error) {
	s := w.spec.Source
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.Brokers...),
		kgo.ClientID("sluice-" + w.spec.Query),
		kgo.ConsumerGroup(s.Group),
		kgo.ConsumeTopics(s.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(w.adjustOffsets),
		kgo.OnPartitionsRevoked(w.onRevoked),
		kgo.OnPartitionsLost(w.onLost),
		// Memory: the client buffers at most one fetch per broker until
		// polled, and polling stops while a flush blocks on storage. Run
		// takes whole fetches, so the client fetches the next one while
		// this one is processed: two fetches are in memory. A fetch grows
		// several times in memory (decompressed batches plus a ~180-byte
		// Record per record: 32 MiB fetched held ~240 MiB), so each gets
		// 1/64 of the budget.
		kgo.FetchMaxBytes(int32(min(int64(w.spec.Flush.MemoryLimit)/64, 8<<20))),
		kgo.FetchMaxPartitionBytes(int32(min(int64(w.spec.Flush.MemoryLimit)/128, 4<<20))),
		kgo.MaxConcurrentFetches(1),
	}
	if s.TLS != nil {
		cfg, err := tlsConfig(s.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.SASL != nil {
		m, err := saslMechanism(s.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	if s.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.InstanceID))
	}
	opts = append(opts, w.kopts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

func tlsConfig(t *TLSSpec) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("source.tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("source.tls.caFile %s: no PEM certificates", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("source.tls.certFile/keyFile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ResolveSecret reads a secret reference: env:NAME or file:PATH.
func ResolveSecret(ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		v, ok := os.LookupEnv(ref[4:])
		if !ok {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", ref, ref[4:])
		}
		return v, nil
	case strings.HasPrefix(ref, "file:"):
		b, err := os.ReadFile(ref[5:])
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", ref, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", fmt.Errorf("secret reference %q: want env:NAME or file:PATH", ref)
}

// saslMechanism builds the SASL mechanism; passwords are resolved from
// their references here and never logged.
func saslMechanism(s *SASLSpec) (sasl.Mechanism, error) {
	mech := strings.ToUpper(s.Mechanism)
	if mech == "AWS_MSK_IAM" {
		cfg, err := awsconfig.LoadDefaultConfig(context.Background())
		if err != nil {
			return nil, fmt.Errorf("source.sasl AWS_MSK_IAM: load AWS credentials: %w", err)
		}
		return saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
			c, err := cfg.Credentials.Retrieve(ctx)
			if err != nil {
				return saslaws.Auth{}, err
			}
			return saslaws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken}, nil
		}), nil
	}
	pass, err := ResolveSecret(s.Password)
	if err != nil {
		return nil, fmt.Errorf("source.sasl.password: %w", err)
	}
	switch mech {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("source.sasl.mechanism %q is not supported", s.Mechanism)
}

// Run consumes until ctx is canceled, then flushes what it holds and
// leaves the group. It returns the error that stopped it, nil on ctx cancel.
func (w *Worker) Run(ctx context.Context) error {
	defer w.cl.Close()
	if addr := w.spec.Metrics.Addr; addr != "" {
		stop, err := w.serveMetrics(addr)
		if err != nil {
			return err
		}
		defer stop()
	}
	w.log.Info("worker started", "topic", w.spec.Source.Topic, "group", w.spec.Source.Group, "instanceId", w.spec.Source.InstanceID, "table", w.table.URI())
	for {
		pollCtx, cancel := context.WithTimeout(ctx, w.untilFlush())
		fetches := w.cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			w.cl.AllowRebalance()
			w.mu.Lock()
			err := w.flush(context.WithoutCancel(ctx), "shutdown")
			w.mu.Unlock()
			w.log.Info("worker stopped")
			return err
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			for _, fe := range errs {
				if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
					continue
				}
				w.log.Warn("fetch error", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
		}
		w.mu.Lock()
		err := w.process(ctx, fetches)
		if err != nil && !errors.Is(err, errFatal) {
			// Writing the window failed (storage down, table unreadable):
			// drop it and re-read its records from Kafka after a pause.
			w.metrics.FlushErrors.Inc()
			w.log.Error("writing the window failed; re-reading it from Kafka", "err", err)
			w.abortWindow(ctx)
			err = nil
			w.mu.Unlock()
			w.cl.AllowRebalance()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if err == nil && w.flushDue() {
			err = w.flush(ctx, "policy")
		}
		w.mu.Unlock()
		w.cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// untilFlush is how long a poll may wait before the latency limit forces a flush.
func (w *Worker) untilFlush() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.win == nil || w.win.started.IsZero() {
		return w.spec.Flush.Interval.Duration
	}
	return max(time.Until(w.win.started.Add(w.spec.Flush.Interval.Duration)), time.Millisecond)
}

func (w *Worker) flushDue() bool {
	win := w.win
	if win == nil || len(win.last) == 0 {
		return false
	}
	f := w.spec.Flush
	buffered := win.bw.Size() + win.batch.SizeBytes() + win.dead.size
	w.metrics.BufferedBytes.Set(float64(buffered))
	return time.Since(win.started) >= f.Interval.Duration ||
		win.rows+int64(win.batch.Len()) >= f.MaxRows ||
		win.bw.Size() >= int64(f.MaxBytes) ||
		buffered >= int64(f.MemoryLimit)/2
}

// startWindow opens the writers of the next commit.
func (w *Worker) startWindow(ctx context.Context) error {
	snap, err := w.table.Snapshot(ctx)
	if err != nil {
		return err
	}
	ws := snap
	if len(w.extra) > 0 {
		// Write with the evolved schema; the commit adds it to the metadata.
		c := *snap
		c.Schema = w.schema
		ws = &c
	}
	bw, err := w.table.NewBatchWriter(ctx, ws)
	if err != nil {
		return err
	}
	w.win = &window{
		snap: snap, bw: bw, batch: w.dec.NewBatch(memory.DefaultAllocator),
		dead: newDeadLetters(w.spec.Query, w.dlqArrow), first: map[int32]int64{}, last: map[int32]int64{},
	}
	return nil
}

// process decodes a poll's records into the window.
func (w *Worker) process(ctx context.Context, fetches kgo.Fetches) error {
	var err error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if err == nil && len(p.Records) > 0 {
			err = w.processPartition(ctx, p)
		}
	})
	return err
}

// processPartition adds one partition's records; bookkeeping is per batch,
// the per-record loop only decodes.
func (w *Worker) processPartition(ctx context.Context, p kgo.FetchTopicPartition) error {
	base, assigned := w.base[p.Partition]
	if !assigned {
		return nil // revoked meanwhile
	}
	recs := p.Records
	for len(recs) > 0 && recs[0].Offset <= base {
		recs = recs[1:] // already in the table
	}
	if len(recs) == 0 {
		return nil
	}
	if w.win == nil {
		if err := w.startWindow(ctx); err != nil {
			return err
		}
	}
	win := w.win
	if win.started.IsZero() {
		win.started = time.Now()
	}
	if _, ok := win.first[p.Partition]; !ok {
		win.first[p.Partition] = recs[0].Offset
	}
	last := recs[len(recs)-1]
	w.metrics.Lag.WithLabelValues(partitionLabel(p.Partition)).Set(float64(max(p.HighWatermark-last.Offset-1, 0)))
	// Mark progress before anything can fail, so a dead-lettered record's
	// offset is committed with the window. If a drain below fails, the
	// window is dropped and this offset with it.
	win.last[p.Partition] = last.Offset
	var bytesIn int
	m := &w.msg
	for _, r := range recs {
		bytesIn += len(r.Key) + len(r.Value)
		setMessage(m, r)
		if err := win.batch.Add(m); err != nil {
			w.deadLetter(m, "decode", err)
			continue
		}
		win.src = append(win.src, r)
		if win.batch.Len() >= batchRows {
			if err := w.drain(ctx); err != nil {
				return err
			}
		}
	}
	w.metrics.RecordsIn.Add(float64(len(recs)))
	w.metrics.BytesIn.Add(float64(bytesIn))
	return nil
}

// setMessage fills m from r, reusing m's header slice.
func setMessage(m *decode.Message, r *kgo.Record) {
	*m = decode.Message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
		Key: r.Key, Value: r.Value, Headers: m.Headers[:0]}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, decode.Header{Key: h.Key, Value: h.Value})
	}
}

func message(r *kgo.Record) decode.Message {
	var m decode.Message
	setMessage(&m, r)
	return m
}

func (w *Worker) deadLetter(m *decode.Message, stage string, err error) {
	if m.Offset <= w.dlqBase[m.Partition] {
		return // dead-lettered by an earlier attempt of this window
	}
	w.win.dead.add(m, stage, err, w.spec.DeadLetter.Topic != "")
	w.metrics.DeadLettered.WithLabelValues(stage).Inc()
}

// drain transforms the decoded rows and writes them to the data files.
func (w *Worker) drain(ctx context.Context) error {
	win := w.win
	if win.batch.Len() == 0 {
		return nil
	}
	rec := win.batch.Build()
	defer rec.Release()
	src := win.src
	win.src = win.src[:0]
	out, rowErrs, err := w.xf.Apply(ctx, rec)
	if err != nil {
		return fmt.Errorf("transform: %w", err)
	}
	defer out.Release()
	for _, re := range rowErrs {
		m := message(src[re.Row])
		w.deadLetter(&m, "transform", re.Err)
	}
	kept := out.NumRows()
	win.filtered += rec.NumRows() - kept - int64(len(rowErrs))
	w.metrics.RecordsFiltered.Add(float64(rec.NumRows() - kept - int64(len(rowErrs))))
	if kept == 0 {
		return nil
	}
	conformed, err := conform(out, w.schema)
	if err != nil {
		return err
	}
	defer conformed.Release()
	if err := win.bw.Write(conformed); err != nil {
		return fmt.Errorf("write %s: %w", w.table.URI(), err)
	}
	win.rows += kept
	return nil
}

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

// MetricsAddr returns the address /metrics and /healthz are served on, or
// "" until Run has started serving them.
func (w *Worker) MetricsAddr() string {
	if a := w.maddr.Load(); a != nil {
		return *a
	}
	return ""
}

func (w *Worker) appID(p int32) string { return fmt.Sprintf("%s-%d", w.spec.Query, p) }

func partitionOf(appID string) int32 {
	i := strings.LastIndexByte(appID, '-')
	var p int32
	fmt.Sscanf(appID[i+1:], "%d", &p)
	return p
}

func (w *Worker) serveMetrics(addr string) (func(), error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", w.metrics.Handler())
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		if !w.ready.Load() {
			http.Error(rw, "not ready: no partition assigned yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	a := ln.Addr().String()
	w.maddr.Store(&a)
	w.log.Info("metrics endpoint", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
