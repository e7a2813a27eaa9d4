// Package supervisor runs one `sluice worker` process per running query of
// the catalog, restarts crashed workers with backoff and reports their state.
//
// # Reconciling
//
// The catalog holds each query's desired state (running, paused,
// terminated) and its compiled pipeline spec. The supervisor reconciles
// that with its processes when it starts (so a restarted server resumes its
// queries), when Notify is called (the executor does after a statement that
// changes queries) and every WithReconcileInterval as a safety net:
//
//   - a running query without a process gets one;
//   - a query whose spec changed is stopped and started again;
//   - a paused or terminated query, or one no longer in the catalog, is
//     stopped gracefully: SIGTERM (the worker flushes, commits and leaves
//     its consumer group), then SIGKILL after WithStopTimeout.
//
// Exactly-once does not depend on the supervisor: a worker keeps its Kafka
// offsets in the table it writes and resumes from them, however it stopped.
//
// # A worker process
//
// The supervisor runs its own executable (WithCommand overrides it) as
// `worker --spec DIR/<query>/spec.yaml --metrics-addr 127.0.0.1:PORT`. The
// spec file and the directory are private (0600, 0700). The process gets
// only the environment a worker needs, not the server's: the storage
// settings (AWS_*, SLUICE_S3_*), HOME, PATH, TMPDIR, TZ, SSL_CERT_FILE,
// SSL_CERT_DIR, and the variables the spec's secret references name
// (env:NAME); with WithScopedCredentials, instead of the server's AWS
// credentials, STS credentials limited to the worker's own S3 tables,
// renewed by a graceful restart. Its stdout and stderr go to
// DIR/<query>/worker.log (rotated at
// WithMaxLogBytes); the last error line is kept for SHOW QUERIES. Its lag is
// scraped from its /metrics (sluice_ingest_consumer_lag summed over
// partitions) on a loopback port the supervisor picks. On Linux the worker
// is in its own process group and gets SIGTERM if the server dies.
//
// # Crashes
//
// A worker that exits on its own is restarted after a backoff that doubles
// from WithBackoff's initial delay up to its maximum; it is reset once a
// worker has run for WithHealthyAfter. A spec that cannot be written puts
// the query in the state failed until the spec or state changes.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// The states of a query's worker, as Status reports them.
const (
	StateStarting   = "starting"   // process being started
	StateRunning    = "running"    // process alive
	StateRestarting = "restarting" // crashed; waiting out the backoff
	StateFailed     = "failed"     // cannot be started until its spec changes
	StateStopping   = "stopping"   // being stopped (pause, terminate, shutdown)
	StatePaused     = "paused"     // stopped: the query is paused
	StateTerminated = "terminated" // stopped: the query is terminated
	StateStopped    = "stopped"    // stopped: the query is gone or the server stops
)

// Status is the live state of one query's worker.
type Status struct {
	State     string
	PID       int       // 0 when no process runs
	Restarts  int       // restarts after a crash since the server started
	LastError string    // the last error line the worker logged, or how it died
	Started   time.Time // when the current (or last) process started
	Lag       int64     // records behind the topic's end, -1 when not known
	// MetricsAddr is the loopback host:port of the running worker's
	// Prometheus /metrics (empty when no process runs).
	MetricsAddr string
	// CredentialsExpire is when the current worker's scoped storage
	// credentials expire (zero without WithScopedCredentials or for a
	// worker whose tables are not on S3). The worker is restarted with
	// fresh ones before.
	CredentialsExpire time.Time
}

// Option configures a Supervisor.
type Option func(*Supervisor)

// WithCommand sets the executable workers run and arguments put before
// "worker --spec ..." (default: this process's executable, no arguments).
func WithCommand(path string, args ...string) Option {
	return func(s *Supervisor) { s.bin, s.binArgs = path, args }
}

// WithEnv adds KEY=VALUE pairs to every worker's environment.
func WithEnv(kv ...string) Option {
	return func(s *Supervisor) { s.extraEnv = append(s.extraEnv, kv...) }
}

// WithBackoff sets the first restart delay after a crash and its cap
// (defaults 1s and 1m).
func WithBackoff(initial, max time.Duration) Option {
	return func(s *Supervisor) { s.backoffMin, s.backoffMax = initial, max }
}

// WithHealthyAfter sets how long a worker must run for its backoff to reset
// (default 1m).
func WithHealthyAfter(d time.Duration) Option {
	return func(s *Supervisor) { s.healthyAfter = d }
}

// WithStopTimeout sets how long a worker has to exit after SIGTERM before
// it is killed (default 30s).
func WithStopTimeout(d time.Duration) Option {
	return func(s *Supervisor) { s.stopTimeout = d }
}

