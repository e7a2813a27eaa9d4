package exec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
)

// grant is one privilege on one object, given to a test role through the
// catalog (SQL cannot grant on stores, users, roles or queries). The
// privilege "ROLE" grants the role named by path instead.
type grant struct {
	priv object.Privilege
	kind object.Kind
	path string
}

const grantRole object.Privilege = "ROLE"

var (
	usageSales  = grant{object.PrivUsage, object.KindDatabase, "sales"}
	usageEU     = grant{object.PrivUsage, object.KindSchema, "sales.eu"}
	allSales    = grant{object.PrivAll, object.KindDatabase, "sales"}
	allEU       = grant{object.PrivAll, object.KindSchema, "sales.eu"}
	selectBig   = grant{object.PrivSelect, object.KindTable, "sales.eu.big"}
	allPartners = grant{object.PrivAll, object.KindShare, "partners"}
	allAcme     = grant{object.PrivAll, object.KindRecipient, "acme"}
	usageAcme   = grant{object.PrivUsage, object.KindRecipient, "acme"}
	usageKafka1 = grant{object.PrivUsage, object.KindStore, "kafka1"}
)

// authzCase is one statement of the authorization matrix, run as alice
// (who holds role r1) in four catalogs that differ in r1's grants:
//
//	denied     base only: the statement is denied with reason
//	role       base and need, granted to r1
//	inherited  base to r1, need to r2, r2 granted to r1
//	ancestor   base and ancestor to r1 (when a grant on an ancestor covers
//	           the target; nil when inheritance does not apply)
//
// A denied statement leaves the catalog as it was, and each of hidden (the
// statement on a name that does not exist, or is of another kind) is
// denied with the reason given there: existence is not revealed.
type authzCase struct {
	stmt     string
	base     []grant
	need     []grant
	ancestor []grant
	reason   string
	hidden   map[string]string
	// list marks a SHOW that filters rather than denies: denied, it lists
	// nothing; allowed, something.
	list bool
}

