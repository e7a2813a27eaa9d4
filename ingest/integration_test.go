package ingest

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sluiceBinary builds cmd/sluice once per test process.
func sluiceBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sluice")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// e2e is one end-to-end fixture: a topic on the real broker and a table on MinIO.
type e2e struct {
	t      *testing.T
	kafka  *testenv.KafkaEnv
	s3     *testenv.S3Env
	topic  string
	bucket string
	table  string
	spec   string // spec file
	prod   *kgo.Client
	nextID atomic.Int64
	mu     sync.Mutex
	sent   map[string]bool // keys produced (acked)
	bad    int
}

func newE2E(t *testing.T, partitions int, flush string) *e2e {
	k := testenv.Kafka(t)
	s3env := testenv.MinIO(t)
	e := &e2e{t: t, kafka: k, s3: s3env, topic: k.NewTopic(t, partitions), bucket: s3env.NewBucket(t), sent: map[string]bool{}}
	e.table = "s3://" + e.bucket + "/warehouse/orders"
	e.prod = k.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	spec := fmt.Sprintf(`query: orders
source:
  brokers: [%q]
  topic: %s
decode:
  format: json
  columns:
    - {name: id, type: BIGINT, nullable: false}
    - {name: customer, type: STRING}
    - {name: amount, type: "DECIMAL(12,2)"}
    - {name: placed_at, type: TIMESTAMP}
    - {name: tags, type: "ARRAY<STRING>"}
    - {name: kafka_topic, meta: topic}
    - {name: kafka_partition, meta: partition}
    - {name: kafka_offset, meta: offset}
    - {name: kafka_timestamp, meta: timestamp}
    - {name: kafka_key, meta: key}
transform:
  filter: {op: "!=", args: [{column: customer}, {literal: "internal", type: STRING}]}
sink:
  table: %s
%s`, k.Brokers[0], e.topic, e.table, flush)
	e.spec = filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(e.spec, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// produce sends n records (every poisonEvery-th a bad one, every
// internalEvery-th filtered out by the query) and waits for the acks.
func (e *e2e) produce(n, poisonEvery, internalEvery int) {
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		id := e.nextID.Add(1)
		key := fmt.Sprintf("k%d", id)
		customer := fmt.Sprintf("c%d", id%97)
		if internalEvery > 0 && id%int64(internalEvery) == 0 {
			customer = "internal"
		}
		v := fmt.Sprintf(`{"id":%d,"customer":%q,"amount":"%d.%02d","placed_at":"2024-05-01T12:%02d:00Z","tags":["a","b%d"]}`, id, customer, id, id%100, id%60, id%7)
		if poisonEvery > 0 && id%int64(poisonEvery) == 0 {
			v = []string{`{"id":"twelve"}`, `{broken json`, `{"customer":"no id"}`}[id%3]
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Key: []byte(key), Value: []byte(v)})
	}
	res := e.prod.ProduceSync(context.Background(), recs...)
	if err := res.FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range res {
		e.sent[string(r.Record.Key)] = true
	}
}

// expected returns the keys that must reach the table and the number of
// dead letters.
func (e *e2e) expected(poisonEvery, internalEvery int) (keep map[string]bool, dead int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	keep = map[string]bool{}
	for k := range e.sent {
		var id int64
		fmt.Sscanf(k, "k%d", &id)
		switch {
		case poisonEvery > 0 && id%int64(poisonEvery) == 0:
			dead++
		case internalEvery > 0 && id%int64(internalEvery) == 0:
		default:
			keep[k] = true
		}
	}
	return keep, dead
}

// worker starts `sluice worker` on the spec.
func (e *e2e) worker() *exec.Cmd {
	cmd := exec.Command(sluiceBinary(e.t), "worker", "--spec", e.spec, "--log-level", "warn")
	cmd.Env = append(os.Environ(), append(e.s3.AWSEnv(), "AWS_S3_FORCE_PATH_STYLE=true", "SLUICE_S3_SSE=aws:kms", "SLUICE_S3_KMS_KEY_ID="+e.s3.KMSKeyID)...)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(e.spec), "worker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	return cmd
}

func (e *e2e) workerLog() string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(e.spec), "worker.log"))
	return string(b)
}

// stop sends SIGTERM and waits for a clean exit.
func (e *e2e) stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			e.t.Fatalf("worker exited with %v\n%s", err, e.workerLog())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		e.t.Fatalf("worker did not stop within 60s\n%s", e.workerLog())
	}
}

// rows reads the table with delta-rs.
func (e *e2e) rows(uri string) testenv.DeltaRsTable {
	rs := testenv.DeltaRs(e.t, e.s3.AWSEnv(), []string{uri}, "--rows")[0]
	if rs.Error != "" {
		e.t.Fatalf("delta-rs on %s: %s", uri, rs.Error)
	}
	return rs
}

