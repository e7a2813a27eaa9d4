package catalog

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
)

func TestRolesAndGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		must(t, c, func(tx *Tx) error {
			for _, r := range []string{"readers", "analysts", "engineers", "auditors"} {
				if _, err := tx.CreateRole(Role{Name: r}); err != nil {
					return err
				}
			}
			if _, _, err := tx.CreateUser(User{Name: "alice"}); err != nil {
				return err
			}
			// alice -> engineers -> analysts -> readers
			for _, g := range [][2]string{{"readers", "analysts"}, {"analysts", "engineers"}, {"engineers", "alice"}, {"auditors", "alice"}} {
				if _, err := tx.GrantRole(g[0], g[1]); err != nil {
					return err
				}
			}
			_, err := tx.GrantRole("readers", "analysts") // idempotent
			return err
		})

		for _, tc := range []struct {
			name  string
			op    func(tx *Tx) error
			class error
			want  string
		}{
			{"cycle", func(tx *Tx) error { _, err := tx.GrantRole("engineers", "readers"); return err },
				ErrCycle, "granting role engineers to role readers would create a cycle: readers is already granted to engineers"},
			{"self", func(tx *Tx) error { _, err := tx.GrantRole("readers", "READERS"); return err },
				ErrCycle, "cannot grant role readers to itself"},
			{"grant a user", func(tx *Tx) error { _, err := tx.GrantRole("alice", "readers"); return err },
				ErrInvalid, "alice is a user, not a role"},
			{"unknown member", func(tx *Tx) error { _, err := tx.GrantRole("readers", "zed"); return err },
				ErrNotFound, "user or role zed does not exist"},
			{"privilege on wrong kind", func(tx *Tx) error {
				_, err := tx.Grant(object.PrivInsert, object.KindStream, "sales.eu.orders_raw", "readers")
				return err
			}, ErrInvalid, "privilege INSERT does not apply to a stream: use SELECT, DROP, ALTER, DESCRIBE, GRANT, OWNERSHIP, ALL"},
			{"grant to a user", func(tx *Tx) error {
				_, err := tx.Grant(object.PrivUsage, object.KindDatabase, "sales", "alice")
				return err
			},
				ErrInvalid, "alice is a user, not a role"},
			{"revoke missing", func(tx *Tx) error {
				return tx.Revoke(object.PrivInsert, object.KindTable, "sales.eu.orders", "readers")
			},
				ErrNotFound, "role readers has no INSERT grant on table sales.eu.orders"},
			{"revoke missing role grant", func(tx *Tx) error { return tx.RevokeRole("readers", "alice") },
				ErrNotFound, "role readers is not granted to user alice"},
			{"drop admin", func(tx *Tx) error { return tx.DropRole("admin") },
				ErrInUse, "role admin is built in and cannot be dropped"},
			{"drop securityadmin", func(tx *Tx) error { return tx.DropRole("SecurityAdmin") },
				ErrInUse, "role securityadmin is built in and cannot be dropped"},
			{"drop useradmin", func(tx *Tx) error { return tx.DropRole("useradmin") },
				ErrInUse, "role useradmin is built in and cannot be dropped"},
		} {
			t.Run(tc.name, func(t *testing.T) { wantErr(t, c.Update(ctx, tc.op), tc.class, tc.want) })
		}

		err := c.View(ctx, func(tx *Tx) error {
			roles, err := tx.EffectiveRoles("ALICE")
			if err != nil {
				return err
			}
			if got := strings.Join(roles, ","); got != "analysts,auditors,engineers,readers" {
				t.Errorf("EffectiveRoles(alice) = %s", got)
			}
			roles, err = tx.EffectiveRoles("analysts")
			if got := strings.Join(roles, ","); err != nil || got != "analysts,readers" {
				t.Errorf("EffectiveRoles(analysts) = %s, %v", got, err)
			}
			g, err := tx.RoleGraph()
			if err != nil {
				return err
			}
			if got := strings.Join(g.EffectiveRoles("alice"), ","); got != "alice,auditors,engineers,analysts,readers" {
				t.Errorf("RoleGraph.EffectiveRoles(alice) = %s", got)
			}
			if got := strings.Join(g["alice"], ","); got != "auditors,engineers" && got != "engineers,auditors" {
				t.Errorf("RoleGraph[alice] = %s", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The in-memory helper terminates on a cyclic graph (one loaded from a
		// store that did not check).
		cyclic := RoleGraph{"a": {"b"}, "b": {"c"}, "c": {"A"}}
		if got := strings.Join(cyclic.EffectiveRoles("a"), ","); got != "a,b,c" {
			t.Errorf("cyclic EffectiveRoles = %s", got)
		}

		// Grants: idempotent, listed on the object and by role, revoked.
		must(t, c, func(tx *Tx) error {
			g1, err := tx.Grant(object.PrivSelect, object.KindRelation, "sales.eu.orders", "readers")
			if err != nil {
				return err
			}
			g2, err := tx.Grant(object.PrivSelect, object.KindTable, "SALES.EU.ORDERS", "READERS")
			if err != nil {
				return err
			}
			if g1.ID != g2.ID || g1.ObjectKind != object.KindTable || g1.Object != "sales.eu.orders" || g1.Role != "readers" {
				t.Errorf("grants = %+v / %+v", g1, g2)
			}
			for _, g := range []struct {
				p    object.Privilege
				kind object.Kind
				path string
			}{{object.PrivUsage, object.KindDatabase, "sales"}, {object.PrivUsage, object.KindSchema, "sales.eu"}, {object.PrivUsage, object.KindStore, "kafka_prod"}, {object.PrivAll, object.KindStream, "sales.eu.orders_raw"}} {
				if _, err := tx.Grant(g.p, g.kind, g.path, "analysts"); err != nil {
					return err
				}
			}
			on, err := tx.GrantsOn(object.KindTable, "sales.eu.orders")
			if err != nil || len(on) != 1 {
				t.Errorf("GrantsOn = %+v, %v", on, err)
			}
			to, err := tx.GrantsTo("analysts")
			if err != nil {
				return err
			}
			var objs []string
			for _, g := range to {
				objs = append(objs, string(g.Privilege)+" "+g.Object)
			}
			if got := strings.Join(objs, ","); got != "USAGE kafka_prod,USAGE sales,USAGE sales.eu,ALL sales.eu.orders_raw" {
				t.Errorf("GrantsTo(analysts) = %s", got)
			}
			if err := tx.Revoke(object.PrivSelect, object.KindTable, "sales.eu.orders", "readers"); err != nil {
				return err
			}
			if err := tx.RevokeRole("readers", "analysts"); err != nil {
				return err
			}
			roles, err := tx.EffectiveRoles("alice")
			if got := strings.Join(roles, ","); err != nil || got != "analysts,auditors,engineers" {
				t.Errorf("after revoke EffectiveRoles(alice) = %s, %v", got, err)
			}
			return nil
		})

		// A role that owns objects cannot be dropped until they are transferred.
		must(t, c, func(tx *Tx) error {
			_, err := tx.CreateDatabase(Database{Name: "hr", Owner: "auditors"})
			return err
		})
		wantErr(t, c.Update(ctx, func(tx *Tx) error { return tx.DropRole("auditors") }),
			ErrInUse, "role auditors owns database hr: transfer its objects to another role (ALTER ... OWNER TO) first")
		must(t, c, func(tx *Tx) error {
			if err := tx.SetOwner(object.KindDatabase, "hr", "engineers"); err != nil {
				return err
			}
			if d, err := tx.GetDatabase("hr"); err != nil || d.Owner != "engineers" {
				t.Errorf("owner after SetOwner = %q, %v", d.Owner, err)
			}
			if err := tx.DropRole("auditors"); err != nil {
				return err
			}
			// Dropping a role removes its grants and memberships.
			if err := tx.DropRole("analysts"); err != nil {
				return err
			}
			n, err := tx.count(`SELECT COUNT(*) FROM grants WHERE 1 = 1`)
			if err != nil || n != 0 {
				t.Errorf("grants left after dropping the role: %d, %v", n, err)
			}
			roles, err := tx.EffectiveRoles("alice")
			if got := strings.Join(roles, ","); err != nil || got != "engineers" {
				t.Errorf("EffectiveRoles(alice) = %s, %v", got, err)
			}
			return nil
		})
	})
}

func TestResolvePath(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		must(t, c, func(tx *Tx) error {
			if _, err := tx.CreateRole(Role{Name: "readers"}); err != nil {
				return err
			}
			if err := tx.SetOwner(object.KindTable, "sales.eu.orders", "readers"); err != nil {
				return err
			}
			for _, g := range []struct {
				p    object.Privilege
				kind object.Kind
				path string
			}{{object.PrivUsage, object.KindDatabase, "sales"}, {object.PrivUsage, object.KindSchema, "sales.eu"}, {object.PrivSelect, object.KindTable, "sales.eu.orders"}, {object.PrivInsert, object.KindTable, "sales.eu.orders"}} {
				if _, err := tx.Grant(g.p, g.kind, g.path, "readers"); err != nil {
					return err
				}
			}
			return nil
		})
		nodes, err := c.ResolvePath(ctx, object.KindTable, "Sales.EU.Orders")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range nodes {
			s := string(n.Kind) + ":" + n.Path + ":" + n.Owner
			for _, g := range n.Grants {
				s += ":" + string(g.Privilege) + "/" + g.Role
			}
			if n.ID == "" {
				t.Errorf("node %s has no id", n.Path)
			}
			got = append(got, s)
		}
		want := "database:sales:admin:USAGE/readers schema:sales.eu:admin:USAGE/readers table:sales.eu.orders:readers:INSERT/readers:SELECT/readers"
		if strings.Join(got, " ") != want {
			t.Errorf("ResolvePath =\n%s\nwant\n%s", strings.Join(got, " "), want)
		}
		for _, tc := range []struct {
			kind  object.Kind
			path  string
			nodes int
			err   string
		}{
			{object.KindRelation, "sales.eu.orders_raw", 3, ""},
			{object.KindSchema, "sales.eu", 2, ""},
			{object.KindDatabase, "sales", 1, ""},
			{object.KindStore, "kafka_prod", 1, ""},
			{object.KindStream, "sales.eu.orders", 0, "sales.eu.orders is a table, not a stream"},
			{object.KindTable, "sales.us.orders", 0, "schema sales.us does not exist"},
			{object.KindTable, "sales.eu.nope", 0, "table sales.eu.nope does not exist"},
			{"widget", "x", 0, `unknown object kind "widget"`},
		} {
			nodes, err := c.ResolvePath(ctx, tc.kind, tc.path)
			if tc.err != "" {
				wantErr(t, err, nil, tc.err)
				continue
			}
			if err != nil || len(nodes) != tc.nodes {
				t.Errorf("ResolvePath(%s, %s) = %d nodes, %v", tc.kind, tc.path, len(nodes), err)
			}
		}
	})
}

func TestUserTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		var token string
		var u User
		must(t, c, func(tx *Tx) error {
			var err error
			u, token, err = tx.CreateUser(User{Name: "alice"})
			return err
		})
		if !strings.HasPrefix(token, UserTokenPrefix) || len(token) != len(UserTokenPrefix)+43 {
			t.Errorf("token %q: want slu_ and 43 base64url characters", token[:4])
		}
		if raw, err := hex.DecodeString(u.TokenHash); err != nil || len(raw) != 32 || u.TokenHash != hashToken(token) {
			t.Errorf("TokenHash = %q, want the hex SHA-256 of the token", u.TokenHash)
		}
		if got, err := c.AuthenticateUser(ctx, token); err != nil || got.ID != u.ID {
			t.Fatalf("AuthenticateUser = %+v, %v", got, err)
		}
		if db.stored(t, token) || db.stored(t, token[len(UserTokenPrefix):]) {
			t.Error("the plaintext token is in the database files")
		}
		if !db.stored(t, u.TokenHash) {
			t.Error("the token hash is not in the database files (is the check reading the right files?)")
		}

		var token2 string
		must(t, c, func(tx *Tx) error {
			var err error
			token2, err = tx.RotateUserToken("alice")
			return err
		})
		_, err := c.AuthenticateUser(ctx, token)
		wantErr(t, err, ErrUnauthenticated, "invalid user token")
		got, err := c.AuthenticateUser(ctx, token2)
		if err != nil || got.Name != "alice" || got.Rotated.IsZero() || got.TokenHash != hashToken(token2) {
			t.Errorf("after rotation AuthenticateUser = %+v, %v", got, err)
		}
		for _, bad := range []string{"", "slu_", "slu_" + strings.Repeat("A", 43), "slr_" + token2[4:], token2 + "x"} {
			_, err := c.AuthenticateUser(ctx, bad)
			if !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("AuthenticateUser(%q) = %v, want ErrUnauthenticated", bad, err)
			}
		}
		must(t, c, func(tx *Tx) error { return tx.DropUser("alice") })
		if _, err := c.AuthenticateUser(ctx, token2); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("dropped user's token: %v", err)
		}
	})
}

func TestRecipientTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		c.SetClock(func() time.Time { return now })
		wantErr(t, c.Update(ctx, func(tx *Tx) error {
			_, _, err := tx.CreateRecipient(Recipient{Name: "acme", Properties: map[string]string{TokenTTLProperty: "forever"}})
			return err
		}), ErrInvalid, `recipient acme: property token.ttl: invalid duration "forever": want a positive number of days such as 90d, or a duration such as 720h`)

		var old string
		must(t, c, func(tx *Tx) error {
			rc, tok, err := tx.CreateRecipient(Recipient{Name: "acme", Properties: map[string]string{TokenTTLProperty: "30d", "contact": "data@acme.example"}})
			old = tok
			if err == nil && (len(rc.Tokens) != 1 || !rc.Tokens[0].Expires.Equal(now.Add(30*24*time.Hour))) {
				t.Errorf("recipient = %+v", rc)
			}
			return err
		})
		if !strings.HasPrefix(old, RecipientTokenPrefix) || db.stored(t, old) {
			t.Errorf("recipient token: wrong prefix or stored in plaintext")
		}
		if _, err := c.AuthenticateUser(ctx, old); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("a recipient token authenticated a user: %v", err)
		}

		now = now.Add(20 * 24 * time.Hour)
		var fresh string
		must(t, c, func(tx *Tx) error {
			var err error
			fresh, err = tx.RotateRecipientToken("acme", 48*time.Hour)
			return err
		})
		check := func(tok string, wantOK bool, why string) {
			t.Helper()
			rc, err := c.AuthenticateRecipient(ctx, tok)
			if wantOK && (err != nil || rc.Name != "acme") {
				t.Errorf("%s: AuthenticateRecipient = %+v, %v", why, rc, err)
			}
			if !wantOK && !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("%s: AuthenticateRecipient = %v, want ErrUnauthenticated", why, err)
			}
		}
		check(old, true, "old token during grace")
		check(fresh, true, "new token")
		rc, err := c.AuthenticateRecipient(ctx, fresh)
		if err != nil || len(rc.Tokens) != 2 {
			t.Fatalf("during grace the recipient has %d tokens, %v; want 2", len(rc.Tokens), err)
		}

		now = now.Add(49 * time.Hour)
		check(old, false, "old token after grace")
		_, err = c.AuthenticateRecipient(ctx, old)
		wantErr(t, err, ErrUnauthenticated, "recipient token has expired: ask for a new one")
		check(fresh, true, "new token after grace")

		now = now.Add(31 * 24 * time.Hour)
		check(fresh, false, "new token after its ttl")

		// Rotating purges expired hashes; grace 0 revokes at once.
		var a, b string
		must(t, c, func(tx *Tx) error {
			var err error
			if a, err = tx.RotateRecipientToken("acme", time.Hour); err != nil {
				return err
			}
			b, err = tx.RotateRecipientToken("acme", 0)
			return err
		})
		check(a, false, "token rotated with grace 0")
		check(b, true, "latest token")
		rc, err = c.AuthenticateRecipient(ctx, b)
		if err != nil || len(rc.Tokens) != 1 {
			t.Errorf("after rotation with grace 0 the recipient has %d tokens, %v", len(rc.Tokens), err)
		}
	})
}

