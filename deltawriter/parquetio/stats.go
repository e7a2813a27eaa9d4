package parquetio

import (
	"encoding/json"
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

// live calls f with the index of every slot holding a value.
func live[T any](slots []slot, get func(int) T, f func(T)) {
	for _, s := range slots {
		if s.def < 0 {
			f(get(int(s.idx)))
		}
	}
}

// add folds the values of the live slots of a leaf array into the min/max.
func (a *statAcc) add(arr arrow.Array, slots []slot) {
	if a.kind == statNone {
		return
	}
	switch x := arr.(type) {
	case *array.Int8:
		live(slots, x.Value, func(v int8) { a.addInt(int64(v)) })
	case *array.Int16:
		live(slots, x.Value, func(v int16) { a.addInt(int64(v)) })
	case *array.Int32:
		live(slots, x.Value, func(v int32) { a.addInt(int64(v)) })
	case *array.Int64:
		live(slots, x.Value, a.addInt)
	case *array.Date32:
		live(slots, x.Value, func(v arrow.Date32) { a.addInt(int64(v)) })
	case *array.Timestamp:
		live(slots, x.Value, func(v arrow.Timestamp) { a.addInt(int64(v)) })
	case *array.Float32:
		live(slots, x.Value, func(v float32) { a.addFloat(float64(v)) })
	case *array.Float64:
		live(slots, x.Value, a.addFloat)
	case *array.Decimal128:
		live(slots, x.Value, a.addDecimal)
	case *array.String:
		// Find the batch's bounds by index, then copy them once: the
		// array's strings alias its buffers.
		lo, hi := -1, -1
		for _, s := range slots {
			if s.def >= 0 {
				continue
			}
			i := int(s.idx)
			if lo < 0 || x.Value(i) < x.Value(lo) {
				lo = i
			}
			if hi < 0 || x.Value(i) > x.Value(hi) {
				hi = i
			}
		}
		if lo < 0 {
			return
		}
		if v := x.Value(lo); !a.has || v < a.minS {
			a.minS = strings.Clone(v)
		}
		if v := x.Value(hi); !a.has || v > a.maxS {
			a.maxS = strings.Clone(v)
		}
		a.has = true
	}
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
