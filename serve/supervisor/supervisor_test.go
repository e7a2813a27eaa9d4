//go:build unix

package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/ingest"
)

// TestMain doubles as the fake worker: the supervisor under test runs this
// test binary as "<binary> worker --spec FILE --metrics-addr ADDR ...".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(fakeWorker(os.Args[2:]))
	}
	if len(os.Args) == 4 && os.Args[1] == "supervise" {
		os.Exit(supervise(os.Args[2], os.Args[3]))
	}
	os.Exit(m.Run())
}

// fakeWorker behaves as the spec's topic says:
//
//	steady   serves a lag of 3+4 on /metrics until SIGTERM, then exits 0
//	crash    logs an error and exits 1 after 50ms
//	stubborn ignores SIGTERM
//
// It appends "pid unix-nanos" to ./starts, writes its environment to ./env
// and, on a graceful stop, appends "pid unix-nanos" to ./stopped (the
// working directory is the query's directory).
func fakeWorker(args []string) int {
	var specPath, addr string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--spec":
			specPath = args[i+1]
		case "--metrics-addr":
			addr = args[i+1]
		}
	}
	spec, err := ingest.LoadSpec(specPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice worker:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if spec.Source.Topic == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
	}
	pid := os.Getpid()
	appendFile("starts", fmt.Sprintf("%d %d\n", pid, time.Now().UnixNano()))
	os.WriteFile("env", []byte(strings.Join(os.Environ(), "\n")), 0o600)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice worker:", err)
		return 1
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE %s gauge\n%s{partition=\"0\",query=\"%s\"} 3\n%s{partition=\"1\",query=\"%s\"} 4\n", lagMetric, lagMetric, spec.Query, lagMetric, spec.Query)
	}))
	switch spec.Source.Topic {
	case "crash":
		time.Sleep(50 * time.Millisecond)
		fmt.Fprintln(os.Stderr, `{"level":"ERROR","msg":"flush failed","err":"disk on fire"}`)
		return 1
	case "stubborn":
		select {}
	}
	<-ctx.Done()
	appendFile("stopped", fmt.Sprintf("%d %d\n", pid, time.Now().UnixNano()))
	return 0
}

