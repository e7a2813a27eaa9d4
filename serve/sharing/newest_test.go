package sharing

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// fileIDs returns the ids of the file lines of an answer (any format).
func fileIDs(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, l := range ndjson(t, body) {
		for _, k := range []string{"file", "add", "remove", "cdf"} {
			if m, ok := l[k].(map[string]any); ok {
				out = append(out, m["id"].(string))
			}
		}
	}
	return out
}

// TestFileIDHash: the fileidhash header picks the id scheme on query and
// changes (delta: SHA-256 of the log's path, parquet: its MD5), in both
// response formats; the value is echoed lower-cased; without the header
// the ids are as before and no header is echoed; any other value is 400.
func TestFileIDHash(t *testing.T) {
	e := newEnv(t)
	sha := func(p string) string { s := sha256.Sum256([]byte(p)); return hex.EncodeToString(s[:]) }
	md := func(p string) string { s := md5.Sum([]byte(p)); return hex.EncodeToString(s[:]) }
	def := func(p string) string { return sha(p)[:32] }
	// orders at version 0: a, b.
	paths := []string{"date=2026-01-01/part-a.parquet", "date=2026-01-02/part-b.parquet"}
	changes := orders + "/changes?startingVersion=0&endingVersion=0"
	for _, tc := range []struct {
		name, header, caps string
		id                 func(string) string
	}{
		{"none", "", "", def},
		{"delta", "Delta", "", sha},
		{"parquet", " parquet ", "", md},
		{"delta ids in the parquet format", "delta", "responseformat=parquet", sha},
		{"parquet ids in the delta format", "PARQUET", "responseformat=delta", md},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.header != "" {
				hdr = append(hdr, fileIDHashHeader, tc.header)
			}
			if tc.caps != "" {
				hdr = append(hdr, capsHeader, tc.caps)
			}
			want := []string{tc.id(paths[0]), tc.id(paths[1])}
			for _, r := range []response{
				e.do("POST", "acme", orders+"/query", `{"version":0}`, hdr...),
				e.do("GET", "acme", changes, "", hdr...),
			} {
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				if got := fileIDs(t, r.body); strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("ids %v, want %v", got, want)
				}
				echo, sent := r.header[fileIDHashCanon], tc.header != ""
				if sent && (len(echo) != 1 || echo[0] != strings.ToLower(strings.TrimSpace(tc.header))) || !sent && len(echo) != 0 {
					t.Errorf("fileidhash echoed %q for %q", echo, tc.header)
				}
			}
		})
	}
	for _, bad := range []string{"md5", "", "delta,parquet"} {
		for _, r := range []response{
			e.do("POST", "acme", orders+"/query", `{}`, fileIDHashHeader, bad),
			e.do("GET", "acme", changes, "", fileIDHashHeader, bad),
		} {
			if r.status != 400 || errorCode(t, r) != codeInvalidParam || !strings.Contains(r.body, "use parquet or delta") {
				t.Errorf("fileidhash %q: %d %s", bad, r.status, r.body)
			}
		}
	}
}

// fileIDHashCanon is the canonical form of the header, as net/http keys
// it.
const fileIDHashCanon = "Fileidhash"

// protoLog is a table whose version 1 turns on deletion vectors (a new
// protocol) and version 2 appends.
var protoLog = []string{
	`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}
{"metaData":{"id":"p-id","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"kind\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{},"createdTime":1767225600000}}
{"add":{"path":"part-p0.parquet","partitionValues":{},"size":10,"modificationTime":1767225600000,"dataChange":true}}
`,
	`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}
`,
	`{"add":{"path":"part-p2.parquet","partitionValues":{},"size":10,"modificationTime":1767225600000,"dataChange":true}}
`,
}

// protocolLines returns the protocol lines of a delta-format answer: the
// version each names (-1 without) and its minReaderVersion.
func protocolLines(t *testing.T, body string) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, l := range ndjson(t, body) {
		p, ok := l["protocol"].(map[string]any)
		if !ok {
			continue
		}
		v := -1.0
		if n, ok := p["version"].(float64); ok {
			v = n
		}
		out = append(out, [2]float64{v, p["deltaProtocol"].(map[string]any)["minReaderVersion"].(float64)})
	}
	return out
}

