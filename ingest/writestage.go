package ingest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/ingest/transform"
)

// writeStage transforms decoded batches and writes them to the window's
// data files on its own goroutine, so Parquet encoding and upload of one
// batch overlap fetching and decoding the next. It changes nothing about
// what a window holds: the poll goroutine decides every row and offset, and
// the window commits only after finish has returned with no error. At most
// one batch waits while another is written, so the stage adds at most two
// decoded batches to the worker's memory.
type writeStage struct {
	bw     *deltawriter.BatchWriter
	xf     transform.Transform
	schema *deltalog.Schema
	uri    string
	onFilt func(n int64) // counts filtered rows (a metric: safe for concurrent use)

	in   chan writeJob
	done chan struct{} // closed when the goroutine has returned

	stop    atomic.Bool  // abort: drop queued jobs
	size    atomic.Int64 // bw.Size() after the last write
	queued  atomic.Int64 // estimated bytes of the batches not yet written
	rows    atomic.Int64 // rows written (after the filter)
	handled atomic.Int64 // decoded rows the goroutine is done with

	mu     sync.Mutex // guards err and failed
	err    error
	failed []rowFailure // transform failures not yet taken by the poll goroutine
	inputs int64        // decoded rows submitted (poll goroutine only)
	closed bool         // in is closed (poll goroutine only)
}

// writeJob is one decoded batch and the Kafka record behind each row.
type writeJob struct {
	ctx   context.Context
	rec   arrow.Record
	src   []*kgo.Record
	bytes int64 // the batch's size estimate
}

// rowFailure is a row the transform rejected, to dead-letter.
type rowFailure struct {
	src *kgo.Record
	err error
}

func newWriteStage(bw *deltawriter.BatchWriter, xf transform.Transform, schema *deltalog.Schema, uri string, onFilt func(int64)) *writeStage {
	s := &writeStage{bw: bw, xf: xf, schema: schema, uri: uri, onFilt: onFilt,
		in: make(chan writeJob, 1), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *writeStage) run() {
	defer close(s.done)
	for j := range s.in {
		n := j.rec.NumRows()
		if !s.stop.Load() && s.error() == nil {
			if err := s.write(j); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
		}
		j.rec.Release()
		s.queued.Add(-j.bytes)
		s.handled.Add(n)
	}
}

func (s *writeStage) error() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// write transforms one batch and writes what the filter keeps.
func (s *writeStage) write(j writeJob) error {
	// The batch was decoded before any cancellation: transform it as the
	// synchronous path would have, so a shutdown flush still commits it.
	out, rowErrs, err := s.xf.Apply(context.WithoutCancel(j.ctx), j.rec)
	if err != nil {
		return fmt.Errorf("transform: %w", err)
	}
	defer out.Release()
	if len(rowErrs) > 0 {
		s.mu.Lock()
		for _, re := range rowErrs {
			s.failed = append(s.failed, rowFailure{src: j.src[re.Row], err: re.Err})
		}
		s.mu.Unlock()
	}
	kept := out.NumRows()
	if f := j.rec.NumRows() - kept - int64(len(rowErrs)); f > 0 {
		s.onFilt(f)
	}
	if kept == 0 {
		return nil
	}
	conformed, err := conform(out, s.schema)
	if err != nil {
		return err
	}
	defer conformed.Release()
	if err := s.bw.Write(conformed); err != nil {
		return fmt.Errorf("write %s: %w", s.uri, err)
	}
	s.size.Store(s.bw.Size())
	s.rows.Add(kept)
	return nil
}

// submit hands a batch (of about size bytes) to the goroutine, waiting
// while another batch is already queued. It takes ownership of rec and src.
// It returns the stage's error, if writing an earlier batch failed, and the
// transform failures found so far.
func (s *writeStage) submit(ctx context.Context, rec arrow.Record, src []*kgo.Record, size int64) ([]rowFailure, error) {
	failed, err := s.takeFailed()
	if err != nil {
		rec.Release()
		return failed, err
	}
	s.inputs += rec.NumRows()
	s.queued.Add(size)
	s.in <- writeJob{ctx: ctx, rec: rec, src: src, bytes: size}
	return failed, nil
}

func (s *writeStage) takeFailed() ([]rowFailure, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failed
	s.failed = nil
	return f, s.err
}

// buffered estimates the bytes the stage holds: what the writer has
// written or buffered, plus the batches waiting for it.
func (s *writeStage) buffered() int64 { return s.size.Load() + s.queued.Load() }

// pendingRows bounds the rows the window will hold once the queued batches
// are written: rows written plus rows not yet handled.
func (s *writeStage) pendingRows() int64 {
	return s.rows.Load() + s.inputs - s.handled.Load()
}

// finish waits until every submitted batch is written and stops the
// goroutine. After it the BatchWriter belongs to the caller again.
func (s *writeStage) finish() ([]rowFailure, error) {
	if !s.closed {
		s.closed = true
		close(s.in)
	}
	<-s.done
	return s.takeFailed()
}

// abort drops the queued batches and waits for the goroutine, so the
// caller can abort the BatchWriter.
func (s *writeStage) abort() {
	s.stop.Store(true)
	s.finish()
}
