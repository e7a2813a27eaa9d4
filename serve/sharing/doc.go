// Package sharing serves the Delta Sharing REST protocol to share
// recipients: shares, schemas and tables granted to them, and their data as
// signed file URLs, every request authorized by OPA and audited.
//
// # Wiring
//
// NewHandler returns an http.Handler answering under a prefix (default
// /delta-sharing): mount it with mux.Handle("/delta-sharing/", h). Two small
// interfaces let the server be wired with other implementations:
//
//   - Authenticator turns a request into a recipient name (default:
//     BearerTokens, the catalog's hashed, expiring recipient tokens);
//   - FileURLSigner turns a file of a shared table into a URL a recipient
//     can GET until an expiry (default: StoreSigner, S3 presigned URLs
//     through objstore.Store.Presign, and for local-disk tables, when its
//     Local is set, HMAC-signed URLs to the file endpoint of package
//     fileurl).
//
// # Authorization
//
// A recipient sees only shares granted to it (catalog.Tx.SharesOf), and
// every share and table it touches is decided by the policy engine on the
// path [share] or [share, database, schema, table] (see docs/policy.md,
// "Share recipients"). Anything not granted, or denied, answers 404
// RESOURCE_DOES_NOT_EXIST exactly as a name that does not exist; list
// endpoints leave it out.
//
// # Audit
//
// Each request answered is recorded in the audit sink as a policy.Event
// with the request's name, status, the table version, the number of file
// URLs handed out and their total size (besides the events of the policy
// decisions it made).
//
// See docs/sharing.md for the endpoints, what is supported and the limits.
package sharing
