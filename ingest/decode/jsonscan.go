package decode

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the fast path of the JSON decoder: a schema-directed
// scanner that walks a message's bytes once and stages each value it needs
// straight from the input, without building a tree.
//
// The scanner is an optimisation only. It succeeds only where the fastjson
// path in json.go (the reference) would succeed with the same staged row; on
// anything else (a conversion error, invalid JSON, a duplicate key, an
// escaped key, NaN or Inf, deep nesting, an object or array for a string
// column) it gives up, and the row goes through the reference, which
// produces the row or the error message exactly as before. Rows that fail
// therefore cost two passes; rows that succeed cost one. The grammar it
// accepts is fastjson's (see value and skipValue), so a row it accepts is
// one fastjson parses: fastjson does not check escapes, control characters
// or the form of numbers in its parse, and neither does the scanner; values
// are converted with the same stager methods as the reference.

// scanMaxDepth is the nesting depth past which the scanner gives up
// (fastjson's limit, 300, is checked by the reference).
const scanMaxDepth = 64

// fastPlan is the read-only, decoder-wide plan of the scanner: the value
// columns' paths as a tree of key levels. It is nil when the scanner cannot
// be used for the columns (see newFastPlan).
type fastPlan struct {
	top    *keyLevel
	slots  int       // number of seen-stamps a row needs: one per column, then one per inner key
	fields fieldKeys // the key sets of the columns' struct types
	flat   *flatKeys // the plan of the flat loop (jsonflat.go), or nil
}

// keyLevel is the set of keys wanted in one object on the columns' paths.
type keyLevel struct {
	keys keySet
	ents []keyEnt // parallel to keys.names
}

// keyEnt is what one key of a keyLevel leads to: a column's value or the
// object holding longer paths.
type keyEnt struct {
	col  int       // value column index, or -1
	node *node     // the column's node
	sub  *keyLevel // the next level of longer paths, or nil
	slot int       // index of the key's seen-stamp
}

// keySet finds a key among a fixed list of names. Names are matched as raw
// bytes, which is only valid for names without '"' and '\\' (newFastPlan
// checks that); the scanner gives up on escaped keys.
type keySet struct {
	names []string
	// members are the names as they start an object member in compact
	// JSON, `"name":`; words hold their first 16 bytes for one- or
	// two-load comparisons.
	members []string
	words   []memberWords
	index   map[string]int // for larger sets; nil for small ones
}

// memberWords are bytes 0-7 and 8-15 of a member, little-endian and
// zero-padded, and the masks of the bytes it fills.
type memberWords struct {
	w0, m0, w1, m1 uint64
}

// keySetLinear is the size up to which keySet searches linearly.
const keySetLinear = 8

func newKeySet(names []string) keySet {
	k := keySet{names: names, members: make([]string, len(names)), words: make([]memberWords, len(names))}
	for i, n := range names {
		mem := `"` + n + `":`
		k.members[i] = mem
		w := &k.words[i]
		w.w0, w.m0 = wordOf(mem)
		if len(mem) > 8 {
			w.w1, w.m1 = wordOf(mem[8:])
		}
	}
	if len(names) > keySetLinear {
		k.index = make(map[string]int, len(names))
		for i := len(names) - 1; i >= 0; i-- {
			k.index[names[i]] = i
		}
	}
	return k
}

// wordOf returns the first 8 bytes of s (zero-padded), little-endian, and
// the mask of the bytes s fills.
func wordOf(s string) (word, mask uint64) {
	var w [8]byte
	m := copy(w[:], s)
	return binary.LittleEndian.Uint64(w[:]), ^uint64(0) >> (64 - 8*uint(m))
}

// member reports whether b[i:] starts with members[j] and returns the index
// after it.
func (k *keySet) member(b []byte, i, j int) (int, bool) {
	mem := k.members[j]
	e := i + len(mem)
	if i+16 > len(b) || len(mem) > 16 {
		return e, e <= len(b) && string(b[i:e]) == mem
	}
	return e, k.words[j].match(b[i : i+16])
}

// match reports whether the 16 bytes b start with the member.
func (w *memberWords) match(b []byte) bool {
	b = b[:16]
	return binary.LittleEndian.Uint64(b)&w.m0 == w.w0 && binary.LittleEndian.Uint64(b[8:])&w.m1 == w.w1
}

