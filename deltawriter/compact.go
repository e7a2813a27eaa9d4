package deltawriter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// CompactPolicy decides which small files Compact rewrites. A file is small
// when it is below TargetFileSize (files with deletion vectors are left
// alone). Within a partition, small files are grouped in size tiers a
// factor MinFiles apart (tier k holds sizes from MinFiles^k up to
// MinFiles^(k+1) bytes), so that merging one tier's files makes a file of
// the next tier: every byte is rewritten about once per tier (about five
// times between 1 KiB and 128 MiB at the default 10), never once per run.
// A partition's files are rewritten, whatever their age, when
//   - its small files add up to at least MinBytes: all of them, packed into
//     files of the target size; or
//   - a tier holds at least MinFiles files: that tier's; and all of them
//     when the files left after that would still be 2 × MinFiles or more,
//     which bounds a partition's small files after a run below 2 × MinFiles.
//
// Otherwise, when at least two small files are left and the youngest is at
// least MinAge old (by its add.modificationTime), the partition has gone
// quiet and all its small files are merged. One run rewrites at most
// MaxFiles files and MaxBytes bytes; the rest waits for the next.
type CompactPolicy struct {
	TargetFileSize int64         // size of the files to produce (default 128 MiB)
	MinFiles       int           // files in one size tier of a partition that trigger it, and the tiers' size factor (default 10)
	MinBytes       int64         // total small bytes in a partition that trigger it (default 128 MiB)
	MinAge         time.Duration // a partition with fewer small files is merged once its youngest is this old (default 10 minutes; 0: at once)
	MaxFiles       int           // files rewritten per run at most (default 1000)
	MaxBytes       int64         // bytes rewritten per run at most (default 1 GiB)
	MaxAttempts    int           // plans tried when concurrent commits conflict (default 10)
}

// DefaultCompactPolicy returns the policy with every default.
func DefaultCompactPolicy() CompactPolicy {
	return CompactPolicy{
		TargetFileSize: DefaultTargetFileSize,
		MinFiles:       10,
		MinBytes:       DefaultTargetFileSize,
		MinAge:         10 * time.Minute,
		MaxFiles:       1000,
		MaxBytes:       1 << 30,
		MaxAttempts:    10,
	}
}

// validate reports the first setting a run cannot work with.
func (p CompactPolicy) validate() error {
	switch {
	case p.TargetFileSize <= 0:
		return fmt.Errorf("compaction policy: target file size %d must be positive", p.TargetFileSize)
	case p.MinFiles < 2:
		return fmt.Errorf("compaction policy: min files %d must be at least 2 (one file is not compacted)", p.MinFiles)
	case p.MinBytes <= 0:
		return fmt.Errorf("compaction policy: min bytes %d must be positive", p.MinBytes)
	case p.MinAge < 0:
		return fmt.Errorf("compaction policy: min age %s must not be negative", p.MinAge)
	case p.MaxFiles < 2:
		return fmt.Errorf("compaction policy: max files per run %d must be at least 2", p.MaxFiles)
	case p.MaxBytes < p.TargetFileSize:
		return fmt.Errorf("compaction policy: max bytes per run %d must be at least the target file size %d", p.MaxBytes, p.TargetFileSize)
	case p.MaxAttempts < 1:
		return fmt.Errorf("compaction policy: max attempts %d must be at least 1", p.MaxAttempts)
	}
	return nil
}

// compactionPlan is what one run rewrites: bins of small files, each bin
// within one partition and becoming one file of about the target size.
type compactionPlan struct {
	bins     [][]*deltalog.Add
	deferred int // bins left for a later run by MaxFiles or MaxBytes
}

// planCompaction picks the bins of a run from the table's live files (see
// CompactPolicy). The partitions with the most small files go first;
// within a partition the oldest files are packed first.
func planCompaction(files []*deltalog.Add, partCols []string, p CompactPolicy, now time.Time) compactionPlan {
	byPart := map[string][]*deltalog.Add{}
	for _, a := range files {
		if a.Size < p.TargetFileSize && a.DeletionVector == nil {
			dir := partitionDir(partCols, a.PartitionValues)
			byPart[dir] = append(byPart[dir], a)
		}
	}
	dirs := make([]string, 0, len(byPart))
	for dir := range byPart {
		dirs = append(dirs, dir)
	}
	sort.Slice(dirs, func(i, j int) bool {
		if ni, nj := len(byPart[dirs[i]]), len(byPart[dirs[j]]); ni != nj {
			return ni > nj
		}
		return dirs[i] < dirs[j]
	})
	var plan compactionPlan
	var nFiles int
	var nBytes int64
	for _, dir := range dirs {
		for _, fs := range dueFiles(byPart[dir], p, now) {
			sort.Slice(fs, func(i, j int) bool {
				if fs[i].ModificationTime != fs[j].ModificationTime {
					return fs[i].ModificationTime < fs[j].ModificationTime
				}
				return fs[i].Path < fs[j].Path
			})
			for _, bin := range binPack(fs, p.TargetFileSize) {
				if len(bin) < 2 {
					continue
				}
				var size int64
				for _, a := range bin {
					size += a.Size
				}
				if nFiles+len(bin) > p.MaxFiles || nBytes+size > p.MaxBytes {
					plan.deferred++
					continue
				}
				plan.bins = append(plan.bins, bin)
				nFiles += len(bin)
				nBytes += size
			}
		}
	}
	return plan
}

