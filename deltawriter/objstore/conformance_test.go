package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// storeFactory returns a fresh, empty store for one subtest.
type storeFactory func(t *testing.T) objstore.Store

// conformance describes the implementation under test.
type conformance struct {
	newStore storeFactory
	// presign is true when Presign must hand out working URLs, false when it
	// must fail with ErrPresignUnsupported.
	presign bool
}

// invalidKeys must be refused by every method of every store.
var invalidKeys = []string{
	"", ".", "..", "../x", "a/../b", "a/..", "./a", "a/./b",
	"/abs", "/", "a//b", "a/", "//a",
	"a\x00b", "a\nb", "a\tb", "\x7f", "a\\b", `..\x`,
	strings.Repeat("k", 1025),
}

// runConformance checks the Store contract shared by all implementations.
func runConformance(t *testing.T, c conformance) {
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, s objstore.Store)
	}{
		{"PutGetStat", testPutGetStat},
		{"Range", testRange},
		{"Missing", testMissing},
		{"ListOrderPrefixStartAfter", testList},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"LargeStreamingPut", testLargeStreamingPut},
		{"Presign", func(t *testing.T, ctx context.Context, s objstore.Store) { testPresign(t, ctx, s, c.presign) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			tc.run(t, ctx, c.newStore(t))
		})
	}
}

func put(t *testing.T, ctx context.Context, s objstore.Store, key, body string) {
	t.Helper()
	if err := s.Put(ctx, key, strings.NewReader(body), objstore.PutOptions{}); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, ctx context.Context, s objstore.Store, key string) string {
	t.Helper()
	b, err := objstore.ReadAll(ctx, s, key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	return string(b)
}

func testPutGetStat(t *testing.T, ctx context.Context, s objstore.Store) {
	before := time.Now().Add(-time.Minute)
	const key = "dir/sub/part-0001.parquet"
	put(t, ctx, s, key, "hello")
	if got := get(t, ctx, s, key); got != "hello" {
		t.Fatalf("Get = %q, want %q", got, "hello")
	}
	put(t, ctx, s, key, "replaced, longer")
	if got := get(t, ctx, s, key); got != "replaced, longer" {
		t.Fatalf("Get after overwrite = %q", got)
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != key || info.Size != int64(len("replaced, longer")) {
		t.Fatalf("Stat = %+v, want key %q size %d", info, key, len("replaced, longer"))
	}
	if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Minute)) {
		t.Fatalf("Stat ModTime %v is not about now", info.ModTime)
	}
	put(t, ctx, s, "empty", "")
	if got := get(t, ctx, s, "empty"); got != "" {
		t.Fatalf("empty object reads %q", got)
	}
	if info, err := s.Stat(ctx, "empty"); err != nil || info.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v", info, err)
	}
	// Content type is accepted (stored where supported).
	if err := s.Put(ctx, "typed.json", strings.NewReader("{}"), objstore.PutOptions{ContentType: "application/json"}); err != nil {
		t.Fatalf("Put with content type: %v", err)
	}
}

func testRange(t *testing.T, ctx context.Context, s objstore.Store) {
	put(t, ctx, s, "r", "0123456789")
	for _, tc := range []struct {
		off, length int64
		want        string
	}{
		{0, -1, "0123456789"},
		{0, 10, "0123456789"},
		{3, 4, "3456"},
		{3, -1, "3456789"},
		{9, 1, "9"},
		{8, 10, "89"}, // cut short at the end
		{0, 0, ""},
		{5, 0, ""},
		{10, -1, ""}, // at the end
		{10, 3, ""},
		{15, -1, ""}, // past the end
	} {
		rc, err := s.Get(ctx, "r", tc.off, tc.length)
		if err != nil {
			t.Fatalf("Get(off=%d, len=%d): %v", tc.off, tc.length, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read Get(off=%d, len=%d): %v", tc.off, tc.length, err)
		}
		if string(b) != tc.want {
			t.Errorf("Get(off=%d, len=%d) = %q, want %q", tc.off, tc.length, b, tc.want)
		}
	}
	if _, err := s.Get(ctx, "r", -1, 2); err == nil {
		t.Error("Get with negative offset succeeded")
	}
	if _, err := s.Get(ctx, "missing", 2, 3); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("ranged Get of missing object: %v, want ErrNotExist", err)
	}
	if _, err := s.Get(ctx, "missing", 0, 0); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("zero-length Get of missing object: %v, want ErrNotExist", err)
	}
}

func testMissing(t *testing.T, ctx context.Context, s objstore.Store) {
	put(t, ctx, s, "a/b/c", "x")
	for _, key := range []string{"nope", "a/b/nope", "a/b/c/d", "a", "a/b"} {
		if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want ErrNotExist", key, err)
		}
		if _, err := s.Get(ctx, key, 0, -1); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Get(%q) = %v, want ErrNotExist", key, err)
		} else if !strings.Contains(err.Error(), key) {
			t.Errorf("Get(%q) error %q does not name the key", key, err)
		}
	}
}

