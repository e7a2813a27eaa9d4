// Package policy makes Sluice's authorization decisions, with an embedded
// Open Policy Agent evaluating a default Rego policy, and keeps their audit
// trail.
//
// # Model
//
// A Request asks whether a Principal (a user, a share recipient or a worker,
// with its effective roles: see ExpandRoles) may perform an Action on the
// last node of a Path. The path runs from the root of the catalog to the
// target — [database sales, schema eu, table orders] — and each Node carries
// the grants made on it (role, privilege), which the catalog supplies.
//
// # Default policy
//
// The policy, rego/sluice.rego (Rego v1), is embedded. In prose: deny by
// default; the admin role may do anything; an action needs USAGE on every
// ancestor of the target and the action's privilege on the target, granted
// there or on an ancestor (a grant on a database covers its schemas and
// relations) — except that a USAGE grant covers only its own node; OWNERSHIP
// covers every privilege, ALL every privilege but OWNERSHIP, and both
// inherit down; CREATE is checked on the parent of the object to be
// created. A denial's reason names the first failed check, root first:
// "missing SELECT on table sales.eu.orders (or an ancestor)", "missing USAGE
// on schema sales.eu". Operators extend the policy with modules in package
// sluice.authz that add to the deny set (each message becomes the reason),
// or replace it (WithoutDefaultPolicy); see docs/policy.md.
//
// Share recipients (PrincipalRecipient) hold no roles and none of the rules
// above apply to them: a recipient may only SELECT, on [share] when the
// share node's Recipients hold it, or on [share, database, schema, table]
// when the table node's Shares also hold that share — a table is reachable
// only through a share granted to the recipient (the Delta Sharing server,
// serve/sharing, builds these paths).
//
// # Design: one query per request, checks per node in Rego
//
// OPA decides per node, but is queried once per request: the input holds the
// whole path and the Rego computes one check per node (USAGE on each
// ancestor, the action on the target), with inheritance across nodes. One
// query per node would pay OPA's fixed cost of an evaluation (most of a
// small policy's cost) once per node and could not see inheritance without
// passing the ancestors anyway. To keep that single evaluation small:
//
//   - the query is prepared once (rego.PrepareForEval) and swapped
//     atomically by Reload;
//   - the input is built directly as an ast.Value (rego.EvalParsedInput): no
//     JSON round trip;
//   - only the grants to the principal's roles are passed (the default
//     policy reads no other), so a database granted to hundreds of roles
//     costs the policy nothing; WithAllGrants turns this off;
//   - each node also carries "privileges", the set of privileges its grants
//     give the principal's roles, computed in Go: the Rego's checks are a few
//     set-membership tests per node, with no loop over grants, while the
//     rules themselves (inheritance, OWNERSHIP and ALL, USAGE, admin, deny,
//     reasons) stay in the Rego;
//   - the Rego avoids user-defined functions and comprehensions on the hot
//     path;
//   - decisions are cached (WithDecisionCache, an LRU of DefaultCacheSize)
//     under a SHA-256 of the whole policy input, one cache per compiled
//     policy (Reload starts afresh), so a cached decision is exactly what
//     the policy would decide again; policies calling nondeterministic
//     builtins are not cached. Cached decisions are audited like the others.
//
// Measured figures are in docs/policy.md (BenchmarkDecide).
//
// # Failing closed
//
// Decide denies whenever it cannot decide: an invalid request, a cancelled
// context, an evaluation error (builtin errors are strict), or a policy that
// leaves data.sluice.authz.decision undefined or malformed. The error is
// returned and its text is the decision's reason.
//
// # Audit
//
// Every decision, allowed or denied, is sent to a Sink as an Event: time,
// principal ("kind:name"), action, target path, outcome, reason, policy
// revision and latency. Events hold no secret: no credentials, grants or
// roles. JSONLSink appends JSON lines to a file (see its doc for the fsync
// policy); MemorySink keeps them for tests.
package policy
