package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-io/sluice/catalog/object"
)

// PrincipalKind says what kind of party a Principal is.
type PrincipalKind string

// The kinds of principal.
const (
	// PrincipalUser is a person or service account of the provider.
	PrincipalUser PrincipalKind = "user"
	// PrincipalRecipient is the consumer side of a share.
	PrincipalRecipient PrincipalKind = "recipient"
	// PrincipalWorker is one of Sluice's own workers (ingest, compaction).
	PrincipalWorker PrincipalKind = "worker"
)

// Principal is the party asking for an action.
type Principal struct {
	// Kind is user, recipient or worker.
	Kind PrincipalKind
	// Name identifies the principal within its kind.
	Name string
	// Roles are the principal's effective roles, already expanded through
	// role-of-role grants (see ExpandRoles).
	Roles []string
	// Properties are a recipient's properties (CREATE RECIPIENT ... WITH
	// PROPERTIES): the policy sees them as the object "properties".
	Properties map[string]string
}

// Action is what the principal wants to do to the last node of a path: a
// privilege's name, as package object defines them (see object.Privilege for
// the statements each allows).
type Action = object.Privilege

// The actions.
const (
	ActionUsage     = object.PrivUsage
	ActionCreate    = object.PrivCreate // checked on the parent of the object to be created
	ActionSelect    = object.PrivSelect
	ActionInsert    = object.PrivInsert
	ActionOwnership = object.PrivOwnership
	ActionDrop      = object.PrivDrop
	ActionAlter     = object.PrivAlter
	ActionDescribe  = object.PrivDescribe
	ActionMonitor   = object.PrivMonitor
	ActionOperate   = object.PrivOperate
	ActionGrant     = object.PrivGrant
)

// Actions lists every valid Action.
var Actions = object.Privileges

// Grant is one privilege granted to one role on a node.
type Grant struct {
	// Role is the grantee.
	Role string
	// Privilege is an Action or object.PrivAll.
	Privilege object.Privilege
}

// Node is one catalog object on a path, with the grants made on it.
type Node struct {
	// Kind is the object's kind.
	Kind object.Kind
	// Name is the object's own name, not qualified: "orders", not
	// "sales.eu.orders". The policy sees the qualified name as "fqn".
	Name string
	// Grants are the privileges granted on this node (not its ancestors).
	// A caller may pass only the grants to the principal's roles; by default
	// the Engine drops the others itself (see WithAllGrants).
	Grants []Grant
	// Recipients, on a share node, are share recipients the share is granted
	// to (the policy sees them as the set "recipients"). A caller may pass
	// only the requesting recipient, when the share is granted to it.
	Recipients []string
	// Shares, on a table node, are the shares the table is in (the set
	// "shares"): a recipient reaches a table only through one of them.
	Shares []string
	// Filter, on a table node reached through a share, is the share's
	// per-recipient filter of the table as canonical SQL (the string
	// "filter"; absent without one). The sharing server enforces it on
	// every file it lists; the policy may deny on it.
	Filter string
}

// Request asks whether a principal may perform an action on the last node of
// a path.
type Request struct {
	// Principal is who asks.
	Principal Principal
	// Action is what they want to do.
	Action Action
	// Path runs from the root to the target: [database sales, schema eu,
	// table orders]. For CREATE it ends at the object to be created.
	Path []Node
}

// ErrInvalidRequest is wrapped by the error of a Request that cannot be
// decided; such a request is denied.
var ErrInvalidRequest = errors.New("invalid authorization request")

// Validate checks that r is well formed: a known principal kind with a name,
// a known action, and a non-empty path of known kinds with names.
func (r Request) Validate() error {
	switch r.Principal.Kind {
	case PrincipalUser, PrincipalRecipient, PrincipalWorker:
	default:
		return fmt.Errorf("%w: unknown principal kind %q", ErrInvalidRequest, r.Principal.Kind)
	}
	if r.Principal.Name == "" {
		return fmt.Errorf("%w: principal has no name", ErrInvalidRequest)
	}
	if !r.Action.Valid() {
		return fmt.Errorf("%w: unknown action %q", ErrInvalidRequest, r.Action)
	}
	if len(r.Path) == 0 {
		return fmt.Errorf("%w: empty path", ErrInvalidRequest)
	}
	for i, n := range r.Path {
		if !n.Kind.Valid() {
			return fmt.Errorf("%w: path[%d]: unknown node kind %q", ErrInvalidRequest, i, n.Kind)
		}
		if n.Name == "" {
			return fmt.Errorf("%w: path[%d]: %s has no name", ErrInvalidRequest, i, n.Kind)
		}
	}
	return nil
}

// QualifiedNames returns, for each node of path, its dotted qualified name:
// "sales", "sales.eu", "sales.eu.orders". A name that holds a dot, a double
// quote or a space is double-quoted, with inner quotes doubled, as in SQL.
func QualifiedNames(path []Node) []string {
	out := make([]string, len(path))
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteIdent(n.Name))
		out[i] = b.String()
	}
	return out
}

func quoteIdent(s string) string {
	if s != "" && !strings.ContainsAny(s, ". \"\t\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// ExpandRoles returns the effective roles of a principal that was granted
// the roles direct: direct and, transitively, every role granted to one of
// them. graph maps a role to the roles granted to it (GRANT ROLE r TO ROLE
// k gives graph[k] containing r). Cycles are harmless. The result is sorted
// and has no duplicates.
func ExpandRoles(graph map[string][]string, direct []string) []string {
	seen := make(map[string]bool, len(direct))
	queue := make([]string, 0, len(direct))
	for _, r := range direct {
		if !seen[r] {
			seen[r] = true
			queue = append(queue, r)
		}
	}
	for len(queue) > 0 {
		r := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, g := range graph[r] {
			if !seen[g] {
				seen[g] = true
				queue = append(queue, g)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
