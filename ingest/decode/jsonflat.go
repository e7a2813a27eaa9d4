package decode

import (
	"encoding/binary"
	"math/bits"
)

// This file holds the scanner's loop for flat records: when every value
// column is a top-level key of a non-nested type, a batch whose columns are
// all flat (flatcol.go) has each value appended straight to its column as
// the scanner reads it, with no staged row in between, and the common
// values (plain ASCII strings, integers, doubles without an exponent,
// timestamp strings, booleans, null) are converted by a dispatch on the
// column's kind alone. Any other
// value goes through scanner.value, as in the general loop. The loop
// accepts exactly the rows the general loop accepts, with the same values;
// a row it gives up on is truncated from the columns and goes through the
// reference, as with the general loop.

// flatOp is how the flat loop converts a column's common values.
type flatOp uint8

const (
	opOther flatOp = iota // through scanner.value
	opString
	opInt
	opFloat64
	opTimestamp
	opBool
)

// flatOps are the ops of the kinds the flat loop converts itself.
var flatOps = [...]flatOp{kString: opString, kInt8: opInt, kInt16: opInt, kInt32: opInt, kInt64: opInt,
	kFloat64: opFloat64, kTimestamp: opTimestamp, kTimestampNTZ: opTimestamp, kBool: opBool}

// flatKeys is the flat loop's plan: the top-level keys, and for each its
// column, node and op. It is nil for columns the flat loop cannot serve.
type flatKeys struct {
	keys *keySet
	ents []flatEnt // parallel to keys.names
	all  uint64    // the bits of all keys, as flatRow marks them seen
}

// flatEnt is one top-level key of the flat loop's plan.
type flatEnt struct {
	// words are the key's member, `"name":`, for a two-load comparison,
	// or words that match nothing if it is longer than 16 bytes.
	words  memberWords
	member int // length of the member
	col    int
	node   *node
	op     flatOp
}

// newFlatKeys returns the flat loop's plan for fp, or nil if a value column
// has a path into an object or a nested type, or there are more than 64.
func newFlatKeys(fp *fastPlan) *flatKeys {
	top := fp.top
	if len(top.ents) > 64 {
		return nil
	}
	fk := &flatKeys{keys: &top.keys, ents: make([]flatEnt, len(top.ents)), all: 1<<len(top.ents) - 1}
	for i, e := range top.ents {
		if e.sub != nil || e.col < 0 {
			return nil
		}
		switch e.node.kind {
		case kStruct, kArray, kMap:
			return nil
		}
		op := opOther
		if int(e.node.kind) < len(flatOps) {
			op = flatOps[e.node.kind]
		}
		words := top.keys.words[i]
		if len(top.keys.members[i]) > 16 {
			words = memberWords{w0: 1} // no load masked by m0 = 0 equals 1
		}
		fk.ents[i] = flatEnt{words: words, member: len(top.keys.members[i]), col: e.col, node: e.node, op: op}
	}
	return fk
}

// flatRow appends the value columns of the JSON object b to cols (indexed
// by column) as row n, and returns the bytes appended as SizeBytes counts
// them. False means it gave up; cols then hold n rows as before.
func (sc *scanner) flatRow(b []byte, cols []*flatCol, n int) (int, bool) {
	fk := sc.fp.flat
	var seen uint64
	size, ok := sc.flatMembers(b, cols, &seen)
	if ok && seen != fk.all {
		// Absent keys are nulls.
		for idx := range fk.ents {
			if seen&(1<<idx) == 0 {
				e := &fk.ents[idx]
				if !e.node.nullable {
					ok = false
					break
				}
				size += cols[e.col].addNull()
			}
		}
	}
	if !ok {
		for idx := range fk.ents {
			cols[fk.ents[idx].col].truncate(n)
		}
		return 0, false
	}
	return size, true
}

