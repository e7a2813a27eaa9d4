package exec

// Shares and recipients: the statements that decide what goes out over
// Delta Sharing and to whom.
//
//	CREATE SHARE s                 CREATE on [share s]: top level, admin only
//	ALTER SHARE s ADD TABLE t ...  ALTER on [share s], then SELECT on the table
//	                               (one cannot share what one cannot read)
//	ALTER SHARE s REMOVE TABLE t   ALTER on [share s]
//	DROP SHARE s                   DROP on [share s]
//	CREATE RECIPIENT r             CREATE on [recipient r]: admin only
//	ALTER RECIPIENT r ROTATE TOKEN ALTER on [recipient r]
//	DROP RECIPIENT r               DROP on [recipient r]
//	GRANT|REVOKE SELECT ON SHARE s TO|FROM RECIPIENT r
//	                               GRANT on [share s], then USAGE on
//	                               [recipient r] (who may hand it out)
//	GRANT|REVOKE privs ON SHARE|RECIPIENT x TO ROLE r
//	                               as for databases (USAGE, OWNERSHIP, ALL)
//	SHOW SHARES / SHOW RECIPIENTS  those the principal has USAGE on (one
//	                               decision each)
//	SHOW GRANTS ON SHARE s         DESCRIBE on [share s]: role and recipient
//	                               grants
//	SHOW GRANTS TO RECIPIENT r     DESCRIBE on [recipient r]
//
// CREATE RECIPIENT and ROTATE TOKEN return the recipient's profile (the
// Delta Sharing credentials file) in Result.Profile, with the token in
// plaintext this once: it is kept only hashed.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sharefilter"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/policy"
)

// SharingPath is where the Delta Sharing protocol is served, under the
// server's public URL; profiles point recipients at it.
const SharingPath = "/delta-sharing/"

// DefaultPublicURL is the public URL written into profiles when
// WithPublicURL is not given: the default listen address of sluice serve.
const DefaultPublicURL = "http://127.0.0.1:8080"

// GraceProperty is the property of ALTER RECIPIENT ... ROTATE TOKEN WITH
// (...) giving how long the current tokens stay valid (a Go duration or a
// number of days; default 0: revoked at once).
const GraceProperty = "grace"

// WithPublicURL sets the URL recipients reach the server at
// (https://sharing.example.com): their profiles' endpoint is that URL
// followed by SharingPath. Default DefaultPublicURL.
func WithPublicURL(u string) Option {
	return func(e *Executor) {
		if u != "" {
			e.publicURL = strings.TrimRight(u, "/")
		}
	}
}

// Profile is a Delta Sharing profile file (shareCredentialsVersion 1): what a
// recipient needs to connect. It holds a secret: write it with mode 0600
// and hand it over by a private channel.
type Profile struct {
	ShareCredentialsVersion int    `json:"shareCredentialsVersion"`
	Endpoint                string `json:"endpoint"`
	BearerToken             string `json:"bearerToken"`
	// ExpirationTime is when the token expires (RFC 3339, UTC); empty if
	// it does not.
	ExpirationTime string `json:"expirationTime,omitempty"`
}

// profileResult is the result of issuing a token to a recipient.
func (r *run) profileResult(recipient, token string, expires time.Time, message string) (Result, error) {
	p := Profile{ShareCredentialsVersion: 1, Endpoint: r.e.publicURL + SharingPath, BearerToken: token}
	exp := "never"
	if !expires.IsZero() {
		p.ExpirationTime = expires.UTC().Format(time.RFC3339)
		exp = p.ExpirationTime
	}
	raw, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return Result{}, err
	}
	return Result{
		Columns: []string{"recipient", "token", "expires"},
		Rows:    [][]string{{recipient, token, exp}},
		Message: message + "; its profile and token are shown this once and cannot be read back: store them now",
		Profile: raw,
	}, nil
}

// tokenExpiry finds when the token of recipient expires (zero: never). The
// catalog keeps each token's hex SHA-256 (catalog.RecipientToken.Hash).
func tokenExpiry(rc catalog.Recipient, token string) time.Time {
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])
	for _, t := range rc.Tokens {
		if t.Hash == h {
			return t.Expires
		}
	}
	return time.Time{}
}

