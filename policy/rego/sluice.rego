# Sluice's default authorization policy.
#
# OPA is asked once per node of a request's path, root first: "may the
# principal pass this node on the way to the action?". The engine stops at
# the first node denied; the request is allowed when every node allows it.
#
# Input (built by package policy from a policy.Request), for the check of
# node 1 of a SELECT on sales.eu.orders:
#
#   {
#     "principal": {"kind": "user", "name": "alice", "roles": ["analyst", ...]},
#     "action":    "SELECT",
#     "path": [
#       {"kind": "database", "name": "sales",  "fqn": "sales",           "grants": [...], "privileges": {"USAGE"},  "inherited": set()},
#       {"kind": "schema",   "name": "eu",     "fqn": "sales.eu",        "grants": [...], "privileges": set(),      "inherited": {"USAGE"}},
#       {"kind": "table",    "name": "orders", "fqn": "sales.eu.orders", "grants": [...], "privileges": {"SELECT"}, "inherited": {"USAGE"}}
#     ],
#     "node":  1,   # index in path of the node this evaluation checks
#     "depth": 3    # count(input.path)
#   }
#
# On the paths of the sharing server, a table node may also carry "filter"
# (the share's per-recipient filter of the table, canonical SQL, enforced
# by the server on every file) and a recipient principal "properties" (its
# recipient properties, an object); the rules below do not read them,
# operator deny rules may.
#
# A node's "privileges" is the set of privileges granted on it to one of the
# principal's roles, and "inherited" the union of its ancestors'
# "privileges"; the engine computes both from the grants (whatever
# WithAllGrants says), so no rule below loops over grants or over the path.
# principal.roles are the effective roles (already expanded through
# role-of-role grants). The query is data.sluice.authz.decision, an object
# {"allow": bool, "reason": string}.
#
# The engine specialises this policy with OPA's partial evaluation for each
# request shape (principal kind, action, node, depth) and evaluates the
# residual, so a rule that depends only on those costs nothing per request.
# That is why the rules below avoid "else" (a rule with "else" is not
# partially evaluated) and read the path length as input.depth, and why
# "decision" is two rules on "allow" rather than one object holding it with
# "allow" defaulting to false: a rule with a default is kept whole as a rule
# of its own, while these are inlined, so that a residual is one flat rule
# whose bodies OPA's rule index picks by the privileges the node holds.
#
# Rules, in prose:
#   - deny by default;
#   - the admin role may do anything (operator deny rules still apply);
#   - the built-in securityadmin and useradmin roles may do what their
#     section below says, whatever was granted;
#   - an action on the target node needs USAGE on every namespace above the
#     target (the database and schema, the first two nodes) and the action's
#     privilege on the target: each is the check of one node; a deeper
#     ancestor (a query's table, on [database, schema, table, query])
#     needs nothing of its own;
#   - a privilege granted on a node covers all its descendants, except USAGE,
#     which covers only the node it is granted on;
#   - OWNERSHIP covers every privilege, ALL every privilege but OWNERSHIP;
#   - CREATE: the path ends at the object to be created, and CREATE is needed
#     on its parent (top-level objects only by admin); the new object's own
#     node needs nothing;
#   - operators add rules to the "deny" set in this package to forbid what the
#     rules above allow; each deny message becomes the reason;
#   - a share recipient (principal kind "recipient") holds no roles: none of
#     the rules above apply to it. It may only SELECT, through a share granted
#     to it: the path starts at that share (see "Share recipients" below).
package sluice.authz

# The principal's effective roles, as a set (for extensions).
roles := {r | some r in input.principal.roles}

is_admin if "admin" in input.principal.roles

is_recipient if input.principal.kind == "recipient"

# node: the path node this evaluation checks.
node := input.path[input.node]

# Index in input.path of the node the action is checked on. For CREATE the
# last node is the object to be created, and the check is on its parent.
target := input.depth - 2 if input.action == "CREATE"

target := input.depth - 1 if input.action != "CREATE"

# need: the privilege the checked node needs. USAGE on an ancestor of the
# target, the action on the target, nothing ("") on the object a CREATE
# makes. Undefined for a top-level CREATE (no parent to hold CREATE on).
need := "USAGE" if {
	input.node < target
	input.node < 2
}

# Below the namespaces (database, schema) an ancestor is an object in its
# own right: the table a query writes, on the query's path. It needs
# nothing to pass; its grants inherit to the target as any ancestor's do.
need := "" if {
	input.node < target
	input.node >= 2
}

need := input.action if input.node == target

need := "" if {
	target >= 0
	input.node > target
}

# The actions the policy knows; any other is never allowed.
known_action if input.action in {
	"USAGE", "CREATE", "SELECT", "INSERT", "DROP", "ALTER",
	"DESCRIBE", "MONITOR", "OPERATE", "GRANT", "OWNERSHIP",
}

