package deltawriter

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deltawriter/parquetio"
)

// OptimizeOptions tune Optimize.
type OptimizeOptions struct {
	// TargetFileSize is the size of the files to produce; files smaller than
	// it are compacted (default: the table's target file size).
	TargetFileSize int64
}

// OptimizeResult reports what OPTIMIZE did.
type OptimizeResult struct {
	Version      int64 // the committed version, or the unchanged one when nothing was compacted
	FilesRemoved int
	FilesAdded   int
	BytesRemoved int64
	BytesAdded   int64
	Partitions   int // partitions compacted
}

// Optimize bin-packs the small files (smaller than the target file size) of
// each partition into files of about the target size, dropping the rows
// their deletion vectors mark deleted (a small file with a deletion vector
// is rewritten even alone, and the new files have none), and commits the
// rewrite as removes and adds with dataChange=false, so streaming readers of
// changes skip it. Files that a concurrent commit removed make it fail with
// a deltalog.ConflictError; appends in the meantime are fine.
func (t *Table) Optimize(ctx context.Context, o OptimizeOptions) (OptimizeResult, error) {
	target := o.TargetFileSize
	if target <= 0 {
		target = t.cfg.targetFileSize
	}
	// Deletion vectors are applied when files are rewritten (copyFile),
	// and the new files have none.
	snap, err := t.Snapshot(ctx, deltalog.WithFeatures(handledFeatures...))
	if err != nil {
		return OptimizeResult{}, err
	}
	res := OptimizeResult{Version: snap.Version}
	byPart := map[string][]*deltalog.Add{}
	for _, a := range snap.Files() {
		if a.Size < target {
			dir := partitionDir(snap.Metadata.PartitionColumns, a.PartitionValues)
			byPart[dir] = append(byPart[dir], a)
		}
	}
	dirs := make([]string, 0, len(byPart))
	for d := range byPart {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var bins [][]*deltalog.Add
	for _, dir := range dirs {
		compacted := false
		for _, bin := range binPack(byPart[dir], target) {
			// A lone file is rewritten only to drop its deleted rows.
			if len(bin) >= 2 || bin[0].DeletionVector != nil {
				bins = append(bins, bin)
				compacted = true
			}
		}
		if compacted {
			res.Partitions++
		}
	}
	if len(bins) == 0 {
		return res, nil
	}
	rw, err := t.rewriteBins(ctx, snap, bins, target, handledFeatures...)
	if err != nil {
		return res, fmt.Errorf("optimize %s: %w", t.URI(), err)
	}
	v, err := t.commit(ctx, snap, rw.actions, deltalog.Operation{Name: "OPTIMIZE", Parameters: map[string]string{
		"predicate": "[]", "targetFileSize": deltalog.JSONParam(target),
	}}, handledFeatures...)
	if err != nil {
		return res, fmt.Errorf("optimize %s: %w", t.URI(), err)
	}
	res.Version, res.FilesRemoved, res.FilesAdded = v, rw.removed, rw.added
	res.BytesRemoved, res.BytesAdded = rw.bytesRemoved, rw.bytesAdded
	return res, nil
}

// handledFeatures are the reader features this package's row readers and
// maintenance handle: ScanFile applies deletion vectors and column mapping;
// OPTIMIZE writes no deletion vectors and rewrites files of a table with
// column mapping under their physical names and field ids; inspect and
// VACUUM read no rows.
var handledFeatures = []string{deltalog.FeatureDeletionVectors, deltalog.FeatureColumnMapping}

// rewrite is the commit of a rewrite of bins of files: their removes and
// the adds of the new files, all with dataChange=false.
type rewrite struct {
	actions                  []deltalog.Action
	removed, added           int
	bytesRemoved, bytesAdded int64
}

// rewriteBins writes the rows of each bin (files of one partition) into one
// new file and returns the actions that swap them in.
func (t *Table) rewriteBins(ctx context.Context, snap *deltalog.Snapshot, bins [][]*deltalog.Add, target int64, also ...string) (rewrite, error) {
	var rw rewrite
	w, err := t.newBatchWriter(ctx, snap, target, also...)
	if err != nil {
		return rw, err
	}
	defer w.Abort()
	var removed []*deltalog.Add
	for _, bin := range bins {
		for _, a := range bin {
			if err := t.copyFile(ctx, w, snap, a); err != nil {
				return rw, err
			}
			removed = append(removed, a)
			rw.bytesRemoved += a.Size
		}
		// One output file per bin.
		if err := w.finishPartition(bin[0].PartitionValues); err != nil {
			return rw, err
		}
	}
	adds, err := w.Close()
	if err != nil {
		return rw, err
	}
	now := t.cfg.now().UnixMilli()
	rw.actions = make([]deltalog.Action, 0, len(removed)+len(adds))
	for _, a := range removed {
		size := a.Size
		ext := true
		rw.actions = append(rw.actions, deltalog.Action{Remove: &deltalog.Remove{
			Path: a.Path, DeletionTimestamp: &now, DataChange: false, ExtendedFileMetadata: &ext,
			PartitionValues: a.PartitionValues, Size: &size, Stats: a.Stats, Tags: a.Tags,
			DeletionVector: a.DeletionVector, // the file removed is the pair (path, deletion vector)
		}})
	}
	for i := range adds {
		adds[i].DataChange = false
		rw.actions = append(rw.actions, deltalog.Action{Add: &adds[i]})
		rw.bytesAdded += adds[i].Size
	}
	rw.removed, rw.added = len(removed), len(adds)
	return rw, nil
}

// binPack groups files (in path order) into bins whose sizes add up to at
// most target.
func binPack(files []*deltalog.Add, target int64) [][]*deltalog.Add {
	var bins [][]*deltalog.Add
	var cur []*deltalog.Add
	var size int64
	for _, f := range files {
		if len(cur) > 0 && size+f.Size > target {
			bins = append(bins, cur)
			cur, size = nil, 0
		}
		cur = append(cur, f)
		size += f.Size
	}
	if len(cur) > 0 {
		bins = append(bins, cur)
	}
	return bins
}

// copyFile reads the live rows of a data file (its deletion vector
// applied) and writes them to w's file of the same partition.
func (t *Table) copyFile(ctx context.Context, w *BatchWriter, snap *deltalog.Snapshot, a *deltalog.Add) error {
	return t.ScanFile(ctx, snap, a, w.dataSchema, func(rec arrow.Record) error {
		return w.writePartition(a.PartitionValues, rec)
	})
}

// ScanFile reads the live rows of a data file of the snapshot's table: its
// Parquet rows as Arrow records of schema (the data columns; partition
// values are not in the file), without the rows its deletion vector marks
// deleted. Under column mapping, columns are found by the physical names
// (mode id: field ids) of schema's fields, which may be the logical schema
// or its deltalog.PhysicalSchema; the records keep schema's names. Records
// are released when fn returns (see parquetio.ReadFile).
func (t *Table) ScanFile(ctx context.Context, snap *deltalog.Snapshot, a *deltalog.Add, schema *deltalog.Schema, fn func(arrow.Record) error) error {
	key, err := KeyForPath(a.Path)
	if err != nil {
		return err
	}
	var deleted *deltalog.RowSet
	if a.DeletionVector != nil {
		if deleted, err = deltalog.ReadDeletionVector(ctx, t.store, a.DeletionVector); err != nil {
			return fmt.Errorf("data file %s: %w", key, err)
		}
	}
	b, err := objstore.ReadAll(ctx, t.store, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	var row, dropped uint64 // the file's row index of rec's first row; rows dropped so far
	mapping := parquetio.WithColumnMapping(deltalog.ColumnMappingMode(&snap.Metadata))
	err = parquetio.ReadFile(bytes.NewReader(b), int64(len(b)), schema, memory.DefaultAllocator, func(rec arrow.Record) error {
		base, n := row, rec.NumRows()
		row += uint64(n)
		if deleted == nil {
			return fn(rec)
		}
		start := int64(-1) // first row of the run of live rows being collected
		for i := int64(0); i <= n; i++ {
			live := i < n && !deleted.Contains(base+uint64(i))
			if i < n && !live {
				dropped++
			}
			switch {
			case live && start < 0:
				start = i
			case !live && start >= 0:
				part := rec.NewSlice(start, i)
				err := fn(part)
				part.Release()
				if err != nil {
					return err
				}
				start = -1
			}
		}
		return nil
	}, mapping)
	if err != nil {
		return err
	}
	if dropped != deleted.Cardinality() {
		return fmt.Errorf("data file %s: its deletion vector marks %d rows deleted, %d of them beyond the file's %d rows: the deletion vector does not belong to this file",
			key, deleted.Cardinality(), deleted.Cardinality()-dropped, row)
	}
	return nil
}

// finishPartition completes the open file of a partition, if any.
func (w *BatchWriter) finishPartition(pv map[string]*string) error {
	dir := partitionDir(w.partCols, pv)
	f := w.open[dir]
	if f == nil {
		return nil
	}
	delete(w.open, dir)
	return w.fail(w.finishFile(f))
}

// VacuumOptions tune Vacuum.
type VacuumOptions struct {
	// Retain is how long unreferenced files are kept (default: the table's
	// delta.deletedFileRetentionDuration, 7 days unless set).
	Retain time.Duration
	// DryRun lists what would be deleted without deleting it.
	DryRun bool
	// Force allows a retention shorter than the table's: readers of older
	// versions and writers with files not yet committed may then lose files.
	Force bool
	// MinVersion, when positive, keeps every file that a version at or
	// after it references, whatever its age: what a share WITH HISTORY
	// promises. 0 or negative: none.
	MinVersion int64
}

// VacuumResult reports what VACUUM deleted (or would delete).
type VacuumResult struct {
	Files     []string // object keys of unreferenced data files, sorted
	Bytes     int64    // their total size
	StaleTemp []string // temporary files of uploads that never finished (local disk)
	DryRun    bool
}

// ErrRetentionTooShort is returned when Vacuum is asked for a retention
// shorter than the table's without Force.
var ErrRetentionTooShort = errors.New("retention shorter than the table's delta.deletedFileRetentionDuration")

// Vacuum deletes the files in the table's directory that no version within
// the retention period references and that are older than the retention:
// removed files whose tombstones expired and orphans of failed writes. It
// never deletes a live file, nor anything under _delta_log/ or other
// directories whose names start with '_' or '.'.
func (t *Table) Vacuum(ctx context.Context, o VacuumOptions) (VacuumResult, error) {
	// The deletion vector files of the files kept are kept too; VACUUM
	// reads no rows, so column mapping does not matter to it.
	snap, err := t.Snapshot(ctx, deltalog.WithFeatures(handledFeatures...))
	if err != nil {
		return VacuumResult{}, err
	}
	tableRetain := deltalog.TombstoneRetention(&snap.Metadata)
	retain := o.Retain
	if retain == 0 && !o.Force {
		retain = tableRetain
	}
	if retain < 0 {
		return VacuumResult{}, fmt.Errorf("vacuum %s: negative retention %s", t.URI(), retain)
	}
	if retain < tableRetain && !o.Force {
		return VacuumResult{}, fmt.Errorf("vacuum %s: --retain %s: %w (%s); pass --force if no reader needs older versions and no writer is running",
			t.URI(), retain, ErrRetentionTooShort, tableRetain)
	}
	cutoff := t.cfg.now().Add(-retain)
	keep := map[string]bool{}
	var dvErr error // a deletion vector whose file cannot be named: vacuum nothing
	keepDV := func(dv *deltalog.DeletionVector) {
		if dv != nil && dv.StorageType != deltalog.DVInline {
			k, err := dv.Key(t.store)
			keep[k] = true
			dvErr = cmp.Or(dvErr, err)
		}
	}
	for _, a := range snap.Files() {
		if k, err := KeyForPath(a.Path); err == nil {
			keep[k] = true
		}
		keepDV(a.DeletionVector)
	}
	for _, r := range snap.Tombstones() {
		if r.DeletionTimestamp == nil || time.UnixMilli(*r.DeletionTimestamp).After(cutoff) {
			if k, err := KeyForPath(r.Path); err == nil {
				keep[k] = true
			}
			keepDV(r.DeletionVector)
		}
	}
	if o.MinVersion > 0 && o.MinVersion < snap.Version {
		if err := t.keepHistory(ctx, o.MinVersion, snap.Version, keep, keepDV); err != nil {
			return VacuumResult{}, fmt.Errorf("vacuum %s: keep the files of versions %d and later: %w", t.URI(), o.MinVersion, err)
		}
	}
	if dvErr != nil {
		return VacuumResult{}, fmt.Errorf("vacuum %s: %w", t.URI(), dvErr)
	}
	objs, err := t.store.List(ctx, "", "")
	if err != nil {
		return VacuumResult{}, fmt.Errorf("vacuum %s: list: %w", t.URI(), err)
	}
	res := VacuumResult{DryRun: o.DryRun}
	for _, obj := range objs {
		if hiddenKey(obj.Key, snap.Metadata.PartitionColumns) || keep[obj.Key] || !obj.ModTime.Before(cutoff) {
			continue
		}
		res.Files = append(res.Files, obj.Key)
		res.Bytes += obj.Size
	}
	// A local writer killed mid-upload leaves a hidden temporary file that
	// listings do not show; the store sweeps those itself.
	if sw, ok := t.store.(interface {
		RemoveStaleTemp(ctx context.Context, cutoff time.Time, dryRun bool) ([]string, error)
	}); ok {
		tmp, err := sw.RemoveStaleTemp(ctx, cutoff, o.DryRun)
		if err != nil {
			return res, fmt.Errorf("vacuum %s: %w", t.URI(), err)
		}
		res.StaleTemp = tmp
	}
	if o.DryRun {
		return res, nil
	}
	for _, k := range res.Files {
		if err := t.store.Delete(ctx, k); err != nil {
			return res, fmt.Errorf("vacuum %s: delete %s: %w", t.URI(), k, err)
		}
	}
	t.logger.Info("vacuum", "deleted", len(res.Files), "bytes", res.Bytes, "staleTemp", len(res.StaleTemp), "retain", retain)
	return res, nil
}

// hiddenKey reports whether a key lies under a directory (or is a file) that
// Delta treats as hidden: a name starting with '_' or '.', unless it is a
// partition directory such as "_p=1".
func hiddenKey(key string, partCols []string) bool {
	parts := strings.Split(key, "/")
	for _, p := range parts {
		if !strings.HasPrefix(p, "_") && !strings.HasPrefix(p, ".") {
			continue
		}
		isPartDir := false
		for _, c := range partCols {
			if strings.HasPrefix(p, c+"=") {
				isPartDir = true
			}
		}
		if !isPartDir {
			return true
		}
	}
	return false
}

// keepHistory adds to keep the keys of every file that a version from
// first to latest references: the files of the snapshot at first and those
// the commits after it add.
func (t *Table) keepHistory(ctx context.Context, first, latest int64, keep map[string]bool, keepDV func(*deltalog.DeletionVector)) error {
	snap, err := t.Snapshot(ctx, deltalog.AtVersion(first), deltalog.WithFeatures(handledFeatures...))
	if err != nil {
		return err
	}
	for _, a := range snap.Files() {
		if k, err := KeyForPath(a.Path); err == nil {
			keep[k] = true
		}
		keepDV(a.DeletionVector)
	}
	for v := first + 1; v <= latest; v++ {
		b, err := objstore.ReadAll(ctx, t.store, deltalog.CommitKey(v))
		if err != nil {
			return fmt.Errorf("read commit %d: %w", v, err)
		}
		acts, err := deltalog.ParseActions(b)
		if err != nil {
			return fmt.Errorf("commit %d: %w", v, err)
		}
		for _, a := range acts {
			if a.Add == nil {
				continue
			}
			if k, err := KeyForPath(a.Add.Path); err == nil {
				keep[k] = true
			}
			keepDV(a.Add.DeletionVector)
		}
	}
	return nil
}