// createSharing creates a share or a recipient, already authorized.
func (r *run) createSharing(k object.Kind, name string, s *sqlparse.CreateObject) (Result, error) {
	if k == object.KindShare {
		if len(s.With) > 0 {
			return Result{}, invalid("CREATE SHARE %s takes no WITH properties", name)
		}
		sh, err := r.tx.CreateShare(catalog.Share{Name: name})
		return msg("share %s created", sh.Name), err
	}
	props, err := properties(s.With)
	if err != nil {
		return Result{}, err
	}
	owner, err := r.identityOwner()
	if err != nil {
		return Result{}, err
	}
	sharing, err := properties(s.Properties)
	if err != nil {
		return Result{}, err
	}
	if len(sharing) == 0 {
		sharing = nil
	}
	rc, token, err := r.tx.CreateRecipient(catalog.Recipient{Name: name, Properties: props, SharingProperties: sharing, Owner: owner})
	if err != nil {
		return Result{}, err
	}
	return r.profileResult(rc.Name, token, tokenExpiry(rc, token), fmt.Sprintf("recipient %s created", rc.Name))
}

// alterRecipient is ALTER RECIPIENT r SET ('k' = v, ...): ALTER on the
// recipient, then its properties (an empty value removes one).
func (r *run) alterRecipient(s *sqlparse.AlterRecipient) (Result, error) {
	p, err := r.authorizeOn(policy.ActionAlter, object.KindRecipient, oneName(s.Name.Name))
	if err != nil {
		return Result{}, err
	}
	if s.SetProperties != nil || s.UnsetProperties != nil {
		set, err := properties(s.SetProperties)
		if err != nil {
			return Result{}, err
		}
		unset := make([]string, len(s.UnsetProperties))
		for i, k := range s.UnsetProperties {
			unset[i] = k.Value
		}
		rc, err := r.tx.SetRecipientSharingProperties(p[0], set, unset)
		if err != nil {
			return Result{}, err
		}
		return msg("properties of recipient %s altered (%d set)", rc.Name, len(rc.SharingProperties)), nil
	}
	props, err := properties(s.Set)
	if err != nil {
		return Result{}, err
	}
	rc, err := r.tx.SetRecipientProperties(p[0], props)
	if err != nil {
		return Result{}, err
	}
	return msg("recipient %s altered", rc.Name), nil
}

// rotateRecipientToken is ALTER RECIPIENT r ROTATE TOKEN [WITH ('grace' = '1h')].
func (r *run) rotateRecipientToken(s *sqlparse.RotateToken) (Result, error) {
	p, err := r.authorizeOn(policy.ActionAlter, object.KindRecipient, oneName(s.Name.Name))
	if err != nil {
		return Result{}, err
	}
	props, err := properties(s.With)
	if err != nil {
		return Result{}, err
	}
	var grace time.Duration
	for key, v := range props {
		if key != GraceProperty {
			return Result{}, invalid("ALTER RECIPIENT %s ROTATE TOKEN: unknown property %q (only %q)", p[0], key, GraceProperty)
		}
		if v == "0" || v == "0s" {
			continue // explicitly none
		}
		if grace, err = catalog.ParseTTL(v); err != nil {
			return Result{}, invalid("ALTER RECIPIENT %s ROTATE TOKEN: %s: %v", p[0], GraceProperty, err)
		}
	}
	token, err := r.tx.RotateRecipientToken(p[0], grace)
	if err != nil {
		return Result{}, err
	}
	rc, err := r.tx.GetRecipient(p[0])
	if err != nil {
		return Result{}, err
	}
	old := "revoked"
	if grace > 0 {
		old = "valid for " + grace.String() + " more"
	}
	return r.profileResult(rc.Name, token, tokenExpiry(rc, token), fmt.Sprintf("token of recipient %s rotated; the previous tokens are %s", rc.Name, old))
}

