//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/testdata"
)

// shareSQL shares the pipeline's table (with history) and a table
// registered by LOCATION on local disk with the recipient acme; %s is the
// local table's path.
const shareSQL = `CREATE TABLE sales.eu.snap LOCATION 'file://%s';
CREATE SHARE partners;
ALTER SHARE partners ADD TABLE sales.eu.big_orders WITH HISTORY;
ALTER SHARE partners ADD TABLE sales.eu.snap AS golden.snap WITH HISTORY;
CREATE RECIPIENT acme;
GRANT SELECT ON SHARE partners TO RECIPIENT acme;
`

// sharedPipelineSQL is pipelineSQL with the table partitioned by segment
// and the Kafka metadata of each record selected too.
func sharedPipelineSQL(t *testing.T, brokers, topic string) string {
	t.Helper()
	sql := fmt.Sprintf(pipelineSQL, brokers, topic)
	for _, r := range [][2]string{
		{"WITH ('flush.interval' = '1s') AS", "WITH ('flush.interval' = '1s', 'partitioned.by' = 'segment') AS"},
		{"END AS segment\n", "END AS segment,\n         kafka_partition, kafka_offset, kafka_timestamp, kafka_key\n"},
	} {
		if !strings.Contains(sql, r[0]) {
			t.Fatalf("pipelineSQL no longer holds %q", r[0])
		}
		sql = strings.Replace(sql, r[0], r[1], 1)
	}
	return sql
}

// inKafka reads the topic back from the start until it holds n records,
// and returns them by id (their key).
func inKafka(t *testing.T, k *testenv.KafkaEnv, topic string, n int) map[int]*kgo.Record {
	t.Helper()
	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := map[int]*kgo.Record{}
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back %d of %d records from %s", len(recs), n, topic)
		}
		fs.EachRecord(func(r *kgo.Record) {
			id, err := strconv.Atoi(string(r.Key))
			if err != nil {
				t.Fatalf("record key %q", r.Key)
			}
			recs[id] = r
		})
	}
	return recs
}

// expectedOrder is the row the pipeline (sharedPipelineSQL) writes for
// record r (the id-th produced), in the oracles' canonical form, and
// whether its WHERE keeps the record.
func expectedOrder(id int, r *kgo.Record) (map[string]any, bool) {
	cents, country := order(id)
	if (country != "DE" && country != "NL") || cents < 10000 {
		return nil, false
	}
	segment := "small"
	if cents >= 100000 {
		segment = "large"
	}
	return map[string]any{
		"id":              float64(id),
		"customer_lc":     fmt.Sprintf("cust-%d", id),
		"doubled":         fmt.Sprintf("%d.%02d", 2*cents/100, 2*cents%100),
		"segment":         segment,
		"kafka_partition": float64(r.Partition),
		"kafka_offset":    float64(r.Offset),
		"kafka_timestamp": r.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"kafka_key":       "b64:" + base64.StdEncoding.EncodeToString(r.Key),
	}, true
}

// expectedOrders are the canonical rows of records from..to, sorted.
func expectedOrders(t *testing.T, recs map[int]*kgo.Record, from, to int) []any {
	t.Helper()
	var rows []any
	for id := from; id <= to; id++ {
		if r, ok := expectedOrder(id, recs[id]); ok {
			rows = append(rows, r)
		}
	}
	rows, err := testenv.SortRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// leakCheck is a reverse proxy in front of the server, recording what it
// answers: every response (headers and body) is searched for the S3 keys.
// The access key ID is expected only where SigV4 presigning puts it, in
// the X-Amz-Credential parameter of presigned URLs.
type leakCheck struct {
	accessKey, secretKey string
	backend              atomic.Pointer[httputil.ReverseProxy]

	mu        sync.Mutex
	responses map[string]int // by the path's first segment
	presigned int            // responses carrying presigned URLs
	leaks     []string
}

func (l *leakCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := l.backend.Load()
	if p == nil {
		http.Error(w, "backend not up yet", http.StatusServiceUnavailable)
		return
	}
	p.ServeHTTP(w, r)
}

// to points the proxy at the server's URL.
func (l *leakCheck) to(t *testing.T, server string) {
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	director := p.Director
	p.Director = func(r *http.Request) {
		director(r)
		r.Header.Del("Accept-Encoding") // bodies in clear, to be searched
	}
	p.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		l.inspect(resp.Request.URL.Path, resp.Header, body)
		return nil
	}
	l.backend.Store(p)
}

