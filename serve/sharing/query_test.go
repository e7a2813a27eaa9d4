package sharing

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestQueryGolden(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "acme", orders+"/query", "{}")
	if r.status != 200 || r.header.Get("Delta-Table-Version") != "2" || r.header.Get(capsHeader) != "responseformat=parquet" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	e.golden("query_parquet.ndjson", r)
	r = e.do("POST", "acme", orders+"/query", `{"version":0}`, capsHeader, "responseformat=delta")
	if r.status != 200 || r.header.Get("Delta-Table-Version") != "0" || r.header.Get(capsHeader) != "responseformat=delta" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	e.golden("query_delta_v0.ndjson", r)
	// The audit record of a query: who, what, which version, how much.
	var found bool
	for _, ev := range e.sink.Events() {
		if ev.Request == "query" && ev.Path == "q3.eu.orders" && ev.Version != nil && *ev.Version == 2 {
			found = ev.Files != nil && *ev.Files == 4 && ev.Bytes != nil && *ev.Bytes == 670 && ev.Status == 200 &&
				ev.Principal == "recipient:acme" && ev.Allow
		}
	}
	if !found {
		t.Fatalf("no audit record of the query: %+v", e.sink.Events())
	}
}

func TestQueryFiles(t *testing.T) {
	e := newEnv(t)
	all := []string{"file:part-d.parquet", "file:part-b.parquet", "file:part-c.parquet", "file:part-n.parquet"}
	jp := func(s string) string {
		b, _ := json.Marshal(map[string]string{"jsonPredicateHints": s})
		return string(b)
	}
	col := func(name, typ string) string {
		return `{"op":"column","name":"` + name + `","valueType":"` + typ + `"}`
	}
	lit := func(v, typ string) string { return `{"op":"literal","value":"` + v + `","valueType":"` + typ + `"}` }
	op := func(o string, kids ...string) string {
		return `{"op":"` + o + `","children":[` + strings.Join(kids, ",") + `]}`
	}
	cases := []struct {
		name, body string
		want       []string
		version    string
	}{
		{"all", `{}`, all, "2"},
		{"empty body", ``, all, "2"},
		{"version 0", `{"version":0}`, []string{"file:part-a.parquet", "file:part-b.parquet"}, "0"},
		{"version 1", `{"version":1}`, []string{"file:part-a.parquet", "file:part-b.parquet", "file:part-c.parquet", "file:part-n.parquet"}, "1"},
		{"timestamp between v1 and v2", `{"timestamp":"2026-01-01T01:30:00Z"}`, []string{"file:part-a.parquet", "file:part-b.parquet", "file:part-c.parquet", "file:part-n.parquet"}, "1"},
		{"timestamp at v2", `{"timestamp":"2026-01-01 02:00:00"}`, all, "2"},
		{"partition equal", jp(op("equal", col("date", "date"), lit("2026-01-02", "date"))), []string{"file:part-b.parquet"}, "2"},
		{"partition, literal first", jp(op("lessThan", lit("2026-01-02", "date"), col("date", "date"))), []string{"file:part-c.parquet"}, "2"},
		{"partition isNull", jp(op("isNull", col("date", "date"))), []string{"file:part-n.parquet"}, "2"},
		{"partition not isNull", jp(op("not", op("isNull", col("date", "date")))), []string{"file:part-d.parquet", "file:part-b.parquet", "file:part-c.parquet"}, "2"},
		{"partition or", jp(op("or", op("equal", col("date", "date"), lit("2026-01-01", "date")), op("equal", col("date", "date"), lit("2026-01-03", "date")))),
			[]string{"file:part-d.parquet", "file:part-c.parquet"}, "2"},
		{"stats greaterThan", jp(op("greaterThan", col("id", "long"), lit("9", "long"))), []string{"file:part-d.parquet", "file:part-n.parquet"}, "2"},
		{"stats equal", jp(op("equal", col("id", "long"), lit("4", "long"))), []string{"file:part-b.parquet", "file:part-n.parquet"}, "2"},
		{"stats and partition", jp(op("and", op("lessThanOrEqual", col("id", "long"), lit("5", "long")), op("greaterThanOrEqual", col("date", "date"), lit("2026-01-02", "date")))),
			[]string{"file:part-b.parquet"}, "2"},
		{"stats not: unknown keeps files", jp(op("not", op("equal", col("id", "long"), lit("4", "long")))), all, "2"},
		{"stats isNull on a column without nulls", jp(op("isNull", col("id", "long"))), []string{"file:part-n.parquet"}, "2"},
		{"unknown column: no filtering", jp(op("equal", col("nope", "long"), lit("4", "long"))), all, "2"},
		{"unknown op: no filtering", jp(op("like", col("id", "long"), lit("4", "long"))), all, "2"},
		{"bad literal: no filtering", jp(op("equal", col("id", "long"), lit("four", "long"))), all, "2"},
		{"type mismatch: no filtering", jp(op("equal", col("id", "long"), lit("4", "string"))), all, "2"},
		{"not JSON: no filtering", jp(`{"op":`), all, "2"},
		{"one child for and: no filtering", jp(op("and", op("isNull", col("date", "date")))), all, "2"},
		{"hint as an object, not a string", `{"jsonPredicateHints":` + op("equal", col("date", "date"), lit("2026-01-02", "date")) + `}`, []string{"file:part-b.parquet"}, "2"},
		{"SQL hint", `{"predicateHints":["date = '2026-01-02'"]}`, []string{"file:part-b.parquet"}, "2"},
		{"SQL hints are ANDed; a null partition matches no comparison", `{"predicateHints":["id >= 3", "date < '2026-01-03'"]}`, []string{"file:part-d.parquet", "file:part-b.parquet"}, "2"},
		{"SQL hint, literal first", `{"predicateHints":["9 < id"]}`, []string{"file:part-d.parquet", "file:part-n.parquet"}, "2"},
		{"SQL IS NULL", `{"predicateHints":["date IS NULL"]}`, []string{"file:part-n.parquet"}, "2"},
		{"SQL <> on a partition", `{"predicateHints":["date <> '2026-01-01'"]}`, []string{"file:part-b.parquet", "file:part-c.parquet"}, "2"},
		{"SQL hint it cannot read is skipped", `{"predicateHints":["id between 1 and 2", "date = '2026-01-02'"]}`, []string{"file:part-b.parquet"}, "2"},
		{"limit 0", `{"limitHint":0}`, nil, "2"},
		{"limit within the first file", `{"limitHint":2}`, []string{"file:part-d.parquet"}, "2"},
		{"limit over two files", `{"limitHint":3}`, []string{"file:part-d.parquet", "file:part-b.parquet"}, "2"},
		{"limit reached exactly", `{"limitHint":9}`, all[:3], "2"},
		{"limit past files without stats", `{"limitHint":10}`, all, "2"},
		{"limit after the predicate", `{"limitHint":1,"predicateHints":["date >= '2026-01-02'"]}`, []string{"file:part-b.parquet"}, "2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "acme", orders+"/query", c.body)
			if r.status != 200 || r.header.Get("Delta-Table-Version") != c.version {
				t.Fatalf("%d %v %s", r.status, r.header.Get("Delta-Table-Version"), r.body)
			}
			if got := fileURLs(t, r.body); !slices.Equal(got, c.want) {
				t.Fatalf("files %v, want %v", got, c.want)
			}
			lines := ndjson(t, r.body)
			if _, ok := lines[0]["protocol"]; !ok {
				t.Fatalf("first line %v", lines[0])
			}
			if _, ok := lines[1]["metaData"]; !ok {
				t.Fatalf("second line %v", lines[1])
			}
			if _, ok := lines[len(lines)-1]["endStreamAction"]; ok {
				t.Fatal("endStreamAction without asking")
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"not JSON", orders, `{`, 400, codeMalformed},
		{"wrong type", orders, `{"version":"one"}`, 400, codeMalformed},
		{"two values", orders, `{} {}`, 400, codeMalformed},
		{"an array", orders, `[]`, 400, codeMalformed},
		{"negative version", orders, `{"version":-1}`, 400, codeInvalidParam},
		{"version past the latest", orders, `{"version":3}`, 400, codeInvalidParam},
		{"huge version", orders, `{"version":9223372036854775807}`, 400, codeInvalidParam},
		{"timestamp before the table", orders, `{"timestamp":"2020-01-01T00:00:00Z"}`, 400, codeInvalidParam},
		{"not a timestamp", orders, `{"timestamp":"noon"}`, 400, codeInvalidParam},
		{"version and timestamp", orders, `{"version":1,"timestamp":"2026-01-01T01:00:00Z"}`, 400, codeInvalidParam},
		{"version and startingVersion", orders, `{"version":1,"startingVersion":0}`, 400, codeInvalidParam},
		{"endingVersion alone", orders, `{"endingVersion":1}`, 400, codeInvalidParam},
		{"ending before starting", orders, `{"startingVersion":2,"endingVersion":1}`, 400, codeInvalidParam},
		{"startingVersion past the latest", orders, `{"startingVersion":5}`, 400, codeInvalidParam},
		{"negative limit", orders, `{"limitHint":-1}`, 400, codeInvalidParam},
		{"maxFiles 0", orders, `{"maxFiles":0}`, 400, codeInvalidParam},
		{"refresh token with a version", orders, `{"version":1,"includeRefreshToken":true}`, 400, codeInvalidParam},
		{"history: version", events, `{"version":0}`, 400, codeInvalidParam},
		{"history: timestamp", events, `{"timestamp":"2026-01-01T00:00:00Z"}`, 400, codeInvalidParam},
		{"history: startingVersion", events, `{"startingVersion":0}`, 400, codeInvalidParam},
		{"tampered page token", orders, `{"pageToken":"eyJrIjoiZmlsZXMifQ.AAAA"}`, 400, codeInvalidParam},
		{"tampered refresh token", orders, `{"refreshToken":"x.y"}`, 400, codeInvalidParam},
		{"deletion vectors", "/shares/q3/schemas/lab/tables/dv", `{}`, 400, codeUnsupported},
		{"body too large", orders, `{"predicateHints":["` + strings.Repeat("x", maxQueryBody) + `"]}`, 413, codeTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "acme", c.path+"/query", c.body)
			if r.status != c.status || errorCode(t, r) != c.code {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if c.status == 400 && strings.Contains(r.body, e.dirs["orders"]) {
				t.Fatalf("the error reveals the table's location: %s", r.body)
			}
		})
	}
}