// supervise runs a supervisor over the catalog file with worker directory
// dir until killed (a server, for TestServerDeathStopsWorkers).
func supervise(catalogPath, dir string) int {
	cat, err := catalog.OpenSQLite(catalogPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sup, err := New(cat, dir, WithCommand(os.Args[0]), WithScrapeInterval(50*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := sup.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func appendFile(name, s string) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		f.WriteString(s)
		f.Close()
	}
}

// fixture is a catalog and a supervisor running the fake worker.
type fixture struct {
	t       *testing.T
	cat     *catalog.Catalog
	catPath string
	dir     string
	sup     *Supervisor
	reg     *prometheus.Registry
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	catPath := filepath.Join(t.TempDir(), "catalog.db")
	cat, err := catalog.OpenSQLite(catPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	if err := cat.Update(context.Background(), func(tx *catalog.Tx) error {
		if _, err := tx.CreateDatabase(catalog.Database{Name: "d"}); err != nil {
			return err
		}
		_, err := tx.CreateSchema(catalog.Schema{Database: "d", Name: "s"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, cat: cat, catPath: catPath, dir: filepath.Join(t.TempDir(), "queries"), reg: prometheus.NewRegistry()}
	base := []Option{WithCommand(os.Args[0]), WithBackoff(50*time.Millisecond, 400*time.Millisecond), WithHealthyAfter(time.Hour),
		WithStopTimeout(5 * time.Second), WithReconcileInterval(time.Hour), WithScrapeInterval(50 * time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	f.sup, err = New(cat, f.dir, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.reg.MustRegister(f.sup)
	return f
}

// run starts the supervisor; the returned function stops it and waits.
func (f *fixture) run() func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.sup.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("Run: %v", err)
		}
	}
	f.t.Cleanup(stop)
	return stop
}

// addQuery creates table d.s.<name> and a running query writing it, with
// the spec spec(id) returns.
func (f *fixture) addQuery(name string, spec func(id string) json.RawMessage) string {
	var id string
	err := f.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		if _, err := tx.CreateRelation(catalog.Relation{Database: "d", Schema: "s", Name: name, Kind: object.KindTable, Location: "/tmp/none"}); err != nil {
			return err
		}
		q, err := tx.CreateQuery(catalog.Query{SQL: "CREATE TABLE d.s." + name + " AS SELECT ...", Table: "d.s." + name})
		if err != nil {
			return err
		}
		id = q.ID
		_, err = tx.SetQuerySpec(id, spec(id))
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.sup.Notify()
	return id
}

// fake returns a spec function for a fake worker behaving as topic says.
func fake(t *testing.T, topic string, sasl *ingest.SASLSpec) func(string) json.RawMessage {
	return func(id string) json.RawMessage { return testSpec(t, id, topic, sasl) }
}

func testSpec(t *testing.T, id, topic string, sasl *ingest.SASLSpec) json.RawMessage {
	return tableSpec(t, id, topic, sasl, "/tmp/none")
}

// tableSpec is the spec of a fake worker behaving as topic says, writing
// table.
func tableSpec(t *testing.T, id, topic string, sasl *ingest.SASLSpec, table string) json.RawMessage {
	sp := &ingest.Spec{Query: id, Source: ingest.SourceSpec{Brokers: []string{"127.0.0.1:1"}, Topic: topic, SASL: sasl},
		Decode: ingest.DecodeSpec{Columns: []ingest.ColumnSpec{{Name: "id", Type: "BIGINT"}}}, Sink: ingest.SinkSpec{Table: table}}
	sp.ApplyDefaults()
	b, err := json.Marshal(sp) // as serve/exec stores it
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) setState(id string, s catalog.QueryState) {
	if err := f.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		_, err := tx.SetQueryState(id, s)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	f.sup.Notify()
}

// wait polls the query's status until ok accepts it.
func (f *fixture) wait(id, what string, ok func(Status) bool) Status {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := f.sup.Status(id)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("query %s: waited 20s for %s; status %+v", id, what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) file(id, name string) string {
	b, _ := os.ReadFile(filepath.Join(f.dir, id, name))
	return string(b)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// checkMetricsAddr asserts that st's MetricsAddr is a loopback address
// serving the running worker's lag metric.
func checkMetricsAddr(t *testing.T, st Status) {
	t.Helper()
	host, _, err := net.SplitHostPort(st.MetricsAddr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("MetricsAddr %q (%v), want 127.0.0.1:PORT", st.MetricsAddr, err)
	}
	resp, err := http.Get("http://" + st.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET the worker's metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), lagMetric) {
		t.Fatalf("%s/metrics does not serve %s: %q", st.MetricsAddr, lagMetric, body)
	}
}

// TestLifecycle: a running query gets a worker with a private spec, a
// filtered environment and its lag scraped; kill -9 is a crash (restarted,
// counted, reported); PAUSE stops it gracefully and RESUME starts a new one;
// stopping the supervisor stops the workers.
func TestLifecycle(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "minio")
	t.Setenv("SLUICE_S3_SSE", "AES256")
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", "slu_secret")
	t.Setenv("TEST_KAFKA_PASSWORD", "pw")
	t.Setenv("UNRELATED_SECRET", "x")
	f := newFixture(t)
	stop := f.run()
	id := f.addQuery("steady", fake(t, "steady", &ingest.SASLSpec{Mechanism: "PLAIN", Username: "u", Password: "env:TEST_KAFKA_PASSWORD"}))
	st := f.wait(id, "running with lag 7", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
	checkMetricsAddr(t, st)
	env := strings.Split(f.file(id, "env"), "\n")
	for _, want := range []string{"AWS_ACCESS_KEY_ID=minio", "SLUICE_S3_SSE=AES256", "TEST_KAFKA_PASSWORD=pw"} {
		if !slices.Contains(env, want) {
			t.Errorf("worker environment lacks %s: %v", want, env)
		}
	}
	for _, bad := range []string{"SLUICE_BOOTSTRAP_TOKEN", "UNRELATED_SECRET"} {
		if strings.Contains(f.file(id, "env"), bad) {
			t.Errorf("worker environment has %s", bad)
		}
	}
	// The worker is a static member of its group, so a restart after a
	// crash gets its partitions back at once.
	written, err := ingest.LoadSpec(filepath.Join(f.dir, id, specFile))
	if err != nil || written.Source.InstanceID != InstanceID(id) || InstanceID(id) != "sluice-"+id {
		t.Errorf("worker spec instance id %q (%v), want %q", written.Source.InstanceID, err, "sluice-"+id)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, specFile: 0o600, logFile: 0o600} {
		fi, err := os.Stat(filepath.Join(f.dir, id, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s/%s: %v mode %v, want %v", id, name, err, fi.Mode().Perm(), want)
		}
	}

	// A crash: restarted, counted, reported.
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st2 := f.wait(id, "a restart after kill -9", func(s Status) bool { return s.State == StateRunning && s.Restarts == 1 && s.Lag == 7 })
	if st2.PID == st.PID || !strings.Contains(st2.LastError, "signal: killed") {
		t.Errorf("after kill -9: %+v (old pid %d)", st2, st.PID)
	}
	if got := f.gauge("sluice_supervisor_restarts_total", ""); got != 1 {
		t.Errorf("restarts_total = %v, want 1", got)
	}
	if got := f.gauge("sluice_supervisor_workers", StateRunning); got != 1 {
		t.Errorf("workers{state=running} = %v, want 1", got)
	}

	// PAUSE: a graceful stop (SIGTERM), not a crash; RESUME: a new worker.
	f.setState(id, catalog.QueryPaused)
	if p := f.wait(id, "paused", func(s Status) bool { return s.State == StatePaused && s.PID == 0 }); p.MetricsAddr != "" {
		t.Errorf("paused query shows metrics address %q, want none", p.MetricsAddr)
	}
	if !strings.Contains(f.file(id, "stopped"), strconv.Itoa(st2.PID)) || alive(st2.PID) {
		t.Errorf("paused worker %d did not stop on SIGTERM (stopped: %q)", st2.PID, f.file(id, "stopped"))
	}
	f.setState(id, catalog.QueryRunning)
	st3 := f.wait(id, "running again", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
	if st3.Restarts != 1 || st3.PID == st2.PID {
		t.Errorf("after RESUME: %+v", st3)
	}
	checkMetricsAddr(t, st3)

	// A changed spec: the worker is replaced.
	if err := f.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		_, err := tx.SetQuerySpec(id, testSpec(t, id, "steady", nil))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f.sup.Notify()
	st4 := f.wait(id, "a new worker for the new spec", func(s Status) bool { return s.State == StateRunning && s.PID != st3.PID && s.Lag == 7 })
	if !strings.Contains(f.file(id, "stopped"), strconv.Itoa(st3.PID)) {
		t.Errorf("the worker of the old spec (%d) was not stopped gracefully", st3.PID)
	}
	stop()
	if alive(st4.PID) || !strings.Contains(f.file(id, "stopped"), strconv.Itoa(st4.PID)) {
		t.Errorf("worker %d still runs or did not stop gracefully after the supervisor stopped", st4.PID)
	}
	if starts := strings.Count(f.file(id, "starts"), "\n"); starts != 4 {
		t.Errorf("%d worker starts, want 4 (first, after the crash, after RESUME, new spec)", starts)
	}
}

// TestCrashBackoff: a worker that keeps failing is restarted with doubling
// delays up to the cap, its last logged error is kept, and a supervisor
// stopping mid-backoff starts nothing more.
func TestCrashBackoff(t *testing.T) {
	f := newFixture(t)
	stop := f.run()
	id := f.addQuery("crashy", fake(t, "crash", nil))
	st := f.wait(id, "5 restarts", func(s Status) bool { return s.Restarts >= 5 })
	if st.LastError != "worker exited (exit status 1): flush failed: disk on fire" {
		t.Errorf("LastError = %q", st.LastError)
	}
	stop()
	var starts []time.Time
	for _, l := range strings.Split(strings.TrimSpace(f.file(id, "starts")), "\n") {
		var pid, ns int64
		fmt.Sscanf(l, "%d %d", &pid, &ns)
		starts = append(starts, time.Unix(0, ns))
	}
	// Each gap is the worker's ~50ms life plus the backoff: at least
	// 50ms, 100ms, 200ms, 400ms, 400ms (the cap). No upper bound: on a
	// loaded machine starting a process alone can take seconds; the cap
	// itself is asserted on the backoff function (TestBackoff).
	for i, min := range []time.Duration{50, 100, 200, 400, 400} {
		if i+1 >= len(starts) {
			break
		}
		if gap := starts[i+1].Sub(starts[i]); gap < min*time.Millisecond {
			t.Errorf("restart %d came %v after the previous start, want >= %v", i+1, gap, min*time.Millisecond)
		}
	}
}

// TestTerminateKillsStubbornWorker: a worker that ignores SIGTERM is killed
// after the stop timeout; a terminated query's spec file is removed.
func TestTerminateKillsStubbornWorker(t *testing.T) {
	f := newFixture(t, WithStopTimeout(300*time.Millisecond))
	f.run()
	id := f.addQuery("stubborn", fake(t, "stubborn", nil))
	st := f.wait(id, "running", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
	start := time.Now()
	f.setState(id, catalog.QueryTerminated)
	f.wait(id, "terminated", func(s Status) bool { return s.State == StateTerminated })
	if alive(st.PID) {
		t.Fatalf("worker %d survived TERMINATE", st.PID)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("killed after %v, before the stop timeout", d)
	}
	if _, err := os.Stat(filepath.Join(f.dir, id, specFile)); !os.IsNotExist(err) {
		t.Errorf("terminated query's spec file: %v, want removed", err)
	}
	if log := f.file(id, logFile); !strings.Contains(log, "signal: killed") {
		t.Errorf("worker log does not record the kill:\n%s", log)
	}
}

// TestUnstartableQueries: a query without a usable spec, or whose secret
// reference names the server's own configuration, fails without restarts.
func TestUnstartableQueries(t *testing.T) {
	f := newFixture(t)
	f.run()
	tests := []struct {
		name string
		spec func(id string) json.RawMessage
		want string
	}{
		{"nospec", func(string) json.RawMessage { return json.RawMessage(`{"query": "x"}`) }, "source.brokers"},
		{"stealer", func(id string) json.RawMessage {
			return testSpec(t, id, "steady", &ingest.SASLSpec{Mechanism: "PLAIN", Username: "u", Password: "env:AWS_SECRET_ACCESS_KEY"})
		}, "env:AWS_SECRET_ACCESS_KEY names a variable of the server's own configuration"},
	}
	for _, tt := range tests {
		id := f.addQuery(tt.name, tt.spec)
		st := f.wait(id, "failed", func(s Status) bool { return s.State == StateFailed && strings.Contains(s.LastError, tt.want) })
		time.Sleep(200 * time.Millisecond)
		if st2, _ := f.sup.Status(id); st2.Restarts != 0 || st2.State != StateFailed || st.PID != 0 {
			t.Errorf("%s: %+v, want failed without restarts", tt.name, st2)
		}
		if f.file(id, "starts") != "" {
			t.Errorf("%s: a worker was started", tt.name)
		}
	}
}

// TestDroppedQueryStops: a query removed from the catalog loses its worker.
func TestDroppedQueryStops(t *testing.T) {
	f := newFixture(t)
	f.run()
	id := f.addQuery("dropme", fake(t, "steady", nil))
	st := f.wait(id, "running", func(s Status) bool { return s.State == StateRunning })
	if err := f.cat.Update(context.Background(), func(tx *catalog.Tx) error { return tx.DropQuery(id) }); err != nil {
		t.Fatal(err)
	}
	f.sup.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for alive(st.PID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(st.PID) {
		t.Fatalf("worker %d of a dropped query still runs", st.PID)
	}
	if _, ok := f.sup.Status(id); ok {
		t.Error("a dropped query still has a status")
	}
}

// gauge returns the value of a supervisor metric (with label state, if
// given).
func (f *fixture) gauge(name, state string) float64 {
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if state != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != state) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// fakeMinter mints numbered credentials living ttl, or fails with err.
type fakeMinter struct {
	mu     sync.Mutex
	ttl    time.Duration
	err    error
	n      int
	calls  []string // "session tables..."
	issued []objstore.TempCredentials
}

func (m *fakeMinter) Mint(_ context.Context, session string, tables []string) (objstore.TempCredentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, session+" "+strings.Join(tables, " "))
	if m.err != nil {
		return objstore.TempCredentials{}, m.err
	}
	m.n++
	cr := objstore.TempCredentials{AccessKeyID: fmt.Sprintf("ASIATEMP%d", m.n), SecretAccessKey: fmt.Sprintf("temp-secret-%d", m.n),
		SessionToken: fmt.Sprintf("temp-token-%d", m.n), Expires: time.Now().Add(m.ttl)}
	m.issued = append(m.issued, cr)
	return cr, nil
}

func (m *fakeMinter) set(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

func (m *fakeMinter) state() ([]string, []objstore.TempCredentials) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls), slices.Clone(m.issued)
}

// s3Spec is the spec of a steady fake worker writing table.
func s3Spec(t *testing.T, table string) func(string) json.RawMessage {
	return func(id string) json.RawMessage { return tableSpec(t, id, "steady", nil, table) }
}

// TestScopedCredentials: with WithScopedCredentials a worker of an S3 table
// gets credentials minted for its sink and dead-letter tables and none of
// the server's (keys, role, profile); it is restarted gracefully with new
// ones before they expire (not counted as a crash); a worker of a local
// table gets no AWS credentials at all.
func TestScopedCredentials(t *testing.T) {
	for _, kv := range []string{"AWS_ACCESS_KEY_ID=server-key", "AWS_SECRET_ACCESS_KEY=server-secret", "AWS_SESSION_TOKEN=server-token",
		"AWS_ROLE_ARN=arn:aws:iam::1:role/server", "AWS_PROFILE=server", "AWS_REGION=eu-west-1", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:9"} {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	const ttl = 4 * time.Second // refreshed after 3.2s
	m := &fakeMinter{ttl: ttl}
	f := newFixture(t, WithScopedCredentials(m))
	stop := f.run()
	table := "s3://lake/wh/d/s/orders"
	id := f.addQuery("orders", s3Spec(t, table))
	st := f.wait(id, "running", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
	calls, issued := m.state()
	if want := "sluice-" + id + " " + table + " " + table + "_dead_letters"; len(calls) != 1 || calls[0] != want {
		t.Fatalf("Mint calls %q, want [%q]", calls, want)
	}
	if !st.CredentialsExpire.Equal(issued[0].Expires) {
		t.Errorf("CredentialsExpire %v, want %v", st.CredentialsExpire, issued[0].Expires)
	}
	if got, want := f.gauge("sluice_supervisor_credentials_expiry_timestamp_seconds", ""), float64(issued[0].Expires.UnixNano())/1e9; got != want {
		t.Errorf("credentials expiry metric %v, want %v", got, want)
	}
	checkEnv := func(n int) {
		t.Helper()
		env := f.file(id, "env")
		lines := strings.Split(env, "\n")
		for _, want := range []string{fmt.Sprintf("AWS_ACCESS_KEY_ID=ASIATEMP%d", n), fmt.Sprintf("AWS_SECRET_ACCESS_KEY=temp-secret-%d", n),
			fmt.Sprintf("AWS_SESSION_TOKEN=temp-token-%d", n), "AWS_REGION=eu-west-1", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:9", "AWS_EC2_METADATA_DISABLED=true"} {
			if !slices.Contains(lines, want) {
				t.Errorf("worker environment lacks %s:\n%s", want, env)
			}
		}
		for _, bad := range []string{"server-key", "server-secret", "server-token", "AWS_ROLE_ARN", "AWS_PROFILE"} {
			if strings.Contains(env, bad) {
				t.Errorf("worker environment has the server's %s:\n%s", bad, env)
			}
		}
	}
	checkEnv(1)

	// Refresh: a new worker on new credentials before the old ones expire.
	st2 := f.wait(id, "a worker on fresh credentials", func(s Status) bool {
		return s.State == StateRunning && s.PID != st.PID && s.CredentialsExpire.After(issued[0].Expires) && s.Lag == 7
	})
	// Stopped (SIGTERM, the worker commits) before the old credentials
	// expire. (The new worker's start can come later on a loaded machine.)
	stopped := strings.Fields(f.file(id, "stopped")) // pid nanos
	if len(stopped) != 2 || stopped[0] != strconv.Itoa(st.PID) || alive(st.PID) {
		t.Fatalf("worker %d was not stopped gracefully for the refresh (stopped: %q)", st.PID, stopped)
	}
	if ns, _ := strconv.ParseInt(stopped[1], 10, 64); !time.Unix(0, ns).Before(issued[0].Expires) {
		t.Errorf("the worker was stopped for the refresh at %v, after its credentials expired (%v)", time.Unix(0, ns), issued[0].Expires)
	}
	if st2.Restarts != 0 {
		t.Errorf("a refresh counted as a crash: %+v", st2)
	}
	checkEnv(2)

	// A local table: no AWS credentials, nothing minted.
	local := f.addQuery("local", fake(t, "steady", nil))
	stl := f.wait(local, "running", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
	if env := f.file(local, "env"); strings.Contains(env, "AWS_ACCESS_KEY_ID") || strings.Contains(env, "server-secret") || !stl.CredentialsExpire.IsZero() {
		t.Errorf("local-table worker: expiry %v, environment:\n%s", stl.CredentialsExpire, env)
	}
	stop()
	if calls, _ := m.state(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "sluice-"+local) }) {
		t.Errorf("credentials minted for a local table: %q", calls)
	}
}

// TestScopedCredentialsMintFails: a failing Mint is a failed start, with
// the error as last_error, retried with backoff until it works.
func TestScopedCredentialsMintFails(t *testing.T) {
	m := &fakeMinter{ttl: time.Hour, err: errors.New("assume worker role arn:aws:iam::1:role/w: AccessDenied")}
	f := newFixture(t, WithScopedCredentials(m))
	f.run()
	id := f.addQuery("orders", s3Spec(t, "s3://lake/wh/d/s/orders"))
	f.wait(id, "restarting with the STS error", func(s Status) bool {
		return s.State == StateRestarting && s.LastError == "worker credentials: assume worker role arn:aws:iam::1:role/w: AccessDenied"
	})
	f.wait(id, "three attempts", func(Status) bool { calls, _ := m.state(); return len(calls) >= 3 })
	if f.file(id, "starts") != "" {
		t.Fatal("a worker was started without credentials")
	}
	m.set(nil)
	st := f.wait(id, "running once STS works", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
	if st.CredentialsExpire.IsZero() || !strings.Contains(f.file(id, "env"), "AWS_SESSION_TOKEN=temp-token-1") {
		t.Errorf("after recovery: %+v", st)
	}
}

// TestScopedCredentialsRenewFails: when STS fails at refresh time the
// worker keeps running on its credentials (the error shown) and is
// replaced once new ones are minted.
func TestScopedCredentialsRenewFails(t *testing.T) {
	m := &fakeMinter{ttl: 4 * time.Second} // refreshed after 3.2s
	f := newFixture(t, WithScopedCredentials(m))
	f.run()
	id := f.addQuery("orders", s3Spec(t, "s3://lake/wh/d/s/orders"))
	st := f.wait(id, "running", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
	m.set(errors.New("sts down"))
	f.wait(id, "the renewal error while the worker runs on", func(s Status) bool {
		return s.LastError == "worker credentials: sts down" && s.State == StateRunning && s.PID == st.PID
	})
	if f.file(id, "stopped") != "" {
		t.Fatal("the worker was stopped before new credentials were minted")
	}
	m.set(nil)
	f.wait(id, "a worker on renewed credentials", func(s Status) bool { return s.State == StateRunning && s.PID != st.PID && s.Lag == 7 })
	if env := f.file(id, "env"); !strings.Contains(env, "AWS_SESSION_TOKEN=temp-token-2") {
		t.Errorf("the new worker's environment lacks the renewed credentials:\n%s", env)
	}
}

// TestRunStoppedBeforeFirstReconcile: a server stopped right after it
// started (its context canceled before the supervisor's first look at the
// catalog) is a clean stop, not an error (regression: `sluice serve`
// exited 1 when stopped that early).
func TestRunStoppedBeforeFirstReconcile(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.sup.Run(ctx); err != nil {
		t.Fatalf("Run on a canceled context: %v", err)
	}
}

// TestStopNow: a Run canceled with cause ErrStopNow (the server lost
// leadership) kills its workers at once, long stop timeout or not, without
// the SIGTERM that would have them commit; canceled plainly, it stops them
// gracefully. Run again (leading again), the supervisor starts them anew.
func TestStopNow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cause    error
		graceful bool
	}{
		{"leadership lost", ErrStopNow, false},
		{"server stops", context.Canceled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, WithStopTimeout(time.Minute))
			id := f.addQuery("q", fake(t, "steady", nil))
			for term := 1; term <= 2; term++ {
				ctx, cancel := context.WithCancelCause(context.Background())
				done := make(chan error, 1)
				go func() { done <- f.sup.Run(ctx) }()
				st := f.wait(id, "running", func(s Status) bool { return s.State == StateRunning && s.Lag == 7 })
				start := time.Now()
				cancel(tc.cause)
				if err := <-done; err != nil {
					t.Fatalf("Run: %v", err)
				}
				if alive(st.PID) {
					t.Fatalf("term %d: worker %d outlived Run", term, st.PID)
				}
				stopped := strings.Contains(f.file(id, "stopped"), strconv.Itoa(st.PID))
				if stopped != tc.graceful {
					t.Errorf("term %d: worker %d stopped gracefully: %v, want %v", term, st.PID, stopped, tc.graceful)
				}
				if d := time.Since(start); !tc.graceful && d > 5*time.Second {
					t.Errorf("term %d: killing the workers took %v", term, d)
				}
			}
			if n := len(strings.Split(strings.TrimSpace(f.file(id, "starts")), "\n")); n != 2 {
				t.Errorf("%d worker starts over two terms, want 2", n)
			}
		})
	}
}
