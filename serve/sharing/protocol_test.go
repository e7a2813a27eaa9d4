package sharing

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
)

const (
	orders = "/shares/q3/schemas/eu/tables/orders"
	events = "/shares/q3/schemas/web/tables/events"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, who, header, wantMsg string
	}{
		{"no header", "", "", "missing bearer token"},
		{"unknown token", "slr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "invalid recipient token"},
		{"not a token", "hello", "", "invalid recipient token"},
		{"basic auth", "", "Basic YWNtZTpwdw==", "missing bearer token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r response
			if c.header != "" {
				r = e.do("GET", "", "/shares", "", "Authorization", c.header)
			} else {
				r = e.do("GET", c.who, "/shares", "")
			}
			if r.status != http.StatusUnauthorized || errorCode(t, r) != codeUnauth || !strings.Contains(r.body, c.wantMsg) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate header")
			}
		})
	}
	// Every endpoint authenticates before anything else: an unknown path
	// answers 401 too, so it reveals nothing.
	if r := e.do("GET", "", "/nowhere", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown path without token: %d", r.status)
	}
	// The scheme is case-insensitive.
	if r := e.do("GET", "", "/shares", "", "Authorization", "bearer "+e.tokens["acme"]); r.status != 200 {
		t.Fatalf("lower-case bearer: %d %s", r.status, r.body)
	}
	// An expired token is refused, with a message that says so.
	if r := e.do("GET", "late", "/shares", ""); r.status != 200 {
		t.Fatalf("fresh token: %d %s", r.status, r.body)
	}
	e.cat.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	r := e.do("GET", "late", "/shares", "")
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "expired") {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	// Failed authentications are audited as anonymous, without the token.
	var anonymous int
	for _, ev := range e.sink.Events() {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), "slr_") {
			t.Fatalf("a token in the audit trail: %s", b)
		}
		if ev.Principal == AnonymousPrincipal {
			anonymous++
			if ev.Allow || ev.Status != http.StatusUnauthorized || !strings.Contains(ev.Reason, codeUnauth) {
				t.Fatalf("%+v", ev)
			}
		}
	}
	if anonymous < len(cases) {
		t.Fatalf("%d anonymous events for %d refused requests", anonymous, len(cases))
	}
}

