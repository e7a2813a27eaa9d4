package exec

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/policy"
)

// SecretPlaceholder is what DESCRIBE shows for a property that holds a
// secret (catalog.IsSecretProperty): never the value, not even the env: or
// file: reference, which says where the secret lives.
const SecretPlaceholder = "********"

// DescribeColumns are the columns of a DESCRIBE result. Each row is one
// fact about the object, in sections:
//
//	info       name, value: kind, name, owner, created, and per kind
//	           location, external, query, state, store, topic, format,
//	           type, comment, rotated, tokens, sql
//	column     column name, type, "nullable" or "not null"
//	property   key, value ("secret" in detail, SecretPlaceholder as value)
//	grant      privilege, role: the grants on the object
//	holds      privilege, object (detail: its kind): a role's own grants
//	role       role name: a user's or role's roles, granted directly
//	member     member name, its kind: who holds a role
//	reader     query id, the table it writes: live queries reading a stream
//	table      table, its name in a share ("with history" in detail)
//	recipient  recipient name: who may read a share
//	share      share name: the shares a recipient may read
//	recipient property  key, value, "CURRENT_RECIPIENT('key')": what share
//	           filters read (WITH PROPERTIES)
//	token      "token N", created, expiry ("never"): a recipient's tokens
//	           (their hashes are never shown)
var DescribeColumns = []string{"section", "name", "value", "detail"}

// describeKinds are the kinds one unqualified name may be, in the order an
// ambiguity is reported. The database comes first: it is also the kind a
// missing name is checked as.
var describeKinds = []object.Kind{object.KindDatabase, object.KindStore, object.KindShare,
	object.KindRecipient, object.KindQuery, object.KindUser, object.KindRole}

// describe answers DESCRIBE [kind] name after a DESCRIBE decision on the
// object's path.
func (r *run) describe(s *sqlparse.Describe) (Result, error) {
	k, p, err := r.describeTarget(s)
	if err != nil {
		return Result{}, err
	}
	d := &description{}
	name := strings.Join(p, ".")
	switch k {
	case object.KindDatabase:
		err = r.describeDatabase(d, p)
	case object.KindSchema:
		err = r.describeSchema(d, p)
	case object.KindStream, object.KindTable:
		err = r.describeRelation(d, k, p)
	case object.KindStore:
		err = r.describeStore(d, name)
	case object.KindUser:
		err = r.describeUser(d, name)
	case object.KindRole:
		err = r.describeRole(d, name)
	case object.KindShare:
		err = r.describeShare(d, name)
	case object.KindRecipient:
		err = r.describeRecipient(d, name)
	case object.KindQuery:
		err = r.describeQuery(d, name)
	default:
		return Result{}, &UnsupportedError{Statement: sqlparse.Excerpt(s)}
	}
	if err != nil {
		return Result{}, err
	}
	grants, err := r.tx.GrantsOn(k, name)
	if err != nil {
		return Result{}, err
	}
	for _, g := range grants {
		d.add("grant", string(g.Privilege), g.Role, "")
	}
	return Result{Columns: DescribeColumns, Rows: d.rows, Message: fmt.Sprintf("%s %s", k, d.name)}, nil
}

// describeTarget returns the kind and name parts of the object a DESCRIBE
// names, after authorizing DESCRIBE on it. Without a kind, a three-part
// name is a stream or a table, a two-part one a schema, and a one-part one
// whichever top-level object of that name the principal may describe.
func (r *run) describeTarget(s *sqlparse.Describe) (object.Kind, []string, error) {
	if s.Kind != "" {
		k := s.Kind
		p, err := r.authorizeOn(policy.ActionDescribe, k, s.Name)
		return k, p, err
	}
	switch len(s.Name.Parts) {
	case 3:
		p, err := parts(object.KindTable, s.Name)
		if err != nil {
			return "", nil, err
		}
		// The kind of an existing relation is no secret to whoever passes
		// the USAGE checks on its schema (SHOW STREAMS lists it); to others
		// the denial names the schema or database, not the relation.
		k := object.KindTable
		if rel, err := r.tx.GetRelation(p[0], p[1], p[2]); err == nil {
			k = rel.Kind
		}
		if _, err := r.authorizeOn(policy.ActionDescribe, k, s.Name); err != nil {
			return "", nil, err
		}
		if _, err := r.tx.GetRelation(p[0], p[1], p[2]); err != nil {
			return "", nil, &catalog.Error{Class: catalog.ErrNotFound, Msg: fmt.Sprintf("no stream or table %s: check the name with SHOW STREAMS / SHOW TABLES IN %s.%s", strings.Join(p, "."), p[0], p[1])}
		}
		return k, p, nil
	case 2:
		p, err := r.authorizeOn(policy.ActionDescribe, object.KindSchema, s.Name)
		return object.KindSchema, p, err
	}
	return r.describeTopLevel(s.Name)
}

