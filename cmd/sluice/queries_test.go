//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/exec"
)

// TestMain lets the test binary stand in for the sluice binary: the
// supervisor of an in-process `sluice serve` runs its own executable as
// `<exe> worker --spec ...`, which is this binary here; a test that needs
// a server in another process runs `<exe> serve ...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "worker" || os.Args[1] == "serve") {
		main()
	}
	os.Exit(m.Run())
}

// pipelineSQL is the SQL file of the end-to-end test: a store, a stream and
// a continuous query with a WHERE and computed columns.
const pipelineSQL = `CREATE DATABASE sales;
CREATE SCHEMA sales.eu;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = '%s');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, customer STRING, amount DECIMAL(12,2), country STRING)
  WITH ('store' = 'kafka1', 'topic' = '%s', 'value.format' = 'json');
CREATE TABLE sales.eu.big_orders WITH ('flush.interval' = '1s') AS
  SELECT id, lower(customer) AS customer_lc, amount * 2 AS doubled,
         CASE WHEN amount >= 1000 THEN 'large' ELSE 'small' END AS segment
  FROM orders
  WHERE country IN ('DE', 'NL') AND amount >= 100;
`

// order is record id's content: amount in cents and country.
func order(id int) (cents int, country string) {
	return id * 1237 % 200000, []string{"DE", "FR", "NL", "US"}[id%4]
}

// queryE2E drives one server and its pipeline.
type queryE2E struct {
	t      *testing.T
	s3     *testenv.S3Env
	token  string
	url    string
	topic  string
	table  string
	prod   *kgo.Client
	nextID int
}

func (e *queryE2E) produce(n int) {
	e.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		e.nextID++
		cents, country := order(e.nextID)
		recs[i] = &kgo.Record{Topic: e.topic, Key: []byte(strconv.Itoa(e.nextID)), Value: []byte(fmt.Sprintf(
			`{"id": %d, "customer": "Cust-%d", "amount": "%d.%02d", "country": %q}`, e.nextID, e.nextID, cents/100, cents%100, country))}
	}
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

// expected is the number of produced records the query keeps.
func (e *queryE2E) expected() int {
	n := 0
	for id := 1; id <= e.nextID; id++ {
		if cents, c := order(id); (c == "DE" || c == "NL") && cents >= 10000 {
			n++
		}
	}
	return n
}

// sql runs statements with `sluice sql --json` and returns the results.
func (e *queryE2E) sql(stmts string) []exec.Result {
	e.t.Helper()
	var out, errs syncBuffer
	code := run(context.Background(), []string{"sql", "--server", e.url, "--token", e.token, "--json", "-e", stmts}, &out, &errs)
	var resp serve.StatementsResponse
	if err := json.Unmarshal([]byte(out.String()), &resp); err != nil || code != 0 {
		e.t.Fatalf("%s: exit %d: %v\n%s\n%s", stmts, code, err, out.String(), errs.String())
	}
	return resp.Results
}

// query returns SHOW QUERIES' only row as column -> value.
func (e *queryE2E) query() map[string]string {
	e.t.Helper()
	res := e.sql("SHOW QUERIES")[0]
	if len(res.Rows) != 1 {
		e.t.Fatalf("SHOW QUERIES: %d rows, want 1: %v", len(res.Rows), res.Rows)
	}
	row := map[string]string{}
	for i, c := range res.Columns {
		row[c] = res.Rows[0][i]
	}
	return row
}