// endLine returns the endStreamAction of a response, failing if it is not
// the last line.
func endLine(t *testing.T, body string) map[string]any {
	t.Helper()
	lines := ndjson(t, body)
	last := lines[len(lines)-1]
	e, ok := last["endStreamAction"].(map[string]any)
	if !ok {
		t.Fatalf("last line is not endStreamAction: %v", last)
	}
	for _, l := range lines[:len(lines)-1] {
		if _, ok := l["endStreamAction"]; ok {
			t.Fatal("endStreamAction before the last line")
		}
	}
	return e
}

func TestQueryEndStreamPagesAndRefresh(t *testing.T) {
	e := newEnv(t)
	// Asked for: the last line, echoed in the capabilities header.
	r := e.do("POST", "acme", orders+"/query", `{}`, capsHeader, "responseformat=parquet;includeendstreamaction=true")
	if r.header.Get(capsHeader) != "responseformat=parquet;includeendstreamaction=true" {
		t.Fatalf("%v", r.header)
	}
	end := endLine(t, r.body)
	if end["minUrlExpirationTimestamp"] != float64(now.Add(DefaultURLLifetime).UnixMilli()) || end["nextPageToken"] != nil {
		t.Fatalf("%v", end)
	}
	// Pages of one file, each ending with the next page's token, pinned to
	// the first page's version and filter.
	body := func(extra string) string { return `{"predicateHints":["date >= '2026-01-01'"]` + extra + `}` }
	var got []string
	tok := ""
	for i := 0; ; i++ {
		extra := `,"maxFiles":1`
		if tok != "" {
			extra += `,"pageToken":"` + tok + `"`
		}
		r := e.do("POST", "acme", orders+"/query", body(extra))
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", i, r.status, r.body)
		}
		files := fileURLs(t, r.body)
		if len(files) != 1 {
			t.Fatalf("page %d: %v", i, files)
		}
		got = append(got, files...)
		next, _ := endLine(t, r.body)["nextPageToken"].(string)
		if next == "" {
			break
		}
		if i == 0 {
			// The token is for this query only.
			for _, c := range []struct{ path, body string }{
				{orders, `{"maxFiles":1,"pageToken":"` + next + `"}`},
				{orders, body(`,"maxFiles":1,"limitHint":1,"pageToken":"` + next + `"`)},
				{events, `{"maxFiles":1,"pageToken":"` + next + `"}`},
			} {
				if r := e.do("POST", "acme", c.path+"/query", c.body); r.status != 400 {
					t.Fatalf("replayed token on %s %s: %d %s", c.path, c.body, r.status, r.body)
				}
			}
			if r := e.do("POST", "late", orders+"/query", body(`,"maxFiles":1,"pageToken":"`+next+`"`)); r.status != 400 {
				t.Fatalf("another recipient's token: %d", r.status)
			}
		}
		tok = next
		if i > 5 {
			t.Fatal("pages do not end")
		}
	}
	if want := []string{"file:part-d.parquet", "file:part-b.parquet", "file:part-c.parquet"}; !slices.Equal(got, want) {
		t.Fatalf("paged files %v, want %v", got, want)
	}
	// A refresh token gives the same files again, with new URLs.
	r = e.do("POST", "acme", orders+"/query", `{"includeRefreshToken":true}`)
	refresh, _ := endLine(t, r.body)["refreshToken"].(string)
	if refresh == "" {
		t.Fatalf("no refresh token: %s", r.body)
	}
	r2 := e.do("POST", "acme", orders+"/query", `{"refreshToken":"`+refresh+`"}`)
	if r2.status != 200 || !slices.Equal(fileURLs(t, r.body), fileURLs(t, r2.body)) || r2.header.Get("Delta-Table-Version") != "2" {
		t.Fatalf("%d %s", r2.status, r2.body)
	}
	if r := e.do("POST", "acme", events+"/query", `{"refreshToken":"`+refresh+`"}`); r.status != 400 {
		t.Fatalf("refresh token of another table: %d", r.status)
	}
	if r := e.do("POST", "acme", orders+"/query", `{"pageToken":"`+refresh+`"}`); r.status != 400 {
		t.Fatalf("refresh token as a page token: %d", r.status)
	}
}

