package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/arrowutil"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/ingest/decode"
	"github.com/sluice-io/sluice/ingest/transform"
	"github.com/sluice-io/sluice/internal/secret"
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

	mu      sync.Mutex                 // guards everything below; held while processing a poll or flushing
	base    map[int32]int64            // table txn version per assigned partition (-1: none)
	marks   map[int32]map[string]int64 // per partition, per table partition directory: last offset committed ahead of base
	dlqBase map[int32]int64            // dead-letter table txn version per partition
	win     *window
	msg     decode.Message // reused for every record

	skipFinalFlush bool // tests: stop like a killed process, without the final flush
}

// window is what the worker holds and has not committed: the rows of each
// table partition (a bucket, committed when it is due) and the progress of
// each Kafka partition.
type window struct {
	snap     *deltalog.Snapshot
	bw       *deltawriter.BatchWriter
	batch    decode.Batch
	src      []*kgo.Record // the record behind each row of batch
	dead     *deadLetters
	first    map[int32]int64 // first offset consumed per partition since its base
	last     map[int32]int64 // last offset consumed per partition
	buckets  map[string]*bucket
	rows     int64     // rows in the buckets
	filtered int64     // records the filter dropped since the last commit
	progress time.Time // when a record without a row (filtered, dead letter) first waited for a commit
}