// waitQuery polls SHOW QUERIES until ok accepts the row.
func (e *queryE2E) waitQuery(what string, ok func(map[string]string) bool) map[string]string {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		q := e.query()
		if ok(q) {
			return q
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waited 90s for %s; SHOW QUERIES: %v", what, q)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// rows reads the table with delta-rs and checks every row: kept by the
// WHERE, computed columns right, no id twice. It returns the row count, or
// delta-rs's error.
func (e *queryE2E) rows() (int, string) {
	e.t.Helper()
	rs := testenv.DeltaRs(e.t, e.s3.AWSEnv(), []string{e.table}, "--rows")[0]
	if rs.Error != "" {
		return 0, rs.Error
	}
	seen := map[int]bool{}
	for _, r := range rs.Rows {
		row := r.(map[string]any)
		id := int(row["id"].(float64))
		if seen[id] {
			e.t.Fatalf("id %d written twice", id)
		}
		seen[id] = true
		cents, country := order(id)
		if (country != "DE" && country != "NL") || cents < 10000 {
			e.t.Fatalf("row %v: the WHERE should have dropped it (country %s, amount %d cents)", row, country, cents)
		}
		segment := map[bool]string{true: "large", false: "small"}[cents >= 100000]
		doubled, _ := strconv.ParseFloat(fmt.Sprint(row["doubled"]), 64)
		if row["customer_lc"] != fmt.Sprintf("cust-%d", id) || doubled != float64(2*cents)/100 || row["segment"] != segment {
			e.t.Fatalf("row %v: want customer_lc cust-%d, doubled %.2f, segment %s", row, id, float64(2*cents)/100, segment)
		}
	}
	return len(seen), ""
}

// mustRows is rows, failing the test if delta-rs cannot read the table.
func (e *queryE2E) mustRows() int {
	e.t.Helper()
	n, err := e.rows()
	if err != "" {
		e.t.Fatalf("delta-rs on %s: %s", e.table, err)
	}
	return n
}

// waitRows waits until the table holds every expected row (and no more).
func (e *queryE2E) waitRows(what string) {
	e.t.Helper()
	want := e.expected()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, err := e.rows()
		if got == want && err == "" {
			return
		}
		if got > want {
			e.t.Fatalf("%s: %d rows, more than the %d expected", what, got, want)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %d of %d rows after 90s (%s); SHOW QUERIES: %v", what, got, want, err, e.query())
		}
		time.Sleep(time.Second)
	}
}

// serveDirWithLogs returns a data directory for a server whose workers'
// logs are shown if the test fails.
func serveDirWithLogs(t *testing.T) string {
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "queries", "*", "worker.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s (last 4000 bytes):\n%s", l, b[max(0, len(b)-4000):])
			}
		}
	})
	return dir
}

func alive(pid string) bool {
	n, err := strconv.Atoi(pid)
	return err == nil && n > 0 && syscall.Kill(n, 0) == nil
}

