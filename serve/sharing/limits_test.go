package sharing

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
)

// TestIPAllowList: a recipient whose ip_allow list does not hold the
// client's address gets 403 PERMISSION_DENIED naming the address and the
// fix, audited under its name with that reason; X-Forwarded-For from an
// untrusted peer changes nothing; once the address is listed, it reads.
func TestIPAllowList(t *testing.T) {
	e := newEnv(t)
	set := func(v string) {
		t.Helper()
		err := e.cat.Update(context.Background(), func(tx *catalog.Tx) error {
			_, err := tx.SetRecipientProperties("acme", map[string]string{catalog.IPAllowProperty: v})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	set("192.0.2.0/24")
	for _, header := range [][]string{nil, {"X-Forwarded-For", "192.0.2.9"}} {
		from := len(e.sink.Events())
		r := e.do(http.MethodGet, "acme", "/shares", "", header...)
		if r.status != http.StatusForbidden || errorCode(t, r) != "PERMISSION_DENIED" ||
			!strings.Contains(r.body, "recipient acme may not connect from 127.0.0.1: not in its ip_allow list") {
			t.Fatalf("header %q: %d %s", header, r.status, r.body)
		}
		evs := e.sink.Events()[from:]
		if len(evs) != 1 || evs[0].Principal != "recipient:acme" || evs[0].Allow || evs[0].Status != http.StatusForbidden ||
			!strings.HasPrefix(evs[0].Reason, "PERMISSION_DENIED: recipient acme may not connect from 127.0.0.1") {
			t.Fatalf("audit = %+v", evs)
		}
	}
	// Another recipient, without a list, is not concerned.
	if r := e.do(http.MethodGet, "other", "/shares", ""); r.status != http.StatusOK {
		t.Fatalf("other: %d %s", r.status, r.body)
	}
	set("192.0.2.0/24, 127.0.0.1")
	if r := e.do(http.MethodGet, "acme", "/shares", ""); r.status != http.StatusOK {
		t.Fatalf("listed: %d %s", r.status, r.body)
	}
}

// TestClientAddr: X-Forwarded-For counts only from a trusted proxy, read
// from the right past the trusted hops.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string // "" when no address
	}{
		{"direct", "192.0.2.1:5000", nil, "192.0.2.1"},
		{"untrusted peer's header ignored", "192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1"},
		{"trusted proxy", "10.0.0.5:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"a client's own entry left of it is ignored", "10.0.0.5:5000", []string{"203.0.113.66, 198.51.100.7"}, "198.51.100.7"},
		{"two trusted hops", "10.0.0.5:5000", []string{"198.51.100.7", "10.0.0.9"}, "198.51.100.7"},
		{"trusted proxy, no header", "10.0.0.5:5000", nil, "10.0.0.5"},
		{"garbled by a trusted proxy", "10.0.0.5:5000", []string{"not-an-ip"}, ""},
		{"IPv4-mapped peer", "[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := ClientAddr(r, trusted)
			if tc.want == "" {
				if ok {
					t.Fatalf("got %v, want none", got)
				}
				return
			}
			if !ok || got.String() != tc.want {
				t.Fatalf("got %v %v, want %s", got, ok, tc.want)
			}
		})
	}
}