// describeTopLevel resolves an unqualified name among the top-level kinds.
// A decision is made on the database of that name, existing or not, and on
// every other object of that name; only the allowed ones count. Denied
// everywhere, the principal gets the database's denial, whatever exists:
// the answer does not depend on objects it may not see.
func (r *run) describeTopLevel(n *sqlparse.Name) (object.Kind, []string, error) {
	name := n.Parts[0].Name
	if isQueryID(name) { // no other object is named like a UUID
		p, err := r.authorizeOn(policy.ActionDescribe, object.KindQuery, n)
		return object.KindQuery, p, err
	}
	if err := catalog.ValidateName(object.KindDatabase, name); err != nil {
		return "", nil, err
	}
	p := []string{name}
	var (
		found  []object.Kind
		denied *policy.Decision
	)
	for _, k := range describeKinds {
		_, err := r.tx.ResolvePath(k, name)
		exists := err == nil
		if err != nil && !errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrInvalid) {
			return "", nil, err
		}
		if !exists && k != object.KindDatabase {
			continue
		}
		path, err := r.path(k, p)
		if err != nil {
			return "", nil, err
		}
		d, err := r.allowed(policy.ActionDescribe, path)
		if err != nil {
			return "", nil, err
		}
		switch {
		case !d.Allow && k == object.KindDatabase:
			denied = &d
		case d.Allow && exists:
			found = append(found, k)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], p, nil
	case len(found) > 1:
		kinds := make([]string, len(found))
		for i, k := range found {
			kinds[i] = string(k)
		}
		return "", nil, invalid("%s is ambiguous: there is a %s named so; say which, e.g. DESCRIBE %s %s",
			name, strings.Join(kinds, " and a "), strings.ToUpper(kinds[0]), name)
	case denied != nil:
		return "", nil, &DeniedError{Statement: sqlparse.Excerpt(r.stmt), Reason: denied.Reason}
	}
	return "", nil, &catalog.Error{Class: catalog.ErrNotFound, Msg: fmt.Sprintf(
		"no database, store, share, recipient, query, user or role named %s (a schema is named database.schema, a stream or table database.schema.name)", name)}
}

// isQueryID reports whether s is a query's id, a UUID (which is not a
// valid catalog name: it may start with a digit and holds '-').
func isQueryID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// description collects the rows of a DESCRIBE result.
type description struct {
	name string // the object's canonical name, for the message
	rows [][]string
}

func (d *description) add(section, name, value, detail string) {
	d.rows = append(d.rows, []string{section, name, value, detail})
}

// object adds the info rows every object has.
func (d *description) object(kind object.Kind, name, owner string, created string) {
	d.name = name
	d.add("info", "kind", string(kind), "")
	d.add("info", "name", name, "")
	d.add("info", "owner", owner, "")
	d.add("info", "created", created, "")
}

func (d *description) info(name, value string) {
	if value != "" {
		d.add("info", name, value, "")
	}
}

// properties adds properties by key, secrets masked but for the keys
// listed as plain (a recipient's token.ttl is a duration, not a token).
func (d *description) properties(props map[string]string, plain ...string) {
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if catalog.IsSecretProperty(k) && !slices.Contains(plain, k) {
			d.add("property", k, SecretPlaceholder, "secret")
		} else {
			d.add("property", k, props[k], "")
		}
	}
}

func (r *run) describeDatabase(d *description, p []string) error {
	db, err := r.tx.GetDatabase(p[0])
	if err != nil {
		return err
	}
	d.object(object.KindDatabase, db.Name, db.Owner, ts(db.Created))
	d.info("comment", db.Comment)
	d.properties(db.Properties)
	return nil
}

func (r *run) describeSchema(d *description, p []string) error {
	sc, err := r.tx.GetSchema(p[0], p[1])
	if err != nil {
		return err
	}
	d.object(object.KindSchema, sc.Database+"."+sc.Name, sc.Owner, ts(sc.Created))
	d.info("comment", sc.Comment)
	d.properties(sc.Properties)
	return nil
}

func (r *run) describeRelation(d *description, k object.Kind, p []string) error {
	rel, err := r.tx.GetRelation(p[0], p[1], p[2])
	if err != nil {
		return err
	}
	if rel.Kind != k {
		return invalid("%s is a %s, not a %s: use DESCRIBE %s %s", rel.Path(), rel.Kind, k, rel.Kind.Keyword(), rel.Path())
	}
	d.object(rel.Kind, rel.Path(), rel.Owner, ts(rel.Created))
	if k == object.KindStream {
		d.info("store", rel.Store)
		d.info("topic", rel.Topic)
		d.info("format", rel.ValueFormat)
	} else {
		d.info("location", rel.Location)
		d.info("external", strconv.FormatBool(rel.External))
		if rel.QueryID != "" {
			d.info("query", rel.QueryID)
			q, err := r.tx.GetQuery(rel.QueryID)
			if err != nil {
				return err
			}
			d.info("state", string(q.State))
		}
	}
	for _, c := range rel.Columns {
		null := "not null"
		if c.Nullable {
			null = "nullable"
		}
		d.add("column", c.Name, c.Type, null)
	}
	// A stream's WITH properties repeat its store, topic and format.
	props := maps.Clone(rel.Properties)
	if k == object.KindStream {
		delete(props, "store")
		delete(props, "topic")
		delete(props, "value.format")
	}
	d.properties(props)
	if k == object.KindStream {
		qs, err := r.queriesReading(p, false)
		if err != nil {
			return err
		}
		for _, q := range qs {
			d.add("reader", q.ID, q.Table, string(q.State))
		}
	}
	return nil
}

