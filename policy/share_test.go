package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog/object"
)

// sharePath is the path the sharing server sends for a table of a share:
// [share, database, schema, table], with the share's recipients and the
// table's shares.
func sharePath(share string, recipients []string, tableShares []string) []Node {
	return []Node{
		{Kind: object.KindShare, Name: share, Recipients: recipients},
		{Kind: object.KindDatabase, Name: "sales"},
		{Kind: object.KindSchema, Name: "eu"},
		{Kind: object.KindTable, Name: "orders", Shares: tableShares},
	}
}

// TestRecipientRules: a recipient may SELECT a share granted to it and the
// tables in that share, through the share; nothing else, whatever roles or
// grants the request carries.
func TestRecipientRules(t *testing.T) {
	eng, _ := defaultEngine(t)
	acme := Principal{Kind: PrincipalRecipient, Name: "acme"}
	adminRecipient := Principal{Kind: PrincipalRecipient, Name: "acme", Roles: []string{"admin"}}
	granted := []string{"acme"}
	cases := []struct {
		name      string
		who       Principal
		action    Action
		path      []Node
		wantAllow bool
	}{
		{"share granted", acme, ActionSelect, []Node{{Kind: object.KindShare, Name: "q3", Recipients: granted}}, true},
		{"share not granted", acme, ActionSelect, []Node{{Kind: object.KindShare, Name: "q3", Recipients: []string{"other"}}}, false},
		{"share without recipients", acme, ActionSelect, []Node{{Kind: object.KindShare, Name: "q3"}}, false},
		{"share granted, other action", acme, ActionDescribe, []Node{{Kind: object.KindShare, Name: "q3", Recipients: granted}}, false},
		{"table in granted share", acme, ActionSelect, sharePath("q3", granted, []string{"q3"}), true},
		{"table in another share", acme, ActionSelect, sharePath("q3", granted, []string{"q4"}), false},
		{"table without shares", acme, ActionSelect, sharePath("q3", granted, nil), false},
		{"table, share not granted", acme, ActionSelect, sharePath("q3", []string{"other"}, []string{"q3"}), false},
		{"table, insert", acme, ActionInsert, sharePath("q3", granted, []string{"q3"}), false},
		{"table directly, with a SELECT grant", Principal{Kind: PrincipalRecipient, Name: "acme", Roles: []string{"analyst"}}, ActionSelect,
			catalogPath(2, object.KindTable, map[int][]Grant{0: {{Role: "analyst", Privilege: "ALL"}}, 1: {{Role: "analyst", Privilege: "ALL"}}, 2: {{Role: "analyst", Privilege: "ALL"}}}), false},
		{"admin role does not count", adminRecipient, ActionSelect, []Node{{Kind: object.KindShare, Name: "q3"}}, false},
		{"admin role, table directly", adminRecipient, ActionSelect, catalogPath(2, object.KindTable, nil), false},
		{"path not through a schema", acme, ActionSelect, []Node{
			{Kind: object.KindShare, Name: "q3", Recipients: granted}, {Kind: object.KindDatabase, Name: "sales"},
			{Kind: object.KindStream, Name: "eu"}, {Kind: object.KindTable, Name: "orders", Shares: []string{"q3"}}}, false},
		{"share then a stream", acme, ActionSelect, []Node{
			{Kind: object.KindShare, Name: "q3", Recipients: granted}, {Kind: object.KindDatabase, Name: "sales"},
			{Kind: object.KindSchema, Name: "eu"}, {Kind: object.KindStream, Name: "clicks", Shares: []string{"q3"}}}, false},
		{"another recipient's name", Principal{Kind: PrincipalRecipient, Name: "Acme"}, ActionSelect, sharePath("q3", granted, []string{"q3"}), false},
		{"a user with grants on the share is not a recipient", user("analyst"), ActionSelect,
			[]Node{{Kind: object.KindShare, Name: "q3", Recipients: []string{"alice"}}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := eng.Decide(context.Background(), Request{Principal: c.who, Action: c.action, Path: c.path})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != c.wantAllow {
				t.Fatalf("allow = %v, want %v (reason %q)", d.Allow, c.wantAllow, d.Reason)
			}
			if !d.Allow && c.who.Kind == PrincipalRecipient && !strings.Contains(d.Reason, "recipient acme") && !strings.Contains(d.Reason, "recipient Acme") {
				t.Fatalf("reason %q does not name the recipient", d.Reason)
			}
		})
	}
}

// TestRecipientDenyRule: operator deny rules see every node of a
// recipient's path and win over the share grant.
func TestRecipientDenyRule(t *testing.T) {
	eng, err := New(context.Background(), WithModules(Module{Name: "pii.rego", Source: `package sluice.authz

deny contains msg if {
	is_recipient
	some n in input.path
	n.kind == "schema"
	n.name == "eu"
	msg := sprintf("schema %s is not shared outside", [n.fqn])
}`}))
	if err != nil {
		t.Fatal(err)
	}
	acme := Principal{Kind: PrincipalRecipient, Name: "acme"}
	d, err := eng.Decide(context.Background(), Request{Principal: acme, Action: ActionSelect, Path: sharePath("q3", []string{"acme"}, []string{"q3"})})
	if err != nil || d.Allow || d.Reason != "schema q3.sales.eu is not shared outside" {
		t.Fatalf("%+v, %v", d, err)
	}
	// The share itself stays readable.
	d, err = eng.Decide(context.Background(), Request{Principal: acme, Action: ActionSelect, Path: []Node{{Kind: object.KindShare, Name: "q3", Recipients: []string{"acme"}}}})
	if err != nil || !d.Allow {
		t.Fatalf("%+v, %v", d, err)
	}
}

// TestCacheKeySeesRecipients: decisions differing only in the recipients or
// shares passed are cached apart.
func TestCacheKeySeesRecipients(t *testing.T) {
	eng, _ := defaultEngine(t)
	acme := Principal{Kind: PrincipalRecipient, Name: "acme"}
	for i, c := range []struct {
		recipients, shares []string
		want               bool
	}{
		{[]string{"acme"}, []string{"q3"}, true},
		{[]string{"other"}, []string{"q3"}, false},
		{[]string{"acme"}, []string{}, false},
		{[]string{"acme"}, []string{"q3"}, true},
		{nil, []string{"q3"}, false},
	} {
		d, err := eng.Decide(context.Background(), Request{Principal: acme, Action: ActionSelect, Path: sharePath("q3", c.recipients, c.shares)})
		if err != nil || d.Allow != c.want {
			t.Fatalf("case %d: %+v, %v; want allow %v", i, d, err, c.want)
		}
	}
}
