package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/plan"
	"github.com/sluice-io/sluice/policy"
)

// run is one statement being executed inside its catalog transaction.
type run struct {
	e           *Executor
	ctx         context.Context
	tx          *catalog.Tx
	who         Principal
	stmt        sqlparse.Statement
	roles       []string // effective roles, loaded on first use
	rolesLoaded bool
	pre         *prepared                       // fetched before the transaction (prepare)
	after       func(ctx context.Context) error // run once the transaction has committed
}

func (r *run) exec() (Result, error) {
	switch s := r.stmt.(type) {
	case *sqlparse.CreateObject:
		return r.create(s)
	case *sqlparse.Drop:
		return r.drop(s)
	case *sqlparse.CreateStream:
		return r.createStream(s)
	case *sqlparse.CreateTable:
		return r.createTable(s)
	case *sqlparse.Show:
		switch s.What {
		case "DATABASES":
			return r.showDatabases()
		case "STREAMS":
			return r.showRelations(s, object.KindStream)
		case "TABLES":
			return r.showRelations(s, object.KindTable)
		case "TABLE STATUS":
			return r.showTableStatus(s)
		case "QUERIES":
			return r.showQueries()
		case "SHARES":
			return r.showShares()
		case "RECIPIENTS":
			return r.showRecipients()
		case "STORES":
			return r.showStores()
		case "USERS":
			return r.showUsers()
		case "ROLES":
			return r.showRoles()
		}
		return r.showSchemas(s)
	case *sqlparse.ShowGrants:
		if s.OnKind == object.KindShare || s.ToKind == object.KindRecipient {
			return r.showShareGrants(s)
		}
		return r.showGrants(s)
	case *sqlparse.GrantRole:
		return r.grantRole(s)
	case *sqlparse.GrantPrivileges:
		if s.GranteeKind == object.KindRecipient {
			return r.grantShare(s)
		}
		return r.grantPrivileges(s)
	case *sqlparse.Describe:
		return r.describe(s)
	case *sqlparse.AlterShare:
		return r.alterShare(s)
	case *sqlparse.AlterTable:
		return r.alterTable(s)
	case *sqlparse.RotateToken:
		return r.rotateToken(s)
	case *sqlparse.AlterRecipient:
		return r.alterRecipient(s)
	case *sqlparse.QueryControl:
		return r.queryControl(s)
	}
	return Result{}, &UnsupportedError{Statement: sqlparse.Excerpt(r.stmt)}
}

// ---- names and paths ----

// levels are the kinds of the nodes on the path to an object of a kind.
func levels(k object.Kind) []object.Kind {
	switch k {
	case object.KindSchema:
		return []object.Kind{object.KindDatabase, object.KindSchema}
	case object.KindStream, object.KindTable:
		return []object.Kind{object.KindDatabase, object.KindSchema, k}
	}
	return []object.Kind{k}
}

func invalid(format string, args ...any) error {
	return &catalog.Error{Class: catalog.ErrInvalid, Msg: fmt.Sprintf(format, args...)}
}

// parts returns the parts of the name of an object of kind k, checked: as
// many as its path has (a schema must be qualified with its database), each
// a valid catalog name.
func parts(k object.Kind, n *sqlparse.Name) ([]string, error) {
	lv := levels(k)
	if len(n.Parts) != len(lv) {
		return nil, invalid("%s name %s must be qualified as %s", k, n, shape(lv))
	}
	out := make([]string, len(n.Parts))
	for i, p := range n.Parts {
		if k == object.KindQuery && isQueryID(p.Name) {
			out[i] = p.Name
			continue
		}
		if err := catalog.ValidateName(lv[i], p.Name); err != nil {
			return nil, err
		}
		out[i] = p.Name
	}
	return out, nil
}

func shape(lv []object.Kind) string {
	s := make([]string, len(lv))
	for i, k := range lv {
		s[i] = string(k)
	}
	return strings.Join(s, ".")
}

