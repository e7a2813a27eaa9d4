package exec_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/serve/exec"
)

// TestTablesOnS3 registers a golden table copied to MinIO, refuses an
// empty prefix, and purges a query's table without touching the prefix
// next to it or a LOCATION table.
func TestTablesOnS3(t *testing.T) {
	s3 := testenv.MinIO(t)
	bucket := s3.NewBucket(t)
	ctx := context.Background()
	opts := objstore.WithS3Options(objstore.WithEndpoint(s3.Endpoint), objstore.WithRegion(s3.Region),
		objstore.WithPathStyle(true), objstore.WithStaticCredentials(s3.AccessKey, s3.SecretKey, ""))
	open := func(uri string) objstore.Store {
		st, err := objstore.Open(ctx, uri, opts)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	upload := func(st objstore.Store, dir string) {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return st.Put(ctx, filepath.ToSlash(rel), f, objstore.PutOptions{})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(uri string) int {
		objs, err := open(uri).List(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	goldenURI := "s3://" + bucket + "/golden/decimal"
	upload(open(goldenURI), filepath.Join(goldenDir, "basic-decimal-table"))
	goldenFiles := count(goldenURI)

	e := newEnv(t, exec.WithStoreOptions(opts), exec.WithWarehouse("s3://"+bucket+"/warehouse"))
	e.setup(t, streamSetup)
	res := e.setup(t, "CREATE TABLE sales.eu.decimal LOCATION '"+goldenURI+"'; DESCRIBE TABLE sales.eu.decimal")
	cols := 0
	for _, row := range res[1].Rows {
		if row[0] == "column" {
			cols++
		}
	}
	if cols != 4 {
		t.Errorf("registered table has %d columns, want 4: %q", cols, res[1].Rows)
	}

	empty := "s3://" + bucket + "/nothing/here"
	_, err := e.ex.Execute(ctx, user("root"), "CREATE TABLE sales.eu.empty LOCATION '"+empty+"'")
	want := "table sales.eu.empty: no Delta table at " + empty + ": _delta_log is empty or missing (give the table's root, the directory holding _delta_log)"
	if !errors.Is(err, catalog.ErrInvalid) || err.Error() != want {
		t.Errorf("empty prefix: %v\nwant %s", err, want)
	}

	res = e.setup(t, "CREATE TABLE sales.eu.big AS SELECT id FROM orders")
	big := res[0].Rows[0][2]
	if big != "s3://"+bucket+"/warehouse/sales/eu/big" {
		t.Fatalf("table location %s", big)
	}
	for _, key := range []string{"_delta_log/00000000000000000000.json", "part-0.parquet", "day=1/part-1.parquet"} {
		if err := open(big).Put(ctx, key, strings.NewReader("x"), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A neighbour whose name starts like the table's.
	if err := open(big+"ger").Put(ctx, "keep.parquet", strings.NewReader("x"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	e.setup(t, "DROP TABLE sales.eu.big PURGE")
	if n := count(big); n != 0 {
		t.Errorf("%d objects left under the purged table", n)
	}
	if n := count(big + "ger"); n != 1 {
		t.Errorf("purge touched the neighbouring prefix: %d objects left, want 1", n)
	}
	if _, err := e.ex.Execute(ctx, user("root"), "DROP TABLE sales.eu.decimal PURGE"); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("PURGE of a LOCATION table: %v", err)
	}
	if n := count(goldenURI); n != goldenFiles {
		t.Errorf("LOCATION table has %d objects, want %d", n, goldenFiles)
	}
}