// WithReconcileInterval sets the period of the safety-net reconcile
// (default 10s).
func WithReconcileInterval(d time.Duration) Option {
	return func(s *Supervisor) { s.reconcileEvery = d }
}

// WithScrapeInterval sets how often a worker's /metrics is read for its
// lag (default 5s).
func WithScrapeInterval(d time.Duration) Option {
	return func(s *Supervisor) { s.scrapeEvery = d }
}

// WithMaxLogBytes sets the size at which a worker's log file is rotated to
// worker.log.1 (default 10 MiB).
func WithMaxLogBytes(n int64) Option {
	return func(s *Supervisor) { s.maxLogBytes = n }
}

// WithWorkerLogLevel sets the --log-level of workers (default info).
func WithWorkerLogLevel(level string) Option {
	return func(s *Supervisor) { s.workerLogLevel = level }
}

// CredentialMinter mints short-lived storage credentials allowed only on
// the given tables (s3:// URIs); objstore.ScopedCredentials is one.
type CredentialMinter interface {
	Mint(ctx context.Context, session string, tables []string) (objstore.TempCredentials, error)
}

// WithScopedCredentials isolates the workers' storage access: a worker
// whose sink or dead-letter table is on S3 gets credentials m mints for
// those tables alone (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), and no worker gets the server's own AWS credentials
// (keys, profiles, role settings). A worker is restarted gracefully with
// fresh credentials at 80% of their lifetime; a failed Mint is a failed
// start (retried with backoff).
func WithScopedCredentials(m CredentialMinter) Option {
	return func(s *Supervisor) { s.creds = m }
}

// WithLogger sets the supervisor's logger.
func WithLogger(l *slog.Logger) Option {
	return func(s *Supervisor) { s.log = l }
}

// Supervisor runs the workers of the catalog's queries. Create it with New,
// start it with Run; its methods are safe for concurrent use.
type Supervisor struct {
	cat *catalog.Catalog
	dir string

	bin            string
	binArgs        []string
	extraEnv       []string
	backoffMin     time.Duration
	backoffMax     time.Duration
	healthyAfter   time.Duration
	stopTimeout    time.Duration
	reconcileEvery time.Duration
	scrapeEvery    time.Duration
	maxLogBytes    int64
	workerLogLevel string
	creds          CredentialMinter
	log            *slog.Logger

	notify   chan struct{}
	restarts prometheus.Counter
	workersD *prometheus.Desc
	lagD     *prometheus.Desc
	credsD   *prometheus.Desc

	mu      sync.Mutex
	queries map[string]*query // by query id
	loops   sync.WaitGroup    // every run loop ever started
}

// New returns a Supervisor for the queries of cat, keeping its files
// (specs, logs) under dir.
func New(cat *catalog.Catalog, dir string, opts ...Option) (*Supervisor, error) {
	s := &Supervisor{
		cat: cat, dir: dir,
		backoffMin: time.Second, backoffMax: time.Minute, healthyAfter: time.Minute,
		stopTimeout: 30 * time.Second, reconcileEvery: 10 * time.Second, scrapeEvery: 5 * time.Second,
		maxLogBytes: 10 << 20, workerLogLevel: "info", log: slog.New(slog.DiscardHandler),
		notify: make(chan struct{}, 1), queries: map[string]*query{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("supervisor: find the sluice executable for workers: %w", err)
		}
		s.bin = exe
	}
	if s.backoffMin <= 0 || s.backoffMax < s.backoffMin {
		return nil, fmt.Errorf("supervisor: backoff %s..%s: want 0 < initial <= max", s.backoffMin, s.backoffMax)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("supervisor: worker directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("supervisor: worker directory: %w", err)
	}
	s.restarts = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "supervisor", Name: "restarts_total",
		Help: "Worker processes restarted after they exited on their own."})
	s.workersD = prometheus.NewDesc("sluice_supervisor_workers", "Queries by the state of their worker.", []string{"state"}, nil)
	s.lagD = prometheus.NewDesc("sluice_supervisor_query_lag", "Records a running query's worker is behind its topic (sum over partitions).", []string{"query"}, nil)
	s.credsD = prometheus.NewDesc("sluice_supervisor_credentials_expiry_timestamp_seconds", "When a running worker's scoped storage credentials expire (Unix time).", []string{"query"}, nil)
	return s, nil
}

