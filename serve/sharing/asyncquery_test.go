package sharing

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
)

// asyncEnv is the fixture with a handler of the given options and a clock
// the test moves.
type asyncEnv struct {
	*env
	clock atomic.Int64 // unix ns
}

func newAsyncEnv(t *testing.T, opts ...Option) *asyncEnv {
	a := &asyncEnv{env: newEnv(t)}
	a.clock.Store(now.UnixNano())
	a.restart(opts...)
	return a
}

// restart replaces the handler with a new one (a server restart: same
// catalog, same token key).
func (a *asyncEnv) restart(opts ...Option) {
	a.t.Helper()
	h, err := NewHandler(a.cat, a.h.pol, append([]Option{WithSigner(fakeSigner{}),
		WithClock(func() time.Time { return time.Unix(0, a.clock.Load()) }),
		WithAuditSink(a.sink), WithTokenKey([]byte("0123456789abcdef0123456789abcdef"))}, opts...)...)
	if err != nil {
		a.t.Fatal(err)
	}
	a.h = h
	a.srv = httptest.NewServer(h)
	a.t.Cleanup(a.srv.Close)
}

const asyncCaps = "asyncquery=true"

// submit posts a query with asyncquery=true and returns its query id
// ("" for a synchronous answer).
func (a *asyncEnv) submit(recipient, path, body string) (string, response) {
	a.t.Helper()
	r := a.do("POST", recipient, path+"/query", body, capsHeader, asyncCaps)
	if r.status != 200 {
		return "", r
	}
	lines := ndjson(a.t, r.body)
	st, ok := lines[0]["queryStatus"].(map[string]any)
	if !ok {
		return "", r
	}
	if len(lines) != 1 || r.header.Get(capsHeader) != asyncCaps || r.header.Get("Content-Type") != "application/x-ndjson; charset=utf-8" {
		a.t.Fatalf("async answer: %v %s", r.header, r.body)
	}
	if st["status"] != "pending" && st["status"] != "failed" { // failed: the load may fail before the answer
		a.t.Fatalf("submitted query status %v, want pending", st)
	}
	return st["queryId"].(string), r
}

