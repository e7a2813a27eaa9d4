package sharing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/fileurl"
	"github.com/sluice-io/sluice/testdata"
)

// dvActions returns the add and remove actions of a delta format answer's
// file lines, in order, as "add"/"remove" -> action.
func dvActions(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range ndjson(t, body) {
		f, ok := l["file"].(map[string]any)
		if !ok {
			continue
		}
		for kind, a := range f["deltaSingleAction"].(map[string]any) {
			m := a.(map[string]any)
			m["kind"] = kind
			out = append(out, m)
		}
	}
	return out
}

// A table with deletion vectors is served in the delta format, each
// on-disk deletion vector handed out as the signed URL of its file
// ("p"); the parquet format, which cannot carry them, is refused with the
// protocol's error naming the fix, on every endpoint.
func TestDeletionVectorsServed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dir := e.shareGolden("log-replay-dv-key-cases", "dvkeys")
	path := "/shares/q3/schemas/golden/tables/dvkeys"
	st, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ name, method, path, body string }{
		{"query", "POST", path + "/query", `{}`},
		{"query at version 0", "POST", path + "/query", `{"version":0}`},
		{"metadata", "GET", path + "/metadata", ""},
		{"changes", "GET", path + "/changes?startingVersion=0", ""},
	} {
		for _, caps := range []string{"", "responseformat=parquet"} {
			r := e.do(c.method, "acme", c.path, c.body, capsHeader, caps)
			if r.status != 400 || errorCode(t, r) != codeUnsupported || !strings.Contains(r.body, "responseformat=delta") || !strings.Contains(r.body, "q3.golden.dvkeys") {
				t.Errorf("%s, capabilities %q: %d %s", c.name, caps, r.status, r.body)
			}
		}
	}

	// Both formats asked: delta, with the deletion vector signed.
	latest, err := deltalog.Load(ctx, st, deltalog.WithDeletionVectors())
	if err != nil {
		t.Fatal(err)
	}
	dv := latest.Files()[0].DeletionVector
	key, err := dv.Key(st)
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "acme", path+"/query", `{}`, capsHeader, "responseformat=delta,parquet;readerfeatures=deletionvectors")
	if r.status != 200 || r.header.Get(capsHeader) != "responseformat=delta" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	acts := dvActions(t, r.body)
	if len(acts) != 1 {
		t.Fatalf("%d files: %s", len(acts), r.body)
	}
	got, _ := json.Marshal(acts[0]["deletionVector"])
	_, expires, _ := strings.Cut(acts[0]["path"].(string), "?") // signed alike
	want, _ := json.Marshal(map[string]any{"storageType": "p", "pathOrInlineDv": "https://files.test/log-replay-dv-key-cases/" + key + "?" + expires,
		"offset": *dv.Offset, "sizeInBytes": dv.SizeInBytes, "cardinality": dv.Cardinality})
	if string(got) != string(want) {
		t.Fatalf("deletion vector\n got %s\nwant %s", got, want)
	}

	// Version 0 had none; the changes carry each commit's add with its new
	// deletion vector and remove with the old one, all signed.
	r = e.do("POST", "acme", path+"/query", `{"version":0}`, capsHeader, "responseformat=delta;readerfeatures=deletionvectors")
	if acts := dvActions(t, r.body); len(acts) != 1 || acts[0]["deletionVector"] != nil {
		t.Fatalf("version 0: %s", r.body)
	}
	r = e.do("GET", "acme", path+"/changes?startingVersion=1", "", capsHeader, "responseformat=delta;readerfeatures=deletionvectors")
	if r.status != 200 {
		t.Fatalf("changes: %d %s", r.status, r.body)
	}
	var kinds []string
	for _, a := range dvActions(t, r.body) {
		d, _ := a["deletionVector"].(map[string]any)
		kind := a["kind"].(string)
		if d != nil {
			if d["storageType"] != "p" || !strings.HasPrefix(d["pathOrInlineDv"].(string), "https://files.test/log-replay-dv-key-cases/deletion_vector_") {
				t.Fatalf("changes: %s deletion vector %v", kind, d)
			}
			kind += "+dv"
		}
		kinds = append(kinds, kind)
	}
	if strings.Join(kinds, " ") != "add+dv remove add+dv remove+dv add+dv remove+dv" {
		t.Fatalf("changes: %v", kinds)
	}
}

