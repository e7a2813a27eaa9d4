package deltalog

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// FeatureDeletionVectors is the reader and writer feature of tables whose
// files may carry deletion vectors (rows marked deleted without rewriting
// the file).
const FeatureDeletionVectors = "deletionVectors"

// Deletion vector storage types (DeletionVector.StorageType).
const (
	DVInline   = "i" // the bitmap itself, Z85-encoded, in pathOrInlineDv
	DVRelative = "u" // a file named by a UUID (and prefix) under the table root
	DVAbsolute = "p" // a file named by an absolute path
)

// dvMagic is the first word (little-endian) of a serialised
// RoaringBitmapArray in the portable format, the one Delta writes.
const dvMagic = 1681511377

// UniqueID identifies a deletion vector in log replay: a file is the pair
// (path, deletion vector), so an add of a path with a new deletion vector
// and the remove of the same path with the old one are different files.
func (dv *DeletionVector) UniqueID() string {
	if dv == nil {
		return ""
	}
	id := dv.StorageType + dv.PathOrInlineDv
	if dv.Offset != nil {
		id += "@" + strconv.FormatInt(int64(*dv.Offset), 10)
	}
	return id
}

// Key returns the object key, relative to the table root st is rooted at,
// of the file an on-disk deletion vector is stored in. Absolute paths
// ("p") must lie under the table root, as data files must.
func (dv *DeletionVector) Key(st objstore.Store) (string, error) {
	switch dv.StorageType {
	case DVRelative:
		p := dv.PathOrInlineDv
		if len(p) < 20 {
			return "", fmt.Errorf("deletion vector %q: a relative path needs at least 20 characters (the Z85 UUID)", p)
		}
		raw, err := z85Decode(p[len(p)-20:])
		if err != nil {
			return "", fmt.Errorf("deletion vector %q: %w", p, err)
		}
		h := hex.EncodeToString(raw)
		name := "deletion_vector_" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32] + ".bin"
		if prefix := p[:len(p)-20]; prefix != "" {
			name = prefix + "/" + name
		}
		if err := objstore.ValidateKey(name); err != nil {
			return "", fmt.Errorf("deletion vector %q: %w", p, err)
		}
		return name, nil
	case DVAbsolute:
		root := strings.TrimSuffix(st.URI(), "/") + "/"
		p := dv.PathOrInlineDv
		if strings.HasPrefix(p, "file:/") && !strings.HasPrefix(p, "file:///") {
			p = "file://" + p[len("file:"):]
		}
		if !strings.HasPrefix(p, root) {
			return "", fmt.Errorf("deletion vector file %q is outside the table root %s: absolute paths elsewhere are not supported", dv.PathOrInlineDv, st.URI())
		}
		k, err := url.PathUnescape(p[len(root):])
		if err != nil {
			return "", fmt.Errorf("deletion vector file %q: bad URI encoding: %w", dv.PathOrInlineDv, err)
		}
		if err := objstore.ValidateKey(k); err != nil {
			return "", fmt.Errorf("deletion vector file %q: %w", dv.PathOrInlineDv, err)
		}
		return k, nil
	}
	return "", fmt.Errorf("deletion vector of storage type %q has no file", dv.StorageType)
}

// maxDVSize bounds the serialised size of one deletion vector (the bitmap
// of a file's deleted rows), against corrupt descriptors.
const maxDVSize = 1 << 30

