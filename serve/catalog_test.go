package serve

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/serve/config"
)

// TestCatalogChoice: serve.New opens the catalog catalog.url names: SQLite
// in the data directory by default, the PostgreSQL database otherwise, with
// the password from the reference in catalog.password. The password is in
// neither the log nor an error.
func TestCatalogChoice(t *testing.T) {
	t.Run("sqlite by default", func(t *testing.T) {
		dir := t.TempDir()
		s := newServer(t, configIn(dir))
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, "catalog.db")); err != nil {
			t.Fatalf("no SQLite catalog in the data directory: %v", err)
		}
	})

	// The test URL holds the password: move it to a variable.
	u, err := url.Parse(testenv.Postgres(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	t.Setenv("SLUICE_TEST_CATALOG_PASSWORD", password)
	t.Setenv("SLUICE_TEST_WRONG_PASSWORD", "not-"+password)
	for _, tc := range []struct {
		name, ref, wantErr string
	}{
		{"postgres", "env:SLUICE_TEST_CATALOG_PASSWORD", ""},
		{"wrong password", "env:SLUICE_TEST_WRONG_PASSWORD", "catalog: connect to postgres://sluice@" + u.Host + u.Path + ": "},
		{"unset reference", "env:SLUICE_TEST_UNSET_PASSWORD", "catalog.password: secret env:SLUICE_TEST_UNSET_PASSWORD: environment variable SLUICE_TEST_UNSET_PASSWORD is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := configIn(dir)
			cfg.Catalog = config.Catalog{URL: u.String(), Password: tc.ref}
			cfg.Storage.Warehouse = "file://" + filepath.Join(dir, "shared-warehouse")
			cfg.Sharing.FileURLKey = strings.Repeat("ab", 32)
			var logs bytes.Buffer
			s, err := New(context.Background(), cfg, WithLogOutput(&logs))
			if strings.Contains(logs.String(), password) || (err != nil && strings.Contains(err.Error(), password)) {
				t.Errorf("the password is in the log or the error:\n%s\n%v", logs.String(), err)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("New: %v, want an error starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if _, err := os.Stat(filepath.Join(dir, "catalog.db")); !os.IsNotExist(err) {
				t.Errorf("an SQLite catalog in the data directory (%v) with catalog.url set", err)
			}
			// The bootstrap admin New made is in the PostgreSQL catalog.
			cat, err := catalog.OpenPostgres(context.Background(), u.String(), password)
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			err = cat.View(context.Background(), func(tx *catalog.Tx) error { _, err := tx.GetUser(BootstrapUser); return err })
			if err != nil {
				t.Fatalf("bootstrap admin in the PostgreSQL catalog: %v", err)
			}
			if !strings.Contains(logs.String(), `"backend":"postgres"`) {
				t.Errorf("the log does not say the catalog is on PostgreSQL:\n%s", logs.String())
			}
		})
	}
}

// TestClassifyConflict: a change the catalog gave up retrying is a 409
// CONFLICT whose message says to run it again, not an internal error.
func TestClassifyConflict(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{&catalog.Error{Class: catalog.ErrConflict, Msg: "the change conflicted ...: run the statement again"}, 409, "CONFLICT"},
		{&catalog.Error{Class: catalog.ErrExists, Msg: "database sales already exists"}, 409, "ALREADY_EXISTS"},
	} {
		status, e := classifyCause(tc.err, "CREATE DATABASE sales")
		if status != tc.status || e.Code != tc.code || e.Message != tc.err.Error() {
			t.Errorf("classifyCause(%v) = %d %+v, want %d %s", tc.err, status, e, tc.status, tc.code)
		}
	}
}
