package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// commandImports are the packages the binary may import: flag parsing and
// printing from the standard library, and the packages that offer one call
// per command. Building a component (a catalog, a policy engine, a Kafka
// client, an HTTP server, a supervisor) happens behind those calls, in
// serve.New and its kin, never here.
var commandImports = []string{
	"context", "encoding/json", "errors", "flag", "fmt", "io", "os", "os/signal",
	"sort", "strings", "syscall", "text/tabwriter", "time",
	"github.com/sluice-io/sluice/catalog", // NewUserToken, for `sluice token`
	"github.com/sluice-io/sluice/deltawriter",
	"github.com/sluice-io/sluice/deltawriter/deltalog", // inspect's result types
	"github.com/sluice-io/sluice/deltawriter/objstore", // EnsureBucket
	"github.com/sluice-io/sluice/ingest",               // RunSpecFile, for `sluice worker`
	"github.com/sluice-io/sluice/internal/logging",
	"github.com/sluice-io/sluice/serve",
	"github.com/sluice-io/sluice/serve/client",
	"github.com/sluice-io/sluice/serve/config",
	"github.com/sluice-io/sluice/serve/demo",
}

// TestCommandImports: cmd/sluice only parses flags and calls the library
// (issue: one place assembles the server). A new import is either a call
// that belongs in this list or wiring that belongs in a package.
func TestCommandImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !slices.Contains(commandImports, path) {
				t.Errorf("%s imports %s: cmd/sluice parses flags and calls the library; build components in serve (serve.New) or the package that owns them", f, path)
			}
		}
	}
}
