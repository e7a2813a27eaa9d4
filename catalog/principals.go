package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
)

// Token prefixes make leaked tokens recognizable to secret scanners and to
// people: slu_ for users, slr_ for share recipients.
const (
	UserTokenPrefix      = "slu_"
	RecipientTokenPrefix = "slr_"
)

// tokenBytes is the entropy of a token.
const tokenBytes = 32

// newToken returns a fresh token with the prefix and its hash. Callers must
// hand the plaintext to the principal once and never store or log it.
func newToken(prefix string) (plain, hash string) {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails (crypto/rand, Go >= 1.24)
	plain = prefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, hashToken(plain)
}

// hashToken is the hex SHA-256 of a token. A fast, unsalted hash is right
// here: tokens carry 256 random bits, so there is nothing to brute-force or
// look up in a dictionary, unlike passwords, and a fast hash lets every
// request authenticate with one indexed lookup.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

var tokenLen = len(base64.RawURLEncoding.EncodeToString(make([]byte, tokenBytes)))

// lookupToken finds the principal holding token (by hash, compared in
// constant time), checking its kind and expiry.
func (t *Tx) lookupToken(token, prefix string, kind object.Kind) (*objRow, error) {
	invalid := errorf(ErrUnauthenticated, "invalid %s token", kind)
	if !strings.HasPrefix(token, prefix) || len(token) != len(prefix)+tokenLen {
		return nil, invalid
	}
	want := hashToken(token)
	var stored, principal string
	var expires int64
	err := t.queryRow(`SELECT hash, principal_id, expires FROM tokens WHERE hash = ?`, want).Scan(&stored, &principal, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, invalid
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: look up %s token: %w", kind, err)
	}
	// The index lookup already matched; the constant-time comparison keeps
	// the final decision free of timing differences.
	if subtle.ConstantTimeCompare([]byte(stored), []byte(want)) != 1 {
		return nil, invalid
	}
	if expires != 0 && !t.now.Before(time.Unix(0, expires)) {
		return nil, errorf(ErrUnauthenticated, "%s token has expired: ask for a new one", kind)
	}
	r, err := t.byID(principal)
	if err != nil {
		return nil, err
	}
	if r == nil || r.kind != kind {
		return nil, invalid
	}
	return r, nil
}

func (t *Tx) addToken(principalID, hash string, expires time.Time) error {
	var exp int64
	if !expires.IsZero() {
		exp = expires.UnixNano()
	}
	if _, err := t.exec(`INSERT INTO tokens (hash, principal_id, created, expires) VALUES (?, ?, ?, ?)`,
		hash, principalID, t.now.UnixNano(), exp); err != nil {
		return fmt.Errorf("catalog: store token hash: %w", err)
	}
	return nil
}

// ---- users ----

func toUser(r objRow) (User, error) {
	var u User
	err := decode(r, &u)
	u.ID, u.Name, u.Owner, u.Created = r.id, r.name, r.owner, r.created
	return u, err
}

// CreateUser creates a user and returns it with its token, in plaintext this
// once: only the token's SHA-256 is stored.
func (t *Tx) CreateUser(u User) (User, string, error) {
	token, hash := newToken(UserTokenPrefix)
	u.ID, u.Created, u.Rotated, u.TokenHash = newID(), t.now, time.Time{}, hash
	if err := t.createTop(object.KindUser, u.ID, u.Name, u.Owner, u); err != nil {
		return User{}, "", err
	}
	if err := t.addToken(u.ID, hash, time.Time{}); err != nil {
		return User{}, "", err
	}
	u, err := t.GetUser(u.Name)
	return u, token, err
}

// GetUser returns the user named name.
func (t *Tx) GetUser(name string) (User, error) { return getTop(t, object.KindUser, name, toUser) }

// ListUsers returns all users, by name.
func (t *Tx) ListUsers() ([]User, error) { return listAs(t, object.KindUser, "", toUser) }

// DropUser drops a user, its token and its role memberships.
func (t *Tx) DropUser(name string) error { return t.dropTop(object.KindUser, name) }

