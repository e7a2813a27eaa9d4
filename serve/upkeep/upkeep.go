// Package upkeep keeps Delta tables healthy while they are written to: one
// loop that, for each table it is given, compacts small files, writes a
// checkpoint when the log is behind, deletes expired log files and
// vacuums on a schedule. Work per round is bounded, errors are logged and
// counted and never stop the loop, and the state of each table is
// exported as Prometheus metrics and through Status.
//
// Which tables, and what they promise (the minimum version a share WITH
// HISTORY needs), is the caller's: it implements Tables.
package upkeep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// Target is one table to keep.
type Target struct {
	Name       string                // its name, for logs, metrics and Status
	URI        string                // its location (objstore.Open)
	Store      []objstore.OpenOption // options to open it
	Properties map[string]string     // table properties; they override the Delta table's own configuration
	MinVersion int64                 // when positive, the oldest version that must stay loadable, files and log (a share's history); 0: none
	KeepAll    bool                  // every version must stay loadable (a share's history from version 0): no log cleanup, no VACUUM
}

// Tables lists the tables to keep. The loop calls it once per round.
type Tables interface {
	Tables(ctx context.Context) ([]Target, error)
}

// TablesFunc adapts a function to Tables.
type TablesFunc func(ctx context.Context) ([]Target, error)

// Tables implements Tables.
func (f TablesFunc) Tables(ctx context.Context) ([]Target, error) { return f(ctx) }

// Operations, as in metrics and Status.
const (
	OpCompaction = "compaction"
	OpCheckpoint = "checkpoint"
	OpLogCleanup = "log_cleanup"
	OpVacuum     = "vacuum"
	OpSettings   = "settings" // reading the table and its properties
)

var ops = []string{OpSettings, OpCompaction, OpCheckpoint, OpLogCleanup, OpVacuum}

// Status is what the loop knows of one table.
type Status struct {
	Name           string
	URI            string
	Version        int64                // the latest version seen
	Files          int                  // live data files
	SmallFiles     int                  // of them, below the compaction target size
	Bytes          int64                // their total size
	Last           map[string]time.Time // by operation: when it last succeeded (compaction: when it last rewrote files)
	Runs           map[string]int64     // by operation: runs that succeeded
	Errors         map[string]int64     // by operation: runs that failed
	LastError      string               // the latest error, if any
	OldestLoadable int64                // after the latest log cleanup that deleted files; -1: unknown
}

// Option configures a Loop.
type Option func(*Loop)

// WithInterval sets the pause between rounds (default 1 minute).
func WithInterval(d time.Duration) Option { return func(l *Loop) { l.interval = d } }

// WithLogger sets the logger (default: discard).
func WithLogger(lg *slog.Logger) Option { return func(l *Loop) { l.log = lg } }

// WithClock sets the clock for schedules and file ages (default time.Now).
func WithClock(now func() time.Time) Option { return func(l *Loop) { l.now = now } }

// WithMaxTablesPerRound bounds the tables one round works on (default 0:
// all); the next round goes on where this one stopped.
func WithMaxTablesPerRound(n int) Option { return func(l *Loop) { l.maxTables = n } }

// WithOpener sets how the loop opens a target's store (default:
// objstore.Open of its URI with its Store options). Tests use it to give
// the loop a store whose modification times follow a fake clock.
func WithOpener(open func(ctx context.Context, tg Target) (objstore.Store, error)) Option {
	return func(l *Loop) { l.openStore = open }
}

// Loop is the upkeep loop. Create it with New, run it with Run (or Round).
type Loop struct {
	src       Tables
	interval  time.Duration
	maxTables int
	log       *slog.Logger
	now       func() time.Time
	openStore func(ctx context.Context, tg Target) (objstore.Store, error)

	roundMu sync.Mutex // one round at a time
	cursor  int
	tables  map[string]*deltawriter.Table // by URI

	mu    sync.Mutex
	state map[string]*Status // by name

	filesD, smallD, bytesD, versionD, lastD, runsD, errorsD, roundErrD *prometheus.Desc
	roundErrors                                                        int64
}