// alterShare is ALTER SHARE s ADD|REMOVE TABLE t.
func (r *run) alterShare(s *sqlparse.AlterShare) (Result, error) {
	sh, err := r.authorizeOn(policy.ActionAlter, object.KindShare, oneName(s.Share.Name))
	if err != nil {
		return Result{}, err
	}
	share := sh[0]
	if s.Action == "REMOVE" {
		t, err := parts(object.KindTable, s.Table)
		if err != nil {
			return Result{}, err
		}
		table := strings.Join(t, ".")
		if err := r.tx.RemoveShareTable(share, table); err != nil {
			return Result{}, err
		}
		return msg("table %s removed from share %s", table, share), nil
	}
	t, err := r.authorizeOn(policy.ActionSelect, object.KindTable, s.Table)
	if err != nil {
		return Result{}, err
	}
	st := catalog.ShareTable{Table: strings.Join(t, "."), WithHistory: s.WithHistory}
	if s.Where != nil {
		if st.Filter, err = r.shareFilter(s.Where, t); err != nil {
			return Result{}, err
		}
	}
	if s.As != nil {
		as := s.As.Parts
		st.Alias = as[len(as)-1].Name
		if len(as) == 2 {
			st.ShareSchema = as[0].Name
		}
	}
	// A stream has no Delta table to share: the catalog finds no table.
	added, err := r.tx.AddShareTable(share, st)
	if s.IfNotExists && errors.Is(err, catalog.ErrExists) {
		return msg("table %s is already in share %s, skipped", st.Table, share), nil
	}
	if err != nil {
		return Result{}, err
	}
	hist := ""
	if added.WithHistory {
		hist = " with history"
	}
	if added.Filter != "" {
		hist += " where " + added.Filter
	}
	return msg("table %s added to share %s as %s.%s%s", added.Table, share, added.ShareSchema, added.Alias, hist), nil
}

// shareFilter checks the WHERE filter of ALTER SHARE ... ADD TABLE t: its
// shape (package sharefilter) and that it names only partition columns of
// t, which are its 'partitioned.by' for a table Sluice writes and those of
// its Delta log (read by prepare) for one registered with LOCATION.
func (r *run) shareFilter(where sqlparse.Expr, t []string) (string, error) {
	f, err := sharefilter.Compile(where)
	if err != nil {
		return "", invalid("%v", err)
	}
	rel, err := r.tx.GetRelation(t[0], t[1], t[2])
	if err != nil {
		return "", err
	}
	var parts []string
	switch {
	case r.pre != nil && r.pre.snap != nil:
		parts = r.pre.snap.PartitionColumns()
	case rel.External:
		return "", &catalog.Error{Class: catalog.ErrInUse, Msg: fmt.Sprintf("table %s changed while its location was read: run the statement again", rel.Path())}
	default:
		for _, c := range strings.Split(rel.Properties["partitioned.by"], ",") {
			if c = strings.TrimSpace(c); c != "" {
				parts = append(parts, c)
			}
		}
	}
	if err := f.Check(rel.Path(), parts); err != nil {
		return "", invalid("%v", err)
	}
	return f.Text, nil
}

// grantShare is GRANT|REVOKE SELECT ON SHARE s TO|FROM RECIPIENT r.
func (r *run) grantShare(s *sqlparse.GrantPrivileges) (Result, error) {
	sh, err := r.authorizeOn(policy.ActionGrant, object.KindShare, s.On)
	if err != nil {
		return Result{}, err
	}
	rc, err := r.authorizeOn(policy.ActionUsage, object.KindRecipient, oneName(s.Grantee.Name))
	if err != nil {
		return Result{}, err
	}
	if s.Revoke {
		if err := r.tx.RevokeShare(sh[0], rc[0]); err != nil {
			return Result{}, err
		}
		return msg("SELECT on share %s revoked from recipient %s", sh[0], rc[0]), nil
	}
	g, err := r.tx.GrantShare(sh[0], rc[0])
	if err != nil {
		return Result{}, err
	}
	return msg("SELECT on share %s granted to recipient %s", g.Share, g.Recipient), nil
}