// RotateUserToken replaces a user's token: the old one stops working at
// once. It returns the new token in plaintext, this once.
func (t *Tx) RotateUserToken(name string) (string, error) {
	u, err := t.GetUser(name)
	if err != nil {
		return "", err
	}
	if _, err := t.exec(`DELETE FROM tokens WHERE principal_id = ?`, u.ID); err != nil {
		return "", fmt.Errorf("catalog: rotate token of user %s: %w", u.Name, err)
	}
	token, hash := newToken(UserTokenPrefix)
	if err := t.addToken(u.ID, hash, time.Time{}); err != nil {
		return "", err
	}
	u.TokenHash, u.Rotated = hash, t.now
	return token, t.updateBody(u.ID, u)
}

// AuthenticateUser returns the user holding token.
func (t *Tx) AuthenticateUser(token string) (User, error) {
	r, err := t.lookupToken(token, UserTokenPrefix, object.KindUser)
	if err != nil {
		return User{}, err
	}
	return toUser(*r)
}

// AuthenticateUser returns the user holding token, in its own read
// transaction.
func (c *Catalog) AuthenticateUser(ctx context.Context, token string) (u User, err error) {
	err = c.View(ctx, func(tx *Tx) error {
		u, err = tx.AuthenticateUser(token)
		return err
	})
	return u, err
}

// ---- roles ----

func toRole(r objRow) (Role, error) {
	var ro Role
	err := decode(r, &ro)
	ro.ID, ro.Name, ro.Owner, ro.Created = r.id, r.name, r.owner, r.created
	return ro, err
}

// CreateRole creates a role. Roles and users share one namespace.
func (t *Tx) CreateRole(ro Role) (Role, error) {
	ro.ID, ro.Created = newID(), t.now
	if err := t.createTop(object.KindRole, ro.ID, ro.Name, ro.Owner, ro); err != nil {
		return Role{}, err
	}
	return t.GetRole(ro.Name)
}

// GetRole returns the role named name.
func (t *Tx) GetRole(name string) (Role, error) { return getTop(t, object.KindRole, name, toRole) }

// ListRoles returns all roles, by name.
func (t *Tx) ListRoles() ([]Role, error) { return listAs(t, object.KindRole, "", toRole) }

// DropRole drops a role with its grants and memberships. A role that still
// owns objects is refused: transfer them with SetOwner first. The built-in
// roles (BuiltinRoles) cannot be dropped.
func (t *Tx) DropRole(name string) error {
	r, err := t.mustFind(object.KindRole, "", name, name)
	if err != nil {
		return err
	}
	if slices.Contains(BuiltinRoles, nameKey(r.name)) {
		return errorf(ErrInUse, "role %s is built in and cannot be dropped", r.name)
	}
	var kind, owned string
	err = t.queryRow(`SELECT kind, name FROM objects WHERE owner_id = ? AND id <> ? ORDER BY kind, name_key LIMIT 1`, r.id, r.id).Scan(&kind, &owned)
	switch {
	case err == nil:
		return errorf(ErrInUse, "role %s owns %s %s: transfer its objects to another role (ALTER ... OWNER TO) first", r.name, kind, owned)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("catalog: drop role %s: %w", r.name, err)
	}
	return t.deleteObj(r)
}

