package exec

import (
	"fmt"
	"strings"

	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/policy"
)

// rotateToken answers ALTER RECIPIENT (rotateRecipientToken) and ALTER USER u ROTATE TOKEN: a user may rotate its own
// token (no decision: it can do nothing with it that it could not do with
// the old one); anyone else needs ALTER on [user u], which the admin role
// has. The old token stops working when the statement commits; the new
// one is in the result, this once.
func (r *run) rotateToken(s *sqlparse.RotateToken) (Result, error) {
	switch s.Kind {
	case object.KindRecipient:
		return r.rotateRecipientToken(s)
	case object.KindUser:
	default:
		return Result{}, &UnsupportedError{Statement: sqlparse.Excerpt(s)}
	}
	name := s.Name.Name
	if !strings.EqualFold(name, r.who.Name) {
		if _, err := r.authorizeOn(policy.ActionAlter, object.KindUser, oneName(name)); err != nil {
			return Result{}, err
		}
	}
	token, err := r.tx.RotateUserToken(name)
	if err != nil {
		return Result{}, err
	}
	u, err := r.tx.GetUser(name)
	if err != nil {
		return Result{}, err
	}
	return tokenResult(u.Name, token, "token of user %s rotated: the old token no longer works; the new one is shown this once and cannot be read back: store it now"), nil
}

// tokenResult is the result that hands a user its token, once; format
// takes the user's name.
func tokenResult(user, token, format string) Result {
	return Result{Columns: []string{"user", "token"}, Rows: [][]string{{user, token}}, Message: fmt.Sprintf(format, user)}
}
