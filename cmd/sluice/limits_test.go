package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/internal/trickle"
)

// writeManyFilesTable writes a Delta table of n (absent) data files at
// dir: its /query answer has n file lines.
func writeManyFilesTable(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}` + "\n")
	b.WriteString(`{"metaData":{"id":"many-id","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{},"createdTime":1767225600000}}` + "\n")
	for i := range n {
		fmt.Fprintf(&b, `{"add":{"path":"part-%06d-with-a-long-name-like-real-writers-give.parquet","partitionValues":{},"size":1000,"modificationTime":1767225600000,"dataChange":true,"stats":"{\"numRecords\":10,\"minValues\":{\"id\":%d},\"maxValues\":{\"id\":%d},\"nullCount\":{\"id\":0}}"}}`+"\n", i, i*10, i*10+9)
	}
	if err := os.WriteFile(filepath.Join(dir, "_delta_log", fmt.Sprintf("%020d.json", 0)), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// limitsServer is a `sluice serve` with a shared table of many files and
// the recipient acme.
type limitsServer struct {
	url, token string // the server and the admin's token
	host       string // host:port
	recipient  string // acme's token
	queryPath  string // the table's /query
}

func startLimitsServer(t *testing.T, files int, flags ...string) *limitsServer {
	t.Helper()
	dir := t.TempDir()
	s := &limitsServer{token: catalog.NewUserToken()}
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", s.token)
	table := filepath.Join(t.TempDir(), "many")
	writeManyFilesTable(t, table, files)
	var stop func()
	s.url, stop = startServe(t, dir, flags...)
	t.Cleanup(stop)
	u, _ := url.Parse(s.url)
	s.host = u.Host
	profile := filepath.Join(dir, "acme.share")
	var o, e bytes.Buffer
	stmts := "CREATE DATABASE d; CREATE SCHEMA d.s; CREATE TABLE d.s.many LOCATION 'file://" + table + "'; CREATE SHARE p; ALTER SHARE p ADD TABLE d.s.many; CREATE RECIPIENT acme; GRANT SELECT ON SHARE p TO RECIPIENT acme"
	if code := run(context.Background(), []string{"sql", "--server", s.url, "--token", s.token, "--profile-out", profile, "-e", stmts}, &o, &e); code != 0 {
		t.Fatalf("sql: %d\n%s\n%s", code, o.String(), e.String())
	}
	var p struct{ Endpoint, BearerToken string }
	if b, err := os.ReadFile(profile); err != nil || json.Unmarshal(b, &p) != nil {
		t.Fatalf("profile: %v", err)
	}
	s.recipient = p.BearerToken
	u, _ = url.Parse(p.Endpoint)
	s.queryPath = strings.TrimRight(u.Path, "/") + "/shares/p/schemas/s/tables/many/query"
	return s
}

// dial connects to the server from the loopback address local.
func (s *limitsServer) dial(t *testing.T, local string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", s.host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TestServeSlowBody: a client trickling a request body, to the statements
// API or to a sharing /query, is cut at http.body_timeout: answered 408
// when the handler was reading the body, 401 when it refused the request
// unread; the connection is closed either way.
func TestServeSlowBody(t *testing.T) {
	s := startLimitsServer(t, 10, "--http-body-timeout", "1s")
	cases := []struct {
		name, path, token string
		status            int
		code              string // in the answer
	}{
		{"statements", "/api/v1/statements", s.token, http.StatusRequestTimeout, `"code":"REQUEST_TIMEOUT"`},
		{"statements without a token", "/api/v1/statements", "", http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"sharing query", s.queryPath, s.recipient, http.StatusRequestTimeout, `"errorCode":"REQUEST_TIMEOUT"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t, "127.0.0.1")
			c.SetDeadline(time.Now().Add(30 * time.Second))
			auth := ""
			if tc.token != "" {
				auth = "Authorization: Bearer " + tc.token + "\r\n"
			}
			begin := time.Now()
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: 300\r\n\r\n", tc.path, s.host, auth)
			defer trickle.Start(c, 300, 200*time.Millisecond)() // a minute for the body
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if d := time.Since(begin); d < 800*time.Millisecond || d > 10*time.Second {
				t.Fatalf("answered after %s; want about the 1s body timeout", d)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.code) {
				t.Fatalf("answer %d %s; want %d with %s", resp.StatusCode, b, tc.status, tc.code)
			}
			if _, err := br.ReadByte(); !closedConn(err) {
				t.Fatalf("after the answer: %v; want the connection closed", err)
			}
		})
	}
}

// TestServeSlowReaderGetsLongAnswer: a recipient reading a /query answer
// of many megabytes slowly, over seconds more than the write-idle timeout,
// gets all of it; one that stops reading is cut.
func TestServeSlowReaderGetsLongAnswer(t *testing.T) {
	const files = 40000
	s := startLimitsServer(t, files, "--http-write-idle-timeout", "2s", "--log-level", "error")
	query := func(c *net.TCPConn) *http.Response {
		t.Helper()
		c.SetReadBuffer(16 << 10)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", s.queryPath, s.host, s.recipient)
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("query: %d %s", resp.StatusCode, b)
		}
		return resp
	}

	t.Run("slow reader completes", func(t *testing.T) {
		resp := query(s.dial(t, "127.0.0.1"))
		begin, lines, size := time.Now(), 0, 0
		br := bufio.NewReaderSize(resp.Body, 32<<10)
		for {
			line, err := br.ReadBytes('\n')
			size += len(line)
			if bytes.HasPrefix(line, []byte(`{"file":`)) {
				lines++
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("after %d file lines (%d bytes, %s): %v", lines, size, time.Since(begin), err)
				}
				break
			}
			if lines%100 == 0 {
				time.Sleep(10 * time.Millisecond) // 4 s at least
			}
		}
		if lines != files {
			t.Fatalf("%d file lines, want %d", lines, files)
		}
		if d := time.Since(begin); d < 3*time.Second {
			t.Fatalf("%d bytes read in %s: too fast to show that an answer longer than the write-idle timeout survives", size, d)
		}
	})
	t.Run("stalled reader is cut", func(t *testing.T) {
		c := s.dial(t, "127.0.0.1")
		resp := query(c)
		time.Sleep(6 * time.Second) // read nothing, 3 times the timeout
		_, err := io.Copy(io.Discard, resp.Body)
		if err == nil {
			t.Fatal("a reader that stalled past the write-idle timeout got the whole answer")
		}
		resp, err = http.Get(s.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(m), "\nsluice_http_write_idle_timeouts_total 1\n") {
			t.Fatal("/metrics does not count the cut connection")
		}
	})
}

// TestServeConnectionCap: past http.max_connections_per_client a client's
// connection is closed at accept, another client's is served, and the
// refusal is counted on /metrics.
func TestServeConnectionCap(t *testing.T) {
	s := startLimitsServer(t, 1, "--http-max-connections-per-client", "2")
	healthz := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", s.host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	for i, step := range []struct {
		from    string
		refused bool
	}{{"127.0.0.2", false}, {"127.0.0.2", false}, {"127.0.0.2", true}, {"127.0.0.3", false}} {
		err := healthz(s.dial(t, step.from)) // each kept open
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection %d from %s neither answered nor closed", i+1, step.from)
		}
		if (err != nil) != step.refused {
			t.Fatalf("connection %d from %s: %v, want refused %v", i+1, step.from, err, step.refused)
		}
	}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `sluice_http_connections_rejected_total{reason="max_connections_per_client"} 1`; !strings.Contains(string(b), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

// TestServeShedding: with http.max_inflight requests being answered (two
// recipients' trickled bodies here), the next request is answered 503 with
// Retry-After while /healthz still answers.
func TestServeShedding(t *testing.T) {
	s := startLimitsServer(t, 1, "--http-max-inflight", "2", "--http-retry-after", "7s")
	for range 2 {
		c := s.dial(t, "127.0.0.1")
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", s.queryPath, s.host, s.recipient)
	}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	// The two requests are in flight once the server has read their
	// headers: wait for the gauge.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, m := get("/metrics")
		if strings.Contains(m, "\nsluice_http_inflight_requests 2\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trickled requests are not in flight:\n%s", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, body := get("/delta-sharing/shares")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("third request: %d Retry-After %q %s; want 503 with Retry-After 7", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := get("/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz under load: %d %s", resp.StatusCode, body)
	}
	if _, m := get("/metrics"); !strings.Contains(m, "\nsluice_http_requests_shed_total 1\n") {
		t.Fatalf("/metrics does not count the shed request:\n%s", m)
	}
}

// closedConn reports whether err says the server closed the connection
// (a reset, when the client was still sending).
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