// New returns a loop over the tables src lists.
func New(src Tables, opts ...Option) *Loop {
	l := &Loop{src: src, interval: time.Minute, log: slog.New(slog.DiscardHandler), now: time.Now,
		tables: map[string]*deltawriter.Table{}, state: map[string]*Status{},
		openStore: func(ctx context.Context, tg Target) (objstore.Store, error) {
			return objstore.Open(ctx, tg.URI, tg.Store...)
		}}
	for _, o := range opts {
		o(l)
	}
	lbl := []string{"table"}
	l.filesD = prometheus.NewDesc("sluice_upkeep_table_files", "Live data files of a table.", lbl, nil)
	l.smallD = prometheus.NewDesc("sluice_upkeep_table_small_files", "Live data files below the table's compaction target size.", lbl, nil)
	l.bytesD = prometheus.NewDesc("sluice_upkeep_table_bytes", "Total size of a table's live data files.", lbl, nil)
	l.versionD = prometheus.NewDesc("sluice_upkeep_table_version", "Latest version of a table the upkeep loop saw.", lbl, nil)
	opLbl := []string{"table", "operation"}
	l.lastD = prometheus.NewDesc("sluice_upkeep_last_success_timestamp_seconds", "When an upkeep operation last succeeded on a table (compaction: last rewrote files), Unix time.", opLbl, nil)
	l.runsD = prometheus.NewDesc("sluice_upkeep_runs_total", "Upkeep operations that succeeded, per table.", opLbl, nil)
	l.errorsD = prometheus.NewDesc("sluice_upkeep_errors_total", "Upkeep operations that failed, per table.", opLbl, nil)
	l.roundErrD = prometheus.NewDesc("sluice_upkeep_list_errors_total", "Rounds whose list of tables could not be read.", nil, nil)
	return l
}

