package sharing

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// BenchmarkQueryScale measures POST .../query over synthetic tables of
// 10k, 100k and (with SLUICE_BENCH_SIZES) 1M files, against a server in
// its own process (this test binary, TestScaleServer), so its peak RSS
// and CPU time are the server's alone. Per size: two fresh servers, one
// answering parquet first and one delta first (cold: the first request of
// a process replays the log), then warm requests of both formats, with
// and without a hint that selects 3 files, alternated with delta-rs
// (deltalake in the test venv) opening the same table in one Python
// process. It prints a markdown table; run through the test script (it
// sets the venv's python):
//
//	deploy/testenv/test.sh -run '^$' -bench QueryScale -benchtime 1x ./serve/sharing/
//	SLUICE_BENCH_SIZES=10000,100000,1000000 deploy/testenv/test.sh -run '^$' -bench QueryScale -benchtime 1x -timeout 60m ./serve/sharing/
//
// Tables are generated once (JSON commits of 50k adds, a checkpoint, one
// commit after it) under ~/.cache/sluice/bench.
func BenchmarkQueryScale(b *testing.B) {
	py := testenv.Python(b)
	sizes := []int{10_000, 100_000}
	if s := os.Getenv("SLUICE_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("SLUICE_BENCH_SIZES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	const rounds = 5
	var table []string
	for _, n := range sizes {
		dir := benchTable(b, n)
		rs := startDeltaRs(b, py, dir)
		row := map[string]string{}
		var rss []int64
		for _, first := range []string{formatParquet, formatDelta} {
			srv := startScaleServer(b, dir)
			other := map[string]string{formatParquet: formatDelta, formatDelta: formatParquet}[first]
			cold := srv.query(b, first, "", n)
			row["cold "+first] = cold.String()
			var warm = map[string][]timing{}
			var rsTimes []time.Duration
			for r := 0; r < rounds; r++ {
				for _, f := range []string{first, other} {
					warm[f] = append(warm[f], srv.query(b, f, "", n))
				}
				warm["hint"] = append(warm["hint"], srv.query(b, formatParquet, benchHint(n), 3))
				warm["nohint"] = append(warm["nohint"], srv.query(b, formatParquet, "", n))
				rsTimes = append(rsTimes, rs.open(b, n))
			}
			if first == formatParquet {
				row["warm parquet"] = median(warm[formatParquet]).String()
				row["warm delta"] = median(warm[formatDelta]).String()
				h, u := median(warm["hint"]), median(warm["nohint"])
				row["hint"] = fmt.Sprintf("%s (%.2f× unhinted)", h.total.Round(100*time.Microsecond), float64(h.total)/float64(u.total))
				d := medianDur(rsTimes)
				row["delta-rs"] = d.Round(time.Millisecond).String()
				row["ratio"] = fmt.Sprintf("%.2f", float64(median(warm[formatParquet]).total)/float64(d))
			}
			rss = append(rss, srv.stop(b))
		}
		row["rss"] = fmt.Sprintf("%d MiB", max(rss[0], rss[1])>>10)
		rs.stop()
		line := fmt.Sprintf("| %d | %s | %s | %s | %s | %s | %s | %s | %s |", n, row["cold parquet"], row["cold delta"], row["warm parquet"], row["warm delta"],
			row["hint"], row["delta-rs"], row["ratio"], row["rss"])
		table = append(table, line)
		fmt.Fprintln(os.Stderr, line)
	}
	fmt.Println("| files | cold parquet | cold delta | warm parquet | warm delta | hint, 3 files, warm | delta-rs open | warm parquet / delta-rs | server peak RSS |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, l := range table {
		fmt.Println(l)
	}
}

// timing is one answer: first byte, total, server CPU.
type timing struct{ first, total, cpu time.Duration }

func (t timing) String() string {
	return fmt.Sprintf("%s / %s (cpu %s)", t.first.Round(100*time.Microsecond), t.total.Round(time.Millisecond), t.cpu.Round(time.Millisecond))
}

func median(ts []timing) timing {
	pick := func(f func(timing) time.Duration) time.Duration {
		ds := make([]time.Duration, len(ts))
		for i, t := range ts {
			ds[i] = f(t)
		}
		return medianDur(ds)
	}
	return timing{pick(func(t timing) time.Duration { return t.first }), pick(func(t timing) time.Duration { return t.total }), pick(func(t timing) time.Duration { return t.cpu })}
}

func medianDur(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// benchHint selects the 3 files of ids 3000..3029 (file i holds ids
// 10i..10i+9).
func benchHint(n int) string {
	lo, hi := 3000, 3029
	if n < 400 {
		lo, hi = 0, 29
	}
	return fmt.Sprintf(`{"op":"and","children":[{"op":"greaterThanOrEqual","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"%d","valueType":"long"}]},`+
		`{"op":"lessThanOrEqual","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"%d","valueType":"long"}]}]}`, lo, hi)
}

// benchTable generates (once) a table of n files: commits of at most 50k
// adds, a checkpoint, and one more commit of 10 adds after it.
func benchTable(b testing.TB, n int) string {
	home, err := os.UserCacheDir()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(home, "sluice", "bench", fmt.Sprintf("query-%d", n))
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir
	}
	// Made beside it and renamed into place: a run that finds it finds it whole.
	final := dir
	dir = fmt.Sprintf("%s.tmp-%d", final, os.Getpid())
	defer os.RemoveAll(dir)
	st, err := objstore.NewLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	head := strings.SplitAfterN(ordersLog[0], "\n", 4)
	var log []string
	var cur strings.Builder
	cur.WriteString(head[0] + head[1] + head[2])
	inCommit := 0
	for i := 0; i < n-10; i++ {
		day := fmt.Sprintf("2026-01-%02d", i%28+1)
		cur.WriteString(addLine(fmt.Sprintf("date=%s/part-%07d-c000.snappy.parquet", day, i), str(day), 1000+int64(i%977), stats(10, i*10, i*10+9)) + "\n")
		if inCommit++; inCommit == 50_000 {
			log, inCommit = append(log, cur.String()), 0
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		log = append(log, cur.String())
	}
	writeLog(b, dir, log)
	snap, err := deltalog.Load(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	if err := deltalog.WriteCheckpoint(ctx, st, snap); err != nil {
		b.Fatal(err)
	}
	var last strings.Builder
	for i := n - 10; i < n; i++ {
		last.WriteString(addLine(fmt.Sprintf("date=2026-01-01/part-%07d-c000.snappy.parquet", i), str("2026-01-01"), 1000, stats(10, i*10, i*10+9)) + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, deltalog.CommitKey(int64(len(log)))), []byte(last.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(dir, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, "ready")); serr != nil { // not made by another run meanwhile
			b.Fatal(err)
		}
	}
	return final
}

// scaleServer is TestScaleServer running in a child process.
type scaleServer struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	url   string
	token string
}

func startScaleServer(b *testing.B, dir string) *scaleServer {
	cmd := exec.Command(os.Args[0], "-test.run=^TestScaleServer$", "-test.v")
	cmd.Env = append(os.Environ(), "SLUICE_SCALE_SERVE="+dir)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &scaleServer{cmd: cmd, in: in}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "SERVING "); ok {
			s.url, s.token, _ = strings.Cut(u, " ")
			break
		}
	}
	if s.url == "" {
		b.Fatal("the server process did not start")
	}
	go io.Copy(io.Discard, out)
	return s
}