// path resolves the object kind k at parts to the policy's path, root first,
// with the grants on each node and its owner as an OWNERSHIP grant (a
// query's path is its table's and then itself, see queryTarget). Missing
// nodes (the object or its parents do not exist) are given bare, so the
// policy decides before existence is revealed.
func (r *run) path(k object.Kind, parts []string) ([]policy.Node, error) {
	if k == object.KindQuery {
		_, path, err := r.queryTarget(parts[0])
		return path, err
	}
	nodes, err := r.tx.ResolvePath(k, strings.Join(parts, "."))
	if err == nil {
		out := make([]policy.Node, len(nodes))
		for i, n := range nodes {
			out[i] = policyNode(n)
		}
		return out, nil
	}
	// An object of another kind under the name (DROP TABLE of a stream)
	// counts as missing here, so that the decision does not reveal it; an
	// allowed principal then gets the catalog's error naming the kind.
	if !errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrInvalid) {
		return nil, err
	}
	bare := policy.Node{Kind: k, Name: parts[len(parts)-1]}
	if len(parts) == 1 {
		return []policy.Node{bare}, nil
	}
	lv := levels(k)
	parent, err := r.path(lv[len(lv)-2], parts[:len(parts)-1])
	if err != nil {
		return nil, err
	}
	return append(parent, bare), nil
}

func policyNode(n catalog.Node) policy.Node {
	p := policy.Node{Kind: n.Kind, Name: n.Name, Grants: make([]policy.Grant, 0, len(n.Grants)+1)}
	if n.Owner != "" {
		p.Grants = append(p.Grants, policy.Grant{Role: n.Owner, Privilege: policy.ActionOwnership})
	}
	for _, g := range n.Grants {
		p.Grants = append(p.Grants, policy.Grant{Role: g.Role, Privilege: g.Privilege})
	}
	return p
}

// effectiveRoles returns the principal's roles, expanded through role grants.
func (r *run) effectiveRoles() ([]string, error) {
	if !r.rolesLoaded {
		roles, err := r.tx.EffectiveRoles(r.who.Name)
		if err != nil {
			return nil, err
		}
		r.roles, r.rolesLoaded = roles, true
	}
	return r.roles, nil
}

// allowed asks the policy whether the principal may do action on the last
// node of path. A denial is not an error here; a failed decision is.
func (r *run) allowed(action policy.Action, path []policy.Node) (policy.Decision, error) {
	roles, err := r.effectiveRoles()
	if err != nil {
		return policy.Decision{}, err
	}
	d, err := r.e.pol.Decide(r.ctx, policy.Request{
		Principal: policy.Principal{Kind: r.who.Kind, Name: r.who.Name, Roles: roles},
		Action:    action,
		Path:      path,
	})
	if err != nil {
		return d, fmt.Errorf("exec: authorize %s: %w", action, err)
	}
	return d, nil
}

// authorize is allowed, with a denial returned as *DeniedError.
func (r *run) authorize(action policy.Action, path []policy.Node) error {
	d, err := r.allowed(action, path)
	if err != nil {
		return err
	}
	if !d.Allow {
		return &DeniedError{Statement: sqlparse.Excerpt(r.stmt), Reason: d.Reason}
	}
	return nil
}

// authorizeOn resolves the object kind k named n and authorizes action on it,
// returning the checked name parts.
func (r *run) authorizeOn(action policy.Action, k object.Kind, n *sqlparse.Name) ([]string, error) {
	p, err := parts(k, n)
	if err != nil {
		return nil, err
	}
	path, err := r.path(k, p)
	if err != nil {
		return nil, err
	}
	return p, r.authorize(action, path)
}

func msg(format string, args ...any) Result { return Result{Message: fmt.Sprintf(format, args...)} }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ---- CREATE ----

// authorizeCreate checks CREATE for a new object kind k named n: the path
// ends at the new object, bare (grants on it count for nothing). It returns
// the name parts, and skip when IF NOT EXISTS finds the object.
func (r *run) authorizeCreate(k object.Kind, n *sqlparse.Name, ifNotExists bool) (p []string, skip bool, err error) {
	if p, err = parts(k, n); err != nil {
		return nil, false, err
	}
	path := []policy.Node{{Kind: k, Name: p[len(p)-1]}}
	if len(p) > 1 {
		lv := levels(k)
		parent, err := r.path(lv[len(lv)-2], p[:len(p)-1])
		if err != nil {
			return nil, false, err
		}
		path = append(parent, path...)
	}
	if err := r.authorize(policy.ActionCreate, path); err != nil {
		return nil, false, err
	}
	if ifNotExists {
		exists, err := r.exists(k, p)
		return p, exists, err
	}
	return p, false, nil
}