func TestQueryStartingVersion(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "acme", orders+"/query", `{"startingVersion":1}`)
	if r.status != 200 || r.header.Get("Delta-Table-Version") != "1" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := []string{"add:part-c.parquet", "add:part-n.parquet", "remove:part-a.parquet", "add:part-d.parquet"}
	if got := fileURLs(t, r.body); !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	// Changes carry their version and commit time; later metadata is included.
	var metas int
	for _, l := range ndjson(t, r.body) {
		if a, ok := l["add"].(map[string]any); ok && a["version"] == float64(2) && a["timestamp"] != float64(commitTime(2).UnixMilli()) {
			t.Fatalf("timestamp %v", a)
		}
		if _, ok := l["metaData"]; ok {
			metas++
		}
	}
	if metas != 2 {
		t.Fatalf("%d metaData lines, want the first and v2's", metas)
	}
	r = e.do("POST", "acme", orders+"/query", `{"startingVersion":0,"endingVersion":0}`)
	if got := fileURLs(t, r.body); !slices.Equal(got, []string{"add:part-a.parquet", "add:part-b.parquet"}) {
		t.Fatalf("%v", got)
	}
}

func TestChanges(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, q string
		want    []string
		version string
	}{
		{"all", "startingVersion=0", []string{"add:part-a.parquet", "add:part-b.parquet", "add:part-c.parquet", "add:part-n.parquet", "remove:part-a.parquet", "add:part-d.parquet"}, "0"},
		{"window", "startingVersion=1&endingVersion=1", []string{"add:part-c.parquet", "add:part-n.parquet"}, "1"},
		{"ending past the latest", "startingVersion=2&endingVersion=9", []string{"remove:part-a.parquet", "add:part-d.parquet"}, "2"},
		{"by timestamps", "startingTimestamp=2026-01-01T00:30:00Z&endingTimestamp=2026-01-01T01:59:00Z", []string{"add:part-c.parquet", "add:part-n.parquet"}, "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", "acme", orders+"/changes?"+c.q, "")
			if r.status != 200 || r.header.Get("Delta-Table-Version") != c.version {
				t.Fatalf("%d %v %s", r.status, r.header, r.body)
			}
			if got := fileURLs(t, r.body); !slices.Equal(got, c.want) {
				t.Fatalf("%v, want %v", got, c.want)
			}
			lines := ndjson(t, r.body)
			md := lines[1]["metaData"].(map[string]any)
			if md["configuration"].(map[string]any)["delta.enableChangeDataFeed"] != "true" {
				t.Fatalf("metadata %v", md)
			}
		})
	}
	r := e.do("GET", "acme", orders+"/changes?startingVersion=0", "")
	e.golden("changes_parquet.ndjson", r)
	// Historical metadata only when asked for.
	count := func(body string) (n int) {
		for _, l := range ndjson(t, body) {
			if _, ok := l["metaData"]; ok {
				n++
			}
		}
		return n
	}
	if n := count(r.body); n != 1 {
		t.Fatalf("%d metaData lines", n)
	}
	r = e.do("GET", "acme", orders+"/changes?startingVersion=0&includeHistoricalMetadata=true", "", capsHeader, "responseformat=delta")
	if n := count(r.body); n != 2 || r.header.Get(capsHeader) != "responseformat=delta" {
		t.Fatalf("%d metaData lines, %v", n, r.header)
	}
	e.golden("changes_delta.ndjson", r)
	// Pages.
	var got []string
	tok := ""
	for i := 0; i < 10; i++ {
		q := "startingVersion=0&maxFiles=4"
		if tok != "" {
			q += "&pageToken=" + tok
		}
		r := e.do("GET", "acme", orders+"/changes?"+q, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		got = append(got, fileURLs(t, r.body)...)
		tok, _ = endLine(t, r.body)["nextPageToken"].(string)
		if tok == "" {
			break
		}
	}
	if len(got) != 6 {
		t.Fatalf("paged changes: %v", got)
	}
	// A refresh token pins the window, here up to the latest version (2).
	r = e.do("GET", "acme", orders+"/changes?startingVersion=1&includeRefreshToken=true", "")
	refresh, _ := endLine(t, r.body)["refreshToken"].(string)
	if refresh == "" {
		t.Fatalf("no refresh token: %s", r.body)
	}
	r2 := e.do("GET", "acme", orders+"/changes?startingVersion=1&refreshToken="+refresh, "")
	if r2.status != 200 || !slices.Equal(fileURLs(t, r.body), fileURLs(t, r2.body)) {
		t.Fatalf("%d %s", r2.status, r2.body)
	}
	for _, q := range []string{
		"startingVersion=0&refreshToken=" + refresh,                          // other parameters
		"startingVersion=1&refreshToken=" + refresh[:len(refresh)-3] + "xyz", // altered
		"startingVersion=1&refreshToken=" + refresh + "&pageToken=" + refresh,
	} {
		if r := e.do("GET", "acme", orders+"/changes?"+q, ""); r.status != 400 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}
	// A snapshot refresh token is not a changes one.
	r = e.do("POST", "acme", orders+"/query", `{"includeRefreshToken":true}`)
	snapRefresh, _ := endLine(t, r.body)["refreshToken"].(string)
	if r := e.do("GET", "acme", orders+"/changes?startingVersion=1&refreshToken="+snapRefresh, ""); r.status != 400 {
		t.Fatalf("snapshot refresh token on changes: %d", r.status)
	}
	for _, c := range []struct{ name, path, q string }{
		{"no start", orders, ""},
		{"both starts", orders, "startingVersion=0&startingTimestamp=2026-01-01T00:00:00Z"},
		{"both ends", orders, "startingVersion=0&endingVersion=1&endingTimestamp=2026-01-01T00:00:00Z"},
		{"not a number", orders, "startingVersion=zero"},
		{"negative", orders, "startingVersion=-1"},
		{"start past the latest", orders, "startingVersion=3"},
		{"end before start", orders, "startingVersion=2&endingVersion=1"},
		{"start timestamp after the latest", orders, "startingTimestamp=2027-01-01T00:00:00Z"},
		{"maxFiles 0", orders, "startingVersion=0&maxFiles=0"},
		{"tampered token", orders, "startingVersion=0&pageToken=abc.def"},
		{"without history", events, "startingVersion=0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", "acme", c.path+"/changes?"+c.q, "")
			if r.status != 400 || errorCode(t, r) != codeInvalidParam {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
}

// TestTokensPinTheVersion: pages and refreshes keep serving the version of
// the first request after the table has moved on.
func TestTokensPinTheVersion(t *testing.T) {
	e := newEnv(t)
	first := e.do("POST", "acme", orders+"/query", `{"maxFiles":2}`)
	refreshResp := e.do("POST", "acme", orders+"/query", `{"includeRefreshToken":true}`)
	next, _ := endLine(t, first.body)["nextPageToken"].(string)
	refresh, _ := endLine(t, refreshResp.body)["refreshToken"].(string)
	// Version 3 adds a file.
	writeLog(t, e.dirs["orders"], append(append([]string{}, ordersLog...),
		addLine("date=2026-01-04/part-e.parquet", str("2026-01-04"), 10, stats(1, 12, 12))+"\n"))
	if r := e.do("POST", "acme", orders+"/query", `{}`); r.header.Get("Delta-Table-Version") != "3" || len(fileURLs(t, r.body)) != 5 {
		t.Fatalf("latest: %s %v", r.header.Get("Delta-Table-Version"), fileURLs(t, r.body))
	}
	second := e.do("POST", "acme", orders+"/query", `{"maxFiles":2,"pageToken":"`+next+`"}`)
	if second.header.Get("Delta-Table-Version") != "2" {
		t.Fatalf("second page at version %s", second.header.Get("Delta-Table-Version"))
	}
	pages := append(fileURLs(t, first.body), fileURLs(t, second.body)...)
	if want := fileURLs(t, refreshResp.body); !slices.Equal(pages, want) {
		t.Fatalf("pages %v, want version 2's %v", pages, want)
	}
	r := e.do("POST", "acme", orders+"/query", `{"refreshToken":"`+refresh+`"}`)
	if r.header.Get("Delta-Table-Version") != "2" || !slices.Equal(fileURLs(t, r.body), fileURLs(t, refreshResp.body)) {
		t.Fatalf("refresh: %s %v", r.header.Get("Delta-Table-Version"), fileURLs(t, r.body))
	}
}
