package parquetio

import (
	"cmp"
	"encoding/json"
	"iter"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// statsPrefixLen is the number of characters of string bounds, as Delta's
// dataSkippingStringPrefixLength default.
const statsPrefixLen = 32

type statKind uint8

// Kinds of min/max statistics; Spark keeps none for boolean, binary and
// nested columns.
const (
	statNone statKind = iota
	statInt
	statFloat
	statDecimal
	statString
	statDate
	statTimestamp
	statTimestampNTZ
)

// statAcc accumulates the statistics of one column of a file.
type statAcc struct {
	kind       statKind
	scale      int32
	nulls      int64
	has        bool
	minI, maxI int64
	minF, maxF float64
	minD, maxD decimal128.Num
	minS, maxS string
}

func newStatAcc(t *deltalog.Type) *statAcc {
	a := &statAcc{}
	switch t.Name {
	case deltalog.TypeByte, deltalog.TypeShort, deltalog.TypeInteger, deltalog.TypeLong:
		a.kind = statInt
	case deltalog.TypeFloat, deltalog.TypeDouble:
		a.kind = statFloat
	case deltalog.TypeDecimal:
		a.kind, a.scale = statDecimal, int32(t.Scale)
	case deltalog.TypeString:
		a.kind = statString
	case deltalog.TypeDate:
		a.kind = statDate
	case deltalog.TypeTimestamp:
		a.kind = statTimestamp
	case deltalog.TypeTimestampNTZ:
		a.kind = statTimestampNTZ
	}
	return a
}

func (a *statAcc) addInt(v int64) {
	if !a.has {
		a.minI, a.maxI, a.has = v, v, true
	} else if v < a.minI {
		a.minI = v
	} else if v > a.maxI {
		a.maxI = v
	}
}

func (a *statAcc) addFloat(v float64) {
	switch {
	case math.IsNaN(v):
	case !a.has:
		a.minF, a.maxF, a.has = v, v, true
	case v < a.minF:
		a.minF = v
	case v > a.maxF:
		a.maxF = v
	}
}

func (a *statAcc) addDecimal(v decimal128.Num) {
	if !a.has {
		a.minD, a.maxD, a.has = v, v, true
	} else if v.Less(a.minD) {
		a.minD = v
	} else if v.Greater(a.maxD) {
		a.maxD = v
	}
}

// liveSlots yields the array index of every slot holding a value.
func liveSlots(slots []slot) iter.Seq[int] {
	return func(yield func(int) bool) {
		for _, s := range slots {
			if s.def < 0 && !yield(int(s.idx)) {
				return
			}
		}
	}
}

// validIndexes yields the index of every non-null entry of arr.
func validIndexes(arr arrow.Array) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range arr.Len() {
			if arr.IsValid(i) && !yield(i) {
				return
			}
		}
	}
}

// live calls f with the value at every index idx yields.
func live[T any](idx iter.Seq[int], get func(int) T, f func(T)) {
	for i := range idx {
		f(get(i))
	}
}

// add folds the values at the indexes idx yields of a leaf array into the
// min/max.
func (a *statAcc) add(arr arrow.Array, idx iter.Seq[int]) {
	if a.kind == statNone {
		return
	}
	switch x := arr.(type) {
	case *array.Int8:
		live(idx, x.Value, func(v int8) { a.addInt(int64(v)) })
	case *array.Int16:
		live(idx, x.Value, func(v int16) { a.addInt(int64(v)) })
	case *array.Int32:
		live(idx, x.Value, func(v int32) { a.addInt(int64(v)) })
	case *array.Int64:
		live(idx, x.Value, a.addInt)
	case *array.Date32:
		live(idx, x.Value, func(v arrow.Date32) { a.addInt(int64(v)) })
	case *array.Timestamp:
		live(idx, x.Value, func(v arrow.Timestamp) { a.addInt(int64(v)) })
	case *array.Float32:
		live(idx, x.Value, func(v float32) { a.addFloat(float64(v)) })
	case *array.Float64:
		live(idx, x.Value, a.addFloat)
	case *array.Decimal128:
		live(idx, x.Value, a.addDecimal)
	case *array.String:
		var b strBounds
		for i := range idx {
			b.add(x.Value(i))
		}
		a.addStrings(b)
	}
}

