package fileurl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
)

const rootID = "7f3c2a10-tbl"

type fixture struct {
	s     *Signer
	now   time.Time
	srv   *httptest.Server
	dir   string // the table root
	data  []byte // content of part-0.parquet
	h     *handler
	roots *Roots
}

// newFixture serves a table root holding part-0.parquet, a partition
// directory, a symbolic link out of the root and a directory; a file
// secret.txt lies next to the root, outside it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{dir: filepath.Join(base, "table"), now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	f.data = make([]byte, 1000)
	for i := range f.data {
		f.data[i] = byte(i * 7)
	}
	for name, body := range map[string][]byte{
		"table/part-0.parquet":                       f.data,
		"table/date=2026-11-22/part-1.parquet":       []byte("partition file"),
		"table/_delta_log/00000000000000000000.json": []byte("{}"),
		"secret.txt": []byte("outside the root"),
	} {
		p := filepath.Join(base, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../secret.txt", filepath.Join(f.dir, "escape.parquet")); err != nil {
		t.Fatal(err)
	}
	f.roots = &Roots{}
	if err := f.roots.Register(rootID, f.dir); err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{0x42}, KeySize)
	var err error
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.s, err = NewSigner(key, f.srv.URL+"/files", WithClock(func() time.Time { return f.now }))
	if err != nil {
		t.Fatal(err)
	}
	f.h = f.s.Handler(f.roots, WithMetrics(prometheus.NewRegistry())).(*handler)
	mux.Handle(f.s.Pattern(), f.h)
	return f
}

func (f *fixture) sign(t *testing.T, file string) string {
	t.Helper()
	u, exp, err := f.s.Sign(rootID, file, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(time.Hour); !exp.Equal(want) {
		t.Fatalf("expires %v, want %v", exp, want)
	}
	return u
}

func get(t *testing.T, method, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestServeWholeFile(t *testing.T) {
	f := newFixture(t)
	u := f.sign(t, "part-0.parquet")
	if strings.Contains(u, f.dir) {
		t.Fatalf("URL %s reveals the root directory", u)
	}
	resp, body := get(t, "GET", u)
	if resp.StatusCode != 200 || !bytes.Equal(body, f.data) || resp.Header.Get("Content-Length") != "1000" ||
		resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET: %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}
	resp, body = get(t, "HEAD", u)
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != "1000" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	// A partition directory, whose name holds '=': the signature is over
	// the decoded path, so the client's escaping does not matter.
	u = f.sign(t, "date=2026-11-22/part-1.parquet")
	escaped := strings.Replace(u, "date=2026", "date%3D2026", 1)
	for _, v := range []string{u, escaped} {
		if resp, body := get(t, "GET", v); resp.StatusCode != 200 || string(body) != "partition file" {
			t.Errorf("GET %s: %d %q", v, resp.StatusCode, body)
		}
	}
	if got := value(t, f.h.bytes); got != 1000+14*2 {
		t.Errorf("bytes served counted %v, want %d", got, 1000+14*2)
	}
}

func TestRanges(t *testing.T) {
	f := newFixture(t)
	u := f.sign(t, "part-0.parquet")
	resp, _ := get(t, "HEAD", u)
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	tests := []struct {
		name         string
		header       []string
		status       int
		body         []byte
		contentRange string
	}{
		{"first bytes", []string{"Range", "bytes=0-9"}, 206, f.data[:10], "bytes 0-9/1000"},
		{"suffix", []string{"Range", "bytes=-5"}, 206, f.data[995:], "bytes 995-999/1000"},
		{"open ended", []string{"Range", "bytes=990-"}, 206, f.data[990:], "bytes 990-999/1000"},
		{"past the end is clamped", []string{"Range", "bytes=990-5000"}, 206, f.data[990:], "bytes 990-999/1000"},
		{"not satisfiable", []string{"Range", "bytes=5000-"}, 416, nil, "bytes */1000"},
		{"If-Range with the current ETag", []string{"Range", "bytes=10-19", "If-Range", etag}, 206, f.data[10:20], "bytes 10-19/1000"},
		{"If-Range with a stale ETag gives the whole file", []string{"Range", "bytes=10-19", "If-Range", `"stale"`}, 200, f.data, ""},
		{"If-None-Match", []string{"If-None-Match", etag}, 304, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, "GET", u, tt.header...)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Range") != tt.contentRange {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("Content-Range"), tt.status, tt.contentRange)
			}
			if tt.body != nil && (!bytes.Equal(body, tt.body) || resp.Header.Get("Content-Length") != strconv.Itoa(len(tt.body))) {
				t.Fatalf("body %d bytes (Content-Length %s), want %d", len(body), resp.Header.Get("Content-Length"), len(tt.body))
			}
		})
	}
	t.Run("two ranges", func(t *testing.T) {
		resp, body := get(t, "GET", u, "Range", "bytes=0-1,998-999")
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		var parts [][]byte
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(p)
			parts = append(parts, b)
		}
		if len(parts) != 2 || !bytes.Equal(parts[0], f.data[:2]) || !bytes.Equal(parts[1], f.data[998:]) {
			t.Fatalf("parts %v", parts)
		}
	})
}

