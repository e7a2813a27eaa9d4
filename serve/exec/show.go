package exec

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/policy"
)

// SHOW STORES, SHOW USERS and SHOW ROLES list the objects of their kind the
// principal may DESCRIBE, one decision per object (the admin role passes
// every one): a listing tells no more than DESCRIBE of each would. A store
// is shown with its type and its properties but the secret ones
// (catalog.IsSecretProperty), which are left out, not even named; a user
// with the roles granted to it, never its token hash.

// permitted reports whether the principal may do action on the object kind
// k at p (a denial is not an error here).
func (r *run) permitted(action policy.Action, k object.Kind, p []string) (bool, error) {
	path, err := r.path(k, p)
	if err != nil {
		return false, err
	}
	d, err := r.allowed(action, path)
	return d.Allow, err
}

// listDescribable builds the result of a SHOW of top-level objects: the
// row of each object whose name the principal may DESCRIBE, in the order
// given.
func listDescribable[T any](r *run, k object.Kind, objs []T, columns []string, row func(T) (name string, cells []string)) (Result, error) {
	res := Result{Columns: columns, Rows: [][]string{}}
	for _, o := range objs {
		name, cells := row(o)
		ok, err := r.permitted(policy.ActionDescribe, k, []string{name})
		if err != nil {
			return Result{}, err
		}
		if ok {
			res.Rows = append(res.Rows, cells)
		}
	}
	res.Message = fmt.Sprintf("%d %ss", len(res.Rows), k)
	return res, nil
}

// showStores is SHOW STORES: name, type, the non-secret properties as
// "key=value" in key order, owner and creation time.
func (r *run) showStores() (Result, error) {
	stores, err := r.tx.ListStores()
	if err != nil {
		return Result{}, err
	}
	return listDescribable(r, object.KindStore, stores, []string{"name", "type", "properties", "owner", "created"},
		func(st catalog.Store) (string, []string) {
			return st.Name, []string{st.Name, st.Type, publicProperties(st.Properties), st.Owner, ts(st.Created)}
		})
}

// publicProperties renders the properties that are not secrets as
// "key=value, ..." in key order.
func publicProperties(props map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if !catalog.IsSecretProperty(k) {
			out = append(out, k+"="+props[k])
		}
	}
	return strings.Join(out, ", ")
}

// showUsers is SHOW USERS: name, the roles granted to the user directly,
// the last token rotation (empty if never), owner and creation time.
func (r *run) showUsers() (Result, error) {
	users, err := r.tx.ListUsers()
	if err != nil {
		return Result{}, err
	}
	rgs, err := r.tx.ListRoleGrants()
	if err != nil {
		return Result{}, err
	}
	return listDescribable(r, object.KindUser, users, []string{"name", "roles", "rotated", "owner", "created"},
		func(u catalog.User) (string, []string) {
			var roles []string
			for _, g := range rgs {
				if g.MemberKind == object.KindUser && strings.EqualFold(g.Member, u.Name) {
					roles = append(roles, g.Role)
				}
			}
			rotated := ""
			if !u.Rotated.IsZero() {
				rotated = ts(u.Rotated)
			}
			return u.Name, []string{u.Name, strings.Join(roles, ", "), rotated, u.Owner, ts(u.Created)}
		})
}

// showRoles is SHOW ROLES: name, comment, owner and creation time.
func (r *run) showRoles() (Result, error) {
	roles, err := r.tx.ListRoles()
	if err != nil {
		return Result{}, err
	}
	return listDescribable(r, object.KindRole, roles, []string{"name", "comment", "owner", "created"},
		func(ro catalog.Role) (string, []string) {
			return ro.Name, []string{ro.Name, ro.Comment, ro.Owner, ts(ro.Created)}
		})
}