# held: a privilege covering need is granted on the node itself, or one that
# inherits is granted on an ancestor. OWNERSHIP covers everything and ALL
# everything but OWNERSHIP, on the node and below it; a USAGE grant covers
# only its own node.
held if node.privileges[need]

held if node.privileges.OWNERSHIP

held if {
	need != "OWNERSHIP"
	node.privileges.ALL
}

held if {
	need != "USAGE"
	node.inherited[need]
}

held if node.inherited.OWNERSHIP

held if {
	need != "OWNERSHIP"
	node.inherited.ALL
}

# Operators extend this set from their own modules; see docs/policy.md.
deny contains msg if {
	false
	msg := ""
}

# allow: every body holds the deny set empty, so that a partial evaluation
# with no operator deny rules leaves one flat rule. Undefined (not false)
# when the request is denied: test it with "not allow".
allow if {
	not is_recipient
	is_admin
	count(deny) == 0
}

allow if {
	not is_recipient
	need == ""
	count(deny) == 0
}

allow if {
	not is_recipient
	known_action
	held
	count(deny) == 0
}

allow if {
	recipient_allow
	count(deny) == 0
}

allow if {
	not is_recipient
	builtin_allow
	count(deny) == 0
}

# ---- Built-in administration roles ----
#
# securityadmin manages access: it may GRANT (and REVOKE) every privilege
# but OWNERSHIP, and every role but admin, on every object, DESCRIBE every
# object (SHOW GRANTS), create roles and drop them, and pass USAGE on
# recipients (to grant shares to them). It needs no grant on the path: each
# node passes. It reads and changes no data and transfers no ownership.
#
# useradmin manages identities: it may create users and recipients; the
# catalog makes it their owner, so OWNERSHIP lets it describe, rotate and
# drop those (and only those: not the users admin owns).

is_securityadmin if "securityadmin" in input.principal.roles

is_useradmin if "useradmin" in input.principal.roles

builtin_allow if {
	is_securityadmin
	input.action == "DESCRIBE"
}

builtin_allow if {
	is_securityadmin
	input.action == "GRANT"
	input.path[target].kind != "role"
}

builtin_allow if {
	is_securityadmin
	input.action == "GRANT"
	input.path[target].name != "admin"
}

builtin_allow if {
	is_securityadmin
	input.action in {"CREATE", "DROP"}
	input.depth == 1
	input.path[0].kind == "role"
	input.path[0].name != "admin"
}

builtin_allow if {
	is_securityadmin
	input.action == "USAGE"
	input.depth == 1
	input.path[0].kind == "recipient"
}

builtin_allow if {
	is_useradmin
	input.action == "CREATE"
	input.depth == 1
	input.path[0].kind in {"user", "recipient"}
}

# ---- Share recipients (the Delta Sharing server) ----
#
# A recipient may SELECT, and nothing else, on one of two paths:
#
#   [share s]                                   the share itself (listing it,
#                                               its schemas)
#   [share s, database d, schema c, table t]    a table of the share, with the
#                                               catalog nodes it lives under
#
# The share node carries "recipients": the principal must be one of them
# (the share is granted to it). The table node carries "shares": the share
# must be one of them, so a table is reachable only through a share it is
# in. Roles, grants and admin do not count for recipients; operator deny
# rules still apply (they see every node of the path). The rule is the same
# on every node of the path.

recipient_allow if {
	is_recipient
	input.action == "SELECT"
	input.path[0].kind == "share"
	input.principal.name in input.path[0].recipients
	recipient_path_ok
}

recipient_path_ok if input.depth == 1

recipient_path_ok if {
	input.depth == 4
	input.path[1].kind == "database"
	input.path[2].kind == "schema"
	input.path[3].kind == "table"
	input.path[0].name in input.path[3].shares
}

# reason: why the request is denied, when it is (decision reads it only
# then). It names the privilege and the node of the failed check;
# " (or an ancestor)" says that a grant on an ancestor would have done too
# (USAGE is not inherited). The bodies exclude each other.
ancestor_note := " (or an ancestor)" if {
	input.node > 0
	need != "USAGE"
}

ancestor_note := "" if input.node == 0

ancestor_note := "" if need == "USAGE"

reason := concat("; ", deny) if {
	count(deny) > 0
}

reason := msg if {
	count(deny) == 0
	is_recipient
	msg := sprintf("recipient %s may only SELECT tables of a share granted to it, through that share", [input.principal.name])
}

reason := msg if {
	count(deny) == 0
	not is_recipient
	target < 0
	msg := sprintf("missing CREATE: creating top-level %s %s needs the admin role", [node.kind, node.fqn])
}

reason := msg if {
	count(deny) == 0
	not is_recipient
	target >= 0
	msg := concat("", ["missing ", need, " on ", node.kind, " ", node.fqn, ancestor_note])
}

decision := {"allow": true, "reason": ""} if allow

decision := {"allow": false, "reason": reason} if not allow
