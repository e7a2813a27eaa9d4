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
var Privileges = []Privilege{PrivUsage, PrivCreate, PrivSelect, PrivInsert, PrivOwnership, PrivDrop, PrivAlter, PrivDescribe, PrivMonitor, PrivOperate, PrivGrant}

// Valid reports whether p is one of Privileges.
func (p Privilege) Valid() bool { return slices.Contains(Privileges, p) }