// ReadDeletionVector returns the rows a deletion vector marks deleted:
// decoded inline, or read from its file in st (the table's store) with its
// size and CRC-32 checked. The bitmap's cardinality must match the
// descriptor's.
func ReadDeletionVector(ctx context.Context, st objstore.Store, dv *DeletionVector) (*RowSet, error) {
	if dv.SizeInBytes < 0 || dv.SizeInBytes > maxDVSize {
		return nil, fmt.Errorf("deletion vector %s: sizeInBytes %d is out of range", dv.PathOrInlineDv, dv.SizeInBytes)
	}
	var data []byte
	switch dv.StorageType {
	case DVInline:
		raw, err := z85Decode(dv.PathOrInlineDv)
		if err != nil {
			return nil, fmt.Errorf("inline deletion vector: %w", err)
		}
		if len(raw) < int(dv.SizeInBytes) {
			return nil, fmt.Errorf("inline deletion vector: %d bytes, sizeInBytes says %d", len(raw), dv.SizeInBytes)
		}
		data = raw[:dv.SizeInBytes]
	case DVRelative, DVAbsolute:
		key, err := dv.Key(st)
		if err != nil {
			return nil, err
		}
		if dv.Offset == nil || *dv.Offset < 1 {
			return nil, fmt.Errorf("deletion vector file %s: the descriptor has no valid offset", key)
		}
		if data, err = readDVFile(ctx, st, key, int64(*dv.Offset), dv.SizeInBytes); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("deletion vector: unknown storage type %q (known: i, u, p)", dv.StorageType)
	}
	rs, err := DecodeRoaringBitmapArray(data)
	if err != nil {
		return nil, fmt.Errorf("deletion vector %s: %w", dv.PathOrInlineDv, err)
	}
	if int64(rs.Cardinality()) != dv.Cardinality {
		return nil, fmt.Errorf("deletion vector %s: holds %d rows, the descriptor says %d", dv.PathOrInlineDv, rs.Cardinality(), dv.Cardinality)
	}
	return rs, nil
}

// readDVFile reads one deletion vector from a deletion vector file: at
// offset, its size (big-endian, equal to size), the data, and the CRC-32
// of the data (big-endian).
func readDVFile(ctx context.Context, st objstore.Store, key string, offset int64, size int32) ([]byte, error) {
	rc, err := st.Get(ctx, key, offset, int64(size)+8)
	if err != nil {
		return nil, fmt.Errorf("deletion vector file %s: %w", key, err)
	}
	defer rc.Close()
	// ReadAll grows with what is there: a corrupt size allocates no more
	// than the file holds.
	b, err := io.ReadAll(io.LimitReader(rc, int64(size)+8))
	if err != nil {
		return nil, fmt.Errorf("deletion vector file %s at offset %d: %w", key, offset, err)
	}
	if len(b) < int(size)+8 {
		return nil, fmt.Errorf("deletion vector file %s at offset %d: %d bytes, the descriptor needs %d: the file is shorter than its descriptor says", key, offset, len(b), int(size)+8)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != size {
		return nil, fmt.Errorf("deletion vector file %s at offset %d: the stored size is %d, the descriptor says %d", key, offset, got, size)
	}
	data := b[4 : 4+size]
	if sum, want := crc32.ChecksumIEEE(data), binary.BigEndian.Uint32(b[4+size:]); sum != want {
		return nil, fmt.Errorf("deletion vector file %s at offset %d: checksum mismatch (stored %08x, computed %08x): the file is corrupt", key, offset, want, sum)
	}
	return data, nil
}

const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

var z85Values = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(z85Alphabet); i++ {
		v[z85Alphabet[i]] = int8(i)
	}
	return v
}()

// z85Decode decodes ZeroMQ's Z85 (RFC 32): each 5 characters are 4 bytes,
// big-endian.
func z85Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("z85: length %d is not a multiple of 5", len(s))
	}
	out := make([]byte, 0, len(s)/5*4)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for j := 0; j < 5; j++ {
			d := z85Values[s[i+j]]
			if d < 0 {
				return nil, fmt.Errorf("z85: invalid character %q at %d", s[i+j], i+j)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xFFFFFFFF {
			return nil, fmt.Errorf("z85: group at %d overflows 32 bits", i)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(v))
	}
	return out, nil
}

