package sharing

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// gateSigner signs like fakeSigner; after n files it waits for gate, or
// fails when gate is nil.
type gateSigner struct {
	mu   sync.Mutex
	n    int
	gate chan struct{}
}

func (g *gateSigner) SignURL(ctx context.Context, f File, ttl time.Duration) (string, time.Time, error) {
	g.mu.Lock()
	g.n--
	left := g.n
	g.mu.Unlock()
	if left < 0 {
		if g.gate == nil {
			return "", time.Time{}, errors.New("signing service down")
		}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		}
	}
	return fakeSigner{}.SignURL(ctx, f, ttl)
}

func streamQuery(t *testing.T, e *env, path, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+DefaultPrefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.tokens["acme"])
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestQueryStreams: the status, the protocol and metadata lines and the
// first file reach the client while the server is still signing the
// second file. A server that builds the whole answer first sends nothing.
func TestQueryStreams(t *testing.T) {
	for _, format := range []string{formatParquet, formatDelta} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			g := &gateSigner{n: 1, gate: make(chan struct{})}
			e.h.signer = g
			resp := streamQuery(t, e, orders+"/query", `{}`, capsHeader, "responseformat="+format)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			rd := bufio.NewReader(resp.Body)
			for i, want := range []string{"protocol", "metaData", "file"} {
				line, err := rd.ReadBytes('\n')
				if err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				var m map[string]any
				if err := json.Unmarshal(line, &m); err != nil || m[want] == nil {
					t.Fatalf("line %d = %s, want a %s line", i, line, want)
				}
			}
			close(g.gate)
			rest, err := io.ReadAll(rd)
			if err != nil || bytes.Count(rest, []byte("\n")) != 3 {
				t.Fatalf("rest of the answer: %v\n%s", err, rest)
			}
		})
	}
}

