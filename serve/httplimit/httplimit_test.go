package httplimit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-io/sluice/internal/trickle"
)

// start serves h under the limits of cfg on a loopback port and returns
// the Limits and the address.
func start(t *testing.T, cfg Config, h http.Handler) (*Limits, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(cfg)
	srv := &http.Server{Handler: l.Handler(h), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return l, ln.Addr().String()
}

// dialFrom connects to addr from the loopback address local (127.0.0.x:
// distinct clients on Linux).
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a GET of path on c and reads the answer.
func roundTrip(c net.Conn, br *bufio.Reader, path string) (*http.Response, string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// elapsedWithin fails unless d is in [lo, hi]: generous bounds, for a
// loaded machine.
func elapsedWithin(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Fatalf("%s after %s; want between %s and %s", what, d, lo, hi)
	}
}

// TestBodyTimeout: a body trickled slower than the body deadline is cut
// there (408 if the handler was reading it, its own answer and a closed
// connection if it was not); a body sent at once is served and the
// connection kept; and a request whose body has been read is not cut by
// the deadline while the handler works on.
func TestBodyTimeout(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /read", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "got %d", len(b))
	})
	mux.HandleFunc("POST /refuse", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no token", http.StatusUnauthorized) // the body unread
	})
	mux.HandleFunc("POST /work", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			http.Error(w, "canceled", http.StatusInternalServerError)
		case <-time.After(2 * time.Second): // twice the body timeout
			io.WriteString(w, "worked")
		}
	})
	l, addr := start(t, Config{BodyTimeout: time.Second}, mux)

	cases := []struct {
		name    string
		path    string
		trickle bool
		status  int
		body    string // a part of the answer
		closed  bool   // the server closes the connection after answering
	}{
		{"trickled, read by the handler", "/read", true, http.StatusRequestTimeout, "http.body_timeout", true},
		{"trickled, unread by the handler", "/refuse", true, http.StatusUnauthorized, "no token", true},
		{"sent at once", "/read", false, http.StatusOK, "got 100", false},
		{"read, then long work", "/work", false, http.StatusOK, "worked", false},
	}
	timeouts := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", addr)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			begin := time.Now()
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", tc.path)
			if tc.trickle {
				defer trickle.Start(c, 100, 200*time.Millisecond)() // 20 s for the body
			} else {
				c.Write([]byte(strings.Repeat("x", 100)))
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
				t.Fatalf("answer %d %q; want %d with %q", resp.StatusCode, b, tc.status, tc.body)
			}
			if tc.trickle {
				timeouts++
				elapsedWithin(t, "answered", time.Since(begin), 800*time.Millisecond, 10*time.Second)
			}
			if tc.closed {
				if _, err := br.ReadByte(); !closedConn(err) {
					t.Fatalf("after the answer: %v; want the connection closed", err)
				}
				return
			}
			// kept alive: a second request on it is served
			if resp, _, err := roundTrip(c, br, "/nothing"); err != nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("second request on the connection: %v %v", resp, err)
			}
		})
	}
	// Only the trickled body the handler read counts as a body timeout: the
	// other was cut by net/http draining it after the handler's answer.
	if got := testutil.ToFloat64(l.bodyTimeouts); got != 1 {
		t.Fatalf("sluice_http_body_timeouts_total = %v, want 1", got)
	}
}

// TestWriteIdle: a client that reads a long answer slowly but steadily
// gets all of it, though it takes longer than the write-idle timeout and
// comes in one write; a client that reads nothing is cut at the timeout.
func TestWriteIdle(t *testing.T) {
	const size = 24 << 20 // more than loopback socket buffers hold
	handlerErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, err := w.Write(make([]byte, size)) // one write of it all
		handlerErr <- err
	})
	l, addr := start(t, Config{WriteIdleTimeout: time.Second}, mux)

	t.Run("slow reader completes", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr).(*net.TCPConn)
		c.SetReadBuffer(16 << 10)
		fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		readSlowly(t, resp.Body, size, handlerErr)
	})
	t.Run("stalled reader is cut", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", addr).(*net.TCPConn)
		c.SetReadBuffer(16 << 10)
		begin := time.Now()
		fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		waitCut(t, handlerErr, begin)
		if got := testutil.ToFloat64(l.writeIdle); got != 1 {
			t.Fatalf("sluice_http_write_idle_timeouts_total = %v, want 1", got)
		}
	})
}

// startHTTP2 serves h under the limits of cfg over TLS with HTTP/2.
func startHTTP2(t *testing.T, cfg Config, h http.Handler) (*Limits, *httptest.Server) {
	t.Helper()
	l := New(cfg)
	srv := httptest.NewUnstartedServer(l.Handler(h))
	srv.Listener = l.Listener(srv.Listener)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return l, srv
}

