package parquetio

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// TestPageStatistics checks where the files keep their bounds: no statistics
// in data page headers (the writer turns them off to compute each page's
// bounds once), while the column chunk statistics and the column index, which
// readers prune row groups and pages with, hold the true bounds of the values.
// (parquet.SkipPageBounds, for instance, would leave zeros in the column index
// of non-null pages, and readers would skip pages wrongly.)
func TestPageStatistics(t *testing.T) {
	s := mustSchema(t, schemaJSON("id long", "name string", "x double"))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var rows bytes.Buffer
	rows.WriteString("[")
	const n = 15000
	for i := range n {
		if i > 0 {
			rows.WriteString(",")
		}
		if i%7 == 0 {
			fmt.Fprintf(&rows, `{"id":%d,"name":null,"x":null}`, 1000+i)
		} else {
			fmt.Fprintf(&rows, `{"id":%d,"name":"n%05d","x":%d.5}`, 1000+i, n-i, i)
		}
	}
	rows.WriteString("]")
	rec := recordFromJSON(t, mem, s, rows.String())
	defer rec.Release()
	// Small pages, and a row group cut after each of the records.
	var recs []arrow.Record
	for lo := int64(0); lo < n; lo += 5000 {
		part := rec.NewSlice(lo, lo+5000)
		defer part.Release()
		recs = append(recs, part)
	}
	data, _ := writeFile(t, s, recs, WithPageSize(4<<10), WithRowGroupSize(1))
	pf := openParquet(t, data)
	if len(pf.RowGroups()) < 2 {
		t.Fatalf("want several row groups, got %d", len(pf.RowGroups()))
	}
	for g, rg := range pf.Metadata().RowGroups {
		for c, cc := range rg.Columns {
			where := fmt.Sprintf("row group %d column %s", g, cc.MetaData.PathInSchema)
			md := cc.MetaData
			// Every data page header: no min/max.
			off, end := md.DataPageOffset, md.DataPageOffset+md.TotalCompressedSize
			if md.DictionaryPageOffset > 0 {
				off = min(off, md.DictionaryPageOffset)
			}
			pages := 0
			for off < end {
				var h format.PageHeader
				r := bytes.NewReader(data[off:end])
				if err := thrift.NewDecoder(new(thrift.CompactProtocol).NewReader(r)).Decode(&h); err != nil {
					t.Fatalf("%s: page header at %d: %v", where, off, err)
				}
				hdr := int64(len(data[off:end]) - r.Len())
				if h.Type == format.DataPage {
					st := h.DataPageHeader.V.Statistics
					if st.MinValue != nil || st.MaxValue != nil || st.Min != nil || st.Max != nil {
						t.Errorf("%s: data page at %d has statistics %+v", where, off, st)
					}
					pages++
				}
				off += hdr + int64(h.CompressedPageSize)
			}
			// The chunk's values, read back: bounds of the chunk and of each page.
			chunk := pf.RowGroups()[g].ColumnChunks()[c]
			ci, err := chunk.ColumnIndex()
			if err != nil {
				t.Fatalf("%s: column index: %v", where, err)
			}
			if ci.NumPages() != pages || pages < 2 {
				t.Fatalf("%s: %d pages in the column index, %d data pages (want several)", where, ci.NumPages(), pages)
			}
			typ := chunk.Type()
			var cmin, cmax parquet.Value
			var nulls int64
			pr := chunk.Pages()
			for p := 0; ; p++ {
				page, err := pr.ReadPage()
				if err != nil {
					break
				}
				vals := make([]parquet.Value, page.NumValues())
				nv, _ := page.Values().ReadValues(vals)
				var pmin, pmax parquet.Value
				for _, v := range vals[:nv] {
					if v.IsNull() {
						nulls++
						continue
					}
					if pmin.IsNull() || typ.Compare(v, pmin) < 0 {
						pmin = v.Clone()
					}
					if pmax.IsNull() || typ.Compare(v, pmax) > 0 {
						pmax = v.Clone()
					}
				}
				parquet.Release(page)
				if ci.NullPage(p) != pmin.IsNull() {
					t.Errorf("%s page %d: null page %v, values min %v", where, p, ci.NullPage(p), pmin)
				}
				if !pmin.IsNull() && (typ.Compare(ci.MinValue(p), pmin) != 0 || typ.Compare(ci.MaxValue(p), pmax) != 0) {
					t.Errorf("%s page %d: column index bounds [%v, %v], values [%v, %v]", where, p, ci.MinValue(p), ci.MaxValue(p), pmin, pmax)
				}
				if cmin.IsNull() || (!pmin.IsNull() && typ.Compare(pmin, cmin) < 0) {
					cmin = pmin
				}
				if cmax.IsNull() || (!pmax.IsNull() && typ.Compare(pmax, cmax) > 0) {
					cmax = pmax
				}
			}
			pr.Close()
			st := md.Statistics
			if st.NullCount != nulls {
				t.Errorf("%s: chunk null count %d, values have %d", where, st.NullCount, nulls)
			}
			if !bytes.Equal(st.MinValue, cmin.Bytes()) || !bytes.Equal(st.MaxValue, cmax.Bytes()) {
				t.Errorf("%s: chunk statistics [%x, %x], values [%v, %v]", where, st.MinValue, st.MaxValue, cmin, cmax)
			}
		}
	}
}

// TestStringBoundsAcrossRowGroups checks the Delta string bounds taken from
// the column chunk statistics: folded over row groups, from whole values
// (not the column index's truncated ones), with empty strings and row groups
// holding only nulls.
func TestStringBoundsAcrossRowGroups(t *testing.T) {
	long := strings.Repeat("m", 20) // longer than the column index keeps (16 bytes)
	for _, tc := range []struct {
		name     string
		groups   []string // one record, hence one row group, each: JSON values of s
		min, max any
	}{
		{"min and max in later groups", []string{`"` + long + `b"`, `"` + long + `a", null`, `"` + long + `c"`}, long + "a", long + "c"},
		{"empty string is the min", []string{`"b"`, `""`}, "", "b"},
		{"a group of nulls only", []string{`null, null`, `"x"`, `null`}, "x", "x"},
		{"nulls only", []string{`null`}, nil, nil},
		{"truncated to 32 characters", []string{`"` + strings.Repeat("z", 40) + `"`, `"` + strings.Repeat("a", 40) + `"`},
			strings.Repeat("a", 32), strings.Repeat("z", 31) + "{"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSchema(t, schemaJSON("s string"))
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			var recs []arrow.Record
			for _, g := range tc.groups {
				var rows []string
				for _, v := range strings.Split(g, ", ") {
					rows = append(rows, `{"s":`+v+`}`)
				}
				r := recordFromJSON(t, mem, s, "["+strings.Join(rows, ",")+"]")
				defer r.Release()
				recs = append(recs, r)
			}
			data, st := writeFile(t, s, recs, WithRowGroupSize(1))
			if n := countRowGroups(t, data); n != len(tc.groups) {
				t.Fatalf("%d row groups, want %d", n, len(tc.groups))
			}
			if got := st.MinValues["s"]; got != tc.min {
				t.Errorf("min %q, want %q", got, tc.min)
			}
			if got := st.MaxValues["s"]; got != tc.max {
				t.Errorf("max %q, want %q", got, tc.max)
			}
		})
	}
}
