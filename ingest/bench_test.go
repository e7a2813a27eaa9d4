package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// benchRecord is a ~200-byte, 10-field JSON event.
func benchRecord(i int) []byte {
	return fmt.Appendf(nil, `{"id":%d,"user":"user-%06d","event":"%s","amount":%d.%02d,"qty":%d,"ok":%t,"ts":"2024-05-01T12:%02d:%02d.%03dZ","country":"%s","device":"%s","session":"s-%012x"}`,
		i, i%100000, []string{"click", "view", "purchase", "scroll"}[i%4], i%1000, i%100, i%10, i%3 == 0,
		i%60, i%60, i%1000, []string{"DE", "FR", "US", "JP", "BR"}[i%5], []string{"ios", "android", "web"}[i%3], i*7919)
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

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user+system CPU time of process pid (the broker, MinIO),
// from /proc; 0 if it cannot be read.
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

// resetPeakRSS resets the kernel's peak-RSS mark (VmHWM), so the peak of
// the ingest phase is not the producer's.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM: the peak resident set since the last reset.
func peakRSS() int64 { return procStatusBytes(os.Getpid(), "VmHWM:") }

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

// BenchmarkIngestJSON measures the whole path — real Kafka broker, JSON
// decode, Parquet, MinIO, Delta commits — against a consume-only baseline
// (franz-go reading the same topic and discarding) in the same run.
// Run: deploy/testenv/test.sh -run '^$' -bench IngestJSON -benchtime 1x ./ingest/
func BenchmarkIngestJSON(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SLUICE_BENCH_RECORDS"); s != "" {
		fmt.Sscanf(s, "%d", &n)
	}
	k := testenv.Kafka(b)
	s3env := testenv.MinIO(b)
	topic := k.NewTopic(b, 4)
	prod := k.Client(b, kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	var payload int64
	const chunk = 20000
	for i := 0; i < n; i += chunk {
		recs := make([]*kgo.Record, 0, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			v := benchRecord(j)
			payload += int64(len(v))
			recs = append(recs, &kgo.Record{Topic: topic, Value: v})
		}
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	mb := float64(payload) / 1e6
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		// Baseline: consume everything and discard it.
		bopts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
		// SLUICE_BENCH_BASE_FETCH=MAX,PART gives the baseline fetch limits
		// in MiB and read-committed isolation, as the worker has.
		if f := os.Getenv("SLUICE_BENCH_BASE_FETCH"); f != "" {
			var maxMiB, partMiB int32
			if _, err := fmt.Sscanf(f, "%d,%d", &maxMiB, &partMiB); err != nil {
				b.Fatalf("SLUICE_BENCH_BASE_FETCH=%q: want MAX,PART in MiB: %v", f, err)
			}
			bopts = append(bopts, kgo.FetchMaxBytes(maxMiB<<20), kgo.FetchMaxPartitionBytes(partMiB<<20),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		}
		cl := k.Client(b, bopts...)
		k0, _ := serversCPU()
		cpu0, t0 := cpuTime(), time.Now()
		for got := 0; got < n; {
			got += cl.PollFetches(context.Background()).NumRecords()
		}
		baseWall, baseCPU := time.Since(t0), cpuTime()-cpu0
		k1, _ := serversCPU()
		cl.Close()

		// Sluice: the worker until the table holds every record.
		bucket := s3env.NewBucket(b)
		spec, err := ParseSpec([]byte(fmt.Sprintf("query: bench%d\nsource:\n  brokers: [%q]\n  topic: %s\ndecode:\n  columns:%s\nsink:\n  table: s3://%s/bench\nflush:\n  interval: 1s\n  maxRows: 200000\n",
			it, k.Brokers[0], topic, benchColumns, bucket)))
		if err != nil {
			b.Fatal(err)
		}
		for _, kv := range [][2]string{{"AWS_ENDPOINT_URL", s3env.Endpoint}, {"AWS_ACCESS_KEY_ID", s3env.AccessKey},
			{"AWS_SECRET_ACCESS_KEY", s3env.SecretKey}, {"AWS_REGION", s3env.Region}, {"AWS_S3_FORCE_PATH_STYLE", "true"}} {
			b.Setenv(kv[0], kv[1])
		}
		ctx, cancel := context.WithCancel(context.Background())
		w, err := NewWorker(ctx, spec, WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		st, err := objstore.Open(ctx, spec.Sink.Table)
		if err != nil {
			b.Fatal(err)
		}
		tbl := deltawriter.New(st)
		done := make(chan error, 1)
		// SLUICE_BENCH_MEMLIMIT=1 applies the memory limit `sluice worker`
		// sets (80% of the spec's budget); by default the GC runs free.
		if os.Getenv("SLUICE_BENCH_MEMLIMIT") != "" {
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(spec.Flush.MemoryLimit) * 8 / 10))
		}
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		// SLUICE_BENCH_CPUPROFILE=path profiles the ingest phase alone
		// (-cpuprofile would include producing the topic).
		if p := os.Getenv("SLUICE_BENCH_CPUPROFILE"); p != "" {
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer f.Close()
		}
		k2, m2 := serversCPU()
		cpu0, t0 = cpuTime(), time.Now()
		go func() { done <- w.Run(ctx) }()
		heapDumped := false
		var parquetBytes int64
		for {
			time.Sleep(250 * time.Millisecond)
			info, err := tbl.Inspect(ctx)
			if err == nil && info.NumRecords >= int64(n) {
				parquetBytes = info.SizeBytes
				break
			}
			if p := os.Getenv("SLUICE_BENCH_HEAPPROFILE"); p != "" && !heapDumped && err == nil && info.NumRecords >= int64(n)/2 {
				// A heap profile mid-ingest shows what the live memory is.
				if f, err := os.Create(p); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
				heapDumped = true
			}
		}
		ingWall, ingCPU := time.Since(t0), cpuTime()-cpu0
		k3, m3 := serversCPU()
		if os.Getenv("SLUICE_BENCH_CPUPROFILE") != "" {
			pprof.StopCPUProfile()
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(mb/baseWall.Seconds(), "consume_MB/s")
		b.ReportMetric(mb/ingWall.Seconds(), "ingest_MB/s")
		b.ReportMetric(float64(n)/ingWall.Seconds(), "ingest_records/s")
		b.ReportMetric(mb/ingCPU.Seconds(), "ingest_MB/cpu-s")
		b.ReportMetric(mb/baseCPU.Seconds(), "consume_MB/cpu-s")
		b.ReportMetric(ingWall.Seconds()/baseWall.Seconds(), "ingest/consume_time")
		b.ReportMetric(ingCPU.Seconds()/baseCPU.Seconds(), "ingest/consume_cpu")
		b.ReportMetric(ingCPU.Seconds(), "ingest_cpu-s")
		b.ReportMetric(baseCPU.Seconds(), "consume_cpu-s")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak_RSS_MiB")
		b.ReportMetric(float64(parquetBytes)/1e6, "parquet_MB")
		// The servers share the 2 cores: their CPU bounds the wall rates.
		b.ReportMetric((k1 - k0).Seconds(), "consume_broker_cpu-s")
		b.ReportMetric((k3 - k2).Seconds(), "ingest_broker_cpu-s")
		b.ReportMetric((m3 - m2).Seconds(), "ingest_minio_cpu-s")
	}
}