func (r *run) create(s *sqlparse.CreateObject) (Result, error) {
	k := s.Kind
	p, skip, err := r.authorizeCreate(k, s.Name, s.IfNotExists)
	if err != nil || skip {
		return msg("%s %s already exists, skipped", k, strings.Join(p, ".")), err
	}
	switch k {
	case object.KindStore:
		props, err := properties(s.With)
		if err != nil {
			return Result{}, err
		}
		typ := props["type"]
		delete(props, "type")
		if typ == "" {
			typ = "kafka"
		}
		st, err := r.tx.CreateStore(catalog.Store{Name: p[0], Type: typ, Properties: props})
		return msg("store %s created", st.Name), err
	case object.KindDatabase:
		d, err := r.tx.CreateDatabase(catalog.Database{Name: p[0]})
		return msg("database %s created", d.Name), err
	case object.KindSchema:
		sc, err := r.tx.CreateSchema(catalog.Schema{Database: p[0], Name: p[1]})
		return msg("schema %s.%s created", sc.Database, sc.Name), err
	case object.KindRole:
		ro, err := r.tx.CreateRole(catalog.Role{Name: p[0]})
		return msg("role %s created", ro.Name), err
	case object.KindUser:
		owner, err := r.identityOwner()
		if err != nil {
			return Result{}, err
		}
		u, token, err := r.tx.CreateUser(catalog.User{Name: p[0], Owner: owner})
		if err != nil {
			return Result{}, err
		}
		return tokenResult(u.Name, token, "user %s created; its token is shown this once and cannot be read back: store it now"), nil
	case object.KindShare, object.KindRecipient:
		return r.createSharing(k, p[0], s)
	}
	return Result{}, &UnsupportedError{Statement: sqlparse.Excerpt(s)}
}

// identityOwner is the owner of a user or recipient the principal creates:
// admin's, unless the principal holds useradmin and not admin, in which
// case useradmin owns it, and so manages it (and only it) from then on.
func (r *run) identityOwner() (string, error) {
	roles, err := r.effectiveRoles()
	if err != nil {
		return "", err
	}
	if !containsFold(roles, catalog.AdminRole) && containsFold(roles, catalog.UserAdminRole) {
		return catalog.UserAdminRole, nil
	}
	return "", nil
}

// exists reports whether the object kind k at p exists as that kind. An
// object of another kind under the same name (a role named like a user)
// is not reported: the create then fails with the catalog's message.
func (r *run) exists(k object.Kind, p []string) (bool, error) {
	var err error
	switch k {
	case object.KindDatabase:
		_, err = r.tx.GetDatabase(p[0])
	case object.KindSchema:
		_, err = r.tx.GetSchema(p[0], p[1])
	case object.KindRole:
		_, err = r.tx.GetRole(p[0])
	case object.KindUser:
		_, err = r.tx.GetUser(p[0])
	case object.KindStore:
		_, err = r.tx.GetStore(p[0])
	case object.KindShare:
		_, err = r.tx.GetShare(p[0])
	case object.KindRecipient:
		_, err = r.tx.GetRecipient(p[0])
	case object.KindStream, object.KindTable:
		var rel catalog.Relation
		rel, err = r.tx.GetRelation(p[0], p[1], p[2])
		if err == nil && rel.Kind != k {
			return false, nil
		}
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, catalog.ErrInvalid):
		return false, nil
	}
	return false, err
}

// ---- DROP ----

func (r *run) drop(s *sqlparse.Drop) (Result, error) {
	k := s.Kind
	p, err := r.authorizeOn(policy.ActionDrop, k, s.Name)
	if err != nil {
		return Result{}, err
	}
	name := strings.Join(p, ".")
	if s.IfExists {
		exists, err := r.exists(k, p)
		if err != nil {
			return Result{}, err
		}
		if !exists {
			return msg("%s %s does not exist, skipped", k, name), nil
		}
	}
	switch k {
	case object.KindDatabase:
		err = r.tx.DropDatabase(p[0], s.Cascade)
	case object.KindSchema:
		err = r.tx.DropSchema(p[0], p[1], s.Cascade)
	case object.KindRole:
		err = r.tx.DropRole(p[0])
	case object.KindUser:
		err = r.tx.DropUser(p[0])
	case object.KindStore:
		err = r.tx.DropStore(p[0])
	case object.KindStream:
		err = r.dropStream(p)
	case object.KindTable:
		return r.dropTable(s, p)
	case object.KindShare:
		err = r.tx.DropShare(p[0])
	case object.KindRecipient:
		err = r.tx.DropRecipient(p[0])
	default:
		return Result{}, &UnsupportedError{Statement: sqlparse.Excerpt(s)}
	}
	if err != nil {
		return Result{}, err
	}
	return msg("%s %s dropped", k, name), nil
}

