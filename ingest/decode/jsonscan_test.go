package decode

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// scanCompare stages JSON rows with the scanner alone and with the fastjson
// reference alone, so tests can check that whatever the scanner accepts,
// the reference accepts with the same row.
type scanCompare struct {
	plan   *plan
	ref    *jsonRows
	sc     *scanner
	st, rs stager
	row    []val
	refRow []val
}

func newScanCompare(t testing.TB, cols []Column, opts ...JSONOption) *scanCompare {
	t.Helper()
	d, err := NewJSON(cols, opts...)
	if err != nil {
		t.Fatal(err)
	}
	jd := d.(*jsonDecoder)
	if jd.fast == nil {
		t.Fatal("no fast plan for the columns")
	}
	rows := newJSONRows(jd.plan, jd.fast)
	c := &scanCompare{plan: jd.plan, ref: rows, sc: rows.sc,
		row: make([]val, len(cols)), refRow: make([]val, len(cols))}
	c.st.opts, c.rs.opts = &jd.plan.opts, &jd.plan.opts
	c.sc.s = &c.st
	return c
}

// check stages value both ways. It fails t if the scanner accepts a value
// the reference rejects or stages differently, and reports whether the
// scanner accepted it.
func (c *scanCompare) check(t testing.TB, value []byte) bool {
	t.Helper()
	c.st.reset()
	c.rs.reset()
	clear(c.row)
	clear(c.refRow)
	ok := c.sc.row(value, c.row)
	refErr := c.ref.slowRow(&Message{Value: value}, c.refRow, &c.rs)
	if !ok {
		return false
	}
	if refErr != nil {
		t.Fatalf("scanner accepted %q, reference failed: %v", value, refErr)
	}
	for _, i := range c.plan.valueCols {
		if d := diffVal(c.plan.nodes[i], c.row[i], &c.st, c.refRow[i], &c.rs); d != "" {
			t.Fatalf("%q: column %s: %s", value, c.plan.cols[i].Name, d)
		}
	}
	return true
}

// diffVal describes how a staged value differs from the reference's, or
// returns "".
func diffVal(n *node, a val, sa *stager, b val, sb *stager) string {
	if a.null != b.null {
		return fmt.Sprintf("null %v, reference %v", a.null, b.null)
	}
	if a.null {
		return ""
	}
	switch n.kind {
	case kString, kBinary:
		if !bytes.Equal(a.b, b.b) {
			return fmt.Sprintf("%q, reference %q", a.b, b.b)
		}
	case kStruct, kArray, kMap:
		if a.hi != b.hi {
			return fmt.Sprintf("%d children, reference %d", a.hi, b.hi)
		}
		for k := 0; k < int(a.hi); k++ {
			switch n.kind {
			case kStruct:
				if d := diffVal(n.fields[k], sa.kids[int(a.i)+k], sa, sb.kids[int(b.i)+k], sb); d != "" {
					return "." + n.fields[k].name + ": " + d
				}
			case kArray:
				if d := diffVal(n.elem, sa.kids[int(a.i)+k], sa, sb.kids[int(b.i)+k], sb); d != "" {
					return fmt.Sprintf("[%d]: %s", k, d)
				}
			case kMap:
				ka, kb := int(a.i)+2*k, int(b.i)+2*k
				if d := diffVal(n.key, sa.kids[ka], sa, sb.kids[kb], sb); d != "" {
					return fmt.Sprintf("key %d: %s", k, d)
				}
				if d := diffVal(n.elem, sa.kids[ka+1], sa, sb.kids[kb+1], sb); d != "" {
					return fmt.Sprintf("value %d: %s", k, d)
				}
			}
		}
	default:
		if a.i != b.i || a.hi != b.hi {
			return fmt.Sprintf("(%d,%d), reference (%d,%d)", a.i, a.hi, b.i, b.hi)
		}
	}
	return ""
}

// pathColumns have paths into nested objects, and types the nested
// columns lack.
func pathColumns(t testing.TB) []Column {
	p := deltalog.Primitive
	return []Column{
		{Name: "id", Type: p(deltalog.TypeLong)},
		{Name: "cust_id", Type: p(deltalog.TypeInteger), Nullable: true, Path: []string{"customer", "id"}},
		{Name: "cust_name", Type: p(deltalog.TypeString), Nullable: true, Path: []string{"customer", "name"}},
		{Name: "deep", Type: p(deltalog.TypeDouble), Nullable: true, Path: []string{"a", "b", "c"}},
		{Name: "codes", Type: mustType(t, "map<int,string>"), Nullable: true},
		{Name: "grid", Type: mustType(t, "array<array<smallint>>"), Nullable: true},
		{Name: "amount", Type: deltalog.Decimal(12, 3), Nullable: true},
		{Name: "when", Type: p(deltalog.TypeTimestamp), Nullable: true},
		{Name: "dbl", Type: p(deltalog.TypeDouble), Nullable: true},
		{Name: "label", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "ok", Type: p(deltalog.TypeBoolean)},
	}
}