func TestShares(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		must(t, c, func(tx *Tx) error {
			if _, err := tx.CreateShare(Share{Name: "partners"}); err != nil {
				return err
			}
			if _, err := tx.AddShareTable("partners", ShareTable{Table: "sales.eu.orders", ShareSchema: "retail", Alias: "orders_eu", WithHistory: true}); err != nil {
				return err
			}
			if _, _, err := tx.CreateRecipient(Recipient{Name: "acme"}); err != nil {
				return err
			}
			_, err := tx.GrantShare("partners", "acme")
			return err
		})
		for _, tc := range []struct {
			name  string
			op    func(tx *Tx) error
			class error
			want  string
		}{
			{"share exists", func(tx *Tx) error { _, err := tx.CreateShare(Share{Name: "Partners"}); return err },
				ErrExists, "share Partners already exists"},
			{"table twice", func(tx *Tx) error {
				_, err := tx.AddShareTable("partners", ShareTable{Table: "sales.eu.orders"})
				return err
			},
				ErrExists, "table sales.eu.orders is already in share partners"},
			{"stream", func(tx *Tx) error {
				_, err := tx.AddShareTable("partners", ShareTable{Table: "sales.eu.orders_raw"})
				return err
			}, ErrInvalid, "sales.eu.orders_raw is a stream, not a table"},
			{"alias taken", func(tx *Tx) error {
				if _, err := tx.CreateRelation(Relation{Database: "sales", Schema: "eu", Name: "t2", Kind: object.KindTable, Location: "/t2"}); err != nil {
					return err
				}
				_, err := tx.AddShareTable("partners", ShareTable{Table: "sales.eu.t2", ShareSchema: "RETAIL", Alias: "orders_EU"})
				return err
			}, ErrExists, "share partners already has a table RETAIL.orders_EU: choose another alias"},
			{"revoke missing", func(tx *Tx) error { return tx.RevokeShare("partners", "nobody") },
				ErrNotFound, "recipient nobody does not exist"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, c.Update(ctx, tc.op), tc.class, tc.want)
			})
		}
		err := c.View(ctx, func(tx *Tx) error {
			shares, err := tx.SharesOf("acme")
			if err != nil {
				return err
			}
			if len(shares) != 1 || len(shares[0].Tables) != 1 {
				t.Fatalf("SharesOf(acme) = %+v", shares)
			}
			st := shares[0].Tables[0]
			if st.Table != "sales.eu.orders" || st.ShareSchema != "retail" || st.Alias != "orders_eu" || !st.WithHistory || st.TableID == "" {
				t.Errorf("share table = %+v", st)
			}
			gs, err := tx.ListShareGrants()
			if err != nil || len(gs) != 1 || gs[0].Share != "partners" || gs[0].Recipient != "acme" {
				t.Errorf("ListShareGrants = %+v, %v", gs, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		must(t, c, func(tx *Tx) error {
			if err := tx.RemoveShareTable("partners", "sales.eu.orders"); err != nil {
				return err
			}
			if err := tx.RevokeShare("partners", "acme"); err != nil {
				return err
			}
			if err := tx.DropShare("partners"); err != nil {
				return err
			}
			if err := tx.DropRecipient("acme"); err != nil {
				return err
			}
			_, err := tx.GetRelation("sales", "eu", "orders") // the table stays
			return err
		})
	})
}