func (l *leakCheck) inspect(path string, h http.Header, body []byte) {
	var all bytes.Buffer
	h.Write(&all)
	all.Write(body)
	text := all.String()
	credential := strings.Count(text, "X-Amz-Credential="+l.accessKey)
	l.mu.Lock()
	defer l.mu.Unlock()
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	l.responses[seg]++
	if credential > 0 {
		l.presigned++
	}
	if strings.Contains(text, l.secretKey) {
		l.leaks = append(l.leaks, path+": the S3 secret key")
	}
	if strings.Count(text, l.accessKey) > credential {
		l.leaks = append(l.leaks, path+": the S3 access key outside a presigned URL's X-Amz-Credential")
	}
}

// newQueryE2E sets up the pipeline of pipelineSQL: a topic of 3
// partitions, a producer, the table's place in bucket, the server's
// AWS_* environment (MinIO) and its bootstrap admin token.
func newQueryE2E(t *testing.T, k *testenv.KafkaEnv, s3 *testenv.S3Env, bucket string) *queryE2E {
	t.Helper()
	for _, kv := range append(s3.AWSEnv(), "AWS_S3_FORCE_PATH_STYLE=true") {
		name, v, _ := strings.Cut(kv, "=")
		t.Setenv(name, v)
	}
	e := &queryE2E{t: t, s3: s3, token: catalog.NewUserToken(), topic: k.NewTopic(t, 3),
		table: "s3://" + bucket + "/lake/sales/eu/big_orders"}
	e.prod = k.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", e.token)
	return e
}

// connectorResult is one result of deploy/testenv/oracles/sharing_client.py.
type connectorResult struct {
	Tables []string `json:"tables"`
	Rows   []any    `json:"rows"`
	Error  string   `json:"error"`
}

// connectorRun is a run of the driver script: its ops and their results.
type connectorRun struct {
	t   *testing.T
	ops []map[string]any
	res []connectorResult
}

// runConnector runs the real delta-sharing connector through the driver
// script, one result per op.
func runConnector(t *testing.T, py, profile string, ops []map[string]any) *connectorRun {
	t.Helper()
	spec, _ := json.Marshal(map[string]any{"profile": profile, "ops": ops})
	cmd := exec.Command(py, filepath.Join(testenv.OracleDir(), "sharing_client.py"))
	cmd.Stdin = bytes.NewReader(spec)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sharing client: %v\n%s", err, stderr.String())
	}
	var res []connectorResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != len(ops) {
		t.Fatalf("sharing client output (%d results for %d ops): %v\n%.3000s", len(res), len(ops), err, stdout.String())
	}
	return &connectorRun{t: t, ops: ops, res: res}
}

// rows are op i's rows, sorted; an error of the op fails the test.
func (c *connectorRun) rows(i int) []any {
	c.t.Helper()
	if c.res[i].Error != "" {
		c.t.Fatalf("op %d %v: %s", i, c.ops[i], c.res[i].Error)
	}
	rows, err := testenv.SortRows(c.res[i].Rows)
	if err != nil {
		c.t.Fatal(err)
	}
	return rows
}

// same checks that op i read exactly want (sorted).
func (c *connectorRun) same(i int, want []any) {
	c.t.Helper()
	if got := c.rows(i); !reflect.DeepEqual(got, want) {
		c.t.Errorf("op %d %v: %d rows, want %d\n got %.1500v\nwant %.1500v", i, c.ops[i], len(got), len(want), got, want)
	}
}

// subset checks that op i read distinct rows of all, among them every row
// of all that keep accepts, and returns them.
func (c *connectorRun) subset(i int, all []any, keep func(map[string]any) bool) []any {
	c.t.Helper()
	got := c.rows(i)
	seen := map[string]bool{}
	wanted := map[string]bool{}
	for _, r := range all {
		wanted[rowKey(r)] = true
	}
	for _, r := range got {
		k := rowKey(r)
		if !wanted[k] || seen[k] {
			c.t.Errorf("op %d %v: row %s is not an expected row, or comes twice", i, c.ops[i], k)
		}
		seen[k] = true
	}
	for _, r := range all {
		if keep(r.(map[string]any)) && !seen[rowKey(r)] {
			c.t.Errorf("op %d %v: row %s missing", i, c.ops[i], rowKey(r))
		}
	}
	return got
}