// Notify asks for a reconcile soon: the catalog's queries changed. It never
// blocks.
func (s *Supervisor) Notify() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// ErrStopNow, as the cause of the cancellation of Run's context
// (context.WithCancelCause), has Run kill its workers at once (SIGKILL to
// each process group) instead of stopping them gracefully: this server lost
// leadership, another may already run the queries, and a worker's last
// window is better re-read by the new one than committed beside it.
var ErrStopNow = errors.New("supervisor: stop the workers at once")

// Run reconciles until ctx is canceled, then stops every worker (each gets
// WithStopTimeout to exit; none with cause ErrStopNow) and returns. Run may
// be called again after it returned (a replica that leads again). A failed reconcile is logged and
// retried; Run returns an error only when the first one fails, so a server
// does not start without its queries.
func (s *Supervisor) Run(ctx context.Context) error {
	defer s.stopAll()
	if err := s.reconcile(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the first reconcile finished
		}
		return err
	}
	tick := time.NewTicker(s.reconcileEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.notify:
		case <-tick.C:
		}
		if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("reconcile queries", "err", err)
		}
	}
}

// reconcile makes the workers match the catalog's queries once; the
// workers it starts live until ctx is canceled.
func (s *Supervisor) reconcile(ctx context.Context) error {
	var qs []catalog.Query
	if err := s.cat.View(ctx, func(tx *catalog.Tx) (err error) {
		qs, err = tx.ListQueries()
		return err
	}); err != nil {
		return fmt.Errorf("supervisor: list queries: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	seen := make(map[string]bool, len(qs))
	for _, cq := range qs {
		if !validID(cq.ID) {
			s.log.Error("query id not usable as a directory name; not started", "query", cq.ID)
			continue
		}
		seen[cq.ID] = true
		q := s.queries[cq.ID]
		if q == nil {
			q = &query{id: cq.ID, table: cq.Table, st: Status{Lag: -1}}
			s.queries[cq.ID] = q
		}
		q.setDesired(cq.State)
		switch {
		case cq.State == catalog.QueryRunning && (q.cur == nil || !slices.Equal(q.cur.spec, cq.Spec)):
			prev := q.stop()
			q.cur = s.startLoop(ctx, q, cq.Spec, prev)
		case cq.State != catalog.QueryRunning && q.cur != nil:
			q.stop()
		}
		if cq.State == catalog.QueryTerminated {
			// Never started again: the private spec copy goes.
			os.Remove(filepath.Join(s.dir, cq.ID, specFile))
		}
	}
	for id, q := range s.queries {
		if !seen[id] {
			q.setDesired("")
			q.stop()
			delete(s.queries, id)
		}
	}
	return nil
}

// Status returns the live state of query id's worker; false if the
// supervisor has not seen the query.
func (s *Supervisor) Status(id string) (Status, bool) {
	s.mu.Lock()
	q := s.queries[id]
	s.mu.Unlock()
	if q == nil {
		return Status{}, false
	}
	return q.status(), true
}

// stopAll stops every worker and waits for all run loops.
func (s *Supervisor) stopAll() {
	s.mu.Lock()
	for _, q := range s.queries {
		q.stop()
	}
	s.mu.Unlock()
	s.loops.Wait()
}

// Describe implements prometheus.Collector.
func (s *Supervisor) Describe(ch chan<- *prometheus.Desc) {
	s.restarts.Describe(ch)
	ch <- s.workersD
	ch <- s.lagD
	ch <- s.credsD
}

// Collect implements prometheus.Collector: restarts, workers by state, and
// the lag and credentials expiry of each running query.
func (s *Supervisor) Collect(ch chan<- prometheus.Metric) {
	s.restarts.Collect(ch)
	counts := map[string]int{}
	for _, st := range []string{StateStarting, StateRunning, StateRestarting, StateFailed, StateStopping, StatePaused, StateTerminated} {
		counts[st] = 0
	}
	s.mu.Lock()
	qs := make([]*query, 0, len(s.queries))
	for _, q := range s.queries {
		qs = append(qs, q)
	}
	s.mu.Unlock()
	for _, q := range qs {
		st := q.status()
		counts[st.State]++
		if st.State == StateRunning && st.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(s.lagD, prometheus.GaugeValue, float64(st.Lag), q.id)
		}
		if st.State == StateRunning && !st.CredentialsExpire.IsZero() {
			ch <- prometheus.MustNewConstMetric(s.credsD, prometheus.GaugeValue, float64(st.CredentialsExpire.UnixNano())/1e9, q.id)
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(s.workersD, prometheus.GaugeValue, float64(n), state)
	}
}

// validID reports whether a query id is safe as a path component: the
// catalog's ids are UUIDs.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// errPermanent marks a start error that retrying cannot fix.
var errPermanent = errors.New("permanent")
