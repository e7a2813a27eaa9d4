package exec_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-io/sluice/serve/exec"
)

// TestBuiltinRoles: what securityadmin and useradmin may and may not do,
// on the authorization matrix's catalog. Each denial leaves the catalog
// as it was; the steps run in order (useradmin manages the user it
// creates, not the others).
func TestBuiltinRoles(t *testing.T) {
	e := newEnv(t)
	matrixFixture(t, e.ex, e.cat)
	e.setup(t, "CREATE USER sec; CREATE USER ua; GRANT ROLE securityadmin TO USER sec; GRANT ROLE useradmin TO USER ua")
	for _, tc := range []struct {
		who, sql string
		denied   string // the reason of the denial; "" when allowed
	}{
		// securityadmin: grants, roles, describing; no data, no ownership,
		// no users, not the admin role.
		{"sec", "GRANT SELECT, DESCRIBE ON TABLE sales.eu.big TO ROLE target", ""},
		{"sec", "REVOKE DESCRIBE ON TABLE sales.eu.big FROM ROLE target", ""},
		{"sec", "GRANT OPERATE ON SCHEMA sales.eu TO ROLE target", ""},
		{"sec", "SHOW GRANTS ON TABLE sales.eu.big", ""},
		{"sec", "SHOW GRANTS TO USER bob", ""},
		{"sec", "DESCRIBE USER carol", ""},
		{"sec", "CREATE ROLE auditors", ""},
		{"sec", "GRANT ROLE auditors TO USER carol", ""},
		{"sec", "REVOKE ROLE auditors FROM USER carol", ""},
		{"sec", "DROP ROLE auditors", ""},
		{"sec", "GRANT SELECT ON SHARE partners TO RECIPIENT acme", ""},
		{"sec", "GRANT ROLE admin TO USER sec", "missing GRANT on role admin"},
		{"sec", "GRANT OWNERSHIP ON TABLE sales.eu.big TO ROLE target", "missing USAGE on database sales"},
		{"sec", "GRANT OWNERSHIP ON SHARE partners TO ROLE target", "missing OWNERSHIP on share partners"},
		{"sec", "DROP TABLE sales.eu.big", "missing USAGE on database sales"},
		{"sec", "ALTER SHARE partners REMOVE TABLE sales.eu.ext", "missing ALTER on share partners"},
		{"sec", "CREATE USER eve", "missing CREATE: creating top-level user eve needs the admin role"},
		{"sec", "ALTER USER carol ROTATE TOKEN", "missing ALTER on user carol"},
		{"sec", "CREATE DATABASE other", "missing CREATE: creating top-level database other needs the admin role"},
		{"sec", "DROP ROLE admin", "missing DROP on role admin"},
		// useradmin: users and recipients it creates; nothing else.
		{"ua", "CREATE USER dana", ""},
		{"ua", "ALTER USER dana ROTATE TOKEN", ""},
		{"ua", "DESCRIBE USER dana", ""},
		{"ua", "CREATE RECIPIENT initech WITH ('token.ttl' = '30d')", ""},
		{"ua", "ALTER RECIPIENT initech ROTATE TOKEN", ""},
		{"ua", "DESCRIBE RECIPIENT initech", ""},
		{"ua", "DROP RECIPIENT initech", ""},
		{"ua", "DROP USER dana", ""},
		{"ua", "ALTER USER root ROTATE TOKEN", "missing ALTER on user root"},
		{"ua", "DROP USER carol", "missing DROP on user carol"},
		{"ua", "ALTER RECIPIENT acme ROTATE TOKEN", "missing ALTER on recipient acme"},
		{"ua", "CREATE ROLE x", "missing CREATE: creating top-level role x needs the admin role"},
		{"ua", "GRANT ROLE target TO USER carol", "missing GRANT on role target"},
		{"ua", "GRANT SELECT ON SHARE partners TO RECIPIENT acme", "missing GRANT on share partners"},
		{"ua", "SHOW GRANTS ON DATABASE sales", "missing DESCRIBE on database sales"},
		{"ua", "CREATE SHARE s2", "missing CREATE: creating top-level share s2 needs the admin role"},
	} {
		t.Run(tc.who+" "+tc.sql, func(t *testing.T) {
			before := dump(t, e.cat)
			_, err := e.ex.Execute(context.Background(), user(tc.who), tc.sql)
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("allowed: %v", err)
				}
				return
			}
			var de *exec.DeniedError
			if !errors.As(err, &de) || de.Reason != tc.denied {
				t.Fatalf("err = %v\nwant the denial %q", err, tc.denied)
			}
			if after := dump(t, e.cat); after != before {
				t.Errorf("a denied statement changed the catalog:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
