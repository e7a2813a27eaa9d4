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
	type fields struct{ Brokers, Topic string }
	for _, tc := range []struct {
		name string
		data any
		want string // in the SQL, or in the error
		ok   bool
	}{
		{"demo", fields{"127.0.0.1:9092", "orders-1"}, "'bootstrap.servers' = '127.0.0.1:9092'", true},
		{"demo", fields{"127.0.0.1:9092", "orders-1"}, "'topic' = 'orders-1'", true},
		{"demo", struct{ Brokers string }{"b:1"}, "can't evaluate field Topic", false},
		{"nope", fields{}, "pipeline nope: no testdata/pipelines/nope.sql (the pipelines are [demo", false},
	} {
		sql, err := testdata.Pipeline(tc.name, tc.data)
		switch {
		case tc.ok && err != nil:
			t.Errorf("Pipeline(%s): %v", tc.name, err)
		case tc.ok && (!strings.Contains(sql, tc.want) || strings.Contains(sql, "{{")):
			t.Errorf("Pipeline(%s) has no %q, or a field left unfilled:\n%s", tc.name, tc.want, sql)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Pipeline(%s, %#v): error %v, want one with %q", tc.name, tc.data, err, tc.want)
		}
	}
}
