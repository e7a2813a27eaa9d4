# Sluice's default authorization policy.
#
# Input (built by package policy from a policy.Request):
#
#   {
#     "principal": {"kind": "user", "name": "alice", "roles": ["analyst", ...]},
#     "action":    "SELECT",
#     "path": [
#       {"kind": "database", "name": "sales",  "fqn": "sales",           "grants": [{"role": "analyst", "privilege": "USAGE"}],  "privileges": {"USAGE"}},
#       {"kind": "schema",   "name": "eu",     "fqn": "sales.eu",        "grants": [],                                         "privileges": set()},
#       {"kind": "table",    "name": "orders", "fqn": "sales.eu.orders", "grants": [{"role": "analyst", "privilege": "SELECT"}], "privileges": {"SELECT"}}
#     ]
#   }
#
# privileges is the set of privileges granted on the node to one of the
# principal's roles, computed by the engine from the node's grants (the
# rules below read it, not grants, so they never loop over grants).
#
# principal.roles are the effective roles (already expanded through
# role-of-role grants). The query is data.sluice.authz.decision, an object
# {"allow": bool, "reason": string}.
#
# Rules, in prose:
#   - deny by default;
#   - the admin role may do anything (operator deny rules still apply);
#   - an action on the target node needs USAGE on every ancestor of the target
#     and the action's privilege on the target; every check is made per node;
#   - a privilege granted on a node covers all its descendants, except USAGE,
#     which covers only the node it is granted on;
#   - OWNERSHIP covers every privilege, ALL every privilege but OWNERSHIP;
#   - CREATE: the path ends at the object to be created, and CREATE is needed
#     on its parent (top-level objects only by admin);
#   - operators add rules to the "deny" set in this package to forbid what the
#     rules above allow; each deny message becomes the reason;
#   - a share recipient (principal kind "recipient") holds no roles: none of
#     the rules above apply to it. It may only SELECT, through a share granted
#     to it: the path starts at that share (see "Share recipients" below).
package sluice.authz

# The principal's effective roles, as a set (for extensions).
roles := {r | some r in input.principal.roles}

is_admin if "admin" in input.principal.roles

# Index in input.path of the node the action is checked on. For CREATE the
# last node is the object to be created, and the check is on its parent.
target := count(input.path) - 2 if {
	input.action == "CREATE"
} else := count(input.path) - 1

# covering[p]: the privileges whose grant on a node satisfies p there.
# OWNERSHIP covers everything, ALL everything but OWNERSHIP. (Literal
# constants: a comprehension would be evaluated again for every query.)
covering := {
	"USAGE": {"USAGE", "OWNERSHIP", "ALL"},
	"CREATE": {"CREATE", "OWNERSHIP", "ALL"},
	"SELECT": {"SELECT", "OWNERSHIP", "ALL"},
	"INSERT": {"INSERT", "OWNERSHIP", "ALL"},
	"DROP": {"DROP", "OWNERSHIP", "ALL"},
	"ALTER": {"ALTER", "OWNERSHIP", "ALL"},
	"DESCRIBE": {"DESCRIBE", "OWNERSHIP", "ALL"},
	"MONITOR": {"MONITOR", "OWNERSHIP", "ALL"},
	"OPERATE": {"OPERATE", "OWNERSHIP", "ALL"},
	"GRANT": {"GRANT", "OWNERSHIP", "ALL"},
	"OWNERSHIP": {"OWNERSHIP"},
}

# inherited_covering[p]: the privileges whose grant on an ancestor satisfies
# p on a node. A USAGE grant covers only its own node (USAGE on a database
# does not open its schemas); OWNERSHIP and ALL, which cover USAGE, inherit
# like every other privilege.
inherited_covering := {
	"USAGE": {"OWNERSHIP", "ALL"},
	"CREATE": {"CREATE", "OWNERSHIP", "ALL"},
	"SELECT": {"SELECT", "OWNERSHIP", "ALL"},
	"INSERT": {"INSERT", "OWNERSHIP", "ALL"},
	"DROP": {"DROP", "OWNERSHIP", "ALL"},
	"ALTER": {"ALTER", "OWNERSHIP", "ALL"},
	"DESCRIBE": {"DESCRIBE", "OWNERSHIP", "ALL"},
	"MONITOR": {"MONITOR", "OWNERSHIP", "ALL"},
	"OPERATE": {"OPERATE", "OWNERSHIP", "ALL"},
	"GRANT": {"GRANT", "OWNERSHIP", "ALL"},
	"OWNERSHIP": {"OWNERSHIP"},
}

