package deltawriter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

var writerSchema = deltalog.Struct(
	deltalog.Field{Name: "writer", Type: deltalog.Primitive(deltalog.TypeString), Nullable: false},
	deltalog.Field{Name: "seq", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: false},
)

// writerBatch is rows seq = first..first+n-1 of one writer.
func writerBatch(writer string, first, n int64) arrow.Record {
	as := arrow.NewSchema([]arrow.Field{{Name: "writer", Type: arrow.BinaryTypes.String}, {Name: "seq", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	defer b.Release()
	for i := int64(0); i < n; i++ {
		b.Field(0).(*array.StringBuilder).Append(writer)
		b.Field(1).(*array.Int64Builder).Append(first + i)
	}
	return b.NewRecord()
}

const (
	appendsPerWriter = 10
	rowsPerAppend    = 50
)

// appendAsWriter makes appendsPerWriter commits of rowsPerAppend rows, each
// with txn (writer, i).
func appendAsWriter(ctx context.Context, tbl *Table, writer string) error {
	for i := int64(0); i < appendsPerWriter; i++ {
		rec := writerBatch(writer, i*rowsPerAppend, rowsPerAppend)
		_, err := tbl.Append(ctx, []arrow.Record{rec}, deltalog.Txn{AppID: writer, Version: i})
		rec.Release()
		if err != nil {
			return fmt.Errorf("writer %s append %d: %w", writer, i, err)
		}
	}
	return nil
}

// checkWriterRowsOnce fails the test unless rows (read by delta-rs from a
// table of writerSchema) hold want distinct (writer, seq) rows, each once.
func checkWriterRowsOnce(t *testing.T, rows []any, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		row := r.(map[string]any)
		k := fmt.Sprintf("%v/%v", row["writer"], row["seq"])
		if seen[k] {
			t.Fatalf("delta-rs read row %s twice", k)
		}
		seen[k] = true
	}
	if len(seen) != want {
		t.Fatalf("delta-rs read %d distinct rows, want %d", len(seen), want)
	}
}

// TestHelperWriterProcess is not a test: TestConcurrentWriters runs the test
// binary again with SLUICE_TEST_WRITER set, and this function is then the
// body of a separate writer process.
func TestHelperWriterProcess(t *testing.T) {
	writer := os.Getenv("SLUICE_TEST_WRITER")
	if writer == "" {
		t.Skip("helper process only")
	}
	st, err := objstore.Open(context.Background(), os.Getenv("SLUICE_TEST_TABLE_URI"))
	if err != nil {
		t.Fatal(err)
	}
	if err := appendAsWriter(context.Background(), New(st, WithCheckpoints(true)), writer); err != nil {
		t.Fatal(err)
	}
}

// s3ProcessEnv is the environment a child process needs to open
// s3:// URIs on the test MinIO with SSE-KMS.
func s3ProcessEnv(env *testenv.S3Env) []string {
	return append(env.AWSEnv(), objstore.EnvS3ForcePathStyle+"=true",
		objstore.EnvS3SSE+"=aws:kms", objstore.EnvS3KMSKeyID+"="+env.KMSKeyID)
}

// TestConcurrentWriters has two processes and two goroutines append to one
// table at once, on local disk and on MinIO: every commit lands exactly once,
// versions are contiguous, no add is lost, and delta-rs reads every row once.
func TestConcurrentWriters(t *testing.T) {
	for _, store := range []testStore{localStore(), minioStore()} {
		t.Run(store.name, func(t *testing.T) {
			ctx := context.Background()
			st := store.open(t)
			tbl := New(st)
			if _, err := tbl.Create(ctx, writerSchema, CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			childEnv := []string{"SLUICE_TEST_TABLE_URI=" + store.uri(st)}
			if store.name == "minio" {
				childEnv = append(childEnv, s3ProcessEnv(testenv.MinIO(t))...)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for p := 0; p < 2; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriterProcess$", "-test.count=1")
					cmd.Env = append(append(os.Environ(), childEnv...), fmt.Sprintf("SLUICE_TEST_WRITER=proc-%d", p))
					if out, err := cmd.CombinedOutput(); err != nil {
						errs <- fmt.Errorf("writer process %d: %v\n%s", p, err, out)
					}
				}()
			}
			for g := 0; g < 2; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := appendAsWriter(ctx, New(st), fmt.Sprintf("goroutine-%d", g)); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			snap, err := tbl.Snapshot(ctx) // fails if versions are not contiguous
			if err != nil {
				t.Fatal(err)
			}
			const commits = 4 * appendsPerWriter
			if snap.Version != commits || snap.NumFiles() != commits {
				t.Fatalf("version %d with %d files, want %d and %d", snap.Version, snap.NumFiles(), commits, commits)
			}
			for _, w := range []string{"proc-0", "proc-1", "goroutine-0", "goroutine-1"} {
				if v, ok := snap.TxnVersion(w); !ok || v != appendsPerWriter-1 {
					t.Errorf("txn %s = %d (%v), want %d", w, v, ok, appendsPerWriter-1)
				}
			}
			// Each version holds exactly one add: no commit landed twice or merged.
			for v := int64(1); v <= commits; v++ {
				b, err := objstore.ReadAll(ctx, st, deltalog.CommitKey(v))
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(string(b), `{"add":`); n != 1 {
					t.Fatalf("version %d has %d adds, want 1", v, n)
				}
			}
			if s3st, ok := st.(*objstore.S3); ok {
				assertAllEncrypted(t, testenv.MinIO(t), s3st.Bucket())
			}
			rs := testenv.DeltaRs(t, store.pyEnv(t), []string{store.uri(st)}, "--rows")[0]
			if rs.Error != "" || rs.Version != commits {
				t.Fatalf("delta-rs: version %d, error %q", rs.Version, rs.Error)
			}
			checkWriterRowsOnce(t, rs.Rows, 4*appendsPerWriter*rowsPerAppend)

			// A second commit of the same application transaction, decided on
			// a stale snapshot, is refused with a typed conflict.
			stale, err := tbl.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			commitTxn := func() error {
				_, err := tbl.Commit(ctx, stale, []deltalog.Action{{Txn: &deltalog.Txn{AppID: "proc-0", Version: 99}}}, deltalog.Operation{Name: "WRITE"})
				return err
			}
			if err := commitTxn(); err != nil {
				t.Fatal(err)
			}
			var ce *deltalog.ConflictError
			if err := commitTxn(); !errors.As(err, &ce) {
				t.Fatalf("second commit of txn proc-0 from a stale snapshot: got %v, want ConflictError", err)
			}
		})
	}
}

// TestCrashBeforeCommit: data files written but never committed (a writer
// that died between upload and commit) leave the table readable and
// unchanged; VACUUM removes them once they are older than the retention, and
// never removes a live file, nor one a version within the retention needs.
func TestCrashBeforeCommit(t *testing.T) {
	for _, store := range []testStore{localStore(), minioStore()} {
		t.Run(store.name, func(t *testing.T) {
			ctx := context.Background()
			st := store.open(t)
			tbl := New(st)
			if _, err := tbl.Create(ctx, writerSchema, CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			for i := int64(0); i < 3; i++ {
				rec := writerBatch("live", i*10, 10)
				if _, err := tbl.Append(ctx, []arrow.Record{rec}); err != nil {
					t.Fatal(err)
				}
				rec.Release()
			}
			before, err := tbl.Inspect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The "crash": files uploaded, commit never made.
			snap, _ := tbl.Snapshot(ctx)
			w, err := tbl.NewBatchWriter(ctx, snap)
			if err != nil {
				t.Fatal(err)
			}
			rec := writerBatch("orphan", 0, 100)
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			orphans, err := w.Close()
			if err != nil || len(orphans) != 1 {
				t.Fatalf("orphans %d, %v", len(orphans), err)
			}
			// And an upload cut off mid-file.
			w2, _ := tbl.NewBatchWriter(ctx, snap)
			rec = writerBatch("partial", 0, 100)
			_ = w2.Write(rec)
			rec.Release()
			w2.Abort()

			// And, on local disk, a writer killed mid-upload: its hidden
			// temporary file is all that remains.
			var staleTemp string
			if l, ok := st.(*objstore.Local); ok {
				staleTemp = filepath.Join(l.Root(), ".sluice-tmp-killed-writer")
				if err := os.WriteFile(staleTemp, []byte("PAR1 partial"), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			after, err := tbl.Inspect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Version != before.Version || after.NumFiles != before.NumFiles || after.NumRecords != before.NumRecords {
				t.Fatalf("table changed by an uncommitted write: %+v -> %+v", before, after)
			}
			rs := testenv.DeltaRs(t, store.pyEnv(t), []string{store.uri(st)})[0]
			if rs.Error != "" || rs.NumRecords != 30 || rs.Version != before.Version {
				t.Fatalf("delta-rs after the crash: %+v", rs)
			}

			// Compaction leaves tombstones that time travel still needs.
			if _, err := tbl.Optimize(ctx, OptimizeOptions{TargetFileSize: 1 << 20}); err != nil {
				t.Fatal(err)
			}
			orphanKey, _ := KeyForPath(orphans[0].Path)
			// Within the retention nothing is deleted: the orphan is too young.
			res, err := tbl.Vacuum(ctx, VacuumOptions{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != 0 || len(res.StaleTemp) != 0 {
				t.Fatalf("vacuum within the retention would delete %v and %v", res.Files, res.StaleTemp)
			}
			if _, err := tbl.Vacuum(ctx, VacuumOptions{Retain: time.Hour}); !errors.Is(err, ErrRetentionTooShort) {
				t.Fatalf("vacuum --retain 1h without --force: got %v", err)
			}
			// Eight days later: the orphan and the compacted-away files go,
			// the live (compacted) file stays.
			later := New(st)
			later.cfg.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
			res, err = later.Vacuum(ctx, VacuumOptions{})
			if err != nil {
				t.Fatal(err)
			}
			deleted := map[string]bool{}
			for _, k := range res.Files {
				deleted[k] = true
			}
			if !deleted[orphanKey] || len(res.Files) != 4 { // 1 orphan + 3 compacted files
				t.Fatalf("vacuum deleted %v, want the orphan %s and the 3 compacted files", res.Files, orphanKey)
			}
			if staleTemp != "" {
				if _, err := os.Stat(staleTemp); !errors.Is(err, os.ErrNotExist) || len(res.StaleTemp) != 1 {
					t.Fatalf("stale temporary file not removed (%v): %v", res.StaleTemp, err)
				}
			}
			final, err := tbl.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range final.Files() {
				k, _ := KeyForPath(a.Path)
				if deleted[k] {
					t.Fatalf("vacuum deleted live file %s", k)
				}
			}
			rs = testenv.DeltaRs(t, store.pyEnv(t), []string{store.uri(st)})[0]
			if rs.Error != "" || rs.NumRecords != 30 {
				t.Fatalf("delta-rs after vacuum: %+v", rs)
			}
		})
	}
}

// assertAllEncrypted fails unless every object in the bucket reports
// server-side encryption.
func assertAllEncrypted(t *testing.T, env *testenv.S3Env, bucket string) {
	t.Helper()
	c := env.Client()
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerSideEncryption == "" {
				t.Errorf("object %s is not encrypted at rest", *o.Key)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no objects to check")
	}
	t.Logf("%d objects, all server-side encrypted", n)
}