// TestIncludeHistoricalProtocol: with includeHistoricalProtocol, a
// delta-format answer from a startingVersion (changes, and query with
// startingVersion) inlines the protocol of each later version that
// changes it, and every protocol line names its version; without it, or
// in the parquet format, only the head protocol without a version, as
// before.
func TestIncludeHistoricalProtocol(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "proto")
	writeLog(t, dir, protoLog)
	e.shareAt("proto", "file://"+dir)
	base := "/shares/q3/schemas/golden/tables/proto"
	delta := []string{capsHeader, "responseformat=delta;readerfeatures=deletionvectors"}
	for _, tc := range []struct {
		name   string
		do     func(flag string, hdr ...string) response
		inline [][2]float64
	}{
		{"changes", func(flag string, hdr ...string) response {
			q := "?startingVersion=0"
			if flag != "" {
				q += "&includeHistoricalProtocol=" + flag
			}
			return e.do("GET", "acme", base+"/changes"+q, "", hdr...)
		}, [][2]float64{{0, 1}, {1, 3}}},
		{"query startingVersion", func(flag string, hdr ...string) response {
			body := `{"startingVersion":0`
			if flag != "" {
				body += `,"includeHistoricalProtocol":` + flag
			}
			return e.do("POST", "acme", base+"/query", body+"}", hdr...)
		}, [][2]float64{{0, 1}, {1, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do("true", delta...)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if got := protocolLines(t, r.body); len(got) != len(tc.inline) || got[0] != tc.inline[0] || got[1] != tc.inline[1] {
				t.Errorf("with includeHistoricalProtocol: protocol lines %v, want %v\n%s", got, tc.inline, r.body)
			}
			// The version-1 protocol comes before version 2's file.
			if i, j := strings.Index(r.body, `"minReaderVersion":3`), strings.Index(r.body, "part-p2"); i < 0 || j < i {
				t.Errorf("the protocol of version 1 is not before version 2's file:\n%s", r.body)
			}
			for _, flag := range []string{"", "false"} {
				r := tc.do(flag, delta...)
				if got := protocolLines(t, r.body); r.status != 200 || len(got) != 1 || got[0] != [2]float64{-1, 1} {
					t.Errorf("includeHistoricalProtocol=%q: %d, protocol lines %v, want the head one without version", flag, r.status, got)
				}
			}
			// Parquet: the flag is ignored (the window's deletion
			// vectors are refused in parquet, as without the flag).
			p1, p2 := tc.do("true"), tc.do("")
			if p1.status != p2.status || p1.body != p2.body {
				t.Errorf("parquet with the flag differs from without: %d %s / %d %s", p1.status, p1.body, p2.status, p2.body)
			}
		})
	}
	// A page token of a request with the flag is not valid without it.
	r := e.do("GET", "acme", base+"/changes?startingVersion=0&includeHistoricalProtocol=true&maxFiles=1", "", delta...)
	tok, _ := endLine(t, r.body)["nextPageToken"].(string)
	if tok == "" {
		t.Fatalf("no page token: %s", r.body)
	}
	if r := e.do("GET", "acme", base+"/changes?startingVersion=0&maxFiles=1&pageToken="+tok, "", delta...); r.status != 400 {
		t.Errorf("page token used without the flag: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "acme", base+"/changes?startingVersion=0&includeHistoricalProtocol=true&maxFiles=1&pageToken="+tok, "", delta...); r.status != 200 {
		t.Errorf("page token with the flag: %d %s", r.status, r.body)
	}
}

// TestMetadataVersionAndTimestamp: /metadata time-travels by version and by
// timestamp (ISO 8601, the latest version committed at or before it): the
// metaData line is of that version and names it, Delta-Table-Version is
// it; both together, a bad value, or either on a table without history is
// 400; without either, the latest metadata, without a version field.
func TestMetadataVersionAndTimestamp(t *testing.T) {
	e := newEnv(t)
	meta := func(r response) map[string]any {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		lines := ndjson(t, r.body)
		if len(lines) != 2 {
			t.Fatalf("%d lines: %s", len(lines), r.body)
		}
		return lines[1]["metaData"].(map[string]any)
	}
	for _, tc := range []struct {
		query   string
		version string
		desc    string // the metadata's description at that version
		field   bool   // the line carries "version"
	}{
		{"", "2", "orders, v2", false},
		{"?version=0", "0", "", true},
		{"?version=1", "1", "", true},
		{"?version=2", "2", "orders, v2", true},
		// commitTime(v) is v hours into 2026-01-01.
		{"?timestamp=2026-01-01T01:30:00Z", "1", "", true},
		{"?timestamp=2026-01-01T02:00:00Z", "2", "orders, v2", true},
		{"?timestamp=2026-01-01T03:00:00%2B01:00", "2", "orders, v2", true},
		{"?timestamp=2026-01-01T00:00:00Z", "0", "", true},
	} {
		r := e.do("GET", "acme", orders+"/metadata"+tc.query, "")
		m := meta(r)
		if r.header.Get("Delta-Table-Version") != tc.version {
			t.Errorf("%s: Delta-Table-Version %q, want %s", tc.query, r.header.Get("Delta-Table-Version"), tc.version)
		}
		if d, _ := m["description"].(string); d != tc.desc {
			t.Errorf("%s: description %q, want %q", tc.query, d, tc.desc)
		}
		v, has := m["version"].(float64)
		if has != tc.field || has && fmt.Sprint(v) != tc.version {
			t.Errorf("%s: metaData version %v (present %v), want %s (present %v)", tc.query, v, has, tc.version, tc.field)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{orders + "/metadata?version=0&timestamp=2026-01-01T00:00:00Z", "only one of version and timestamp"},
		{orders + "/metadata?version=-1", "not a non-negative integer"},
		{orders + "/metadata?version=x", "not a non-negative integer"},
		{orders + "/metadata?version=9", ""},
		{orders + "/metadata?timestamp=yesterday", ""},
		{orders + "/metadata?timestamp=2025-01-01T00:00:00Z", ""},
		{events + "/metadata?version=0", "history sharing is not enabled"},
		{events + "/metadata?timestamp=2026-01-01T00:00:00Z", "history sharing is not enabled"},
	} {
		r := e.do("GET", "acme", tc.path, "")
		if r.status != 400 || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.path, r.status, r.body, tc.want)
		}
	}
}
