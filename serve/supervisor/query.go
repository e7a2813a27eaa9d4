package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// query is the supervisor's record of one catalog query.
type query struct {
	id, table string
	cur       *loop // the run loop while the query should run; guarded by Supervisor.mu

	mu      sync.Mutex // guards desired and st
	desired catalog.QueryState
	st      Status
}

// loop is one run loop: it keeps one worker process of a spec alive until
// canceled.
type loop struct {
	spec   json.RawMessage
	cancel context.CancelFunc
	done   chan struct{} // closed once its process is gone
}

func (q *query) setDesired(s catalog.QueryState) {
	q.mu.Lock()
	q.desired = s
	q.mu.Unlock()
}

func (q *query) update(f func(*Status)) {
	q.mu.Lock()
	f(&q.st)
	q.mu.Unlock()
}

// stop cancels the run loop, if any, and returns a channel closed when its
// process is gone (nil if there was no loop).
func (q *query) stop() <-chan struct{} {
	if q.cur == nil {
		return nil
	}
	l := q.cur
	q.cur = nil
	l.cancel()
	return l.done
}

// status is the query's Status; a query whose worker is not running reports
// its desired state (paused, terminated).
func (q *query) status() Status {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.st
	if st.State == "" || st.State == StateStopped {
		switch q.desired {
		case catalog.QueryPaused:
			st.State = StatePaused
		case catalog.QueryTerminated:
			st.State = StateTerminated
		case catalog.QueryRunning:
			st.State = StateStarting
		default:
			st.State = StateStopped
		}
	}
	return st
}

// startLoop starts a run loop for q's spec once the previous loop's
// process (prev) is gone: one process per query at a time.
func (s *Supervisor) startLoop(ctx context.Context, q *query, spec json.RawMessage, prev <-chan struct{}) *loop {
	lctx, cancel := context.WithCancel(ctx)
	l := &loop{spec: spec, cancel: cancel, done: make(chan struct{})}
	s.loops.Add(1)
	go func() {
		defer s.loops.Done()
		defer close(l.done)
		if prev != nil {
			<-prev
		}
		s.runLoop(lctx, q, spec)
	}()
	return l
}

// runLoop keeps a worker of spec running until ctx is canceled, restarting
// it with backoff when it exits, then stops it gracefully.
func (s *Supervisor) runLoop(ctx context.Context, q *query, spec json.RawMessage) {
	defer q.update(func(st *Status) { st.State, st.PID, st.Lag, st.MetricsAddr = StateStopped, 0, -1, "" })
	b := backoff{min: s.backoffMin, max: s.backoffMax}
	var fresh *objstore.TempCredentials // minted ahead for the next start
	for ctx.Err() == nil {
		q.update(func(st *Status) { st.State, st.PID, st.Lag, st.MetricsAddr = StateStarting, 0, -1, "" })
		p, err := s.startProcess(ctx, q.id, spec, fresh)
		fresh = nil
		if err != nil {
			if errors.Is(err, errPermanent) {
				s.log.Error("worker cannot start until its query changes", "query", q.id, "table", q.table, "err", err)
				q.update(func(st *Status) { st.State, st.LastError = StateFailed, err.Error() })
				<-ctx.Done()
				return
			}
			d := b.next()
			s.log.Error("start worker; retrying", "query", q.id, "table", q.table, "in", d, "err", err)
			q.update(func(st *Status) { st.State, st.LastError = StateRestarting, err.Error() })
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		started := time.Now()
		q.update(func(st *Status) {
			st.State, st.PID, st.Started, st.CredentialsExpire, st.MetricsAddr = StateRunning, p.cmd.Process.Pid, started, p.expires, p.addr
		})
		s.log.Info("worker started", "query", q.id, "table", q.table, "pid", p.cmd.Process.Pid, "metrics", p.addr)
		scrapeCtx, stopScrape := context.WithCancel(ctx)
		go s.scrape(scrapeCtx, q, p.addr)
		var refresh <-chan time.Time
		if !p.expires.IsZero() {
			t := time.NewTimer(time.Until(refreshAt(started, p.expires)))
			refresh = t.C
			scrapeOnly := stopScrape
			stopScrape = func() { scrapeOnly(); t.Stop() } // both end with this process
		}
		select {
		case <-ctx.Done():
			stopScrape()
			q.update(func(st *Status) { st.State = StateStopping })
			grace := s.stopTimeout
			if errors.Is(context.Cause(ctx), ErrStopNow) {
				grace = 0 // no commit: another server may run this query already
			}
			p.stop(grace)
			s.log.Info("worker stopped", "query", q.id, "table", q.table, "exit", p.exitStatus())
			return
		case <-refresh:
			// Credentials run out: new ones first (the worker keeps
			// running meanwhile), then a graceful restart on them; not a
			// crash.
			fresh = s.remint(ctx, q, p.spec, p.expires)
			stopScrape()
			q.update(func(st *Status) { st.State = StateStopping })
			p.stop(s.stopTimeout)
			s.log.Info("worker restarted for fresh storage credentials", "query", q.id, "table", q.table, "expired", p.expires, "exit", p.exitStatus())
			continue
		case <-p.exited:
			stopScrape()
		}
		if time.Since(started) >= s.healthyAfter {
			b.reset()
		}
		d := b.next()
		msg := p.exitError()
		s.restarts.Inc()
		q.update(func(st *Status) {
			st.State, st.PID, st.Lag, st.LastError, st.MetricsAddr = StateRestarting, 0, -1, msg, ""
			st.Restarts++
		})
		s.log.Warn("worker exited; restarting", "query", q.id, "table", q.table, "in", d, "err", msg)
		if !sleep(ctx, d) {
			return
		}
	}
}

// sleep waits d or until ctx is canceled; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is a capped exponential delay.
type backoff struct {
	min, max time.Duration
	n        int
}

// next returns min, 2*min, 4*min, ... capped at max.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	b.n++
	return min(d, b.max)
}

// reset starts again from min.
func (b *backoff) reset() { b.n = 0 }