// find returns the index of key, or -1.
func (k *keySet) find(key []byte) int {
	if k.index != nil {
		if i, ok := k.index[string(key)]; ok {
			return i
		}
		return -1
	}
	for i, n := range k.names {
		if n == string(key) {
			return i
		}
	}
	return -1
}

// plainName reports whether a name can be matched as raw key bytes.
func plainName(s string) bool { return !strings.ContainsAny(s, "\"\\") }

// newFastPlan builds the scanner's plan for p's value columns, or returns nil
// if the scanner cannot serve them: a name with '"' or '\\', or a path that
// is both a column and the prefix of another column's path.
func newFastPlan(p *plan) *fastPlan {
	fp := &fastPlan{top: &keyLevel{}, slots: len(p.cols), fields: fieldKeys{}}
	type build struct {
		names []string
		ents  []keyEnt
		subs  map[string]*build
	}
	root := &build{subs: map[string]*build{}}
	levels := map[*build]*keyLevel{root: fp.top}
	for _, c := range p.valueCols {
		if !plainNode(p.nodes[c]) {
			return nil
		}
		fp.fields.add(p.nodes[c])
		path := p.paths[c]
		lv := root
		for d, key := range path {
			if !plainName(key) {
				return nil
			}
			idx := -1
			for i, n := range lv.names {
				if n == key {
					idx = i
					break
				}
			}
			last := d == len(path)-1
			if idx < 0 {
				lv.names = append(lv.names, key)
				lv.ents = append(lv.ents, keyEnt{col: -1})
				idx = len(lv.names) - 1
			}
			e := &lv.ents[idx]
			if last {
				if e.col >= 0 || lv.subs[key] != nil {
					return nil // a path that is also a prefix, or two equal paths
				}
				e.col, e.slot, e.node = c, c, p.nodes[c]
				continue
			}
			if e.col >= 0 {
				return nil
			}
			next := lv.subs[key]
			if next == nil {
				next = &build{subs: map[string]*build{}}
				lv.subs[key] = next
				e.slot = fp.slots
				fp.slots++
				levels[next] = &keyLevel{}
			}
			lv = next
		}
	}
	// Fill the key levels from the builders, linking each entry to its sub-level.
	var fill func(b *build)
	fill = func(b *build) {
		kl := levels[b]
		kl.keys = newKeySet(b.names)
		kl.ents = b.ents
		for i, name := range b.names {
			if sub := b.subs[name]; sub != nil {
				kl.ents[i].sub = levels[sub]
				fill(sub)
			}
		}
	}
	fill(root)
	fp.flat = newFlatKeys(fp)
	return fp
}

// plainNode reports whether every struct field name in n's type can be
// matched as raw key bytes, is unique in its struct, and every struct has at
// most 64 fields (the scanner tracks fields seen in one word).
func plainNode(n *node) bool {
	switch n.kind {
	case kStruct:
		if len(n.fields) > 64 {
			return false
		}
		names := map[string]bool{}
		for _, f := range n.fields {
			if !plainName(f.name) || names[f.name] || !plainNode(f) {
				return false
			}
			names[f.name] = true
		}
	case kArray:
		return plainNode(n.elem)
	case kMap:
		return plainNode(n.key) && plainNode(n.elem)
	}
	return true
}

// fieldKeys are the key sets of struct nodes, built once per decoder.
type fieldKeys map[*node]*keySet

func (fk fieldKeys) add(n *node) {
	switch n.kind {
	case kStruct:
		if fk[n] != nil {
			return
		}
		names := make([]string, len(n.fields))
		for i, f := range n.fields {
			names[i] = f.name
			fk.add(f)
		}
		ks := newKeySet(names)
		fk[n] = &ks
	case kArray:
		fk.add(n.elem)
	case kMap:
		fk.add(n.key)
		fk.add(n.elem)
	}
}