func testList(t *testing.T, ctx context.Context, s objstore.Store) {
	keys := []string{
		"x/2", "x/10", "x/1", "x/a/b", "x.y", "x-z", "y/1", "xa",
		"_delta_log/00000000000000000000.json",
		"_delta_log/00000000000000000001.json",
		"_delta_log/00000000000000000002.checkpoint.parquet",
		"_delta_log/00000000000000000002.json",
		"_delta_log/_last_checkpoint",
	}
	for i, k := range keys {
		put(t, ctx, s, k, strings.Repeat("#", i))
	}
	size := map[string]int64{}
	for i, k := range keys {
		size[k] = int64(i)
	}
	for _, tc := range []struct {
		prefix, startAfter string
		want               []string
	}{
		{"x/", "", []string{"x/1", "x/10", "x/2", "x/a/b"}},
		{"x", "", []string{"x-z", "x.y", "x/1", "x/10", "x/2", "x/a/b", "xa"}},
		{"x/1", "", []string{"x/1", "x/10"}},
		{"x/", "x/10", []string{"x/2", "x/a/b"}},
		{"x/", "x/1", []string{"x/10", "x/2", "x/a/b"}},
		{"x/", "x/0", []string{"x/1", "x/10", "x/2", "x/a/b"}},
		{"x/", "a", []string{"x/1", "x/10", "x/2", "x/a/b"}},
		{"x/", "x/a/b", nil},
		{"x/", "z", nil},
		{"x/a", "", []string{"x/a/b"}},
		{"x/a/", "", []string{"x/a/b"}},
		{"nope/", "", nil},
		{"nope", "", nil},
		{"x/a/b/", "", nil},
		{"_delta_log/", "_delta_log/00000000000000000001", []string{
			"_delta_log/00000000000000000001.json",
			"_delta_log/00000000000000000002.checkpoint.parquet",
			"_delta_log/00000000000000000002.json",
			"_delta_log/_last_checkpoint",
		}},
		{"_delta_log/0", "_delta_log/00000000000000000001.json", []string{
			"_delta_log/00000000000000000002.checkpoint.parquet",
			"_delta_log/00000000000000000002.json",
		}},
		{"", "y", []string{"y/1"}},
		{"", "", []string{
			"_delta_log/00000000000000000000.json",
			"_delta_log/00000000000000000001.json",
			"_delta_log/00000000000000000002.checkpoint.parquet",
			"_delta_log/00000000000000000002.json",
			"_delta_log/_last_checkpoint",
			"x-z", "x.y", "x/1", "x/10", "x/2", "x/a/b", "xa", "y/1",
		}},
	} {
		got, err := s.List(ctx, tc.prefix, tc.startAfter)
		if err != nil {
			t.Fatalf("List(%q, %q): %v", tc.prefix, tc.startAfter, err)
		}
		var gotKeys []string
		for _, o := range got {
			gotKeys = append(gotKeys, o.Key)
			if o.Size != size[o.Key] {
				t.Errorf("List(%q, %q): %s has size %d, want %d", tc.prefix, tc.startAfter, o.Key, o.Size, size[o.Key])
			}
			if o.ModTime.IsZero() {
				t.Errorf("List(%q, %q): %s has no ModTime", tc.prefix, tc.startAfter, o.Key)
			}
		}
		if fmt.Sprint(gotKeys) != fmt.Sprint(tc.want) {
			t.Errorf("List(%q, %q) = %q, want %q", tc.prefix, tc.startAfter, gotKeys, tc.want)
		}
	}
	for _, bad := range []string{"../", "/x", "a//", "x\x00"} {
		if _, err := s.List(ctx, bad, ""); err == nil {
			t.Errorf("List(%q) accepted an invalid prefix", bad)
		}
	}
}

func testPutIfAbsent(t *testing.T, ctx context.Context, s objstore.Store) {
	const key = "_delta_log/00000000000000000000.json"
	if err := s.PutIfAbsent(ctx, key, strings.NewReader("first"), objstore.PutOptions{}); err != nil {
		t.Fatalf("first PutIfAbsent: %v", err)
	}
	err := s.PutIfAbsent(ctx, key, strings.NewReader("second"), objstore.PutOptions{})
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second PutIfAbsent = %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("ErrExists error %q does not name the key", err)
	}
	if got := get(t, ctx, s, key); got != "first" {
		t.Fatalf("after refused PutIfAbsent the object reads %q, want %q", got, "first")
	}
	// Only the object itself is visible: no temporary files, no second key.
	list, err := s.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Key != key {
		t.Fatalf("List after PutIfAbsent = %+v, want just %s", list, key)
	}
	// After Delete the key is free again.
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, key, strings.NewReader("third"), objstore.PutOptions{}); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
}