// scanSeeds are inputs for the comparison tests: typical records, and
// records with each feature the scanner handles or gives up on.
var scanSeeds = []string{
	`{"id":1}`,
	`{"id":1,"customer":{"name":"Ann","tags":["a",null]},"items":[{"sku":"x","price":"9.99"},{"price":1}],"attrs":{"w":1.5,"h":null},"ts":"2024-01-31T10:00:00Z","day":"2024-01-31","flag":true,"b":1,"s":2,"f":0.5,"ntz":"2024-01-31T10:00:00","bin":"AAE="}`,
	`{"id":1,"customer":{"name":"Ann","tags":["a",null]},"items":[{"sku":"x","price":"9.99"}],"attrs":{"w":1.5},"ts":1706696430123,"day":19782,"flag":"true","b":"1","s":2,"f":"NaN","ntz":"2024-01-31T10:00:00","bin":"AAE="}`,
	`{"id":"9223372036854775807","items":[{"price":1e-5}]}`,
	`{"id":1,"attrs":{"\u0000":1e400}}`,
	` { "id" : 7 , "customer" : { "name" : "B\"o\\b" , "tags" : [ ] } , "attrs" : { } } `,
	"{\"id\":1,\n\t\"customer\":{\"name\":\"\\u00e9\\ud83d\\ude00\\ud800\\u12\\x\\/\"}}",
	`{"id":1,"id":2}`,
	`{"i\u0064":1}`,
	`{"id":-0,"f":-0.0,"s":-32768,"b":127}`,
	`{"id":1,"f":1e39}`,
	`{"id":1,"unknown":{"x":[1,2,{"y":"z\"}"}],"w":-1.5e-3},"more":[true,false,null,"s"]}`,
	`{"id":1,"customer":null,"items":null,"attrs":null}`,
	`{"id":1,"customer":5}`,
	`{"id":1,}`,
	`{"id":1}x`,
	`[1]`,
	`null`,
	`{"id":1.0}`,
	`{"id":1,"ts":"2024-01-31T10:20:30.123456789+02:00","ntz":"2024-01-31 10:20:30"}`,
	`{"id":1,"bin":"aGk"}`,
	`{"id":1,"attrs":{"a":1,"a":2,"b":"3"}}`,
	`{"id":1,"customer":{"name":"x","name":"y"}}`,
	`{"id":1,"f":NaN}`,
	`{"id":1,"f":-Inf}`,
	`{"id":1,"f":1-2}`,
	`{"id":1,"customer":{"name":{"a":1}}}`,
	`{"id":1,"customer":{"name":12.50}}`,
	`{"id":1,"customer":{"name":true}}`,
	`{"id":1,"customer":{"name":"\xff"}}`,
	`{"id":1,"customer":{"name":"héllo wörld, a longer string of text"}}`,
	`{"id":1,"customer":{"customer":{"id":2}},"cust":{"id":3}}`,
	`{"id":2,"customer":{"id":"7","name":"Al"},"a":{"b":{"c":2.5}},"codes":{"1":"one","-2":"two"},"grid":[[1,2],[],null,[3]],"amount":"12.345","when":"2024-01-31T10:00:00Z","dbl":123.456,"label":"x","ok":true}`,
	`{"id":3,"customer":null,"a":{"b":null},"codes":{"3":"y"},"ok":false}`,
	`{"id":4,"a":{"b":{"c":1,"c":2}},"ok":"TRUE"}`,
	`{"id":5,"a":null,"a":{"b":{"c":1}},"ok":true}`,
	`{"id":6,"a":{"b":5},"ok":true}`,
	`{"id":7,"grid":[[1,2,70000]],"ok":true}`,
	`{"id":8,"dbl":0.1234567890123456789,"amount":1e2,"ok":true}`,
	`{"id":9,"dbl":9007199254740993,"label":123,"ok":true}`,
	`{"id":10,"dbl":"1.5","label":false,"when":1706696430123,"ok":true}`,
	`{"id":11,"dbl":.5,"ok":true}`,
	`{"id":12,"dbl":5.,"ok":true}`,
	`{"id":13,"dbl":+5,"id2":+5,"ok":true}`,
	`{"id":0012,"dbl":00.5e1,"ok":true}`,
	`{"id":123456789012345678,"dbl":-1234567.25,"ok":true}`,
	`{"id":1234567890123456789,"ok":true}`,
	`{"id":-9223372036854775808,"ok":true}`,
	`{"id":1,"codes":{"1":"a","1":"b"},"ok":true}`,
}

