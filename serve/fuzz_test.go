package serve

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/internal/syncbuf"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
)

// The hostile-input suite: FuzzStatementsHTTP and FuzzSharingHTTP drive
// arbitrary requests through the server's real handler (Server.Handler,
// sharing enabled), as an admin, as a user without grants, as a recipient
// and without credentials. Each input must get a status below 500, without
// a panic, and no redirect under /api or /delta-sharing. A plain `go test` runs the seeds (f.Add below and
// testdata/fuzz/<target>/); longer runs: docs/hardening.md.
//
// The time bound: while fuzzing (-fuzz set), a request must answer within
// a budget proportional to its size: 100 times a trivial request's time
// measured in the same process, plus 50 µs per byte of input (the
// statements of BenchmarkChain cost about 1-15 µs per byte), and at least
// 2 s, since the fuzzer's workers share the machine. The seeds of a plain
// `go test` are not timed: a wall-clock assertion in CI would be flaky,
// and the linearity is measured by BenchmarkChain instead.

// fuzzServer is one server per test process for the fuzz targets.
type fuzzServer struct {
	h                        http.Handler
	admin, nobody, recipient string
	calibration              time.Duration   // a trivial request
	log                      *syncbuf.Buffer // the server's log, for failures
}

var (
	fuzzOnce sync.Once
	fuzzSrv  *fuzzServer
	fuzzErr  error
)

func fuzzFixture(f *testing.F) *fuzzServer {
	f.Helper()
	fuzzOnce.Do(func() { fuzzSrv, fuzzErr = newFuzzServer() })
	if fuzzErr != nil {
		f.Fatal(fuzzErr)
	}
	return fuzzSrv
}

func newFuzzServer() (*fuzzServer, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sluice-fuzz-") // kept for the process: the fixture is shared
	if err != nil {
		return nil, err
	}
	cat, err := catalog.OpenSQLite(filepath.Join(dir, "catalog.db"))
	if err != nil {
		return nil, err
	}
	fs := &fuzzServer{log: &syncbuf.Buffer{Max: 1 << 20}}
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		var err error
		if _, fs.admin, err = tx.CreateUser(catalog.User{Name: "root"}); err != nil {
			return err
		}
		if _, err := tx.GrantRole(catalog.AdminRole, "root"); err != nil {
			return err
		}
		_, fs.nobody, err = tx.CreateUser(catalog.User{Name: "nobody"})
		return err
	})
	if err != nil {
		return nil, err
	}
	pol, err := policy.New(ctx, policy.WithSink(&policy.MemorySink{}))
	if err != nil {
		return nil, err
	}
	ex := exec.New(cat, pol, exec.WithWarehouse("file://"+filepath.Join(dir, "warehouse")))
	res, err := ex.Execute(ctx, exec.Principal{Kind: policy.PrincipalUser, Name: "root"}, `CREATE DATABASE d; CREATE SCHEMA d.s;
CREATE STORE k WITH ('type' = 'kafka', 'bootstrap.servers' = '127.0.0.1:1');
CREATE STREAM d.s.x (id BIGINT NOT NULL, amount BIGINT, country STRING) WITH ('store' = 'k', 'topic' = 'x');
CREATE TABLE d.s.t AS SELECT id, amount FROM x WHERE country = 'DE';
CREATE SHARE p; ALTER SHARE p ADD TABLE d.s.t AS eu.t WITH HISTORY;
CREATE RECIPIENT acme; GRANT SELECT ON SHARE p TO RECIPIENT acme`)
	if err != nil {
		return nil, err
	}
	fs.recipient = profileToken(res)
	s := newAPI(cat, ex, slog.New(slog.NewTextHandler(fs.log, &slog.HandlerOptions{Level: slog.LevelError})))
	if err := s.mountSharing(cat, pol, configIn(dir), "http://sluice.test", nil); err != nil {
		return nil, err
	}
	fs.h = s.handler()
	fs.calibration = time.Hour
	for range 5 {
		start := time.Now()
		fs.serve(httptest.NewRequest("GET", "/healthz", nil))
		fs.calibration = min(fs.calibration, time.Since(start))
	}
	return fs, nil
}

// profileToken is the bearer token of the profile among results.
func profileToken(res []exec.Result) string {
	for _, r := range res {
		if len(r.Profile) > 0 {
			var p struct{ BearerToken string }
			if err := json.Unmarshal(r.Profile, &p); err == nil {
				return p.BearerToken
			}
		}
	}
	return ""
}

func (fs *fuzzServer) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	fs.h.ServeHTTP(w, r)
	return w
}

// token is the credential of who: 0 none, 1 a user without grants, 2 the
// admin, 3 the recipient, 4 a malformed one.
func (fs *fuzzServer) token(who byte) string {
	return []string{"", fs.nobody, fs.admin, fs.recipient, "Bearer-but-wrong"}[int(who)%5]
}

