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
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/internal/golden"
	"github.com/sluice-io/sluice/policy"
)

// now is the handler's clock in the protocol tests: URL expiries are
// stable.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// commitTime is the time of version v of the fixture tables.
func commitTime(v int) time.Time { return time.Date(2026, 1, 1, v, 0, 0, 0, time.UTC) }

// fakeSigner hands out URLs that name the store and key: no file is read.
type fakeSigner struct{}

func (fakeSigner) SignURL(_ context.Context, f File, ttl time.Duration) (string, time.Time, error) {
	exp := now.Add(ttl)
	return "https://files.test/" + filepath.Base(f.Store.URI()) + "/" + f.Key + "?expires=" + fmt.Sprint(exp.Unix()), exp, nil
}

const ordersSchema = `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"amount","type":"double","nullable":true,"metadata":{}},{"name":"date","type":"date","nullable":true,"metadata":{}}]}`

func stats(n, lo, hi int) string {
	return fmt.Sprintf(`{"numRecords":%d,"minValues":{"id":%d,"amount":1.5},"maxValues":{"id":%d,"amount":9.5},"nullCount":{"id":0,"amount":0}}`, n, lo, hi)
}

func addLine(path string, date *string, size int64, st string) string {
	pv, _ := json.Marshal(map[string]*string{"date": date})
	s := ""
	if st != "" {
		b, _ := json.Marshal(st)
		s = `,"stats":` + string(b)
	}
	return fmt.Sprintf(`{"add":{"path":%q,"partitionValues":%s,"size":%d,"modificationTime":1767225600000,"dataChange":true%s}}`, path, pv, size, s)
}

func str(s string) *string { return &s }

// ordersLog is the log of the partitioned fixture table "orders":
//
//	v0: a (2026-01-01, ids 1-2), b (2026-01-02, ids 3-5)
//	v1: c (2026-01-03, ids 6-9), n (null date, no stats)
//	v2: remove a, add d (2026-01-01, ids 10-11), new description
var ordersLog = []string{
	`{"commitInfo":{"operation":"CREATE TABLE"}}
{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}
{"metaData":{"id":"orders-id","name":"orders","format":{"provider":"parquet","options":{}},"schemaString":` + jsonString(ordersSchema) + `,"partitionColumns":["date"],"configuration":{},"createdTime":1767225600000}}
` + addLine("date=2026-01-01/part-a.parquet", str("2026-01-01"), 100, stats(2, 1, 2)) + "\n" +
		addLine("date=2026-01-02/part-b.parquet", str("2026-01-02"), 200, stats(3, 3, 5)) + "\n",
	`{"commitInfo":{"operation":"WRITE"}}
` + addLine("date=2026-01-03/part-c.parquet", str("2026-01-03"), 300, stats(4, 6, 9)) + "\n" +
		addLine("date=__HIVE_DEFAULT_PARTITION__/part-n.parquet", nil, 50, "") + "\n",
	`{"commitInfo":{"operation":"WRITE"}}
{"remove":{"path":"date=2026-01-01/part-a.parquet","deletionTimestamp":1767232800000,"dataChange":true,"partitionValues":{"date":"2026-01-01"},"size":100}}
{"metaData":{"id":"orders-id","name":"orders","description":"orders, v2","format":{"provider":"parquet","options":{}},"schemaString":` + jsonString(ordersSchema) + `,"partitionColumns":["date"],"configuration":{},"createdTime":1767225600000}}
` + addLine("date=2026-01-01/part-d.parquet", str("2026-01-01"), 120, stats(2, 10, 11)) + "\n",
}

var eventsLog = []string{
	`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}
{"metaData":{"id":"events-id","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"kind\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{},"createdTime":1767225600000}}
{"add":{"path":"part-e1.parquet","partitionValues":{},"size":10,"modificationTime":1767225600000,"dataChange":true,"stats":"{\"numRecords\":1}"}}
`,
}

// dvLog is a table with deletion vectors, which the server serves in the
// delta format only.
var dvLog = []string{
	`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}
{"metaData":{"id":"dv-id","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":[],"configuration":{},"createdTime":1767225600000}}
`,
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// writeLog writes the commits into dir/_delta_log, commit v at commitTime(v).
func writeLog(t testing.TB, dir string, commits []string) {
	t.Helper()
	logDir := filepath.Join(dir, "_delta_log")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for v, c := range commits {
		p := filepath.Join(logDir, fmt.Sprintf("%020d.json", v))
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, commitTime(v), commitTime(v)); err != nil {
			t.Fatal(err)
		}
	}
}

// env is a sharing server over a catalog with:
//
//	database sales, schema eu: tables orders, events, secret
//	share q3 (granted to acme): eu.orders (with history), web.events (without),
//	  lab.dv (deletion vectors: delta format only)
//	share q4 (granted to other): eu.orders
//	recipients acme, other, and late (token valid one hour)
type env struct {
	t      testing.TB
	cat    *catalog.Catalog
	h      *Handler
	srv    *httptest.Server
	sink   *policy.MemorySink
	tokens map[string]string
	ids    map[string]string // id -> placeholder, for golden files
	dirs   map[string]string // table -> directory
}