// rowKey is a row's JSON text (map keys sorted).
func rowKey(r any) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// TestSharingEndToEnd (issue #5): records produced to a real Kafka topic
// in two batches flow through `sluice serve` (a supervised worker running a
// CREATE TABLE AS SELECT with a WHERE, computed columns and the Kafka
// metadata, partitioned) into a Delta table on MinIO, shared over Delta
// Sharing; the real Python connector, with the profile `sluice sql
// --profile-out` wrote, reads exactly the rows expected from the records
// read back from Kafka: list_all_tables, load_as_pandas with and without
// limit and jsonPredicateHints (statistics and partition) in parquet and
// delta format, the change data feed from version 0 and from the second
// batch, time travel by version and by timestamp to the version that held
// the first batch. A LOCATION table on local disk is served through signed
// /files/ URLs and reads as delta-rs reads it. A recipient whose grant was
// revoked sees nothing; file URLs and page tokens survive a server
// restart; no answer of the server carries the S3 secret key (or the
// access key, outside presigned URLs' X-Amz-Credential).
func TestSharingEndToEnd(t *testing.T) {
	k := testenv.Kafka(t)
	s3 := testenv.MinIO(t)
	py := testenv.Python(t)
	golden := testdata.Path("delta-golden", "snapshot-data3")
	if _, err := os.Stat(filepath.Join(golden, "_delta_log")); err != nil {
		t.Fatalf("golden table: %v (see testdata/delta-golden/README.md)", err)
	}
	bucket := s3.NewBucket(t)
	e := newQueryE2E(t, k, s3, bucket)

	// Everything goes through the leak check: the public URL (in profiles
	// and /files/ URLs) is the proxy's, and so is the admin's.
	leak := &leakCheck{accessKey: s3.AccessKey, secretKey: s3.SecretKey, responses: map[string]int{}}
	proxy := httptest.NewServer(leak)
	defer proxy.Close()
	dir := t.TempDir()
	serveArgs := []string{"--warehouse", "s3://" + bucket + "/lake", "--public-url", proxy.URL}
	server, stop := startServe(t, dir, serveArgs...)
	defer func() { stop() }()
	leak.to(t, server)
	e.url = proxy.URL
	t0 := time.Now()

	e.sql(sharedPipelineSQL(t, strings.Join(k.Brokers, ","), e.topic))
	profiles := t.TempDir()
	issue := func(name, stmts string) string {
		t.Helper()
		return issueProfile(t, e.url, e.token, filepath.Join(profiles, name+".share"), stmts)
	}
	acme := issue("acme", fmt.Sprintf(shareSQL, strings.ReplaceAll(golden, "'", "''")))
	globex := issue("globex", "CREATE RECIPIENT globex; GRANT SELECT ON SHARE partners TO RECIPIENT globex")
	var prof struct{ Endpoint, BearerToken string }
	if b, err := os.ReadFile(acme); err != nil || json.Unmarshal(b, &prof) != nil || prof.Endpoint != proxy.URL+"/delta-sharing/" {
		t.Fatalf("profile %s: %v %+v", acme, err, prof)
	}

	// Two batches: the version that held all of the first batch, and
	// nothing of the second, is the time-travel target.
	e.produce(200)
	e.waitRows("first batch")
	recs := inKafka(t, k, e.topic, e.nextID)
	first := testenv.DeltaRs(t, s3.AWSEnv(), []string{e.table})[0]
	len1 := e.nextID
	batch1 := expectedOrders(t, recs, 1, len1)
	t.Logf("first batch (%d of 200 records kept) readable %v after the SQL; table at version %d", len(batch1), time.Since(t0).Round(100*time.Millisecond), first.Version)
	e.produce(200)
	e.waitRows("second batch")
	recs = inKafka(t, k, e.topic, e.nextID)
	last := testenv.DeltaRs(t, s3.AWSEnv(), []string{e.table})[0]
	want := expectedOrders(t, recs, 1, e.nextID)
	if first.Error != "" || last.Error != "" || first.Version < 1 || last.Version <= first.Version || int(first.NumRecords) != len(batch1) || int(last.NumRecords) != len(want) {
		t.Fatalf("table history: first batch at %+v, second at %+v; want %d then %d rows in later versions", first, last, len(batch1), len(want))
	}
	snapRs := testenv.DeltaRs(t, nil, []string{golden}, "--rows")[0]
	if snapRs.Error != "" || len(snapRs.Rows) == 0 {
		t.Fatalf("delta-rs on %s: %+v", golden, snapRs)
	}
	snapWant, _ := testenv.SortRows(snapRs.Rows)

	// globex was granted the share, then the grant was revoked.
	shares := func(profile string) int {
		code, _ := recipientCall(t, profile, "GET", "shares/partners/all-tables", "")
		return code
	}
	if code := shares(globex); code != http.StatusOK {
		t.Fatalf("granted recipient globex: all-tables answered %d", code)
	}
	e.sql("REVOKE SELECT ON SHARE partners FROM RECIPIENT globex")
	if code := shares(globex); code != http.StatusNotFound {
		t.Fatalf("revoked recipient globex: all-tables answered %d, want 404", code)
	}

	const orders, snap = "partners.eu.big_orders", "partners.golden.snap"
	mid := float64(e.nextID / 2)
	hint := fmt.Sprintf(`{"op":"greaterThan","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"%d","valueType":"long"}]}`, int(mid))
	large := `{"op":"equal","children":[{"op":"column","name":"segment","valueType":"string"},{"op":"literal","value":"large","valueType":"string"}]}`
	ops := []map[string]any{
		0:  {"op": "list_all_tables"},
		1:  {"op": "load", "table": orders},
		2:  {"op": "load", "table": orders, "use_delta_format": true},
		3:  {"op": "load", "table": orders, "limit": 7},
		4:  {"op": "load", "table": orders, "limit": 7, "use_delta_format": true},
		5:  {"op": "load", "table": orders, "jsonPredicateHints": hint},
		6:  {"op": "load", "table": orders, "jsonPredicateHints": hint, "use_delta_format": true},
		7:  {"op": "changes", "table": orders, "starting_version": 0},
		8:  {"op": "changes", "table": orders, "starting_version": 0, "use_delta_format": true},
		9:  {"op": "load", "table": orders, "version": first.Version},
		10: {"op": "load", "table": orders, "version": first.Version, "use_delta_format": true},
		11: {"op": "load", "table": snap},
		12: {"op": "load", "table": snap, "use_delta_format": true},
		13: {"op": "list_all_tables", "profile": globex},
		14: {"op": "load", "table": orders, "profile": globex},
		15: {"op": "changes", "table": orders, "starting_version": first.Version + 1},
		16: {"op": "load", "table": orders, "version": 0},
		17: {"op": "load", "table": orders, "jsonPredicateHints": large},
		18: {"op": "load", "table": orders, "jsonPredicateHints": large, "use_delta_format": true},
	}
	t1 := time.Now()
	c := runConnector(t, py, acme, ops)
	res := c.res
	t.Logf("%d connector calls in %v", len(ops), time.Since(t1).Round(100*time.Millisecond))

	if res[0].Error != "" || !reflect.DeepEqual(res[0].Tables, []string{orders, snap}) {
		t.Errorf("list_all_tables = %v %s", res[0].Tables, res[0].Error)
	}
	c.same(1, want)
	c.same(2, want)
	for _, i := range []int{3, 4} {
		if got := c.subset(i, want, func(map[string]any) bool { return false }); len(got) != 7 {
			t.Errorf("op %d %v: %d rows, want 7", i, ops[i], len(got))
		}
	}
	for _, i := range []int{5, 6} {
		got := c.subset(i, want, func(r map[string]any) bool { return r["id"].(float64) > mid })
		t.Logf("op %d: jsonPredicateHints id > %v: %d rows of %d (%d match)", i, mid, len(got), len(want), len(expectedOrders(t, recs, int(mid)+1, e.nextID)))
	}
	for _, i := range []int{17, 18} {
		got := c.subset(i, want, func(r map[string]any) bool { return r["segment"] == "large" })
		t.Logf("op %d: jsonPredicateHints on the partition column segment = 'large': %d rows of %d", i, len(got), len(want))
	}
	for _, i := range []int{7, 8} {
		checkChanges(t, i, c.rows(i), want, batch1, first.Version, last.Version)
	}
	c.same(9, batch1)
	c.same(10, batch1)
	c.same(11, snapWant)
	c.same(12, snapWant)
	checkChanges(t, 15, c.rows(15), expectedOrders(t, recs, len1+1, e.nextID), nil, first.Version, last.Version)
	c.same(16, []any{})
	if res[13].Error != "" || len(res[13].Tables) != 0 {
		t.Errorf("revoked recipient: list_all_tables = %v %s, want none", res[13].Tables, res[13].Error)
	}
	if !strings.Contains(res[14].Error, "404") {
		t.Errorf("revoked recipient: load = %d rows, error %q; want a 404", len(res[14].Rows), res[14].Error)
	}

	// By timestamp: the commit times the feed gave, as a client would use
	// them; and names in another case.
	stamp := func(v int64) string {
		t.Helper()
		for _, r := range res[7].Rows {
			m := r.(map[string]any)
			if m["_commit_version"] == float64(v) {
				ms, ok := m["_commit_timestamp"].(float64) // epoch milliseconds
				if !ok {
					t.Fatalf("_commit_timestamp %v of version %d: want milliseconds", m["_commit_timestamp"], v)
				}
				ts := time.UnixMilli(int64(ms))
				return ts.UTC().Format("2006-01-02T15:04:05.000Z")
			}
		}
		t.Fatalf("no change of version %d in the feed", v)
		return ""
	}
	c = runConnector(t, py, acme, []map[string]any{
		{"op": "load", "table": orders, "timestamp": stamp(first.Version)},
		{"op": "changes", "table": orders, "starting_timestamp": stamp(first.Version + 1)},
		{"op": "load", "table": strings.ToUpper(orders), "use_delta_format": true},
	})
	c.same(0, batch1)
	checkChanges(t, 1, c.rows(1), expectedOrders(t, recs, len1+1, e.nextID), nil, first.Version, last.Version)
	c.same(2, want)

	// A restart: the keys kept in the data dir keep the file URLs and page
	// tokens handed out before it valid, and the recipient reads on.
	const snapQuery, ordersQuery = "shares/partners/schemas/golden/tables/snap/query", "shares/partners/schemas/eu/tables/big_orders/query"
	_, answer := recipientCall(t, acme, "POST", snapQuery, "{}")
	fileURL := ndjson(t, answer, "file")["url"].(string)
	_, answer = recipientCall(t, acme, "POST", ordersQuery, `{"maxFiles": 1}`)
	pageToken := ndjson(t, answer, "endStreamAction")["nextPageToken"].(string)
	_, fileBefore := recipientCall(t, acme, "GET", fileURL, "")
	stop()
	server, stop = startServe(t, dir, serveArgs...)
	leak.to(t, server)
	if code, fileAfter := recipientCall(t, acme, "GET", fileURL, ""); code != http.StatusOK || !bytes.Equal(fileAfter, fileBefore) || len(fileBefore) == 0 {
		t.Errorf("file URL of before the restart: %d, %d bytes (%d before)", code, len(fileAfter), len(fileBefore))
	}
	if code, answer := recipientCall(t, acme, "POST", ordersQuery, `{"maxFiles": 1, "pageToken": "`+pageToken+`"}`); code != http.StatusOK || ndjson(t, answer, "file") == nil {
		t.Errorf("page token of before the restart: %d\n%s", code, answer)
	}
	c = runConnector(t, py, acme, []map[string]any{{"op": "load", "table": orders}, {"op": "load", "table": snap}})
	c.same(0, want)
	c.same(1, snapWant)

	leak.mu.Lock()
	defer leak.mu.Unlock()
	t.Logf("responses through the leak check: %v, %d with presigned S3 URLs; %d records produced, %d kept, %v in all", leak.responses, leak.presigned, e.nextID, len(want), time.Since(t0).Round(100*time.Millisecond))
	for _, l := range leak.leaks {
		t.Errorf("leak: %s", l)
	}
	if leak.responses["delta-sharing"] == 0 || leak.responses["files"] == 0 || leak.presigned == 0 || leak.responses["api"] == 0 {
		t.Errorf("the leak check saw too little: %v, %d presigned", leak.responses, leak.presigned)
	}
}

