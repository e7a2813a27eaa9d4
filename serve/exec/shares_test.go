package exec_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
)

// newSharingEnv is newEnv with an executor that writes profiles for
// https://share.example.com, a catalog clock under the test's control, and
// sales.eu.orders (a table), sales.eu.clicks (a stream) and alice in role
// sharer.
func newSharingEnv(t *testing.T, now *time.Time) *env {
	t.Helper()
	e := newEnv(t)
	e.cat.SetClock(func() time.Time { return *now })
	pol, err := policy.New(context.Background(), policy.WithSink(e.sink))
	if err != nil {
		t.Fatal(err)
	}
	e.ex = exec.New(e.cat, pol, exec.WithPublicURL("https://share.example.com/"))
	_, err = e.ex.Execute(context.Background(), user("root"), `CREATE DATABASE sales; CREATE SCHEMA sales.eu;
		CREATE TABLE sales.eu.orders LOCATION '`+goldenTable(t, "basic-decimal-table")+`';
		CREATE STORE k WITH ('bootstrap.servers' = 'localhost:9092');
		CREATE STREAM sales.eu.clicks (id BIGINT) WITH ('store' = 'k', 'topic' = 'clicks');
		CREATE ROLE sharer; GRANT ROLE sharer TO USER alice`)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// profileOf decodes the profile of the last result, checking that its token
// is also the result's token cell.
func profileOf(t *testing.T, res []exec.Result) exec.Profile {
	t.Helper()
	if len(res) == 0 || res[len(res)-1].Profile == nil {
		t.Fatalf("no profile in %+v", res)
	}
	r := res[len(res)-1]
	var p exec.Profile
	if err := json.Unmarshal(r.Profile, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.BearerToken, catalog.RecipientTokenPrefix) || len(r.Rows) != 1 || r.Rows[0][1] != p.BearerToken {
		t.Fatalf("profile %+v does not match the result %+v", p, r)
	}
	return p
}

// TestShareStatements runs the share and recipient statements one after
// another; each step asserts the messages, the error and the exact audit.
func TestShareStatements(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e := newSharingEnv(t, &now)
	e.runSteps(t, []step{
		{
			name:  "admin creates a share",
			who:   "root",
			sql:   "CREATE SHARE partners; CREATE SHARE IF NOT EXISTS partners",
			want:  []string{"share partners created", "share partners already exists, skipped"},
			audit: []string{"user:root CREATE partners allow", "user:root CREATE partners allow"},
		},
		{
			name:   "a share is top level: admin only",
			who:    "alice",
			sql:    "CREATE SHARE mine",
			denied: "missing CREATE: creating top-level share mine needs the admin role",
			audit:  []string{"user:alice CREATE mine deny"},
		},
		{
			name:  "add a table under another name, with history",
			who:   "root",
			sql:   "ALTER SHARE partners ADD TABLE sales.eu.orders AS eu.paid WITH HISTORY",
			want:  []string{"table sales.eu.orders added to share partners as eu.paid with history"},
			audit: []string{"user:root ALTER partners allow", "user:root SELECT sales.eu.orders allow"},
		},
		{
			name:  "the same table twice",
			who:   "root",
			sql:   "ALTER SHARE partners ADD TABLE sales.eu.orders",
			errIs: catalog.ErrExists,
			audit: []string{"user:root ALTER partners allow", "user:root SELECT sales.eu.orders allow"},
		},
		{
			name:  "the same table twice, IF NOT EXISTS: skipped, so a pipeline file can be applied again",
			who:   "root",
			sql:   "ALTER SHARE partners ADD TABLE IF NOT EXISTS sales.eu.orders AS eu.paid",
			want:  []string{"table sales.eu.orders is already in share partners, skipped"},
			audit: []string{"user:root ALTER partners allow", "user:root SELECT sales.eu.orders allow"},
		},
		{
			name:  "a table that does not exist",
			who:   "root",
			sql:   "ALTER SHARE partners ADD TABLE sales.eu.nope",
			errIs: catalog.ErrNotFound,
			audit: []string{"user:root ALTER partners allow", "user:root SELECT sales.eu.nope allow"},
		},
		{
			name:  "a stream is not a table",
			who:   "root",
			sql:   "ALTER SHARE partners ADD TABLE sales.eu.clicks",
			errIs: catalog.ErrInvalid,
			// A name of the wrong kind is decided as a missing table (no
			// grants): the decision comes before existence is revealed.
			audit: []string{"user:root ALTER partners allow", "user:root SELECT sales.eu.clicks allow"},
		},
		{
			name:  "a share that does not exist",
			who:   "root",
			sql:   "ALTER SHARE nope ADD TABLE sales.eu.orders",
			errIs: catalog.ErrNotFound,
			audit: []string{"user:root ALTER nope allow", "user:root SELECT sales.eu.orders allow"},
		},
		{
			name:   "altering a share needs ALTER on it",
			who:    "alice",
			sql:    "ALTER SHARE partners REMOVE TABLE sales.eu.orders",
			denied: "missing ALTER on share partners",
			audit:  []string{"user:alice ALTER partners deny"},
		},
		{
			name:  "admin hands the share to a role",
			who:   "root",
			sql:   "GRANT OWNERSHIP ON SHARE partners TO ROLE sharer",
			want:  []string{"OWNERSHIP on share partners granted to role sharer"},
			audit: []string{"user:root OWNERSHIP partners allow"},
		},
		{
			name:   "the owner of a share still cannot add a table it cannot read",
			who:    "alice",
			sql:    "ALTER SHARE partners ADD TABLE sales.eu.orders AS eu.again",
			denied: "missing USAGE on database sales",
			audit:  []string{"user:alice ALTER partners allow", "user:alice SELECT sales.eu.orders deny"},
		},
		{
			name:  "the owner removes a table",
			who:   "alice",
			sql:   "ALTER SHARE partners REMOVE TABLE sales.eu.orders; ALTER SHARE partners REMOVE TABLE sales.eu.orders",
			want:  []string{"table sales.eu.orders removed from share partners"},
			errIs: catalog.ErrNotFound,
			audit: []string{"user:alice ALTER partners allow", "user:alice ALTER partners allow"},
		},
		{
			name: "admin puts it back and creates recipients",
			who:  "root",
			sql: `ALTER SHARE partners ADD TABLE sales.eu.orders;
				CREATE RECIPIENT acme WITH ('token.ttl' = '30d')`,
			want: []string{"table sales.eu.orders added to share partners as eu.orders",
				"recipient acme created; its profile and token are shown this once and cannot be read back: store them now"},
			audit: []string{"user:root ALTER partners allow", "user:root SELECT sales.eu.orders allow", "user:root CREATE acme allow"},
		},
		{
			name:  "a bad token.ttl",
			who:   "root",
			sql:   "CREATE RECIPIENT globex WITH ('token.ttl' = 'soon')",
			errIs: catalog.ErrInvalid,
			audit: []string{"user:root CREATE globex allow"},
		},
		{
			name:   "recipients are top level: admin only",
			who:    "alice",
			sql:    "CREATE RECIPIENT globex",
			denied: "missing CREATE: creating top-level recipient globex needs the admin role",
			audit:  []string{"user:alice CREATE globex deny"},
		},
		{
			name:   "granting a share needs USAGE on the recipient too",
			who:    "alice",
			sql:    "GRANT SELECT ON SHARE partners TO RECIPIENT acme",
			denied: "missing USAGE on recipient acme",
			audit:  []string{"user:alice GRANT partners allow", "user:alice USAGE acme deny"},
		},
		{
			name:   "granting USAGE on a recipient needs GRANT on it",
			who:    "alice",
			sql:    "GRANT USAGE ON RECIPIENT acme TO ROLE sharer",
			denied: "missing GRANT on recipient acme",
			audit:  []string{"user:alice GRANT acme deny"},
		},
		{
			name:  "admin grants USAGE on the recipient, which SHOW GRANTS ON RECIPIENT lists",
			who:   "root",
			sql:   "GRANT USAGE ON RECIPIENT acme TO ROLE sharer; SHOW GRANTS ON RECIPIENT acme",
			want:  []string{"USAGE on recipient acme granted to role sharer", "1 grants"},
			rows:  [][]string{{"USAGE", "recipient", "acme", "sharer"}},
			audit: []string{"user:root GRANT acme allow", "user:root DESCRIBE acme allow"},
		},
		{
			name:  "with USAGE on the recipient the share's owner grants it, idempotently",
			who:   "alice",
			sql:   "GRANT SELECT ON SHARE partners TO RECIPIENT acme; GRANT SELECT ON SHARE partners TO RECIPIENT acme",
			want:  []string{"SELECT on share partners granted to recipient acme", "SELECT on share partners granted to recipient acme"},
			audit: []string{"user:alice GRANT partners allow", "user:alice USAGE acme allow", "user:alice GRANT partners allow", "user:alice USAGE acme allow"},
		},
		{
			name:  "granting to a recipient that does not exist",
			who:   "root",
			sql:   "GRANT SELECT ON SHARE partners TO RECIPIENT nobody",
			errIs: catalog.ErrNotFound,
			audit: []string{"user:root GRANT partners allow", "user:root USAGE nobody allow"},
		},
		{
			name:  "SHOW SHARES lists the tables",
			who:   "alice",
			sql:   "SHOW SHARES",
			want:  []string{"1 shares"},
			rows:  [][]string{{"partners", "eu.orders=sales.eu.orders"}},
			audit: []string{"user:alice USAGE partners allow"},
		},
		{
			name:  "SHOW RECIPIENTS shows tokens and expiry, not hashes",
			who:   "root",
			sql:   "SHOW RECIPIENTS",
			want:  []string{"1 recipients"},
			rows:  [][]string{{"acme", "1", "2026-12-22T12:00:00Z", ""}},
			audit: []string{"user:root USAGE acme allow"},
		},
		{
			name:   "USAGE on a recipient does not show its grants",
			who:    "alice",
			sql:    "SHOW GRANTS TO RECIPIENT acme",
			denied: "missing DESCRIBE on recipient acme",
			audit:  []string{"user:alice DESCRIBE acme deny"},
		},
		{
			name:  "SHOW GRANTS ON SHARE lists roles and recipients",
			who:   "alice",
			sql:   "SHOW GRANTS ON SHARE partners",
			want:  []string{"1 grants"},
			rows:  [][]string{{"SELECT", "share", "partners", "recipient", "acme"}},
			audit: []string{"user:alice DESCRIBE partners allow"},
		},
		{
			name:  "admin sees the recipient's grants",
			who:   "root",
			sql:   "SHOW GRANTS TO RECIPIENT acme; GRANT ALL ON SHARE partners TO ROLE sharer; SHOW GRANTS ON SHARE partners",
			want:  []string{"1 grants", "ALL on share partners granted to role sharer", "2 grants"},
			rows:  [][]string{{"ALL", "share", "partners", "role", "sharer"}, {"SELECT", "share", "partners", "recipient", "acme"}},
			audit: []string{"user:root DESCRIBE acme allow", "user:root GRANT partners allow", "user:root DESCRIBE partners allow"},
		},
		{
			name:  "a stranger sees no share and no recipient",
			who:   "bob",
			sql:   "SHOW SHARES; SHOW RECIPIENTS",
			want:  []string{"0 shares", "0 recipients"},
			rows:  [][]string{},
			audit: []string{"user:bob USAGE partners deny", "user:bob USAGE acme deny"},
		},
		{
			name:   "nor their grants",
			who:    "bob",
			sql:    "SHOW GRANTS ON SHARE partners",
			denied: "missing DESCRIBE on share partners",
			audit:  []string{"user:bob DESCRIBE partners deny"},
		},
		{
			name:   "a stranger cannot rotate a recipient's token",
			who:    "bob",
			sql:    "ALTER RECIPIENT acme ROTATE TOKEN",
			denied: "missing ALTER on recipient acme",
			audit:  []string{"user:bob ALTER acme deny"},
		},
		{
			name:  "rotation takes only a grace property",
			who:   "root",
			sql:   "ALTER RECIPIENT acme ROTATE TOKEN WITH ('grce' = '1h')",
			errIs: catalog.ErrInvalid,
			audit: []string{"user:root ALTER acme allow"},
		},
		{
			name:  "a bad grace",
			who:   "root",
			sql:   "ALTER RECIPIENT acme ROTATE TOKEN WITH ('grace' = '-1h')",
			errIs: catalog.ErrInvalid,
			audit: []string{"user:root ALTER acme allow"},
		},
		{
			name:  "revoke, twice",
			who:   "alice",
			sql:   "REVOKE SELECT ON SHARE partners FROM RECIPIENT acme; REVOKE SELECT ON SHARE partners FROM RECIPIENT acme",
			want:  []string{"SELECT on share partners revoked from recipient acme"},
			errIs: catalog.ErrNotFound,
			audit: []string{"user:alice GRANT partners allow", "user:alice USAGE acme allow", "user:alice GRANT partners allow", "user:alice USAGE acme allow"},
		},
		{
			name:  "admin revokes USAGE on the recipient",
			who:   "root",
			sql:   "REVOKE USAGE ON RECIPIENT acme FROM ROLE sharer; SHOW GRANTS ON RECIPIENT acme",
			want:  []string{"USAGE on recipient acme revoked from role sharer", "0 grants"},
			rows:  [][]string{},
			audit: []string{"user:root GRANT acme allow", "user:root DESCRIBE acme allow"},
		},
		{
			name:   "without it the share's owner can no longer grant the share to the recipient",
			who:    "alice",
			sql:    "GRANT SELECT ON SHARE partners TO RECIPIENT acme",
			denied: "missing USAGE on recipient acme",
			audit:  []string{"user:alice GRANT partners allow", "user:alice USAGE acme deny"},
		},
		{
			name:   "dropping a recipient needs DROP on it",
			who:    "alice",
			sql:    "DROP RECIPIENT acme",
			denied: "missing DROP on recipient acme",
			audit:  []string{"user:alice DROP acme deny"},
		},
		{
			name:   "the share's owner drops it (ALL covers DROP)",
			who:    "alice",
			sql:    "DROP SHARE partners; DROP SHARE IF EXISTS partners",
			want:   []string{"share partners dropped"},
			denied: "missing DROP on share partners",
			audit:  []string{"user:alice DROP partners allow", "user:alice DROP partners deny"},
		},
		{
			name:  "admin drops the recipient",
			who:   "root",
			sql:   "DROP RECIPIENT acme; DROP RECIPIENT IF EXISTS acme; DROP RECIPIENT acme",
			want:  []string{"recipient acme dropped", "recipient acme does not exist, skipped"},
			errIs: catalog.ErrNotFound,
			audit: []string{"user:root DROP acme allow", "user:root DROP acme allow", "user:root DROP acme allow"},
		},
	})
}

// authenticates reports whether token authenticates recipient now.
func authenticates(t *testing.T, e *env, token string) bool {
	t.Helper()
	_, err := e.cat.AuthenticateRecipient(context.Background(), token)
	if err != nil && !errors.Is(err, catalog.ErrUnauthenticated) {
		t.Fatal(err)
	}
	return err == nil
}

// TestRecipientTokens: the profile handed out, rotation with and without a
// grace period, and expiry, on the catalog's clock.
func TestRecipientTokens(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e := newSharingEnv(t, &now)
	ctx := context.Background()
	run := func(sql string) []exec.Result {
		t.Helper()
		res, err := e.ex.Execute(ctx, user("root"), sql)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := profileOf(t, run("CREATE RECIPIENT acme WITH ('token.ttl' = '30d')"))
	want := exec.Profile{ShareCredentialsVersion: 1, Endpoint: "https://share.example.com/delta-sharing/",
		BearerToken: first.BearerToken, ExpirationTime: "2026-12-22T12:00:00Z"}
	if first != want {
		t.Fatalf("profile = %+v, want %+v", first, want)
	}

	now = now.Add(time.Hour)
	second := profileOf(t, run("ALTER RECIPIENT acme ROTATE TOKEN WITH ('grace' = '1h')"))
	if second.ExpirationTime != "2026-12-22T13:00:00Z" || second.BearerToken == first.BearerToken {
		t.Fatalf("rotated profile = %+v", second)
	}
	steps := []struct {
		after         time.Duration // since the rotation
		first, second bool          // which tokens authenticate
	}{
		{0, true, true},
		{59 * time.Minute, true, true},
		{61 * time.Minute, false, true},               // grace over
		{30*24*time.Hour - time.Minute, false, true},  // just before the ttl
		{30*24*time.Hour + time.Minute, false, false}, // expired
	}
	rotated := now
	for _, st := range steps {
		now = rotated.Add(st.after)
		if got := authenticates(t, e, first.BearerToken); got != st.first {
			t.Errorf("+%v: old token authenticates = %v, want %v", st.after, got, st.first)
		}
		if got := authenticates(t, e, second.BearerToken); got != st.second {
			t.Errorf("+%v: new token authenticates = %v, want %v", st.after, got, st.second)
		}
	}

	// Without grace the old token is revoked at once; a recipient without a
	// ttl gets a token that does not expire.
	now = rotated
	third := profileOf(t, run("ALTER RECIPIENT acme ROTATE TOKEN WITH ('grace' = '0')"))
	if authenticates(t, e, second.BearerToken) || !authenticates(t, e, third.BearerToken) {
		t.Error("rotation without grace: the previous token still works, or the new one does not")
	}
	fourth := profileOf(t, run("ALTER RECIPIENT acme ROTATE TOKEN"))
	if authenticates(t, e, third.BearerToken) || !authenticates(t, e, fourth.BearerToken) {
		t.Error("rotation without WITH: the previous token still works, or the new one does not")
	}
	forever := profileOf(t, run("CREATE RECIPIENT globex"))
	now = now.Add(10 * 365 * 24 * time.Hour)
	if forever.ExpirationTime != "" || !authenticates(t, e, forever.BearerToken) {
		t.Errorf("token without ttl: %+v", forever)
	}
	if res := run("SHOW RECIPIENTS"); res[0].Rows[1][2] != "never" {
		t.Errorf("SHOW RECIPIENTS = %q, want globex expiring never", res[0].Rows)
	}
}
