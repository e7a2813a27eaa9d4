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
// recipient) on an object, as SQL writes it.
type Privilege string

// The privileges.
const (
	PrivUsage     Privilege = "USAGE"
	PrivCreate    Privilege = "CREATE"
	PrivSelect    Privilege = "SELECT"
	PrivInsert    Privilege = "INSERT"
	PrivOwnership Privilege = "OWNERSHIP"
	// PrivAll stands for every privilege but OWNERSHIP.
	PrivAll Privilege = "ALL"
)
