package object

import (
	"strings"
	"testing"
)

// TestKinds: every kind is valid and written in SQL in upper case;
// KindRelation, which stands for stream or table, and unknown kinds are not.
func TestKinds(t *testing.T) {
	for _, tc := range []struct {
		kind    Kind
		valid   bool
		keyword string
	}{
		{KindDatabase, true, "DATABASE"},
		{KindTable, true, "TABLE"},
		{KindRecipient, true, "RECIPIENT"},
		{KindRelation, false, "RELATION"},
		{"TABLE", false, "TABLE"}, // the stored form is lower case
		{"view", false, "VIEW"},
	} {
		if got := tc.kind.Valid(); got != tc.valid {
			t.Errorf("%q.Valid() = %v, want %v", tc.kind, got, tc.valid)
		}
		if got := tc.kind.Keyword(); got != tc.keyword {
			t.Errorf("%q.Keyword() = %q, want %q", tc.kind, got, tc.keyword)
		}
	}
	if len(Kinds) != 10 {
		t.Errorf("%d kinds, want 10", len(Kinds))
	}
}

// TestPrivileges: every privilege a request can ask for is valid and
// written as SQL writes it; ALL, which only a grant holds, and unknown
// words are not.
func TestPrivileges(t *testing.T) {
	for _, p := range Privileges {
		if !p.Valid() || strings.ToUpper(string(p)) != string(p) {
			t.Errorf("%q: want valid and upper case", p)
		}
	}
	for _, p := range []Privilege{PrivAll, "select", "BOGUS", ""} {
		if p.Valid() {
			t.Errorf("%q.Valid() = true, want false", p)
		}
	}
	if len(Privileges) != 11 {
		t.Errorf("%d privileges, want the eleven the policy decides", len(Privileges))
	}
}

// TestGrantable: every kind grants OWNERSHIP and ALL; the containers grant
// every privilege (for what they hold); the rest only what their
// statements are decided on.
func TestGrantable(t *testing.T) {
	for _, k := range Kinds {
		if !Applies(PrivOwnership, k) || !Applies(PrivAll, k) {
			t.Errorf("%s: OWNERSHIP and ALL must apply", k)
		}
	}
	for _, tc := range []struct {
		p    Privilege
		kind Kind
		want bool
	}{
		{PrivOperate, KindDatabase, true},
		{PrivMonitor, KindSchema, true},
		{PrivDescribe, KindTable, true},
		{PrivSelect, KindRelation, true},
		{PrivInsert, KindStream, false},
		{PrivUsage, KindTable, false},
		{PrivOperate, KindQuery, true},
		{PrivSelect, KindQuery, false},
		{PrivUsage, KindStore, true},
		{PrivInsert, KindShare, false},
		{PrivSelect, KindShare, false}, // to a role; recipients get SELECT through share grants
		{PrivUsage, KindRecipient, true},
		{PrivGrant, KindRole, true},
		{PrivGrant, KindUser, false},
		{PrivSelect, "view", false},
	} {
		if got := Applies(tc.p, tc.kind); got != tc.want {
			t.Errorf("Applies(%s, %s) = %v, want %v", tc.p, tc.kind, got, tc.want)
		}
	}
	if got := strings.Join(Names(Grantable(KindQuery)), " "); got != "DESCRIBE MONITOR OPERATE GRANT OWNERSHIP ALL" {
		t.Errorf("Grantable(query) = %s", got)
	}
}

// TestImplies: what a privilege gives besides itself.
func TestImplies(t *testing.T) {
	for p, want := range map[Privilege]string{
		PrivSelect: "DESCRIBE", PrivInsert: "DESCRIBE", PrivAlter: "DESCRIBE", PrivGrant: "DESCRIBE",
		PrivOperate: "MONITOR DESCRIBE", PrivMonitor: "DESCRIBE",
		PrivUsage: "", PrivCreate: "", PrivDrop: "", PrivDescribe: "",
	} {
		if got := strings.Join(Names(Implies(p)), " "); got != want {
			t.Errorf("Implies(%s) = %q, want %q", p, got, want)
		}
	}
}