// result polls the query until it is no longer pending.
func (a *asyncEnv) result(recipient, path, id, body string, header ...string) response {
	a.t.Helper()
	for i := 0; ; i++ {
		r := a.do("POST", recipient, path+"/queries/"+id, body, header...)
		if r.status != 200 || !strings.Contains(r.body, `"queryStatus"`) || strings.Contains(r.body, `"failed"`) {
			return r
		}
		if i == 500 {
			a.t.Fatalf("query %s still pending", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAsyncQuery: a query asked with asyncquery=true answers a query id;
// the query's result, fetched by id, is the synchronous answer of the
// version the table had at submission, paged with maxFiles/pageToken of
// that query only; the same idempotency key returns the same query.
func TestAsyncQuery(t *testing.T) {
	a := newAsyncEnv(t, WithAsyncThreshold(0))
	body := `{"jsonPredicateHints":"{\"op\":\"equal\",\"children\":[{\"op\":\"column\",\"name\":\"date\",\"valueType\":\"date\"},{\"op\":\"literal\",\"value\":\"2026-01-02\",\"valueType\":\"date\"}]}"}`
	sync := a.do("POST", "acme", orders+"/query", body)
	id, r := a.submit("acme", orders, body)
	if id == "" || len(id) < 32 {
		t.Fatalf("no query id: %d %s", r.status, r.body)
	}
	// The table moves on after the submission: the result is of version 2.
	extra := addLine("date=2026-01-02/part-z.parquet", str("2026-01-02"), 10, stats(1, 20, 20)) + "\n"
	if err := os.WriteFile(filepath.Join(a.dirs["orders"], "_delta_log", fmt.Sprintf("%020d.json", 3)), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	got := a.result("acme", orders, id, "")
	if got.status != 200 || got.body != sync.body || got.header.Get("Delta-Table-Version") != "2" || strings.Contains(got.header.Get(capsHeader), "async") {
		t.Fatalf("result %d %v\n%s\nwant the synchronous answer\n%s", got.status, got.header, got.body, sync.body)
	}
	if a.do("POST", "acme", orders+"/query", body).header.Get("Delta-Table-Version") != "3" {
		t.Fatal("the table did not move on")
	}

	// Pages: every file once, tokens of this query only.
	all := a.do("POST", "acme", orders+"/query", `{"version":2}`)
	id2, _ := a.submit("acme", orders, `{"version":2}`)
	var files []string
	tok := ""
	for i := 0; ; i++ {
		b := `{"maxFiles":1}`
		if tok != "" {
			b = `{"maxFiles":1,"pageToken":"` + tok + `"}`
		}
		r := a.result("acme", orders, id2, b)
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", i, r.status, r.body)
		}
		files = append(files, fileURLs(t, r.body)...)
		tok, _ = endLine(t, r.body)["nextPageToken"].(string)
		if tok == "" {
			break
		}
		if i == 0 {
			// The token is not one of the table's query, nor of another
			// asynchronous query.
			if r := a.do("POST", "acme", orders+"/query", `{"version":2,"maxFiles":1,"pageToken":"`+tok+`"}`); r.status != 400 {
				t.Errorf("async page token on /query: %d %s", r.status, r.body)
			}
			if r := a.do("POST", "acme", orders+"/queries/"+id, `{"pageToken":"`+tok+`"}`); r.status != 400 || !strings.Contains(r.body, "another query") {
				t.Errorf("page token of another query: %d %s", r.status, r.body)
			}
		}
	}
	if want := fileURLs(t, all.body); strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("pages %v, want %v", files, want)
	}

	// Idempotency: the same key (either spelling) is the same query, with
	// other parameters a 400, another key another query.
	k1, _ := a.submit("acme", orders, `{"idempotencyKey":"k1"}`)
	k1again, _ := a.submit("acme", orders, `{"idempotency_key":"k1"}`)
	k2, _ := a.submit("acme", orders, `{"idempotencyKey":"k2"}`)
	if k1 == "" || k1 != k1again || k2 == k1 {
		t.Errorf("idempotency: k1 %q, again %q, k2 %q", k1, k1again, k2)
	}
	if r := a.do("POST", "acme", orders+"/query", `{"idempotencyKey":"k1","limitHint":1}`, capsHeader, asyncCaps); r.status != 400 || !strings.Contains(r.body, "use a new key") {
		t.Errorf("key reused with other parameters: %d %s", r.status, r.body)
	}
	// The same key by another recipient on its own share is its own query.
	ko, _ := a.submit("other", "/shares/q4/schemas/eu/tables/orders", `{"idempotencyKey":"k1"}`)
	if ko == "" || ko == k1 {
		t.Errorf("other's k1 %q, acme's %q", ko, k1)
	}
}

// TestAsyncQueryErrors: every way a fetch is refused, and when the
// server answers synchronously instead.
func TestAsyncQueryErrors(t *testing.T) {
	a := newAsyncEnv(t, WithAsyncThreshold(0))
	id, _ := a.submit("acme", orders, `{}`)
	a.result("acme", orders, id, "")
	q4 := "/shares/q4/schemas/eu/tables/orders"
	for _, tc := range []struct {
		name, recipient, path, method, body string
		status                              int
		code                                string
	}{
		{"another recipient, its own share", "other", q4 + "/queries/" + id, "POST", "", 404, codeNotFound},
		{"another recipient, the share", "other", orders + "/queries/" + id, "POST", "", 404, codeNotFound},
		{"another table", "acme", events + "/queries/" + id, "POST", "", 404, codeNotFound},
		{"unknown id", "acme", orders + "/queries/0123456789abcdef0123456789abcdef", "POST", "", 404, codeNotFound},
		{"no token", "", orders + "/queries/" + id, "POST", "", 401, codeUnauth},
		{"GET", "acme", orders + "/queries/" + id, "GET", "", 405, codeNotAllowed},
		{"bad body", "acme", orders + "/queries/" + id, "POST", `{"maxFiles":"x"}`, 400, codeMalformed},
		{"two values", "acme", orders + "/queries/" + id, "POST", `{} {}`, 400, codeMalformed},
		{"maxFiles 0", "acme", orders + "/queries/" + id, "POST", `{"maxFiles":0}`, 400, codeInvalidParam},
		{"bad page token", "acme", orders + "/queries/" + id, "POST", `{"pageToken":"x.y"}`, 400, codeInvalidParam},
		{"bad fileidhash", "acme", orders + "/queries/" + id, "POST", ``, 400, codeInvalidParam},
	} {
		var hdr []string
		if tc.name == "bad fileidhash" {
			hdr = []string{fileIDHashHeader, "md5"}
		}
		r := a.do(tc.method, tc.recipient, tc.path, tc.body, hdr...)
		if r.status != tc.status || errorCode(t, r) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	// The 404 of another recipient's query says what an unknown id says.
	unknown := a.do("POST", "acme", orders+"/queries/ffffffffffffffffffffffffffffffff", "")
	if r := a.do("POST", "other", q4+"/queries/"+id, ""); strings.ReplaceAll(r.body, id, "X") != strings.ReplaceAll(strings.ReplaceAll(unknown.body, "ffffffffffffffffffffffffffffffff", "X"), "q3.eu.orders", "q4.eu.orders") {
		t.Errorf("other's 404 %s differs from an unknown id's %s", r.body, unknown.body)
	}

	// A failed load is a failed status with the error.
	bad, _ := a.submit("acme", orders, `{"version":9}`)
	r := a.result("acme", orders, bad, "")
	if r.status != 200 || !strings.Contains(r.body, `"status":"failed"`) || !strings.Contains(r.body, `"errorMessage"`) {
		t.Errorf("failed query: %d %s", r.status, r.body)
	}

	// Authorization is checked on every fetch: revoked, the id is 404.
	id2, _ := a.submit("acme", orders, `{}`)
	if err := a.cat.Update(context.Background(), func(tx *catalog.Tx) error { return tx.RevokeShare("q3", "acme") }); err != nil {
		t.Fatal(err)
	}
	if r := a.do("POST", "acme", orders+"/queries/"+id2, ""); r.status != 404 {
		t.Errorf("fetch after the grant was revoked: %d %s", r.status, r.body)
	}
	if err := a.cat.Update(context.Background(), func(tx *catalog.Tx) error { _, err := tx.GrantShare("q3", "acme"); return err }); err != nil {
		t.Fatal(err)
	}
	if r := a.result("acme", orders, id2, ""); r.status != 200 {
		t.Errorf("fetch after the grant came back: %d %s", r.status, r.body)
	}

	// Expiry: the token lifetime after submission.
	a.clock.Add(int64(DefaultTokenLifetime))
	if r := a.do("POST", "acme", orders+"/queries/"+id2, ""); r.status != 404 || !strings.Contains(r.body, "has expired") {
		t.Errorf("fetch after expiry: %d %s", r.status, r.body)
	}

	// A restart forgets every query.
	id3, _ := a.submit("acme", orders, `{}`)
	a.restart(WithAsyncThreshold(0))
	if r := a.do("POST", "acme", orders+"/queries/"+id3, ""); r.status != 404 {
		t.Errorf("fetch after a restart: %d %s", r.status, r.body)
	}

	// At most maxAsyncPerRecipient live queries per recipient.
	for i := 0; i < maxAsyncPerRecipient; i++ {
		if id, r := a.submit("acme", orders, `{}`); id == "" {
			t.Fatalf("query %d: %d %s", i, r.status, r.body)
		}
	}
	if r := a.do("POST", "acme", orders+"/query", `{}`, capsHeader, asyncCaps); r.status != 429 || errorCode(t, r) != codeTooMany {
		t.Errorf("query over the cap: %d %s", r.status, r.body)
	}
	if id, r := a.submit("other", q4, `{}`); id == "" {
		t.Errorf("another recipient is not capped by acme's queries: %d %s", r.status, r.body)
	}

	// Synchronous answers: without asyncquery, with startingVersion, and
	// async turned off.
	b := newAsyncEnv(t, WithAsyncThreshold(-1))
	for _, tc := range []struct {
		e    *asyncEnv
		body string
		caps string
	}{
		{a, `{}`, ""},
		{a, `{"startingVersion":0}`, asyncCaps},
		{b, `{}`, asyncCaps},
	} {
		r := tc.e.do("POST", "acme", orders+"/query", tc.body, capsHeader, tc.caps)
		if r.status != 200 || strings.Contains(r.body, "queryStatus") || strings.Contains(r.header.Get(capsHeader), "async") {
			t.Errorf("%s %s: %d %v %s, want a synchronous answer", tc.body, tc.caps, r.status, r.header, r.body)
		}
	}
}

// TestAsyncQueryThreshold: with a snapshot of the table cached, a query of
// at most the threshold's files is answered synchronously even when the
// client allows async; above it, asynchronously.
func TestAsyncQueryThreshold(t *testing.T) {
	for _, tc := range []struct {
		threshold int
		async     bool
	}{{4, false}, {3, true}} { // orders has 3 files at version 2
		a := newAsyncEnv(t, WithAsyncThreshold(tc.threshold))
		// Not cached yet: the size is unknown, the load is the slow part.
		if id, _ := a.submit("acme", orders, `{}`); id == "" {
			t.Errorf("threshold %d, nothing cached: answered synchronously", tc.threshold)
		}
		a.do("POST", "acme", orders+"/query", `{}`) // caches version 2
		id, r := a.submit("acme", orders, `{}`)
		if (id != "") != tc.async {
			t.Errorf("threshold %d, 3 files cached: async %v, want %v (%s)", tc.threshold, id != "", tc.async, r.body)
		}
	}
}
