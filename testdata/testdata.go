// Package testdata is the repository's shared test data, and the one place
// that knows where it lives:
//
//   - delta-golden/: Delta tables written by Spark (see its README.md),
//     inputs for the Delta reader, `sluice delta` and the sharing server;
//   - pipelines/: the example pipelines (SQL scripts), embedded here so the
//     `sluice demo` binary carries them;
//   - events/: sample events (web-shop orders, one JSON object a line, the
//     shape ingest/eventgen produces).
//
// Path resolves a file from this package's own source location, so a test
// of any package finds the data wherever the repository is cloned, with
// nothing beside it. (The go command's ./... patterns skip a directory named
// testdata, so this package is only built when imported.)
package testdata

import (
	"embed"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
)

// Path returns the absolute path of elem (slash-free path elements, joined)
// under the repository's testdata/ folder, for example
// Path("delta-golden", "checkpoint"). It is meant for tests: it resolves
// from the source file's location recorded at build time, which a binary
// built with -trimpath does not have.
func Path(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file)}, elem...)...)
}

//go:embed pipelines/*.sql
var pipelines embed.FS

// Pipeline returns the example pipeline pipelines/NAME.sql: a SQL script
// of idempotent statements, as `sluice apply` and `sluice sql -f` run it.
func Pipeline(name string) (string, error) {
	file := "pipelines/" + name + ".sql"
	src, err := fs.ReadFile(pipelines, file)
	if err != nil {
		return "", fmt.Errorf("pipeline %s: no testdata/%s (the pipelines are %v)", name, file, pipelineNames())
	}
	return string(src), nil
}

func pipelineNames() []string {
	files, _ := fs.Glob(pipelines, "pipelines/*.sql")
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f[len("pipelines/") : len(f)-len(".sql")]
	}
	return names
}
