// Package httplimit bounds what one client, or all of them, can hold of the
// server: connections, requests in flight, and the time a connection may
// spend sending a request body or not reading an answer.
//
//   - Listener caps the open connections, overall and per client address:
//     an excess connection is closed as soon as it is accepted, before any
//     goroutine or buffer is spent on it.
//   - The connections it returns have a write-idle timeout: a write that
//     makes no progress at all for that long fails and the connection is
//     closed. A write that progresses, however slowly, has its deadline
//     pushed forward, so a long streamed answer to a client that keeps
//     reading is never cut (a whole-response write deadline would cut it).
//     These connections own their write deadline: one set through
//     http.ResponseController is replaced at the next write. Over HTTP/2,
//     where a stream its client stops reading blocks on flow control and
//     not on the connection, Handler gives each stream the same timeout
//     (per 32 KiB of a write).
//   - Handler gives every request with a body a deadline for receiving it
//     (counted from the end of the headers; http.Server.ReadTimeout would
//     count the whole request instead): a body trickled slower than that
//     is answered 408 (or, when the handler answered without reading it,
//     with the handler's answer) and the connection closed. A request whose
//     body has arrived is not cut while the handler works on.
//   - Handler sheds load: past the in-flight limit a request is answered
//     503 with Retry-After at once, except the exempt paths (health and
//     metrics probes keep working under load).
//
// A client that reads an answer very slowly but steadily keeps its
// connection; what bounds such clients is the per-client connection cap and
// the in-flight limit, not a minimum rate.
package httplimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config holds the limits. A zero duration or count turns that limit off.
type Config struct {
	// BodyTimeout is the time a client has to send a request body, from
	// the end of its headers.
	BodyTimeout time.Duration
	// WriteIdleTimeout closes a connection whose writes make no progress
	// for this long (the client reads nothing).
	WriteIdleTimeout time.Duration
	// MaxConnections caps the open connections.
	MaxConnections int
	// MaxConnectionsPerClient caps the open connections of one remote IP
	// address.
	MaxConnectionsPerClient int
	// MaxInflight caps the requests being answered at once; past it
	// requests are shed with 503.
	MaxInflight int
	// RetryAfter is the Retry-After of a shed request (whole seconds, at
	// least one).
	RetryAfter time.Duration
	// Exempt are URL paths never shed (health and metrics probes).
	Exempt []string
}

// Rejection reasons, the label of the rejected-connections metric.
const (
	ReasonMaxConnections   = "max_connections"
	ReasonMaxPerClient     = "max_connections_per_client"
	errorCodeBodyTimeout   = "REQUEST_TIMEOUT"
	errorCodeOverloaded    = "OVERLOADED"
	protocolCodeOverloaded = "SERVICE_UNAVAILABLE"
	protocolCodeTimeout    = "REQUEST_TIMEOUT"
)

// Limits applies a Config to a listener and a handler, and exports its
// metrics as a prometheus.Collector.
type Limits struct {
	cfg    Config
	exempt map[string]bool

	mu       sync.Mutex
	open     int
	perIP    map[string]int
	inflight atomic.Int64

	connections  prometheus.GaugeFunc
	rejected     *prometheus.CounterVec
	inflightG    prometheus.GaugeFunc
	shed         prometheus.Counter
	bodyTimeouts prometheus.Counter
	writeIdle    prometheus.Counter
}

// New returns the Limits of cfg.
func New(cfg Config) *Limits {
	l := &Limits{cfg: cfg, exempt: map[string]bool{}, perIP: map[string]int{}}
	for _, p := range cfg.Exempt {
		l.exempt[p] = true
	}
	l.connections = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "http", Name: "connections",
		Help: "Open HTTP connections."}, func() float64 { l.mu.Lock(); defer l.mu.Unlock(); return float64(l.open) })
	l.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "http", Name: "connections_rejected_total",
		Help: "Connections closed at accept by a connection cap, by cap."}, []string{"reason"})
	for _, r := range []string{ReasonMaxConnections, ReasonMaxPerClient} {
		l.rejected.WithLabelValues(r)
	}
	l.inflightG = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "http", Name: "inflight_requests",
		Help: "HTTP requests being answered (exempt paths excluded)."}, func() float64 { return float64(l.inflight.Load()) })
	l.shed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "http", Name: "requests_shed_total",
		Help: "Requests answered 503 because max_inflight requests were being answered."})
	l.bodyTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "http", Name: "body_timeouts_total",
		Help: "Requests answered 408 because their body was not received within body_timeout."})
	l.writeIdle = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "http", Name: "write_idle_timeouts_total",
		Help: "Connections whose client read nothing for write_idle_timeout."})
	return l
}

// Describe implements prometheus.Collector.
func (l *Limits) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range l.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (l *Limits) Collect(ch chan<- prometheus.Metric) {
	for _, c := range l.collectors() {
		c.Collect(ch)
	}
}

func (l *Limits) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.connections, l.rejected, l.inflightG, l.shed, l.bodyTimeouts, l.writeIdle}
}

// Listener wraps ln with the connection caps and the write-idle timeout.
// Wrap the TCP listener, below TLS: a rejected connection then costs no
// handshake.
func (l *Limits) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limits
}

// Accept returns the next connection within the caps, closing those over
// them.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if reason := ln.l.admit(ip); reason != "" {
			ln.l.rejected.WithLabelValues(reason).Inc()
			c.Close()
			continue
		}
		return &conn{Conn: c, l: ln.l, ip: ip}, nil
	}
}

