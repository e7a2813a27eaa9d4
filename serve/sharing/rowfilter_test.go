package sharing

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
)

// addGeoShare adds share geo: orders filtered by the recipient's 'day'
// property, granted to de (day 2026-01-01), fr (day 2026-01-03) and
// nobody (no property).
func addGeoShare(t *testing.T, e *env) {
	t.Helper()
	err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		sh, err := tx.CreateShare(catalog.Share{Name: "geo"})
		if err != nil {
			return err
		}
		e.ids[sh.ID] = "<share:geo>"
		if _, err := tx.AddShareTable("geo", catalog.ShareTable{Table: "sales.eu.orders", WithHistory: true,
			Filter: "date = CURRENT_RECIPIENT('day')"}); err != nil {
			return err
		}
		for name, day := range map[string]string{"de": "2026-01-01", "fr": "2026-01-03", "nobody": ""} {
			rc := catalog.Recipient{Name: name}
			if day != "" {
				rc.SharingProperties = map[string]string{"day": day, "tier": "gold"}
			}
			_, tok, err := tx.CreateRecipient(rc)
			if err != nil {
				return err
			}
			e.tokens[name] = tok
			if _, err := tx.GrantShare("geo", name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const geoOrders = "/shares/geo/schemas/eu/tables/orders"

// TestRecipientFilter: each recipient gets only the files of its
// partition through every way of listing files, and a recipient without
// the property gets none.
func TestRecipientFilter(t *testing.T) {
	e := newEnv(t)
	addGeoShare(t, e)
	type req struct{ method, path, body string }
	cases := []struct {
		name string
		req  req
		want map[string][]string // recipient -> file lines
	}{
		{"latest", req{"POST", geoOrders + "/query", `{}`},
			map[string][]string{"de": {"file:part-d.parquet"}, "fr": {"file:part-c.parquet"}, "nobody": nil}},
		{"jsonPredicateHints for another partition", req{"POST", geoOrders + "/query",
			`{"jsonPredicateHints":"{\"op\":\"or\",\"children\":[{\"op\":\"equal\",\"children\":[{\"op\":\"column\",\"name\":\"date\",\"valueType\":\"date\"},{\"op\":\"literal\",\"value\":\"2026-01-03\",\"valueType\":\"date\"}]},{\"op\":\"isNull\",\"children\":[{\"op\":\"column\",\"name\":\"date\",\"valueType\":\"date\"}]}]}"}`},
			map[string][]string{"de": nil, "fr": {"file:part-c.parquet"}, "nobody": nil}},
		{"predicateHints", req{"POST", geoOrders + "/query", `{"predicateHints":["date >= '2026-01-01'"]}`},
			map[string][]string{"de": {"file:part-d.parquet"}, "fr": {"file:part-c.parquet"}, "nobody": nil}},
		{"version 0", req{"POST", geoOrders + "/query", `{"version":0}`},
			map[string][]string{"de": {"file:part-a.parquet"}, "fr": nil, "nobody": nil}},
		{"timestamp", req{"POST", geoOrders + "/query", `{"timestamp":"2026-01-01T01:30:00Z"}`},
			map[string][]string{"de": {"file:part-a.parquet"}, "fr": {"file:part-c.parquet"}, "nobody": nil}},
		{"startingVersion", req{"POST", geoOrders + "/query", `{"startingVersion":0}`},
			map[string][]string{"de": {"add:part-a.parquet", "remove:part-a.parquet", "add:part-d.parquet"}, "fr": {"add:part-c.parquet"}, "nobody": nil}},
		{"changes", req{"GET", geoOrders + "/changes?startingVersion=0", ""},
			map[string][]string{"de": {"add:part-a.parquet", "remove:part-a.parquet", "add:part-d.parquet"}, "fr": {"add:part-c.parquet"}, "nobody": nil}},
	}
	for _, tc := range cases {
		for _, rc := range []string{"de", "fr", "nobody"} {
			t.Run(tc.name+"/"+rc, func(t *testing.T) {
				r := e.do(tc.req.method, rc, tc.req.path, tc.req.body)
				if r.status != http.StatusOK {
					t.Fatalf("%d %s", r.status, r.body)
				}
				if got := fileURLs(t, r.body); !slices.Equal(got, tc.want[rc]) {
					t.Errorf("files %v, want %v", got, tc.want[rc])
				}
			})
		}
	}
}

// TestRecipientFilterPages: pages of one file each, followed to the end,
// yield exactly the recipient's files; so does a refresh token.
func TestRecipientFilterPages(t *testing.T) {
	e := newEnv(t)
	addGeoShare(t, e)
	for rc, want := range map[string][]string{"de": {"add:part-a.parquet", "remove:part-a.parquet", "add:part-d.parquet"}, "fr": {"add:part-c.parquet"}, "nobody": nil} {
		var got []string
		path := geoOrders + "/changes?startingVersion=0&maxFiles=1"
		for i := 0; i < 10; i++ {
			r := e.do("GET", rc, path, "")
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", rc, r.status, r.body)
			}
			got = append(got, fileURLs(t, r.body)...)
			next := nextPageToken(t, r.body)
			if next == "" {
				break
			}
			path = geoOrders + "/changes?startingVersion=0&maxFiles=1&pageToken=" + next
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: changes in pages %v, want %v", rc, got, want)
		}
		r := e.do("POST", rc, geoOrders+"/query", `{"maxFiles":1,"includeRefreshToken":true}`)
		if n := len(fileURLs(t, r.body)); n > 1 || (rc == "nobody") != (n == 0) {
			t.Errorf("%s: first page %s", rc, r.body)
		}
		if tok := refreshTokenOf(t, r.body); tok != "" {
			rr := e.do("POST", rc, geoOrders+"/query", `{"refreshToken":"`+tok+`"}`)
			for _, f := range fileURLs(t, rr.body) {
				if rc == "de" && f != "file:part-d.parquet" || rc == "fr" && f != "file:part-c.parquet" || rc == "nobody" {
					t.Errorf("%s: refresh gave %s", rc, f)
				}
			}
		}
	}
}

func endStreamOf(t *testing.T, body string) map[string]any {
	t.Helper()
	for _, l := range ndjson(t, body) {
		if m, ok := l["endStreamAction"].(map[string]any); ok {
			return m
		}
	}
	return nil
}

func nextPageToken(t *testing.T, body string) string {
	s, _ := endStreamOf(t, body)["nextPageToken"].(string)
	return s
}

func refreshTokenOf(t *testing.T, body string) string {
	s, _ := endStreamOf(t, body)["refreshToken"].(string)
	return s
}

// TestRecipientFilterMetadata: metadata counts only the recipient's files.
func TestRecipientFilterMetadata(t *testing.T) {
	e := newEnv(t)
	addGeoShare(t, e)
	for rc, want := range map[string]string{"de": `"numFiles":1`, "nobody": `"numFiles":0`} {
		r := e.do("GET", rc, geoOrders+"/metadata", "")
		if r.status != http.StatusOK || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d %s, want %s", rc, r.status, r.body, want)
		}
	}
}

// TestRecipientFilterPolicyInput: the policy sees the recipient's
// properties and the table's filter; an operator rule denies on them.
func TestRecipientFilterPolicyInput(t *testing.T) {
	e := newEnv(t, policy.WithModules(policy.Module{Name: "deny.rego", Source: `package sluice.authz

deny contains "gold recipients read filtered tables only" if {
	is_recipient
	input.principal.properties.tier == "gold"
	some n in input.path
	n.kind == "table"
	not n.filter
}

deny contains "the filter must read the day property" if {
	is_recipient
	some n in input.path
	n.kind == "table"
	n.filter
	not contains(n.filter, "CURRENT_RECIPIENT('day')")
}`}))
	addGeoShare(t, e)
	if err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
		_, err := tx.GrantShare("q4", "de")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "de", geoOrders+"/query", `{}`); r.status != http.StatusOK {
		t.Fatalf("filtered table: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "de", "/shares/q4/schemas/eu/tables/orders/query", `{}`); r.status != http.StatusNotFound {
		t.Fatalf("unfiltered table for a gold recipient: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "other", "/shares/q4/schemas/eu/tables/orders/query", `{}`); r.status != http.StatusOK {
		t.Fatalf("recipient without properties: %d %s", r.status, r.body)
	}
}
