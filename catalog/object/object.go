// Package object is the vocabulary of the catalog, shared by the SQL parser,
// the catalog and the policy engine: the kinds of object and the privileges
// granted on them. A kind's value is what the catalog stores and the policy
// sees ("table"); Keyword is how SQL writes it (TABLE).
package object

import (
	"slices"
	"strings"
)

// Kind names a kind of catalog object.
type Kind string

// The object kinds.
const (
	KindDatabase  Kind = "database"  // a top-level namespace
	KindSchema    Kind = "schema"    // a namespace in a database
	KindStream    Kind = "stream"    // a relation in a schema: a Kafka topic's records
	KindTable     Kind = "table"     // a relation in a schema: a Delta table
	KindStore     Kind = "store"     // a Kafka cluster (and its schema registry)
	KindShare     Kind = "share"     // a set of relations shared with recipients
	KindQuery     Kind = "query"     // a running (persistent) query
	KindUser      Kind = "user"      // a user, as the object of an action
	KindRole      Kind = "role"      // a role, as the object of an action
	KindRecipient Kind = "recipient" // a share recipient, as the object of an action

	// KindRelation matches a stream or a table where either is accepted
	// (the catalog's path resolution, grants of SELECT). It is not in Kinds.
	KindRelation Kind = "relation"
)

// Kinds lists every kind of object (KindRelation, which stands for two,
// aside).
var Kinds = []Kind{KindDatabase, KindSchema, KindStream, KindTable, KindStore, KindShare, KindQuery, KindUser, KindRole, KindRecipient}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { return slices.Contains(Kinds, k) }

// Keyword is the kind as SQL writes it: DATABASE, TABLE, ...
func (k Kind) Keyword() string { return strings.ToUpper(string(k)) }

// Privilege is a right granted to a role (or, SELECT on a share, to a
// recipient) on an object, as SQL writes it. Each privilege but ALL is also
// the action it allows: the policy decides requests for Privileges.
type Privilege string

// The privileges, and the statements they allow (checked on the path of the
// statement's object).
const (
	// PrivUsage: USE DATABASE/SCHEMA, and what every ancestor of a target
	// needs.
	PrivUsage Privilege = "USAGE"
	// PrivCreate: CREATE <kind> <name>, checked on the parent.
	PrivCreate Privilege = "CREATE"
	// PrivSelect: SELECT, subscribing to a stream, reading a share.
	PrivSelect Privilege = "SELECT"
	// PrivInsert: INSERT, a pipeline writing into a table.
	PrivInsert Privilege = "INSERT"
	// PrivOwnership: GRANT OWNERSHIP (transfer). OWNERSHIP held covers every
	// other privilege on the node and its descendants.
	PrivOwnership Privilege = "OWNERSHIP"
	// PrivDrop: DROP <kind> <name>.
	PrivDrop Privilege = "DROP"
	// PrivAlter: ALTER <kind> <name> (rename, set properties, schema changes).
	PrivAlter Privilege = "ALTER"
	// PrivDescribe: DESCRIBE and SHOW of the node's metadata.
	PrivDescribe Privilege = "DESCRIBE"
	// PrivMonitor: SHOW QUERIES, metrics and lag of a node's queries.
	PrivMonitor Privilege = "MONITOR"
	// PrivOperate: PAUSE, RESUME and TERMINATE QUERY.
	PrivOperate Privilege = "OPERATE"
	// PrivGrant: GRANT and REVOKE of privileges (other than OWNERSHIP) on the
	// node.
	PrivGrant Privilege = "GRANT"
	// PrivAll, granted, stands for every privilege but OWNERSHIP. It is not
	// in Privileges: no request asks for ALL.
	PrivAll Privilege = "ALL"
)

// Privileges lists every privilege a request can ask for (PrivAll aside).
var Privileges = []Privilege{PrivUsage, PrivCreate, PrivSelect, PrivInsert, PrivDrop, PrivAlter, PrivDescribe, PrivMonitor, PrivOperate, PrivGrant, PrivOwnership}

// Valid reports whether p is one of Privileges.
func (p Privilege) Valid() bool { return slices.Contains(Privileges, p) }

