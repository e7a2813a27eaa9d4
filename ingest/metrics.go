package ingest

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are a worker's Prometheus metrics, all labelled by query.
type Metrics struct {
	reg *prometheus.Registry

	RecordsIn       prometheus.Counter
	BytesIn         prometheus.Counter
	RecordsWritten  prometheus.Counter
	RecordsFiltered prometheus.Counter
	DeadLettered    *prometheus.CounterVec // by stage
	FilesWritten    prometheus.Counter
	BytesWritten    prometheus.Counter
	Commits         prometheus.Counter
	CommitConflicts prometheus.Counter
	FlushErrors     prometheus.Counter
	CommitLatency   prometheus.Histogram
	Lag             *prometheus.GaugeVec // by partition
	CommittedOffset *prometheus.GaugeVec // by partition
	BufferedBytes   prometheus.Gauge
	TableVersion    prometheus.Gauge
}

// NewMetrics creates the metrics of one query in a fresh registry.
func NewMetrics(query string) *Metrics {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"query": query}
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "ingest", Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(c)
		return c
	}
	g := func(name, help string) prometheus.Gauge {
		c := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "ingest", Name: name, Help: help, ConstLabels: labels})
		reg.MustRegister(c)
		return c
	}
	gv := func(name, help string) *prometheus.GaugeVec {
		c := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "ingest", Name: name, Help: help, ConstLabels: labels}, []string{"partition"})
		reg.MustRegister(c)
		return c
	}
	m := &Metrics{
		reg:             reg,
		RecordsIn:       f("records_in_total", "Kafka records consumed."),
		BytesIn:         f("bytes_in_total", "Bytes of Kafka record keys and values consumed."),
		RecordsWritten:  f("records_written_total", "Rows committed to the Delta table."),
		RecordsFiltered: f("records_filtered_total", "Records dropped by the query's filter."),
		FilesWritten:    f("files_written_total", "Data files committed."),
		BytesWritten:    f("bytes_written_total", "Bytes of data files committed."),
		Commits:         f("commits_total", "Delta commits made."),
		CommitConflicts: f("commit_conflicts_total", "Flushes dropped because another writer advanced one of our partitions."),
		FlushErrors:     f("flush_errors_total", "Flushes that failed and were retried from Kafka."),
		BufferedBytes:   g("buffered_bytes", "Bytes buffered for the next commit."),
		TableVersion:    g("table_version", "Version of the last commit."),
		Lag:             gv("consumer_lag", "Records between the last consumed offset and the partition's high watermark."),
		CommittedOffset: gv("committed_offset", "Last offset committed to the Delta table, per partition."),
	}
	m.DeadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "ingest", Name: "records_dead_lettered_total",
		Help: "Records sent to the dead-letter table, by failing stage.", ConstLabels: labels}, []string{"stage"})
	reg.MustRegister(m.DeadLettered)
	m.CommitLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "ingest", Name: "commit_seconds",
		Help: "Time to close the data files and commit a flush.", ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)})
	reg.MustRegister(m.CommitLatency)
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func partitionLabel(p int32) string { return strconv.Itoa(int(p)) }

// MetricsAddr returns the address /metrics and /healthz are served on, or
// "" until Run has started serving them.
func (w *Worker) MetricsAddr() string {
	if a := w.maddr.Load(); a != nil {
		return *a
	}
	return ""
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