func testPutIfAbsentRace(t *testing.T, ctx context.Context, s objstore.Store) {
	const writers = 16
	const key = "_delta_log/00000000000000000007.json"
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := fmt.Sprintf("commit from writer %02d %s", i, strings.Repeat("x", 100*i))
			errs[i] = s.PutIfAbsent(ctx, key, strings.NewReader(body), objstore.PutOptions{})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both won the PutIfAbsent race", winner, i)
			}
			winner = i
		case !errors.Is(err, objstore.ErrExists):
			t.Fatalf("writer %d: %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won the PutIfAbsent race")
	}
	want := fmt.Sprintf("commit from writer %02d %s", winner, strings.Repeat("x", 100*winner))
	if got := get(t, ctx, s, key); got != want {
		t.Fatalf("object holds %.40q…, want the winner's (writer %d)", got, winner)
	}
	if list, err := s.List(ctx, "", ""); err != nil || len(list) != 1 {
		t.Fatalf("List after race = %+v, %v; want exactly one object", list, err)
	}
}

func testDelete(t *testing.T, ctx context.Context, s objstore.Store) {
	put(t, ctx, s, "d/1", "one")
	put(t, ctx, s, "d/2", "two")
	if err := s.Delete(ctx, "d/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, "d/1"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat after Delete = %v, want ErrNotExist", err)
	}
	for _, key := range []string{"d/1", "never", "d/1/x", "d"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a missing object = %v, want nil", key, err)
		}
	}
	list, err := s.List(ctx, "d/", "")
	if err != nil || len(list) != 1 || list[0].Key != "d/2" {
		t.Fatalf("List after Delete = %+v, %v; want just d/2", list, err)
	}
	if got := get(t, ctx, s, "d/2"); got != "two" {
		t.Fatalf("sibling reads %q after Delete", got)
	}
}

func testInvalidKeys(t *testing.T, ctx context.Context, s objstore.Store) {
	for _, key := range invalidKeys {
		if err := objstore.ValidateKey(key); err == nil {
			t.Errorf("ValidateKey(%q) accepted an invalid key", key)
		}
		check := func(op string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s(%.30q) accepted an invalid key", op, key)
			} else if errors.Is(err, objstore.ErrNotExist) || errors.Is(err, objstore.ErrExists) {
				t.Errorf("%s(%.30q) = %v, want a validation error", op, key, err)
			}
		}
		_, err := s.Get(ctx, key, 0, -1)
		check("Get", err)
		_, err = s.Stat(ctx, key)
		check("Stat", err)
		check("Put", s.Put(ctx, key, strings.NewReader("x"), objstore.PutOptions{}))
		check("PutIfAbsent", s.PutIfAbsent(ctx, key, strings.NewReader("x"), objstore.PutOptions{}))
		check("Delete", s.Delete(ctx, key))
		_, err = s.Presign(ctx, key, time.Minute)
		check("Presign", err)
	}
	if list, err := s.List(ctx, "", ""); err != nil || len(list) != 0 {
		t.Fatalf("invalid keys left objects behind: %+v, %v", list, err)
	}
}

// patternReader yields n deterministic pseudo-random bytes and hides any
// io.Seeker/io.WriterTo, so stores must stream it.
type patternReader struct {
	rng *rand.ChaCha8
	n   int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	n, _ := p.rng.Read(b)
	p.n -= int64(n)
	return n, nil
}

func pattern(seed byte, n int64) io.Reader {
	var s [32]byte
	s[0] = seed
	return &patternReader{rng: rand.NewChaCha8(s), n: n}
}

func hashOf(t *testing.T, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func testLargeStreamingPut(t *testing.T, ctx context.Context, s objstore.Store) {
	const size = 13<<20 + 12345 // several 5 MiB parts and a short last one
	if err := s.Put(ctx, "big/blob", pattern(1, size), objstore.PutOptions{}); err != nil {
		t.Fatalf("Put large: %v", err)
	}
	info, err := s.Stat(ctx, "big/blob")
	if err != nil || info.Size != size {
		t.Fatalf("Stat large = %+v, %v; want size %d", info, err, size)
	}
	rc, err := s.Get(ctx, "big/blob", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if hashOf(t, rc) != hashOf(t, pattern(1, size)) {
		t.Fatal("large object reads back different bytes")
	}
	// A range across a part boundary.
	want, _ := io.ReadAll(io.NewSectionReader(readerAt(t, pattern(1, size)), 5<<20-10, 20))
	rc2, err := s.Get(ctx, "big/blob", 5<<20-10, 20)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc2)
	rc2.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("range across part boundary = %x, want %x", got, want)
	}
}

func readerAt(t *testing.T, r io.Reader) io.ReaderAt {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func testPresign(t *testing.T, ctx context.Context, s objstore.Store, supported bool) {
	put(t, ctx, s, "shared/file.parquet", "presigned body")
	u, err := s.Presign(ctx, "shared/file.parquet", time.Minute)
	if !supported {
		if !errors.Is(err, objstore.ErrPresignUnsupported) {
			t.Fatalf("Presign = %q, %v; want ErrPresignUnsupported", u, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Presign: %v", err)
	}
	if status, body := httpGet(t, u); status != http.StatusOK || body != "presigned body" {
		t.Fatalf("GET presigned URL = %d %q", status, body)
	}
	if _, err := s.Presign(ctx, "shared/file.parquet", 8*24*time.Hour); err == nil {
		t.Error("Presign accepted an expiry over 7 days")
	}
}

// httpGet fetches u with plain net/http and returns status and body.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read presigned response: %v", err)
	}
	return resp.StatusCode, string(b)
}