// recipientCall sends a request with the token of a recipient's profile to
// target, an absolute URL or a path under the profile's endpoint, and
// returns the status and body.
func recipientCall(t *testing.T, profile, method, target, body string) (int, []byte) {
	t.Helper()
	var p struct{ Endpoint, BearerToken string }
	b, err := os.ReadFile(profile)
	if err != nil || json.Unmarshal(b, &p) != nil {
		t.Fatalf("profile %s: %v", profile, err)
	}
	if !strings.HasPrefix(target, "http") {
		target = p.Endpoint + target
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.BearerToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// ndjson returns the object under key in the first line of a protocol
// answer that has it, failing the test if none has.
func ndjson(t *testing.T, answer []byte, key string) map[string]any {
	t.Helper()
	for _, line := range bytes.Split(answer, []byte("\n")) {
		var m map[string]map[string]any
		if json.Unmarshal(line, &m) == nil && m[key] != nil {
			return m[key]
		}
	}
	t.Fatalf("no %q line in the answer:\n%.2000s", key, answer)
	return nil
}

// checkChanges checks a change data feed from version 0 of the pipeline's
// append-only table: each expected row exactly once, as an insert of a
// version up to last (up to first for the first batch's rows, after it
// for the others), with one commit timestamp per version, not decreasing.
func checkChanges(t *testing.T, op int, got, want, batch1 []any, first, last int64) {
	t.Helper()
	inFirst := map[string]bool{}
	for _, r := range batch1 {
		inFirst[rowKey(r)] = true
	}
	stamps := map[float64]any{}
	var rows []any
	for _, r := range got {
		m := r.(map[string]any)
		v, _ := m["_commit_version"].(float64)
		ts := m["_commit_timestamp"]
		if prev, ok := stamps[v]; (ok && prev != ts) || ts == nil || m["_change_type"] != "insert" || v < 1 || v > float64(last) {
			t.Errorf("op %d: change %v (version %v had timestamp %v); want inserts of versions 1..%d, one timestamp each", op, m, v, prev, last)
		}
		stamps[v] = ts
		for _, c := range []string{"_change_type", "_commit_version", "_commit_timestamp"} {
			delete(m, c)
		}
		if inFirst[rowKey(m)] != (v <= float64(first)) {
			t.Errorf("op %d: row %v changed at version %v; the first batch was complete at version %d and only it", op, m, v, first)
		}
		rows = append(rows, m)
	}
	versions := slices.Sorted(maps.Keys(stamps))
	for i := 1; i < len(versions); i++ {
		a, b := stamps[versions[i-1]], stamps[versions[i]]
		af, aok := a.(float64) // epoch milliseconds (parquet format)
		bf, bok := b.(float64)
		as, _ := a.(string) // canonical timestamps (delta format)
		bs, _ := b.(string)
		if (aok && bok && af > bf) || (!aok && !bok && as > bs) || aok != bok {
			t.Errorf("op %d: commit timestamp of version %v (%v) after that of version %v (%v)", op, versions[i-1], a, versions[i], b)
		}
	}
	rows, _ = testenv.SortRows(rows)
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("op %d: %d changes, want the %d rows each once\n got %.1500v\nwant %.1500v", op, len(rows), len(want), rows, want)
	}
}

// TestLeakCheck: the end-to-end test's leak check finds the S3 keys in
// headers and bodies, and allows the access key ID only in a presigned
// URL's X-Amz-Credential.
func TestLeakCheck(t *testing.T) {
	const ak, sk = "AKIDEXAMPLE1", "s3cr3t/Example+Key"
	presigned := `{"file":{"url":"http://s3/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=` + ak + `%2F20261122%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab"}}`
	for _, tc := range []struct {
		name      string
		header    http.Header
		body      string
		leaks     int
		presigned int
	}{
		{"clean", http.Header{"Content-Type": {"application/json"}}, `{"share":{"name":"partners"}}`, 0, 0},
		{"presigned URL", nil, presigned, 0, 1},
		{"secret in the body", nil, `{"error":"bad key ` + sk + `"}`, 1, 0},
		{"secret in a header", http.Header{"X-Debug": {sk}}, `{}`, 1, 0},
		{"access key in a message", nil, `{"message":"access key ` + ak + ` denied"}`, 1, 0},
		{"access key beside a presigned URL", nil, presigned + "\n" + `{"key":"` + ak + `"}`, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &leakCheck{accessKey: ak, secretKey: sk, responses: map[string]int{}}
			l.inspect("/delta-sharing/shares", tc.header, []byte(tc.body))
			if len(l.leaks) != tc.leaks || l.presigned != tc.presigned || l.responses["delta-sharing"] != 1 {
				t.Fatalf("leaks %v, %d presigned, responses %v; want %d leaks, %d presigned", l.leaks, l.presigned, l.responses, tc.leaks, tc.presigned)
			}
		})
	}
}

// issueProfile runs stmts through `sluice sql` against server and returns
// path, where the recipient profile the statements made was written.
func issueProfile(t *testing.T, server, token, path, stmts string) string {
	t.Helper()
	var o, errb syncBuffer
	if code := run(t.Context(), []string{"sql", "--server", server, "--token", token, "--profile-out", path, "-e", stmts}, &o, &errb); code != 0 {
		t.Fatalf("sluice sql: exit %d\n%s\n%s", code, o.String(), errb.String())
	}
	return path
}