// bucket is the rows of one table partition directory not yet committed.
type bucket struct {
	started time.Time       // when its oldest row was written
	rows    int64           // rows written
	first   map[int32]int64 // lowest offset per Kafka partition
	last    map[int32]int64 // highest offset per Kafka partition
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
	w := &Worker{spec: spec, log: slog.Default(), base: map[int32]int64{}, marks: map[int32]map[string]int64{}, dlqBase: map[int32]int64{}}
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
	out, err := deltalog.DeltaSchema(w.xf.OutputSchema())
	if err != nil {
		return nil, fmt.Errorf("output schema: %w", err)
	}
	if w.table, err = openTable(ctx, spec.Sink.Table, spec, w.log); err != nil {
		return nil, err
	}
	if w.schema, w.extra, err = prepareTable(ctx, w.table, out, deltawriter.CreateOptions{
		Name: spec.Query, PartitionColumns: spec.Sink.PartitionBy, Configuration: tableConfiguration(spec.Sink.Configuration),
	}); err != nil {
		return nil, fmt.Errorf("table %s: %w", spec.Sink.Table, err)
	}
	if w.dlq, err = openTable(ctx, spec.DeadLetter.Table, spec, w.log); err != nil {
		return nil, err
	}
	if _, _, err = prepareTable(ctx, w.dlq, DeadLetterSchema, deltawriter.CreateOptions{Name: spec.Query + "_dead_letters"}); err != nil {
		return nil, fmt.Errorf("dead-letter table %s: %w", spec.DeadLetter.Table, err)
	}
	if w.dlqArrow, err = deltalog.ArrowSchema(DeadLetterSchema); err != nil {
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
		pass, err := secret.Resolve(r.Password)
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
			if w.skipFinalFlush {
				return nil
			}
			w.mu.Lock()
			err := w.flush(context.WithoutCancel(ctx), "shutdown", nil)
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
		if err == nil {
			if due, ok := w.flushDue(ctx, time.Now()); ok {
				err = w.flush(ctx, "policy", due)
			}
		}
		w.mu.Unlock()
		w.cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// untilFlush is how long a poll may wait before a partition's max age
// forces a flush.
func (w *Worker) untilFlush() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	age := w.spec.Flush.Interval.Duration
	if w.win == nil {
		return age
	}
	next := time.Now().Add(age)
	for _, b := range w.win.buckets {
		next = minTime(next, b.started.Add(age))
	}
	if !w.win.progress.IsZero() {
		next = minTime(next, w.win.progress.Add(age))
	}
	return max(time.Until(next), time.Millisecond)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// flushDue says whether to commit now, and which table partitions: nil
// means every one.
func (w *Worker) flushDue(ctx context.Context, now time.Time) (map[string]bool, bool) {
	win := w.win
	if win == nil || len(win.last) == 0 {
		return nil, false
	}
	f := w.spec.Flush
	buffered := win.bw.Size() + win.batch.SizeBytes() + win.dead.size
	w.metrics.BufferedBytes.Set(float64(buffered))
	if win.rows+int64(win.batch.Len()) >= f.MaxRows || buffered >= int64(f.MemoryLimit)/2 {
		return nil, true // the worker's limits: commit everything
	}
	if win.batch.Len() > 0 {
		if err := w.drain(ctx); err != nil {
			return nil, true // the commit reports it
		}
	}
	sizes := make(map[string]partitionState, len(win.buckets))
	for dir, b := range win.buckets {
		sizes[dir] = partitionState{started: b.started, bytes: win.bw.PartitionSize(dir)}
	}
	due := duePartitions(sizes, now, Policy{MaxAge: f.Interval.Duration, MaxBytes: int64(f.MaxBytes)})
	progress := !win.progress.IsZero() && now.Sub(win.progress) >= f.Interval.Duration
	if len(due) == 0 && !progress {
		return nil, false
	}
	return due, true
}

// Policy is when a table partition's buffered rows are committed: when the
// oldest is MaxAge old (the freshness bound) or they are MaxBytes of
// Parquet, whichever comes first.
type Policy struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// partitionState is what the policy looks at in one table partition.
type partitionState struct {
	started time.Time // when its oldest buffered row was written
	bytes   int64     // Parquet bytes buffered
}

// duePartitions returns the table partitions the policy commits at now
// (an empty, non-nil map when none is due).
func duePartitions(parts map[string]partitionState, now time.Time, p Policy) map[string]bool {
	due := map[string]bool{}
	for dir, s := range parts {
		if now.Sub(s.started) >= p.MaxAge || s.bytes >= p.MaxBytes {
			due[dir] = true
		}
	}
	if len(due) == 0 {
		return due
	}
	// Partitions at least half way to either bound join the commit: it
	// costs them only freshness they had to spare, and it keeps busy
	// partitions' clocks together, so a table commits about once per
	// MaxAge, not once per partition per MaxAge.
	for dir, s := range parts {
		if 2*now.Sub(s.started) >= p.MaxAge || 2*s.bytes >= p.MaxBytes {
			due[dir] = true
		}
	}
	return due
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
		ws = snap.WithSchema(w.schema)
	}
	bw, err := w.table.NewBatchWriter(ctx, ws)
	if err != nil {
		return err
	}
	w.win = &window{
		snap: snap, bw: bw, batch: w.dec.NewBatch(memory.DefaultAllocator),
		dead: newDeadLetters(w.spec.Query, w.dlqArrow), first: map[int32]int64{}, last: map[int32]int64{},
		buckets: map[string]*bucket{},
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

// drain transforms the decoded rows and writes them to the data files of
// their table partitions. A row whose table partition already committed its
// offset (a window re-read after a crash or a failed commit) is skipped.
func (w *Worker) drain(ctx context.Context) error {
	win := w.win
	if win.batch.Len() == 0 {
		return nil
	}
	rec := win.batch.Build()
	defer rec.Release()
	src := win.src
	win.src = win.src[:0]
	out, rowErrs, srcRows, err := transform.ApplyWithSource(ctx, w.xf, rec)
	if err != nil {
		return fmt.Errorf("transform: %w", err)
	}
	defer out.Release()
	for _, re := range rowErrs {
		m := message(src[re.Row])
		w.deadLetter(&m, "transform", re.Err)
	}
	kept := out.NumRows()
	filtered := rec.NumRows() - kept - int64(len(rowErrs))
	win.filtered += filtered
	w.metrics.RecordsFiltered.Add(float64(filtered))
	if filtered > 0 && win.progress.IsZero() {
		win.progress = time.Now()
	}
	if kept == 0 {
		return nil
	}
	conformed, err := conform(out, w.schema)
	if err != nil {
		return err
	}
	defer conformed.Release()
	dirs, err := win.bw.PartitionKeys(conformed)
	if err != nil {
		return fmt.Errorf("write %s: %w", w.table.URI(), err)
	}
	now := time.Now()
	keep := make([]int64, 0, len(dirs))
	for i, dir := range dirs {
		r := src[i]
		if srcRows != nil {
			r = src[srcRows[i]]
		}
		if m, ok := w.marks[r.Partition][dir]; ok && r.Offset <= m {
			continue // committed with its table partition before
		}
		keep = append(keep, int64(i))
		b := win.buckets[dir]
		if b == nil {
			b = &bucket{started: now, first: map[int32]int64{}, last: map[int32]int64{}}
			win.buckets[dir] = b
		}
		if _, ok := b.first[r.Partition]; !ok {
			b.first[r.Partition] = r.Offset
		}
		b.last[r.Partition] = r.Offset
		b.rows++
	}
	toWrite := conformed
	if len(keep) < len(dirs) {
		if len(keep) == 0 {
			return nil
		}
		if toWrite, err = arrowutil.TakeRecord(ctx, conformed, keep); err != nil {
			return fmt.Errorf("skip committed rows: %w", err)
		}
		defer toWrite.Release()
	}
	if err := win.bw.Write(toWrite); err != nil {
		return fmt.Errorf("write %s: %w", w.table.URI(), err)
	}
	win.rows += int64(len(keep))
	return nil
}
