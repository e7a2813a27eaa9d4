package deltalog

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// versionPrefix is the key every log file of version v starts with; a
// listing that starts after it begins with v's own files.
func versionPrefix(v int64) string { return fmt.Sprintf("%s%020d", LogDir, v) }

// CommitsFrom lists the JSON commits of version from onwards, contiguous
// from from: the listing starts at from's key (an object-store List with a
// start-after key), not at the log's first file. It returns their versions
// in order; an empty result means from is not (or no longer) a commit.
func CommitsFrom(ctx context.Context, st objstore.Store, from int64) ([]int64, error) {
	files, err := commitsFrom(ctx, st, from)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(files))
	for i, f := range files {
		out[i] = f.version
	}
	return out, nil
}

// commitsFrom lists the commit files from version from on, stopping at
// the first gap.
func commitsFrom(ctx context.Context, st objstore.Store, from int64) ([]logFile, error) {
	// Every file of version from ("…N.json", "…N.crc", …) sorts after
	// its bare prefix "…N", and every file of an earlier version before.
	files, err := listLogFrom(ctx, st, versionPrefix(from))
	if err != nil {
		return nil, err
	}
	var out []logFile
	next := from
	for _, f := range files {
		if f.kind != kindCommit || f.version < next {
			continue
		}
		if f.version != next {
			break
		}
		out = append(out, f)
		next++
	}
	return out, nil
}

// Update returns the snapshot at version target (-1: the latest) built
// from s by applying only the commits after s.Version, listed from
// s.Version on. It equals what Load would replay for target (files,
// protocol, metadata, schema, transactions, domains, version and
// timestamp); CheckpointVersion stays that of s, and Tombstones also keep
// removes a newer checkpoint may have expired. s is not changed. When a
// commit after s is gone (the log was cleaned up past it), the table is
// loaded in full. A target before s.Version is loaded in full too.
func (s *Snapshot) Update(ctx context.Context, st objstore.Store, target int64) (*Snapshot, error) {
	if target == s.Version {
		return s, nil
	}
	full := func() (*Snapshot, error) {
		opts := []LoadOption{AtVersion(target)}
		for _, f := range s.features {
			opts = append(opts, func(c *loadConfig) { c.features = append(c.features, f) })
		}
		return Load(ctx, st, opts...)
	}
	if target >= 0 && target < s.Version {
		return full()
	}
	commits, err := commitsFrom(ctx, st, s.Version+1)
	if err != nil {
		return nil, fmt.Errorf("update %s from version %d: %w", st.URI(), s.Version, err)
	}
	if target < 0 {
		if len(commits) == 0 {
			return s, nil
		}
		target = commits[len(commits)-1].version
	}
	if int64(len(commits)) < target-s.Version {
		return full() // a gap: let the full replay find the checkpoint or say what is missing
	}
	commits = commits[:target-s.Version]
	n := &Snapshot{
		Version:           target,
		Timestamp:         s.Timestamp,
		Protocol:          s.Protocol,
		Metadata:          s.Metadata,
		Schema:            s.Schema,
		CheckpointVersion: s.CheckpointVersion,
		files:             maps.Clone(s.files),
		tombstones:        maps.Clone(s.tombstones),
		txns:              maps.Clone(s.txns),
		domains:           maps.Clone(s.domains),
		commits:           append(slices.Clip(s.commits), commits...),
		features:          s.features,
	}
	var added []*Add
	removed := map[string]bool{}
	have, metaChanged := true, false
	lastTS, err := n.applyCommits(ctx, st, commits, &have, &have, func(a *Action) {
		switch {
		case a.Add != nil:
			added = append(added, a.Add)
			removed[fileKey(canonicalPath(a.Add.Path), a.Add.DeletionVector)] = true
		case a.Remove != nil:
			removed[fileKey(canonicalPath(a.Remove.Path), a.Remove.DeletionVector)] = true
		case a.MetaData != nil:
			metaChanged = true
		}
	})
	if err != nil {
		return nil, err
	}
	n.Timestamp = time.UnixMilli(lastTS).UTC()
	if err := CheckReadable(&n.Protocol, &n.Metadata, n.features...); err != nil {
		return nil, fmt.Errorf("load %s: %w", st.URI(), err)
	}
	if metaChanged {
		if err := n.parseSchema(st); err != nil {
			return nil, err
		}
	}
	n.sorted = mergeSorted(s.SortedFiles(), n.files, removed, added)
	return n, nil
}

// mergeSorted is the path order of files after some commits: the base's
// order without the files those commits touched, merged with the adds
// still live.
func mergeSorted(base []*Add, files map[string]*Add, touched map[string]bool, added []*Add) []*Add {
	var fresh []*Add
	for _, a := range added {
		if files[fileKey(canonicalPath(a.Path), a.DeletionVector)] == a {
			fresh = append(fresh, a)
		}
	}
	sortByPath(fresh)
	out := make([]*Add, 0, len(files))
	i := 0
	for _, a := range base {
		if touched[fileKey(canonicalPath(a.Path), a.DeletionVector)] {
			continue
		}
		for i < len(fresh) && strings.Compare(fresh[i].Path, a.Path) < 0 {
			out = append(out, fresh[i])
			i++
		}
		out = append(out, a)
	}
	return append(out, fresh[i:]...)
}