// TestQueriesEndToEnd: a SQL file -> a real Kafka topic -> a supervised
// worker process -> a table on MinIO read by delta-rs, with the WHERE and
// the computed columns applied. Then: kill -9 of the worker (restarted,
// shown in SHOW QUERIES), PAUSE (the process stops, nothing more is
// written) and RESUME, and a server restart (the workers stop with it and
// resume after it) — exactly once throughout.
func TestQueriesEndToEnd(t *testing.T) {
	k := testenv.Kafka(t)
	s3 := testenv.MinIO(t)
	bucket := s3.NewBucket(t)
	e := newQueryE2E(t, k, s3, bucket)
	dir := serveDirWithLogs(t)
	start := func() func() {
		url, stop := startServe(t, dir, "--warehouse", "s3://"+bucket+"/lake", "--worker-stop-timeout", "60s")
		e.url = url
		return stop
	}
	stop := start()

	sqlFile := filepath.Join(t.TempDir(), "pipeline.sql")
	if err := os.WriteFile(sqlFile, []byte(fmt.Sprintf(pipelineSQL, strings.Join(k.Brokers, ","), e.topic)), 0o600); err != nil {
		t.Fatal(err)
	}
	var o, errb syncBuffer
	if code := run(context.Background(), []string{"sql", "--server", e.url, "--token", e.token, "-f", sqlFile}, &o, &errb); code != 0 {
		t.Fatalf("sluice sql -f: exit %d\n%s\n%s", code, o.String(), errb.String())
	}
	t0 := time.Now()
	e.produce(300)
	q := e.waitQuery("a running worker", func(q map[string]string) bool { return q["status"] == "running" && q["pid"] != "" })
	if q["table"] != "sales.eu.big_orders" || q["state"] != "running" {
		t.Fatalf("SHOW QUERIES: %v", q)
	}
	e.waitRows("first batch")
	t.Logf("first 300 records in the table (read by delta-rs) %v after CREATE TABLE AS SELECT", time.Since(t0).Round(100*time.Millisecond))
	e.waitQuery("lag 0", func(q map[string]string) bool { return q["lag"] == "0" })
	qid := q["id"]
	// SHOW QUERIES says where the worker's own metrics are.
	resp, err := http.Get("http://" + q["metrics_addr"] + "/metrics")
	if err != nil {
		t.Fatalf("worker metrics at metrics_addr %q: %v", q["metrics_addr"], err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "sluice_ingest_consumer_lag") {
		t.Fatalf("metrics_addr %s serves no sluice_ingest_consumer_lag:\n%.2000s", q["metrics_addr"], metrics)
	}

	// kill -9: the supervisor restarts the worker and says so.
	pid, _ := strconv.Atoi(q["pid"])
	t0 = time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.produce(200)
	q = e.waitQuery("a restart after kill -9", func(q map[string]string) bool {
		return q["restarts"] == "1" && q["status"] == "running" && q["pid"] != "" && q["pid"] != strconv.Itoa(pid)
	})
	t.Logf("worker restarted %v after kill -9", time.Since(t0).Round(100*time.Millisecond))
	if !strings.Contains(q["last_error"], "signal: killed") {
		t.Errorf("last_error after kill -9 = %q", q["last_error"])
	}
	e.waitRows("after kill -9")
	t.Logf("records produced after kill -9 in the table %v after it (the dead member's consumer-group session must expire first)", time.Since(t0).Round(100*time.Millisecond))

	// PAUSE stops the process; records produced meanwhile wait for RESUME.
	t0 = time.Now()
	e.sql(`PAUSE QUERY "` + qid + `"`)
	paused := e.waitQuery("paused", func(q map[string]string) bool { return q["status"] == "paused" && q["state"] == "paused" })
	if alive(q["pid"]) || paused["pid"] != "" {
		t.Fatalf("worker %s still runs after PAUSE (%v)", q["pid"], paused)
	}
	t.Logf("PAUSE: worker stopped %v after the statement", time.Since(t0).Round(100*time.Millisecond))
	before := e.mustRows()
	e.produce(200)
	time.Sleep(3 * time.Second) // more than the flush interval: a live worker would have written
	if got := e.mustRows(); got != before {
		t.Fatalf("the paused query wrote: %d rows, %d before", got, before)
	}
	e.sql(`RESUME QUERY "` + qid + `"`)
	e.waitRows("after RESUME")
	q = e.waitQuery("running after RESUME", func(q map[string]string) bool { return q["status"] == "running" && q["pid"] != "" })

	// A server restart: the workers stop with the server; records produced
	// while it is down land once it is back.
	t0 = time.Now()
	stop()
	t.Logf("server and worker stopped in %v", time.Since(t0).Round(100*time.Millisecond))
	if alive(q["pid"]) {
		t.Fatalf("worker %s outlived the server", q["pid"])
	}
	e.produce(250)
	t0 = time.Now()
	stop = start()
	defer stop()
	if res := e.sql("SHOW TABLES IN sales.eu")[0]; len(res.Rows) != 1 || res.Rows[0][1] != e.table {
		t.Fatalf("catalog after restart: SHOW TABLES = %v", res.Rows)
	}
	q = e.waitQuery("running after the restart", func(q map[string]string) bool { return q["status"] == "running" && q["id"] == qid })
	e.waitRows("after the server restart")
	t.Logf("records produced while the server was down in the table %v after it started again", time.Since(t0).Round(100*time.Millisecond))
	t.Logf("%d records produced, %d kept by the query, each written once", e.nextID, e.expected())
}