func TestJSONScanMatchesReference(t *testing.T) {
	for _, cols := range [][]Column{nestedColumns(t), pathColumns(t)} {
		c := newScanCompare(t, cols)
		for _, s := range scanSeeds {
			c.check(t, []byte(s))
		}
	}
}

// TestJSONScanServes checks that the scanner, not the reference, decodes
// records of the usual shapes.
func TestJSONScanServes(t *testing.T) {
	nested := newScanCompare(t, nestedColumns(t))
	for _, s := range []string{scanSeeds[0], scanSeeds[1], scanSeeds[5], scanSeeds[6]} {
		if !nested.check(t, []byte(s)) {
			t.Errorf("scanner gave up on %s", s)
		}
	}
	paths := newScanCompare(t, pathColumns(t))
	for _, s := range []string{
		`{"id":2,"customer":{"id":"7","name":"Al"},"a":{"b":{"c":2.5}},"codes":{"1":"one","-2":"two"},"grid":[[1,2],[],null,[3]],"amount":"12.345","when":"2024-01-31T10:00:00Z","dbl":123.456,"label":"x","ok":true}`,
		`{"id":3,"customer":null,"a":{"b":null},"codes":{"3":"y"},"ok":false}`,
		`{"id":9,"dbl":9007199254740993,"label":123,"ok":true}`,
	} {
		if !paths.check(t, []byte(s)) {
			t.Errorf("scanner gave up on %s", s)
		}
	}
	flat := newScanCompare(t, benchColumns())
	for _, r := range benchRecords(1000) {
		if !flat.check(t, r) {
			t.Fatalf("scanner gave up on %s", r)
		}
	}
}

// TestJSONNoFastPlan checks the column sets the scanner does not serve.
func TestJSONNoFastPlan(t *testing.T) {
	p := deltalog.Primitive
	for _, cols := range [][]Column{
		{{Name: "a", Type: mustType(t, "struct<x:int>")}, {Name: "ax", Type: p(deltalog.TypeInteger), Path: []string{"a", "x"}}},
		{{Name: "q", Type: p(deltalog.TypeInteger), Path: []string{`a"b`}}},
		{{Name: `b\c`, Type: p(deltalog.TypeInteger)}},
		{{Name: "s", Type: deltalog.Struct(deltalog.Field{Name: `a\b`, Type: p(deltalog.TypeInteger)})}},
	} {
		d, err := NewJSON(cols)
		if err != nil {
			t.Fatal(err)
		}
		if d.(*jsonDecoder).fast != nil {
			t.Errorf("fast plan for %v", cols)
		}
	}
}