// RowSet is a set of row indexes (positions in a data file, from 0): a
// 64-bit Roaring bitmap, kept compressed.
type RowSet struct {
	highs []uint32 // the high 32 bits of each 32-bit bitmap, ascending
	maps  []bitmap32
	card  uint64
}

type bitmap32 struct {
	keys  []uint16 // the high 16 bits of each container, ascending
	conts []container
}

// container holds the low 16 bits of its values in one of three forms.
type container struct {
	array []uint16 // sorted values
	bits  []uint64 // 1024 words
	runs  []uint16 // (start, length-1) pairs, ascending
}

func (c *container) contains(x uint16) bool {
	switch {
	case c.bits != nil:
		return c.bits[x>>6]&(1<<(x&63)) != 0
	case c.runs != nil:
		n := len(c.runs) / 2
		i := sort.Search(n, func(i int) bool { return c.runs[2*i] > x }) - 1
		return i >= 0 && uint32(x) <= uint32(c.runs[2*i])+uint32(c.runs[2*i+1])
	}
	i := sort.Search(len(c.array), func(i int) bool { return c.array[i] >= x })
	return i < len(c.array) && c.array[i] == x
}

// Contains reports whether row is in the set.
func (r *RowSet) Contains(row uint64) bool {
	if r == nil {
		return false
	}
	hi := uint32(row >> 32)
	i := sort.Search(len(r.highs), func(i int) bool { return r.highs[i] >= hi })
	if i == len(r.highs) || r.highs[i] != hi {
		return false
	}
	m := &r.maps[i]
	key := uint16(row >> 16)
	j := sort.Search(len(m.keys), func(j int) bool { return m.keys[j] >= key })
	return j < len(m.keys) && m.keys[j] == key && m.conts[j].contains(uint16(row))
}

// Cardinality is the number of rows in the set.
func (r *RowSet) Cardinality() uint64 {
	if r == nil {
		return 0
	}
	return r.card
}

var errShort = errors.New("truncated")

// dvReader reads little-endian values, remembering the first error.
type dvReader struct {
	b   []byte
	err error
}

func (d *dvReader) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.err = errShort
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *dvReader) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *dvReader) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *dvReader) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// DecodeRoaringBitmapArray decodes a deletion vector's bitmap: the magic
// word, then the 64-bit Roaring "portable" form (a count of 32-bit
// bitmaps, then each one's high 32 bits and its 32-bit Roaring
// serialisation, in ascending order). It never panics on corrupt input.
func DecodeRoaringBitmapArray(b []byte) (*RowSet, error) {
	d := &dvReader{b: b}
	magic := d.u32()
	if d.err != nil {
		return nil, fmt.Errorf("roaring bitmap array: %w (%d bytes)", d.err, len(b))
	}
	if magic != dvMagic {
		return nil, fmt.Errorf("roaring bitmap array: magic number %d, want %d (the portable format)", magic, dvMagic)
	}
	n := d.u64()
	if d.err != nil {
		return nil, fmt.Errorf("roaring bitmap array: %w", d.err)
	}
	// Each bitmap takes at least 12 bytes (key and cookie with its count).
	if n > uint64(len(d.b))/12 {
		return nil, fmt.Errorf("roaring bitmap array: %d bitmaps cannot fit in %d bytes", n, len(d.b))
	}
	rs := &RowSet{highs: make([]uint32, 0, n), maps: make([]bitmap32, 0, n)}
	for i := uint64(0); i < n; i++ {
		hi := d.u32()
		if d.err != nil {
			return nil, fmt.Errorf("roaring bitmap array: bitmap %d: %w", i, d.err)
		}
		if i > 0 && hi <= rs.highs[i-1] {
			return nil, fmt.Errorf("roaring bitmap array: bitmap keys are not ascending (%d after %d)", hi, rs.highs[i-1])
		}
		m, card, err := decodeBitmap32(d)
		if err != nil {
			return nil, fmt.Errorf("roaring bitmap array: bitmap %d: %w", i, err)
		}
		rs.highs = append(rs.highs, hi)
		rs.maps = append(rs.maps, m)
		rs.card += card
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("roaring bitmap array: %d bytes after the last bitmap", len(d.b))
	}
	return rs, nil
}

