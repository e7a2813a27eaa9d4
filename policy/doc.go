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
// # Design: one OPA evaluation per node, specialised per request shape
//
// OPA is evaluated on each node of the path, root first, and the first
// node it denies decides the request; every node allowing it allows it.
// Each evaluation's input holds the whole request (principal, action,
// path) and "node", the index of the node being checked; the Rego says
// what that node needs (USAGE on an ancestor of the target, the action on
// the target, nothing on the object a CREATE makes) and whether the
// principal holds it there or by inheritance. To keep each evaluation
// small:
//
//   - the input is built once per request directly as ast.Values (no JSON
//     round trip) and shared by its node checks;
//   - only the grants to the principal's roles are passed (the default
//     policy reads no other), so a database granted to hundreds of roles
//     costs the policy nothing; WithAllGrants turns this off;
//   - each node carries "privileges", the set of privileges its grants give
//     the principal's roles, and "inherited", the union of its ancestors'
//     privileges, both computed in Go: the Rego reads a few set members,
//     with no loop over grants or over the path, while the rules themselves
//     (inheritance, OWNERSHIP and ALL, USAGE, admin, deny, reasons) stay in
//     the Rego;
//   - the policy is specialised with OPA's partial evaluation for each
//     request shape — principal kind, action, node index and path length —
//     and OPA evaluates the residual, in which everything that depends only
//     on the shape is already decided (see specialize.go; it decides exactly
//     as the whole policy does, which TestSpecialisedDecidesAsGeneral checks
//     request by request). A shape is specialised on its first check;
//     policies calling nondeterministic builtins are never specialised;
//     WithoutSpecialisation turns it off;
//   - a residual of the default policy's form is evaluated as a grant, then,
//     only when nothing grants, a denial (split.go); a denial's reason made
//     of input fields, concat and sprintf is rendered by the engine instead
//     of a second OPA query, falling back to the query wherever OPA would
//     not give a value (reason.go);
//   - decisions are cached (WithDecisionCache, an LRU of DefaultCacheSize)
//     under a SHA-256 of the whole request as the policy sees it, one cache
//     per compiled policy (Reload starts afresh), so a cached decision is
//     exactly what the policy would decide again; policies calling
//     nondeterministic builtins are not cached. Cached decisions are audited
//     like the others.
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