// scanner is the per-batch state of the fast path.
type scanner struct {
	fp    *fastPlan
	plan  *plan
	s     *stager
	seen  []uint32 // seen-stamps: slot == gen means seen in this row
	gen   uint32
	tmp   []val // stack of array elements and map entries being scanned
	depth int
	// The last date that days parsed, for timestamps.
	date     [10]byte
	dateDays int64
	dateOK   bool
	// misses counts consecutive rows the scanner gave up on; after
	// missLimit of them it rests for missRest rows, so data it never
	// serves costs little more than the reference alone.
	misses, rest int
}

const (
	missLimit = 16
	missRest  = 1024
)

// Character classes of the scanner.
var (
	// numChar: the bytes fastjson takes as part of a number.
	numChar [256]bool
)

func init() {
	for c := '0'; c <= '9'; c++ {
		numChar[c] = true
	}
	for _, c := range ".-eE+" {
		numChar[c] = true
	}
}

// isWS reports JSON white space, as fastjson's skipWS.
func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// skipWS returns the index of the first non-space byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isWS(b[i]) {
		i++
	}
	return i
}

// row stages the value columns of one message; false means the reference
// must decode it.
func (sc *scanner) row(b []byte, row []val) bool {
	sc.gen++
	if sc.gen == 0 {
		clear(sc.seen)
		sc.gen = 1
	}
	sc.depth = 0
	sc.tmp = sc.tmp[:0]
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = sc.level(b, i+1, sc.fp.top, row)
	if i < 0 || skipWS(b, i) != len(b) {
		return false
	}
	for _, c := range sc.plan.valueCols {
		if sc.seen[c] != sc.gen {
			v, err := sc.s.null(sc.plan.nodes[c])
			if err != nil {
				return false
			}
			row[c] = v
		}
	}
	return true
}

// key reads the object key at b[i:] (at its opening quote), trying
// names[guess] first. It returns the key's index in ks (-1 if not wanted) and
// the index after the ':' and the spaces after it, or -1 if the scanner
// gives up.
func key(b []byte, i int, ks *keySet, guess int) (int, int) {
	if guess < len(ks.names) {
		if e, ok := ks.member(b, i, guess); ok {
			return guess, skipWS(b, e)
		}
	}
	if i >= len(b) || b[i] != '"' {
		return 0, -1
	}
	j := i + 1
	for j < len(b) && b[j] != '"' && b[j] != '\\' {
		j++
	}
	if j >= len(b) || b[j] == '\\' {
		return 0, -1 // escaped keys may match after unescaping: the reference decides
	}
	idx := ks.find(b[i+1 : j])
	if i = skipWS(b, j+1); i >= len(b) || b[i] != ':' {
		return 0, -1
	}
	return idx, skipWS(b, i+1)
}

// endMember reads what follows an object member or array element at b[i:]:
// it returns the index after a ',' and spaces (more follows; the index is
// then within b), or after the closing byte (done), or -1.
func endMember(b []byte, i int, closing byte) (next int, done bool) {
	i = skipWS(b, i)
	if i >= len(b) {
		return -1, false
	}
	switch b[i] {
	case ',':
		if i = skipWS(b, i+1); i >= len(b) {
			return -1, false
		}
		return i, false
	case closing:
		return i + 1, true
	}
	return -1, false
}

// openMembers reads the start of an object's or array's contents at b[i:],
// just after its opening byte: it returns the index of the first member, and
// whether the value is empty (the index is then after the closing byte).
func openMembers(b []byte, i int, closing byte) (int, bool) {
	i = skipWS(b, i)
	if i >= len(b) {
		return -1, false
	}
	if b[i] == closing {
		return i + 1, true
	}
	return i, false
}

// level scans an object on the columns' paths, from just after its '{',
// staging the columns it holds. It returns the index after the '}', or -1.
func (sc *scanner) level(b []byte, i int, lv *keyLevel, row []val) int {
	if sc.depth++; sc.depth > scanMaxDepth {
		return -1
	}
	i, empty := openMembers(b, i, '}')
	if empty || i < 0 {
		sc.depth--
		return i
	}
	guess := 0
	for {
		var idx int
		if idx, i = key(b, i, &lv.keys, guess); i < 0 {
			return -1
		}
		if idx < 0 {
			i = sc.skipValue(b, i)
		} else {
			guess = idx + 1
			e := &lv.ents[idx]
			if sc.seen[e.slot] == sc.gen {
				return -1 // a duplicate key: fastjson takes the first
			}
			sc.seen[e.slot] = sc.gen
			switch {
			case e.sub == nil:
				i = sc.value(b, i, e.node, &row[e.col])
			case i < len(b) && b[i] == '{':
				i = sc.level(b, i+1, e.sub, row)
			case i+4 <= len(b) && string(b[i:i+4]) == "null":
				i += 4 // a null on the way: the columns below stay null
			default:
				return -1
			}
		}
		if i < 0 {
			return -1
		}
		var done bool
		if i, done = endMember(b, i, '}'); done || i < 0 {
			sc.depth--
			return i
		}
	}
}

