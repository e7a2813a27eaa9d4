package object

import "testing"

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
