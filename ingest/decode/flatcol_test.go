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
	for _, rows := range []int{5, 700, 0, 1300, 9} {
		for k := 0; k < rows; k++ {
			v := []byte("{")
			for i := range types {
				if r.Intn(4) == 0 {
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
			t.Errorf("%d rows: SizeBytes %d, builders %d", rows, got.SizeBytes(), want.SizeBytes())
		}
		g, w := got.Build(), want.Build()
		if !array.RecordEqual(g, w) {
			t.Errorf("%d rows: record\n%v\nbuilders\n%v", rows, g, w)
		}
		for i := range types {
			if g.Column(i).NullN() != w.Column(i).NullN() || g.Column(i).Len() != rows {
				t.Errorf("%d rows: column %d has %d values, %d null; builders %d null", rows, i, g.Column(i).Len(), g.Column(i).NullN(), w.Column(i).NullN())
			}
		}
		g.Release()
		w.Release()
	}
}
