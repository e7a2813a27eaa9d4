package catalog

import (
	"errors"
	"fmt"
)

// Error classes. Every user-facing error returned by the catalog wraps one of
// them, so callers can test with errors.Is and still show the message, which
// names the object and the fix.
var (
	// ErrNotFound: the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: an object of that name already exists in the parent.
	ErrExists = errors.New("already exists")
	// ErrInvalid: a name, property or argument breaks a rule.
	ErrInvalid = errors.New("invalid")
	// ErrNotEmpty: a drop would orphan children or dependents; use CASCADE.
	ErrNotEmpty = errors.New("not empty")
	// ErrInUse: the object is referenced by another object that CASCADE does
	// not remove (for example a role that still owns objects).
	ErrInUse = errors.New("in use")
	// ErrCycle: a role grant would make the role graph cyclic.
	ErrCycle = errors.New("cycle")
	// ErrUnauthenticated: a token is unknown, expired or malformed.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrConflict: the change kept conflicting with changes other servers
	// made to the catalog at the same time; running it again may succeed.
	ErrConflict = errors.New("conflict")
)

// Error is a user-facing catalog error: Msg is shown as is and Class is one of
// the Err* values above.
type Error struct {
	Class error
	Msg   string
	cause error // the backend's error behind it, if any
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the error class, for errors.Is, and the backend's error
// behind it.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.cause}
}

func errorf(class error, format string, args ...any) error {
	return &Error{Class: class, Msg: fmt.Sprintf(format, args...)}
}
