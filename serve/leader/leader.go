// Package leader elects the one replica of a Sluice deployment that runs
// the work only one may do: the query supervisor (the worker processes)
// and table upkeep. Every replica answers statements and sharing requests;
// the leader does these besides.
//
// An [Elector] campaigns for leadership and hands back a [Term], whose
// Lost channel is closed the moment leadership can no longer be trusted
// (for the PostgreSQL elector: its connection failed). [Run] ties the two
// together: campaign, run the leader's work for the term, stop it as soon
// as the term is lost, campaign again. [Single] is the elector of a server
// alone on its catalog (SQLite): always leader. [Postgres] holds a session
// advisory lock on a connection of its own. A Kubernetes Lease elector
// implements the same two interfaces.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrLost is the cause (context.Cause) of the context of a term's work when
// the term was lost rather than given up: the work must stop at once, not
// gracefully, since another replica may already lead.
var ErrLost = errors.New("leadership lost")

// Elector campaigns for leadership.
type Elector interface {
	// Campaign blocks until this replica leads, or ctx ends (then it
	// returns ctx's error). A failure to reach the arbiter is not an
	// error: Campaign keeps trying.
	Campaign(ctx context.Context) (Term, error)
}

// Term is one period of leadership.
type Term interface {
	// Lost is closed when leadership is lost (or after Resign).
	Lost() <-chan struct{}
	// Resign gives leadership up, so another replica may take it at once.
	Resign(ctx context.Context) error
}

// State is a replica's role, as Status reports it.
type State string

// The roles.
const (
	Follower State = "follower"
	Leading  State = "leader"
)

// Status tells a replica's role; Run keeps it, and it is a Prometheus
// collector (sluice_leader 1 on the leader, 0 elsewhere, and
// sluice_leader_terms_total). The zero value is a follower.
type Status struct {
	leading atomic.Bool
	terms   atomic.Int64
}

var (
	leaderD = prometheus.NewDesc("sluice_leader", "1 while this replica leads (runs the query supervisor and table upkeep), 0 while it follows.", nil, nil)
	termsD  = prometheus.NewDesc("sluice_leader_terms_total", "Terms of leadership this replica has begun.", nil, nil)
)

// State is the replica's role now.
func (s *Status) State() State {
	if s.leading.Load() {
		return Leading
	}
	return Follower
}

// Describe implements prometheus.Collector.
func (s *Status) Describe(ch chan<- *prometheus.Desc) { ch <- leaderD; ch <- termsD }

// Collect implements prometheus.Collector.
func (s *Status) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	if s.leading.Load() {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderD, prometheus.GaugeValue, v)
	ch <- prometheus.MustNewConstMetric(termsD, prometheus.CounterValue, float64(s.terms.Load()))
}

// Run campaigns with e until ctx ends; for each term it runs work with a
// context that ends when ctx does (cause context.Canceled: stop
// gracefully) or when the term is lost (cause ErrLost: stop at once), and
// waits for work to return before it campaigns again, so this replica never
// runs two terms' work at once. When ctx ends the term is resigned after
// work has returned, so the next leader starts after this one's work has
// stopped. Work that returns on its own (an error, or nil) ends Run with
// its result;
// st, when not nil, is kept up to date.
func Run(ctx context.Context, e Elector, work func(ctx context.Context) error, st *Status, log *slog.Logger) error {
	if st == nil {
		st = &Status{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		term, err := e.Campaign(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("leader election: %w", err)
		}
		st.terms.Add(1)
		st.leading.Store(true)
		log.Info("leading: running the query supervisor and table upkeep")
		wctx, cancel := context.WithCancelCause(ctx)
		done := make(chan error, 1)
		go func() { done <- work(wctx) }()
		var werr error
		lost := false
		select {
		case werr = <-done:
		case <-term.Lost():
			lost = true
			cancel(ErrLost)
			werr = <-done
		case <-ctx.Done():
			cancel(context.Canceled)
			werr = <-done
		}
		cancel(nil)
		st.leading.Store(false)
		if !lost {
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), resignTimeout)
			if err := term.Resign(rctx); err != nil {
				log.Warn("resign leadership", "err", err)
			}
			rcancel()
		}
		if wctx.Err() == nil {
			return werr // the work ended on its own: so does the server
		}
		if ctx.Err() != nil {
			return nil
		}
		if lost {
			log.Warn("lost leadership: the query supervisor and table upkeep stopped; campaigning again")
		} else {
			log.Info("leadership given up; campaigning again")
		}
	}
}

// Single is the elector of a server alone on its catalog: it leads at once
// and never loses.
type Single struct{}

// Campaign implements Elector.
func (Single) Campaign(context.Context) (Term, error) { return singleTerm{}, nil }

type singleTerm struct{}

func (singleTerm) Lost() <-chan struct{}        { return nil }
func (singleTerm) Resign(context.Context) error { return nil }
