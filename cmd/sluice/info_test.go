package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
)

// TestSmallCommandsHelp: --help of token and version prints help (exit 0)
// instead of doing the command: `sluice token --help` used to print a new
// token, `sluice version --help` the version.
func TestSmallCommandsHelp(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantHelp string
	}{
		{[]string{"token", "--help"}, "Usage: sluice token"},
		{[]string{"token", "-h"}, "Usage: sluice token"},
		{[]string{"version", "--help"}, "Usage: sluice version"},
		{[]string{"healthcheck", "--help"}, "Usage: sluice healthcheck"},
		{[]string{"apply", "--help"}, "Usage: sluice apply"},
		{[]string{"bucket", "--help"}, "Usage: sluice bucket"},
		{[]string{"demo", "produce", "--help"}, "Usage: sluice demo produce"},
	} {
		var out, errs bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errs)
		if code != 0 || !strings.Contains(errs.String(), tc.wantHelp) || strings.Contains(out.String(), catalog.UserTokenPrefix) || strings.Contains(out.String(), "sluice dev") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want help and exit 0", tc.args, code, out.String(), errs.String())
		}
	}
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"token", "extra"}, &out, &errs); code != 2 {
		t.Errorf("token extra: exit %d, want 2", code)
	}
}

// TestVersion: the version and commit stamped with -ldflags are printed.
func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	for _, tc := range []struct{ version, commit, want string }{
		{"dev", "", "sluice dev\n"},
		{"v1.2.3", "0123abc", "sluice v1.2.3 (commit 0123abc)\n"},
	} {
		version, commit = tc.version, tc.commit
		var out bytes.Buffer
		if code := run(context.Background(), []string{"version"}, &out, &out); code != 0 || out.String() != tc.want {
			t.Errorf("version %q commit %q: exit %d, printed %q, want %q", tc.version, tc.commit, code, out.String(), tc.want)
		}
	}
}

// TestHealthcheck: exit 0 on a 200 from URL/healthz, 1 on anything else
// or no server, 2 on a bad URL.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok\n"))
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	for _, tc := range []struct {
		url  string
		want int
	}{
		{srv.URL, 0},
		{srv.URL + "/", 0},
		{srv.URL + "/healthz", 0},
		{srv.URL + "/other", 1},
		{dead.URL, 1},
		{"localhost:8080", 1},
	} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), []string{"healthcheck", "--timeout", "2s", tc.url}, &out, &errs); code != tc.want {
			t.Errorf("healthcheck %s: exit %d, want %d (stdout %q, stderr %q)", tc.url, code, tc.want, out.String(), errs.String())
		}
	}
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck"}, &out, &errs); code != 2 {
		t.Errorf("healthcheck without URL: exit %d, want 2", code)
	}
}

// TestApplyTwice: sluice apply runs a folder's files in name order against
// a server whose admin token comes from --bootstrap-token-file, writes the
// created recipient's profile (0600), and a second run changes nothing:
// the profile and its token stay.
func TestApplyTwice(t *testing.T) {
	dir := t.TempDir()
	token := catalog.NewUserToken()
	tokenFile := filepath.Join(dir, "admin_token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, stop := startServe(t, filepath.Join(dir, "data"), "--bootstrap-token-file", tokenFile)
	defer stop()
	pipelines := filepath.Join(dir, "pipelines")
	profiles := filepath.Join(dir, "profiles")
	for _, d := range []string{pipelines, profiles} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		// Name order: the share exists before 20 grants it.
		"10-share.sql":  "CREATE DATABASE IF NOT EXISTS shop; CREATE SHARE IF NOT EXISTS partners;",
		"20-acme.sql":   "CREATE RECIPIENT IF NOT EXISTS acme; GRANT SELECT ON SHARE partners TO RECIPIENT acme;",
		"notes.txt":     "not SQL: ignored",
		"30-second.sql": "CREATE RECIPIENT IF NOT EXISTS globex;",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(pipelines, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	apply := func() string {
		t.Helper()
		var out, errs bytes.Buffer
		if code := run(context.Background(), []string{"apply", "--server", url, "--token-file", tokenFile, "--profile-dir", profiles, pipelines}, &out, &errs); code != 0 {
			t.Fatalf("apply: exit %d\n%s\n%s", code, out.String(), errs.String())
		}
		return out.String()
	}
	first := apply()
	if strings.Index(first, "10-share.sql") > strings.Index(first, "20-acme.sql") || strings.Contains(first, "notes.txt") {
		t.Errorf("files not applied in name order, or a non-SQL file applied:\n%s", first)
	}
	profile := filepath.Join(profiles, "acme.share")
	before, err := os.ReadFile(profile)
	if err != nil {
		t.Fatalf("no profile: %v\n%s", err, first)
	}
	if st, _ := os.Stat(profile); st.Mode().Perm() != 0o600 {
		t.Errorf("profile mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(profiles, "globex.share")); err != nil {
		t.Errorf("second recipient's profile: %v", err)
	}
	if strings.Contains(first, catalog.RecipientTokenPrefix) {
		t.Errorf("apply printed a recipient token:\n%s", first)
	}
	second := apply()
	if !strings.Contains(second, "recipient acme already exists, skipped") {
		t.Errorf("second apply:\n%s", second)
	}
	if after, _ := os.ReadFile(profile); !bytes.Equal(after, before) {
		t.Errorf("second apply changed the profile")
	}
}