// authzMatrix covers every statement kind the executor runs. {q} stands
// for the id of the query writing sales.eu.big, {golden} for the URI of a
// golden Delta table.
var authzMatrix = []authzCase{
	// CREATE
	{stmt: "CREATE DATABASE newdb", need: []grant{{grantRole, "", "admin"}},
		reason: "missing CREATE: creating top-level database newdb needs the admin role",
		hidden: map[string]string{"CREATE DATABASE sales": "missing CREATE: creating top-level database sales needs the admin role"}},
	{stmt: "CREATE SCHEMA sales.new", need: []grant{{object.PrivCreate, object.KindDatabase, "sales"}},
		reason: "missing CREATE on database sales",
		hidden: map[string]string{"CREATE SCHEMA sales.eu": "missing CREATE on database sales"}},
	{stmt: "CREATE STREAM sales.eu.new (a INT) WITH ('store' = 'kafka1', 'topic' = 't')",
		base: []grant{usageSales, usageKafka1}, need: []grant{{object.PrivCreate, object.KindSchema, "sales.eu"}},
		ancestor: []grant{{object.PrivCreate, object.KindDatabase, "sales"}},
		reason:   "missing CREATE on schema sales.eu (or an ancestor)",
		hidden: map[string]string{
			"CREATE STREAM sales.eu.orders (a INT) WITH ('store' = 'kafka1', 'topic' = 't')": "missing CREATE on schema sales.eu (or an ancestor)",
			"CREATE STREAM sales.nothing.s (a INT) WITH ('store' = 'kafka1', 'topic' = 't')": "missing CREATE on schema sales.nothing (or an ancestor)"}},
	{stmt: "CREATE TABLE sales.eu.new AS SELECT id FROM orders",
		base:     []grant{usageSales, usageEU, {object.PrivSelect, object.KindStream, "sales.eu.orders"}},
		need:     []grant{{object.PrivCreate, object.KindSchema, "sales.eu"}},
		ancestor: []grant{{object.PrivCreate, object.KindDatabase, "sales"}},
		reason:   "missing CREATE on schema sales.eu (or an ancestor)",
		hidden:   map[string]string{"CREATE TABLE sales.eu.big AS SELECT id FROM orders": "missing CREATE on schema sales.eu (or an ancestor)"}},
	{stmt: "CREATE TABLE sales.eu.new AS SELECT id FROM orders",
		base:     []grant{usageSales, usageEU, {object.PrivCreate, object.KindSchema, "sales.eu"}},
		need:     []grant{{object.PrivSelect, object.KindStream, "sales.eu.orders"}},
		ancestor: []grant{{object.PrivSelect, object.KindSchema, "sales.eu"}},
		reason:   "missing SELECT on stream sales.eu.orders (or an ancestor)",
		hidden: map[string]string{
			"CREATE TABLE sales.eu.new AS SELECT id FROM nothing": "missing SELECT on stream sales.eu.nothing (or an ancestor)",
			"CREATE TABLE sales.eu.new AS SELECT id FROM big":     "missing SELECT on stream sales.eu.big (or an ancestor)"}},
	{stmt: "CREATE TABLE sales.eu.new LOCATION '{golden}'",
		base: []grant{usageSales}, need: []grant{{object.PrivCreate, object.KindSchema, "sales.eu"}},
		ancestor: []grant{{object.PrivCreate, object.KindDatabase, "sales"}},
		reason:   "missing CREATE on schema sales.eu (or an ancestor)",
		hidden:   map[string]string{"CREATE TABLE sales.eu.ext LOCATION 'file:///nothere'": "missing CREATE on schema sales.eu (or an ancestor)"}},
	{stmt: "CREATE USER dave", need: []grant{{grantRole, "", "admin"}},
		reason: "missing CREATE: creating top-level user dave needs the admin role",
		hidden: map[string]string{"CREATE USER carol": "missing CREATE: creating top-level user carol needs the admin role"}},
	{stmt: "CREATE ROLE newrole", need: []grant{{grantRole, "", "admin"}},
		reason: "missing CREATE: creating top-level role newrole needs the admin role",
		hidden: map[string]string{"CREATE ROLE target": "missing CREATE: creating top-level role target needs the admin role"}},
	{stmt: "CREATE STORE kafka3 WITH ('type' = 'kafka')", need: []grant{{grantRole, "", "admin"}},
		reason: "missing CREATE: creating top-level store kafka3 needs the admin role",
		hidden: map[string]string{"CREATE STORE kafka1 WITH ('type' = 'kafka')": "missing CREATE: creating top-level store kafka1 needs the admin role"}},

	// DROP
	{stmt: "DROP DATABASE scratch", need: []grant{{object.PrivAll, object.KindDatabase, "scratch"}},
		reason: "missing DROP on database scratch",
		hidden: map[string]string{"DROP DATABASE nothing": "missing DROP on database nothing", "DROP DATABASE IF EXISTS nothing": "missing DROP on database nothing"}},
	{stmt: "DROP SCHEMA sales.tmp", base: []grant{usageSales},
		need: []grant{{object.PrivAll, object.KindSchema, "sales.tmp"}}, ancestor: []grant{allSales},
		reason: "missing DROP on schema sales.tmp (or an ancestor)",
		hidden: map[string]string{"DROP SCHEMA sales.nothing": "missing DROP on schema sales.nothing (or an ancestor)"}},
	{stmt: "DROP STREAM sales.eu.clicks", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindStream, "sales.eu.clicks"}}, ancestor: []grant{allEU},
		reason: "missing DROP on stream sales.eu.clicks (or an ancestor)",
		hidden: map[string]string{"DROP STREAM sales.eu.nothing": "missing DROP on stream sales.eu.nothing (or an ancestor)",
			"DROP STREAM sales.eu.big": "missing DROP on stream sales.eu.big (or an ancestor)"}},
	{stmt: "DROP TABLE sales.eu.big", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allEU},
		reason: "missing DROP on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"DROP TABLE sales.eu.nothing": "missing DROP on table sales.eu.nothing (or an ancestor)",
			"DROP TABLE sales.eu.orders": "missing DROP on table sales.eu.orders (or an ancestor)"}},
	{stmt: "DROP TABLE sales.eu.big PURGE", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allSales},
		reason: "missing DROP on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"DROP TABLE sales.eu.ext PURGE": "missing DROP on table sales.eu.ext (or an ancestor)"}},
	{stmt: "DROP USER carol", need: []grant{{object.PrivAll, object.KindUser, "carol"}},
		reason: "missing DROP on user carol",
		hidden: map[string]string{"DROP USER nobody": "missing DROP on user nobody", "DROP USER target": "missing DROP on user target"}},
	{stmt: "DROP ROLE target", need: []grant{{object.PrivAll, object.KindRole, "target"}},
		reason: "missing DROP on role target",
		hidden: map[string]string{"DROP ROLE nothing": "missing DROP on role nothing", "DROP ROLE carol": "missing DROP on role carol"}},
	{stmt: "DROP STORE kafka2", need: []grant{{object.PrivAll, object.KindStore, "kafka2"}},
		reason: "missing DROP on store kafka2",
		hidden: map[string]string{"DROP STORE nothing": "missing DROP on store nothing"}},

	// GRANT and REVOKE
	{stmt: "GRANT ROLE target TO USER carol", need: []grant{{object.PrivAll, object.KindRole, "target"}},
		reason: "missing GRANT on role target",
		hidden: map[string]string{"GRANT ROLE nothing TO USER carol": "missing GRANT on role nothing"}},
	{stmt: "REVOKE ROLE target FROM USER bob", need: []grant{{object.PrivAll, object.KindRole, "target"}},
		reason: "missing GRANT on role target",
		hidden: map[string]string{"REVOKE ROLE nothing FROM USER bob": "missing GRANT on role nothing"}},
	{stmt: "GRANT USAGE ON DATABASE sales TO ROLE target", need: []grant{allSales},
		reason: "missing GRANT on database sales",
		hidden: map[string]string{"GRANT USAGE ON DATABASE nothing TO ROLE target": "missing GRANT on database nothing"}},
	{stmt: "GRANT USAGE, CREATE ON SCHEMA sales.eu TO ROLE target", base: []grant{usageSales},
		need: []grant{allEU}, ancestor: []grant{allSales},
		reason: "missing GRANT on schema sales.eu (or an ancestor)",
		hidden: map[string]string{"GRANT USAGE ON SCHEMA sales.nothing TO ROLE target": "missing GRANT on schema sales.nothing (or an ancestor)"}},
	{stmt: "GRANT SELECT ON STREAM sales.eu.orders TO ROLE target", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindStream, "sales.eu.orders"}}, ancestor: []grant{allEU},
		reason: "missing GRANT on stream sales.eu.orders (or an ancestor)",
		hidden: map[string]string{"GRANT SELECT ON STREAM sales.eu.nothing TO ROLE target": "missing GRANT on stream sales.eu.nothing (or an ancestor)",
			"GRANT SELECT ON STREAM sales.eu.big TO ROLE target": "missing GRANT on stream sales.eu.big (or an ancestor)"}},
	{stmt: "GRANT SELECT, INSERT ON TABLE sales.eu.big TO ROLE target", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allSales},
		reason: "missing GRANT on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"GRANT SELECT ON TABLE sales.eu.orders TO ROLE target": "missing GRANT on table sales.eu.orders (or an ancestor)"}},
	{stmt: "REVOKE SELECT ON TABLE sales.eu.big FROM ROLE target", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allEU},
		reason: "missing GRANT on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"REVOKE SELECT ON TABLE sales.eu.nothing FROM ROLE target": "missing GRANT on table sales.eu.nothing (or an ancestor)"}},
	// ALL does not cover OWNERSHIP: base holds ALL on the table.
	{stmt: "GRANT OWNERSHIP ON TABLE sales.eu.big TO ROLE target",
		base:     []grant{usageSales, usageEU, {object.PrivAll, object.KindTable, "sales.eu.big"}},
		need:     []grant{{object.PrivOwnership, object.KindTable, "sales.eu.big"}},
		ancestor: []grant{{object.PrivOwnership, object.KindSchema, "sales.eu"}},
		reason:   "missing OWNERSHIP on table sales.eu.big (or an ancestor)",
		hidden:   map[string]string{"GRANT OWNERSHIP ON TABLE sales.eu.nothing TO ROLE target": "missing OWNERSHIP on table sales.eu.nothing (or an ancestor)"}},

	// SHOW
	{stmt: "SHOW GRANTS ON DATABASE sales", need: []grant{allSales},
		reason: "missing DESCRIBE on database sales",
		hidden: map[string]string{"SHOW GRANTS ON DATABASE nothing": "missing DESCRIBE on database nothing"}},
	{stmt: "SHOW GRANTS ON SCHEMA sales.eu", base: []grant{usageSales}, need: []grant{allEU}, ancestor: []grant{allSales},
		reason: "missing DESCRIBE on schema sales.eu (or an ancestor)",
		hidden: map[string]string{"SHOW GRANTS ON SCHEMA sales.nothing": "missing DESCRIBE on schema sales.nothing (or an ancestor)"}},
	{stmt: "SHOW GRANTS ON STREAM sales.eu.orders", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindStream, "sales.eu.orders"}}, ancestor: []grant{allEU},
		reason: "missing DESCRIBE on stream sales.eu.orders (or an ancestor)",
		hidden: map[string]string{"SHOW GRANTS ON STREAM sales.eu.big": "missing DESCRIBE on stream sales.eu.big (or an ancestor)"}},
	{stmt: "SHOW GRANTS ON TABLE sales.eu.big", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allEU},
		reason: "missing DESCRIBE on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"SHOW GRANTS ON TABLE sales.eu.nothing": "missing DESCRIBE on table sales.eu.nothing (or an ancestor)"}},
	{stmt: "SHOW GRANTS TO ROLE target", need: []grant{{object.PrivAll, object.KindRole, "target"}},
		reason: "missing DESCRIBE on role target",
		hidden: map[string]string{"SHOW GRANTS TO ROLE nothing": "missing DESCRIBE on role nothing"}},
	{stmt: "SHOW GRANTS TO USER bob", need: []grant{{object.PrivAll, object.KindUser, "bob"}},
		reason: "missing DESCRIBE on user bob",
		hidden: map[string]string{"SHOW GRANTS TO USER nobody": "missing DESCRIBE on user nobody"}},
	{stmt: "SHOW SCHEMAS IN sales", need: []grant{usageSales},
		reason: "missing USAGE on database sales",
		hidden: map[string]string{"SHOW SCHEMAS IN nothing": "missing USAGE on database nothing"}},
	{stmt: "SHOW STREAMS IN sales.eu", base: []grant{usageSales}, need: []grant{usageEU}, ancestor: []grant{allSales},
		reason: "missing USAGE on schema sales.eu",
		hidden: map[string]string{"SHOW STREAMS IN sales.nothing": "missing USAGE on schema sales.nothing"}},
	{stmt: "SHOW TABLES IN sales.eu", base: []grant{usageSales}, need: []grant{usageEU}, ancestor: []grant{allSales},
		reason: "missing USAGE on schema sales.eu",
		hidden: map[string]string{"SHOW TABLES IN sales.nothing": "missing USAGE on schema sales.nothing"}},
	{stmt: "SHOW DATABASES", need: []grant{usageSales}, list: true},
	{stmt: "SHOW SCHEMAS", base: []grant{usageSales}, need: []grant{usageEU}, ancestor: []grant{allSales}, list: true},
	{stmt: "SHOW STREAMS", base: []grant{usageSales}, need: []grant{usageEU}, ancestor: []grant{allSales}, list: true},
	{stmt: "SHOW TABLES", base: []grant{usageSales}, need: []grant{usageEU}, ancestor: []grant{allSales}, list: true},
	{stmt: "SHOW TABLE STATUS IN sales.eu", base: []grant{usageSales}, need: []grant{usageEU}, ancestor: []grant{allSales},
		reason: "missing USAGE on schema sales.eu",
		hidden: map[string]string{"SHOW TABLE STATUS IN sales.nothing LIKE 'b%'": "missing USAGE on schema sales.nothing"}},
	{stmt: "SHOW TABLE STATUS", base: []grant{usageSales}, need: []grant{usageEU}, ancestor: []grant{allSales}, list: true},
	// SHOW STORES, USERS and ROLES list what the principal may DESCRIBE:
	// USAGE on a store is not enough.
	{stmt: "SHOW STORES", base: []grant{{object.PrivUsage, object.KindStore, "kafka1"}},
		need: []grant{{object.PrivAll, object.KindStore, "kafka1"}}, list: true},
	{stmt: "SHOW USERS", need: []grant{{object.PrivAll, object.KindUser, "carol"}}, list: true},
	{stmt: "SHOW ROLES", need: []grant{{object.PrivOwnership, object.KindRole, "target"}}, list: true},
	// SHOW QUERIES lists a query to those with MONITOR on the table it writes.
	{stmt: "SHOW QUERIES", base: []grant{usageSales, usageEU}, need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allEU}, list: true},

	// DESCRIBE
	{stmt: "DESCRIBE DATABASE sales", need: []grant{allSales},
		reason: "missing DESCRIBE on database sales",
		hidden: map[string]string{"DESCRIBE DATABASE nothing": "missing DESCRIBE on database nothing"}},
	{stmt: "DESCRIBE sales.eu", base: []grant{usageSales}, need: []grant{allEU}, ancestor: []grant{allSales},
		reason: "missing DESCRIBE on schema sales.eu (or an ancestor)",
		hidden: map[string]string{"DESCRIBE SCHEMA sales.nothing": "missing DESCRIBE on schema sales.nothing (or an ancestor)"}},
	{stmt: "DESCRIBE STREAM sales.eu.orders", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindStream, "sales.eu.orders"}}, ancestor: []grant{allEU},
		reason: "missing DESCRIBE on stream sales.eu.orders (or an ancestor)",
		hidden: map[string]string{"DESCRIBE STREAM sales.eu.big": "missing DESCRIBE on stream sales.eu.big (or an ancestor)"}},
	{stmt: "DESCRIBE sales.eu.big", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allSales},
		reason: "missing DESCRIBE on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"DESCRIBE sales.eu.nothing": "missing DESCRIBE on table sales.eu.nothing (or an ancestor)",
			"DESCRIBE TABLE sales.eu.nothing": "missing DESCRIBE on table sales.eu.nothing (or an ancestor)"}},
	{stmt: "DESCRIBE STORE kafka1", need: []grant{{object.PrivAll, object.KindStore, "kafka1"}},
		reason: "missing DESCRIBE on store kafka1",
		hidden: map[string]string{"DESCRIBE STORE nothing": "missing DESCRIBE on store nothing"}},
	{stmt: "DESCRIBE kafka1", need: []grant{{object.PrivAll, object.KindStore, "kafka1"}},
		reason: "missing DESCRIBE on database kafka1",
		hidden: map[string]string{"DESCRIBE nothing": "missing DESCRIBE on database nothing"}},
	{stmt: "DESCRIBE USER carol", need: []grant{{object.PrivAll, object.KindUser, "carol"}},
		reason: "missing DESCRIBE on user carol",
		hidden: map[string]string{"DESCRIBE USER nobody": "missing DESCRIBE on user nobody", "DESCRIBE USER target": "missing DESCRIBE on user target"}},
	{stmt: "DESCRIBE ROLE target", need: []grant{{object.PrivAll, object.KindRole, "target"}},
		reason: "missing DESCRIBE on role target",
		hidden: map[string]string{"DESCRIBE ROLE nothing": "missing DESCRIBE on role nothing"}},
	{stmt: `DESCRIBE QUERY "{q}"`, base: []grant{usageSales, usageEU}, need: []grant{{object.PrivAll, object.KindQuery, "{q}"}},
		ancestor: []grant{{object.PrivMonitor, object.KindTable, "sales.eu.big"}},
		reason:   "missing DESCRIBE on query sales.eu.big.{q} (or an ancestor)",
		hidden:   map[string]string{`DESCRIBE QUERY "00000000-0000-4000-8000-000000000000"`: "missing DESCRIBE on query 00000000-0000-4000-8000-000000000000"}},
	{stmt: `DESCRIBE "{q}"`, base: []grant{usageSales, usageEU}, need: []grant{{object.PrivDescribe, object.KindQuery, "{q}"}},
		ancestor: []grant{{object.PrivDescribe, object.KindDatabase, "sales"}},
		reason:   "missing DESCRIBE on query sales.eu.big.{q} (or an ancestor)",
		hidden:   map[string]string{`DESCRIBE "00000000-0000-4000-8000-000000000000"`: "missing DESCRIBE on query 00000000-0000-4000-8000-000000000000"}},
	{stmt: "DESCRIBE SHARE partners", need: []grant{{object.PrivAll, object.KindShare, "partners"}},
		reason: "missing DESCRIBE on share partners",
		hidden: map[string]string{"DESCRIBE SHARE nothing": "missing DESCRIBE on share nothing"}},
	{stmt: "DESCRIBE RECIPIENT acme", need: []grant{{object.PrivAll, object.KindRecipient, "acme"}},
		reason: "missing DESCRIBE on recipient acme",
		hidden: map[string]string{"DESCRIBE RECIPIENT nothing": "missing DESCRIBE on recipient nothing"}},

	// Queries: decided on the table the query writes; a query that does
	// not exist is a bare query node (only admin passes).
	{stmt: `PAUSE QUERY "{q}"`, base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allEU},
		reason: "missing OPERATE on query sales.eu.big.{q} (or an ancestor)",
		hidden: map[string]string{`PAUSE QUERY "00000000-0000-4000-8000-000000000000"`: "missing OPERATE on query 00000000-0000-4000-8000-000000000000"}},
	{stmt: `RESUME QUERY "{q}"`, base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allSales},
		reason: "missing OPERATE on query sales.eu.big.{q} (or an ancestor)",
		hidden: map[string]string{`RESUME QUERY "00000000-0000-4000-8000-000000000000"`: "missing OPERATE on query 00000000-0000-4000-8000-000000000000"}},
	{stmt: `TERMINATE QUERY "{q}"`, base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allEU},
		reason: "missing OPERATE on query sales.eu.big.{q} (or an ancestor)",
		hidden: map[string]string{`TERMINATE QUERY "00000000-0000-4000-8000-000000000000"`: "missing OPERATE on query 00000000-0000-4000-8000-000000000000"}},
	// USAGE on the database and schema alone is not OPERATE.
	{stmt: `pause query "{q}"`, base: []grant{usageSales, usageEU, {object.PrivSelect, object.KindTable, "sales.eu.big"}},
		need: []grant{{object.PrivOwnership, object.KindTable, "sales.eu.big"}}, ancestor: []grant{{object.PrivOwnership, object.KindDatabase, "sales"}},
		reason: "missing OPERATE on query sales.eu.big.{q} (or an ancestor)"},

	// Shares and recipients
	{stmt: "CREATE SHARE newshare", need: []grant{{grantRole, "", "admin"}},
		reason: "missing CREATE: creating top-level share newshare needs the admin role",
		hidden: map[string]string{"CREATE SHARE partners": "missing CREATE: creating top-level share partners needs the admin role"}},
	{stmt: "CREATE RECIPIENT newrc", need: []grant{{grantRole, "", "admin"}},
		reason: "missing CREATE: creating top-level recipient newrc needs the admin role",
		hidden: map[string]string{"CREATE RECIPIENT acme": "missing CREATE: creating top-level recipient acme needs the admin role"}},
	{stmt: "ALTER SHARE partners ADD TABLE sales.eu.big", base: []grant{usageSales, usageEU, selectBig},
		need:   []grant{allPartners},
		reason: "missing ALTER on share partners",
		hidden: map[string]string{"ALTER SHARE nothing ADD TABLE sales.eu.big": "missing ALTER on share nothing"}},
	{stmt: "ALTER SHARE partners ADD TABLE sales.eu.big AS eu.orders WITH HISTORY", base: []grant{usageSales, usageEU, allPartners},
		need: []grant{selectBig}, ancestor: []grant{{object.PrivSelect, object.KindSchema, "sales.eu"}},
		reason: "missing SELECT on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"ALTER SHARE partners ADD TABLE sales.eu.nothing": "missing SELECT on table sales.eu.nothing (or an ancestor)",
			"ALTER SHARE partners ADD TABLE sales.eu.orders": "missing SELECT on table sales.eu.orders (or an ancestor)"}},
	{stmt: "ALTER TABLE sales.eu.big SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 7 days')", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivAll, object.KindTable, "sales.eu.big"}}, ancestor: []grant{allEU},
		reason: "missing ALTER on table sales.eu.big (or an ancestor)",
		hidden: map[string]string{"ALTER TABLE sales.eu.nothing UNSET TBLPROPERTIES ('sluice.upkeep')": "missing ALTER on table sales.eu.nothing (or an ancestor)"}},
	{stmt: "ALTER SHARE partners REMOVE TABLE sales.eu.ext", need: []grant{allPartners},
		reason: "missing ALTER on share partners",
		hidden: map[string]string{"ALTER SHARE nothing REMOVE TABLE sales.eu.ext": "missing ALTER on share nothing"}},
	{stmt: "DROP SHARE partners", need: []grant{allPartners},
		reason: "missing DROP on share partners",
		hidden: map[string]string{"DROP SHARE nothing": "missing DROP on share nothing", "DROP SHARE IF EXISTS acme": "missing DROP on share acme"}},
	{stmt: "DROP RECIPIENT acme", need: []grant{allAcme},
		reason: "missing DROP on recipient acme",
		hidden: map[string]string{"DROP RECIPIENT nothing": "missing DROP on recipient nothing", "DROP RECIPIENT partners": "missing DROP on recipient partners"}},
	{stmt: "GRANT SELECT ON SHARE partners TO RECIPIENT acme", base: []grant{usageAcme}, need: []grant{allPartners},
		reason: "missing GRANT on share partners",
		hidden: map[string]string{"GRANT SELECT ON SHARE nothing TO RECIPIENT acme": "missing GRANT on share nothing"}},
	{stmt: "GRANT SELECT ON SHARE partners TO RECIPIENT acme", base: []grant{allPartners}, need: []grant{usageAcme},
		reason: "missing USAGE on recipient acme",
		hidden: map[string]string{"GRANT SELECT ON SHARE partners TO RECIPIENT nothing": "missing USAGE on recipient nothing"}},
	{stmt: "REVOKE SELECT ON SHARE partners FROM RECIPIENT globex", base: []grant{{object.PrivUsage, object.KindRecipient, "globex"}}, need: []grant{allPartners},
		reason: "missing GRANT on share partners",
		hidden: map[string]string{"REVOKE SELECT ON SHARE nothing FROM RECIPIENT globex": "missing GRANT on share nothing"}},
	{stmt: "REVOKE SELECT ON SHARE partners FROM RECIPIENT globex", base: []grant{allPartners}, need: []grant{{object.PrivUsage, object.KindRecipient, "globex"}},
		reason: "missing USAGE on recipient globex",
		hidden: map[string]string{"REVOKE SELECT ON SHARE partners FROM RECIPIENT nothing": "missing USAGE on recipient nothing"}},
	{stmt: "ALTER RECIPIENT acme ROTATE TOKEN WITH ('grace' = '1h')", need: []grant{allAcme},
		reason: "missing ALTER on recipient acme",
		hidden: map[string]string{"ALTER RECIPIENT nothing ROTATE TOKEN": "missing ALTER on recipient nothing"}},
	{stmt: "SHOW SHARES", need: []grant{{object.PrivUsage, object.KindShare, "partners"}}, list: true},
	{stmt: "SHOW RECIPIENTS", need: []grant{usageAcme}, list: true},
	{stmt: "SHOW GRANTS ON SHARE partners", need: []grant{allPartners},
		reason: "missing DESCRIBE on share partners",
		hidden: map[string]string{"SHOW GRANTS ON SHARE nothing": "missing DESCRIBE on share nothing"}},
	{stmt: "SHOW GRANTS TO RECIPIENT acme", need: []grant{allAcme},
		reason: "missing DESCRIBE on recipient acme",
		hidden: map[string]string{"SHOW GRANTS TO RECIPIENT nothing": "missing DESCRIBE on recipient nothing"}},
	{stmt: "GRANT USAGE ON SHARE partners TO ROLE target", need: []grant{allPartners},
		reason: "missing GRANT on share partners",
		hidden: map[string]string{"GRANT USAGE ON SHARE nothing TO ROLE target": "missing GRANT on share nothing"}},
	{stmt: "REVOKE USAGE ON SHARE partners FROM ROLE target", need: []grant{allPartners},
		reason: "missing GRANT on share partners",
		hidden: map[string]string{"REVOKE USAGE ON SHARE nothing FROM ROLE target": "missing GRANT on share nothing"}},
	{stmt: "GRANT USAGE ON RECIPIENT acme TO ROLE target", base: []grant{usageAcme}, need: []grant{allAcme},
		reason: "missing GRANT on recipient acme",
		hidden: map[string]string{"GRANT USAGE ON RECIPIENT nothing TO ROLE target": "missing GRANT on recipient nothing",
			"GRANT USAGE ON RECIPIENT partners TO ROLE target": "missing GRANT on recipient partners"}},
	{stmt: "REVOKE USAGE ON RECIPIENT globex FROM ROLE target", need: []grant{{object.PrivAll, object.KindRecipient, "globex"}},
		reason: "missing GRANT on recipient globex",
		hidden: map[string]string{"REVOKE USAGE ON RECIPIENT nothing FROM ROLE target": "missing GRANT on recipient nothing"}},
	{stmt: "GRANT OWNERSHIP ON RECIPIENT acme TO ROLE target", base: []grant{allAcme},
		need:   []grant{{object.PrivOwnership, object.KindRecipient, "acme"}},
		reason: "missing OWNERSHIP on recipient acme",
		hidden: map[string]string{"GRANT OWNERSHIP ON RECIPIENT nothing TO ROLE target": "missing OWNERSHIP on recipient nothing"}},
	{stmt: "SHOW GRANTS ON RECIPIENT acme", base: []grant{usageAcme}, need: []grant{allAcme},
		reason: "missing DESCRIBE on recipient acme",
		hidden: map[string]string{"SHOW GRANTS ON RECIPIENT nothing": "missing DESCRIBE on recipient nothing"}},
	// ALL does not cover OWNERSHIP.
	{stmt: "GRANT OWNERSHIP ON SHARE partners TO ROLE target", base: []grant{allPartners},
		need:   []grant{{object.PrivOwnership, object.KindShare, "partners"}},
		reason: "missing OWNERSHIP on share partners",
		hidden: map[string]string{"GRANT OWNERSHIP ON SHARE nothing TO ROLE target": "missing OWNERSHIP on share nothing"}},

	// ALTER
	{stmt: "ALTER USER carol ROTATE TOKEN", need: []grant{{object.PrivAll, object.KindUser, "carol"}},
		reason: "missing ALTER on user carol",
		hidden: map[string]string{"ALTER USER nobody ROTATE TOKEN": "missing ALTER on user nobody"}},

	// Every privilege granted as itself (not through ALL), on the node and
	// on an ancestor, on every kind it applies to (TestMatrixCoversPrivileges).
	{stmt: "CREATE STREAM sales.eu.new (a INT) WITH ('store' = 'kafka1', 'topic' = 't')",
		base: []grant{usageSales, {object.PrivCreate, object.KindSchema, "sales.eu"}}, need: []grant{usageKafka1},
		reason: "missing USAGE on store kafka1",
		hidden: map[string]string{"CREATE STREAM sales.eu.new (a INT) WITH ('store' = 'nothing', 'topic' = 't')": "missing USAGE on store nothing"}},
	{stmt: "DESCRIBE TABLE sales.eu.big", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivDescribe, object.KindTable, "sales.eu.big"}}, ancestor: []grant{{object.PrivDescribe, object.KindSchema, "sales.eu"}},
		reason: "missing DESCRIBE on table sales.eu.big (or an ancestor)"},
	// SELECT implies DESCRIBE (object.Implies), on the node and below.
	{stmt: "DESCRIBE STREAM sales.eu.orders", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivSelect, object.KindStream, "sales.eu.orders"}}, ancestor: []grant{{object.PrivSelect, object.KindDatabase, "sales"}},
		reason: "missing DESCRIBE on stream sales.eu.orders (or an ancestor)"},
	{stmt: "DESCRIBE DATABASE sales", need: []grant{{object.PrivDescribe, object.KindDatabase, "sales"}},
		reason: "missing DESCRIBE on database sales"},
	{stmt: "DESCRIBE SCHEMA sales.eu", base: []grant{usageSales}, need: []grant{{object.PrivDescribe, object.KindSchema, "sales.eu"}},
		ancestor: []grant{{object.PrivDescribe, object.KindDatabase, "sales"}},
		reason:   "missing DESCRIBE on schema sales.eu (or an ancestor)"},
	{stmt: "DESCRIBE STORE kafka1", need: []grant{{object.PrivDescribe, object.KindStore, "kafka1"}},
		reason: "missing DESCRIBE on store kafka1"},
	{stmt: "SHOW GRANTS ON SHARE partners", need: []grant{{object.PrivDescribe, object.KindShare, "partners"}},
		reason: "missing DESCRIBE on share partners"},
	{stmt: "DESCRIBE RECIPIENT acme", need: []grant{{object.PrivDescribe, object.KindRecipient, "acme"}},
		reason: "missing DESCRIBE on recipient acme"},
	{stmt: "DESCRIBE ROLE target", need: []grant{{object.PrivDescribe, object.KindRole, "target"}},
		reason: "missing DESCRIBE on role target"},
	{stmt: "SHOW GRANTS TO USER bob", need: []grant{{object.PrivDescribe, object.KindUser, "bob"}},
		reason: "missing DESCRIBE on user bob"},
	{stmt: `SHOW GRANTS ON QUERY "{q}"`, base: []grant{usageSales, usageEU}, need: []grant{{object.PrivDescribe, object.KindQuery, "{q}"}},
		ancestor: []grant{{object.PrivDescribe, object.KindTable, "sales.eu.big"}},
		reason:   "missing DESCRIBE on query sales.eu.big.{q} (or an ancestor)",
		hidden:   map[string]string{`SHOW GRANTS ON QUERY "00000000-0000-4000-8000-000000000000"`: "missing DESCRIBE on query 00000000-0000-4000-8000-000000000000"}},
	{stmt: "DROP TABLE sales.eu.big", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivDrop, object.KindTable, "sales.eu.big"}}, ancestor: []grant{{object.PrivDrop, object.KindSchema, "sales.eu"}},
		reason: "missing DROP on table sales.eu.big (or an ancestor)"},
	{stmt: "DROP STREAM sales.eu.clicks", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivDrop, object.KindStream, "sales.eu.clicks"}}, ancestor: []grant{{object.PrivDrop, object.KindDatabase, "sales"}},
		reason: "missing DROP on stream sales.eu.clicks (or an ancestor)"},
	{stmt: "DROP SCHEMA sales.tmp", base: []grant{usageSales},
		need: []grant{{object.PrivDrop, object.KindSchema, "sales.tmp"}}, ancestor: []grant{{object.PrivDrop, object.KindDatabase, "sales"}},
		reason: "missing DROP on schema sales.tmp (or an ancestor)"},
	{stmt: "DROP DATABASE scratch", need: []grant{{object.PrivDrop, object.KindDatabase, "scratch"}},
		reason: "missing DROP on database scratch"},
	{stmt: "DROP STORE kafka2", need: []grant{{object.PrivDrop, object.KindStore, "kafka2"}},
		reason: "missing DROP on store kafka2"},
	{stmt: "DROP ROLE target", need: []grant{{object.PrivDrop, object.KindRole, "target"}},
		reason: "missing DROP on role target"},
	{stmt: "DROP USER carol", need: []grant{{object.PrivDrop, object.KindUser, "carol"}},
		reason: "missing DROP on user carol"},
	{stmt: "DROP SHARE partners", need: []grant{{object.PrivDrop, object.KindShare, "partners"}},
		reason: "missing DROP on share partners"},
	{stmt: "DROP RECIPIENT acme", need: []grant{{object.PrivDrop, object.KindRecipient, "acme"}},
		reason: "missing DROP on recipient acme"},
	{stmt: "ALTER SHARE partners REMOVE TABLE sales.eu.ext", need: []grant{{object.PrivAlter, object.KindShare, "partners"}},
		reason: "missing ALTER on share partners"},
	{stmt: "ALTER RECIPIENT acme ROTATE TOKEN", need: []grant{{object.PrivAlter, object.KindRecipient, "acme"}},
		reason: "missing ALTER on recipient acme"},
	{stmt: "ALTER RECIPIENT acme SET ('ip_allow' = '10.0.0.0/8')", need: []grant{{object.PrivAlter, object.KindRecipient, "acme"}},
		reason: "missing ALTER on recipient acme",
		hidden: map[string]string{"ALTER RECIPIENT nothing SET ('ip_allow' = '10.0.0.0/8')": "missing ALTER on recipient nothing"}},
	{stmt: "ALTER USER carol ROTATE TOKEN", need: []grant{{object.PrivAlter, object.KindUser, "carol"}},
		reason: "missing ALTER on user carol"},
	{stmt: "GRANT DESCRIBE, MONITOR ON DATABASE sales TO ROLE target", need: []grant{{object.PrivGrant, object.KindDatabase, "sales"}},
		reason: "missing GRANT on database sales"},
	{stmt: "GRANT ALTER, DROP ON SCHEMA sales.eu TO ROLE target", base: []grant{usageSales},
		need: []grant{{object.PrivGrant, object.KindSchema, "sales.eu"}}, ancestor: []grant{{object.PrivGrant, object.KindDatabase, "sales"}},
		reason: "missing GRANT on schema sales.eu (or an ancestor)"},
	{stmt: "GRANT DESCRIBE ON STREAM sales.eu.orders TO ROLE target", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivGrant, object.KindStream, "sales.eu.orders"}}, ancestor: []grant{{object.PrivGrant, object.KindSchema, "sales.eu"}},
		reason: "missing GRANT on stream sales.eu.orders (or an ancestor)"},
	{stmt: "REVOKE SELECT ON TABLE sales.eu.big FROM ROLE target", base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivGrant, object.KindTable, "sales.eu.big"}}, ancestor: []grant{{object.PrivGrant, object.KindDatabase, "sales"}},
		reason: "missing GRANT on table sales.eu.big (or an ancestor)"},
	{stmt: `GRANT MONITOR, OPERATE ON QUERY "{q}" TO ROLE target`, base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivGrant, object.KindQuery, "{q}"}}, ancestor: []grant{{object.PrivGrant, object.KindTable, "sales.eu.big"}},
		reason: "missing GRANT on query sales.eu.big.{q} (or an ancestor)",
		hidden: map[string]string{`GRANT OPERATE ON QUERY "00000000-0000-4000-8000-000000000000" TO ROLE target`: "missing GRANT on query 00000000-0000-4000-8000-000000000000"}},
	{stmt: "GRANT USAGE ON STORE kafka1 TO ROLE target", need: []grant{{object.PrivGrant, object.KindStore, "kafka1"}},
		reason: "missing GRANT on store kafka1",
		hidden: map[string]string{"GRANT USAGE ON STORE nothing TO ROLE target": "missing GRANT on store nothing"}},
	{stmt: "REVOKE USAGE ON SHARE partners FROM ROLE target", need: []grant{{object.PrivGrant, object.KindShare, "partners"}},
		reason: "missing GRANT on share partners"},
	{stmt: "GRANT DESCRIBE ON RECIPIENT acme TO ROLE target", need: []grant{{object.PrivGrant, object.KindRecipient, "acme"}},
		reason: "missing GRANT on recipient acme"},
	{stmt: "GRANT ROLE target TO USER carol", need: []grant{{object.PrivGrant, object.KindRole, "target"}},
		reason: "missing GRANT on role target"},
	{stmt: `PAUSE QUERY "{q}"`, base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivOperate, object.KindQuery, "{q}"}}, ancestor: []grant{{object.PrivOperate, object.KindDatabase, "sales"}},
		reason: "missing OPERATE on query sales.eu.big.{q} (or an ancestor)"},
	{stmt: `TERMINATE QUERY "{q}"`, base: []grant{usageSales, usageEU},
		need: []grant{{object.PrivOperate, object.KindTable, "sales.eu.big"}}, ancestor: []grant{{object.PrivOperate, object.KindSchema, "sales.eu"}},
		reason: "missing OPERATE on query sales.eu.big.{q} (or an ancestor)"},
	// MONITOR on the query or above lists it; OPERATE implies MONITOR.
	{stmt: "SHOW QUERIES", base: []grant{usageSales, usageEU}, need: []grant{{object.PrivMonitor, object.KindQuery, "{q}"}},
		ancestor: []grant{{object.PrivMonitor, object.KindSchema, "sales.eu"}}, list: true},
	{stmt: "SHOW QUERIES", base: []grant{usageSales, usageEU}, need: []grant{{object.PrivMonitor, object.KindTable, "sales.eu.big"}},
		ancestor: []grant{{object.PrivOperate, object.KindDatabase, "sales"}}, list: true},
	{stmt: "GRANT OWNERSHIP ON STORE kafka1 TO ROLE target", base: []grant{{object.PrivAll, object.KindStore, "kafka1"}},
		need:   []grant{{object.PrivOwnership, object.KindStore, "kafka1"}},
		reason: "missing OWNERSHIP on store kafka1"},
}