// TestChangesStream: the change feed streams the same way.
func TestChangesStream(t *testing.T) {
	e := newEnv(t)
	g := &gateSigner{n: 1, gate: make(chan struct{})}
	e.h.signer = g
	req, _ := http.NewRequest("GET", e.srv.URL+DefaultPrefix+orders+"/changes?startingVersion=0", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["acme"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		if _, err := rd.ReadBytes('\n'); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	close(g.gate)
	if rest, err := io.ReadAll(rd); err != nil || bytes.Count(rest, []byte("\n")) != 5 {
		t.Fatalf("rest: %v\n%s", err, rest)
	}
}

// TestErrorAfterFirstByte: when signing fails after files were sent, the
// answer ends in a line that is not JSON, the connection is cut (the body
// does not end cleanly), the log names the error and the audit record is
// a 500. When the first file already fails, the answer is an ordinary
// error.
func TestErrorAfterFirstByte(t *testing.T) {
	for _, c := range []struct {
		name      string
		path      string
		get       bool
		signed    int
		wantLines int // whole lines before the cut
	}{
		{"query", orders + "/query", false, 2, 4},
		{"changes", orders + "/changes?startingVersion=0", true, 3, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var logs bytes.Buffer
			e.h.log = slog.New(slog.NewTextHandler(&logs, nil))
			e.h.signer = &gateSigner{n: c.signed}
			var resp *http.Response
			if c.get {
				req, _ := http.NewRequest("GET", e.srv.URL+DefaultPrefix+c.path, nil)
				req.Header.Set("Authorization", "Bearer "+e.tokens["acme"])
				var err error
				if resp, err = http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
			} else {
				resp = streamQuery(t, e, c.path, `{}`)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("the body ended cleanly:\n%s", body)
			}
			lines := strings.Split(string(body), "\n")
			if len(lines) != c.wantLines+1 {
				t.Fatalf("%d lines, want %d whole ones and a cut one:\n%s", len(lines), c.wantLines, body)
			}
			for _, l := range lines[:c.wantLines] {
				if !json.Valid([]byte(l)) {
					t.Fatalf("line %q is not JSON", l)
				}
			}
			if last := lines[c.wantLines]; json.Valid([]byte(last)) || !strings.HasPrefix(last, `{"error"`) {
				t.Fatalf("last line %q: want a cut line", last)
			}
			if !strings.Contains(logs.String(), "signing service down") || !strings.Contains(logs.String(), "cut short") {
				t.Fatalf("log: %s", logs.String())
			}
			waitFor(t, func() bool {
				evs := e.sink.Events()
				ev := evs[len(evs)-1]
				return ev.Request == c.name && ev.Status == 500 && !ev.Allow && strings.Contains(ev.Reason, "INTERNAL_ERROR")
			})
		})
	}
	t.Run("first file", func(t *testing.T) {
		e := newEnv(t)
		e.h.signer = &gateSigner{n: 0}
		r := e.do("POST", "acme", orders+"/query", `{}`)
		if r.status != 500 || errorCode(t, r) != codeInternal {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if ok() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not met within 1 s")
}

// Reference encodings: the protocol's objects through encoding/json, as
// the server made them before it streamed.
type refParquetFile struct {
	URL                 string             `json:"url"`
	ID                  string             `json:"id"`
	PartitionValues     map[string]*string `json:"partitionValues"`
	Size                int64              `json:"size"`
	Stats               string             `json:"stats,omitempty"`
	Version             *int64             `json:"version,omitempty"`
	Timestamp           *int64             `json:"timestamp,omitempty"`
	ExpirationTimestamp int64              `json:"expirationTimestamp"`
}

type refDeltaFile struct {
	ID                  string         `json:"id"`
	Version             *int64         `json:"version,omitempty"`
	Timestamp           *int64         `json:"timestamp,omitempty"`
	ExpirationTimestamp int64          `json:"expirationTimestamp"`
	DeltaSingleAction   map[string]any `json:"deltaSingleAction"`
}

func refLine(format string, s signed, snapshot bool) string {
	f := s.f
	var v any
	if format == formatDelta {
		var single map[string]any
		switch f.kind {
		case "remove":
			r := *f.remove
			r.Path, r.DeletionVector = s.url, signedDV(r.DeletionVector, s.dvURL)
			single = map[string]any{"remove": r}
		case "cdc":
			c := *f.cdc
			c.Path = s.url
			single = map[string]any{"cdc": c}
		default:
			a := *f.add
			a.Path, a.DeletionVector = s.url, signedDV(a.DeletionVector, s.dvURL)
			if a.PartitionValues == nil {
				a.PartitionValues = map[string]*string{}
			}
			single = map[string]any{"add": a}
		}
		v = map[string]any{"file": refDeltaFile{ID: fileID(f.path()), Version: f.version, Timestamp: f.ts, ExpirationTimestamp: s.expires, DeltaSingleAction: single}}
	} else {
		pf := refParquetFile{URL: s.url, ID: fileID(f.path()), PartitionValues: f.partitionValues(), Size: f.size(), Version: f.version, Timestamp: f.ts, ExpirationTimestamp: s.expires}
		if f.kind == "add" {
			pf.Stats = f.add.Stats
		}
		key := f.kind
		switch {
		case snapshot:
			key = "file"
		case f.kind == "cdc":
			key = "cdf"
		}
		v = map[string]any{key: pf}
	}
	b, _ := json.Marshal(v)
	return string(b) + "\n"
}

// TestAppendFileLineMatchesJSON: the append encoder writes, byte for byte,
// what encoding/json writes for every kind of file line, over random
// actions with awkward strings.
func TestAppendFileLineMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "a", "date=2026-01-01/part-0.parquet", "<&>", "\"quote\\", "tab\tnl\n\r\b\f\x00\x1f", "é€😀", "\u2028\u2029", "bad\xffutf8\xc3", "s3://b/k?X-Amz-Signature=ab&x=1"}
	str := func() string { return strs[rng.IntN(len(strs))] + strs[rng.IntN(len(strs))] }
	opt := func() *int64 {
		if rng.IntN(2) == 0 {
			return nil
		}
		v := rng.Int64N(1 << 40)
		return &v
	}
	pvs := func() map[string]*string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return map[string]*string{}
		}
		m := map[string]*string{}
		for i := rng.IntN(4); i >= 0; i-- {
			if rng.IntN(3) == 0 {
				m[str()] = nil
			} else {
				v := str()
				m[str()] = &v
			}
		}
		return m
	}
	dv := func() *deltalog.DeletionVector {
		if rng.IntN(3) > 0 {
			return nil
		}
		off := int32(rng.IntN(100))
		return &deltalog.DeletionVector{StorageType: "u", PathOrInlineDv: str(), Offset: &off, SizeInBytes: 40, Cardinality: 3}
	}
	for i := 0; i < 5000; i++ {
		var f fileAction
		switch rng.IntN(3) {
		case 0:
			a := &deltalog.Add{Path: str(), PartitionValues: pvs(), Size: rng.Int64N(1 << 40), ModificationTime: rng.Int64(), DataChange: rng.IntN(2) == 0,
				Stats: str(), DeletionVector: dv(), BaseRowID: opt(), DefaultRowCommit: opt()}
			if rng.IntN(4) == 0 {
				a.Tags = map[string]string{str(): str()}
			}
			if rng.IntN(4) == 0 {
				cp := str()
				a.ClusteringProv = &cp
			}
			f = fileAction{kind: "add", add: a}
		case 1:
			f = fileAction{kind: "remove", remove: &deltalog.Remove{Path: str(), DataChange: true, DeletionTimestamp: opt(), PartitionValues: pvs(), Size: opt(), DeletionVector: dv()}}
		default:
			f = fileAction{kind: "cdc", cdc: &deltalog.CDC{Path: str(), PartitionValues: pvs(), Size: rng.Int64N(100)}}
		}
		f.version, f.ts = opt(), opt()
		s := signed{f: f, url: str(), expires: rng.Int64N(1 << 42)}
		if rng.IntN(2) == 0 {
			s.dvURL = str()
		}
		for _, format := range []string{formatParquet, formatDelta} {
			for _, snapshot := range []bool{true, false} {
				if got, want := string(appendFileLine(nil, format, "", s, snapshot)), refLine(format, s, snapshot); got != want {
					t.Fatalf("%s snapshot=%v:\n got %s\nwant %s", format, snapshot, got, want)
				}
			}
		}
	}
}

