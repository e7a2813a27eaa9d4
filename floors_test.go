package sluice_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sluice-io/sluice"

// floorRow is a row of the floor table of docs/architecture.md:
// | 3 | `ingest` | what it is |
var floorRow = regexp.MustCompile("^\\| (\\d+) \\| `([^`]+)` \\|")

// readFloors returns the floor of each package (by import path) in the
// table of docs/architecture.md.
func readFloors(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	floors := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := floorRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		path := module
		if m[2] != "." {
			path += "/" + m[2]
		}
		if _, dup := floors[path]; dup {
			t.Errorf("docs/architecture.md lists %s twice", m[2])
		}
		floors[path] = n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(floors) == 0 {
		t.Fatal("docs/architecture.md: no floor table (rows like | 3 | `ingest` | ... |)")
	}
	return floors
}

// topFolder is the first element of a package's path in the module: the
// folder whose packages may import each other on one floor.
func topFolder(path string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	return top
}

// floorViolations lists the imports (package -> its module imports) that
// break the layering of floors: a package imports only packages on lower
// floors, or on its own floor under the same top-level folder. A package
// missing from floors is a violation too.
func floorViolations(floors map[string]int, imports map[string][]string) []string {
	var out []string
	short := func(p string) string {
		if p == module {
			return "."
		}
		return strings.TrimPrefix(p, module+"/")
	}
	for pkg, deps := range imports {
		fp, ok := floors[pkg]
		if !ok {
			out = append(out, fmt.Sprintf("%s is not in the floor table of docs/architecture.md: add it", short(pkg)))
			continue
		}
		for _, dep := range deps {
			fd, ok := floors[dep]
			if !ok {
				continue // reported as a package of its own
			}
			if fd < fp || fd == fp && topFolder(dep) == topFolder(pkg) {
				continue
			}
			out = append(out, fmt.Sprintf("%s (floor %d) imports %s (floor %d)", short(pkg), fp, short(dep), fd))
		}
	}
	sort.Strings(out)
	return out
}

// TestFloors: no package of the module imports one on a higher floor of
// docs/architecture.md (nor one on its own floor under another top-level
// folder), every package is in the table and every row is a package.
func TestFloors(t *testing.T) {
	floors := readFloors(t)
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != module && !strings.HasPrefix(fields[0], module+"/") {
			continue
		}
		var deps []string
		for _, d := range fields[1:] {
			if d == module || strings.HasPrefix(d, module+"/") {
				deps = append(deps, d)
			}
		}
		imports[fields[0]] = deps
	}
	for _, v := range floorViolations(floors, imports) {
		t.Error(v)
	}
	for pkg := range floors {
		if _, ok := imports[pkg]; !ok {
			t.Errorf("docs/architecture.md lists %s, which is not a package of the module", pkg)
		}
	}
}

// TestFloorRule: the rule TestFloors applies, on imports the tree must
// never have and on ones it has.
func TestFloorRule(t *testing.T) {
	floors := map[string]int{
		module + "/deltawriter/deltalog": 2, module + "/deltawriter": 2,
		module + "/ingest": 3, module + "/catalog": 3, module + "/plan": 4,
	}
	for _, tc := range []struct {
		pkg, dep string
		want     string // "" when allowed
	}{
		{"plan", "ingest", ""},
		{"plan", "catalog", ""},
		{"deltawriter", "deltawriter/deltalog", ""},
		{"ingest", "deltawriter", ""},
		{"ingest", "plan", "ingest (floor 3) imports plan (floor 4)"},
		{"catalog", "ingest", "catalog (floor 3) imports ingest (floor 3)"},
		{"deltawriter/deltalog", "ingest", "deltawriter/deltalog (floor 2) imports ingest (floor 3)"},
		{"serve", "catalog", "serve is not in the floor table of docs/architecture.md: add it"},
	} {
		t.Run(tc.pkg+"->"+tc.dep, func(t *testing.T) {
			got := floorViolations(floors, map[string][]string{module + "/" + tc.pkg: {module + "/" + tc.dep}})
			want := []string(nil)
			if tc.want != "" {
				want = []string{tc.want}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("violations %q, want %q", got, want)
			}
		})
	}
}