func (r *run) describeStore(d *description, name string) error {
	st, err := r.tx.GetStore(name)
	if err != nil {
		return err
	}
	d.object(object.KindStore, st.Name, st.Owner, ts(st.Created))
	d.info("type", st.Type)
	d.properties(st.Properties)
	return nil
}

func (r *run) describeUser(d *description, name string) error {
	u, err := r.tx.GetUser(name)
	if err != nil {
		return err
	}
	d.object(object.KindUser, u.Name, u.Owner, ts(u.Created))
	if !u.Rotated.IsZero() {
		d.info("rotated", ts(u.Rotated))
	}
	return r.describeMembership(d, u.Name)
}

func (r *run) describeRole(d *description, name string) error {
	ro, err := r.tx.GetRole(name)
	if err != nil {
		return err
	}
	d.object(object.KindRole, ro.Name, ro.Owner, ts(ro.Created))
	d.info("comment", ro.Comment)
	if err := r.describeMembership(d, ro.Name); err != nil {
		return err
	}
	gs, err := r.tx.GrantsTo(ro.Name)
	if err != nil {
		return err
	}
	for _, g := range gs {
		d.add("holds", string(g.Privilege), g.Object, string(g.ObjectKind))
	}
	return nil
}

// describeMembership adds the roles granted to principal (a user or a
// role) and, for a role, who holds it.
func (r *run) describeMembership(d *description, principal string) error {
	rgs, err := r.tx.ListRoleGrants()
	if err != nil {
		return err
	}
	for _, g := range rgs {
		if strings.EqualFold(g.Member, principal) {
			d.add("role", g.Role, "", "")
		}
	}
	for _, g := range rgs {
		if strings.EqualFold(g.Role, principal) {
			d.add("member", g.Member, string(g.MemberKind), "")
		}
	}
	return nil
}

func (r *run) describeShare(d *description, name string) error {
	sh, err := r.tx.GetShare(name)
	if err != nil {
		return err
	}
	d.object(object.KindShare, sh.Name, sh.Owner, ts(sh.Created))
	d.info("comment", sh.Comment)
	for _, t := range sh.Tables {
		alias := t.Alias
		if alias == "" {
			alias = t.Table[strings.LastIndexByte(t.Table, '.')+1:]
		}
		hist := ""
		if t.WithHistory {
			hist = "with history"
		}
		if t.Filter != "" {
			hist = strings.TrimSpace(hist + " where " + t.Filter)
		}
		d.add("table", t.Table, t.ShareSchema+"."+alias, hist)
	}
	return r.shareGrants(d, func(g catalog.ShareGrant) (string, string) { return g.Share, g.Recipient }, sh.Name, "recipient")
}

// shareGrants adds a row in section for each share grant whose side key
// (share or recipient, as split says) is name, naming the other side.
func (r *run) shareGrants(d *description, split func(catalog.ShareGrant) (key, other string), name, section string) error {
	sgs, err := r.tx.ListShareGrants()
	if err != nil {
		return err
	}
	for _, g := range sgs {
		if key, other := split(g); strings.EqualFold(key, name) {
			d.add(section, other, "", "")
		}
	}
	return nil
}

func (r *run) describeRecipient(d *description, name string) error {
	rc, err := r.tx.GetRecipient(name)
	if err != nil {
		return err
	}
	d.object(object.KindRecipient, rc.Name, rc.Owner, ts(rc.Created))
	d.properties(rc.Properties, "token.ttl")
	for _, k := range slices.Sorted(maps.Keys(rc.SharingProperties)) {
		d.add("recipient property", k, rc.SharingProperties[k], "CURRENT_RECIPIENT('"+k+"')")
	}
	d.info("tokens", strconv.Itoa(len(rc.Tokens)))
	// Oldest first; of tokens made together, the one expiring first
	// (never expiring last).
	slices.SortStableFunc(rc.Tokens, func(a, b catalog.RecipientToken) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		if a.Expires.IsZero() || b.Expires.IsZero() {
			return cmp.Compare(btoi(a.Expires.IsZero()), btoi(b.Expires.IsZero()))
		}
		return a.Expires.Compare(b.Expires)
	})
	for i, t := range rc.Tokens {
		exp := "never"
		if !t.Expires.IsZero() {
			exp = "expires " + ts(t.Expires)
		}
		d.add("token", fmt.Sprintf("token %d", i+1), "created "+ts(t.Created), exp)
	}
	return r.shareGrants(d, func(g catalog.ShareGrant) (string, string) { return g.Recipient, g.Share }, rc.Name, "share")
}

func (r *run) describeQuery(d *description, id string) error {
	q, err := r.tx.GetQuery(id)
	if err != nil {
		return err
	}
	d.object(object.KindQuery, q.ID, q.Owner, ts(q.Created))
	d.info("table", q.Table)
	d.info("state", string(q.State))
	d.info("sql", q.SQL)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