// showShares lists the shares the principal has USAGE on, with their tables.
func (r *run) showShares() (Result, error) {
	shares, err := r.tx.ListShares()
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: []string{"name", "tables", "owner", "created"}, Rows: [][]string{}}
	for _, sh := range shares {
		ok, err := r.usable(object.KindShare, []string{sh.Name})
		if err != nil {
			return Result{}, err
		}
		if !ok {
			continue
		}
		tables := make([]string, len(sh.Tables))
		for i, t := range sh.Tables {
			tables[i] = t.ShareSchema + "." + t.Alias + "=" + t.Table
			if t.Filter != "" {
				tables[i] += " WHERE " + t.Filter
			}
		}
		res.Rows = append(res.Rows, []string{sh.Name, strings.Join(tables, ", "), sh.Owner, ts(sh.Created)})
	}
	res.Message = fmt.Sprintf("%d shares", len(res.Rows))
	return res, nil
}

// showRecipients lists the recipients the principal has USAGE on, with
// their tokens' count and last expiry (never the hashes).
func (r *run) showRecipients() (Result, error) {
	rcs, err := r.tx.ListRecipients()
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: []string{"name", "tokens", "expires", "properties", "owner", "created"}, Rows: [][]string{}}
	for _, rc := range rcs {
		ok, err := r.usable(object.KindRecipient, []string{rc.Name})
		if err != nil {
			return Result{}, err
		}
		if !ok {
			continue
		}
		res.Rows = append(res.Rows, []string{rc.Name, fmt.Sprint(len(rc.Tokens)), lastExpiry(rc.Tokens), propertyList(rc.SharingProperties), rc.Owner, ts(rc.Created)})
	}
	res.Message = fmt.Sprintf("%d recipients", len(res.Rows))
	return res, nil
}

// propertyList renders recipient properties as k=v, by key.
func propertyList(props map[string]string) string {
	keys := slices.Sorted(maps.Keys(props))
	for i, k := range keys {
		keys[i] = k + "=" + props[k]
	}
	return strings.Join(keys, ", ")
}

// lastExpiry is when the last of the tokens expires: "never" if one does
// not, "" without tokens.
func lastExpiry(tokens []catalog.RecipientToken) string {
	var last time.Time
	for _, t := range tokens {
		if t.Expires.IsZero() {
			return "never"
		}
		if t.Expires.After(last) {
			last = t.Expires
		}
	}
	if last.IsZero() {
		return ""
	}
	return ts(last)
}

// showShareGrants is SHOW GRANTS ON SHARE s (the roles' privileges on it
// and the recipients it is granted to) or SHOW GRANTS TO RECIPIENT r (the
// shares granted to it).
func (r *run) showShareGrants(s *sqlparse.ShowGrants) (Result, error) {
	res := Result{Columns: []string{"privilege", "kind", "object", "grantee_kind", "grantee"}, Rows: [][]string{}}
	var (
		share, recipient string
		k                = object.KindShare
		n                = s.On
	)
	if s.To != nil {
		k, n = object.KindRecipient, oneName(s.To.Name)
	}
	p, err := r.authorizeOn(policy.ActionDescribe, k, n)
	if err != nil {
		return Result{}, err
	}
	if k == object.KindShare {
		share = p[0]
		grants, err := r.tx.GrantsOn(k, share)
		if err != nil {
			return Result{}, err
		}
		for _, g := range grants {
			res.Rows = append(res.Rows, []string{string(g.Privilege), string(g.ObjectKind), g.Object, "role", g.Role})
		}
	} else {
		recipient = p[0]
		if _, err := r.tx.GetRecipient(recipient); err != nil {
			return Result{}, err
		}
	}
	all, err := r.tx.ListShareGrants()
	if err != nil {
		return Result{}, err
	}
	for _, g := range all {
		if (share != "" && strings.EqualFold(g.Share, share)) || (recipient != "" && strings.EqualFold(g.Recipient, recipient)) {
			res.Rows = append(res.Rows, []string{string(object.PrivSelect), string(object.KindShare), g.Share, "recipient", g.Recipient})
		}
	}
	res.Message = fmt.Sprintf("%d grants", len(res.Rows))
	return res, nil
}
