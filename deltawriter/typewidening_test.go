package deltawriter

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/testdata"
)

// TestGoldenTypeWidening: the file written before the columns were widened
// reads as the widened types (integers as long, double and decimal at the
// new scale, a date as midnight timestamp_ntz). delta-rs refuses the
// typeWidening-preview feature, so the expected rows are the files' values
// (as pyarrow reads them) widened by hand.
func TestGoldenTypeWidening(t *testing.T) {
	ctx := context.Background()
	st, err := objstore.NewLocal(testdata.Path("delta-golden", "type-widening"))
	if err != nil {
		t.Fatal(err)
	}
	tbl := New(st)
	snap, err := tbl.Snapshot(ctx, deltalog.WithFeatures(handledFeatures...))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"byte_decimal":"1.0","byte_double":5,"byte_long":1,"date_timestamp_ntz":"2024-09-09T00:00:00.000000","decimal_decimal_greater_scale":"67.89000","decimal_decimal_same_scale":"123.45","float_double":3.4000000953674316,"int_decimal":"3.0","int_double":7,"int_long":2,"long_decimal":"4.0","short_decimal":"2.0","short_double":6}`,
		`{"byte_decimal":"123.4","byte_double":1.234567890123,"byte_long":9223372036854775807,"date_timestamp_ntz":"2024-09-09T12:34:56.123456","decimal_decimal_greater_scale":"12345678901.23456","decimal_decimal_same_scale":"12345678901234.56","float_double":1.234567890123,"int_decimal":"1234567890.1","int_double":1.234567890123,"int_long":9223372036854775807,"long_decimal":"123456789012345678.9","short_decimal":"12345.6","short_double":1.234567890123}`,
	}
	got := sluiceRows(t, tbl, snap)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i, r := range got {
		b, _ := json.Marshal(r)
		var w any
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatal(err)
		}
		wb, _ := json.Marshal(w)
		if string(b) != string(wb) {
			t.Errorf("row %d:\n got %s\nwant %s", i, b, wb)
		}
	}
}
