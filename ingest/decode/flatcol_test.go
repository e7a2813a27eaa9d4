package decode

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// TestFlatColsMatchBuilders checks that the flat columns build the record
// the Arrow builders build (appendVal), with the same SizeBytes, over
// batches of several sizes, empty ones included.
func TestFlatColsMatchBuilders(t *testing.T) {
	p := deltalog.Primitive
	types := []*deltalog.Type{p(deltalog.TypeBoolean), p(deltalog.TypeByte), p(deltalog.TypeShort), p(deltalog.TypeInteger),
		p(deltalog.TypeLong), p(deltalog.TypeFloat), p(deltalog.TypeDouble), p(deltalog.TypeString), p(deltalog.TypeBinary),
		p(deltalog.TypeDate), p(deltalog.TypeTimestamp), p(deltalog.TypeTimestampNTZ), deltalog.Decimal(20, 3), mustType(t, "array<int>")}
	values := []string{`true`, `-7`, `-300`, `70000`, `-9000000000`, `1.5`, `-2.25e-3`, `"héllo"`, `"AAE="`, `"2024-02-29"`,
		`"2024-01-31T10:20:30.5Z"`, `"2024-01-31T10:20:30"`, `"-12345678901234.567"`, `[1,null]`}
	var cols []Column
	for i, ty := range types {
		cols = append(cols, Column{Name: fmt.Sprintf("c%d", i), Type: ty, Nullable: true})
	}
	d, err := NewJSON(cols)
	if err != nil {
		t.Fatal(err)
	}
	got, want := d.NewBatch(memory.DefaultAllocator), d.NewBatch(memory.DefaultAllocator)
	defer got.Release()
	defer want.Release()
	wb := want.(*batch)
	flat := 0
	for i := range wb.flat {
		if got.(*batch).flat[i] != nil {
			flat++
		}
		wb.flat[i] = nil // all through the builders
	}
	if flat != len(types)-1 {
		t.Fatalf("%d flat columns, want %d", flat, len(types)-1)
	}
	r := rand.New(rand.NewSource(3))
	// A flat column makes its validity bitmap at the first null: check
	// batches without nulls, and first nulls on and off byte boundaries.
	nulls := []struct {
		name string
		null func(row int) bool
	}{
		{"random quarter", func(int) bool { return r.Intn(4) == 0 }},
		{"none", func(int) bool { return false }},
		{"from row 8", func(k int) bool { return k >= 8 && k%3 == 0 }},
		{"row 13 only", func(k int) bool { return k == 13 }},
		{"all", func(int) bool { return true }},
	}
	for bi, rows := range []int{5, 700, 0, 1300, 9, 16, 14, 40, 3} {
		np := nulls[bi%len(nulls)]
		for k := 0; k < rows; k++ {
			v := []byte("{")
			for i := range types {
				if np.null(k) {
					continue // null
				}
				if len(v) > 1 {
					v = append(v, ',')
				}
				v = fmt.Appendf(v, `"c%d":%s`, i, values[i])
			}
			v = append(v, '}')
			for _, b := range []Batch{got, want} {
				if err := b.Add(&Message{Value: v}); err != nil {
					t.Fatalf("%s: %v", v, err)
				}
			}
		}
		if got.SizeBytes() != want.SizeBytes() {
			t.Errorf("%d rows, nulls %s: SizeBytes %d, builders %d", rows, np.name, got.SizeBytes(), want.SizeBytes())
		}
		g, w := got.Build(), want.Build()
		if !array.RecordEqual(g, w) {
			t.Errorf("%d rows, nulls %s: record\n%v\nbuilders\n%v", rows, np.name, g, w)
		}
		for i := range types {
			gc, wc := g.Column(i), w.Column(i)
			if gc.NullN() != wc.NullN() || gc.Len() != rows {
				t.Errorf("%d rows, nulls %s: column %d has %d values, %d null; builders %d null", rows, np.name, i, gc.Len(), gc.NullN(), wc.NullN())
			}
			for k := 0; k < rows; k++ {
				if gc.IsNull(k) != wc.IsNull(k) {
					t.Errorf("%d rows, nulls %s: column %d row %d null=%v, builders %v", rows, np.name, i, k, gc.IsNull(k), wc.IsNull(k))
					break
				}
			}
		}
		g.Release()
		w.Release()
	}
}