// admit counts a new connection from ip, or returns the cap it exceeds.
func (l *Limits) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if max := l.cfg.MaxConnections; max > 0 && l.open >= max {
		return ReasonMaxConnections
	}
	if max := l.cfg.MaxConnectionsPerClient; max > 0 && l.perIP[ip] >= max {
		return ReasonMaxPerClient
	}
	l.open++
	l.perIP[ip]++
	return ""
}

func (l *Limits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// conn is an admitted connection: released once on Close, and its writes
// bounded by the write-idle timeout.
type conn struct {
	net.Conn
	l      *Limits
	ip     string
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.ip)
	}
	return err
}

// Write writes p with a deadline of the write-idle timeout that is renewed
// whenever part of p was written before it passed: only a write that makes
// no progress for the whole timeout fails.
func (c *conn) Write(p []byte) (int, error) {
	d := c.l.cfg.WriteIdleTimeout
	if d <= 0 {
		return c.Conn.Write(p)
	}
	written := 0
	for {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(d)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[written:])
		written += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
		if n == 0 {
			c.l.writeIdle.Inc()
			return written, fmt.Errorf("client read nothing for %s (write_idle_timeout): %w", d, err)
		}
	}
}

// Handler wraps h with load shedding and the body deadline.
func (l *Limits) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor >= 2 && l.cfg.WriteIdleTimeout > 0 {
			// One connection carries many streams, and a stream the client
			// stops reading blocks on flow control, not on the connection:
			// the write-idle timeout is the stream's.
			w = &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: l.cfg.WriteIdleTimeout, l: l}
		}
		// The body deadline comes first: a shed request's unread body is
		// still drained by net/http, and must not be trickled forever.
		if l.cfg.BodyTimeout > 0 && r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			bw := &bodyWriter{ResponseWriter: w, rc: http.NewResponseController(w), l: l}
			if err := bw.rc.SetReadDeadline(time.Now().Add(l.cfg.BodyTimeout)); err == nil {
				r.Body = &body{ReadCloser: r.Body, w: bw}
				w = bw
			}
		}
		if l.cfg.MaxInflight <= 0 || l.exempt[r.URL.Path] {
			h.ServeHTTP(w, r)
			return
		}
		if n := l.inflight.Add(1); n > int64(l.cfg.MaxInflight) {
			l.inflight.Add(-1)
			l.shed.Inc()
			l.overloaded(w)
			return
		}
		defer l.inflight.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// streamWriter is the ResponseWriter of an HTTP/2 stream: each part of a
// write (streamChunk bytes) has the write-idle timeout, so only a client
// that reads nothing for that long is cut.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
	l  *Limits
}

const streamChunk = 32 << 10

func (w *streamWriter) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		w.rc.SetWriteDeadline(time.Now().Add(w.d))
		n, err := w.ResponseWriter.Write(p[written:min(len(p), written+streamChunk)])
		written += n
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				w.l.writeIdle.Inc()
				err = fmt.Errorf("client read nothing for %s (write_idle_timeout): %w", w.d, err)
			}
			return written, err
		}
	}
	return written, nil
}

// Flush lets handlers flush through the wrapper.
func (w *streamWriter) Flush() {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	w.rc.Flush()
}

// Unwrap serves http.ResponseController.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorBody is understood by the clients of both of the server's APIs: the
// statements API reads error.code, Delta Sharing clients errorCode.
type errorBody struct {
	ErrorCode string      `json:"errorCode"`
	Message   string      `json:"message"`
	Error     errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, protocolCode, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{ErrorCode: protocolCode, Message: msg, Error: errorDetail{Code: code, Message: msg}})
}

func (l *Limits) overloaded(w http.ResponseWriter) {
	secs := int(math.Ceil(l.cfg.RetryAfter.Seconds()))
	secs = max(secs, 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusServiceUnavailable, protocolCodeOverloaded, errorCodeOverloaded,
		fmt.Sprintf("the server is answering its maximum of requests at once (http.max_inflight %d): retry in %d s", l.cfg.MaxInflight, secs))
}

// bodyWriter is the ResponseWriter of a request with a body: once the
// body deadline has passed and 408 been answered, the handler's own answer
// is dropped.
type bodyWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	l        *Limits
	wrote    bool // the handler has started its answer
	expired  bool // the body deadline has passed
	timedOut bool // 408 was answered
}

func (w *bodyWriter) WriteHeader(code int) {
	if w.timedOut {
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *bodyWriter) Write(p []byte) (int, error) {
	if w.timedOut {
		return 0, errBodyTimeout
	}
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Flush lets handlers flush through the wrapper.
func (w *bodyWriter) Flush() {
	if !w.timedOut {
		w.rc.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (w *bodyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var errBodyTimeout = errors.New("request body timeout: the answer was 408")

// body is a request body under the body deadline.
type body struct {
	io.ReadCloser
	w *bodyWriter
}

// Read reads the body, answering 408 when the deadline passes. (Once the
// body has been read to its end, net/http clears the read deadline itself
// before it watches the connection for the client going away.)
func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.w.timeout()
		return n, fmt.Errorf("request body not received within %s (http.body_timeout): %w", b.w.l.cfg.BodyTimeout, err)
	}
	return n, err
}

// timeout answers 408 and closes the connection, unless the handler has
// started its own answer.
func (w *bodyWriter) timeout() {
	if w.expired {
		return
	}
	w.expired = true
	w.l.bodyTimeouts.Inc()
	if w.wrote {
		return
	}
	w.Header().Set("Connection", "close")
	writeError(w.ResponseWriter, http.StatusRequestTimeout, protocolCodeTimeout, errorCodeBodyTimeout,
		fmt.Sprintf("the request body was not received within %s (http.body_timeout): send it at once, or ask the operator to raise http.body_timeout", w.l.cfg.BodyTimeout))
	w.timedOut = true
}