// check runs r and applies the suite's assertions; size is the input's.
func (fs *fuzzServer) check(t *testing.T, r *http.Request, size int) {
	t.Helper()
	start := time.Now()
	w := fs.serve(r)
	took := time.Since(start)
	if w.Code >= 500 {
		t.Fatalf("%s %s: status %d: %.500s\nserver log:\n%s", r.Method, r.URL, w.Code, w.Body.String(), fs.log.Tail(2000))
	}
	if w.Code >= 300 && w.Code < 400 && (under(r.URL.Path, APIPath) || under(r.URL.Path, SharingPath)) {
		t.Fatalf("%s %s: redirect %d to %q", r.Method, r.URL, w.Code, w.Header().Get("Location"))
	}
	if fuzzing() {
		budget := max(2*time.Second, 100*fs.calibration+time.Duration(size)*50*time.Microsecond)
		if took > budget {
			t.Fatalf("%s %s: %s for %d bytes of input, over the budget of %s", r.Method, r.URL, took, size, budget)
		}
	}
}

// fuzzing reports whether the test runs under -fuzz (not the seeds only).
func fuzzing() bool {
	fl := flag.Lookup("test.fuzz")
	return fl != nil && fl.Value.String() != ""
}

func FuzzStatementsHTTP(f *testing.F) {
	fs := fuzzFixture(f)
	for _, s := range []string{
		"SHOW DATABASES", "CREATE TABLE d.s.e AS SELECT id FROM d.s.x WHERE amount > 0 AND amount > 1 OR amount > 2",
		"DESCRIBE TABLE d.s.t", "SELECT", "CREATE TABLE ;", "DROP TABLE d.s.nope", "CREATE STREAM d.s.y (a ARRAY<MAP<STRING, INT>>) WITH ('store' = 'k', 'topic' = 'y')",
		"CREATE TABLE d.s.f AS SELECT CAST(id AS STRING) || 'x' AS s, CASE WHEN amount > 1 THEN 1 END AS c FROM x WHERE NOT NOT id IN (1, 2)",
		"DESCRIBE QUERY 'x'", "PAUSE QUERY 3f2a9c1e-7d4b-4c6a-9a51-0b1c2d3e4f50", "/* unterminated", "'", "\x00", "SHOW GRANTS TO ROLE admin",
		"CREATE TABLE d.s.l LOCATION 'file:///nonexistent'", `{"sql": "SHOW SCHEMAS IN d"}`,
	} {
		for who := range byte(3) {
			f.Add(s, who, strings.HasPrefix(s, "{"))
		}
	}
	f.Fuzz(func(t *testing.T, sql string, who byte, asJSON bool) {
		r := httptest.NewRequest("POST", "/api/v1/statements", strings.NewReader(sql))
		r.Header.Set("Content-Type", "text/plain")
		if asJSON {
			r.Header.Set("Content-Type", "application/json")
		}
		if tok := fs.token(who); tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		fs.check(t, r, len(sql))
	})
}

func FuzzSharingHTTP(f *testing.F) {
	fs := fuzzFixture(f)
	for _, s := range []struct{ method, path, query, body string }{
		{"GET", "/delta-sharing/shares", "maxResults=1", ""},
		{"GET", "/delta-sharing/shares", "maxResults=-1&pageToken=abc", ""},
		{"GET", "/delta-sharing/shares/p/schemas/eu/tables", "", ""},
		{"GET", "/delta-sharing/shares/p/all-tables", "maxResults=99999999999999999999", ""},
		{"HEAD", "/delta-sharing/shares/p/schemas/eu/tables/t", "", ""},
		{"GET", "/delta-sharing/shares/p/schemas/eu/tables/t/version", "startingTimestamp=2024-01-01T00:00:00Z", ""},
		{"GET", "/delta-sharing/shares/p/schemas/eu/tables/t/metadata", "", ""},
		{"POST", "/delta-sharing/shares/p/schemas/eu/tables/t/query", "", `{"predicateHints": ["id > 1"], "limitHint": 1, "version": 0}`},
		{"POST", "/delta-sharing/shares/p/schemas/eu/tables/t/query", "", `{"jsonPredicateHints": "{\"op\":\"equal\",\"children\":[]}"}`},
		{"GET", "/delta-sharing/shares/p/schemas/eu/tables/t/changes", "startingVersion=0&endingVersion=99", ""},
		{"GET", "/delta-sharing/shares/../../x", "", ""},
		{"GET", "/delta-sharing/shares/%2e%2e/x", "", ""},
		{"GET", "/delta-sharing//shares/p", "", ""},
		{"GET", "/api/v1/../../delta-sharing/shares", "", ""},
		{"GET", "/files/x", "sig=0", ""},
	} {
		for who := range byte(5) {
			f.Add(s.method, s.path, s.query, s.body, who)
		}
	}
	f.Fuzz(func(t *testing.T, method, path, query, body string, who byte) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") {
			return // not a request line a client can send
		}
		r, err := http.NewRequest(method, "http://sluice.test"+path, strings.NewReader(body))
		if err != nil || r.URL.Host != "sluice.test" {
			return // not a request a client can send
		}
		r.URL.RawQuery = query
		if tok := fs.token(who); tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		r.Header.Set("Content-Type", "application/json")
		fs.check(t, r, len(path)+len(query)+len(body))
	})
}

// validMethod reports whether m is an HTTP token (what a server can
// receive as a method).
func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