# granted[j]: the privileges granted to one of the principal's roles on
# path node j itself. The engine computes them from the grants (whatever
# WithAllGrants says) and passes them as the set input.path[j].privileges,
# so no rule below loops over grants. (Kept for extensions; the rules below
# read input.path[j].privileges directly.)
granted := [n.privileges | some n in input.path]

# strong: the path nodes on which the principal holds OWNERSHIP or ALL,
# which cover USAGE on every descendant.
strong contains j if {
	some j, n in input.path
	n.privileges.OWNERSHIP
}

strong contains j if {
	some j, n in input.path
	n.privileges.ALL
}

# missing: indexes of the path nodes whose check fails. There is one check
# per node up to the target: USAGE on each ancestor of the target, the
# action on the target. Each check is a few set-membership tests: no
# comprehension, no user function (both cost far more per call).
missing contains i if {
	some i, n in input.path
	i < target
	not n.privileges.USAGE
	not n.privileges.OWNERSHIP
	not n.privileges.ALL
	not below_strong[i]
}

missing contains target if {
	target >= 0
	covering[input.action]
	not held_on_target
	not held_on_ancestor
}

# below_strong: the path nodes with OWNERSHIP or ALL held on a strict
# ancestor.
below_strong contains i if {
	some j in strong
	some i, _ in input.path
	j < i
}

# held_on_target: a privilege covering the action is held on the target.
held_on_target if {
	some p in input.path[target].privileges
	covering[input.action][p]
}

# held_on_ancestor: a privilege covering the action is held on an ancestor.
held_on_ancestor if {
	some j, n in input.path
	j < target
	some p in n.privileges
	inherited_covering[input.action][p]
}

# An action the policy does not know is never allowed.
missing contains target if not covering[input.action]

# Operators extend this set from their own modules; see docs/policy.md.
deny contains msg if {
	false
	msg := ""
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
# rules still apply (they see every node of the path).

is_recipient if input.principal.kind == "recipient"

recipient_allow if {
	is_recipient
	input.action == "SELECT"
	input.path[0].kind == "share"
	input.principal.name in input.path[0].recipients
	recipient_path_ok
}

recipient_path_ok if count(input.path) == 1

recipient_path_ok if {
	count(input.path) == 4
	input.path[1].kind == "database"
	input.path[2].kind == "schema"
	input.path[3].kind == "table"
	input.path[0].name in input.path[3].shares
}

default base_allow := false

base_allow if {
	not is_recipient
	is_admin
}

base_allow if {
	not is_recipient
	target >= 0
	count(missing) == 0
}

base_allow if recipient_allow

default allow := false

allow if {
	base_allow
	count(deny) == 0
}

label(i) := sprintf("%s %s", [input.path[i].kind, input.path[i].fqn])

# The reason names the privilege and node of the first failed check;
# " (or an ancestor)" says that a grant on an ancestor would have done too.
# (label and scope are kept for extensions; reason inlines them.)
scope(i, p) := " (or an ancestor)" if {
	i > 0
	p != "USAGE"
} else := ""

reason := "" if {
	allow
} else := concat("; ", deny) if {
	count(deny) > 0
} else := msg if {
	is_recipient
	msg := sprintf("recipient %s may only SELECT tables of a share granted to it, through that share", [input.principal.name])
} else := msg if {
	target < 0
	msg := sprintf("missing CREATE: creating top-level %s needs the admin role", [label(count(input.path) - 1)])
} else := msg if {
	min(missing) == target
	n := input.path[target]
	msg := sprintf("missing %s on %s %s%s", [input.action, n.kind, n.fqn, ancestor_note])
} else := msg if {
	n := input.path[min(missing)]
	msg := sprintf("missing USAGE on %s %s", [n.kind, n.fqn])
} else := "denied by policy"

# ancestor_note: a grant on an ancestor would have satisfied the failed
# check on the target (USAGE is not inherited).
ancestor_note := " (or an ancestor)" if {
	target > 0
	input.action != "USAGE"
} else := ""

decision := {"allow": allow, "reason": reason}