// strBounds are the least and greatest of strings seen, which alias the
// buffers of an Arrow array.
type strBounds struct {
	lo, hi string
	ok     bool
}

func (b *strBounds) add(v string) {
	switch {
	case !b.ok:
		b.lo, b.hi, b.ok = v, v, true
	case v < b.lo:
		b.lo = v
	case v > b.hi:
		b.hi = v
	}
}

// addStrings folds the bounds of a batch into the min/max, copying them: the
// batch's strings alias its buffers.
func (a *statAcc) addStrings(b strBounds) {
	if !b.ok {
		return
	}
	if !a.has || b.lo < a.minS {
		a.minS = strings.Clone(b.lo)
	}
	if !a.has || b.hi > a.maxS {
		a.maxS = strings.Clone(b.hi)
	}
	a.has = true
}

// addAll folds every non-null value of a leaf array into the min/max, as
// add over validIndexes(arr) does; numbers go through typed loops over the
// Arrow value buffer.
func (a *statAcc) addAll(arr arrow.Array) {
	if a.kind == statNone {
		return
	}
	switch x := arr.(type) {
	case *array.Int8:
		fold(x.Int8Values(), arr, func(v int8) { a.addInt(int64(v)) })
	case *array.Int16:
		fold(x.Int16Values(), arr, func(v int16) { a.addInt(int64(v)) })
	case *array.Int32:
		fold(x.Int32Values(), arr, func(v int32) { a.addInt(int64(v)) })
	case *array.Int64:
		fold(x.Int64Values(), arr, a.addInt)
	case *array.Date32:
		fold(x.Date32Values(), arr, func(v arrow.Date32) { a.addInt(int64(v)) })
	case *array.Timestamp:
		fold(x.TimestampValues(), arr, func(v arrow.Timestamp) { a.addInt(int64(v)) })
	case *array.Float32:
		fold(x.Float32Values(), arr, func(v float32) { a.addFloat(float64(v)) })
	case *array.Float64:
		fold(x.Float64Values(), arr, a.addFloat)
	case *array.String:
		var b strBounds
		for i := range x.Len() {
			if x.IsValid(i) {
				b.add(x.Value(i))
			}
		}
		a.addStrings(b)
	default:
		a.add(arr, validIndexes(arr))
	}
}

// fold passes the least and greatest values of vals, the value buffer of
// arr, to f; nulls and NaNs are skipped.
func fold[T cmp.Ordered](vals []T, arr arrow.Array, f func(T)) {
	if lo, hi, ok := minMax(vals, arr); ok {
		f(lo)
		f(hi)
	}
}

// minMax returns the least and greatest of the values of vals that are not
// null in arr (whose value buffer vals is) and not NaN; ok is false if there
// is none.
func minMax[T cmp.Ordered](vals []T, arr arrow.Array) (lo, hi T, ok bool) {
	if len(vals) != arr.Len() {
		return lo, hi, false
	}
	hasNulls := arr.NullN() > 0
	i := 0
	for ; i < len(vals); i++ {
		if v := vals[i]; v == v && !(hasNulls && arr.IsNull(i)) {
			break
		}
	}
	if i == len(vals) {
		return lo, hi, false
	}
	lo, hi = vals[i], vals[i]
	if !hasNulls {
		// A NaN is neither less nor greater, so it changes neither bound.
		for _, v := range vals[i+1:] {
			lo, hi = min2(lo, v), max2(hi, v)
		}
		return lo, hi, true
	}
	for j := i + 1; j < len(vals); j++ {
		if !arr.IsNull(j) {
			lo, hi = min2(lo, vals[j]), max2(hi, vals[j])
		}
	}
	return lo, hi, true
}

// min2 and max2 are min and max that keep the bound when v is NaN.
func min2[T cmp.Ordered](lo, v T) T {
	if v < lo {
		return v
	}
	return lo
}

func max2[T cmp.Ordered](hi, v T) T {
	if v > hi {
		return v
	}
	return hi
}

// floorDiv and ceilDiv divide rounding toward minus and plus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func formatMillis(ms int64, zone bool) string {
	layout := "2006-01-02T15:04:05.000"
	if zone {
		layout += "Z"
	}
	return time.UnixMilli(ms).UTC().Format(layout)
}

