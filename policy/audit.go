package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Event is the audit record of one decision. It holds no secret: the
// principal's kind and name, the action, the target's qualified name, the
// outcome and the policy revision; never credentials, tokens, grants or the
// principal's roles.
type Event struct {
	// Time is when the decision was asked for (the Engine's clock).
	Time time.Time `json:"time"`
	// Principal is "kind:name", e.g. "user:alice".
	Principal string `json:"principal"`
	// Action is the action asked for.
	Action Action `json:"action"`
	// Path is the target's dotted qualified name, e.g. "sales.eu.orders".
	Path string `json:"path"`
	// Allow is the decision.
	Allow bool `json:"allow"`
	// Reason says why a request was denied; empty when allowed.
	Reason string `json:"reason,omitempty"`
	// Revision identifies the policy modules that decided.
	Revision string `json:"revision"`
	// LatencyMicros is how long the decision took, in microseconds.
	LatencyMicros int64 `json:"latency_us"`

	// The fields below are set only on the event the Delta Sharing server
	// records for each request it answers (one per request, besides the
	// events of its policy decisions); Path is then share.schema.table, or
	// the share, and Allow says whether the request succeeded.

	// Request names the sharing endpoint: list_shares, query, changes, ...
	Request string `json:"request,omitempty"`
	// Status is the HTTP status answered.
	Status int `json:"status,omitempty"`
	// Version is the table version served (the starting version of a
	// changes request).
	Version *int64 `json:"version,omitempty"`
	// Files is the number of file URLs handed out.
	Files *int `json:"files,omitempty"`
	// Bytes is the total size of those files.
	Bytes *int64 `json:"bytes,omitempty"`
}

// Sink receives the audit Event of every decision. Record is called
// synchronously by Engine.Decide, from many goroutines at once: it must be
// safe for concurrent use and should not block for long.
type Sink interface {
	// Record stores or forwards one event.
	Record(Event)
}

// MemorySink keeps events in memory, for tests. The zero value is ready.
type MemorySink struct {
	mu     sync.Mutex
	events []Event
}

// Record appends e.
func (m *MemorySink) Record(e Event) {
	m.mu.Lock()
	m.events = append(m.events, e)
	m.mu.Unlock()
}

// Events returns a copy of the events recorded so far, oldest first.
func (m *MemorySink) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}

// Reset forgets every recorded event.
func (m *MemorySink) Reset() {
	m.mu.Lock()
	m.events = nil
	m.mu.Unlock()
}

// DefaultSyncInterval is how often a JSONLSink fsyncs by default.
const DefaultSyncInterval = time.Second

// JSONLSink appends events to a file, one JSON object a line.
//
// Durability: each event is written with a single write(2) to a file opened
// with O_APPEND, under a mutex, so lines never interleave (also across
// processes appending to the same file) and an event is in the kernel's page
// cache when Record returns: a crash of Sluice loses nothing. The file is
// fsynced every sync interval (DefaultSyncInterval, see WithSyncInterval) by
// a background goroutine and on Close, so a crash of the machine itself can
// lose up to one interval of events. With an interval of 0 every Record
// fsyncs before it returns (durable, but each decision then waits for the
// disk).
//
// Record cannot return an error: the first write or sync error is kept, the
// event that failed is counted as dropped, and Err and Close report it.
type JSONLSink struct {
	mu       sync.Mutex
	f        *os.File
	buf      []byte
	dirty    bool
	err      error
	dropped  int64
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	closed   bool
}

// JSONLOption configures a JSONLSink.
type JSONLOption func(*JSONLSink)

// WithSyncInterval sets how often the sink fsyncs; 0 fsyncs on every Record.
func WithSyncInterval(d time.Duration) JSONLOption {
	return func(s *JSONLSink) { s.interval = d }
}

// NewJSONLSink opens (creating it with mode 0600 if needed) the file at path
// for appending and returns a sink writing to it. Close it when done.
func NewJSONLSink(path string, opts ...JSONLOption) (*JSONLSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("policy: open audit log: %w", err)
	}
	s := &JSONLSink{f: f, interval: DefaultSyncInterval}
	for _, o := range opts {
		o(s)
	}
	if s.interval > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.syncLoop()
	}
	return s, nil
}

// Record appends e as one line.
func (s *JSONLSink) Record(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped++
		return
	}
	b, err := json.Marshal(e)
	if err != nil { // cannot happen for Event; keep the sink honest anyway
		s.fail(fmt.Errorf("policy: encode audit event: %w", err))
		return
	}
	s.buf = append(append(s.buf[:0], b...), '\n')
	if _, err := s.f.Write(s.buf); err != nil {
		s.fail(fmt.Errorf("policy: write audit log: %w", err))
		return
	}
	s.dirty = true
	if s.interval == 0 {
		s.syncLocked()
	}
}

func (s *JSONLSink) fail(err error) {
	s.dropped++
	if s.err == nil {
		s.err = err
	}
}

func (s *JSONLSink) syncLocked() {
	if !s.dirty {
		return
	}
	if err := s.f.Sync(); err != nil && s.err == nil {
		s.err = fmt.Errorf("policy: sync audit log: %w", err)
	}
	s.dirty = false
}

func (s *JSONLSink) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.syncLocked()
			s.mu.Unlock()
		}
	}
}

// Err returns the first write or sync error the sink met, if any.
func (s *JSONLSink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Dropped returns how many events were lost: failed to write, or recorded
// after Close.
func (s *JSONLSink) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close fsyncs and closes the file. It returns the first error the sink met.
// Events recorded after Close are dropped.
func (s *JSONLSink) Close() error {
	if s.stop != nil {
		s.stopOnce.Do(func() { close(s.stop) })
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.err
	}
	s.closed = true
	s.syncLocked()
	if err := s.f.Close(); err != nil && s.err == nil {
		s.err = fmt.Errorf("policy: close audit log: %w", err)
	}
	return s.err
}

// discard is the Sink used when none is configured.
type discard struct{}

func (discard) Record(Event) {}
