package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
)

// TestSQLScriptStopsAtFailure: `sluice sql -f` on a script whose third
// statement fails exits 1, prints the output of the two that ran, and
// says which statement failed (number, line, caret), that it changed
// nothing and that the fourth did not run; the catalog agrees. A syntax
// error says that nothing ran.
func TestSQLScriptStopsAtFailure(t *testing.T) {
	token := catalog.NewUserToken()
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", token)
	url, stop := startServe(t, t.TempDir())
	defer stop()
	file := filepath.Join(t.TempDir(), "script.sql")
	script := "CREATE DATABASE sales;\nCREATE SCHEMA sales.eu;\nGRANT USAGE ON DATABASE sales TO ROLE nosuch;\nCREATE SCHEMA sales.us;\n"
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"sql", "--server", url, "--token", token, "-f", file}, &out, &errs)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "database sales created") || !strings.Contains(out.String(), "schema sales.eu created") {
		t.Errorf("stdout lacks the output of the statements that ran:\n%s", out.String())
	}
	want := "sluice sql: statement 3 of 4 (line 3:1) failed: NOT_FOUND: role nosuch does not exist\n" +
		"  GRANT USAGE ON DATABASE sales TO ROLE nosuch;\n  ^\n" +
		"statements 1-2 ran and committed (output above); statement 3 changed nothing; statement 4 did not run\n"
	if errs.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errs.String(), want)
	}
	if code, out, errs := sql(t, url, token, "SHOW SCHEMAS IN sales"); code != 0 || !strings.Contains(out, "eu") || strings.Contains(out, "us") {
		t.Errorf("after the script SHOW SCHEMAS: exit %d\n%s%s\nwant eu and not us", code, out, errs)
	}
	if code, _, errs := sql(t, url, token, "CREATE DATABASE other;\nCREATE TABLE ;"); code != 1 || !strings.HasSuffix(errs, "\nno statement ran\n") {
		t.Errorf("syntax error: exit %d, stderr:\n%s", code, errs)
	}
}
