// Package sluice_test holds the repository-level tests: a fresh clone is
// self-contained (clone_test.go), the README's commands run as written
// (readme_test.go), the testdata package works (testdata_test.go), the
// packages keep the floors of docs/architecture.md (floors_test.go). The
// first two work on a clone of the committed HEAD: commit before running
// them.
package sluice_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCloneRunsShortSuite: `git clone` of the repository into an empty
// folder, with nothing beside it, passes `go test -short ./...` with the
// module proxy off and no test service in the environment; and the clone's
// testdata/ holds exactly the files of the working tree's (a file git
// ignores, or a directory it cannot keep because it is empty, would be
// missing).
func TestCloneRunsShortSuite(t *testing.T) {
	if testing.Short() {
		// The clone's own copy of this test runs under -short: no recursion.
		t.Skip("-short: the clone test runs the short suite itself")
	}
	clone := cloneHEAD(t)
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want, got := listTree(t, filepath.Join(root, "testdata")), listTree(t, filepath.Join(clone, "testdata"))
	if !slices.Equal(got, want) {
		t.Fatalf("a fresh clone's testdata/ differs from the working tree's (uncommitted, ignored or empty-directory files?):\n%s", listDiff(want, got))
	}

	start := time.Now()
	cmd := exec.Command("go", "test", "-short", "./...")
	cmd.Dir = clone
	cmd.Env = offlineEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -short ./... in a fresh clone (%s): %v\n%s", clone, err, out)
	}
	t.Logf("go test -short ./... passed in a fresh clone in %v", time.Since(start).Round(time.Second))
}

// cloneHEAD clones the repository's committed HEAD into DIR/sluice, DIR a
// new temporary folder holding nothing else, and returns the clone's path.
// A missing git fails the test.
func cloneHEAD(t *testing.T) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is not on PATH: the repository-level tests clone the repository (%v)", err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command(git, "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD in %s: %v", root, err)
	}
	clone := filepath.Join(t.TempDir(), "sluice")
	for _, args := range [][]string{
		{"clone", "--quiet", "--no-checkout", root, clone},
		{"-C", clone, "checkout", "--quiet", "--detach", strings.TrimSpace(string(head))},
	} {
		if out, err := exec.Command(git, args...).CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return clone
}

// offlineEnv is this process's environment without the test services'
// variables (SLUICE_TEST_*) and with the module proxy off: the suite must
// pass from a clone and the module cache alone.
func offlineEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_TEST_") && !strings.HasPrefix(kv, "GOPROXY=") {
			env = append(env, kv)
		}
	}
	return append(env, "GOPROXY=off", "GOWORK=off")
}

// listTree lists the files and directories below dir, relative, with a
// trailing / on directories and each file's size.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, rel+" "+strconv.FormatInt(info.Size(), 10))
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return out
}

// listDiff shows the entries only in want (-) or only in got (+).
func listDiff(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("- " + w + " (working tree only)\n")
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("+ " + g + " (clone only)\n")
		}
	}
	return b.String()
}