// FuzzAppendString: appendString escapes as encoding/json does.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<script>&", "\x00\x07\b\f\n\r\t\x1f\x7f", "\"\\", "\u2028\u2029é", "\xff\xfe\xc3("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// countingStore counts List calls.
type countingStore struct {
	objstore.Store
	mu    sync.Mutex
	lists int
	delay time.Duration
}

func (c *countingStore) List(ctx context.Context, prefix, startAfter string) ([]objstore.ObjectInfo, error) {
	c.mu.Lock()
	c.lists++
	c.mu.Unlock()
	time.Sleep(c.delay)
	return c.Store.List(ctx, prefix, startAfter)
}

// TestLatestVersionCoalesces: concurrent requests share listings, a
// request never gets a version older than the latest committed when it
// arrived, and after the first listing the log is listed from the last
// version found.
func TestLatestVersionCoalesces(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, ordersLog)
	local, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: local, delay: 20 * time.Millisecond}
	c := newLatestCache()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, ok, err := c.latest(ctx, st); err != nil || !ok || v != 2 {
				t.Errorf("latest = %d, %v, %v", v, ok, err)
			}
		}()
	}
	wg.Wait()
	if st.lists >= 32 {
		t.Errorf("%d listings for 32 concurrent requests", st.lists)
	}
	// A commit, then a request: it sees the commit.
	writeLog(t, dir, append(append([]string{}, ordersLog...), ordersLog[1]))
	if v, _, _ := c.latest(ctx, st); v != 3 {
		t.Fatalf("after a commit: version %d, want 3", v)
	}
	// Listed from version 3 on: one listing returning version 3's files.
	st.lists = 0
	got, err := deltalog.CommitsFrom(ctx, local, 3)
	if err != nil || fmt.Sprint(got) != "[3]" {
		t.Fatalf("CommitsFrom(3) = %v, %v", got, err)
	}
	if v, _, _ := c.latest(ctx, st); v != 3 || st.lists != 1 {
		t.Fatalf("version %d after %d listings", v, st.lists)
	}
}

// TestPythonConnectorPages: the connector's REST client reads the query of
// a 100k-file table (BenchmarkQueryScale's, generated once) in pages of
// 7,000 files with maxFiles and pageToken, every line parsed by its
// protocol classes, and gets every file exactly once, all of one version.
func TestPythonConnectorPages(t *testing.T) {
	testenv.Python(t)
	const n, page = 100_000, 7_000
	dir := benchTable(t, n)
	e := newEnv(t)
	e.shareTable(dir, "big", false)
	profile := filepath.Join(t.TempDir(), "profile.share")
	pb, _ := json.Marshal(map[string]any{"shareCredentialsVersion": 1, "endpoint": e.srv.URL + DefaultPrefix, "bearerToken": e.tokens["acme"]})
	if err := os.WriteFile(profile, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := runConnector(t, profile, []map[string]any{{"op": "paged_files", "table": "q3.eu.big", "max_files": page}})[0]
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	seen := map[string]bool{}
	for _, id := range res.Files {
		if seen[id] {
			t.Fatalf("file %s twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n || res.Pages != (n+page-1)/page || len(res.Versions) != 1 {
		t.Fatalf("%d distinct files in %d pages at versions %v; want %d in %d pages at one version", len(seen), res.Pages, res.Versions, n, (n+page-1)/page)
	}
	t.Logf("%d files in %d pages in %s", n, res.Pages, time.Since(start).Round(time.Millisecond))
}
