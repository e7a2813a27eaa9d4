package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// benchRecordSize is the size of every benchmark record.
const benchRecordSize = 200

// benchRecord is a 200-byte, 10-field JSON event: the session id's hex
// digits pad it to exactly benchRecordSize.
func benchRecord(i int) []byte {
	v := fmt.Appendf(make([]byte, 0, benchRecordSize), `{"id":%d,"user":"user-%06d","event":"%s","amount":%d.%02d,"qty":%d,"ok":%t,"ts":"2024-05-01T12:%02d:%02d.%03dZ","country":"%s","device":"%s","session":"s-`,
		i, i%100000, []string{"click", "view", "purchase", "scroll"}[i%4], i%1000, i%100, i%10, i%3 == 0,
		i%60, i%60, i%1000, []string{"DE", "FR", "US", "JP", "BR"}[i%5], []string{"ios", "android", "web"}[i%3])
	const hexDigits = "0123456789abcdef"
	for h := uint64(i)*0x9e3779b97f4a7c15 + 1; len(v) < benchRecordSize-2; h = h*6364136223846793005 + 1442695040888963407 {
		v = append(v, hexDigits[h>>60])
	}
	return append(v, '"', '}')
}

const benchColumns = `
    - {name: id, type: BIGINT, nullable: false}
    - {name: user, type: STRING}
    - {name: event, type: STRING}
    - {name: amount, type: DOUBLE}
    - {name: qty, type: INT}
    - {name: ok, type: BOOLEAN}
    - {name: ts, type: TIMESTAMP}
    - {name: country, type: STRING}
    - {name: device, type: STRING}
    - {name: session, type: STRING}`

// procCPU is the user+system CPU time of process pid (the worker, the
// baseline, the broker, MinIO), from /proc/PID/stat (also readable for a
// process that has exited and is not yet reaped); 0 if it cannot be read.
func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscanf(f[11], "%d", &ut)
	fmt.Sscanf(f[12], "%d", &st)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// serversCPU is the CPU time of the broker and MinIO the test environment started.
func serversCPU() (kafka, minio time.Duration) {
	return procCPU(os.Getenv(testenv.EnvKafkaPID)), procCPU(os.Getenv(testenv.EnvMinIOPID))
}

