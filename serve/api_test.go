package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
)

type fixture struct {
	srv   *httptest.Server
	cat   *catalog.Catalog
	audit *policy.MemorySink
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	audit := &policy.MemorySink{}
	pol, err := policy.New(ctx, policy.WithSink(audit))
	if err != nil {
		t.Fatal(err)
	}
	s := newAPI(cat, exec.New(cat, pol), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, cat: cat, audit: audit}
}

// post sends SQL with a token and decodes the answer.
func (f *fixture) post(t *testing.T, token, sql string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/statements", strings.NewReader(sql))
	req.Header.Set("Content-Type", "text/plain")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

func TestStatementsAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin, err := Bootstrap(ctx, f.cat, "")
	if err != nil || !strings.HasPrefix(admin, catalog.UserTokenPrefix) {
		t.Fatalf("bootstrap: %q %v", admin, err)
	}
	if again, err := Bootstrap(ctx, f.cat, ""); err != nil || again != "" {
		t.Fatalf("second bootstrap issued %q, %v; want nothing", again, err)
	}

	code, body := f.post(t, admin, "CREATE DATABASE sales; CREATE SCHEMA sales.eu; CREATE USER alice")
	if code != 200 {
		t.Fatalf("admin script: %d %v", code, body)
	}
	results := body["results"].([]any)
	alice := ""
	for _, r := range results {
		rows, _ := r.(map[string]any)["rows"].([]any)
		for _, row := range rows {
			for _, cell := range row.([]any) {
				if s, _ := cell.(string); strings.HasPrefix(s, catalog.UserTokenPrefix) {
					alice = s
				}
			}
		}
	}
	if len(results) != 3 || alice == "" {
		t.Fatalf("results %v: want 3 and alice's token", results)
	}

	tests := []struct {
		name, token, sql string
		status           int
		code, message    string
	}{
		{"no token", "", "SHOW DATABASES", 401, "UNAUTHENTICATED", "missing bearer token"},
		{"bad token", catalog.UserTokenPrefix + strings.Repeat("x", 43), "SHOW DATABASES", 401, "UNAUTHENTICATED", "invalid"},
		{"denied", alice, "CREATE SCHEMA sales.us", 403, "PERMISSION_DENIED", "missing"},
		{"syntax", admin, "CREATE DATABASE ok;\nCREATE TABLE ;", 400, "SYNTAX_ERROR", "line 2:14"},
		{"exists", admin, "CREATE DATABASE sales", 409, "ALREADY_EXISTS", "sales"},
		{"missing", admin, "ALTER RECIPIENT r ROTATE TOKEN", 404, "NOT_FOUND", "recipient r does not exist"},
	}
	for _, tt := range tests {
		code, body := f.post(t, tt.token, tt.sql)
		e, _ := body["error"].(map[string]any)
		if code != tt.status || e["code"] != tt.code || !strings.Contains(e["message"].(string), tt.message) {
			t.Errorf("%s: %d %v; want %d %s containing %q", tt.name, code, body, tt.status, tt.code, tt.message)
		}
		if tt.code == "SYNTAX_ERROR" && (e["line"] != float64(2) || !strings.Contains(e["caret"].(string), "^")) {
			t.Errorf("syntax error without position or caret: %v", e)
		}
	}
	// The denial was decided by the policy and audited.
	found := false
	for _, ev := range f.audit.Events() {
		if ev.Principal == "user:alice" && !ev.Allow {
			found = true
		}
	}
	if !found {
		t.Fatal("alice's denial is not in the audit log")
	}
	// An operator-chosen bootstrap token replaces the admin's.
	chosen := catalog.NewUserToken()
	if _, err := Bootstrap(ctx, f.cat, chosen); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.post(t, chosen, "SHOW DATABASES"); code != 200 {
		t.Fatalf("chosen bootstrap token: %d", code)
	}
	if code, _ := f.post(t, admin, "SHOW DATABASES"); code != 401 {
		t.Fatalf("old admin token still works: %d", code)
	}
	if _, err := Bootstrap(ctx, f.cat, "not-a-token"); err == nil {
		t.Fatal("a malformed bootstrap token was accepted")
	}
}

// TestClassify: every error class the executor returns maps to its status
// and code, including UNSUPPORTED, which no statement produces today (every
// parsed statement runs) but one added to the parser before the executor
// will.
func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{&exec.UnsupportedError{Statement: "FUTURE STATEMENT"}, 501, "UNSUPPORTED"},
		{&exec.DeniedError{Statement: "DROP DATABASE x", Reason: "missing DROP on database x"}, 403, "PERMISSION_DENIED"},
		{fmt.Errorf("run: %w", exec.ErrTooManyStatements), 400, "TOO_MANY_STATEMENTS"},
		{&catalog.Error{Class: catalog.ErrInUse, Msg: "store k is used by stream s"}, 400, "INVALID"},
		{context.Canceled, 499, "CANCELED"},
		{errors.New("disk on fire"), 500, "INTERNAL"},
	} {
		status, e := classify(tt.err, "")
		if status != tt.status || e.Code != tt.code {
			t.Errorf("%v: %d %s; want %d %s", tt.err, status, e.Code, tt.status, tt.code)
		}
		if tt.status == 500 && strings.Contains(e.Message, "disk on fire") {
			t.Errorf("an internal error's text reached the client: %q", e.Message)
		}
	}
}

// TestStatementsAPIStopsAtFailure: a script that fails at its second
// statement answers which statement failed (number, SQL, position with a
// caret), that the first one ran (its result) and that the two after it
// did not run; a script that fails before running says none of that.
func TestStatementsAPIStopsAtFailure(t *testing.T) {
	f := newFixture(t)
	admin, err := Bootstrap(context.Background(), f.cat, "")
	if err != nil {
		t.Fatal(err)
	}
	code, body := f.post(t, admin, "CREATE DATABASE sales;\n  GRANT USAGE ON DATABASE sales TO ROLE nosuch;\nCREATE SCHEMA sales.eu; CREATE SCHEMA sales.us")
	e, _ := body["error"].(map[string]any)
	if code != 404 || e["code"] != "NOT_FOUND" {
		t.Fatalf("%d %v, want 404 NOT_FOUND", code, body)
	}
	for k, want := range map[string]any{"statement_index": 2.0, "statement_count": 4.0, "not_run": 2.0, "line": 2.0, "column": 3.0,
		"statement": "GRANT USAGE ON DATABASE sales TO ROLE nosuch",
		"caret":     "    GRANT USAGE ON DATABASE sales TO ROLE nosuch;\n    ^\n"} {
		if e[k] != want {
			t.Errorf("error.%s = %#v, want %#v", k, e[k], want)
		}
	}
	if _, ok := e["committed"]; ok {
		t.Errorf("error.committed present for a rolled-back statement: %v", e)
	}
	results, _ := e["results"].([]any)
	if len(results) != 1 || results[0].(map[string]any)["statement"] != "CREATE DATABASE sales" {
		t.Errorf("error.results = %v, want CREATE DATABASE sales's", results)
	}
	_, body = f.post(t, admin, "CREATE DATABASE other; CREATE TABLE ;")
	e, _ = body["error"].(map[string]any)
	for _, k := range []string{"statement_index", "statement_count", "not_run", "results"} {
		if _, ok := e[k]; ok {
			t.Errorf("syntax error has %s: %v", k, e)
		}
	}
}