// cpu is the server process's user+system time.
func (s *scaleServer) cpu(b *testing.B) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

// query answers one query and checks it has the files expected.
func (s *scaleServer) query(b *testing.B, format, hint string, files int) timing {
	body := `{}`
	if hint != "" {
		body = fmt.Sprintf(`{"jsonPredicateHints":%q}`, hint)
	}
	req, _ := http.NewRequest("POST", s.url+DefaultPrefix+"/shares/q3/schemas/eu/tables/big/query", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set(capsHeader, "responseformat="+format)
	cpu0 := s.cpu(b)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("%d %s", resp.StatusCode, msg)
	}
	rd := bufio.NewReaderSize(resp.Body, 64<<10)
	if _, err := rd.ReadByte(); err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	lines := 0
	for {
		chunk, err := rd.ReadSlice('\n')
		if err == nil {
			lines++
		} else if err != bufio.ErrBufferFull {
			if err != io.EOF || len(chunk) > 0 {
				b.Fatalf("read: %v", err)
			}
			break
		}
	}
	total := time.Since(start)
	if lines != files+2 { // protocol, metadata, files
		b.Fatalf("%d lines, want %d", lines, files+2)
	}
	return timing{first, total, s.cpu(b) - cpu0}
}

// stop ends the server and returns its peak RSS in KiB.
func (s *scaleServer) stop(b *testing.B) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	var kib int64
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kib, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	s.in.Close()
	s.cmd.Wait()
	return kib
}

// TestScaleServer is the server process of BenchmarkQueryScale: without
// SLUICE_SCALE_SERVE it has nothing to do and passes.
func TestScaleServer(t *testing.T) {
	dir := os.Getenv("SLUICE_SCALE_SERVE")
	if dir == "" {
		return // not a child of BenchmarkQueryScale
	}
	e := newEnv(t)
	e.shareTable(dir, "big", true)
	fmt.Printf("SERVING %s %s\n", e.srv.URL, e.tokens["acme"])
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes it
}

// deltaRs is a Python process that opens the table with delta-rs on
// request and answers the time it took.
type deltaRs struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

const deltaRsOpen = `
import json, sys, time
from deltalake import DeltaTable
for line in sys.stdin:
    t = time.perf_counter()
    dt = DeltaTable(sys.argv[1])
    n = len(dt.file_uris())
    print(json.dumps({"seconds": time.perf_counter() - t, "files": n}), flush=True)
`

func startDeltaRs(b *testing.B, py, dir string) *deltaRs {
	cmd := exec.Command(py, "-c", deltaRsOpen, dir)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	d := &deltaRs{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	d.open(b, -1) // the import and first open, not counted
	return d
}

func (d *deltaRs) open(b *testing.B, files int) time.Duration {
	fmt.Fprintln(d.in, "open")
	if !d.out.Scan() {
		b.Fatal("delta-rs process ended")
	}
	var r struct {
		Seconds float64
		Files   int
	}
	if err := json.Unmarshal(d.out.Bytes(), &r); err != nil || (files >= 0 && r.Files != files) {
		b.Fatalf("delta-rs: %s (%v), want %d files", d.out.Bytes(), err, files)
	}
	return time.Duration(r.Seconds * float64(time.Second))
}

func (d *deltaRs) stop() { d.in.Close(); d.cmd.Wait() }

// shareTable registers the table at dir as sales.eu.<name> and adds it to
// share q3 (schema eu).
func (e *env) shareTable(dir, name string, history bool) {
	e.t.Helper()
	err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		if _, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: name, Kind: object.KindTable,
			Location: "file://" + dir, External: true}); err != nil {
			return err
		}
		_, err := tx.AddShareTable("q3", catalog.ShareTable{Table: "sales.eu." + name, WithHistory: history})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