// value stages the JSON value at b[i:] (no leading space) for n into *dst,
// as the reference's stager.json would. It returns the index after the
// value, or -1. dst must not point into s.kids or sc.tmp, which nested
// values may grow.
func (sc *scanner) value(b []byte, i int, n *node, dst *val) int {
	if i >= len(b) {
		return -1
	}
	s := sc.s
	var err error
	switch c := b[i]; c {
	case '"':
		j, esc, ascii := scanString(b, i+1)
		if j < 0 {
			return -1
		}
		raw := b[i+1 : j]
		i = j + 1
		switch {
		case esc:
			start := len(s.bytes)
			s.bytes = appendUnescaped(s.bytes, raw)
			raw = s.bytes[start:len(s.bytes):len(s.bytes)]
		case ascii && n.kind == kString:
			*dst = val{b: raw} // valid UTF-8: fromText would return it as is
			return i
		case (n.kind == kTimestamp || n.kind == kTimestampNTZ) && len(raw) >= 10 && raw[4] == '-':
			x, ok := sc.timestamp(raw, n.kind)
			if !ok {
				return -1
			}
			*dst = val{i: x}
			return i
		}
		*dst, err = s.fromText(n, raw)
	case 't', 'f', 'n':
		if i = literal(b, i); i < 0 {
			return -1 // for 'n': NaN, or invalid
		}
		if c == 'n' {
			*dst, err = s.null(n)
		} else {
			*dst, err = s.fromBool(n, c == 't')
		}
	case '{':
		switch n.kind {
		case kStruct:
			return sc.object(b, i+1, n, dst)
		case kMap:
			return sc.mapValue(b, i+1, n, dst)
		}
		return -1
	case '[':
		if n.kind == kArray {
			return sc.array(b, i+1, n, dst)
		}
		return -1
	default:
		switch n.kind {
		case kInt64, kInt32, kInt16, kInt8:
			if x, j, ok := scanInt(b, i); ok {
				if r := intRange[n.kind]; x < r.min || x > r.max {
					return -1
				}
				*dst = val{i: x}
				return j
			}
		case kFloat64:
			if f, j := scanDouble(b, i); j != 0 {
				if j > 0 {
					*dst = floatVal(f)
				}
				return j
			}
		}
		j := scanNumber(b, i)
		if j < 0 {
			return -1
		}
		raw := b[i:j]
		i = j
		*dst, err = s.fromNumeric(n, raw, false)
	}
	if err != nil {
		return -1
	}
	return i
}

// timestamp converts the date-time text raw (at least 10 bytes, with '-'
// at raw[4]) for a column of kind k (kTimestamp or kTimestampNTZ), as
// fromText's date-time case does, with the date cached.
func (sc *scanner) timestamp(raw []byte, k kind) (int64, bool) {
	days, ok := sc.days(raw)
	if !ok {
		return 0, false
	}
	t, ok := parseClock(raw, days)
	if !ok || k == kTimestampNTZ && t.hasOffset {
		return 0, false
	}
	return t.micros - t.offset*1e6, true
}

// scanDouble parses the number at b[i:] for a double column when it is
// "[-]digits[.digits]" and ends where fastjson's number does, as the
// general path (fromNumeric) would: it returns the value and the index after
// it, or -1 if the general path would fail. end is 0 for a number of any
// other form, which the general path handles.
func scanDouble(b []byte, i int) (f float64, end int) {
	f, j, ok := scanFloatExact(b, i)
	if ok || j == 0 {
		return f, j
	}
	// The general path would parse the same text.
	f, err := strconv.ParseFloat(bstr(b[i:j]), 64)
	if err != nil {
		return 0, -1
	}
	return f, j
}

