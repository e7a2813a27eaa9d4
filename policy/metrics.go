package policy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// engineMetrics are an Engine's Prometheus metrics; the Engine is their
// Collector (see Engine.Describe).
type engineMetrics struct {
	decisions *prometheus.CounterVec // by outcome
	cacheHits prometheus.Counter
	decision  prometheus.Histogram
	check     prometheus.Histogram
	shapesD   *prometheus.Desc
	revisionD *prometheus.Desc
}

// latencyBuckets span a cached decision (~10 µs) to a slow first check of a
// shape (partial evaluation, ~10 ms), in seconds.
var latencyBuckets = []float64{5e-6, 10e-6, 20e-6, 35e-6, 50e-6, 75e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 20e-3}

func newMetrics() *engineMetrics {
	return &engineMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "policy", Name: "decisions_total",
			Help: "Authorization decisions, by outcome: allowed, denied, or error (denied because the policy could not decide).",
		}, []string{"outcome"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "policy", Name: "decision_cache_hits_total",
			Help: "Decisions answered from the decision cache, without evaluating the policy.",
		}),
		decision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sluice", Subsystem: "policy", Name: "decision_duration_seconds",
			Help:    "Time to decide a request (all its node checks, or a cache hit), audit excluded.",
			Buckets: latencyBuckets,
		}),
		check: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sluice", Subsystem: "policy", Name: "check_duration_seconds",
			Help:    "Time of one node check: one OPA evaluation of the (specialised) policy.",
			Buckets: latencyBuckets,
		}),
		shapesD: prometheus.NewDesc("sluice_policy_shapes",
			"Request shapes (principal kind, action, node, path length) seen by the policy in force, by whether OPA's partial evaluation specialised them or the whole policy is evaluated.",
			[]string{"state"}, nil),
		revisionD: prometheus.NewDesc("sluice_policy_revision_info",
			"The policy in force: its revision (hash of the modules) as a label, value 1.", []string{"revision"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	e.metrics.decisions.Describe(ch)
	e.metrics.cacheHits.Describe(ch)
	e.metrics.decision.Describe(ch)
	e.metrics.check.Describe(ch)
	ch <- e.metrics.shapesD
	ch <- e.metrics.revisionD
}

// Collect implements prometheus.Collector: the Engine's decisions, cache
// hits, latencies, specialised shapes and policy revision.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	m := e.metrics
	m.decisions.Collect(ch)
	m.cacheHits.Collect(ch)
	m.decision.Collect(ch)
	m.check.Collect(ch)
	st := e.state.Load()
	ch <- prometheus.MustNewConstMetric(m.revisionD, prometheus.GaugeValue, 1, st.revision)
	var special, general int
	if st.spec != nil {
		special, general = st.spec.counts()
	}
	ch <- prometheus.MustNewConstMetric(m.shapesD, prometheus.GaugeValue, float64(special), "specialised")
	ch <- prometheus.MustNewConstMetric(m.shapesD, prometheus.GaugeValue, float64(general), "general")
}