// matrixFixture creates the objects the matrix statements act on, and
// roles r1 (held by alice), r2 and target (held by bob). It returns the id
// of the query writing sales.eu.big.
func matrixFixture(t *testing.T, ex *exec.Executor, cat *catalog.Catalog) string {
	t.Helper()
	res, err := ex.Execute(context.Background(), user("root"), `CREATE DATABASE sales; CREATE SCHEMA sales.eu; CREATE SCHEMA sales.tmp; CREATE DATABASE scratch;
CREATE STORE kafka1 WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092'); CREATE STORE kafka2 WITH ('type' = 'kafka');
CREATE STREAM sales.eu.orders (id BIGINT NOT NULL, amount DECIMAL(12,2)) WITH ('store' = 'kafka1', 'topic' = 'orders');
CREATE STREAM sales.eu.clicks (id BIGINT) WITH ('store' = 'kafka1', 'topic' = 'clicks');
CREATE TABLE sales.eu.big AS SELECT id FROM orders;
CREATE TABLE sales.eu.ext LOCATION '`+goldenTable(t, "basic-decimal-table")+`';
CREATE USER carol; CREATE ROLE target; CREATE ROLE r1; CREATE ROLE r2;
GRANT ROLE r1 TO USER alice; GRANT ROLE target TO USER bob; GRANT SELECT ON TABLE sales.eu.big TO ROLE target`)
	if err != nil {
		t.Fatal(err)
	}
	err = cat.Update(context.Background(), func(tx *catalog.Tx) error {
		if _, err := tx.CreateShare(catalog.Share{Name: "partners"}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("partners", catalog.ShareTable{Table: "sales.eu.ext"}); err != nil {
			return err
		}
		if _, _, err := tx.CreateRecipient(catalog.Recipient{Name: "acme"}); err != nil {
			return err
		}
		if _, _, err := tx.CreateRecipient(catalog.Recipient{Name: "globex"}); err != nil {
			return err
		}
		if _, err := tx.Grant(object.PrivUsage, object.KindShare, "partners", "target"); err != nil {
			return err
		}
		if _, err := tx.Grant(object.PrivUsage, object.KindRecipient, "globex", "target"); err != nil {
			return err
		}
		_, err := tx.GrantShare("partners", "globex")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res[8].Rows[0][1]
}

// give grants gs to role.
func give(t *testing.T, cat *catalog.Catalog, role string, gs []grant, q string) {
	t.Helper()
	change(t, cat, role, gs, q, false)
}

// take revokes gs from role, as REVOKE does.
func take(t *testing.T, cat *catalog.Catalog, role string, gs []grant, q string) {
	t.Helper()
	change(t, cat, role, gs, q, true)
}

// change grants gs to role, or revokes them.
func change(t *testing.T, cat *catalog.Catalog, role string, gs []grant, q string, revoke bool) {
	t.Helper()
	err := cat.Update(context.Background(), func(tx *catalog.Tx) error {
		for _, g := range gs {
			var err error
			path := strings.ReplaceAll(g.path, "{q}", q)
			switch {
			case g.priv == grantRole && revoke:
				err = tx.RevokeRole(g.path, role)
			case g.priv == grantRole:
				_, err = tx.GrantRole(g.path, role)
			case revoke:
				err = tx.Revoke(g.priv, g.kind, path, role)
			default:
				_, err = tx.Grant(g.priv, g.kind, path, role)
			}
			if err != nil {
				return fmt.Errorf("grant %v to %s (revoke: %v): %w", g, role, revoke, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// caseName names a case by its statement and what it needs, so that two
// cases of one statement differ.
func caseName(tc authzCase) string {
	var b strings.Builder
	b.WriteString(tc.stmt)
	for _, g := range tc.need {
		fmt.Fprintf(&b, " needs %s on %s %s", g.priv, g.kind, g.path)
	}
	return b.String()
}

// TestMatrixCoversPrivileges: every privilege a statement of the executor
// is decided on is the need of some case, granted as itself (not through
// ALL or OWNERSHIP), and on an ancestor where the statement's object has
// one. Every kind is the object of some need. INSERT is decided by no statement of the executor (pipelines write
// their own tables); the policy's matrix covers it.
func TestMatrixCoversPrivileges(t *testing.T) {
	direct, inherited := map[object.Privilege]bool{}, map[object.Privilege]bool{}
	kinds := map[object.Kind]bool{}
	for _, tc := range authzMatrix {
		for _, g := range tc.need {
			direct[g.priv] = true
			kinds[g.kind] = true
		}
		for _, g := range tc.ancestor {
			inherited[g.priv] = true
		}
	}
	for _, p := range object.Privileges {
		if p == object.PrivInsert {
			continue
		}
		if !direct[p] {
			t.Errorf("no case needs %s granted as itself", p)
		}
		// USAGE does not inherit; ALTER is decided only on top-level
		// objects (shares, recipients, users) until ALTER TABLE comes.
		if !inherited[p] && p != object.PrivUsage && p != object.PrivAlter {
			t.Errorf("no case has %s granted on an ancestor", p)
		}
	}
	for _, k := range object.Kinds {
		if !kinds[k] {
			t.Errorf("no case needs a privilege on a %s", k)
		}
	}
}

// dump renders everything the catalog holds, to tell whether a statement
// changed anything.
func dump(t *testing.T, cat *catalog.Catalog) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	err := cat.View(context.Background(), func(tx *catalog.Tx) error {
		var all []any
		dbs, err := tx.ListDatabases()
		if err != nil {
			return err
		}
		all = append(all, dbs)
		for _, d := range dbs {
			scs, err := tx.ListSchemas(d.Name)
			if err != nil {
				return err
			}
			all = append(all, scs)
			for _, sc := range scs {
				rels, err := tx.ListRelations(d.Name, sc.Name)
				if err != nil {
					return err
				}
				all = append(all, rels)
			}
		}
		stores, err := tx.ListStores()
		all = append(all, stores, err)
		queries, err := tx.ListQueries()
		all = append(all, queries, err)
		users, err := tx.ListUsers()
		all = append(all, users, err)
		roles, err := tx.ListRoles()
		all = append(all, roles, err)
		for _, r := range roles {
			gs, err := tx.GrantsTo(r.Name)
			all = append(all, gs, err)
		}
		rgs, err := tx.ListRoleGrants()
		all = append(all, rgs, err)
		shares, err := tx.ListShares()
		all = append(all, shares, err)
		recipients, err := tx.ListRecipients()
		all = append(all, recipients, err)
		for _, rc := range recipients {
			all = append(all, rc.Tokens)
		}
		sgs, err := tx.ListShareGrants()
		all = append(all, sgs, err)
		return enc.Encode(all)
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestAuthorizationMatrix runs every case of authzMatrix in its four
// variants, each on a fresh copy of one fixture catalog (one policy engine
// for all).
func TestAuthorizationMatrix(t *testing.T) {
	sink := &policy.MemorySink{}
	pol, err := policy.New(context.Background(), policy.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	goldenURI := goldenTable(t, "basic-decimal-table")
	fixturePath := filepath.Join(t.TempDir(), "catalog.db")
	fixture := newCatalogAt(t, fixturePath)
	q := matrixFixture(t, exec.New(fixture, pol, exec.WithWarehouse(t.TempDir())), fixture)
	if err := fixture.Close(); err != nil { // writes the WAL back into the file
		t.Fatal(err)
	}
	fixtureDB, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range authzMatrix {
		variants := []string{"denied", "revoked", "role", "inherited", "ancestor"}
		if tc.ancestor == nil {
			variants = variants[:4]
		}
		if slices.ContainsFunc(tc.need, func(g grant) bool { return g.priv == object.PrivOwnership }) {
			variants = slices.Delete(variants, 1, 2) // ownership is transferred, not revoked
		}
		for _, v := range variants {
			t.Run(caseName(tc)+"/"+v, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "catalog.db")
				if err := os.WriteFile(path, fixtureDB, 0o600); err != nil {
					t.Fatal(err)
				}
				cat := openCatalog(t, path)
				ex := exec.New(cat, pol, exec.WithWarehouse(t.TempDir()))
				expand := func(s string) string {
					return strings.NewReplacer("{q}", q, "{golden}", goldenURI).Replace(s)
				}
				give(t, cat, "r1", tc.base, q)
				switch v {
				case "revoked":
					give(t, cat, "r1", tc.need, q)
					take(t, cat, "r1", tc.need, q)
				case "role":
					give(t, cat, "r1", tc.need, q)
				case "inherited":
					give(t, cat, "r2", tc.need, q)
					give(t, cat, "r1", []grant{{grantRole, "", "r2"}}, q)
				case "ancestor":
					give(t, cat, "r1", tc.ancestor, q)
				}
				before := dump(t, cat)
				seen := len(sink.Events())
				res, err := ex.Execute(context.Background(), user("alice"), expand(tc.stmt))
				denied := v == "denied" || v == "revoked"
				auditedAs(t, sink.Events()[seen:], !denied && !tc.list, expand(tc.reason))
				switch {
				case !denied:
					if err != nil {
						t.Fatalf("allowed principal: %v", err)
					}
					if tc.list && len(res[0].Rows) == 0 {
						t.Errorf("allowed principal lists nothing")
					}
					return
				case tc.list:
					if err != nil {
						t.Fatalf("denied principal: %v; want an empty list", err)
					}
					if len(res[0].Rows) != 0 {
						t.Fatalf("denied principal lists %q; want no rows", res[0].Rows)
					}
					return
				}
				checkDenied(t, err, expand(tc.reason))
				for stmt, reason := range tc.hidden {
					_, err := ex.Execute(context.Background(), user("alice"), expand(stmt))
					checkDenied(t, err, expand(reason))
				}
				if after := dump(t, cat); after != before {
					t.Errorf("a denied statement changed the catalog:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// auditedAs checks that the statement's decisions are in the audit log:
// alice's, at least one; when allowed, at least one allowed (a listing or a
// DESCRIBE without a kind also makes denied decisions on what it skips);
// when denied (reason set), one denial with the reason the statement
// failed on.
func auditedAs(t *testing.T, events []policy.Event, allowed bool, reason string) {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("the statement made no audited decision")
	}
	allows := 0
	for _, ev := range events {
		if ev.Principal != "user:alice" {
			t.Errorf("decision audited for %s, want user:alice: %+v", ev.Principal, ev)
		}
		if ev.Allow {
			allows++
		} else if !allowed && reason != "" && ev.Reason == reason {
			return
		}
	}
	if allowed && allows == 0 {
		t.Errorf("an allowed statement has no allowed decision in the audit log: %+v", events)
	}
	if !allowed && reason != "" {
		t.Errorf("no audited denial with reason %q in %+v", reason, events)
	}
}

func checkDenied(t *testing.T, err error, reason string) {
	t.Helper()
	var de *exec.DeniedError
	if !errors.As(err, &de) {
		t.Errorf("err = %v, want a denial: %s", err, reason)
		return
	}
	if de.Reason != reason {
		t.Errorf("reason = %q\nwant     %q", de.Reason, reason)
	}
}
