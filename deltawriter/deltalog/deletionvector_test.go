package deltalog

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// z85Encode is the test's encoder (Sluice only decodes): 4 bytes, big
// endian, to 5 characters; data is zero-padded to a multiple of 4.
func z85Encode(data []byte) string {
	for len(data)%4 != 0 {
		data = append(data, 0)
	}
	var sb strings.Builder
	for i := 0; i < len(data); i += 4 {
		v := binary.BigEndian.Uint32(data[i:])
		var g [5]byte
		for j := 4; j >= 0; j-- {
			g[j] = z85Alphabet[v%85]
			v /= 85
		}
		sb.Write(g[:])
	}
	return sb.String()
}

// encodeRows serialises rows as a RoaringBitmapArray, written the way the
// format spec describes, independently of the decoder: array containers,
// or run containers (with the run cookie) when runs is set, or bitsets for
// containers of more than 4096 values.
func encodeRows(rows []uint64, runs bool) []byte {
	sort.Slice(rows, func(i, j int) bool { return rows[i] < rows[j] })
	byHigh := map[uint32]map[uint16][]uint16{}
	var highs []uint32
	for _, r := range rows {
		hi, key := uint32(r>>32), uint16(r>>16)
		if byHigh[hi] == nil {
			byHigh[hi] = map[uint16][]uint16{}
			highs = append(highs, hi)
		}
		byHigh[hi][key] = append(byHigh[hi][key], uint16(r))
	}
	le := binary.LittleEndian
	out := le.AppendUint32(nil, dvMagic)
	out = le.AppendUint64(out, uint64(len(highs)))
	for _, hi := range highs {
		out = le.AppendUint32(out, hi)
		var keys []uint16
		for k := range byHigh[hi] {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		n := len(keys)
		if runs {
			out = le.AppendUint32(out, uint32(cookieWithRuns)|uint32(n-1)<<16)
			flags := make([]byte, (n+7)/8)
			for i := range flags {
				flags[i] = 0xFF
			}
			out = append(out, flags...)
		} else {
			out = le.AppendUint32(out, cookieNoRuns)
			out = le.AppendUint32(out, uint32(n))
		}
		for _, k := range keys {
			out = le.AppendUint16(out, k)
			out = le.AppendUint16(out, uint16(len(byHigh[hi][k])-1))
		}
		var bodies [][]byte
		for _, k := range keys {
			vals := byHigh[hi][k]
			var b []byte
			switch {
			case runs:
				var rs [][2]uint16
				for _, v := range vals {
					if l := len(rs); l > 0 && uint32(rs[l-1][0])+uint32(rs[l-1][1])+1 == uint32(v) {
						rs[l-1][1]++
						continue
					}
					rs = append(rs, [2]uint16{v, 0})
				}
				b = le.AppendUint16(b, uint16(len(rs)))
				for _, r := range rs {
					b = le.AppendUint16(le.AppendUint16(b, r[0]), r[1])
				}
			case len(vals) > maxArrayCard:
				words := make([]uint64, 1024)
				for _, v := range vals {
					words[v/64] |= 1 << (v % 64)
				}
				for _, w := range words {
					b = le.AppendUint64(b, w)
				}
			default:
				for _, v := range vals {
					b = le.AppendUint16(b, v)
				}
			}
			bodies = append(bodies, b)
		}
		if !runs || n >= 4 {
			off := uint32(0) // offsets are not read back; any value will do
			for _, b := range bodies {
				out = le.AppendUint32(out, off)
				off += uint32(len(b))
			}
		}
		for _, b := range bodies {
			out = append(out, b...)
		}
	}
	return out
}

func TestDecodeRoaringBitmapArray(t *testing.T) {
	many := make([]uint64, 0, 5000)
	for i := 0; i < 5000; i++ {
		many = append(many, uint64(i*3)) // one container of 5000 values: a bitset
	}
	for _, tc := range []struct {
		name string
		rows []uint64
	}{
		{"empty", nil},
		{"one", []uint64{7}},
		{"two containers", []uint64{0, 1, 2, 65535, 65536, 70000}},
		{"high bits", []uint64{3, 1 << 32, 1<<32 + 5, 5 << 40}},
		{"bitset", many},
	} {
		for _, runs := range []bool{false, true} {
			rs, err := DecodeRoaringBitmapArray(encodeRows(append([]uint64(nil), tc.rows...), runs))
			if err != nil {
				t.Fatalf("%s (runs %v): %v", tc.name, runs, err)
			}
			if rs.Cardinality() != uint64(len(tc.rows)) {
				t.Errorf("%s (runs %v): cardinality %d, want %d", tc.name, runs, rs.Cardinality(), len(tc.rows))
			}
			in := map[uint64]bool{}
			for _, r := range tc.rows {
				in[r] = true
				if !rs.Contains(r) {
					t.Errorf("%s (runs %v): row %d missing", tc.name, runs, r)
				}
				for _, near := range []uint64{r + 1, r - 1} {
					if !in[near] && !contains(tc.rows, near) && rs.Contains(near) {
						t.Errorf("%s (runs %v): row %d is not in the set but Contains says so", tc.name, runs, near)
					}
				}
			}
		}
	}
}

func contains(rows []uint64, r uint64) bool {
	for _, x := range rows {
		if x == r {
			return true
		}
	}
	return false
}

func TestDecodeRoaringBitmapArrayRejects(t *testing.T) {
	good := encodeRows([]uint64{1, 2, 3}, false)
	le := binary.LittleEndian
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"native format magic", le.AppendUint32(nil, dvMagic-1), "magic number"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), "after the last bitmap"},
		{"huge count", le.AppendUint64(le.AppendUint32(nil, dvMagic), 1<<60), "cannot fit"},
		{"bad cookie", le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint64(le.AppendUint32(nil, dvMagic), 1), 0), 99), 0), "unknown cookie"},
		{"keys out of order", encodeUnsorted(), "not ascending"},
	} {
		_, err := DecodeRoaringBitmapArray(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// encodeUnsorted is an array container whose values go down.
func encodeUnsorted() []byte {
	b := encodeRows([]uint64{1, 2}, false)
	le := binary.LittleEndian
	n := len(b)
	le.PutUint16(b[n-4:], 2)
	le.PutUint16(b[n-2:], 1)
	return b
}

// goldenStore opens a golden table.
func goldenStore(t testing.TB, table string) objstore.Store {
	t.Helper()
	st, err := objstore.NewLocal(filepath.Join(goldenDir, table))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The log-replay-dv-key-cases table deletes ids 0, 7 and 14 in three
// commits, each replacing the file's deletion vector: the file stays live
// (keyed by path and deletion vector) and its vector grows.
func TestGoldenDeletionVectorsReplay(t *testing.T) {
	ctx := context.Background()
	st := goldenStore(t, "log-replay-dv-key-cases")
	if _, err := Load(ctx, st); err == nil {
		t.Fatal("a table with deletion vectors loaded without WithDeletionVectors")
	}
	deleted := []uint64{0, 7, 14}
	for v := int64(0); v <= 3; v++ {
		snap, err := Load(ctx, st, AtVersion(v), WithDeletionVectors())
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		files := snap.Files()
		if len(files) != 1 {
			t.Fatalf("version %d: %d live files, want 1 (the add and remove of one path with different deletion vectors are different files)", v, len(files))
		}
		dv := files[0].DeletionVector
		if v == 0 {
			if dv != nil || snap.HasDeletionVectors() {
				t.Fatalf("version 0: deletion vector %+v", dv)
			}
			continue
		}
		rs, err := ReadDeletionVector(ctx, st, dv)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		for row := uint64(0); row < 50; row++ {
			want := contains(deleted[:v], row)
			if rs.Contains(row) != want {
				t.Errorf("version %d: row %d deleted = %v, want %v", v, row, !want, want)
			}
		}
	}
}

// Every deletion vector in the golden tables (JSON commits and, through
// the checkpoint, Parquet) reads with its checksum, size and cardinality
// matching.
func TestGoldenDeletionVectorsRead(t *testing.T) {
	ctx := context.Background()
	for _, table := range []string{"dv-partitioned-with-checkpoint", "log-replay-dv-key-cases"} {
		st := goldenStore(t, table)
		snap, err := Load(ctx, st, WithDeletionVectors())
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		n := 0
		for _, a := range snap.Files() {
			if a.DeletionVector == nil {
				continue
			}
			if _, err := ReadDeletionVector(ctx, st, a.DeletionVector); err != nil {
				t.Errorf("%s: %s: %v", table, a.Path, err)
			}
			n++
		}
		if n == 0 {
			t.Errorf("%s: no file has a deletion vector", table)
		}
	}
}

// writeDVFile writes a deletion vector file holding data at offset 1 and
// returns its descriptor ("u", no prefix).
func writeDVFile(t *testing.T, dir string, data []byte, card int64) *DeletionVector {
	t.Helper()
	uuid := []byte{0xd1, 0x2e, 0x7d, 0x16, 0xe4, 0x6d, 0x48, 0xc9, 0x8a, 0x71, 0xb2, 0x22, 0xc3, 0xdf, 0xc3, 0xdf}
	b := []byte{1}
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(data))
	if err := os.WriteFile(filepath.Join(dir, "deletion_vector_d12e7d16-e46d-48c9-8a71-b222c3dfc3df.bin"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	return &DeletionVector{StorageType: DVRelative, PathOrInlineDv: z85Encode(uuid), Offset: &one, SizeInBytes: int32(len(data)), Cardinality: card}
}

func TestReadDeletionVector(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := encodeRows([]uint64{4, 9}, false)
	onDisk := writeDVFile(t, dir, data, 2)
	abs := *onDisk
	abs.StorageType, abs.PathOrInlineDv = DVAbsolute, st.URI()+"/deletion_vector_d12e7d16-e46d-48c9-8a71-b222c3dfc3df.bin"
	elsewhere := abs
	elsewhere.PathOrInlineDv = "file:///elsewhere/deletion_vector_d12e7d16-e46d-48c9-8a71-b222c3dfc3df.bin"
	inline := &DeletionVector{StorageType: DVInline, PathOrInlineDv: z85Encode(data), SizeInBytes: int32(len(data)), Cardinality: 2}
	with := func(dv DeletionVector, f func(*DeletionVector)) *DeletionVector { f(&dv); return &dv }
	two := int32(2)
	for _, tc := range []struct {
		name string
		dv   *DeletionVector
		want string // "" for success
	}{
		{"relative", onDisk, ""},
		{"absolute", &abs, ""},
		{"inline", inline, ""},
		{"prefixed", with(*onDisk, func(d *DeletionVector) { d.PathOrInlineDv = "ab" + d.PathOrInlineDv }), "ab/deletion_vector_d12e7d16"},
		{"absolute outside the table", &elsewhere, "outside the table root"},
		{"wrong size", with(*onDisk, func(d *DeletionVector) { d.SizeInBytes-- }), "the stored size is"},
		{"wrong offset", with(*onDisk, func(d *DeletionVector) { d.Offset = &two }), "deletion vector file"},
		{"no offset", with(*onDisk, func(d *DeletionVector) { d.Offset = nil }), "no valid offset"},
		{"wrong cardinality", with(*onDisk, func(d *DeletionVector) { d.Cardinality = 3 }), "the descriptor says 3"},
		{"inline too short", with(*inline, func(d *DeletionVector) { d.SizeInBytes += 8 }), "sizeInBytes says"},
		{"bad z85", with(*inline, func(d *DeletionVector) { d.PathOrInlineDv = "\"\"\"\"\"" }), "invalid character"},
		{"unknown storage type", with(*inline, func(d *DeletionVector) { d.StorageType = "x" }), "unknown storage type"},
		{"negative size", with(*inline, func(d *DeletionVector) { d.SizeInBytes = -1 }), "out of range"},
	} {
		rs, err := ReadDeletionVector(ctx, st, tc.dv)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "" && (!rs.Contains(4) || !rs.Contains(9) || rs.Contains(5)):
			t.Errorf("%s: wrong rows", tc.name)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// A flipped data byte fails the checksum.
	b, _ := os.ReadFile(filepath.Join(dir, "deletion_vector_d12e7d16-e46d-48c9-8a71-b222c3dfc3df.bin"))
	b[8] ^= 1
	os.WriteFile(filepath.Join(dir, "deletion_vector_d12e7d16-e46d-48c9-8a71-b222c3dfc3df.bin"), b, 0o600)
	if _, err := ReadDeletionVector(ctx, st, onDisk); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("corrupt file: got %v", err)
	}
	var nf *UnsupportedFeatureError
	if errors.As(err, &nf) {
		t.Errorf("a corrupt file is not an unsupported feature")
	}
}

// FuzzDecodeRoaringBitmapArray: corrupt bitmaps give errors, never panics,
// and what decodes is consistent (every member found, cardinality counted).
func FuzzDecodeRoaringBitmapArray(f *testing.F) {
	f.Add(encodeRows([]uint64{1, 2, 3}, false))
	f.Add(encodeRows([]uint64{1, 2, 3, 70000, 1 << 33}, true))
	f.Add(encodeRows([]uint64{0, 1, 2, 3, 65536 * 1, 65536 * 2, 65536 * 3, 65536 * 4}, true))
	many := make([]uint64, 4200)
	for i := range many {
		many[i] = uint64(i)
	}
	f.Add(encodeRows(many, false))
	f.Add(encodeUnsorted())
	for _, p := range []string{"log-replay-dv-key-cases", "dv-partitioned-with-checkpoint"} {
		bins, _ := filepath.Glob(filepath.Join(goldenDir, p, "deletion_vector_*.bin"))
		for _, bin := range bins {
			b, err := os.ReadFile(bin)
			if err != nil || len(b) < 9 {
				f.Fatalf("golden deletion vector %s: %v", bin, err)
			}
			size := binary.BigEndian.Uint32(b[1:])
			if int(size)+5 <= len(b) {
				f.Add(b[5 : 5+size])
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := DecodeRoaringBitmapArray(data)
		if err != nil {
			return
		}
		var n uint64
		for i, hi := range rs.highs {
			for j, key := range rs.maps[i].keys {
				c := rs.maps[i].conts[j]
				var vals []uint16
				switch {
				case c.bits != nil:
					for x := 0; x < 65536; x++ {
						if c.bits[x/64]&(1<<(x%64)) != 0 {
							vals = append(vals, uint16(x))
						}
					}
				case c.runs != nil:
					for k := 0; k < len(c.runs); k += 2 {
						for x := uint32(c.runs[k]); x <= uint32(c.runs[k])+uint32(c.runs[k+1]); x++ {
							vals = append(vals, uint16(x))
						}
					}
				default:
					vals = c.array
				}
				for _, v := range vals {
					if row := uint64(hi)<<32 | uint64(key)<<16 | uint64(v); !rs.Contains(row) {
						t.Fatalf("row %d decoded but not contained", row)
					}
				}
				n += uint64(len(vals))
			}
		}
		if n != rs.Cardinality() {
			t.Fatalf("cardinality %d, members %d", rs.Cardinality(), n)
		}
	})
}

// FuzzDeletionVectorDescriptor: any descriptor (inline data, relative
// path) gives an error or a set, never a panic.
func FuzzDeletionVectorDescriptor(f *testing.F) {
	data := encodeRows([]uint64{4, 9}, false)
	f.Add("i", z85Encode(data), int32(0), int32(len(data)), int64(2))
	f.Add("u", "h{&8fAg]=QYJvl-}c!yH", int32(1), int32(34), int64(1))
	f.Add("u", "ab/../h{&8fAg]=QYJvl-}c!yH", int32(1), int32(34), int64(1))
	f.Add("p", "file:///etc/passwd", int32(1), int32(34), int64(1))
	f.Fuzz(func(t *testing.T, kind, p string, off, size int32, card int64) {
		st := goldenStore(t, "log-replay-dv-key-cases")
		dv := &DeletionVector{StorageType: kind, PathOrInlineDv: p, SizeInBytes: size, Cardinality: card}
		if kind != DVInline {
			dv.Offset = &off
		}
		rs, err := ReadDeletionVector(context.Background(), st, dv)
		if err == nil && int64(rs.Cardinality()) != card {
			t.Fatalf("cardinality %d accepted for a descriptor saying %d", rs.Cardinality(), card)
		}
	})
}
