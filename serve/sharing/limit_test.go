package sharing

import "github.com/sluice-io/sluice/deltawriter/deltalog"

// limitFiles is the limiter over a list, for tests of limitHint.
func limitFiles(files []*deltalog.Add, limit int64) []*deltalog.Add {
	l := limiter{limit: &limit}
	for i, f := range files {
		if !l.keep(f, nil) {
			return files[:i]
		}
	}
	return files
}