// dueFiles returns the groups of one partition's small files that the
// policy rewrites now (see CompactPolicy), smallest tier first.
func dueFiles(small []*deltalog.Add, p CompactPolicy, now time.Time) [][]*deltalog.Add {
	if len(small) < 2 {
		return nil
	}
	var bytes, youngest int64
	tiers := map[int][]*deltalog.Add{}
	for _, a := range small {
		bytes += a.Size
		youngest = max(youngest, a.ModificationTime)
		k := sizeTier(a.Size, p.MinFiles)
		tiers[k] = append(tiers[k], a)
	}
	if bytes >= p.MinBytes {
		return [][]*deltalog.Add{small}
	}
	var due [][]*deltalog.Add
	for _, k := range slices.Sorted(maps.Keys(tiers)) {
		if fs := tiers[k]; len(fs) >= p.MinFiles {
			due = append(due, fs)
		}
	}
	if len(due) == 0 && youngest <= now.Add(-p.MinAge).UnixMilli() {
		return [][]*deltalog.Add{small}
	}
	// The tiers alone would leave up to MinFiles-1 files in each of them
	// (25 in a partition after a day of the demo's commits); when what
	// they leave reaches 2 × MinFiles, all the small files are merged, so
	// a partition keeps fewer than 2 × MinFiles small files after a run.
	left := len(small)
	for _, g := range due {
		left -= len(g) - 1
	}
	if left >= 2*p.MinFiles {
		return [][]*deltalog.Add{small}
	}
	return due
}

// sizeTier is floor(log_factor(size)): the size tier of a file.
func sizeTier(size int64, factor int) int {
	k := 0
	for f := int64(factor); size >= f; size /= f {
		k++
	}
	return k
}

// CompactResult reports what Compact did.
type CompactResult struct {
	Version      int64 // the committed version, or the unchanged one when nothing was compacted
	FilesRemoved int
	FilesAdded   int
	BytesRemoved int64
	BytesAdded   int64
	Deferred     int // bins of small files left for a later run by the per-run bounds
	Conflicts    int // plans given up because a concurrent commit conflicted
}

// Compact rewrites the small files of the partitions that p triggers into
// files of about the target size, and commits removes and adds with
// dataChange=false, so change-data and streaming readers skip it. It runs
// beside writers: appends committed meanwhile are kept (the commit lands
// after them), and when a concurrent commit conflicts — it removed a file
// of the plan, or changed the metadata or protocol — the files written are
// deleted and the run re-plans against the new snapshot, up to
// p.MaxAttempts plans. A file a concurrent commit removed is never
// rewritten into the table.
func (t *Table) Compact(ctx context.Context, p CompactPolicy) (CompactResult, error) {
	if err := p.validate(); err != nil {
		return CompactResult{}, fmt.Errorf("compact %s: %w", t.URI(), err)
	}
	var res CompactResult
	for attempt := 1; ; attempt++ {
		snap, err := t.Snapshot(ctx)
		if err != nil {
			return res, fmt.Errorf("compact %s: %w", t.URI(), err)
		}
		plan := planCompaction(snap.Files(), snap.Metadata.PartitionColumns, p, t.cfg.now())
		res.Version, res.Deferred = snap.Version, plan.deferred
		if len(plan.bins) == 0 {
			return res, nil
		}
		rw, err := t.rewriteBins(ctx, snap, plan.bins, p.TargetFileSize)
		if err != nil {
			return res, fmt.Errorf("compact %s: %w", t.URI(), err)
		}
		v, err := t.Commit(ctx, snap, rw.actions, deltalog.Operation{Name: "OPTIMIZE", Parameters: map[string]string{
			"predicate": "[]", "targetFileSize": deltalog.JSONParam(p.TargetFileSize), "auto": "true",
		}})
		if err == nil {
			res.Version, res.FilesRemoved, res.FilesAdded = v, rw.removed, rw.added
			res.BytesRemoved, res.BytesAdded = rw.bytesRemoved, rw.bytesAdded
			t.logger.Info("compact", "version", v, "filesRemoved", rw.removed, "filesAdded", rw.added,
				"bytesRemoved", rw.bytesRemoved, "deferred", plan.deferred, "conflicts", res.Conflicts)
			return res, nil
		}
		if !errors.Is(err, deltalog.ErrConflict) {
			// The commit may have landed (a lost response): the new files
			// stay; if they are orphans, VACUUM removes them.
			return res, fmt.Errorf("compact %s: %w", t.URI(), err)
		}
		// A conflict means our commit is not in the log: its files are orphans.
		t.deleteUncommitted(ctx, rw.actions)
		res.Conflicts++
		if attempt >= p.MaxAttempts {
			return res, fmt.Errorf("compact %s: gave up after %d plans: %w", t.URI(), attempt, err)
		}
		t.logger.Info("compact: concurrent commit conflicts, planning again", "attempt", attempt, "err", err)
	}
}

// deleteUncommitted deletes the files of the add actions of a commit that
// is known not to be in the log. Failures are logged: VACUUM removes what
// is left.
func (t *Table) deleteUncommitted(ctx context.Context, acts []deltalog.Action) {
	for _, a := range acts {
		if a.Add == nil {
			continue
		}
		key, err := KeyForPath(a.Add.Path)
		if err == nil {
			err = t.store.Delete(ctx, key)
		}
		if err != nil {
			t.logger.Warn("compact: could not delete an uncommitted file; VACUUM will", "path", a.Add.Path, "err", err)
		}
	}
}