// verify checks, with delta-rs, that the table holds exactly the expected
// keys once each with correct metadata columns, and the dead-letter table
// exactly the poison records.
func (e *e2e) verify(poisonEvery, internalEvery int) {
	e.t.Helper()
	keep, dead := e.expected(poisonEvery, internalEvery)
	rs := e.rows(e.table)
	seen := map[string]bool{}
	for _, r := range rs.Rows {
		row := r.(map[string]any)
		key := string(decodeB64(e.t, row["kafka_key"]))
		if seen[key] {
			e.t.Fatalf("key %s written twice", key)
		}
		seen[key] = true
		if !keep[key] {
			e.t.Fatalf("key %s in the table but should not be (filtered or poison)", key)
		}
		if id, _ := row["id"].(float64); row["kafka_topic"] != e.topic || fmt.Sprintf("k%.0f", id) != key {
			e.t.Fatalf("row %v: wrong metadata or id", row)
		}
		if row["customer"] == "internal" {
			e.t.Fatalf("filtered row written: %v", row)
		}
	}
	if len(seen) != len(keep) {
		e.t.Fatalf("table has %d of %d expected records", len(seen), len(keep))
	}
	d := e.rows(e.table + "_dead_letters")
	if len(d.Rows) != dead {
		e.t.Fatalf("dead-letter table has %d rows, want %d", len(d.Rows), dead)
	}
	for _, r := range d.Rows {
		if r.(map[string]any)["error"] == "" {
			e.t.Fatalf("dead letter without reason: %v", r)
		}
	}
}

func decodeB64(t testing.TB, v any) []byte {
	s, _ := v.(string)
	b, err := base64Decode(strings.TrimPrefix(s, "b64:"))
	if err != nil {
		t.Fatalf("kafka_key %v: %v", v, err)
	}
	return b
}

