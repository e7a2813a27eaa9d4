package deltawriter

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

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
		uri:   func(st objstore.Store) string { return st.URI() },
		pyEnv: func(t *testing.T) []string { return testenv.MinIO(t).AWSEnv() },
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
				as, err := deltalog.ArrowSchema(schema)
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
					o := testenv.DeltaRs(t, store.pyEnv(t), []string{store.uri(st)}, "--rows", "--txn", "q-0")[0]
					if o.Error != "" {
						t.Fatalf("%s: delta-rs failed: %s", stage, o.Error)
					}
					if o.Version != snap.Version || o.NumFiles != snap.NumFiles() {
						t.Fatalf("%s: delta-rs sees version %d with %d files, we wrote %d with %d", stage, o.Version, o.NumFiles, snap.Version, snap.NumFiles())
					}
					var rsSchema deltalog.Schema
					if err := json.Unmarshal(o.Schema, &rsSchema); err != nil || !rsSchema.Equal(schema) {
						t.Fatalf("%s: delta-rs schema %s (%v), want %s", stage, o.Schema, err, schema)
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
					sameRows(t, stage, "delta-rs", got, "written", want)
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

				if s3st, ok := st.(*objstore.S3); ok {
					assertAllEncrypted(t, testenv.MinIO(t), s3st.Bucket())
				}
				// Time travel: delta-rs at version 5 sees the first five appends.
				o := testenv.DeltaRs(t, store.pyEnv(t), []string{store.uri(st)}, "--version", "5")[0]
				if o.Version != 5 || o.NumRecords != 5*300 {
					t.Fatalf("version 5: delta-rs sees version %d with %d records, want 1500 (%s)", o.Version, o.NumRecords, o.Error)
				}
			})
		}
	}
}
