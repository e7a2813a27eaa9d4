package sharing

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// commit is one JSON commit of a table's log: its version and time (the
// commit file's modification time, as deltalog.VersionAtTimestamp uses).
type commit struct {
	version int64
	ms      int64
}

// listCommits lists the table's JSON commits, by version.
func listCommits(ctx context.Context, st objstore.Store) ([]commit, error) {
	objs, err := st.List(ctx, deltalog.LogDir, "")
	if err != nil {
		return nil, fmt.Errorf("list the log of %s: %w", st.URI(), err)
	}
	var out []commit
	for _, o := range objs {
		name := path.Base(o.Key)
		if len(name) != 25 || !strings.HasSuffix(name, ".json") || path.Dir(o.Key)+"/" != deltalog.LogDir {
			continue
		}
		v, err := strconv.ParseInt(name[:20], 10, 64)
		if err != nil || v < 0 {
			continue
		}
		out = append(out, commit{version: v, ms: o.ModTime.UnixMilli()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// parseTimestamp reads the protocol's timestamps: ISO 8601 in UTC
// ("2022-01-01T00:00:00Z", with or without a fraction or offset) or the
// older "yyyy-mm-dd hh:mm:ss[.f]" taken as UTC.
func parseTimestamp(name, s string) (time.Time, *apiError) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badParam("%s %q is not a timestamp: use ISO 8601 in UTC, e.g. 2022-01-01T00:00:00Z", name, s)
}

// versionAtOrBefore is the latest version committed at or before t.
func versionAtOrBefore(commits []commit, name string, t time.Time) (int64, *apiError) {
	ms := t.UnixMilli()
	found := int64(-1)
	for _, c := range commits {
		if c.ms <= ms {
			found = c.version
		}
	}
	if found < 0 {
		return 0, badParam("%s %s is before the earliest version of the table", name, t.Format(time.RFC3339Nano))
	}
	return found, nil
}

// versionAtOrAfter is the earliest version committed at or after t (a time
// before the first commit gives the first version).
func versionAtOrAfter(commits []commit, name string, t time.Time) (int64, *apiError) {
	ms := t.UnixMilli()
	for _, c := range commits {
		if c.ms >= ms {
			return c.version, nil
		}
	}
	return 0, badParam("%s %s is after the latest version of the table", name, t.Format(time.RFC3339Nano))
}

// loadError maps a snapshot load error to the answer: versions outside the
// history are the client's error, unsupported tables too, the rest ours.
func loadError(t sharedTable, err error) *apiError {
	var uf *deltalog.UnsupportedFeatureError
	switch {
	case errors.Is(err, deltalog.ErrVersionNotFound):
		return badParam("table %s: %v", t.label(), trimURI(err))
	case errors.As(err, &uf):
		return &apiError{status: 400, code: codeUnsupported, msg: fmt.Sprintf("table %s uses the Delta feature %s, which this server cannot share yet", t.label(), uf.Feature)}
	}
	return internal(fmt.Errorf("table %s: %w", t.label(), err))
}

// trimURI drops "load <uri> " from a deltalog error: recipients need not
// see where the table lives.
func trimURI(err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "load ") {
		if i := strings.Index(s, " version "); i > 0 {
			return s[i+1:]
		}
	}
	return s
}