// minus reports whether b[i:] starts with '-', and returns the index after
// it.
func minus(b []byte, i int) (bool, int) {
	if i < len(b) && b[i] == '-' {
		return true, i + 1
	}
	return false, i
}

// addDigits takes the decimal digits at b[i:] into u (u = u*10 + digit; it
// wraps past 19 digits) and returns u and the index after them.
func addDigits(b []byte, i int, u uint64) (uint64, int) {
	for i < len(b) {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		u = u*10 + uint64(d)
		i++
	}
	return u, i
}

// scanInt parses the number at b[i:] when it is "[-]digits" with at most 18
// digits (so it cannot overflow) and ends where fastjson's number does: it
// returns the value and the index after it. ok is false for any other
// number, which the general path (scanNumber, then fromNumeric) handles; for
// the numbers scanInt takes, that path's parseInt gives the same value.
func scanInt(b []byte, i int) (x int64, end int, ok bool) {
	neg, start := minus(b, i)
	u, i := addDigits(b, start, 0)
	if n := i - start; n == 0 || n > 18 || i < len(b) && numChar[b[i]] {
		return 0, 0, false
	}
	if neg {
		return -int64(u), i, true
	}
	return int64(u), i, true
}

// Word-at-a-time (SWAR) masks: every byte 0x01, every byte 0x80, and every
// byte '"' or '\\'.
const (
	swarLo    = 0x0101010101010101
	swarHi    = 0x8080808080808080
	swarQuote = '"' * swarLo
	swarBack  = '\\' * swarLo
)

// plainRun returns the index of the first byte at or after b[i] that is '"'
// or '\\', or (if ascii) not ASCII; len(b) if none.
func plainRun(b []byte, i int, ascii bool) int {
	var high uint64
	if ascii {
		high = swarHi
	}
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		q, bs := w^swarQuote, w^swarBack
		// A byte of m has its top bit set where q or bs has a zero byte
		// (exact for the lowest such byte, which is all that is used) or,
		// if ascii, where w's byte is not ASCII.
		m := ((q-swarLo)&^q | (bs-swarLo)&^bs | w&high) & swarHi
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) {
		if c := b[i]; c == '"' || c == '\\' || ascii && c >= 0x80 {
			return i
		}
		i++
	}
	return i
}

// days returns the days since the epoch of the date "YYYY-MM-DD" that b
// starts with, as parseDate does, remembering the last date parsed: the
// timestamps of a stream mostly share their day.
func (sc *scanner) days(b []byte) (int64, bool) {
	if sc.dateOK && string(b[:10]) == string(sc.date[:]) {
		return sc.dateDays, true
	}
	d, ok := parseDate(b)
	if ok {
		copy(sc.date[:], b)
		sc.dateDays, sc.dateOK = d, true
	}
	return d, ok
}

// scanString finds the end of the string whose contents start at b[i]: it
// returns the index of the closing quote (-1 if none), whether the string
// has escapes, and whether its bytes are all ASCII. A backslash escapes the
// byte after it, as fastjson's parseRawString finds the end.
func scanString(b []byte, i int) (end int, esc, ascii bool) {
	ascii = true
	for {
		i = plainRun(b, i, ascii)
		if i >= len(b) {
			return -1, false, false
		}
		switch b[i] {
		case '"':
			return i, esc, ascii
		case '\\':
			esc = true
			i += 2
		default:
			ascii = false
			i++
		}
	}
}

// scanNumber returns the index after the number at b[i:], or -1. Like
// fastjson it takes any run of digits, '.', '-', '+', 'e' and 'E'; it gives
// up where fastjson would try NaN or Inf or fail.
func scanNumber(b []byte, i int) int {
	j := i
	for j < len(b) && numChar[b[j]] {
		j++
	}
	if j == i || j == i+1 && (b[i] == '-' || b[i] == '+') {
		return -1
	}
	return j
}