const (
	cookieNoRuns   = 12346
	cookieWithRuns = 12347
	maxArrayCard   = 4096
)

// decodeBitmap32 decodes one 32-bit Roaring bitmap in the portable
// serialisation (RoaringFormatSpec) and returns it with its cardinality.
func decodeBitmap32(d *dvReader) (bitmap32, uint64, error) {
	var m bitmap32
	cookie := d.u32()
	var n int
	var runFlags []byte
	switch {
	case d.err != nil:
		return m, 0, d.err
	case cookie&0xFFFF == cookieWithRuns:
		n = int(cookie>>16) + 1
		runFlags = d.take((n + 7) / 8)
	case cookie == cookieNoRuns:
		c := d.u32()
		if c > 1<<16 {
			return m, 0, fmt.Errorf("%d containers, at most 65536", c)
		}
		n = int(c)
	default:
		return m, 0, fmt.Errorf("unknown cookie %#x", cookie)
	}
	hdr := d.take(4 * n)
	if d.err != nil {
		return m, 0, d.err
	}
	if runFlags == nil || n >= 4 {
		d.take(4 * n) // offsets: the containers are read in order instead
	}
	if d.err != nil {
		return m, 0, d.err
	}
	m.keys = make([]uint16, n)
	m.conts = make([]container, n)
	var total uint64
	for i := 0; i < n; i++ {
		key := binary.LittleEndian.Uint16(hdr[4*i:])
		card := int(binary.LittleEndian.Uint16(hdr[4*i+2:])) + 1
		if i > 0 && key <= m.keys[i-1] {
			return m, 0, fmt.Errorf("container keys are not ascending (%d after %d)", key, m.keys[i-1])
		}
		m.keys[i] = key
		c := &m.conts[i]
		switch {
		case runFlags != nil && runFlags[i/8]&(1<<(i%8)) != 0:
			nr := int(d.u16())
			raw := d.take(4 * nr)
			if d.err != nil {
				return m, 0, d.err
			}
			c.runs = make([]uint16, 2*nr)
			got := 0
			for j := 0; j < nr; j++ {
				start, l := binary.LittleEndian.Uint16(raw[4*j:]), binary.LittleEndian.Uint16(raw[4*j+2:])
				if uint32(start)+uint32(l) > 0xFFFF || j > 0 && uint32(start) <= uint32(c.runs[2*j-2])+uint32(c.runs[2*j-1]) {
					return m, 0, fmt.Errorf("container %d: run %d is out of order or range", i, j)
				}
				c.runs[2*j], c.runs[2*j+1] = start, l
				got += int(l) + 1
			}
			if got != card {
				return m, 0, fmt.Errorf("container %d: runs hold %d values, the header says %d", i, got, card)
			}
		case card <= maxArrayCard:
			raw := d.take(2 * card)
			if d.err != nil {
				return m, 0, d.err
			}
			c.array = make([]uint16, card)
			for j := range c.array {
				c.array[j] = binary.LittleEndian.Uint16(raw[2*j:])
				if j > 0 && c.array[j] <= c.array[j-1] {
					return m, 0, fmt.Errorf("container %d: values are not ascending", i)
				}
			}
		default:
			raw := d.take(8192)
			if d.err != nil {
				return m, 0, d.err
			}
			c.bits = make([]uint64, 1024)
			got := 0
			for j := range c.bits {
				c.bits[j] = binary.LittleEndian.Uint64(raw[8*j:])
				got += bits.OnesCount64(c.bits[j])
			}
			if got != card {
				return m, 0, fmt.Errorf("container %d: bitset holds %d values, the header says %d", i, got, card)
			}
		}
		total += uint64(card)
	}
	return m, total, nil
}
