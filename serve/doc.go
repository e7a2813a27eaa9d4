// Package serve assembles and runs the Sluice server: New builds every
// part from a config.Config and Run runs them as one actor group.
//
// The parts, in the order New builds them: the lock on the data directory,
// the catalog (catalog.db), the audit log (audit.jsonl) and the OPA policy;
// the bootstrap admin; the query supervisor (one worker process per
// running query); the table upkeep loop (upkeep, over the catalog's
// tables, unless upkeep.enabled is false); the listener with the HTTP limits (httplimit) and TLS
// with certificate reload (tlsreload); the statements executor (exec); and
// the HTTP handler: the SQL statements API under /api/, the Delta Sharing
// protocol for recipients under /delta-sharing/ (sharing, with JWT
// recipients through jwtauth), signed file URLs of local tables under
// /files/ (fileurl), /healthz and /metrics.
//
// Run serves until its context ends or a part fails, then stops them in
// order: the HTTP server first (requests in flight get 10 s to finish),
// then the workers (each commits what it holds), then table upkeep; then
// the catalog, the audit log and the lock are closed. Every failure, at
// start or at run, comes back as Run's (or New's) one error.
package serve
