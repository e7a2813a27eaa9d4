package fileurl

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/deploy/testenv"
)

// readerScript reads a Parquet file at a URL the way the delta-sharing
// Python client (1.4.2, reader.py _to_pandas) does: pyarrow over an fsspec
// HTTP file system, file by file in batches and as a dataset. It prints
// rows and the sum of column x for each.
const readerScript = `
import sys, fsspec
from pyarrow.parquet import ParquetFile
from pyarrow.dataset import dataset
url = sys.argv[1]
fs = fsspec.filesystem(url.split(":")[0])
f = ParquetFile(url, filesystem=fs)
rows = total = 0
for b in f.iter_batches(batch_size=1000):
    rows += len(b)
    total += sum(b.column("x").to_pylist())
print(rows, total)
t = dataset(source=url, format="parquet", filesystem=fs).to_table()
print(t.num_rows, sum(t.column("x").to_pylist()))
`

// TestReadWithDeltaSharingClientStack: a real reader (pyarrow, fsspec,
// aiohttp, as delta-sharing uses them) reads a Parquet file through a
// signed URL, with Range requests, in a partition directory whose name
// needs escaping.
func TestReadWithDeltaSharingClientStack(t *testing.T) {
	py := testenv.Python(t)
	root := t.TempDir()
	file := "date=2026-11-22/part 0.parquet"
	write := exec.Command(py, "-c", `
import sys, os, pyarrow as pa, pyarrow.parquet as pq
p = sys.argv[1]
os.makedirs(os.path.dirname(p), exist_ok=True)
pq.write_table(pa.table({"x": list(range(100000)), "s": ["v%d" % i for i in range(100000)]}), p, row_group_size=10000)
`, filepath.Join(root, filepath.FromSlash(file)))
	if out, err := write.CombinedOutput(); err != nil {
		t.Fatalf("write parquet: %v\n%s", err, out)
	}

	roots := &Roots{}
	roots.Register(rootID, root)
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		ranged   int
	)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s, err := NewSigner(bytes.Repeat([]byte{7}, KeySize), srv.URL+"/files/")
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler(roots)
	mux.Handle(s.Pattern(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		h.ServeHTTP(rec, r)
		mu.Lock()
		statuses[rec.status]++
		if r.Header.Get("Range") != "" {
			ranged++
		}
		mu.Unlock()
	}))
	u, _, err := s.Sign(rootID, file, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", readerScript, u).CombinedOutput()
	if err != nil {
		t.Fatalf("reader: %v\n%s", err, out)
	}
	want := "100000 4999950000\n100000 4999950000\n"
	if string(out) != want {
		t.Fatalf("reader printed %q, want %q", out, want)
	}
	mu.Lock()
	if ranged == 0 || statuses[206] == 0 || statuses[403]+statuses[404] != 0 {
		t.Errorf("requests: %d with Range, statuses %v; want ranged reads and no refusal", ranged, statuses)
	}
	t.Logf("requests: %d with Range, statuses %v", ranged, statuses)
	mu.Unlock()

	// The same reader with a tampered URL gets nothing.
	bad := strings.Replace(u, "part%200", "part%201", 1)
	if out, err := exec.Command(py, "-c", readerScript, bad).CombinedOutput(); err == nil {
		t.Fatalf("tampered URL read: %s", out)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