// procStatusBytes reads a memory field (VmRSS:, VmHWM:, in kB) of
// /proc/PID/status, in bytes; 0 if it cannot be read.
func procStatusBytes(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// phase is one process's measured work: wall and CPU time from its first
// record to the end of its work, and its peak RSS.
type phase struct {
	wall, cpu time.Duration
	peakRSS   int64
}

// Environment of the benchmark's child processes: the consume-only
// baseline (TestConsumeBaseline) and the profiled worker (TestBenchWorker).
const (
	envBaseBrokers        = "SLUICE_BENCH_BASE_BROKERS"
	envBaseTopic          = "SLUICE_BENCH_BASE_TOPIC"
	envBaseRecords        = "SLUICE_BENCH_BASE_RECORDS"
	envBenchWorkerSpec    = "SLUICE_BENCH_WORKER_SPEC"
	envBenchWorkerProfile = "SLUICE_BENCH_WORKER_PROFILE"
)

// TestConsumeBaseline is the consume-only baseline of BenchmarkIngestJSON,
// run by it in a child process (this test binary): it reads the topic in a
// consumer group of its own, with the worker's fetch sizes and isolation
// level at the default memory budget, and discards the records. It prints
// "first" at the first record and "done" after the last, then waits for
// stdin to close, so the benchmark reads its CPU time at both points.
// Without the benchmark's environment it does nothing.
func TestConsumeBaseline(t *testing.T) {
	topic := os.Getenv(envBaseTopic)
	if topic == "" {
		return // not run by the benchmark
	}
	var n int
	fmt.Sscanf(os.Getenv(envBaseRecords), "%d", &n)
	opts := append([]kgo.Opt{kgo.SeedBrokers(strings.Split(os.Getenv(envBaseBrokers), ",")...),
		kgo.ConsumeTopics(topic), kgo.ConsumerGroup("baseline-" + strconv.Itoa(os.Getpid())),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, fetchOptions(DefaultMemoryLimit)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for got := 0; got < n; {
		f := cl.PollFetches(context.Background())
		if err := f.Err0(); err != nil {
			t.Fatal(err)
		}
		if got == 0 && f.NumRecords() > 0 {
			fmt.Println("first")
		}
		got += f.NumRecords()
	}
	fmt.Println("done")
	io.Copy(io.Discard, os.Stdin)
}

// runBaseline runs TestConsumeBaseline in a child process and measures it
// from its first record to its last.
func runBaseline(b *testing.B, brokers []string, topic string, n int) phase {
	cmd := exec.Command(os.Args[0], "-test.run=^TestConsumeBaseline$")
	cmd.Env = append(os.Environ(), envBaseBrokers+"="+strings.Join(brokers, ","), envBaseTopic+"="+topic, envBaseRecords+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	pid := strconv.Itoa(cmd.Process.Pid)
	sc := bufio.NewScanner(out)
	var p phase
	var cpu0 time.Duration
	var t0 time.Time
	for sc.Scan() {
		switch sc.Text() {
		case "first":
			cpu0, t0 = procCPU(pid), time.Now()
		case "done":
			p.wall, p.cpu = time.Since(t0), procCPU(pid)-cpu0
			p.peakRSS = procStatusBytes(cmd.Process.Pid, "VmHWM:")
			return p
		}
	}
	b.Fatalf("the baseline process stopped before consuming %d records", n)
	return p
}

// metricValue is the value of a counter in a Prometheus text exposition, -1
// if it is not there.
func metricValue(text, name string) float64 {
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
			f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
			if len(f) > 0 {
				v, err := strconv.ParseFloat(f[0], 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return -1
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runWorker runs `sluice worker` on a spec with the default settings until
// its table holds n records and measures it: wall time from its first
// record to its last, CPU time from its first record until the table holds
// every record (the last file and commit included). SLUICE_BENCH_CPUPROFILE=path runs the same worker
// (RunSpecFile) in this test binary instead (TestBenchWorker), profiled.
func runWorker(b *testing.B, k *testenv.KafkaEnv, s3env *testenv.S3Env, topic, query string, n int) (phase, string) {
	bucket := s3env.NewBucket(b)
	addr := freeAddr(b)
	table := "s3://" + bucket + "/bench"
	spec := fmt.Sprintf("query: %s\nsource:\n  brokers: [%q]\n  topic: %s\ndecode:\n  columns:%s\nsink:\n  table: %s\nmetrics:\n  addr: %s\n",
		query, k.Brokers[0], topic, benchColumns, table, addr)
	dir := b.TempDir()
	specPath := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(specPath, []byte(spec), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(sluiceBinary(b), "worker", "--spec", specPath, "--log-level", "warn")
	if p := os.Getenv("SLUICE_BENCH_CPUPROFILE"); p != "" {
		cmd = exec.Command(os.Args[0], "-test.run=^TestBenchWorker$")
		cmd.Env = append(cmd.Env, envBenchWorkerSpec+"="+specPath, envBenchWorkerProfile+"="+p)
	}
	cmd.Env = append(append(os.Environ(), cmd.Env...), append(s3env.AWSEnv(), "AWS_S3_FORCE_PATH_STYLE=true")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	reaped := false
	defer func() {
		if !reaped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	pid := strconv.Itoa(cmd.Process.Pid)
	var p phase
	var cpu0 time.Duration
	var t0 time.Time
	deadline := time.Now().Add(30 * time.Minute)
	for {
		time.Sleep(20 * time.Millisecond)
		p.peakRSS = max(p.peakRSS, procStatusBytes(cmd.Process.Pid, "VmHWM:"))
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			if time.Now().After(deadline) {
				b.Fatalf("worker metrics at %s: %v", addr, err)
			}
			continue
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		in := metricValue(string(text), "sluice_ingest_records_in_total")
		if in > 0 && t0.IsZero() {
			cpu0, t0 = procCPU(pid), time.Now()
		}
		if in >= float64(n) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("worker consumed %.0f of %d records in 30 minutes", in, n)
		}
	}
	p.wall = time.Since(t0)
	// Every record is consumed and written to the open data file; the last
	// file is finished and committed when the flush interval ends (the
	// wait is not work, so it is left out of the wall time). CPU is read
	// once the table holds every record.
	st, err := objstore.Open(context.Background(), table)
	if err != nil {
		b.Fatal(err)
	}
	tbl := deltawriter.New(st)
	for {
		p.peakRSS = max(p.peakRSS, procStatusBytes(cmd.Process.Pid, "VmHWM:"))
		info, err := tbl.Inspect(context.Background())
		if err == nil && info.NumRecords >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the table holds %d of %d records after 30 minutes (%v)", info.NumRecords, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.cpu = procCPU(pid) - cpu0
	p.peakRSS = max(p.peakRSS, procStatusBytes(cmd.Process.Pid, "VmHWM:"))
	cmd.Process.Signal(syscall.SIGTERM)
	reaped = true
	if err := cmd.Wait(); err != nil {
		b.Fatalf("worker: %v", err)
	}
	return p, table
}

// TestBenchWorker is `sluice worker --spec $SLUICE_BENCH_WORKER_SPEC` (the
// same RunSpecFile, memory limit included) under a CPU profile, for
// BenchmarkIngestJSON with SLUICE_BENCH_CPUPROFILE. It stops on SIGTERM.
// Without that environment it does nothing.
func TestBenchWorker(t *testing.T) {
	spec := os.Getenv(envBenchWorkerSpec)
	if spec == "" {
		return // not run by the benchmark
	}
	f, err := os.Create(os.Getenv(envBenchWorkerProfile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	defer pprof.StopCPUProfile()
	if err := RunSpecFile(ctx, spec, RunOptions{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
}

// median is the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkIngestJSON measures the whole path — real Kafka broker, JSON
// decode, Parquet, MinIO, Delta commits — against a consume-only baseline
// reading the same topic, each in its own process: the worker is the
// `sluice worker` binary with its default settings (flush policy, fetch
// sizes, memory limit); the baseline (TestConsumeBaseline) reads with the
// worker's fetch sizes and isolation level. Rounds alternate baseline and
// worker; the figures are medians of the rounds. Each is measured from the
// process's first record (start-up and the group join left out): wall time
// to its last record (for the worker: decoded and written to the open
// data file), CPU time (/proc/PID/stat) to the end of its work (for the
// worker: the table holds every record, the last file and commit included).
// Run: deploy/testenv/test.sh -run '^$' -bench IngestJSON -benchtime 1x ./ingest/
func BenchmarkIngestJSON(b *testing.B) {
	n, rounds := 5_000_000, 3
	if s := os.Getenv("SLUICE_BENCH_RECORDS"); s != "" {
		fmt.Sscanf(s, "%d", &n)
	}
	if s := os.Getenv("SLUICE_BENCH_ROUNDS"); s != "" {
		fmt.Sscanf(s, "%d", &rounds)
	}
	k := testenv.Kafka(b)
	s3env := testenv.MinIO(b)
	sluiceBinary(b)
	for _, kv := range s3env.AWSEnv() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	b.Setenv("AWS_S3_FORCE_PATH_STYLE", "true")
	topic := k.NewTopic(b, 4)
	prod := k.Client(b, kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	const chunk = 20000
	for i := 0; i < n; i += chunk {
		recs := make([]*kgo.Record, 0, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: benchRecord(j)})
		}
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	mb := float64(n) * benchRecordSize / 1e6
	adm := k.Admin(b)
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		var m = map[string][]float64{}
		add := func(name string, v float64) { m[name] = append(m[name], v) }
		for r := 0; r < rounds; r++ {
			k0, _ := serversCPU()
			base := runBaseline(b, k.Brokers, topic, n)
			k1, m1 := serversCPU()
			query := fmt.Sprintf("bench%d_%d", it, r)
			ing, table := runWorker(b, k, s3env, topic, query, n)
			k2, m2 := serversCPU()
			st, err := objstore.Open(context.Background(), table)
			if err != nil {
				b.Fatal(err)
			}
			info, err := deltawriter.New(st).Inspect(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if info.NumRecords != int64(n) {
				b.Fatalf("round %d: the table holds %d records, want %d", r, info.NumRecords, n)
			}
			adm.DeleteGroup(context.Background(), query) // the groups are not needed again
			b.Logf("round %d: baseline %.2fs wall %.2f cpu-s; worker %.2fs wall %.2f cpu-s, peak RSS %.0f MiB, %d files",
				r, base.wall.Seconds(), base.cpu.Seconds(), ing.wall.Seconds(), ing.cpu.Seconds(), float64(ing.peakRSS)/(1<<20), info.NumFiles)
			add("consume_MB/s", mb/base.wall.Seconds())
			add("ingest_MB/s", mb/ing.wall.Seconds())
			add("ingest_records/s", float64(n)/ing.wall.Seconds())
			add("ingest_MB/cpu-s", mb/ing.cpu.Seconds())
			add("consume_MB/cpu-s", mb/base.cpu.Seconds())
			add("ingest/consume_time", ing.wall.Seconds()/base.wall.Seconds())
			add("ingest/consume_cpu", ing.cpu.Seconds()/base.cpu.Seconds())
			add("ingest_cpu-s", ing.cpu.Seconds())
			add("consume_cpu-s", base.cpu.Seconds())
			add("worker_peak_RSS_MiB", float64(ing.peakRSS)/(1<<20))
			add("consume_peak_RSS_MiB", float64(base.peakRSS)/(1<<20))
			add("parquet_MB", float64(info.SizeBytes)/1e6)
			add("data_files", float64(info.NumFiles))
			// The servers share the 2 cores: their CPU bounds the wall rates
			// (whole phases, start-up included).
			add("consume_broker_cpu-s", (k1 - k0).Seconds())
			add("ingest_broker_cpu-s", (k2 - k1).Seconds())
			add("ingest_minio_cpu-s", (m2 - m1).Seconds())
		}
		for name, vs := range m {
			b.ReportMetric(median(vs), name)
		}
		b.ReportMetric(slices.Max(m["worker_peak_RSS_MiB"]), "worker_max_peak_RSS_MiB")
	}
}

func TestBenchRecord(t *testing.T) {
	for _, i := range []int{0, 1, 9, 12345, 999_999, 4_999_999, 99_999_999} {
		v := benchRecord(i)
		if len(v) != benchRecordSize {
			t.Errorf("benchRecord(%d) is %d bytes, want %d: %s", i, len(v), benchRecordSize, v)
		}
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil || len(m) != 10 {
			t.Errorf("benchRecord(%d) = %s: %d fields, %v", i, v, len(m), err)
		}
	}
}