func newEnv(t testing.TB, polOpts ...policy.Option) *env {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	e := &env{t: t, cat: cat, sink: &policy.MemorySink{}, tokens: map[string]string{}, ids: map[string]string{}, dirs: map[string]string{}}
	root := t.TempDir()
	for name, log := range map[string][]string{"orders": ordersLog, "events": eventsLog, "secret": eventsLog, "dv": dvLog} {
		dir := filepath.Join(root, name)
		writeLog(t, dir, log)
		e.dirs[name] = dir
	}
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateDatabase(catalog.Database{Name: "sales"}); err != nil {
			return err
		}
		if _, err := tx.CreateSchema(catalog.Schema{Database: "sales", Name: "eu"}); err != nil {
			return err
		}
		for _, name := range []string{"orders", "events", "secret", "dv"} {
			rel, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: name, Kind: object.KindTable,
				Location: "file://" + e.dirs[name], External: true})
			if err != nil {
				return err
			}
			e.ids[rel.ID] = "<table:" + name + ">"
		}
		for _, s := range []string{"q3", "q4"} {
			sh, err := tx.CreateShare(catalog.Share{Name: s})
			if err != nil {
				return err
			}
			e.ids[sh.ID] = "<share:" + s + ">"
		}
		if _, err := tx.AddShareTable("q3", catalog.ShareTable{Table: "sales.eu.orders", WithHistory: true}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("q3", catalog.ShareTable{Table: "sales.eu.events", ShareSchema: "web"}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("q3", catalog.ShareTable{Table: "sales.eu.dv", ShareSchema: "lab", WithHistory: true}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("q4", catalog.ShareTable{Table: "sales.eu.orders"}); err != nil {
			return err
		}
		for _, r := range []catalog.Recipient{{Name: "acme"}, {Name: "other"}, {Name: "late", Properties: map[string]string{catalog.TokenTTLProperty: "1h"}}} {
			_, tok, err := tx.CreateRecipient(r)
			if err != nil {
				return err
			}
			e.tokens[r.Name] = tok
		}
		for share, rc := range map[string]string{"q3": "acme", "q4": "other"} {
			if _, err := tx.GrantShare(share, rc); err != nil {
				return err
			}
		}
		_, err := tx.GrantShare("q3", "late")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(ctx, append([]policy.Option{policy.WithSink(e.sink)}, polOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.h, err = NewHandler(cat, pol, WithSigner(fakeSigner{}), WithClock(func() time.Time { return now }),
		WithAuditSink(e.sink), WithTokenKey([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	return e
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request as recipient (no Authorization header if "") to
// path under the default prefix.
func (e *env) do(method, recipient, path, body string, header ...string) response {
	e.t.Helper()
	return e.doRaw(method, recipient, DefaultPrefix+path, body, header...)
}

// doRaw is do with the full path.
func (e *env) doRaw(method, recipient, path, body string, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if recipient != "" {
		tok := e.tokens[recipient]
		if tok == "" {
			tok = recipient // a literal token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// normalize replaces catalog ids with placeholders.
func (e *env) normalize(s string) string {
	for id, ph := range e.ids {
		s = strings.ReplaceAll(s, id, ph)
	}
	return s
}

// golden compares the normalized body with testdata/golden/name.
func (e *env) golden(name string, r response) {
	e.t.Helper()
	golden.Check(e.t, filepath.Join("testdata", "golden", name), e.normalize(r.body))
}

// ndjson splits an NDJSON body into objects.
func ndjson(t testing.TB, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad NDJSON: %v\n%s", err, body)
		}
		out = append(out, m)
	}
	return out
}

// fileURLs returns the URLs of the file lines (any format, any kind), in order.
func fileURLs(t testing.TB, body string) []string {
	var out []string
	for _, l := range ndjson(t, body) {
		for k, v := range l {
			m, _ := v.(map[string]any)
			switch k {
			case "file", "add", "remove", "cdf":
				if u, ok := m["url"].(string); ok {
					out = append(out, k+":"+u[strings.Index(u, "/part-")+1:strings.Index(u, "?")])
					continue
				}
				if single, ok := m["deltaSingleAction"].(map[string]any); ok {
					for sk, sv := range single {
						u := sv.(map[string]any)["path"].(string)
						out = append(out, "delta-"+sk+":"+u[strings.Index(u, "/part-")+1:strings.Index(u, "?")])
					}
				}
			}
		}
	}
	return out
}

func errorCode(t testing.TB, r response) string {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Message == "" {
		t.Fatalf("status %d: not an error body: %q", r.status, r.body)
	}
	return b.ErrorCode
}