// SetOwner transfers the object kind path to role.
func (t *Tx) SetOwner(kind object.Kind, path, role string) error {
	o, display, ro, err := t.objectAndRole(kind, path, role)
	if err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE objects SET owner_id = ? WHERE id = ?`, ro.id, o.id); err != nil {
		return fmt.Errorf("catalog: set owner of %s %s: %w", o.kind, display, err)
	}
	return nil
}

// ---- role grants ----

// GrantRole grants role to member, a user or another role. Granting is
// idempotent. A grant that would make the role graph cyclic (member already
// reachable from role) is refused.
func (t *Tx) GrantRole(role, member string) (RoleGrant, error) {
	ro, err := t.mustFind(object.KindRole, "", role, role)
	if err != nil {
		return RoleGrant{}, err
	}
	m, err := t.find(object.KindUser, "", member)
	if err != nil {
		return RoleGrant{}, err
	}
	if m == nil {
		return RoleGrant{}, errorf(ErrNotFound, "user or role %s does not exist", member)
	}
	if m.kind == object.KindRole {
		if m.id == ro.id {
			return RoleGrant{}, errorf(ErrCycle, "cannot grant role %s to itself", ro.name)
		}
		reach, err := t.effective(ro.id)
		if err != nil {
			return RoleGrant{}, err
		}
		if slices.Contains(reach, m.name) {
			return RoleGrant{}, errorf(ErrCycle, "granting role %s to role %s would create a cycle: %s is already granted to %s", ro.name, m.name, m.name, ro.name)
		}
	}
	if _, err := t.exec(`INSERT INTO role_grants (role_id, member_id, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		ro.id, m.id, t.now.UnixNano()); err != nil {
		return RoleGrant{}, fmt.Errorf("catalog: grant role %s to %s: %w", ro.name, m.name, err)
	}
	return RoleGrant{Role: ro.name, Member: m.name, MemberKind: m.kind, Created: t.now}, nil
}