// fileServer serves e's catalog with the production file endpoint mounted
// beside the protocol (local tables' URLs signed by table ID) and returns
// its URL.
func fileServer(t *testing.T, e *env, opts ...Option) string {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	signer, err := fileurl.NewSigner([]byte(strings.Repeat("k", fileurl.KeySize)), srv.URL+"/files/")
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(signer.Pattern(), signer.Handler(fileurl.SharedTables(e.cat)))
	pol, err := policy.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(e.cat, pol, append([]Option{WithSigner(StoreSigner{Local: signer})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(DefaultPrefix+"/", h)
	return srv.URL
}

// postQuery queries a table of q3 in the delta format as acme.
func postQuery(t *testing.T, e *env, base, table string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", base+DefaultPrefix+"/shares/q3/schemas/golden/tables/"+table+"/query", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+e.tokens["acme"])
	req.Header.Set(capsHeader, "responseformat=delta;readerfeatures=deletionvectors")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("query %s: %d %s", table, resp.StatusCode, body)
	}
	return dvActions(t, string(body))
}

// fetchDV GETs the URL of a served deletion vector and checks it gives the
// bytes of the table's file (golden dir) for it.
func fetchDV(t *testing.T, a map[string]any, dir string) {
	t.Helper()
	d, _ := a["deletionVector"].(map[string]any)
	if d == nil || d["storageType"] != "p" {
		t.Fatalf("deletion vector %v", a["deletionVector"])
	}
	u := d["pathOrInlineDv"].(string)
	got, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	st, _ := objstore.NewLocal(dir)
	snap, err := deltalog.Load(context.Background(), st, deltalog.WithDeletionVectors())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := snap.Files()[0].DeletionVector.Key(st)
	want, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	if got.StatusCode != 200 || string(b) != string(want) {
		t.Fatalf("GET deletion vector: %d, %d bytes, want the %d of %s", got.StatusCode, len(b), len(want), key)
	}
}

// The signed URL of a local table's deletion vector is served by the file
// endpoint, as data files are: the client gets the file's bytes.
func TestDeletionVectorFileEndpoint(t *testing.T) {
	e := newEnv(t)
	dir := e.shareGolden("log-replay-dv-key-cases", "dvkeys")
	acts := postQuery(t, e, fileServer(t, e), "dvkeys")
	if len(acts) != 1 {
		t.Fatalf("%d files", len(acts))
	}
	fetchDV(t, acts[0], dir)
}

// On S3 the deletion vector is handed out as a presigned URL of its
// object, as data files are; the connector reads the table from MinIO in
// the delta format as delta-rs reads the golden directory.
func TestDeletionVectorsOnS3(t *testing.T) {
	ctx := context.Background()
	s3env := testenv.MinIO(t)
	bucket := s3env.NewBucket(t)
	s3opts := []objstore.S3Option{objstore.WithEndpoint(s3env.Endpoint), objstore.WithRegion(s3env.Region),
		objstore.WithPathStyle(true), objstore.WithStaticCredentials(s3env.AccessKey, s3env.SecretKey, "")}
	st, err := objstore.NewS3(ctx, bucket, "dv/keys", s3opts...)
	if err != nil {
		t.Fatal(err)
	}
	dir := testdata.Path("delta-golden", "log-replay-dv-key-cases")
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return st.Put(ctx, filepath.ToSlash(rel), bytes.NewReader(b), objstore.PutOptions{})
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.shareAt("dvs3", st.URI())
	base := fileServer(t, e, WithStoreOpener(func(ctx context.Context, uri string) (objstore.Store, error) {
		if rest, ok := strings.CutPrefix(uri, "s3://"); ok {
			b, prefix, _ := strings.Cut(rest, "/")
			return objstore.NewS3(ctx, b, prefix, s3opts...)
		}
		return objstore.Open(ctx, uri)
	}))
	acts := postQuery(t, e, base, "dvs3")
	if len(acts) != 1 {
		t.Fatalf("%d files", len(acts))
	}
	if u := acts[0]["deletionVector"].(map[string]any)["pathOrInlineDv"].(string); !strings.HasPrefix(u, s3env.Endpoint) || !strings.Contains(u, "X-Amz-Signature=") {
		t.Fatalf("deletion vector URL %s is not presigned by MinIO", u)
	}
	fetchDV(t, acts[0], dir)

	profile := writeProfile(t, base, e.tokens["acme"])
	res := runConnector(t, profile, []map[string]any{{"op": "load", "table": "q3.golden.dvs3", "use_delta_format": true}})[0]
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	got, _ := testenv.SortRows(res.Rows)
	want := deltaRsAt(t, dir, 3)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the connector reads %d rows from S3, delta-rs %d from the directory", len(got), len(want))
	}
}

// writeProfile writes a sharing profile for the server at base.
func writeProfile(t *testing.T, base, token string) string {
	t.Helper()
	profile := filepath.Join(t.TempDir(), "profile.share")
	pb, _ := json.Marshal(map[string]any{"shareCredentialsVersion": 1, "endpoint": base + DefaultPrefix, "bearerToken": token})
	if err := os.WriteFile(profile, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	return profile
}

// deltaRsAt is what delta-rs reads at version of the table in dir.
func deltaRsAt(t *testing.T, dir string, v int64) []any {
	t.Helper()
	res := testenv.DeltaRs(t, nil, []string{dir}, "--rows", "--version", strconv.FormatInt(v, 10))[0]
	if res.Error != "" {
		t.Fatalf("delta-rs %s@%d: %s", dir, v, res.Error)
	}
	rows, err := testenv.SortRows(res.Rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// The real Python connector, in the delta format, reads the golden tables
// with deletion vectors and column mapping through the share (deletion
// vector files fetched from the file endpoint, physical names mapped by
// the connector) exactly as delta-rs reads them directly, at every version.
func TestPythonConnectorReaderFeatures(t *testing.T) {
	e := newEnv(t)
	tables := map[string]string{"dvkeys": "log-replay-dv-key-cases", "dvparts": "dv-partitioned-with-checkpoint",
		"dvcm": "dv-with-columnmapping", "ntzname": "data-reader-timestamp_ntz-name-mode", "ntzid": "data-reader-timestamp_ntz-id-mode"}
	// (table-with-columnmapping-mode-* have nested columns the connector
	// returns as numpy arrays, which the oracle has no canonical form of.)
	latest := map[string]int64{"dvkeys": 3, "dvparts": 15, "dvcm": 0, "ntzname": 1, "ntzid": 1}
	dirs := map[string]string{}
	for alias, name := range tables {
		dirs[alias] = e.shareGolden(name, alias)
	}
	profile := writeProfile(t, fileServer(t, e), e.tokens["acme"])
	var ops []map[string]any
	var want [][]any
	for _, alias := range []string{"dvkeys", "dvparts", "dvcm", "ntzname", "ntzid"} {
		for v := int64(0); v <= latest[alias]; v++ {
			ops = append(ops, map[string]any{"op": "load", "table": "q3.golden." + alias, "version": v, "use_delta_format": true})
			want = append(want, deltaRsAt(t, dirs[alias], v))
		}
	}
	ops = append(ops, map[string]any{"op": "load", "table": "q3.golden.dvkeys"})
	results := runConnector(t, profile, ops)
	for i, w := range want {
		if results[i].Error != "" {
			t.Fatalf("%v: %s", ops[i], results[i].Error)
		}
		got, err := testenv.SortRows(results[i].Rows)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%v: the connector reads %d rows, delta-rs %d\n got %.500v\nwant %.500v", ops[i], len(got), len(w), got, w)
		}
	}
	// Without use_delta_format the connector asks for both formats: the
	// server picks delta, and the rows are right too.
	if last, _ := testenv.SortRows(results[len(results)-1].Rows); !reflect.DeepEqual(last, want[latest["dvkeys"]]) {
		t.Fatalf("default format: %+v", results[len(results)-1])
	}
}

// limitHint counts a file's live rows: its numRecords less the rows its
// deletion vector deletes, so a limit is never cut short by deleted rows.
func TestLimitFilesCountsDeletionVectors(t *testing.T) {
	file := func(path string, n, deleted int64) *deltalog.Add {
		a := &deltalog.Add{Path: path, Stats: fmt.Sprintf(`{"numRecords":%d}`, n)}
		if deleted > 0 {
			a.DeletionVector = &deltalog.DeletionVector{StorageType: "u", Cardinality: deleted}
		}
		return a
	}
	files := []*deltalog.Add{file("a", 10, 8), file("b", 10, 0), file("c", 10, 0)}
	for _, c := range []struct {
		limit int64
		want  int
	}{{1, 1}, {2, 1}, {3, 2}, {12, 2}, {13, 3}} {
		if got := limitFiles(files, c.limit); len(got) != c.want {
			t.Errorf("limit %d: %d files, want %d", c.limit, len(got), c.want)
		}
	}
}
