package sharefilter

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog/sqlparse"
)

func TestParse(t *testing.T) {
	cases := []struct {
		src     string
		text    string
		terms   []Term
		wantErr string
	}{
		{src: "country = CURRENT_RECIPIENT('country')", text: "country = CURRENT_RECIPIENT('country')",
			terms: []Term{{Column: "country", Property: "country"}}},
		{src: "current_recipient('c') = country AND 'eu' = region AND year = 2024", text: "current_recipient('c') = country AND 'eu' = region AND year = 2024",
			terms: []Term{{Column: "country", Property: "c"}, {Column: "region", Literal: "eu", Kind: sqlparse.LitString}, {Column: "year", Literal: "2024", Kind: sqlparse.LitNumber}}},
		{src: "(a = 1) AND (b = TRUE)", text: "a = 1 AND b = TRUE",
			terms: []Term{{Column: "a", Literal: "1", Kind: sqlparse.LitNumber}, {Column: "b", Literal: "TRUE", Kind: sqlparse.LitBool}}},
		{src: "a = 1 OR b = 2", wantErr: "is not supported"},
		{src: "a > 1", wantErr: "is not supported"},
		{src: "a = b", wantErr: "is not supported"},
		{src: "s.a = 1", wantErr: "is not supported"},
		{src: "a = NULL", wantErr: "null literal"},
		{src: "a = CURRENT_RECIPIENT(x)", wantErr: "takes one property name"},
		{src: "a = UPPER('x')", wantErr: "is not supported"},
		{src: "a = ", wantErr: "share filter"},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			f, err := Parse(tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Text != tc.text || !reflect.DeepEqual(f.Terms, tc.terms) {
				t.Fatalf("got %q %+v, want %q %+v", f.Text, f.Terms, tc.text, tc.terms)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	f, err := Parse("Country = CURRENT_RECIPIENT('country') AND amount = 3")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		parts   []string
		wantErr string
	}{
		{[]string{"country", "amount"}, ""},
		{[]string{"country"}, "column amount is not a partition column (the table is partitioned by country): files are shared whole"},
		{nil, "column Country is not a partition column (the table is not partitioned)"},
	}
	for _, tc := range cases {
		err := f.Check("sales.eu.orders", tc.parts)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%v: error %v, want %q", tc.parts, err, tc.wantErr)
		}
	}
}

func TestBind(t *testing.T) {
	f, err := Parse("country = CURRENT_RECIPIENT('country') AND region = 'eu' AND tier = CURRENT_RECIPIENT('tier')")
	if err != nil {
		t.Fatal(err)
	}
	b, missing := f.Bind(map[string]string{"country": "DE", "tier": "gold"})
	want := []BoundTerm{{"country", "DE", sqlparse.LitString}, {"region", "eu", sqlparse.LitString}, {"tier", "gold", sqlparse.LitString}}
	if len(missing) != 0 || !reflect.DeepEqual(b.Terms, want) {
		t.Fatalf("%+v %v", b.Terms, missing)
	}
	if _, missing := f.Bind(map[string]string{"tier": "gold"}); !reflect.DeepEqual(missing, []string{"country"}) {
		t.Fatalf("missing %v, want [country]", missing)
	}
	if got := f.Properties(); !reflect.DeepEqual(got, []string{"country", "tier"}) {
		t.Fatalf("properties %v", got)
	}
}