func TestListsGolden(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ name, path string }{
		{"list_shares.json", "/shares"},
		{"get_share.json", "/shares/q3"},
		{"list_schemas.json", "/shares/q3/schemas"},
		{"list_tables.json", "/shares/q3/schemas/eu/tables"},
		{"list_all_tables.json", "/shares/q3/all-tables"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", "acme", c.path, "")
			if r.status != 200 || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("%d %v %s", r.status, r.header, r.body)
			}
			e.golden(c.name, r)
		})
	}
	// Names are case-insensitive; answers use the catalog's spelling.
	r := e.do("GET", "acme", "/shares/Q3/schemas/EU/tables", "")
	if r.status != 200 || !strings.Contains(r.body, `"share":"q3"`) || !strings.Contains(r.body, `"schema":"eu"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// TestNotGrantedIsNotFound: what a recipient is not granted answers exactly
// as what does not exist, on every endpoint, and lists leave it out.
func TestNotGrantedIsNotFound(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "acme", "/shares", ""); strings.Contains(r.body, "q4") {
		t.Fatalf("acme lists q4: %s", r.body)
	}
	if r := e.do("GET", "other", "/shares", ""); strings.Contains(r.body, "q3") || !strings.Contains(r.body, "q4") {
		t.Fatalf("other's shares: %s", r.body)
	}
	pairs := []struct{ hidden, missing, method, body string }{
		{"/shares/q4", "/shares/zz", "GET", ""},
		{"/shares/q4/schemas", "/shares/zz/schemas", "GET", ""},
		{"/shares/q4/all-tables", "/shares/zz/all-tables", "GET", ""},
		{"/shares/q4/schemas/eu/tables", "/shares/zz/schemas/eu/tables", "GET", ""},
		{"/shares/q4/schemas/eu/tables/orders/version", "/shares/zz/schemas/eu/tables/orders/version", "GET", ""},
		{"/shares/q4/schemas/eu/tables/orders/metadata", "/shares/zz/schemas/eu/tables/orders/metadata", "GET", ""},
		{"/shares/q4/schemas/eu/tables/orders/query", "/shares/zz/schemas/eu/tables/orders/query", "POST", "{}"},
		{"/shares/q4/schemas/eu/tables/orders/changes?startingVersion=0", "/shares/zz/schemas/eu/tables/orders/changes?startingVersion=0", "GET", ""},
		// A table of the catalog that is not in the share, by its own schema or any other.
		{"/shares/q3/schemas/eu/tables/secret/query", "/shares/q3/schemas/eu/tables/nope/query", "POST", "{}"},
		{"/shares/q3/schemas/web/tables/orders/metadata", "/shares/q3/schemas/web/tables/nope/metadata", "GET", ""},
		{"/shares/q3/schemas/sales/tables", "/shares/q3/schemas/nope/tables", "GET", ""},
	}
	for _, p := range pairs {
		t.Run(p.hidden, func(t *testing.T) {
			h := e.do(p.method, "acme", p.hidden, p.body)
			m := e.do(p.method, "acme", p.missing, p.body)
			if h.status != http.StatusNotFound || m.status != http.StatusNotFound {
				t.Fatalf("hidden %d %s; missing %d %s", h.status, h.body, m.status, m.body)
			}
			if errorCode(t, h) != codeNotFound || errorCode(t, m) != codeNotFound {
				t.Fatalf("codes: %s / %s", h.body, m.body)
			}
			// Same message once the names asked for are swapped.
			norm := func(s string) string {
				for _, n := range []string{"q4", "zz", "secret", "nope", "sales", "orders"} {
					s = strings.ReplaceAll(s, n, "X")
				}
				return s
			}
			if norm(h.body) != norm(m.body) {
				t.Fatalf("hidden and missing differ:\n%s\n%s", h.body, m.body)
			}
		})
	}
}

// TestPolicyDecidesEveryNode: an operator deny rule on a catalog node
// hides the table from lists and answers 404 on it.
func TestPolicyDecidesEveryNode(t *testing.T) {
	e := newEnv(t, policy.WithModules(policy.Module{Name: "deny.rego", Source: `package sluice.authz

deny contains "events are internal" if {
	is_recipient
	some n in input.path
	n.kind == "table"
	n.name == "events"
}`}))
	if r := e.do("GET", "acme", "/shares/q3/all-tables", ""); r.status != 200 || strings.Contains(r.body, "events") || !strings.Contains(r.body, "orders") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "acme", "/shares/q3/schemas", ""); strings.Contains(r.body, "web") {
		t.Fatalf("schema of hidden tables listed: %s", r.body)
	}
	if r := e.do("POST", "acme", events+"/query", "{}"); r.status != http.StatusNotFound {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Every decision was made on the full path and audited.
	var tableDecisions int
	for _, ev := range e.sink.Events() {
		if ev.Request == "" && ev.Principal == "recipient:acme" && strings.Count(ev.Path, ".") == 3 {
			tableDecisions++
		}
	}
	if tableDecisions == 0 {
		t.Fatal("no decision on a [share, database, schema, table] path")
	}
}

func TestInvalidPaths(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/shares/..%2F/schemas", 400},
		{"/shares/%2E%2E/schemas", 400},
		{"/shares/a%2Fb", 400},
		{"/shares/a%00b", 400},
		{"/shares/a%0Ab/schemas", 400},
		{"/shares/q3/schemas/eu/tables/orders%7F/metadata", 400},
		{"/shares/%FF", 400},
		{"/shares/q3/schemas/eu/tables/orders/other", 404},
		{"/shares//schemas", 400},
		{"/", 404},
		{"/tables", 404},
	} {
		t.Run(c.path, func(t *testing.T) {
			r := e.do("GET", "acme", c.path, "")
			if r.status != c.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			errorCode(t, r)
		})
	}
	if r := e.do("POST", "acme", "/shares", "{}"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	if r := e.do("GET", "acme", orders+"/query", ""); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("%d", r.status)
	}
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		for _, s := range []string{"a1", "b2", "c3", "Z9"} {
			if _, err := tx.CreateShare(catalog.Share{Name: s}); err != nil {
				return err
			}
			if _, err := tx.GrantShare(s, "acme"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type page struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
		NextPageToken string `json:"nextPageToken"`
	}
	get := func(who, q string) (page, response) {
		r := e.do("GET", who, "/shares"+q, "")
		var p page
		json.Unmarshal([]byte(r.body), &p)
		return p, r
	}
	for _, size := range []int{1, 2, 3, 5, 6} {
		var names []string
		tok, pages := "", 0
		for {
			q := "?maxResults=" + strconv.Itoa(size)
			if tok != "" {
				q += "&pageToken=" + tok
			}
			p, r := get("acme", q)
			if r.status != 200 || len(p.Items) > size {
				t.Fatalf("size %d: %d %s", size, r.status, r.body)
			}
			for _, it := range p.Items {
				names = append(names, it.Name)
			}
			pages++
			if tok = p.NextPageToken; tok == "" {
				break
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
		}
		if want := []string{"a1", "b2", "c3", "q3", "Z9"}; !slices.Equal(names, want) {
			t.Fatalf("size %d: %v, want %v", size, names, want)
		}
	}
	p, _ := get("acme", "?maxResults=0")
	if len(p.Items) != 0 || p.NextPageToken == "" {
		t.Fatalf("maxResults=0: %+v", p)
	}
	first, _ := get("acme", "?maxResults=2")
	for _, c := range []struct{ name, who, q string }{
		{"negative", "acme", "?maxResults=-1"},
		{"not a number", "acme", "?maxResults=ten"},
		{"tampered", "acme", "?pageToken=" + first.NextPageToken[:len(first.NextPageToken)-2] + "AA"},
		{"garbage", "acme", "?pageToken=abc"},
		{"other recipient's token", "other", "?pageToken=" + first.NextPageToken},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, r := get(c.who, c.q)
			if r.status != 400 || errorCode(t, r) != codeInvalidParam {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	// A list token does not page another list.
	r := e.do("GET", "acme", "/shares/q3/schemas?pageToken="+first.NextPageToken, "")
	if r.status != 400 {
		t.Fatalf("token of another list: %d %s", r.status, r.body)
	}
}

func TestTableVersion(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, method, path string
		status             int
		version            string
	}{
		{"latest", "GET", orders + "/version", 200, "2"},
		{"HEAD, deprecated", "HEAD", orders, 200, "2"},
		{"at a commit", "GET", orders + "/version?startingTimestamp=2026-01-01T01:00:00Z", 200, "1"},
		{"between commits", "GET", orders + "/version?startingTimestamp=2026-01-01T00:30:00Z", 200, "1"},
		{"old format", "GET", orders + "/version?startingTimestamp=2026-01-01%2001:30:00", 200, "2"},
		{"before the first", "GET", orders + "/version?startingTimestamp=2020-01-01T00:00:00Z", 200, "0"},
		{"after the last", "GET", orders + "/version?startingTimestamp=2027-01-01T00:00:00Z", 400, ""},
		{"not a timestamp", "GET", orders + "/version?startingTimestamp=yesterday", 400, ""},
		{"without history", "GET", events + "/version?startingTimestamp=2026-01-01T00:00:00Z", 400, ""},
		{"without history, latest", "GET", events + "/version", 200, "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, "acme", c.path, "")
			if r.status != c.status || r.header.Get("Delta-Table-Version") != c.version {
				t.Fatalf("%d %q %s", r.status, r.header.Get("Delta-Table-Version"), r.body)
			}
			if c.status == 200 && r.body != "" {
				t.Fatalf("body %q", r.body)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "acme", orders+"/metadata", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson; charset=utf-8" ||
		r.header.Get("Delta-Table-Version") != "2" || r.header.Get(capsHeader) != "responseformat=parquet" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	e.golden("metadata_parquet.ndjson", r)
	r = e.do("GET", "acme", orders+"/metadata", "", capsHeader, "responseformat=delta;readerfeatures=deletionvectors")
	if r.status != 200 || r.header.Get(capsHeader) != "responseformat=delta" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	e.golden("metadata_delta.ndjson", r)
	// Both asked: parquet for a table every reader reads.
	if r := e.do("GET", "acme", orders+"/metadata", "", capsHeader, "ResponseFormat=Delta,Parquet"); r.header.Get(capsHeader) != "responseformat=parquet" {
		t.Fatalf("%v", r.header)
	}
	if r := e.do("GET", "acme", orders+"/metadata", "", capsHeader, "responseformat=avro"); r.status != 400 {
		t.Fatalf("%d", r.status)
	}
	if r := e.do("GET", "acme", orders+"/metadata?version=0", ""); r.status != 200 || r.header.Get("Delta-Table-Version") != "0" || strings.Contains(r.body, "orders, v2") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "acme", events+"/metadata?version=0", ""); r.status != 400 {
		t.Fatalf("history refused: %d %s", r.status, r.body)
	}
}