// ---- SHOW ----

func (r *run) showDatabases() (Result, error) {
	dbs, err := r.visibleDatabases()
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: []string{"name", "owner", "created"}, Rows: [][]string{}}
	for _, d := range dbs {
		res.Rows = append(res.Rows, []string{d.Name, d.Owner, ts(d.Created)})
	}
	res.Message = fmt.Sprintf("%d databases", len(res.Rows))
	return res, nil
}

// visibleDatabases lists the databases the principal has USAGE on.
func (r *run) visibleDatabases() ([]catalog.Database, error) {
	dbs, err := r.tx.ListDatabases()
	if err != nil {
		return nil, err
	}
	var out []catalog.Database
	for _, d := range dbs {
		ok, err := r.usable(object.KindDatabase, []string{d.Name})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// usable reports whether the principal has USAGE on the object kind k at p.
func (r *run) usable(k object.Kind, p []string) (bool, error) {
	return r.permitted(policy.ActionUsage, k, p)
}

func (r *run) showSchemas(s *sqlparse.Show) (Result, error) {
	var dbs []string
	if s.In != nil {
		p, err := r.authorizeOn(policy.ActionUsage, object.KindDatabase, s.In)
		if err != nil {
			return Result{}, err
		}
		dbs = p
	} else {
		visible, err := r.visibleDatabases()
		if err != nil {
			return Result{}, err
		}
		for _, d := range visible {
			dbs = append(dbs, d.Name)
		}
	}
	res := Result{Columns: []string{"database", "name", "owner", "created"}, Rows: [][]string{}}
	for _, db := range dbs {
		schemas, err := r.tx.ListSchemas(db)
		if err != nil {
			return Result{}, err
		}
		for _, sc := range schemas {
			ok, err := r.usable(object.KindSchema, []string{sc.Database, sc.Name})
			if err != nil {
				return Result{}, err
			}
			if ok {
				res.Rows = append(res.Rows, []string{sc.Database, sc.Name, sc.Owner, ts(sc.Created)})
			}
		}
	}
	res.Message = fmt.Sprintf("%d schemas", len(res.Rows))
	return res, nil
}

func (r *run) showGrants(s *sqlparse.ShowGrants) (Result, error) {
	var (
		grants []catalog.Grant
		err    error
	)
	switch {
	case s.On != nil:
		k := s.OnKind
		var p []string
		if p, err = r.authorizeOn(policy.ActionDescribe, k, s.On); err != nil {
			return Result{}, err
		}
		grants, err = r.tx.GrantsOn(k, strings.Join(p, "."))
	case s.To != nil && s.ToKind == object.KindRole:
		grants, err = r.grantsToRole(s.To.Name)
	case s.To != nil:
		grants, err = r.grantsToUser(s.To.Name)
	default:
		grants, err = r.grantsToUser(r.who.Name)
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: []string{"privilege", "kind", "object", "role"}, Rows: [][]string{}}
	for _, g := range grants {
		res.Rows = append(res.Rows, []string{string(g.Privilege), string(g.ObjectKind), g.Object, g.Role})
	}
	res.Message = fmt.Sprintf("%d grants", len(res.Rows))
	return res, nil
}

// grantsToRole lists the grants held directly by role, after a DESCRIBE
// check unless it is one of the principal's own roles.
func (r *run) grantsToRole(role string) ([]catalog.Grant, error) {
	own, err := r.effectiveRoles()
	if err != nil {
		return nil, err
	}
	if !containsFold(own, role) {
		if _, err := r.authorizeOn(policy.ActionDescribe, object.KindRole, oneName(role)); err != nil {
			return nil, err
		}
	}
	return r.tx.GrantsTo(role)
}

// grantsToUser lists the grants of every effective role of user, after a
// DESCRIBE check unless it is the principal.
func (r *run) grantsToUser(user string) ([]catalog.Grant, error) {
	if !strings.EqualFold(user, r.who.Name) {
		if _, err := r.authorizeOn(policy.ActionDescribe, object.KindUser, oneName(user)); err != nil {
			return nil, err
		}
	}
	if _, err := r.tx.GetUser(user); err != nil {
		return nil, err
	}
	roles, err := r.tx.EffectiveRoles(user)
	if err != nil {
		return nil, err
	}
	var out []catalog.Grant
	for _, ro := range roles {
		gs, err := r.tx.GrantsTo(ro)
		if err != nil {
			return nil, err
		}
		out = append(out, gs...)
	}
	return out, nil
}

func oneName(s string) *sqlparse.Name {
	return &sqlparse.Name{Parts: []*sqlparse.Ident{{Name: s}}}
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// ---- GRANT / REVOKE ----

func (r *run) grantRole(s *sqlparse.GrantRole) (Result, error) {
	if _, err := r.authorizeOn(policy.ActionGrant, object.KindRole, oneName(s.Role.Name)); err != nil {
		return Result{}, err
	}
	gk := s.GranteeKind
	// The catalog looks the member up among users and roles alike; the
	// statement names which one it means.
	var err error
	if gk == object.KindUser {
		_, err = r.tx.GetUser(s.Grantee.Name)
	} else {
		_, err = r.tx.GetRole(s.Grantee.Name)
	}
	if err != nil {
		return Result{}, err
	}
	if s.Revoke {
		if err := r.tx.RevokeRole(s.Role.Name, s.Grantee.Name); err != nil {
			return Result{}, err
		}
		return msg("role %s revoked from %s %s", s.Role.Name, gk, s.Grantee.Name), nil
	}
	g, err := r.tx.GrantRole(s.Role.Name, s.Grantee.Name)
	if err != nil {
		return Result{}, err
	}
	return msg("role %s granted to %s %s", g.Role, g.MemberKind, g.Member), nil
}

func (r *run) grantPrivileges(s *sqlparse.GrantPrivileges) (Result, error) {
	k := s.OnKind
	ownership := slices.Contains(s.Privileges, object.PrivOwnership)
	if ownership && s.Revoke {
		return Result{}, invalid("ownership cannot be revoked: transfer it with GRANT OWNERSHIP ON %s %s TO ROLE <role>", s.OnKind, s.On)
	}
	if err := checkGrantable(s); err != nil {
		return Result{}, err
	}
	action := policy.ActionGrant
	if ownership {
		action = policy.ActionOwnership
	}
	p, err := r.authorizeOn(action, k, s.On)
	if err != nil {
		return Result{}, err
	}
	path, role := strings.Join(p, "."), s.Grantee.Name
	privs := make([]string, len(s.Privileges))
	for i, priv := range s.Privileges {
		privs[i] = string(priv)
		switch {
		case priv == object.PrivOwnership:
			err = r.tx.SetOwner(k, path, role)
		case s.Revoke:
			err = r.tx.Revoke(priv, k, path, role)
		default:
			_, err = r.tx.Grant(priv, k, path, role)
		}
		if err != nil {
			return Result{}, err
		}
	}
	if s.Revoke {
		return msg("%s on %s %s revoked from role %s", strings.Join(privs, ", "), k, path, role), nil
	}
	return msg("%s on %s %s granted to role %s", strings.Join(privs, ", "), k, path, role), nil
}

// ---- streams ----

// properties turns WITH ('k' = v, ...) into a map of strings.
func properties(with []*sqlparse.Property) (map[string]string, error) {
	out := make(map[string]string, len(with))
	for _, p := range with {
		switch v := p.Value.(type) {
		case *sqlparse.Literal:
			out[p.Key] = v.Value
		case *sqlparse.ColumnRef:
			out[p.Key] = v.Parts[0].Name
		default:
			return nil, invalid("property %q: want a string, number or name", p.Key)
		}
	}
	return out, nil
}

// createStream registers a stream: its columns, store, topic and format.
// It needs CREATE on the schema and USAGE on the store.
func (r *run) createStream(s *sqlparse.CreateStream) (Result, error) {
	p, skip, err := r.authorizeCreate(object.KindStream, s.Name, s.IfNotExists)
	if err != nil || skip {
		return msg("stream %s already exists, skipped", strings.Join(p, ".")), err
	}
	props, err := properties(s.With)
	if err != nil {
		return Result{}, err
	}
	rel := catalog.Relation{Database: p[0], Schema: p[1], Name: p[2], Kind: object.KindStream,
		Store: props["store"], Topic: props["topic"], ValueFormat: props["value.format"], Properties: props}
	if rel.Store == "" || rel.Topic == "" {
		return Result{}, invalid("stream %s needs WITH ('store' = ..., 'topic' = ...)", strings.Join(p, "."))
	}
	// Reading a Kafka cluster is the store's to give: USAGE on it.
	if _, err := r.authorizeOn(policy.ActionUsage, object.KindStore, oneName(rel.Store)); err != nil {
		return Result{}, err
	}
	store, err := r.tx.GetStore(rel.Store)
	if err != nil {
		return Result{}, err
	}
	if rel.ValueFormat == "" {
		rel.ValueFormat = "json"
	}
	if len(s.Columns) == 0 && !registryFormats[rel.ValueFormat] {
		return Result{}, invalid("stream %s: a %s stream needs its columns: (name TYPE [NOT NULL], ...)", strings.Join(p, "."), rel.ValueFormat)
	}
	for _, c := range s.Columns {
		rel.Columns = append(rel.Columns, catalog.Column{Name: c.Name.Name, Type: c.Type.Text, Nullable: !c.NotNull})
	}
	if len(s.Columns) == 0 {
		if r.pre != nil && r.pre.registry != nil {
			rel.Columns, err = r.pre.registry.cols, r.pre.registry.err
		} else {
			rel.Columns, err = registryColumns(r.ctx, strings.Join(p, "."), rel, store)
		}
		if err != nil {
			return Result{}, err
		}
	}
	if _, err := r.tx.CreateRelation(rel); err != nil {
		return Result{}, err
	}
	if len(s.Columns) == 0 {
		return msg("stream %s created, with the %d columns of subject %s-value", strings.Join(p, "."), len(rel.Columns), rel.Topic), nil
	}
	return msg("stream %s created", strings.Join(p, ".")), nil
}

// schemaRef names one schema.
type schemaRef struct{ db, name string }

// listedSchemas are the schemas a SHOW lists: the one of its IN (USAGE
// checked), or every schema the principal can use.
func (r *run) listedSchemas(in *sqlparse.Name) ([]schemaRef, error) {
	if in != nil {
		p, err := r.authorizeOn(policy.ActionUsage, object.KindSchema, in)
		if err != nil {
			return nil, err
		}
		return []schemaRef{{p[0], p[1]}}, nil
	}
	dbs, err := r.visibleDatabases()
	if err != nil {
		return nil, err
	}
	var schemas []schemaRef
	for _, d := range dbs {
		scs, err := r.tx.ListSchemas(d.Name)
		if err != nil {
			return nil, err
		}
		for _, sc := range scs {
			if ok, err := r.usable(object.KindSchema, []string{sc.Database, sc.Name}); err != nil {
				return nil, err
			} else if ok {
				schemas = append(schemas, schemaRef{sc.Database, sc.Name})
			}
		}
	}
	return schemas, nil
}

// showRelations lists the streams (or tables) of one schema, or of every
// schema the principal can use.
func (r *run) showRelations(s *sqlparse.Show, kind object.Kind) (Result, error) {
	schemas, err := r.listedSchemas(s.In)
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: []string{"name", "store", "topic", "format", "owner"}, Rows: [][]string{}}
	if kind == object.KindTable {
		res.Columns = []string{"name", "location", "owner"}
	}
	for _, sc := range schemas {
		rels, err := r.tx.ListRelations(sc.db, sc.name)
		if err != nil {
			return Result{}, err
		}
		for _, rel := range rels {
			if rel.Kind != kind {
				continue
			}
			if kind == object.KindTable {
				res.Rows = append(res.Rows, []string{rel.Path(), rel.Location, rel.Owner})
			} else {
				res.Rows = append(res.Rows, []string{rel.Path(), rel.Store, rel.Topic, rel.ValueFormat, rel.Owner})
			}
		}
	}
	res.Message = fmt.Sprintf("%d %ss", len(res.Rows), kind)
	return res, nil
}

// ---- tables and queries ----

// createTable registers an existing Delta table (LOCATION) or creates a
// table written by a continuous query (AS SELECT): the query is compiled
// and type-checked now, and stored with its pipeline spec in the state
// running, for the supervisor to start.
func (r *run) createTable(s *sqlparse.CreateTable) (Result, error) {
	p, skip, err := r.authorizeCreate(object.KindTable, s.Name, s.IfNotExists)
	if err != nil || skip {
		return msg("table %s already exists, skipped", strings.Join(p, ".")), err
	}
	name := strings.Join(p, ".")
	props, err := properties(s.With)
	if err != nil {
		return Result{}, err
	}
	if err := checkUpkeepProperties(name, s.With, props, s, false); err != nil {
		return Result{}, err
	}
	if s.Location != nil {
		return r.registerTable(s, p, props)
	}
	src, err := r.sourceStream(s.Query.From, p)
	if err != nil {
		return Result{}, err
	}
	loc := props["location"]
	if loc == "" {
		loc = strings.Join([]string{r.e.warehouse, p[0], p[1], p[2]}, "/")
	}
	if err := checkTableLocation(loc); err != nil {
		return Result{}, invalid("table %s: %v", name, err)
	}
	target := plan.Table{Name: name, Location: loc, Props: withoutUpkeep(props), PropPos: plan.PropertyPositions(s.With)}
	compiled, err := plan.Compile("pending", s.Query, src, target) // type-check before writing anything
	if err != nil {
		return Result{}, err
	}
	cols := make([]catalog.Column, len(compiled.Schema.Fields))
	for i, f := range compiled.Schema.Fields {
		cols[i] = catalog.Column{Name: f.Name, Type: deltalog.FormatType(f.Type), Nullable: f.Nullable}
	}
	if _, err := r.tx.CreateRelation(catalog.Relation{Database: p[0], Schema: p[1], Name: p[2], Kind: object.KindTable,
		Location: loc, Columns: cols, Properties: props}); err != nil {
		return Result{}, err
	}
	q, err := r.tx.CreateQuery(catalog.Query{SQL: s.String(), Table: name})
	if err != nil {
		return Result{}, err
	}
	compiled, err = plan.Compile(q.ID, s.Query, src, target)
	if err != nil {
		return Result{}, err
	}
	spec, err := json.Marshal(compiled.Spec)
	if err != nil {
		return Result{}, err
	}
	if _, err := r.tx.SetQuerySpec(q.ID, spec); err != nil {
		return Result{}, err
	}
	return Result{Columns: []string{"table", "query", "location"}, Rows: [][]string{{name, q.ID, loc}},
		Message: fmt.Sprintf("table %s created; query %s writes it", name, q.ID)}, nil
}

// sourceStream resolves the FROM of a query (a stream, qualified fully or
// relative to the target's schema), checks SELECT on it, and describes it
// for the compiler.
func (r *run) sourceStream(from *sqlparse.Name, target []string) (plan.Stream, error) {
	p := sourcePath(from, target)
	fromName := &sqlparse.Name{Pos: from.Pos}
	for _, part := range p {
		fromName.Parts = append(fromName.Parts, &sqlparse.Ident{Name: part})
	}
	if _, err := r.authorizeOn(policy.ActionSelect, object.KindStream, fromName); err != nil {
		return plan.Stream{}, err
	}
	rel, err := r.tx.GetRelation(p[0], p[1], p[2])
	if err != nil {
		return plan.Stream{}, err
	}
	if rel.Kind != object.KindStream {
		return plan.Stream{}, invalid("%s is a %s: a query reads a stream", rel.Path(), rel.Kind)
	}
	store, err := r.tx.GetStore(rel.Store)
	if err != nil {
		return plan.Stream{}, err
	}
	src := plan.Stream{Name: rel.Path(), Props: map[string]string{}, StoreProps: store.Properties}
	for k, v := range rel.Properties {
		src.Props[k] = v
	}
	src.Props["topic"], src.Props["value.format"] = rel.Topic, rel.ValueFormat
	for _, c := range rel.Columns {
		t, err := deltalog.ParseType(c.Type)
		if err != nil {
			return plan.Stream{}, fmt.Errorf("stream %s column %s: %w", rel.Path(), c.Name, err)
		}
		src.Columns = append(src.Columns, plan.Column{Name: c.Name, Type: t, Nullable: c.Nullable})
	}
	return src, nil
}