// TestDenied: every tampering, expiry and traversal is refused, with a
// body that names no path.
func TestDenied(t *testing.T) {
	f := newFixture(t)
	good := f.sign(t, "part-0.parquet")
	other, err := NewSigner(bytes.Repeat([]byte{0x43}, KeySize), f.srv.URL+"/files", WithClock(func() time.Time { return f.now }))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, _ := other.Sign(rootID, "part-0.parquet", time.Hour)
	withQuery := func(mod func(q url.Values)) string {
		u, _ := url.Parse(good)
		q := u.Query()
		mod(q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	sig := func() string { u, _ := url.Parse(good); return u.Query().Get(ParamSignature) }()
	flipped := []byte(sig)
	flipped[3] ^= 1
	if flipped[3] == '-' || flipped[3] == '_' {
		flipped[3] = 'A'
	}
	tests := []struct {
		name   string
		url    string
		status int
		body   string
	}{
		{"tampered file", strings.Replace(good, "part-0", "part-1", 1), 403, "forbidden\n"},
		{"tampered root", strings.Replace(good, rootID, rootID+"x", 1), 403, "forbidden\n"},
		{"other file of the same root", strings.Replace(good, "part-0.parquet", "_delta_log/00000000000000000000.json", 1), 403, "forbidden\n"},
		{"tampered expiry", withQuery(func(q url.Values) {
			q.Set(ParamExpires, strconv.FormatInt(f.now.Add(48*time.Hour).Unix(), 10))
		}), 403, "forbidden\n"},
		{"expiry with a leading zero", withQuery(func(q url.Values) { q.Set(ParamExpires, "0"+q.Get(ParamExpires)) }), 403, "forbidden\n"},
		{"tampered signature", withQuery(func(q url.Values) { q.Set(ParamSignature, string(flipped)) }), 403, "forbidden\n"},
		{"truncated signature", withQuery(func(q url.Values) { q.Set(ParamSignature, sig[:20]) }), 403, "forbidden\n"},
		{"no signature", withQuery(func(q url.Values) { q.Del(ParamSignature) }), 403, "forbidden\n"},
		{"two signatures", withQuery(func(q url.Values) { q.Add(ParamSignature, sig) }), 403, "forbidden\n"},
		{"no expiry", withQuery(func(q url.Values) { q.Del(ParamExpires) }), 403, "forbidden\n"},
		{"signed with another key", foreign, 403, "forbidden\n"},
		{"dot-dot, encoded", f.srv.URL + "/files/" + rootID + "/%2e%2e/secret.txt?" + mustQuery(good), 403, "forbidden\n"},
		{"encoded slash and dot-dot", f.srv.URL + "/files/" + rootID + "/..%2fsecret.txt?" + mustQuery(good), 403, "forbidden\n"},
		{"NUL", f.srv.URL + "/files/" + rootID + "/part-0.parquet%00?" + mustQuery(good), 403, "forbidden\n"},
		{"backslash", f.srv.URL + "/files/" + rootID + "/..%5csecret.txt?" + mustQuery(good), 403, "forbidden\n"},
		{"no file", f.srv.URL + "/files/" + rootID + "?" + mustQuery(good), 403, "forbidden\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, "GET", tt.url)
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		f.now = f.now.Add(time.Hour)
		defer func() { f.now = f.now.Add(-time.Hour) }()
		resp, body := get(t, "GET", good)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "expired") || strings.Contains(string(body), "part-0") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("POST", func(t *testing.T) {
		if resp, _ := get(t, "POST", good); resp.StatusCode != 405 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	if got := value(t, f.h.requests.WithLabelValues("forbidden")); got != float64(len(tests)+1) {
		t.Errorf("forbidden requests counted %v, want %d", got, len(tests)+1)
	}
	if got := value(t, f.h.requests.WithLabelValues("expired")); got != 1 {
		t.Errorf("expired requests counted %v, want 1", got)
	}
}

func mustQuery(u string) string {
	p, _ := url.Parse(u)
	return p.RawQuery
}

// TestSignRefusesBadPaths: Sign validates what it signs, and the handler
// refuses what escapes the root or is not a regular file even when signed.
func TestSignRefusesBadPaths(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"", "/etc/passwd", "../secret.txt", "a/../../secret.txt", "a//b", "./part-0.parquet", "a/.", "a\\b",
		"a\x00b", "a\nb", "a\x7fb", "a\u0085b", "\xff", strings.Repeat("a", 4097)} {
		if _, _, err := f.s.Sign(rootID, p, time.Hour); err == nil {
			t.Errorf("Sign(%q) succeeded", p)
		}
	}
	for _, id := range []string{"", "a/b", "..", "a.b", strings.Repeat("a", 129)} {
		if _, _, err := f.s.Sign(id, "part-0.parquet", time.Hour); err == nil {
			t.Errorf("Sign(root %q) succeeded", id)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Second, MaxTTL + time.Second} {
		if _, _, err := f.s.Sign(rootID, "part-0.parquet", ttl); err == nil {
			t.Errorf("Sign(ttl %v) succeeded", ttl)
		}
	}
	tests := []struct {
		name, file string
		status     int
	}{
		{"symbolic link out of the root", "escape.parquet", 404},
		{"a directory is never listed", "date=2026-11-22", 404},
		{"missing file", "part-9.parquet", 404},
	}
	for _, tt := range tests {
		resp, body := get(t, "GET", f.sign(t, tt.file))
		if resp.StatusCode != tt.status || strings.Contains(string(body), "secret") || strings.Contains(string(body), f.dir) {
			t.Errorf("%s: %d %q, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
	u := f.sign(t, "part-0.parquet")
	f.roots.Unregister(rootID)
	if resp, _ := get(t, "GET", u); resp.StatusCode != 404 {
		t.Errorf("unregistered root: %d, want 404", resp.StatusCode)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	k1, err := LoadOrCreateKey(path)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", info.Mode(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload gave another key: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("ab", KeySize-1)} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	if _, err := NewSigner(k1[:16], "https://h/files/"); err == nil {
		t.Error("short key accepted")
	}
	for _, base := range []string{"/files/", "ftp://h/files/", "https://h/files/?a=b", "https:///files"} {
		if _, err := NewSigner(k1, base); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
}

// TestMountPath: behind a proxy that strips /sluice, the handler mounted at
// /files/ serves the URLs signed for https://gw/sluice/files/.
func TestMountPath(t *testing.T) {
	f := newFixture(t)
	s, err := NewSigner(bytes.Repeat([]byte{0x42}, KeySize), "https://gw.example.com/sluice/files/", WithClock(func() time.Time { return f.now }))
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := s.Sign(rootID, "part-0.parquet", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := url.Parse(u)
	req := httptest.NewRequest("GET", strings.Replace(p.RequestURI(), "/sluice", "", 1), nil)
	rec := httptest.NewRecorder()
	s.Handler(f.roots, WithMountPath("/files")).ServeHTTP(rec, req)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), f.data) {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	s.Handler(f.roots).ServeHTTP(rec, req) // mounted at the base path: refused
	if rec.Code != 403 {
		t.Fatalf("without WithMountPath: %d", rec.Code)
	}
}

func TestOpenSigner(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenSigner(dir, "", "https://h/files/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenSigner(dir, "", "https://h/files/") // a restart: the same key
	if err != nil {
		t.Fatal(err)
	}
	u, _, _ := a.Sign(rootID, "f", time.Hour)
	p, _ := url.Parse(u)
	if _, err := b.Verify(p.Path, p.Query()); err != nil {
		t.Fatalf("URL of the first signer refused after a restart: %v", err)
	}
	c, err := OpenSigner(dir, strings.Repeat("ab", KeySize), "https://h/files/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(p.Path, p.Query()); err != ErrSignature {
		t.Fatalf("configured key: %v, want ErrSignature for the data dir's key", err)
	}
	if _, err := OpenSigner(dir, "short", "https://h/files/"); err == nil {
		t.Fatal("bad configured key accepted")
	}
}

func TestLocalDir(t *testing.T) {
	tests := []struct {
		in, dir string
		ok      bool
	}{
		{"file:///lake/orders", "/lake/orders", true},
		{"file://localhost/lake/a%20b", "/lake/a b", true},
		{"/lake/orders/", "/lake/orders", true},
		{"s3://bucket/orders", "", false},
		{"file://otherhost/lake", "", false},
		{"relative/dir", "", false},
	}
	for _, tt := range tests {
		if dir, ok := LocalDir(tt.in); dir != tt.dir || ok != tt.ok {
			t.Errorf("LocalDir(%q) = %q, %v; want %q, %v", tt.in, dir, ok, tt.dir, tt.ok)
		}
	}
}

// FuzzVerify: Verify never panics, and accepts only what the key signed: a
// valid component set whose signature is the signer's own.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	s, err := NewSigner(bytes.Repeat([]byte{1}, KeySize), "https://h/files/", WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	good, _, _ := s.Sign(rootID, "date=1/part-0.parquet", time.Hour)
	u, _ := url.Parse(good)
	f.Add(u.Path, u.RawQuery)
	f.Add("/files/"+rootID+"/../x", u.RawQuery)
	f.Add("/files/a/b", "expires=1&X-Amz-Signature=AAAA")
	f.Add("/files//", "expires=99999999999999999999&X-Amz-Signature=")
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		q, _ := url.ParseQuery(rawQuery)
		ref, err := s.Verify(path, q)
		if err != nil {
			return
		}
		if ValidatePath(ref.File) != nil || validRootID(ref.RootID) != nil || !ref.Expires.After(now) {
			t.Fatalf("accepted an invalid ref %+v", ref)
		}
		if got := q.Get(ParamSignature); got != s.signature(ref.RootID, ref.File, ref.Expires.Unix()) {
			t.Fatalf("accepted signature %q for %+v", got, ref)
		}
	})
}

// value reads a counter.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestVerifyPaths: the checks on the decoded path, whatever the HTTP
// server in front cleaned or not.
func TestVerifyPaths(t *testing.T) {
	f := newFixture(t)
	u, _ := url.Parse(f.sign(t, "part-0.parquet"))
	q := u.Query()
	if _, err := f.s.Verify(u.Path, q); err != nil {
		t.Fatalf("genuine URL: %v", err)
	}
	for _, p := range []string{
		"/files/" + rootID + "/../secret.txt",
		"/files/" + rootID + "/a/../part-0.parquet",
		"/files/" + rootID + "//part-0.parquet",
		"/files/" + rootID + "/./part-0.parquet",
		"/files/" + rootID + "/part-0.parquet/",
		"/files/" + rootID + "/",
		"/files/../" + rootID + "/part-0.parquet",
		"/other/" + rootID + "/part-0.parquet",
		"/files/" + rootID + "/part-0.parquet\x00",
	} {
		if _, err := f.s.Verify(p, q); err != ErrInvalid {
			t.Errorf("Verify(%q) = %v, want ErrInvalid", p, err)
		}
	}
}

// BenchmarkVerify: checking one signed URL (HMAC and path validation).
func BenchmarkVerify(b *testing.B) {
	s, err := NewSigner(bytes.Repeat([]byte{1}, KeySize), "https://h/files/")
	if err != nil {
		b.Fatal(err)
	}
	u, _, _ := s.Sign(rootID, "date=2026-11-22/part-00000-3f1e6c1a-0b7d-4c2e-9a55-1c7f3f0e9d2b.c000.snappy.parquet", time.Hour)
	p, _ := url.Parse(u)
	q := p.Query()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(p.Path, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServe: a 64 MiB file through the handler over loopback HTTP.
func BenchmarkServe(b *testing.B) {
	dir := b.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	if err := os.WriteFile(filepath.Join(dir, "big.parquet"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	roots := &Roots{}
	roots.Register(rootID, dir)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s, _ := NewSigner(bytes.Repeat([]byte{1}, KeySize), srv.URL+"/files/")
	mux.Handle(s.Pattern(), s.Handler(roots))
	u, _, _ := s.Sign(rootID, "big.parquet", time.Hour)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(len(data)) {
			b.Fatalf("%d bytes", n)
		}
	}
}

// TestSharedTables: the catalog resolver finds tables in a share on local
// disk, and forgets them when they leave the share.
func TestSharedTables(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	var local, remote, unshared catalog.Relation
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateDatabase(catalog.Database{Name: "sales"}); err != nil {
			return err
		}
		if _, err := tx.CreateSchema(catalog.Schema{Database: "sales", Name: "eu"}); err != nil {
			return err
		}
		mk := func(name, loc string) catalog.Relation {
			r, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: name, Kind: object.KindTable, Location: loc, External: true})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		local, remote, unshared = mk("orders", "file:///lake/orders"), mk("clicks", "s3://lake/clicks"), mk("other", "file:///lake/other")
		if _, err := tx.CreateShare(catalog.Share{Name: "partners"}); err != nil {
			return err
		}
		for _, tb := range []string{"sales.eu.orders", "sales.eu.clicks"} {
			if _, err := tx.AddShareTable("partners", catalog.ShareTable{Table: tb}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := SharedTables(cat)
	if dir, err := r.Root(ctx, local.ID); err != nil || dir != "/lake/orders" {
		t.Fatalf("shared local table: %q, %v", dir, err)
	}
	for name, id := range map[string]string{"on S3": remote.ID, "not shared": unshared.ID, "unknown": "nope"} {
		if _, err := r.Root(ctx, id); !errors.Is(err, ErrUnknownRoot) {
			t.Errorf("%s: %v, want ErrUnknownRoot", name, err)
		}
	}
	if err := cat.Update(ctx, func(tx *catalog.Tx) error { return tx.RemoveShareTable("partners", "sales.eu.orders") }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Root(ctx, local.ID); !errors.Is(err, ErrUnknownRoot) {
		t.Errorf("removed from the share: %v, want ErrUnknownRoot", err)
	}
}