// TestBodyTimeoutHTTP2: over HTTP/2 the body deadline is the stream's: a
// trickled body is answered 408 at it.
func TestBodyTimeoutHTTP2(t *testing.T) {
	_, srv := startHTTP2(t, Config{BodyTimeout: time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		for range 100 { // 20 s for the body
			time.Sleep(200 * time.Millisecond)
			if _, err := pw.Write([]byte(" ")); err != nil {
				return
			}
		}
		pw.Close()
	}()
	begin := time.Now()
	resp, err := srv.Client().Post(srv.URL, "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "REQUEST_TIMEOUT") {
		t.Fatalf("%s %d %s; want HTTP/2 408 REQUEST_TIMEOUT", resp.Proto, resp.StatusCode, b)
	}
	elapsedWithin(t, "answered", time.Since(begin), 800*time.Millisecond, 10*time.Second)
}

// readSlowly reads size bytes from body over 2 s or more (64 KiB every
// 5 ms at most), then checks that the handler's write succeeded.
func readSlowly(t *testing.T, body io.Reader, size int, handlerErr <-chan error) {
	t.Helper()
	begin, n, buf := time.Now(), 0, make([]byte, 64<<10)
	for n < size {
		m, err := body.Read(buf)
		n += m
		if err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n != size {
		t.Fatalf("read %d of %d bytes", n, size)
	}
	if err := <-handlerErr; err != nil {
		t.Fatalf("handler write: %v", err)
	}
	if d := time.Since(begin); d < 2*time.Second {
		t.Fatalf("read in %s: too fast to show that a write longer than the timeout survives", d)
	}
}

// waitCut waits for the handler's write to a client reading nothing to
// fail, at the 1 s write-idle timeout after begin, and returns its error.
func waitCut(t *testing.T, handlerErr <-chan error, begin time.Time) error {
	t.Helper()
	var err error
	select {
	case err = <-handlerErr:
	case <-time.After(20 * time.Second):
		t.Fatal("the handler's write to a client that reads nothing did not end")
	}
	if err == nil {
		t.Fatal("the handler wrote it all to a client that reads nothing")
	}
	elapsedWithin(t, "cut", time.Since(begin), 800*time.Millisecond, 15*time.Second)
	return err
}

// TestWriteIdleHTTP2: over HTTP/2 the timeout is the stream's: a stream
// read slowly completes, one its client stops reading (it blocks on flow
// control, not on the connection) is cut, and the connection's other
// streams are served meanwhile.
func TestWriteIdleHTTP2(t *testing.T) {
	const size = 24 << 20 // more than the client's flow-control window
	handlerErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, err := w.Write(make([]byte, size))
		handlerErr <- err
	})
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "small") })
	l, srv := startHTTP2(t, Config{WriteIdleTimeout: time.Second}, mux)
	client := srv.Client()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s answered over %s, want HTTP/2", path, resp.Proto)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	t.Run("slow reader completes", func(t *testing.T) {
		resp := get("/big")
		readSlowly(t, resp.Body, size, handlerErr)
	})
	t.Run("stalled stream is cut, others served", func(t *testing.T) {
		begin := time.Now()
		get("/big") // read nothing
		b, _ := io.ReadAll(get("/small").Body)
		if string(b) != "small" {
			t.Fatalf("another stream: %q", b)
		}
		err := waitCut(t, handlerErr, begin)
		if got := testutil.ToFloat64(l.writeIdle); got != 1 {
			t.Fatalf("sluice_http_write_idle_timeouts_total = %v, want 1 (%v)", got, err)
		}
	})
}

// refused reports whether the server closed c without answering a request.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	_, _, err := roundTrip(c, bufio.NewReader(c), "/ok")
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("neither answered nor closed: %v", err)
	}
	return true
}

// TestConnectionCaps: past the per-client cap a client's connection is
// closed at accept while another client's is served; past the overall cap
// everyone's is; a closed connection frees its place.
func TestConnectionCaps(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	l, addr := start(t, Config{MaxConnections: 3, MaxConnectionsPerClient: 2}, mux)

	var held []net.Conn
	steps := []struct {
		name    string
		from    string
		refused bool
	}{
		{"first of client 1", "127.0.0.1", false},
		{"second of client 1", "127.0.0.1", false},
		{"third of client 1: over its cap", "127.0.0.1", true},
		{"first of client 2", "127.0.0.2", false},
		{"first of client 3: over the overall cap", "127.0.0.3", true},
	}
	for _, s := range steps {
		c := dialFrom(t, s.from, addr)
		if got := refused(t, c); got != s.refused {
			t.Fatalf("%s: refused = %v, want %v", s.name, got, s.refused)
		}
		if !s.refused {
			held = append(held, c) // kept open (keep-alive)
		}
	}
	for reason, want := range map[string]float64{ReasonMaxPerClient: 1, ReasonMaxConnections: 1} {
		if got := testutil.ToFloat64(l.rejected.WithLabelValues(reason)); got != want {
			t.Errorf("rejected{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(l.connections); got != 3 {
		t.Errorf("sluice_http_connections = %v, want 3", got)
	}
	// Client 1 closes one: client 3 gets in once the server has seen it.
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(l.connections) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection still counts")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if refused(t, dialFrom(t, "127.0.0.3", addr)) {
		t.Fatal("client 3 refused after a place was freed")
	}
}

// TestShedding: past max_inflight a request is answered 503 with
// Retry-After at once, the exempt health path still answers, and once the
// load is gone requests are served again.
func TestShedding(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fast") })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	l, addr := start(t, Config{MaxInflight: 1, RetryAfter: 1500 * time.Millisecond, Exempt: []string{"/healthz"}}, mux)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-entered

	resp, body := get("/fast")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" || !strings.Contains(body, `"code":"OVERLOADED"`) ||
		!strings.Contains(body, `"errorCode":"SERVICE_UNAVAILABLE"`) {
		t.Fatalf("over the limit: %d Retry-After %q %s; want 503, Retry-After 2 and both error codes", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := get("/healthz"); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("exempt /healthz under load: %d %s", resp.StatusCode, body)
	}
	if got := testutil.ToFloat64(l.inflightG); got != 1 {
		t.Fatalf("sluice_http_inflight_requests = %v, want 1", got)
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Fatalf("the request in flight: %s", got)
	}
	if resp, body := get("/fast"); resp.StatusCode != http.StatusOK || body != "fast" {
		t.Fatalf("after the load: %d %s", resp.StatusCode, body)
	}
	if got := testutil.ToFloat64(l.shed); got != 1 {
		t.Fatalf("sluice_http_requests_shed_total = %v, want 1", got)
	}
}

// closedConn reports whether err says the server closed the connection
// (a reset, when the client was still sending).
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
