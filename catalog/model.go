package catalog

import (
	"encoding/json"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
)

// QueryState is the desired state of a query's pipeline.
type QueryState string

// The query states.
const (
	QueryRunning    QueryState = "running"
	QueryPaused     QueryState = "paused"
	QueryTerminated QueryState = "terminated"
)

// AdminRole is the built-in role created by the first migration. It owns
// objects created without an explicit owner and cannot be dropped.
const AdminRole = "admin"

// The built-in roles for day-to-day administration, created by the second
// migration, so that admin is for emergencies (their rights are the
// policy's, see docs/policy.md):
//   - SecurityAdminRole grants and revokes privileges (not OWNERSHIP) and
//     roles (not admin) on everything, describes everything, creates roles;
//   - UserAdminRole creates users and recipients, which it then owns.
const (
	SecurityAdminRole = "securityadmin"
	UserAdminRole     = "useradmin"
)

// BuiltinRoles are the roles that cannot be dropped.
var BuiltinRoles = []string{AdminRole, SecurityAdminRole, UserAdminRole}

// Database is the top of the namespace: it holds schemas.
type Database struct {
	ID         string            // stable UUID
	Name       string            // identifier, unique case-insensitively
	Owner      string            // owning role; AdminRole if empty at creation
	Created    time.Time         // creation time, UTC
	Comment    string            `json:",omitempty"`
	Properties map[string]string `json:",omitempty"`
}

// Schema is a namespace of relations inside a database.
type Schema struct {
	ID         string
	Database   string // name of the parent database
	Name       string
	Owner      string
	Created    time.Time
	Comment    string            `json:",omitempty"`
	Properties map[string]string `json:",omitempty"`
}

// Column is one column of a relation.
type Column struct {
	Name     string
	Type     string // DDL type as written, e.g. "DECIMAL(10,2)" or "STRUCT<a INT>"
	Nullable bool
}

// Relation is a stream or a table in a schema.
//
// A stream reads a Kafka topic through a Store, decoding values in
// ValueFormat. A table is a Delta table at Location; it is written by the
// query QueryID (CREATE TABLE AS SELECT) or is External (CREATE TABLE ...
// LOCATION), never both. Table properties include partitioned.by,
// flush.interval, target.file.size and kms.key.
type Relation struct {
	ID         string
	Database   string
	Schema     string
	Name       string
	Kind       object.Kind // object.KindStream or object.KindTable
	Owner      string
	Created    time.Time
	Columns    []Column          `json:",omitempty"`
	Properties map[string]string `json:",omitempty"`

	// Stream only.
	Store       string `json:",omitempty"` // name of the Kafka Store
	Topic       string `json:",omitempty"`
	ValueFormat string `json:",omitempty"` // e.g. json, avro, protobuf, raw

	// Table only.
	Location string `json:",omitempty"` // table URI: path, file:// or s3://
	QueryID  string `json:",omitempty"` // the query that writes the table
	External bool   `json:",omitempty"` // created with LOCATION, not written by Sluice
}

// Path is the relation's dotted path, database.schema.name.
func (r Relation) Path() string { return r.Database + "." + r.Schema + "." + r.Name }

// Store is a named Kafka connection that streams read from. Properties are
// client settings (bootstrap.servers, security.protocol, ...). Properties
// whose key names a secret (containing password, secret, token, credential
// or jaas) must hold a reference, env:NAME or file:/absolute/path, resolved
// by the worker at run time; the catalog refuses plaintext secrets.
type Store struct {
	ID         string
	Name       string
	Type       string // e.g. "kafka"
	Owner      string
	Created    time.Time
	Properties map[string]string `json:",omitempty"`
}

// Query is a continuous query (CREATE TABLE AS SELECT): its SQL, the table it
// writes, the compiled pipeline spec and the state the operator wants it in.
type Query struct {
	ID      string // UUID, also its name
	SQL     string
	Table   string          // database.schema.table it writes
	Spec    json.RawMessage `json:",omitempty"` // compiled pipeline spec
	State   QueryState
	Owner   string
	Created time.Time
}

// User is a person or service that authenticates with a bearer token.
type User struct {
	ID        string
	Name      string
	Owner     string
	Created   time.Time
	Rotated   time.Time // last token rotation; zero if never rotated
	TokenHash string    // hex SHA-256 of the current token
}

// Role is a named set of privileges, granted to users and other roles.
type Role struct {
	ID      string
	Name    string
	Owner   string
	Created time.Time
	Comment string `json:",omitempty"`
}

// RoleGrant records that Role is granted to Member, a user or a role.
type RoleGrant struct {
	Role       string
	Member     string
	MemberKind object.Kind // object.KindUser or object.KindRole
	Created    time.Time
}

// Grant gives Role a privilege on one object.
type Grant struct {
	ID         string
	Privilege  object.Privilege
	ObjectKind object.Kind
	ObjectID   string
	Object     string // display path, e.g. sales.eu.orders
	Role       string
	Created    time.Time
}

// Share is a named set of tables offered to recipients over Delta Sharing.
type Share struct {
	ID      string
	Name    string
	Owner   string
	Created time.Time
	Comment string       `json:",omitempty"`
	Tables  []ShareTable `json:"-"` // filled by GetShare
}

// ShareTable is a table added to a share, exposed as ShareSchema.Alias.
type ShareTable struct {
	Table       string // database.schema.table
	TableID     string
	ShareSchema string // schema name inside the share
	Alias       string // table name inside the share; the table's name if empty
	WithHistory bool   // recipients may read the change data feed / time travel
	// Filter is the per-recipient filter (package sharefilter), as
	// canonical SQL: an AND of equalities on partition columns; "" for none.
	Filter string
	Added  time.Time
}

// Recipient is a Delta Sharing consumer. It authenticates with a bearer
// token; during a rotation's grace period both the old and new token work,
// so Tokens may hold more than one.
type Recipient struct {
	ID         string
	Name       string
	Owner      string
	Created    time.Time
	Properties map[string]string `json:",omitempty"` // settings: token.ttl, ip_allow and free-form ones
	// SharingProperties are the recipient properties of WITH PROPERTIES
	// (...): what CURRENT_RECIPIENT('key') reads in share filters.
	SharingProperties map[string]string `json:",omitempty"`
	Tokens            []RecipientToken  `json:"-"`
}

// RecipientToken is one valid token of a recipient, by hash.
type RecipientToken struct {
	Hash    string // hex SHA-256
	Created time.Time
	Expires time.Time // zero: never
}

// ShareGrant gives a recipient read access to a share.
type ShareGrant struct {
	Share     string
	Recipient string
	Created   time.Time
}

// Node is one object on a resolved path, with the grants on it: the input an
// authorizer needs to decide on that object.
type Node struct {
	Kind   object.Kind
	ID     string
	Name   string
	Path   string // dotted path from the root
	Owner  string // owning role
	Grants []Grant
}
