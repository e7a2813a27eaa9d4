package deltalog

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// DefaultLogRetention is how long commit and checkpoint files are kept
// unless delta.logRetentionDuration says otherwise (the protocol's 30 days).
const DefaultLogRetention = 30 * 24 * time.Hour

// LogRetention returns the table's delta.logRetentionDuration, or the
// default when it is unset or unparsable (settings are validated where
// they are set; see serve/upkeep).
func LogRetention(m *Metadata) time.Duration {
	if d, err := ParseInterval(m.Configuration["delta.logRetentionDuration"]); err == nil && d > 0 {
		return d
	}
	return DefaultLogRetention
}

// LogCleanupPlan is what a log cleanup deletes and what stays loadable.
type LogCleanupPlan struct {
	// Checkpoint is the version of the checkpoint the kept log starts at,
	// -1 when there is none that allows deleting anything.
	Checkpoint int64
	// OldestLoadable is the oldest version loadable after the cleanup,
	// Checkpoint, when it deletes anything; -1 when it deletes nothing.
	OldestLoadable int64
	// Delete are the keys to delete, oldest version first, so that a
	// cleanup interrupted half-way leaves a log that starts later but is
	// still contiguous.
	Delete []string
}

// PlanLogCleanup decides which files of a table's _delta_log may go. keys
// and modTimes describe the listing (modTimes[i] is keys[i]'s). Every
// version at or after the oldest one committed after cutoff stays
// loadable, as does the latest version and every version at or after
// minKeep (minKeep < 0: no such bound). That needs the newest complete
// checkpoint c at or before the oldest version to keep, and every commit
// after it; files of versions below c that are also older than cutoff are
// deleted: commits, checkpoints (all parts) and .crc files. Without such a
// checkpoint nothing is deleted. V2 checkpoint sidecars are left alone.
func PlanLogCleanup(infos []objstore.ObjectInfo, cutoff time.Time, minKeep int64) LogCleanupPlan {
	plan := LogCleanupPlan{Checkpoint: -1, OldestLoadable: -1}
	files := make([]logFile, 0, len(infos))
	latest := int64(-1)
	keepFrom := int64(-1) // oldest version committed after cutoff
	for _, in := range infos {
		f := parseLogFile(in.Key)
		if f.kind == kindOther {
			if v, ok := crcVersion(in.Key); ok {
				f.version = v
			} else {
				continue
			}
		}
		f.modTime = in.ModTime.UnixMilli()
		files = append(files, f)
		if f.kind == kindCommit {
			latest = max(latest, f.version)
			if !in.ModTime.Before(cutoff) && (keepFrom < 0 || f.version < keepFrom) {
				keepFrom = f.version
			}
		}
	}
	if latest < 0 {
		return plan
	}
	if keepFrom < 0 || keepFrom > latest {
		keepFrom = latest
	}
	if minKeep >= 0 && minKeep < keepFrom {
		keepFrom = minKeep
	}
	cp := pickCheckpoint(files, keepFrom)
	if cp == nil {
		return plan
	}
	plan.Checkpoint = cp.version
	ms := cutoff.UnixMilli()
	// Keys start with the zero-padded version: key order is version order.
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	for _, f := range files {
		if f.version < cp.version && f.modTime < ms {
			plan.Delete = append(plan.Delete, f.key)
		}
	}
	if len(plan.Delete) > 0 {
		plan.OldestLoadable = cp.version
	}
	return plan
}

// crcVersion parses the version of a "<20 digits>.crc" log file.
func crcVersion(key string) (int64, bool) {
	name := path.Base(key)
	if !strings.HasPrefix(key, LogDir) || strings.Contains(key[len(LogDir):], "/") || len(name) != 24 || !strings.HasSuffix(name, ".crc") {
		return 0, false
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	return v, err == nil && v >= 0
}

// ListLog lists every object of the table's _delta_log directory (not its
// subdirectories' contents, which PlanLogCleanup ignores).
func ListLog(ctx context.Context, st objstore.Store) ([]objstore.ObjectInfo, error) {
	infos, err := st.List(ctx, LogDir, "")
	if err != nil {
		return nil, fmt.Errorf("list %s%s: %w", st.URI(), LogDir, err)
	}
	return infos, nil
}