// TestJSONScanRests checks that rows the scanner keeps giving up on are
// decoded by the reference alone for a while, and that rows decode the same
// throughout.
func TestJSONScanRests(t *testing.T) {
	d, err := NewJSON([]Column{{Name: "k", Type: deltalog.Primitive(deltalog.TypeString)}})
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	sc := b.(*batch).src.(*jsonRows).sc
	for i := 0; i < missLimit; i++ {
		if err := b.Add(&Message{Value: []byte(`{"k":{"v":1}}`)}); err != nil { // objects as text: reference only
			t.Fatal(err)
		}
	}
	if sc.rest != missRest {
		t.Fatalf("rest %d after %d misses, want %d", sc.rest, missLimit, missRest)
	}
	for i := 0; i < missRest; i++ {
		if err := b.Add(&Message{Value: []byte(`{"k":"s"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if sc.rest != 0 {
		t.Fatalf("rest %d", sc.rest)
	}
	rec := b.Build()
	defer rec.Release()
	if got := rec.Column(0).ValueStr(0); got != `{"v":1}` {
		t.Errorf("row 0 = %s", got)
	}
	if got := rec.Column(0).ValueStr(int(rec.NumRows()) - 1); got != "s" {
		t.Errorf("last row = %s", got)
	}
}

// randJSON writes a random JSON-like value: mostly valid, with the escapes,
// number forms, spacing and keys the columns of the comparison tests use.
func randJSON(r *rand.Rand, w *strings.Builder, depth int) {
	keys := []string{"id", "customer", "name", "tags", "items", "sku", "price", "attrs", "ts", "day", "flag", "b", "s", "f", "ntz", "bin",
		"a", "c", "codes", "grid", "amount", "when", "dbl", "label", "ok", "x", "i\\u0064", ""}
	strs := []string{"", "x", "Ann", "héllo", `a\"b`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\u12`, `\q`, `\/\b\f\n\r\t`, "2024-01-31", "2024-01-31T10:20:30.5Z",
		"2024-01-31T10:20:30", "12.345", "NaN", "true", "FALSE", "AAE=", "aGk", "1706696430123", "-7", "\xff", "\x01"}
	nums := []string{"0", "-0", "1", "-1", "42", "127", "128", "-129", "32767", "70000", "2147483648", "9223372036854775807", "9223372036854775808",
		"1.5", "-2.25", "0.1", "1e3", "1E-3", "1.5e2", "12.345", "0.0000001", "123456789012345678901", "9007199254740993", "1-2", "00.5", ".5", "5.", "+5", "-"}
	ws := func() {
		if r.Intn(8) == 0 {
			w.WriteString([]string{" ", "\n", "\t ", "\r\n"}[r.Intn(4)])
		}
	}
	ws()
	switch k := r.Intn(10); {
	case depth > 0 && k < 3 || depth == 0:
		w.WriteByte('{')
		first := true
		if depth == 0 && r.Intn(4) > 0 {
			// The NOT NULL columns, so that most records can convert.
			fmt.Fprintf(w, `"id":%d,"ok":true`, r.Intn(1000))
			first = false
		}
		for i, n := 0, r.Intn(6); i < n; i++ {
			if !first || i > 0 {
				w.WriteByte(',')
			}
			ws()
			fmt.Fprintf(w, `"%s"`, keys[r.Intn(len(keys))])
			ws()
			w.WriteByte(':')
			randJSON(r, w, depth+1)
		}
		ws()
		w.WriteByte('}')
	case k < 4 && depth < 5:
		w.WriteByte('[')
		for i, n := 0, r.Intn(4); i < n; i++ {
			if i > 0 {
				w.WriteByte(',')
			}
			randJSON(r, w, depth+1)
		}
		w.WriteByte(']')
	case k < 6:
		fmt.Fprintf(w, `"%s"`, strs[r.Intn(len(strs))])
	case k < 8:
		w.WriteString(nums[r.Intn(len(nums))])
	default:
		w.WriteString([]string{"true", "false", "null", "nul", "NaN"}[r.Intn(5)])
	}
	ws()
}

// TestJSONScanRandom compares the scanner with the reference on random
// records and on byte-level mutations of them.
func TestJSONScanRandom(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 3000
	}
	r := rand.New(rand.NewSource(2))
	compares := []*scanCompare{newScanCompare(t, nestedColumns(t)), newScanCompare(t, pathColumns(t)),
		newScanCompare(t, nestedColumns(t), WithEpochUnit(EpochSeconds), WithDecimalRounding())}
	accepted := 0
	var w strings.Builder
	for i := 0; i < n; i++ {
		w.Reset()
		randJSON(r, &w, 0)
		v := []byte(w.String())
		if r.Intn(3) == 0 && len(v) > 0 {
			v = mutate(r, v)
		}
		for _, c := range compares {
			if c.check(t, v) {
				accepted++
			}
		}
	}
	if accepted < n/10 {
		t.Errorf("scanner accepted only %d of %d rows", accepted, 3*n)
	}
}

// mutate changes, inserts or deletes a few bytes of v.
func mutate(r *rand.Rand, v []byte) []byte {
	v = append([]byte(nil), v...)
	for k := r.Intn(3) + 1; k > 0 && len(v) > 0; k-- {
		i := r.Intn(len(v))
		const alphabet = `{}[]",:\ 0-.e5tnu`
		c := alphabet[r.Intn(len(alphabet))]
		switch r.Intn(3) {
		case 0:
			v[i] = c
		case 1:
			v = append(v[:i], append([]byte{c}, v[i:]...)...)
		default:
			v = append(v[:i], v[i+1:]...)
		}
	}
	return v
}

// FuzzJSONScan checks that whatever the scanner accepts, the fastjson
// reference accepts with the same row.
func FuzzJSONScan(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	compares := []*scanCompare{newScanCompare(f, nestedColumns(f)), newScanCompare(f, pathColumns(f))}
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, c := range compares {
			c.check(t, value)
		}
	})
}