// object stages a JSON object, from just after its '{', as struct n.
func (sc *scanner) object(b []byte, i int, n *node, dst *val) int {
	if sc.depth++; sc.depth > scanMaxDepth {
		return -1
	}
	s := sc.s
	start := s.reserve(len(n.fields))
	ks := sc.fp.fields[n]
	var seen uint64
	i, empty := openMembers(b, i, '}')
	if i < 0 {
		return -1
	}
	guess := 0
	for !empty {
		var idx int
		if idx, i = key(b, i, ks, guess); i < 0 {
			return -1
		}
		if idx < 0 {
			i = sc.skipValue(b, i)
		} else {
			if seen&(1<<idx) != 0 {
				return -1 // a duplicate key: fastjson takes the first
			}
			seen |= 1 << idx
			guess = idx + 1
			var v val
			i = sc.value(b, i, n.fields[idx], &v)
			s.kids[start+idx] = v
		}
		if i < 0 {
			return -1
		}
		if i, empty = endMember(b, i, '}'); i < 0 {
			return -1
		}
	}
	for k, f := range n.fields {
		if seen&(1<<k) == 0 {
			v, err := s.null(f)
			if err != nil {
				return -1
			}
			s.kids[start+k] = v
		}
	}
	sc.depth--
	*dst = nested(start, len(n.fields))
	return i
}

// array stages a JSON array, from just after its '[', as array n.
func (sc *scanner) array(b []byte, i int, n *node, dst *val) int {
	if sc.depth++; sc.depth > scanMaxDepth {
		return -1
	}
	mark := len(sc.tmp)
	i, empty := openMembers(b, i, ']')
	if i < 0 {
		return -1
	}
	for !empty {
		var v val
		if i = sc.value(b, i, n.elem, &v); i < 0 {
			return -1
		}
		sc.tmp = append(sc.tmp, v)
		if i, empty = endMember(b, i, ']'); i < 0 {
			return -1
		}
	}
	sc.depth--
	*dst = sc.popKids(mark, len(sc.tmp)-mark)
	return i
}

// popKids moves the values stacked since mark into the row's kids, as the
// children of a nested value with n of them.
func (sc *scanner) popKids(mark, n int) val {
	start := sc.s.reserve(len(sc.tmp) - mark)
	copy(sc.s.kids[start:], sc.tmp[mark:])
	sc.tmp = sc.tmp[:mark]
	return nested(start, n)
}

// mapValue stages a JSON object, from just after its '{', as map n: every
// member in order, duplicates included, as fastjson's Visit gives them.
func (sc *scanner) mapValue(b []byte, i int, n *node, dst *val) int {
	if sc.depth++; sc.depth > scanMaxDepth {
		return -1
	}
	s := sc.s
	mark := len(sc.tmp)
	i, empty := openMembers(b, i, '}')
	if i < 0 {
		return -1
	}
	for !empty {
		if b[i] != '"' {
			return -1
		}
		j, esc, _ := scanString(b, i+1)
		if j < 0 {
			return -1
		}
		k := b[i+1 : j]
		if esc {
			start := len(s.bytes)
			s.bytes = appendUnescaped(s.bytes, k)
			k = s.bytes[start:len(s.bytes):len(s.bytes)]
		}
		kv, err := s.fromText(n.key, k)
		if err != nil {
			return -1
		}
		if i = skipWS(b, j+1); i >= len(b) || b[i] != ':' {
			return -1
		}
		var vv val
		if i = sc.value(b, skipWS(b, i+1), n.elem, &vv); i < 0 {
			return -1
		}
		sc.tmp = append(sc.tmp, kv, vv)
		if i, empty = endMember(b, i, '}'); i < 0 {
			return -1
		}
	}
	sc.depth--
	*dst = sc.popKids(mark, (len(sc.tmp)-mark)/2)
	return i
}