// Grantable returns the privileges that mean something on an object of
// kind k, PrivAll last: those its statements are decided on, and, on a
// database or schema, those of the objects under it (a grant inherits down
// the tree). It is the one table of what can be granted where: the SQL
// parser refuses the others (GRANT INSERT ON SHARE), the catalog refuses to
// store them and the policy engine counts them for nothing. nil for an
// unknown kind.
//
//	database, schema  every privilege (for itself and what it holds)
//	stream            SELECT DROP ALTER DESCRIBE GRANT OWNERSHIP
//	table             SELECT INSERT DROP ALTER DESCRIBE MONITOR OPERATE GRANT OWNERSHIP
//	                  (MONITOR and OPERATE: the query writing it)
//	query             DESCRIBE MONITOR OPERATE GRANT OWNERSHIP
//	store             USAGE (CREATE STREAM on it) DROP DESCRIBE GRANT OWNERSHIP
//	share             USAGE ALTER DROP DESCRIBE GRANT OWNERSHIP
//	recipient         USAGE (granting shares to it) ALTER DROP DESCRIBE GRANT OWNERSHIP
//	user              ALTER DROP DESCRIBE OWNERSHIP
//	role              GRANT (granting the role) DROP DESCRIBE OWNERSHIP
func Grantable(k Kind) []Privilege {
	if k == KindRelation {
		k = KindTable // a stream's privileges are a subset of a table's
	}
	return grantable[k]
}

// Applies reports whether p (ALL included) can be granted on kind k.
func Applies(p Privilege, k Kind) bool { return slices.Contains(Grantable(k), p) }

// grantable lists, per kind, the privileges of Privileges (in that order)
// that mean something there, and ALL.
var grantable = func() map[Kind][]Privilege {
	every := slices.Clone(Privileges)
	some := func(ps ...Privilege) []Privilege {
		var out []Privilege
		for _, p := range Privileges {
			if slices.Contains(ps, p) {
				out = append(out, p)
			}
		}
		return out
	}
	m := map[Kind][]Privilege{
		KindDatabase:  every,
		KindSchema:    every,
		KindStream:    some(PrivSelect, PrivDrop, PrivAlter, PrivDescribe, PrivGrant, PrivOwnership),
		KindTable:     some(PrivSelect, PrivInsert, PrivDrop, PrivAlter, PrivDescribe, PrivMonitor, PrivOperate, PrivGrant, PrivOwnership),
		KindQuery:     some(PrivDescribe, PrivMonitor, PrivOperate, PrivGrant, PrivOwnership),
		KindStore:     some(PrivUsage, PrivDrop, PrivDescribe, PrivGrant, PrivOwnership),
		KindShare:     some(PrivUsage, PrivDrop, PrivAlter, PrivDescribe, PrivGrant, PrivOwnership),
		KindRecipient: some(PrivUsage, PrivDrop, PrivAlter, PrivDescribe, PrivGrant, PrivOwnership),
		KindUser:      some(PrivDrop, PrivAlter, PrivDescribe, PrivOwnership),
		KindRole:      some(PrivDrop, PrivDescribe, PrivGrant, PrivOwnership),
	}
	for k, ps := range m {
		m[k] = append(slices.Clone(ps), PrivAll)
	}
	return m
}()

// Implies returns the privileges that holding p also gives, on the same
// node and, as p does, below it; OWNERSHIP (everything) and ALL
// (everything but OWNERSHIP) aside, which the policy itself expands:
//
//	SELECT, INSERT, ALTER, GRANT  ⇒ DESCRIBE: whoever reads, writes,
//	                                changes or hands out an object sees
//	                                its metadata (SELECT already shows
//	                                the columns; GRANT needs SHOW GRANTS)
//	OPERATE                       ⇒ MONITOR and DESCRIBE: pausing a query
//	                                one cannot watch makes no sense
//	MONITOR                       ⇒ DESCRIBE
//
// Nothing implies USAGE, CREATE, SELECT, INSERT, DROP, ALTER, OPERATE or
// GRANT: each of those is granted explicitly. See docs/policy.md for why.
func Implies(p Privilege) []Privilege { return implies[p] }

var implies = map[Privilege][]Privilege{
	PrivSelect:  {PrivDescribe},
	PrivInsert:  {PrivDescribe},
	PrivAlter:   {PrivDescribe},
	PrivGrant:   {PrivDescribe},
	PrivOperate: {PrivMonitor, PrivDescribe},
	PrivMonitor: {PrivDescribe},
}

// Names returns ps as strings, for messages.
func Names(ps []Privilege) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}