// waitCaughtUp waits until the table holds n rows (delta-rs-free: our log).
func (e *e2e) waitCaughtUp(cmds []*exec.Cmd, n int, d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := e.countRows()
		if got >= int64(n) {
			return
		}
		for _, c := range cmds {
			if c.ProcessState != nil {
				e.t.Fatalf("worker exited early\n%s", e.workerLog())
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("table has %d of %d rows after %s\n%s", got, n, d, tail(e.workerLog(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestEndToEndRealKafka: records produced to a real broker reach a table on
// MinIO exactly once, with the filter applied and the metadata columns right;
// poison records land in the dead-letter table with their reason; a restart
// continues where the table says.
func TestEndToEndRealKafka(t *testing.T) {
	e := newE2E(t, 4, "flush:\n  interval: 1s\n")
	e.produce(3000, 101, 10)
	w := e.worker()
	keep, _ := e.expected(101, 10)
	e.waitCaughtUp([]*exec.Cmd{w}, len(keep), 90*time.Second)
	e.stop(w)
	e.produce(2000, 101, 10)
	w = e.worker()
	keep, _ = e.expected(101, 10)
	e.waitCaughtUp([]*exec.Cmd{w}, len(keep), 90*time.Second)
	e.stop(w)
	e.verify(101, 10)
}

// TestCrashRecovery kills the worker with SIGKILL at random moments, 20
// times, while a producer keeps producing, restarting it each time: no
// record is lost or duplicated.
func TestCrashRecovery(t *testing.T) {
	e := newE2E(t, 4, "flush:\n  interval: 1s\n  maxRows: 400\n")
	stopProducing := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopProducing:
				return
			case <-time.After(20 * time.Millisecond):
				e.produce(100, 97, 0)
			}
		}
	}()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := 0; i < 20; i++ {
		w := e.worker()
		time.Sleep(time.Duration(300+r.IntN(1700)) * time.Millisecond)
		w.Process.Signal(syscall.SIGKILL)
		w.Wait()
	}
	close(stopProducing)
	wg.Wait()
	w := e.worker()
	keep, _ := e.expected(97, 0)
	e.waitCaughtUp([]*exec.Cmd{w}, len(keep), 120*time.Second)
	e.stop(w)
	e.verify(97, 0)
	t.Logf("%d records through 20 SIGKILLs, exactly once", len(keep))
}

// TestRebalance runs two workers of one query in one group; one is killed
// and later restarted while records keep coming: still exactly once.
func TestRebalance(t *testing.T) {
	e := newE2E(t, 6, "flush:\n  interval: 1s\n")
	e.produce(2000, 0, 0)
	a, b := e.worker(), e.worker()
	time.Sleep(3 * time.Second)
	e.produce(2000, 0, 0)
	b.Process.Signal(syscall.SIGKILL)
	b.Wait()
	e.produce(2000, 0, 0)
	time.Sleep(2 * time.Second)
	b = e.worker()
	e.produce(2000, 0, 0)
	keep, _ := e.expected(0, 0)
	e.waitCaughtUp([]*exec.Cmd{a, b}, len(keep), 120*time.Second)
	e.stop(a)
	e.stop(b)
	e.verify(0, 0)
}

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// countRows is the table's record count from its log (file stats).
func (e *e2e) countRows() int64 {
	ctx := context.Background()
	st, err := objstore.Open(ctx, e.table, objstore.WithS3Options(
		objstore.WithEndpoint(e.s3.Endpoint), objstore.WithRegion(e.s3.Region), objstore.WithPathStyle(true),
		objstore.WithStaticCredentials(e.s3.AccessKey, e.s3.SecretKey, "")))
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := deltawriter.New(st).Inspect(ctx)
	if err != nil {
		return 0 // not created yet
	}
	return info.NumRecords
}

// rss returns a process's resident set size in bytes.
func rss(_ testing.TB, pid int) int64 { return procStatusBytes(pid, "VmRSS:") }

// TestBoundedMemoryWhenStorageStalls pauses the object store (SIGSTOP)
// while the producer keeps going: the worker's RSS stays under its
// configured memory limit, and once storage continues every record lands
// exactly once.
func TestBoundedMemoryWhenStorageStalls(t *testing.T) {
	const limit = 96 << 20
	e := newE2E(t, 4, fmt.Sprintf("flush:\n  interval: 1s\n  memoryLimit: %d\n", limit))
	e.s3 = testenv.PrivateMinIO(t)
	c := e.s3.Client()
	e.bucket = "stall"
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &e.bucket}); err != nil {
		t.Fatal(err)
	}
	old := e.table
	e.table = "s3://stall/warehouse/orders"
	b, _ := os.ReadFile(e.spec)
	os.WriteFile(e.spec, []byte(strings.Replace(string(b), old, e.table, 1)), 0o600)

	w := e.worker()
	e.produce(2000, 0, 0)
	keep, _ := e.expected(0, 0)
	e.waitCaughtUp([]*exec.Cmd{w}, len(keep), 60*time.Second)

	syscall.Kill(e.s3.PID, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(e.s3.PID, syscall.SIGCONT)
		}
	}()
	// Produce more than the worker's whole memory budget while storage is
	// stopped; sample the worker's RSS all the while and for a while after.
	var peak int64
	sample := func() {
		if r := rss(t, w.Process.Pid); r > peak {
			peak = r
		}
	}
	for i := 0; i < 120; i++ { // 120 x 5000 records of ~200 bytes: ~120 MB
		e.produce(5000, 0, 0)
		sample()
	}
	for i := 0; i < 25; i++ {
		sample()
		time.Sleep(200 * time.Millisecond)
	}
	syscall.Kill(e.s3.PID, syscall.SIGCONT)
	stopped = false
	keep, _ = e.expected(0, 0)
	t.Logf("produced %d records while storage was stopped; worker peak RSS %d MiB (limit %d MiB)", len(keep), peak>>20, limit>>20)
	if peak > limit {
		t.Fatalf("worker RSS peaked at %d MiB, over its %d MiB limit", peak>>20, limit>>20)
	}
	e.waitCaughtUp([]*exec.Cmd{w}, len(keep), 180*time.Second)
	e.stop(w)
	e.verify(0, 0)
}

// TestRestartAfterSIGKILLStaticMember: a worker started by hand on a spec
// without source.instanceId is a static group member (sluice-<query>), so
// its successor after a SIGKILL gets the partitions back at once. A
// dynamic member's successor waits for the dead member's session timeout
// (45 s) before the group rebalances: the successor must have caught up
// well before that, and the table holds every record exactly once.
func TestRestartAfterSIGKILLStaticMember(t *testing.T) {
	e := newE2E(t, 4, "flush:\n  interval: 1s\n")
	if strings.Contains(mustRead(t, e.spec), "instanceId") {
		t.Fatal("the spec must leave instanceId to the default")
	}
	e.produce(1000, 0, 0)
	w := e.worker()
	keep, _ := e.expected(0, 0)
	e.waitCaughtUp([]*exec.Cmd{w}, len(keep), 90*time.Second)
	for round := 1; round <= 3; round++ {
		w.Process.Signal(syscall.SIGKILL)
		w.Wait()
		e.produce(500, 0, 0)
		keep, _ = e.expected(0, 0)
		start := time.Now()
		w = e.worker()
		// 25 s: the successor's start, one flush interval and commits fit
		// many times; a rebalance that waits out the session does not.
		e.waitCaughtUp([]*exec.Cmd{w}, len(keep), 25*time.Second)
		t.Logf("round %d: the restarted worker caught up in %s", round, time.Since(start).Round(100*time.Millisecond))
	}
	e.stop(w)
	e.verify(0, 0)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
