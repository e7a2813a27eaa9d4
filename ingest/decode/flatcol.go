package decode

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// A flatCol holds the rows of one top-level column of a non-nested type in
// plain Go slices laid out as Arrow buffers (validity bitmap, values, and
// for strings and binaries offsets and data), and turns them into an array
// when the batch builds its record. Appending to an Arrow builder costs a
// capacity check, a type assertion and, for strings, an indirect offset
// call per value; here a value is one append to a slice. The array is the
// one the builder would make: same type, length, null count and validity
// bitmap, same values where valid (null slots hold zeros). Its buffers are
// Go memory, as with the default allocator, rather than the batch's
// allocator's; nested columns still use the builders.
type flatCol struct {
	kind  kind
	dt    arrow.DataType
	n     int    // rows
	nulls int    // null rows
	valid []byte // validity bitmap, made at the first null: until then every row is valid
	vals  []byte // fixed-width values; booleans as a bitmap; offsets for strings and binaries
	data  []byte // string and binary bytes
}

// newFlatCol returns a flatCol for a top-level column of node n and Arrow
// type dt, or nil for the nested types.
func newFlatCol(n *node, dt arrow.DataType) *flatCol {
	if int(n.kind) >= len(flatTypes) || flatTypes[n.kind] != dt.ID() {
		return nil // nested, or a layout flatCol does not make
	}
	c := &flatCol{kind: n.kind, dt: dt}
	c.reset(0, 0)
	return c
}

// reset empties c for the next batch, with room for rows rows and dataLen
// bytes of string or binary data.
func (c *flatCol) reset(rows, dataLen int) {
	c.n, c.nulls = 0, 0
	c.valid = nil
	switch c.kind {
	case kString, kBinary:
		c.vals = binary.NativeEndian.AppendUint32(make([]byte, 0, 4*(rows+1)), 0)
		c.data = make([]byte, 0, dataLen+16) // addBytes keeps 16 bytes spare
	case kBool:
		c.vals = make([]byte, 0, (rows+7)/8)
	default:
		c.vals = make([]byte, 0, rows*flatSizes[c.kind])
	}
}

// flatTypes are the Arrow types whose layout flatCol makes for each kind.
var flatTypes = [...]arrow.Type{kBool: arrow.BOOL, kInt8: arrow.INT8, kInt16: arrow.INT16, kInt32: arrow.INT32,
	kInt64: arrow.INT64, kFloat32: arrow.FLOAT32, kFloat64: arrow.FLOAT64, kString: arrow.STRING, kBinary: arrow.BINARY,
	kDate: arrow.DATE32, kTimestamp: arrow.TIMESTAMP, kTimestampNTZ: arrow.TIMESTAMP, kDecimal: arrow.DECIMAL128}

// flatSizes are the bytes a value of each fixed-width kind takes.
var flatSizes = [...]int{kBool: 1, kInt8: 1, kInt16: 2, kInt32: 4, kInt64: 8, kFloat32: 4, kFloat64: 8,
	kDate: 4, kTimestamp: 8, kTimestampNTZ: 8, kDecimal: 16}

// add appends a staged value and returns the bytes appendVal would count
// for it (SizeBytes' estimate).
func (c *flatCol) add(v *val) int {
	if v.null {
		return c.addNull()
	}
	switch c.kind {
	case kBool:
		c.addBool(v.i != 0)
	case kDecimal:
		c.addDecimal(v.i, v.hi)
	case kString, kBinary:
		return c.addBytes(v.b)
	default:
		c.addInt(v.i)
	}
	return flatSizes[c.kind]
}

// nextValid starts a valid row and returns its index.
func (c *flatCol) nextValid() int {
	i := c.n
	c.n++
	if c.valid != nil {
		c.growValid(i)
		c.valid[i/8] |= 1 << (i % 8)
	}
	return i
}

// addNull appends a null and returns the bytes appendVal counts for it.
func (c *flatCol) addNull() int {
	i := c.n
	c.n++
	c.markNull(i)
	switch c.kind {
	case kBool:
		if i%8 == 0 {
			c.extend(1)[0] = 0
		}
	case kString, kBinary:
		binary.NativeEndian.PutUint32(c.extend(4), uint32(len(c.data)))
	default:
		copy(c.extend(flatSizes[c.kind]), zeros[:])
	}
	return 1
}

// extend lengthens c.vals by k bytes and returns them. It writes c.vals's
// pointer only when the slice grows: storing a slice into the heap costs a
// write barrier while the GC runs, and a reslice of the same slice does not.
func (c *flatCol) extend(k int) []byte {
	n := len(c.vals)
	if cap(c.vals)-n < k {
		c.vals = slices.Grow(c.vals, k)
	}
	c.vals = c.vals[:n+k]
	return c.vals[n : n+k]
}

