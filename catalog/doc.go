// Package catalog is Sluice's catalog: databases, schemas, streams and
// tables, Kafka stores, queries, users, roles, grants, shares and recipients,
// persisted transactionally.
//
// The namespace is hierarchical: a [Database] holds [Schema]s, a schema holds
// [Relation]s (streams and tables). Stores, queries, users, roles, shares and
// recipients are top level. Users and roles share one namespace of
// principals, so a name in the role graph is never ambiguous.
//
// Every change runs in one transaction through [Catalog.Update]; reads run in
// [Catalog.View]. A DDL statement maps to one Update: it happens entirely or
// not at all. Persistence goes through the [Backend] interface: [OpenSQLite]
// is the embedded implementation (pure Go, no cgo), [OpenPostgres] the one
// several servers can share (SERIALIZABLE writes, retried on serialization
// failures). The SQL the catalog issues is portable (ANSI types, `?`
// placeholders that a backend rebinds, WITH RECURSIVE), and the migrations
// are the same on both.
//
// Secrets never enter the catalog in plaintext: store properties that hold
// secrets must be references (env:NAME or file:/path), and user and
// recipient tokens are kept only as SHA-256 hashes. The plaintext token is
// returned once, when it is created or rotated.
package catalog
