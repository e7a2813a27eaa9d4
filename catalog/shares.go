package catalog

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sharefilter"
)

// ---- shares ----

func toShare(r objRow) (Share, error) {
	var s Share
	err := decode(r, &s)
	s.ID, s.Name, s.Owner, s.Created = r.id, r.name, r.owner, r.created
	return s, err
}

// CreateShare creates an empty share.
func (t *Tx) CreateShare(s Share) (Share, error) {
	s.ID, s.Created, s.Tables = newID(), t.now, nil
	if err := t.createTop(object.KindShare, s.ID, s.Name, s.Owner, s); err != nil {
		return Share{}, err
	}
	return t.GetShare(s.Name)
}

// GetShare returns a share with its tables, by share schema then alias.
func (t *Tx) GetShare(name string) (Share, error) {
	r, err := t.mustFind(object.KindShare, "", name, name)
	if err != nil {
		return Share{}, err
	}
	s, err := toShare(*r)
	if err != nil {
		return Share{}, err
	}
	s.Tables, err = t.shareTables(r.id)
	return s, err
}

// ListShares returns all shares with their tables, by name.
func (t *Tx) ListShares() ([]Share, error) {
	shares, err := listAs(t, object.KindShare, "", toShare)
	for i := range shares {
		if err != nil {
			break
		}
		shares[i].Tables, err = t.shareTables(shares[i].ID)
	}
	return shares, err
}

// DropShare drops a share, its table entries and its grants to recipients
// (the tables stay).
func (t *Tx) DropShare(name string) error { return t.dropTop(object.KindShare, name) }

func (t *Tx) shareTables(shareID string) ([]ShareTable, error) {
	rows, err := t.query(`SELECT d.name || '.' || s.name || '.' || o.name, o.id, st.share_schema, st.alias, st.with_history, st.row_filter, st.created
		FROM share_tables st
		JOIN objects o ON o.id = st.relation_id
		JOIN objects s ON s.id = o.parent_id
		JOIN objects d ON d.id = s.parent_id
		WHERE st.share_id = ? ORDER BY st.entry_key`, shareID)
	if err != nil {
		return nil, fmt.Errorf("catalog: list share tables: %w", err)
	}
	defer rows.Close()
	var out []ShareTable
	for rows.Next() {
		var st ShareTable
		var hist int
		var created int64
		if err := rows.Scan(&st.Table, &st.TableID, &st.ShareSchema, &st.Alias, &hist, &st.Filter, &created); err != nil {
			return nil, fmt.Errorf("catalog: list share tables: %w", err)
		}
		st.WithHistory, st.Added = hist != 0, time.Unix(0, created).UTC()
		out = append(out, st)
	}
	return out, rows.Err()
}

