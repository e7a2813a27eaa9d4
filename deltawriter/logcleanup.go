package deltawriter

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// LogCleanupOptions tune CleanLog.
type LogCleanupOptions struct {
	// Retain is how long commit and checkpoint files are kept (default:
	// the table's delta.logRetentionDuration, 30 days unless set).
	Retain time.Duration
	// MinVersion, when positive, is the oldest version that must stay
	// loadable whatever its age, such as the oldest version a share WITH
	// HISTORY promises its recipients; 0 or negative: none.
	MinVersion int64
	// DryRun lists what would be deleted without deleting it.
	DryRun bool
}

// LogCleanupResult reports what CleanLog deleted (or would delete).
type LogCleanupResult struct {
	Deleted        []string // keys of _delta_log files, oldest version first
	Checkpoint     int64    // the checkpoint the kept log starts at; -1: nothing could go
	OldestLoadable int64    // the oldest version loadable afterwards; -1: unchanged (nothing deleted)
	DryRun         bool
}

// CleanLog deletes the commit and checkpoint files older than the log
// retention that no version to keep needs: every version committed within
// the retention, the latest and every version at or after o.MinVersion stay
// loadable (by the newest checkpoint at or before the oldest of them, and
// the commits after it). Versions before that checkpoint are then refused
// with deltalog.ErrVersionNotFound. Without a suitable checkpoint nothing
// is deleted; write one (Checkpoint) first.
func (t *Table) CleanLog(ctx context.Context, o LogCleanupOptions) (LogCleanupResult, error) {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return LogCleanupResult{}, fmt.Errorf("clean log of %s: %w", t.URI(), err)
	}
	retain := o.Retain
	if retain == 0 {
		retain = deltalog.LogRetention(&snap.Metadata)
	}
	if retain < 0 {
		return LogCleanupResult{}, fmt.Errorf("clean log of %s: negative retention %s", t.URI(), retain)
	}
	infos, err := deltalog.ListLog(ctx, t.store)
	if err != nil {
		return LogCleanupResult{}, fmt.Errorf("clean log of %s: %w", t.URI(), err)
	}
	minKeep := o.MinVersion
	if minKeep <= 0 {
		minKeep = -1
	}
	plan := deltalog.PlanLogCleanup(infos, t.cfg.now().Add(-retain), minKeep)
	res := LogCleanupResult{Checkpoint: plan.Checkpoint, OldestLoadable: plan.OldestLoadable, DryRun: o.DryRun}
	if o.DryRun {
		res.Deleted = plan.Delete
		return res, nil
	}
	for _, k := range plan.Delete {
		if err := t.store.Delete(ctx, k); err != nil {
			return res, fmt.Errorf("clean log of %s: delete %s: %w", t.URI(), k, err)
		}
		res.Deleted = append(res.Deleted, k)
	}
	if len(res.Deleted) > 0 {
		t.logger.Info("log cleanup", "deleted", len(res.Deleted), "oldestLoadable", plan.OldestLoadable, "retain", retain)
	}
	return res, nil
}
