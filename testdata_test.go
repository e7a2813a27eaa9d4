package sluice_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/testdata"
)

// TestTestdataPackage: the test data package resolves paths inside the
// repository's testdata/ and renders its pipelines, with errors that name
// the fix. (Tests in testdata/ itself would not run: ./... skips it.)
func TestTestdataPackage(t *testing.T) {
	if _, err := os.Stat(testdata.Path("delta-golden", "snapshot-data3", "_delta_log")); err != nil {
		t.Errorf("Path: %v", err)
	}
	if _, err := os.Stat(testdata.Path("events", "orders.jsonl")); err != nil {
		t.Errorf("Path: %v", err)
	}
	sql, err := testdata.Pipeline("orders")
	if err != nil || !strings.Contains(sql, "'topic' = 'orders'") || !strings.Contains(sql, "'store' = 'kafka'") {
		t.Errorf("Pipeline(orders) = %q, %v: want the orders pipeline over the store kafka", sql, err)
	}
	// Applied at every start of the compose stack: each CREATE must be
	// idempotent.
	for i, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(line, "CREATE ") && !strings.Contains(line, " IF NOT EXISTS ") {
			t.Errorf("pipelines/orders.sql line %d is not idempotent: %s", i+1, line)
		}
	}
	if _, err := testdata.Pipeline("nope"); err == nil || !strings.Contains(err.Error(), "pipeline nope: no testdata/pipelines/nope.sql (the pipelines are [orders]") {
		t.Errorf("Pipeline(nope): error %v, want one naming the file and the pipelines there", err)
	}
}
