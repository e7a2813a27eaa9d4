package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/testdata"
)

// goldenDir holds Delta tables written by Spark (see its README).
var goldenDir = testdata.Path("delta-golden")

// goldenTables lists the golden tables (directories with a _delta_log).
func goldenTables(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatalf("golden tables: %v (see testdata/delta-golden/README.md)", err)
	}
	var dirs []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(goldenDir, e.Name(), "_delta_log")); err == nil {
			dirs = append(dirs, filepath.Join(goldenDir, e.Name()))
		}
	}
	if len(dirs) < 50 {
		t.Fatalf("only %d golden tables found in %s", len(dirs), goldenDir)
	}
	return dirs
}

// TestInspectAgreesWithDeltaRs runs `sluice delta inspect --json` on every
// Spark-written golden table: where it succeeds, delta-rs must report the
// same version, number of files and number of records; where it fails, the
// error must be one of the clear kinds (unsupported feature, broken log).
func TestInspectAgreesWithDeltaRs(t *testing.T) {
	tables := goldenTables(t)
	oracle := testenv.DeltaRs(t, nil, tables)
	clearErrors := []string{"unsupported reader feature", "not contiguous", "has no protocol action", "has no metaData action", "version not found", "missing from storage"}
	supported := 0
	for i, dir := range tables {
		name := filepath.Base(dir)
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"delta", "inspect", dir, "--json"}, &out, &errb)
		rs := oracle[i]
		if code != 0 {
			msg := errb.String()
			ok := false
			for _, c := range clearErrors {
				ok = ok || strings.Contains(msg, c)
			}
			if !ok {
				t.Errorf("%s: inspect failed with an unclear error (delta-rs: %q): %s", name, rs.Error, msg)
			}
			if rs.Error == "" && !strings.Contains(msg, "unsupported") {
				t.Errorf("%s: delta-rs reads it (version %d) but inspect fails: %s", name, rs.Version, msg)
			}
			continue
		}
		var info struct {
			Version    int64 `json:"version"`
			NumFiles   int   `json:"numFiles"`
			NumRecords int64 `json:"numRecords"`
		}
		if err := json.Unmarshal(out.Bytes(), &info); err != nil {
			t.Fatalf("%s: inspect --json output: %v\n%s", name, err, out.String())
		}
		if rs.Error != "" {
			t.Logf("%s: inspect reads it, delta-rs does not: %s", name, firstLine(rs.Error))
			continue
		}
		supported++
		if info.Version != rs.Version || info.NumFiles != rs.NumFiles || info.NumRecords != rs.NumRecords {
			t.Errorf("%s: inspect says version %d, %d files, %d records; delta-rs says %d, %d, %d",
				name, info.Version, info.NumFiles, info.NumRecords, rs.Version, rs.NumFiles, rs.NumRecords)
		}
	}
	t.Logf("%d golden tables agree with delta-rs", supported)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