// RevokeRole revokes role from member.
func (t *Tx) RevokeRole(role, member string) error {
	ro, err := t.mustFind(object.KindRole, "", role, role)
	if err != nil {
		return err
	}
	m, err := t.find(object.KindUser, "", member)
	if err != nil {
		return err
	}
	if m == nil {
		return errorf(ErrNotFound, "user or role %s does not exist", member)
	}
	res, err := t.exec(`DELETE FROM role_grants WHERE role_id = ? AND member_id = ?`, ro.id, m.id)
	if err != nil {
		return fmt.Errorf("catalog: revoke role %s from %s: %w", ro.name, m.name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errorf(ErrNotFound, "role %s is not granted to %s %s", ro.name, m.kind, m.name)
	}
	return nil
}

// ListRoleGrants returns every role grant, by role then member.
func (t *Tx) ListRoleGrants() ([]RoleGrant, error) {
	rows, err := t.query(`SELECT r.name, m.name, m.kind, g.created FROM role_grants g
		JOIN objects r ON r.id = g.role_id JOIN objects m ON m.id = g.member_id ORDER BY r.name_key, m.name_key`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list role grants: %w", err)
	}
	defer rows.Close()
	var out []RoleGrant
	for rows.Next() {
		var g RoleGrant
		var kind string
		var created int64
		if err := rows.Scan(&g.Role, &g.Member, &kind, &created); err != nil {
			return nil, fmt.Errorf("catalog: list role grants: %w", err)
		}
		g.MemberKind, g.Created = object.Kind(kind), time.Unix(0, created).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// RoleGraph maps each principal (user or role name) to the names of the roles
// granted to it directly.
type RoleGraph map[string][]string

// RoleGraph returns the whole role graph, for an authorizer to cache.
func (t *Tx) RoleGraph() (RoleGraph, error) {
	gs, err := t.ListRoleGrants()
	if err != nil {
		return nil, err
	}
	g := RoleGraph{}
	for _, rg := range gs {
		g[rg.Member] = append(g[rg.Member], rg.Role)
	}
	return g, nil
}

// EffectiveRoles returns principal followed by every role reachable from it
// through grants, each once, breadth first with siblings by name. Names
// match case-insensitively. It terminates on any graph, cyclic or not.
func (g RoleGraph) EffectiveRoles(principal string) []string {
	keys := make(map[string]string, len(g))
	for k := range g {
		keys[nameKey(k)] = k
	}
	seen := map[string]bool{nameKey(principal): true}
	out := []string{principal}
	for i := 0; i < len(out); i++ {
		next := slices.Clone(g[keys[nameKey(out[i])]])
		slices.SortFunc(next, func(a, b string) int { return strings.Compare(nameKey(a), nameKey(b)) })
		for _, r := range next {
			if !seen[nameKey(r)] {
				seen[nameKey(r)] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// EffectiveRoles returns the names of all roles principal (a user or a role)
// holds directly or through other roles, including principal itself if it
// is a role, by name.
func (t *Tx) EffectiveRoles(principal string) ([]string, error) {
	p, err := t.find(object.KindUser, "", principal)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errorf(ErrNotFound, "user or role %s does not exist", principal)
	}
	return t.effective(p.id)
}

// effective expands the role graph from a principal id in SQL; UNION (not
// UNION ALL) makes the recursion stop on cycles.
func (t *Tx) effective(id string) ([]string, error) {
	rows, err := t.query(`WITH RECURSIVE reach(id) AS (
			SELECT CAST(? AS TEXT)
			UNION
			SELECT g.role_id FROM role_grants g JOIN reach ON g.member_id = reach.id
		)
		SELECT o.name FROM reach JOIN objects o ON o.id = reach.id WHERE o.kind = 'role' ORDER BY o.name_key`, id)
	if err != nil {
		return nil, fmt.Errorf("catalog: expand roles: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("catalog: expand roles: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// ---- grants ----

// checkPrivilege refuses p on an object of kind unless object.Grantable
// lists it there.
func checkPrivilege(p object.Privilege, kind object.Kind) error {
	if object.Applies(p, kind) {
		return nil
	}
	return errorf(ErrInvalid, "privilege %s does not apply to a %s: use %s", p, kind, strings.Join(object.Names(object.Grantable(kind)), ", "))
}

// resolveObject finds the object kind at path: database; database.schema;
// database.schema.name for streams, tables and object.KindRelation; a name for the
// other kinds. It returns the row and its canonical display path.
func (t *Tx) resolveObject(kind object.Kind, path string) (*objRow, string, error) {
	switch kind {
	case object.KindDatabase:
		r, err := t.mustFind(kind, "", path, path)
		if err != nil {
			return nil, "", err
		}
		return r, r.name, nil
	case object.KindSchema:
		p, err := splitPath(kind, path, 2)
		if err != nil {
			return nil, "", err
		}
		d, s, err := t.schemaRow(p[0], p[1])
		if err != nil {
			return nil, "", err
		}
		return s, d.name + "." + s.name, nil
	case object.KindStream, object.KindTable, object.KindRelation:
		p, err := splitPath(kind, path, 3)
		if err != nil {
			return nil, "", err
		}
		d, s, err := t.schemaRow(p[0], p[1])
		if err != nil {
			return nil, "", err
		}
		display := d.name + "." + s.name + "." + p[2]
		r, err := t.mustFind(kind, s.id, p[2], display)
		if err != nil {
			return nil, "", err
		}
		return r, d.name + "." + s.name + "." + r.name, nil
	case object.KindStore, object.KindQuery, object.KindUser, object.KindRole, object.KindShare, object.KindRecipient:
		r, err := t.mustFind(kind, "", path, path)
		if err != nil {
			return nil, "", err
		}
		return r, r.name, nil
	}
	return nil, "", errorf(ErrInvalid, "unknown object kind %q", kind)
}

// Grant grants privilege p on the object kind path to role. Granting is
// idempotent: the existing grant is returned.
func (t *Tx) Grant(p object.Privilege, kind object.Kind, path, role string) (Grant, error) {
	o, display, err := t.resolveObject(kind, path)
	if err != nil {
		return Grant{}, err
	}
	if err := checkPrivilege(p, o.kind); err != nil {
		return Grant{}, err
	}
	ro, err := t.mustFind(object.KindRole, "", role, role)
	if err != nil {
		return Grant{}, err
	}
	if _, err := t.exec(`INSERT INTO grants (id, role_id, privilege, object_id, created) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		newID(), ro.id, string(p), o.id, t.now.UnixNano()); err != nil {
		return Grant{}, fmt.Errorf("catalog: grant %s on %s %s to %s: %w", p, o.kind, display, ro.name, err)
	}
	gs, err := t.grants(`g.object_id = ? AND g.role_id = ? AND g.privilege = ?`, o.id, ro.id, string(p))
	if err != nil {
		return Grant{}, fmt.Errorf("catalog: read back grant %s on %s %s: %w", p, o.kind, display, err)
	}
	if len(gs) != 1 {
		return Grant{}, fmt.Errorf("catalog: read back grant %s on %s %s: %d rows, want 1", p, o.kind, display, len(gs))
	}
	return gs[0], nil
}

// Revoke revokes privilege p on the object kind path from role.
func (t *Tx) Revoke(p object.Privilege, kind object.Kind, path, role string) error {
	o, display, ro, err := t.objectAndRole(kind, path, role)
	if err != nil {
		return err
	}
	res, err := t.exec(`DELETE FROM grants WHERE object_id = ? AND role_id = ? AND privilege = ?`, o.id, ro.id, string(p))
	if err != nil {
		return fmt.Errorf("catalog: revoke %s on %s %s from %s: %w", p, o.kind, display, ro.name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errorf(ErrNotFound, "role %s has no %s grant on %s %s", ro.name, p, o.kind, display)
	}
	return nil
}

// GrantsOn returns the grants on the object kind path, by role then
// privilege.
func (t *Tx) GrantsOn(kind object.Kind, path string) ([]Grant, error) {
	o, _, err := t.resolveObject(kind, path)
	if err != nil {
		return nil, err
	}
	return t.grants(`g.object_id = ?`, o.id)
}

// GrantsTo returns the grants held directly by role (not through other
// roles), by object then privilege.
func (t *Tx) GrantsTo(role string) ([]Grant, error) {
	ro, err := t.mustFind(object.KindRole, "", role, role)
	if err != nil {
		return nil, err
	}
	return t.grants(`g.role_id = ?`, ro.id)
}

// grants selects grants matching where (over g), with display paths.
func (t *Tx) grants(where string, args ...any) ([]Grant, error) {
	rows, err := t.query(`SELECT g.id, g.privilege, o.kind, o.id,
			COALESCE(gp.name || '.', '') || COALESCE(p.name || '.', '') || o.name, r.name, g.created
		FROM grants g
		JOIN objects o ON o.id = g.object_id
		JOIN objects r ON r.id = g.role_id
		LEFT JOIN objects p ON p.id = o.parent_id
		LEFT JOIN objects gp ON gp.id = p.parent_id
		WHERE `+where+` ORDER BY 5, r.name_key, g.privilege`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		var priv, kind string
		var created int64
		if err := rows.Scan(&g.ID, &priv, &kind, &g.ObjectID, &g.Object, &g.Role, &created); err != nil {
			return nil, fmt.Errorf("catalog: list grants: %w", err)
		}
		g.Privilege, g.ObjectKind, g.Created = object.Privilege(priv), object.Kind(kind), time.Unix(0, created).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// objectAndRole resolves the object kind path and the role a grant,
// revoke or ownership change is about.
func (t *Tx) objectAndRole(kind object.Kind, path, role string) (o *objRow, display string, ro *objRow, err error) {
	if o, display, err = t.resolveObject(kind, path); err != nil {
		return nil, "", nil, err
	}
	if ro, err = t.mustFind(object.KindRole, "", role, role); err != nil {
		return nil, "", nil, err
	}
	return o, display, ro, nil
}

// SetUserToken makes token (which must look like one CreateUser issues:
// the user prefix and 43 base64url characters) the user's only token. The
// server uses it for an operator-chosen bootstrap token.
func (t *Tx) SetUserToken(name, token string) error {
	if !strings.HasPrefix(token, UserTokenPrefix) || len(token) != len(UserTokenPrefix)+tokenLen {
		return errorf(ErrInvalid, "token for user %s: want %s followed by %d base64url characters (generate one with: sluice token)", name, UserTokenPrefix, tokenLen)
	}
	u, err := t.GetUser(name)
	if err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM tokens WHERE principal_id = ?`, u.ID); err != nil {
		return fmt.Errorf("catalog: set token of user %s: %w", u.Name, err)
	}
	hash := hashToken(token)
	if err := t.addToken(u.ID, hash, time.Time{}); err != nil {
		return err
	}
	u.TokenHash, u.Rotated = hash, t.now
	return t.updateBody(u.ID, u)
}

// NewUserToken returns a fresh user token, for an operator to set as a
// bootstrap token. Nothing is stored.
func NewUserToken() string {
	tok, _ := newToken(UserTokenPrefix)
	return tok
}