// decimalText renders an unscaled decimal exactly, with scale digits after
// the point.
func decimalText(n decimal128.Num, scale int32) string {
	s := n.BigInt().String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if scale > 0 {
		if len(s) <= int(scale) {
			s = strings.Repeat("0", int(scale)-len(s)+1) + s
		}
		s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// prefixEnd is the byte length of the first statsPrefixLen characters of s,
// and whether s is longer.
func prefixEnd(s string) (int, bool) {
	pos := 0
	for range statsPrefixLen {
		if pos >= len(s) {
			return pos, false
		}
		_, size := utf8.DecodeRuneInString(s[pos:])
		pos += size
	}
	return pos, pos < len(s)
}

// truncateMax returns an upper bound of s of at most statsPrefixLen
// characters: s itself, or its prefix with the last character incremented.
func truncateMax(s string) (string, bool) {
	end, truncated := prefixEnd(s)
	if !truncated {
		return s, true
	}
	p := s[:end]
	for len(p) > 0 {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		if r == utf8.RuneError && size <= 1 {
			continue // invalid byte: drop it and bump the previous character
		}
		switch {
		case r == 0xD7FF:
			return p + string(rune(0xE000)), true
		case r < utf8.MaxRune:
			return p + string(r+1), true
		}
	}
	return "", false
}

// bounds returns the JSON-ready min and max; ok is false when there are
// none to report. A bound that cannot be written (infinite float, string max
// with no upper bound) is nil.
func (a *statAcc) bounds() (lo, hi any, ok bool) {
	if !a.has || a.kind == statNone {
		return nil, nil, false
	}
	switch a.kind {
	case statInt:
		return a.minI, a.maxI, true
	case statFloat:
		if !math.IsInf(a.minF, 0) {
			lo = a.minF
		}
		if !math.IsInf(a.maxF, 0) {
			hi = a.maxF
		}
		return lo, hi, true
	case statDecimal:
		return json.Number(decimalText(a.minD, a.scale)), json.Number(decimalText(a.maxD, a.scale)), true
	case statDate:
		return time.Unix(a.minI*86400, 0).UTC().Format(time.DateOnly), time.Unix(a.maxI*86400, 0).UTC().Format(time.DateOnly), true
	case statTimestamp, statTimestampNTZ:
		zone := a.kind == statTimestamp
		return formatMillis(floorDiv(a.minI, 1000), zone), formatMillis(ceilDiv(a.maxI, 1000), zone), true
	case statString:
		end, _ := prefixEnd(a.minS)
		lo = a.minS[:end]
		if m, ok := truncateMax(a.maxS); ok {
			hi = m
		}
		return lo, hi, true
	}
	return nil, nil, false
}

// fileStats assembles the Delta statistics of a file from its columns'
// accumulators: nested structs become nested maps.
func fileStats(rows int64, roots []*node) *deltalog.FileStats {
	st := &deltalog.FileStats{NumRecords: rows, MinValues: map[string]any{}, MaxValues: map[string]any{}, NullCount: map[string]any{}}
	var fill func(n *node, mins, maxs, nulls map[string]any)
	fill = func(n *node, mins, maxs, nulls map[string]any) {
		if n.typ.Name == deltalog.TypeStruct {
			cmin, cmax, cnull := map[string]any{}, map[string]any{}, map[string]any{}
			for _, c := range n.children {
				fill(c, cmin, cmax, cnull)
			}
			for m, c := range map[*map[string]any]map[string]any{&mins: cmin, &maxs: cmax, &nulls: cnull} {
				if len(c) > 0 {
					(*m)[n.name] = c
				}
			}
			return
		}
		if n.acc == nil {
			return
		}
		nulls[n.name] = n.acc.nulls
		if lo, hi, ok := n.acc.bounds(); ok {
			if lo != nil {
				mins[n.name] = lo
			}
			if hi != nil {
				maxs[n.name] = hi
			}
		}
	}
	for _, r := range roots {
		fill(r, st.MinValues, st.MaxValues, st.NullCount)
	}
	if len(st.MinValues) == 0 {
		st.MinValues = nil
	}
	if len(st.MaxValues) == 0 {
		st.MaxValues = nil
	}
	if len(st.NullCount) == 0 {
		st.NullCount = nil
	}
	return st
}