// literal returns the index after the literal true, false or null that
// b[i:] starts with (b[i] is 't', 'f' or 'n'), or -1.
func literal(b []byte, i int) int {
	lit := "null"
	switch b[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	}
	if i+len(lit) > len(b) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// skipValue skips the JSON value at b[i:] (no leading space), checking it
// as fastjson's parser would. It returns the index after it, or -1.
func (sc *scanner) skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		j, _, _ := scanString(b, i+1)
		if j < 0 {
			return -1
		}
		return j + 1
	case 't', 'f', 'n':
		return literal(b, i)
	case '{', '[':
		if sc.depth++; sc.depth > scanMaxDepth {
			return -1
		}
		closing := byte('}')
		if b[i] == '[' {
			closing = ']'
		}
		i, empty := openMembers(b, i+1, closing)
		if i < 0 {
			return -1
		}
		for !empty {
			if closing == '}' {
				if b[i] != '"' {
					return -1
				}
				j, _, _ := scanString(b, i+1)
				if j < 0 {
					return -1
				}
				if i = skipWS(b, j+1); i >= len(b) || b[i] != ':' {
					return -1
				}
				i = skipWS(b, i+1)
			}
			if i = sc.skipValue(b, i); i < 0 {
				return -1
			}
			if i, empty = endMember(b, i, closing); i < 0 {
				return -1
			}
		}
		sc.depth--
		return i
	}
	return scanNumber(b, i)
}

// appendUnescaped appends the string contents raw (between its quotes) to
// dst with escapes decoded as fastjson's best-effort unescaping does, so
// that both paths stage the same bytes: invalid or short \u escapes and
// unknown escapes are kept as written, a \u surrogate not followed by a \u
// escape is kept as written, and a surrogate followed by a \u escape that
// does not pair with it becomes U+FFFD, both escapes consumed.
func appendUnescaped(dst, raw []byte) []byte {
	for len(raw) > 0 {
		n := 0
		for n < len(raw) && raw[n] != '\\' {
			n++
		}
		dst = append(dst, raw[:n]...)
		if n == len(raw) {
			break
		}
		raw = raw[n+1:]
		if len(raw) == 0 {
			break // cannot happen in a scanned string: a backslash escapes the quote
		}
		ch := raw[0]
		raw = raw[1:]
		switch ch {
		case '"', '\\', '/':
			dst = append(dst, ch)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			x, ok := hex4(raw)
			if !ok {
				dst = append(dst, '\\', 'u')
				break
			}
			xs := raw[:4]
			raw = raw[4:]
			if !utf16.IsSurrogate(rune(x)) {
				dst = utf8.AppendRune(dst, rune(x))
				break
			}
			if len(raw) < 6 || raw[0] != '\\' || raw[1] != 'u' {
				dst = append(dst, '\\', 'u')
				dst = append(dst, xs...)
				break
			}
			x1, ok := hex4(raw[2:])
			if !ok {
				dst = append(dst, '\\', 'u')
				dst = append(dst, xs...)
				break
			}
			dst = utf8.AppendRune(dst, utf16.DecodeRune(rune(x), rune(x1)))
			raw = raw[6:]
		default:
			dst = append(dst, '\\', ch)
		}
	}
	return dst
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// scanFloatExact parses the number at b[i:] when it is "[-]digits[.digits]"
// and ends where fastjson's number does. When the value is the quotient of
// two exactly representable float64s, a mantissa below 2^53 and a power of
// ten up to 1e22, one IEEE division rounds it correctly, so the result is
// strconv.ParseFloat's (which is correctly rounded): ok is true. Otherwise
// ok is false, and end is the end of the number if it has that form (0 if
// not), for ParseFloat.
func scanFloatExact(b []byte, i int) (f float64, end int, ok bool) {
	neg, start := minus(b, i)
	mant, i := addDigits(b, start, 0) // mant wraps past 19 digits; then unused
	nd := i - start
	if nd == 0 {
		return 0, 0, false
	}
	exp := 0
	if i < len(b) && b[i] == '.' {
		fs := i + 1
		if mant, i = addDigits(b, fs, mant); i == fs {
			return 0, 0, false // "5."
		}
		exp = i - fs
	}
	if i < len(b) && numChar[b[i]] {
		return 0, 0, false // an exponent, or not a number
	}
	if nd+exp > 19 || mant >= 1<<53 || exp >= len(exactPow10) {
		return 0, i, false
	}
	f = float64(mant) / exactPow10[exp]
	if neg {
		f = -f
	}
	return f, i, true
}

// hex4 parses the 4 hex digits at the start of b, as strconv.ParseUint(s,
// 16, 16) does for a 4-byte s.
func hex4(b []byte) (uint16, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var x uint16
	for _, c := range b[:4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		x = x<<4 | uint16(d)
	}
	return x, true
}
