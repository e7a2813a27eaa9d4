package catalog

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluice-io/sluice/catalog/object"
)

// MaxNameLen is the longest identifier the catalog accepts, in characters.
const MaxNameLen = 128

// ValidateName checks an identifier for an object of the given kind (used in
// the message, e.g. "schema"). Identifiers are letters, digits and _, start
// with a letter or _, and are at most MaxNameLen characters. Uniqueness is
// case-insensitive within the parent; the case given at creation is kept for
// display.
func ValidateName(kind object.Kind, name string) error {
	bad := func(rule string) error {
		return errorf(ErrInvalid, "invalid %s name %q: %s", kind, name, rule)
	}
	switch {
	case name == "":
		return bad("name is empty")
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.Contains(name, ".."):
		return bad(`".." is not allowed; use letters, digits and _`)
	case strings.Contains(name, "/"):
		return bad(`"/" is not allowed; use letters, digits and _`)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return bad(fmt.Sprintf("longer than %d characters (%d)", MaxNameLen, n))
	}
	for i, r := range name {
		switch {
		case unicode.IsControl(r):
			return bad(fmt.Sprintf("control character %U is not allowed", r))
		case i == 0 && unicode.IsDigit(r):
			return bad("must start with a letter or _")
		case r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r):
			return bad(fmt.Sprintf("character %q is not allowed; use letters, digits and _", r))
		}
	}
	return nil
}

// nameKey is the case-insensitive form a name is unique under.
func nameKey(name string) string { return strings.ToLower(name) }

// splitPath splits a dotted path ("db.schema.table") into exactly n parts,
// for an object of the given kind.
func splitPath(kind object.Kind, path string, n int) ([]string, error) {
	parts := strings.Split(path, ".")
	if len(parts) != n || path == "" {
		want := [...]string{"", "name", "database.schema", "database.schema.name"}[n]
		return nil, errorf(ErrInvalid, "invalid %s path %q: want %s", kind, path, want)
	}
	return parts, nil
}