// flatMembers appends the members of the object b to cols, setting in seen
// the bits of the keys it took. False means it gave up.
func (sc *scanner) flatMembers(b []byte, cols []*flatCol, seen *uint64) (int, bool) {
	fk := sc.fp.flat
	sc.depth = 1
	sc.tmp = sc.tmp[:0]
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i, empty := openMembers(b, i+1, '}')
	size, guess := 0, 0
	for !empty && i >= 0 {
		var idx int
		if guess < len(fk.ents) && i+16 <= len(b) && fk.ents[guess].words.match(b[i:i+16]) {
			// The key producers put next: keySet.member, inlined.
			idx, i = guess, skipWS(b, i+fk.ents[guess].member)
		} else if idx, i = key(b, i, fk.keys, guess); i < 0 {
			return 0, false
		}
		if idx < 0 {
			i = sc.skipValue(b, i)
		} else {
			if *seen&(1<<idx) != 0 {
				return 0, false // a duplicate key: fastjson takes the first
			}
			*seen |= 1 << idx
			guess = idx + 1
			var sz int
			i, sz = sc.flatValue(b, i, &fk.ents[idx], cols[fk.ents[idx].col])
			size += sz
		}
		if i < 0 {
			return 0, false
		}
		i, empty = endMember(b, i, '}')
	}
	if i < 0 || skipWS(b, i) != len(b) {
		return 0, false
	}
	return size, true
}

// flatValue appends the JSON value at b[i:] (no leading space) to c, as
// scanner.value and flatCol.add would. It returns the index after the value
// (-1 if the scanner gives up) and the bytes appended.
func (sc *scanner) flatValue(b []byte, i int, e *flatEnt, c *flatCol) (int, int) {
	if i >= len(b) {
		return -1, 0
	}
	switch ch := b[i]; {
	case ch == '"' && (e.op == opString || e.op == opTimestamp):
		j := plainEnd(b, i+1)
		if j < 0 {
			break
		}
		raw := b[i+1 : j]
		if e.op == opString {
			return j + 1, c.addBytes(raw)
		}
		if len(raw) < 10 || raw[4] != '-' {
			break
		}
		x, ok := sc.timestamp(raw, e.node.kind)
		if !ok {
			return -1, 0
		}
		c.addInt(x)
		return j + 1, 8
	case ch == 'n':
		if i+4 > len(b) || string(b[i:i+4]) != "null" || !e.node.nullable {
			return -1, 0
		}
		return i + 4, c.addNull()
	case e.op == opInt:
		x, j, ok := scanInt(b, i)
		if !ok {
			break
		}
		if r := intRange[e.node.kind]; x < r.min || x > r.max {
			return -1, 0
		}
		c.addInt(x)
		return j, flatSizes[c.kind]
	case e.op == opFloat64:
		f, j := scanDouble(b, i)
		if j == 0 {
			break
		}
		if j > 0 {
			c.addInt(floatVal(f).i)
		}
		return j, 8
	case e.op == opBool && (ch == 't' || ch == 'f'):
		j := literal(b, i)
		if j < 0 {
			return -1, 0
		}
		c.addBool(ch == 't')
		return j, 1
	}
	var v val
	if i = sc.value(b, i, e.node, &v); i < 0 {
		return -1, 0
	}
	return i, c.add(&v)
}

// plainEnd returns the index of the quote that ends the string whose
// contents start at b[i], if they are ASCII without escapes (what
// scanString reports as not escaped and ASCII), and -1 if they are not or
// the string ends within 8 bytes of the end of b (scanString decides then).
// It is plainRun's loop for ASCII, small enough to be inlined.
func plainEnd(b []byte, i int) int {
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		q, bs := w^swarQuote, w^swarBack
		if m := ((q-swarLo)&^q | (bs-swarLo)&^bs | w) & swarHi; m != 0 {
			if i += bits.TrailingZeros64(m) >> 3; b[i] == '"' {
				return i
			}
			return -1
		}
		i += 8
	}
	return -1
}
