//go:build unix

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
)

// TestDataDirOwnerOnly runs a server through what writes files in its data
// dir (the catalog and its WAL/SHM, audit log, sharing keys, a query's spec
// and worker log, a profile file written
// by sluice sql) and walks it: nothing may carry a group or other
// permission bit. The data dir starts with a catalog.db and -wal of mode
// 0644, as an older server left them, which must be tightened too.
func TestDataDirOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"catalog.db", "catalog.db-wal"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, f), 0o644) // whatever the umask
	}
	token := catalog.NewUserToken()
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", token)
	url, stop := startServe(t, dir)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	// A broker that refuses connections: the worker starts, logs and retries.
	code, out, errs := sql(t, url, token, `CREATE DATABASE d; CREATE SCHEMA d.s;
CREATE STORE k WITH ('type' = 'kafka', 'bootstrap.servers' = '127.0.0.1:1');
CREATE STREAM d.s.x (id BIGINT NOT NULL) WITH ('store' = 'k', 'topic' = 'x');
CREATE TABLE d.s.t AS SELECT id FROM x`)
	if code != 0 {
		t.Fatalf("sql: %d %s %s", code, out, errs)
	}
	if code := run(t.Context(), []string{"sql", "--server", url, "--token", token, "--profile-out", filepath.Join(dir, "acme.share"),
		"-e", "CREATE RECIPIENT acme"}, &syncBuffer{}, &syncBuffer{}); code != 0 {
		t.Fatalf("create recipient: %d", code)
	}
	want := []string{"catalog.db", "catalog.db-wal", "catalog.db-shm", "audit.jsonl", "acme.share"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		logs, _ := filepath.Glob(filepath.Join(dir, "queries", "*", "worker.log"))
		specs, _ := filepath.Glob(filepath.Join(dir, "queries", "*", "spec.yaml"))
		if len(logs) == 1 && len(specs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker log and spec under %s/queries: %v %v", dir, logs, specs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	check := func(when string) {
		t.Helper()
		seen := map[string]bool{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			seen[rel] = true
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %s is %v, want no group or other permission", when, rel, info.Mode().Perm())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range want {
			if !seen[f] {
				t.Errorf("%s: %s was not written (files: %v)", when, f, seen)
			}
		}
		if len(seen) < len(want)+4 { // also the keys, queries/<id>/ and its files
			t.Errorf("%s: only %v", when, seen)
		}
	}
	check("running")
	stop()
	stopped = true
	want = []string{"catalog.db", "audit.jsonl", "acme.share"} // the WAL and SHM go with the last connection
	check("stopped")
}
