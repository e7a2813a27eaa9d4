package deltawriter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// oracle is what delta-rs reports about a table.
type oracle struct {
	Error            string           `json:"error"`
	Version          int64            `json:"version"`
	NumFiles         int              `json:"numFiles"`
	NumRecords       int64            `json:"numRecords"`
	Schema           *deltalog.Schema `json:"schema"`
	PartitionColumns []string         `json:"partitionColumns"`
	Txns             map[string]int64 `json:"txns"`
	Rows             []any            `json:"rows"`
}

// readWithDeltaRs runs the delta-rs oracle on uri.
func readWithDeltaRs(t *testing.T, uri string, env []string, args ...string) oracle {
	t.Helper()
	py := testenv.Python(t)
	cmd := exec.Command(py, append([]string{"testdata/deltars_read.py", uri}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("delta-rs oracle on %s: %v\n%s", uri, err, out)
	}
	var o oracle
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("delta-rs oracle output: %v\n%.2000s", err, out)
	}
	return o
}

// testStore is a table location for the test matrix.
type testStore struct {
	name  string
	open  func(t *testing.T) objstore.Store
	uri   func(st objstore.Store) string
	pyEnv func(t *testing.T) []string
}

func localStore() testStore {
	return testStore{
		name: "local",
		open: func(t *testing.T) objstore.Store {
			st, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		uri:   func(st objstore.Store) string { return st.(*objstore.Local).Root() },
		pyEnv: func(*testing.T) []string { return nil },
	}
}

func minioStore() testStore {
	return testStore{
		name: "minio",
		open: func(t *testing.T) objstore.Store {
			env := testenv.MinIO(t)
			st, err := objstore.NewS3(context.Background(), env.NewBucket(t), "warehouse/t1",
				objstore.WithEndpoint(env.Endpoint), objstore.WithRegion(env.Region), objstore.WithPathStyle(true),
				objstore.WithStaticCredentials(env.AccessKey, env.SecretKey, ""),
				objstore.WithSSE(objstore.SSEModeKMS, env.KMSKeyID))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		uri: func(st objstore.Store) string { return st.URI() },
		pyEnv: func(t *testing.T) []string {
			env := testenv.MinIO(t)
			return []string{"AWS_ENDPOINT_URL=" + env.Endpoint, "AWS_ACCESS_KEY_ID=" + env.AccessKey,
				"AWS_SECRET_ACCESS_KEY=" + env.SecretKey, "AWS_REGION=" + env.Region}
		},
	}
}

// TestDeltaRsReadsWhatWeWrite writes tables of every type (partitioned and
// not, locally and on MinIO), through a checkpoint and an OPTIMIZE, and has
// delta-rs read them back: same version, schema, files and rows.
func TestDeltaRsReadsWhatWeWrite(t *testing.T) {
	for _, store := range []testStore{localStore(), minioStore()} {
		for _, parts := range [][]string{nil, {"p_str", "p_date"}} {
			t.Run(fmt.Sprintf("%s/partitioned=%v", store.name, parts != nil), func(t *testing.T) {
				ctx := context.Background()
				st := store.open(t)
				tbl := New(st, WithTargetFileSize(16<<10))
				schema := allTypesSchema()
				if _, err := tbl.Create(ctx, schema, CreateOptions{Name: "t1", PartitionColumns: parts}); err != nil {
					t.Fatal(err)
				}
				as, err := parquetio.ArrowSchema(schema)
				if err != nil {
					t.Fatal(err)
				}
				var written []arrow.Record
				const commits = 12 // crosses the checkpoint at version 10
				for i := 0; i < commits; i++ {
					rec := genRecord(as, 300, int64(i*300), uint64(i))
					defer rec.Release()
					written = append(written, rec)
					v, err := tbl.Append(ctx, []arrow.Record{rec}, deltalog.Txn{AppID: "q-0", Version: int64(i)})
					if err != nil {
						t.Fatal(err)
					}
					if v != int64(i+1) {
						t.Fatalf("append %d committed version %d", i, v)
					}
				}
				snap, err := tbl.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if snap.CheckpointVersion != 10 {
					t.Fatalf("checkpoint version %d, want 10", snap.CheckpointVersion)
				}
				want, err := testenv.CanonicalRows(written...)
				if err != nil {
					t.Fatal(err)
				}
				check := func(stage string, snap *deltalog.Snapshot) {
					t.Helper()
					o := readWithDeltaRs(t, store.uri(st), store.pyEnv(t), "--rows", "--txn", "q-0")
					if o.Error != "" {
						t.Fatalf("%s: delta-rs failed: %s", stage, o.Error)
					}
					if o.Version != snap.Version || o.NumFiles != snap.NumFiles() {
						t.Fatalf("%s: delta-rs sees version %d with %d files, we wrote %d with %d", stage, o.Version, o.NumFiles, snap.Version, snap.NumFiles())
					}
					if !o.Schema.Equal(schema) {
						t.Fatalf("%s: delta-rs schema %s, want %s", stage, o.Schema, schema)
					}
					if !reflect.DeepEqual(o.PartitionColumns, snap.Metadata.PartitionColumns) {
						t.Fatalf("%s: partition columns %v, want %v", stage, o.PartitionColumns, snap.Metadata.PartitionColumns)
					}
					if o.Txns["q-0"] != commits-1 {
						t.Fatalf("%s: txn q-0 = %d, want %d", stage, o.Txns["q-0"], commits-1)
					}
					got, err := testenv.SortRows(o.Rows)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want) {
						t.Fatalf("%s: delta-rs read %d rows, we wrote %d", stage, len(got), len(want))
					}
					for i := range want {
						if !reflect.DeepEqual(got[i], want[i]) {
							gj, _ := json.Marshal(got[i])
							wj, _ := json.Marshal(want[i])
							t.Fatalf("%s: row %d differs:\ndelta-rs: %s\nwritten:  %s", stage, i, gj, wj)
						}
					}
				}
				check("after appends", snap)

				res, err := tbl.Optimize(ctx, OptimizeOptions{TargetFileSize: 1 << 20})
				if err != nil {
					t.Fatal(err)
				}
				if res.FilesRemoved < 2 || res.FilesAdded >= res.FilesRemoved || res.Version != commits+1 {
					t.Fatalf("optimize: %+v", res)
				}
				snap, err = tbl.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				check("after optimize", snap)

				// Time travel: delta-rs at version 5 sees the first five appends.
				o := readWithDeltaRs(t, store.uri(st), store.pyEnv(t), "--version", "5")
				if o.Version != 5 || o.NumRecords != 5*300 {
					t.Fatalf("version 5: delta-rs sees version %d with %d records, want 1500 (%s)", o.Version, o.NumRecords, o.Error)
				}
			})
		}
	}
}

func TestMain(m *testing.M) {
	// The oracle script is addressed relative to the package directory.
	if _, err := os.Stat("testdata/deltars_read.py"); err != nil && !strings.Contains(os.Args[0], "deltawriter") {
		fmt.Fprintln(os.Stderr, "run from the deltawriter package directory")
		os.Exit(2)
	}
	os.Exit(m.Run())
}