// AddShareTable adds the table st.Table (database.schema.table) to a share as
// st.ShareSchema.st.Alias; they default to the table's schema and name.
// st.Filter, if set, must parse as a share filter (package sharefilter;
// the caller checks its columns against the table's partition columns).
func (t *Tx) AddShareTable(share string, st ShareTable) (ShareTable, error) {
	sh, err := t.mustFind(object.KindShare, "", share, share)
	if err != nil {
		return ShareTable{}, err
	}
	o, display, err := t.resolveObject(object.KindTable, st.Table)
	if err != nil {
		return ShareTable{}, err
	}
	parts := strings.Split(display, ".")
	if st.ShareSchema == "" {
		st.ShareSchema = parts[1]
	}
	if st.Alias == "" {
		st.Alias = parts[2]
	}
	if err := ValidateName("share schema", st.ShareSchema); err != nil {
		return ShareTable{}, err
	}
	if err := ValidateName("share table alias", st.Alias); err != nil {
		return ShareTable{}, err
	}
	if st.Filter != "" {
		f, err := sharefilter.Parse(st.Filter)
		if err != nil {
			return ShareTable{}, errorf(ErrInvalid, "table %s in share %s: %v", display, sh.name, err)
		}
		st.Filter = f.Text
	}
	var n int
	if n, err = t.count(`SELECT COUNT(*) FROM share_tables WHERE share_id = ? AND relation_id = ?`, sh.id, o.id); err != nil {
		return ShareTable{}, err
	}
	if n > 0 {
		return ShareTable{}, errorf(ErrExists, "table %s is already in share %s", display, sh.name)
	}
	key := nameKey(st.ShareSchema + "." + st.Alias)
	if n, err = t.count(`SELECT COUNT(*) FROM share_tables WHERE share_id = ? AND entry_key = ?`, sh.id, key); err != nil {
		return ShareTable{}, err
	}
	if n > 0 {
		return ShareTable{}, errorf(ErrExists, "share %s already has a table %s.%s: choose another alias", sh.name, st.ShareSchema, st.Alias)
	}
	hist := 0
	if st.WithHistory {
		hist = 1
	}
	if _, err := t.exec(`INSERT INTO share_tables (share_id, relation_id, share_schema, alias, entry_key, with_history, row_filter, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sh.id, o.id, st.ShareSchema, st.Alias, key, hist, st.Filter, t.now.UnixNano()); err != nil {
		return ShareTable{}, fmt.Errorf("catalog: add %s to share %s: %w", display, sh.name, err)
	}
	st.Table, st.TableID, st.Added = display, o.id, t.now
	return st, nil
}

// RemoveShareTable removes the table (database.schema.table) from a share.
func (t *Tx) RemoveShareTable(share, table string) error {
	sh, err := t.mustFind(object.KindShare, "", share, share)
	if err != nil {
		return err
	}
	o, display, err := t.resolveObject(object.KindTable, table)
	if err != nil {
		return err
	}
	res, err := t.exec(`DELETE FROM share_tables WHERE share_id = ? AND relation_id = ?`, sh.id, o.id)
	if err != nil {
		return fmt.Errorf("catalog: remove %s from share %s: %w", display, sh.name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errorf(ErrNotFound, "table %s is not in share %s", display, sh.name)
	}
	return nil
}

// ---- recipients ----

// TokenTTLProperty is the recipient property giving the lifetime of its
// tokens: a Go duration ("720h") or a number of days ("90d"). Without it
// tokens do not expire.
const TokenTTLProperty = "token.ttl"

// ParseTTL parses a token lifetime: a Go duration or a number of days ("90d").
func ParseTTL(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("invalid duration %q: want a positive number of days such as 90d, or a duration such as 720h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid duration %q: want a positive number of days such as 90d, or a duration such as 720h", s)
	}
	return d, nil
}

// IPAllowProperty is the recipient property listing, comma-separated, the
// client addresses it may connect from: CIDRs ("10.0.0.0/8") or single
// addresses ("192.0.2.1"). Without it any address may.
const IPAllowProperty = "ip_allow"

// ParseIPAllow parses an ip_allow list.
func ParseIPAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address (192.0.2.1)", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// AllowsIP reports whether the recipient may connect from addr: it has no
// ip_allow property, or one of its prefixes holds addr.
func (r Recipient) AllowsIP(addr netip.Addr) bool {
	v, ok := r.Properties[IPAllowProperty]
	if !ok {
		return true
	}
	ps, err := ParseIPAllow(v)
	if err != nil {
		return false // validated when set; fail closed anyway
	}
	addr = addr.Unmap()
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// checkProperties validates the recipient properties Sluice interprets.
func (r Recipient) checkProperties() error {
	if _, err := r.ttl(); err != nil {
		return err
	}
	if v, ok := r.Properties[IPAllowProperty]; ok {
		if _, err := ParseIPAllow(v); err != nil {
			return errorf(ErrInvalid, "recipient %s: property %s: %v", r.Name, IPAllowProperty, err)
		}
	}
	return nil
}

func (r Recipient) ttl() (time.Duration, error) {
	v, ok := r.Properties[TokenTTLProperty]
	if !ok {
		return 0, nil
	}
	d, err := ParseTTL(v)
	if err != nil {
		return 0, errorf(ErrInvalid, "recipient %s: property %s: %v", r.Name, TokenTTLProperty, err)
	}
	return d, nil
}

// tokenTTL is the lifetime of a new token of r: its token.ttl, capped at
// the catalog's maximum (SetMaxTokenLifetime), which also applies when r
// has none.
func (t *Tx) tokenTTL(r Recipient) (time.Duration, error) {
	ttl, err := r.ttl()
	if err != nil {
		return 0, err
	}
	if max := t.c.maxTokenLifetime(); max > 0 && (ttl == 0 || ttl > max) {
		ttl = max
	}
	return ttl, nil
}

func (t *Tx) toRecipient(r objRow) (Recipient, error) {
	var rc Recipient
	if err := decode(r, &rc); err != nil {
		return Recipient{}, err
	}
	rc.ID, rc.Name, rc.Owner, rc.Created = r.id, r.name, r.owner, r.created
	rows, err := t.query(`SELECT hash, created, expires FROM tokens WHERE principal_id = ? ORDER BY created, hash`, r.id)
	if err != nil {
		return Recipient{}, fmt.Errorf("catalog: tokens of recipient %s: %w", r.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var tok RecipientToken
		var created, expires int64
		if err := rows.Scan(&tok.Hash, &created, &expires); err != nil {
			return Recipient{}, fmt.Errorf("catalog: tokens of recipient %s: %w", r.name, err)
		}
		tok.Created = time.Unix(0, created).UTC()
		if expires != 0 {
			tok.Expires = time.Unix(0, expires).UTC()
		}
		rc.Tokens = append(rc.Tokens, tok)
	}
	return rc, rows.Err()
}

func (t *Tx) expiry(ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	return t.now.Add(ttl)
}

// CreateRecipient creates a recipient and returns it with its first token,
// in plaintext this once. The token expires after the token.ttl property.
func (t *Tx) CreateRecipient(rc Recipient) (Recipient, string, error) {
	if err := rc.checkProperties(); err != nil {
		return Recipient{}, "", err
	}
	if err := checkSharingProperties(rc); err != nil {
		return Recipient{}, "", err
	}
	ttl, err := t.tokenTTL(rc)
	if err != nil {
		return Recipient{}, "", err
	}
	rc.ID, rc.Created, rc.Tokens = newID(), t.now, nil
	if err := t.createTop(object.KindRecipient, rc.ID, rc.Name, rc.Owner, rc); err != nil {
		return Recipient{}, "", err
	}
	token, hash := newToken(RecipientTokenPrefix)
	if err := t.addToken(rc.ID, hash, t.expiry(ttl)); err != nil {
		return Recipient{}, "", err
	}
	rc, err = t.GetRecipient(rc.Name)
	return rc, token, err
}

// GetRecipient returns a recipient with its current token hashes.
func (t *Tx) GetRecipient(name string) (Recipient, error) {
	return getTop(t, object.KindRecipient, name, t.toRecipient)
}

// ListRecipients returns all recipients, by name.
func (t *Tx) ListRecipients() ([]Recipient, error) {
	return listAs(t, object.KindRecipient, "", t.toRecipient)
}

// DropRecipient drops a recipient, its tokens and its share grants.
func (t *Tx) DropRecipient(name string) error { return t.dropTop(object.KindRecipient, name) }

// RotateRecipientToken issues a new token for a recipient, valid for its
// token.ttl, and keeps the current ones valid for at most grace more, so
// the recipient can switch over (grace 0 revokes them at once). Tokens
// already expired are purged. It returns the new token in plaintext, this
// once.
func (t *Tx) RotateRecipientToken(name string, grace time.Duration) (string, error) {
	rc, err := t.GetRecipient(name)
	if err != nil {
		return "", err
	}
	ttl, err := t.tokenTTL(rc)
	if err != nil {
		return "", err
	}
	if grace < 0 {
		return "", errorf(ErrInvalid, "recipient %s: grace period %v is negative", rc.Name, grace)
	}
	now, until := t.now.UnixNano(), t.now.Add(grace).UnixNano()
	if grace == 0 {
		_, err = t.exec(`DELETE FROM tokens WHERE principal_id = ?`, rc.ID)
	} else {
		_, err = t.exec(`DELETE FROM tokens WHERE principal_id = ? AND expires <> 0 AND expires <= ?`, rc.ID, now)
		if err == nil {
			_, err = t.exec(`UPDATE tokens SET expires = ? WHERE principal_id = ? AND (expires = 0 OR expires > ?)`, until, rc.ID, until)
		}
	}
	if err != nil {
		return "", fmt.Errorf("catalog: rotate token of recipient %s: %w", rc.Name, err)
	}
	token, hash := newToken(RecipientTokenPrefix)
	return token, t.addToken(rc.ID, hash, t.expiry(ttl))
}

// SetRecipientProperties sets properties of a recipient (an empty value
// removes the key), validated as at creation. A new token.ttl applies to
// the tokens issued from then on; a new ip_allow at once.
func (t *Tx) SetRecipientProperties(name string, props map[string]string) (Recipient, error) {
	rc, err := t.GetRecipient(name)
	if err != nil {
		return Recipient{}, err
	}
	if rc.Properties == nil {
		rc.Properties = map[string]string{}
	}
	for k, v := range props {
		if v == "" {
			delete(rc.Properties, k)
		} else {
			rc.Properties[k] = v
		}
	}
	if err := rc.checkProperties(); err != nil {
		return Recipient{}, err
	}
	if err := t.updateBody(rc.ID, rc); err != nil {
		return Recipient{}, err
	}
	return t.GetRecipient(rc.Name)
}

// Limits of recipient properties (SharingProperties).
const (
	MaxRecipientProperties    = 64
	MaxRecipientPropertyKey   = 128
	MaxRecipientPropertyValue = 1024
)

// SetRecipientSharingProperties sets the recipient properties in set and
// removes the keys in unset (a key it does not have is refused, naming it):
// the values CURRENT_RECIPIENT reads in share filters, effective on the
// recipient's next request.
func (t *Tx) SetRecipientSharingProperties(name string, set map[string]string, unset []string) (Recipient, error) {
	rc, err := t.GetRecipient(name)
	if err != nil {
		return Recipient{}, err
	}
	if rc.SharingProperties == nil {
		rc.SharingProperties = map[string]string{}
	}
	for _, k := range unset {
		if _, ok := rc.SharingProperties[k]; !ok {
			return Recipient{}, errorf(ErrNotFound, "recipient %s has no property %q (DESCRIBE RECIPIENT %s lists them)", rc.Name, k, rc.Name)
		}
		delete(rc.SharingProperties, k)
	}
	for k, v := range set {
		rc.SharingProperties[k] = v
	}
	if err := checkSharingProperties(rc); err != nil {
		return Recipient{}, err
	}
	if len(rc.SharingProperties) == 0 {
		rc.SharingProperties = nil
	}
	if err := t.updateBody(rc.ID, rc); err != nil {
		return Recipient{}, err
	}
	return t.GetRecipient(rc.Name)
}

// checkSharingProperties bounds a recipient's properties.
func checkSharingProperties(rc Recipient) error {
	if len(rc.SharingProperties) > MaxRecipientProperties {
		return errorf(ErrInvalid, "recipient %s: %d properties, at most %d", rc.Name, len(rc.SharingProperties), MaxRecipientProperties)
	}
	for k, v := range rc.SharingProperties {
		switch {
		case k == "" || len(k) > MaxRecipientPropertyKey:
			return errorf(ErrInvalid, "recipient %s: property name %q must have 1 to %d bytes", rc.Name, k, MaxRecipientPropertyKey)
		case len(v) > MaxRecipientPropertyValue:
			return errorf(ErrInvalid, "recipient %s: property %q: value of %d bytes, at most %d", rc.Name, k, len(v), MaxRecipientPropertyValue)
		}
	}
	return nil
}

// AuthenticateRecipient returns the recipient holding token, refusing
// unknown and expired tokens.
func (t *Tx) AuthenticateRecipient(token string) (Recipient, error) {
	r, err := t.lookupToken(token, RecipientTokenPrefix, object.KindRecipient)
	if err != nil {
		return Recipient{}, err
	}
	return t.toRecipient(*r)
}

// AuthenticateRecipient returns the recipient holding token, in its own
// read transaction.
func (c *Catalog) AuthenticateRecipient(ctx context.Context, token string) (rc Recipient, err error) {
	err = c.View(ctx, func(tx *Tx) error {
		rc, err = tx.AuthenticateRecipient(token)
		return err
	})
	return rc, err
}

// ---- share grants ----

// GrantShare gives a recipient read access to a share (idempotent).
func (t *Tx) GrantShare(share, recipient string) (ShareGrant, error) {
	sh, err := t.mustFind(object.KindShare, "", share, share)
	if err != nil {
		return ShareGrant{}, err
	}
	rc, err := t.mustFind(object.KindRecipient, "", recipient, recipient)
	if err != nil {
		return ShareGrant{}, err
	}
	if _, err := t.exec(`INSERT INTO share_grants (share_id, recipient_id, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		sh.id, rc.id, t.now.UnixNano()); err != nil {
		return ShareGrant{}, fmt.Errorf("catalog: grant share %s to %s: %w", sh.name, rc.name, err)
	}
	return ShareGrant{Share: sh.name, Recipient: rc.name, Created: t.now}, nil
}

// RevokeShare withdraws a recipient's access to a share.
func (t *Tx) RevokeShare(share, recipient string) error {
	sh, err := t.mustFind(object.KindShare, "", share, share)
	if err != nil {
		return err
	}
	rc, err := t.mustFind(object.KindRecipient, "", recipient, recipient)
	if err != nil {
		return err
	}
	res, err := t.exec(`DELETE FROM share_grants WHERE share_id = ? AND recipient_id = ?`, sh.id, rc.id)
	if err != nil {
		return fmt.Errorf("catalog: revoke share %s from %s: %w", sh.name, rc.name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errorf(ErrNotFound, "share %s is not granted to recipient %s", sh.name, rc.name)
	}
	return nil
}

// ListShareGrants returns every share grant, by share then recipient.
func (t *Tx) ListShareGrants() ([]ShareGrant, error) {
	rows, err := t.query(`SELECT s.name, r.name, g.created FROM share_grants g
		JOIN objects s ON s.id = g.share_id JOIN objects r ON r.id = g.recipient_id ORDER BY s.name_key, r.name_key`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list share grants: %w", err)
	}
	defer rows.Close()
	var out []ShareGrant
	for rows.Next() {
		var g ShareGrant
		var created int64
		if err := rows.Scan(&g.Share, &g.Recipient, &created); err != nil {
			return nil, fmt.Errorf("catalog: list share grants: %w", err)
		}
		g.Created = time.Unix(0, created).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// SharesOf returns the shares granted to a recipient, with their tables:
// what the Delta Sharing server lists for it.
func (t *Tx) SharesOf(recipient string) ([]Share, error) {
	rc, err := t.mustFind(object.KindRecipient, "", recipient, recipient)
	if err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT s.name FROM share_grants g JOIN objects s ON s.id = g.share_id
		WHERE g.recipient_id = ? ORDER BY s.name_key`, rc.id)
	if err != nil {
		return nil, fmt.Errorf("catalog: shares of recipient %s: %w", rc.name, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("catalog: shares of recipient %s: %w", rc.name, err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Share, 0, len(names))
	for _, n := range names {
		s, err := t.GetShare(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