// Run runs rounds until ctx is done, then returns ctx's error.
func (l *Loop) Run(ctx context.Context) error {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		l.Round(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Round does one round: for each table (at most the per-round bound, in
// turn), compaction, a checkpoint if the log is behind, log cleanup and
// vacuum when due. Errors are logged and counted, never returned.
func (l *Loop) Round(ctx context.Context) {
	l.roundMu.Lock()
	defer l.roundMu.Unlock()
	targets, err := l.src.Tables(ctx)
	if err != nil {
		l.mu.Lock()
		l.roundErrors++
		l.mu.Unlock()
		l.log.Warn("upkeep: cannot list the tables; trying again next round", "err", err)
		return
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].Name < targets[j].Name })
	l.forget(targets)
	n := len(targets)
	if l.maxTables > 0 && l.maxTables < n {
		n = l.maxTables
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		tg := targets[(l.cursor+i)%len(targets)]
		l.table(ctx, tg)
	}
	if len(targets) > 0 {
		l.cursor = (l.cursor + n) % len(targets)
	}
}

// forget drops the state and open tables of targets no longer listed.
func (l *Loop) forget(targets []Target) {
	names, uris := map[string]bool{}, map[string]bool{}
	for _, t := range targets {
		names[t.Name], uris[t.URI] = true, true
	}
	for u := range l.tables {
		if !uris[u] {
			delete(l.tables, u)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := range l.state {
		if !names[n] {
			delete(l.state, n)
		}
	}
}

// Status returns what the loop knows of the named table.
func (l *Loop) Status(name string) (Status, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.state[name]
	if !ok {
		return Status{}, false
	}
	c := *s
	c.Last, c.Runs, c.Errors = maps.Clone(s.Last), maps.Clone(s.Runs), maps.Clone(s.Errors)
	return c, true
}

// update changes the state of a table under the lock.
func (l *Loop) update(tg Target, f func(s *Status)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state[tg.Name]
	if s == nil {
		s = &Status{Name: tg.Name, URI: tg.URI, Version: -1, OldestLoadable: -1,
			Last: map[string]time.Time{}, Runs: map[string]int64{}, Errors: map[string]int64{}}
		l.state[tg.Name] = s
	}
	f(s)
}

// done records the outcome of one operation.
func (l *Loop) done(tg Target, op string, err error, progressed bool) {
	now := l.now()
	l.update(tg, func(s *Status) {
		if err != nil {
			s.Errors[op]++
			s.LastError = fmt.Sprintf("%s: %v", op, err)
			return
		}
		s.Runs[op]++
		if progressed {
			s.Last[op] = now
		}
	})
	if err != nil {
		l.log.Warn("upkeep: "+op+" failed; trying again next round", "table", tg.Name, "err", err)
	}
}

// due reports whether op last succeeded at least every ago (or never).
func (l *Loop) due(tg Target, op string, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state[tg.Name]
	if s == nil {
		return true
	}
	last, ok := s.Last[op]
	return !ok || !l.now().Before(last.Add(every))
}

// open returns the Table of a target, opening its store once.
func (l *Loop) open(ctx context.Context, tg Target) (*deltawriter.Table, error) {
	if t := l.tables[tg.URI]; t != nil {
		return t, nil
	}
	st, err := l.openStore(ctx, tg)
	if err != nil {
		return nil, err
	}
	t := deltawriter.New(st, deltawriter.WithLogger(l.log), deltawriter.WithClock(l.now))
	l.tables[tg.URI] = t
	return t, nil
}

// table does one round's work on one table.
func (l *Loop) table(ctx context.Context, tg Target) {
	tbl, err := l.open(ctx, tg)
	if err != nil {
		l.done(tg, OpSettings, fmt.Errorf("open %s: %w", tg.URI, err), false)
		return
	}
	snap, err := tbl.Snapshot(ctx)
	if errors.Is(err, deltalog.ErrNotATable) {
		return // no commit yet (a query before its first): nothing to keep
	}
	if err != nil {
		l.done(tg, OpSettings, err, false)
		return
	}
	props := maps.Clone(snap.Metadata.Configuration)
	if props == nil {
		props = map[string]string{}
	}
	maps.Copy(props, tg.Properties)
	set, err := ParseSettings(props)
	if err != nil {
		l.done(tg, OpSettings, fmt.Errorf("table %s: %w", tg.Name, err), false)
		return
	}
	l.done(tg, OpSettings, nil, true)

	if set.Compact {
		res, err := tbl.Compact(ctx, set.Policy)
		l.done(tg, OpCompaction, err, err == nil && res.FilesRemoved > 0)
	}
	if snap, err = tbl.Snapshot(ctx); err != nil {
		l.done(tg, OpCheckpoint, err, false)
		return
	}
	l.observe(tg, snap, set.Policy.TargetFileSize)
	if snap.Version-max(snap.CheckpointVersion, 0) >= set.CheckpointInterval {
		_, err := tbl.Checkpoint(ctx)
		l.done(tg, OpCheckpoint, err, err == nil)
	}
	if tg.KeepAll {
		return
	}
	if l.due(tg, OpLogCleanup, set.LogCleanupInterval) {
		res, err := tbl.CleanLog(ctx, deltawriter.LogCleanupOptions{Retain: set.LogRetention, MinVersion: tg.MinVersion})
		l.done(tg, OpLogCleanup, err, err == nil)
		if err == nil && res.OldestLoadable >= 0 {
			l.update(tg, func(s *Status) { s.OldestLoadable = res.OldestLoadable })
		}
	}
	if l.due(tg, OpVacuum, set.VacuumInterval) {
		// A retention set as a catalog property below the table's own is
		// the operator's choice: Vacuum would refuse it without Force.
		force := set.DeletedFileRetention < deltalog.TombstoneRetention(&snap.Metadata)
		_, err := tbl.Vacuum(ctx, deltawriter.VacuumOptions{Retain: set.DeletedFileRetention, MinVersion: tg.MinVersion, Force: force})
		l.done(tg, OpVacuum, err, err == nil)
	}
}

// observe records a snapshot's files.
func (l *Loop) observe(tg Target, snap *deltalog.Snapshot, target int64) {
	var small int
	var bytes int64
	files := snap.Files()
	for _, a := range files {
		bytes += a.Size
		if a.Size < target {
			small++
		}
	}
	l.update(tg, func(s *Status) {
		s.Version, s.Files, s.SmallFiles, s.Bytes = snap.Version, len(files), small, bytes
	})
}

// Describe implements prometheus.Collector.
func (l *Loop) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{l.filesD, l.smallD, l.bytesD, l.versionD, l.lastD, l.runsD, l.errorsD, l.roundErrD} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the files, small files, bytes
// and version of each table, and per operation its last success, runs and
// errors.
func (l *Loop) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(l.roundErrD, prometheus.CounterValue, float64(l.roundErrors))
	for name, s := range l.state {
		ch <- prometheus.MustNewConstMetric(l.filesD, prometheus.GaugeValue, float64(s.Files), name)
		ch <- prometheus.MustNewConstMetric(l.smallD, prometheus.GaugeValue, float64(s.SmallFiles), name)
		ch <- prometheus.MustNewConstMetric(l.bytesD, prometheus.GaugeValue, float64(s.Bytes), name)
		ch <- prometheus.MustNewConstMetric(l.versionD, prometheus.GaugeValue, float64(s.Version), name)
		for _, op := range ops {
			if t, ok := s.Last[op]; ok {
				ch <- prometheus.MustNewConstMetric(l.lastD, prometheus.GaugeValue, float64(t.UnixNano())/1e9, name, op)
			}
			ch <- prometheus.MustNewConstMetric(l.runsD, prometheus.CounterValue, float64(s.Runs[op]), name, op)
			ch <- prometheus.MustNewConstMetric(l.errorsD, prometheus.CounterValue, float64(s.Errors[op]), name, op)
		}
	}
}