// addBool appends a boolean to a kBool column.
func (c *flatCol) addBool(v bool) {
	i := c.nextValid()
	if i%8 == 0 {
		c.extend(1)[0] = 0
	}
	if v {
		c.vals[i/8] |= 1 << (i % 8)
	}
}

// addInt appends a value of an integer, date, timestamp or float kind (the
// bits of a float64 for both float kinds, as val holds them).
func (c *flatCol) addInt(x int64) {
	c.nextValid()
	ne := binary.NativeEndian
	switch c.kind {
	case kInt8:
		c.extend(1)[0] = byte(x)
	case kInt16:
		ne.PutUint16(c.extend(2), uint16(x))
	case kInt32, kDate:
		ne.PutUint32(c.extend(4), uint32(x))
	case kFloat32:
		ne.PutUint32(c.extend(4), math.Float32bits(float32(math.Float64frombits(uint64(x)))))
	default: // kInt64, kFloat64, kTimestamp, kTimestampNTZ
		ne.PutUint64(c.extend(8), uint64(x))
	}
}

// addDecimal appends a decimal's low and high bits.
func (c *flatCol) addDecimal(lo, hi int64) {
	c.nextValid()
	b := c.extend(16)
	binary.NativeEndian.PutUint64(b, uint64(lo))
	binary.NativeEndian.PutUint64(b[8:], uint64(hi))
}

// addBytes appends a string or binary value and returns the bytes
// appendVal counts for it.
func (c *flatCol) addBytes(b []byte) int {
	c.nextValid()
	n := len(c.data)
	if cap(c.data)-n < 16+len(b) {
		c.data = slices.Grow(c.data, 16+len(b))
	}
	if len(b) <= 16 && cap(b) >= 16 {
		// Short strings, the usual case, are copied in two words rather
		// than by a call to memmove; the bytes past the value land in
		// c.data's spare capacity, which later values overwrite.
		src, dst := b[:16], c.data[n:n+16]
		le := binary.LittleEndian
		le.PutUint64(dst, le.Uint64(src))
		le.PutUint64(dst[8:], le.Uint64(src[8:]))
	} else {
		copy(c.data[n:n+len(b)], b)
	}
	c.data = c.data[:n+len(b)]
	binary.NativeEndian.PutUint32(c.extend(4), uint32(len(c.data)))
	return 4 + len(b)
}

// truncate drops the rows from row r on, as if they had never been added.
func (c *flatCol) truncate(r int) {
	if c.n <= r {
		return
	}
	if c.nulls > 0 {
		for i := r; i < c.n; i++ {
			if c.valid[i/8]&(1<<(i%8)) == 0 {
				c.nulls--
			}
		}
		if c.nulls == 0 {
			c.valid = nil // as before its first null
		} else {
			c.valid = clearFrom(c.valid, r)
		}
	}
	switch c.kind {
	case kBool:
		c.vals = clearFrom(c.vals, r)
	case kString, kBinary:
		c.vals = c.vals[:4*(r+1)]
		c.data = c.data[:binary.NativeEndian.Uint32(c.vals[4*r:])]
	default:
		c.vals = c.vals[:r*flatSizes[c.kind]]
	}
	c.n = r
}

// clearFrom cuts a bitmap to the bytes holding bits 0 to r-1 and clears
// the bits from r on in its last byte.
func clearFrom(bm []byte, r int) []byte {
	bm = bm[:(r+7)/8]
	if r%8 != 0 {
		bm[r/8] &= byte(1)<<(r%8) - 1
	}
	return bm
}

var zeros [16]byte

// markNull marks row i null. The first null makes the validity bitmap, with
// the rows before it valid.
func (c *flatCol) markNull(i int) {
	if c.nulls == 0 {
		c.valid = bytes.Repeat([]byte{0xff}, i/8)
		if i%8 != 0 {
			c.valid = append(c.valid, byte(1)<<(i%8)-1)
		}
	}
	c.nulls++
	c.growValid(i)
}

// growValid makes the bitmap long enough for row i.
func (c *flatCol) growValid(i int) {
	for len(c.valid) <= i/8 {
		c.valid = append(c.valid, 0)
	}
}

// array returns the rows as an array (the caller releases it) and empties
// c, sized for a batch like this one.
func (c *flatCol) array() arrow.Array {
	var valid *memory.Buffer // none while every row is valid
	if c.nulls > 0 {
		valid = memory.NewBufferBytes(c.valid)
	}
	bufs := []*memory.Buffer{valid, memory.NewBufferBytes(c.vals)}
	if c.kind == kString || c.kind == kBinary {
		bufs = append(bufs, memory.NewBufferBytes(c.data))
	}
	data := array.NewData(c.dt, c.n, bufs, nil, c.nulls, 0)
	defer data.Release()
	c.reset(c.n, len(c.data))
	return array.MakeFromData(data)
}
