package deltalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// ErrNotATable is returned (wrapped) when a location has no Delta log.
var ErrNotATable = errors.New("not a Delta table (no _delta_log)")

// ErrVersionNotFound is returned (wrapped) when a requested version or
// timestamp is outside the table's history.
var ErrVersionNotFound = errors.New("version not found")

// UnsupportedFeatureError reports a table feature this reader or writer
// cannot honour. Reading such a table would give wrong results, so Sluice
// refuses it.
type UnsupportedFeatureError struct {
	Feature string // e.g. "deletionVectors", "columnMapping"
	Writer  bool   // a writer feature (the table can be read, not written)
}

func (e *UnsupportedFeatureError) Error() string {
	kind := "reader"
	if e.Writer {
		kind = "writer"
	}
	return fmt.Sprintf("unsupported %s feature %s: Sluice cannot %s this table yet (see docs/delta.md, \"Table features\")",
		kind, e.Feature, map[bool]string{false: "read", true: "write"}[e.Writer])
}

// SupportedReaderFeatures are the table features (protocol reader version 3)
// this package reads correctly: the log (V2 checkpoints), and the values of
// data files as parquetio reads them (timestamp_ntz, widened types).
var SupportedReaderFeatures = []string{FeatureTimestampNTZ, FeatureV2Checkpoint, FeatureVacuumProtocol, FeatureTypeWidening, FeatureTypeWideningPrev}

// Snapshot is the state of a table at one version: protocol, metadata, the
// live data files, application transaction versions and tombstones.
type Snapshot struct {
	// Version is the table version this snapshot represents.
	Version int64
	// Timestamp is the commit time of Version.
	Timestamp time.Time
	// Protocol and Metadata are the table's current protocol and metaData.
	Protocol Protocol
	Metadata Metadata
	// Schema is Metadata.SchemaString parsed.
	Schema *Schema
	// CheckpointVersion is the version of the checkpoint the snapshot was
	// replayed from, or -1.
	CheckpointVersion int64

	files      map[string]*Add
	tombstones map[string]*Remove
	txns       map[string]int64
	domains    map[string]*DomainMetadata
	commits    []logFile // the commit files after the checkpoint, ascending
	features   []string  // reader features the loader allowed beyond SupportedReaderFeatures

	sortOnce sync.Once
	sorted   []*Add // the live files by path, made once (SortedFiles)
}

// Files returns the live data files sorted by path, in a new slice the
// caller may change.
func (s *Snapshot) Files() []*Add { return slices.Clone(s.SortedFiles()) }

// SortedFiles returns the live data files sorted by path. The slice is
// made once per snapshot and shared by every caller: it must not be
// modified.
func (s *Snapshot) SortedFiles() []*Add {
	s.sortOnce.Do(func() {
		if s.sorted != nil {
			return // built by Update from its base's order
		}
		out := make([]*Add, 0, len(s.files))
		for _, a := range s.files {
			out = append(out, a)
		}
		sortByPath(out)
		s.sorted = out
	})
	return s.sorted
}

// WithSchema returns a copy of s whose Schema is schema (a writer's evolved
// schema before the commit that adds it). The copy shares s's files and
// their sorted order; copying a Snapshot by value would copy its sync.Once.
func (s *Snapshot) WithSchema(schema *Schema) *Snapshot {
	sorted := s.SortedFiles()
	return &Snapshot{
		Version: s.Version, Timestamp: s.Timestamp, Protocol: s.Protocol, Metadata: s.Metadata,
		Schema: schema, CheckpointVersion: s.CheckpointVersion,
		files: s.files, tombstones: s.tombstones, txns: s.txns, domains: s.domains,
		commits: s.commits, features: s.features, sorted: sorted,
	}
}

func sortByPath(files []*Add) {
	slices.SortFunc(files, func(a, b *Add) int { return strings.Compare(a.Path, b.Path) })
}

// NumFiles is the number of live data files.
func (s *Snapshot) NumFiles() int { return len(s.files) }

// File returns the live add action for path, or nil.
func (s *Snapshot) File(path string) *Add {
	p := canonicalPath(path)
	if a := s.files[fileKey(p, nil)]; a != nil {
		return a
	}
	for _, a := range s.files {
		if canonicalPath(a.Path) == p {
			return a
		}
	}
	return nil
}

// HasDeletionVectors reports whether a live file carries a deletion vector.
func (s *Snapshot) HasDeletionVectors() bool {
	for _, a := range s.files {
		if a.DeletionVector != nil {
			return true
		}
	}
	return false
}

// fileKey is the key of a logical file in log replay: its canonical path
// and its deletion vector's unique id, as the protocol reconciles actions.
func fileKey(canonical string, dv *DeletionVector) string {
	if dv == nil {
		return canonical
	}
	return canonical + "\x00" + dv.UniqueID()
}

// canonicalPath is the key files are tracked by: writers may spell the same
// absolute local path as "/p", "file:/p" or "file:///p".
func canonicalPath(p string) string {
	switch {
	case strings.HasPrefix(p, "file:///"):
		return p[len("file://"):]
	case strings.HasPrefix(p, "file:/"):
		return p[len("file:"):]
	}
	return p
}

// Tombstones returns the remove actions still remembered (not yet expired).
func (s *Snapshot) Tombstones() []*Remove {
	out := make([]*Remove, 0, len(s.tombstones))
	for _, r := range s.tombstones {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// TxnVersion returns the last version committed by appID, and whether any.
func (s *Snapshot) TxnVersion(appID string) (int64, bool) {
	v, ok := s.txns[appID]
	return v, ok
}

// Txns returns a copy of all application transaction versions.
func (s *Snapshot) Txns() map[string]int64 {
	out := make(map[string]int64, len(s.txns))
	for k, v := range s.txns {
		out[k] = v
	}
	return out
}

// Domain returns a live domain metadata entry, or nil.
func (s *Snapshot) Domain(name string) *DomainMetadata { return s.domains[name] }

// PartitionColumns returns the table's partition columns.
func (s *Snapshot) PartitionColumns() []string { return s.Metadata.PartitionColumns }

// LoadOption selects which version Load replays.
type LoadOption func(*loadConfig)

type loadConfig struct {
	version   int64 // -1: latest
	timestamp *time.Time
	features  []string // reader features the caller handles beyond SupportedReaderFeatures
}

// WithDeletionVectors lets Load read a table with the deletionVectors
// reader feature: the caller applies each file's DeletionVector (see
// ReadDeletionVector) or passes it on to a reader that does. Without it
// such a table is refused with an *UnsupportedFeatureError.
func WithDeletionVectors() LoadOption {
	return func(c *loadConfig) { c.features = append(c.features, FeatureDeletionVectors) }
}

// WithFeatures lets Load read a table with these reader features, which the
// caller handles itself: FeatureColumnMapping (it reads files by physical
// names or field ids, see PhysicalSchema), FeatureDeletionVectors, or, for a
// caller that only hands the log's actions on (the sharing server's delta
// format), FeatureVariantType.
func WithFeatures(features ...string) LoadOption {
	return func(c *loadConfig) { c.features = append(c.features, features...) }
}

// AtVersion loads the snapshot at version v.
func AtVersion(v int64) LoadOption { return func(c *loadConfig) { c.version = v } }

// AtTimestamp loads the latest version committed at or before t.
func AtTimestamp(t time.Time) LoadOption { return func(c *loadConfig) { c.timestamp = &t } }

// Load replays the log of the table in st: the newest complete checkpoint at
// or before the requested version, then the JSON commits after it.
func Load(ctx context.Context, st objstore.Store, opts ...LoadOption) (*Snapshot, error) {
	cfg := loadConfig{version: -1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timestamp != nil {
		v, err := VersionAtTimestamp(ctx, st, *cfg.timestamp)
		if err != nil {
			return nil, err
		}
		cfg.version = v
	}
	if cfg.version < -1 {
		return nil, fmt.Errorf("version %d: %w (versions start at 0)", cfg.version, ErrVersionNotFound)
	}
	files, err := listLog(ctx, st, cfg.version)
	if err != nil {
		return nil, err
	}
	return replay(ctx, st, files, cfg.version, cfg.features)
}

// listLog lists the _delta_log entries needed to load version target (-1 =
// latest), starting at the _last_checkpoint hint when it can be trusted.
func listLog(ctx context.Context, st objstore.Store, target int64) ([]logFile, error) {
	startAfter := ""
	if lc := readLastCheckpoint(ctx, st); lc != nil && (target < 0 || lc.Version <= target) {
		startAfter = fmt.Sprintf("%s%020d", LogDir, lc.Version)
	}
	files, err := listLogFrom(ctx, st, startAfter)
	if err != nil {
		return nil, err
	}
	if startAfter != "" && !hasCheckpointOrZero(files) {
		// The hint names a checkpoint that is not (or no longer) there.
		return listLogFrom(ctx, st, "")
	}
	return files, nil
}

func hasCheckpointOrZero(files []logFile) bool {
	for _, f := range files {
		if f.kind != kindOther && f.kind != kindCommit || f.kind == kindCommit && f.version == 0 {
			return true
		}
	}
	return false
}

func listLogFrom(ctx context.Context, st objstore.Store, startAfter string) ([]logFile, error) {
	infos, err := st.List(ctx, LogDir, startAfter)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", LogDir, err)
	}
	files := make([]logFile, 0, len(infos))
	for _, in := range infos {
		f := parseLogFile(in.Key)
		if f.kind == kindOther {
			continue
		}
		f.size, f.modTime = in.Size, in.ModTime.UnixMilli()
		files = append(files, f)
	}
	return files, nil
}

// pickCheckpoint returns the newest complete checkpoint at or before target.
func pickCheckpoint(files []logFile, target int64) *checkpointRef {
	type partial struct {
		parts map[int]string
		n     int
	}
	multi := map[[2]int64]*partial{} // (version, nparts) -> parts
	var best *checkpointRef
	consider := func(c checkpointRef) {
		if (target < 0 || c.version <= target) && (best == nil || c.version > best.version) {
			best = &c
		}
	}
	for _, f := range files {
		switch f.kind {
		case kindCheckpointClassic:
			consider(checkpointRef{version: f.version, keys: []string{f.key}})
		case kindCheckpointV2:
			consider(checkpointRef{version: f.version, keys: []string{f.key}, v2: true})
		case kindCheckpointPart:
			k := [2]int64{f.version, int64(f.parts)}
			p := multi[k]
			if p == nil {
				p = &partial{parts: map[int]string{}, n: f.parts}
				multi[k] = p
			}
			p.parts[f.part] = f.key
		}
	}
	for k, p := range multi {
		if len(p.parts) != p.n {
			continue // incomplete multi-part checkpoint: ignore
		}
		keys := make([]string, p.n)
		for i := 1; i <= p.n; i++ {
			keys[i-1] = p.parts[i]
		}
		consider(checkpointRef{version: k[0], keys: keys})
	}
	return best
}

func replay(ctx context.Context, st objstore.Store, files []logFile, target int64, features []string) (*Snapshot, error) {
	var commits []logFile
	maxCommit := int64(-1)
	for _, f := range files {
		if f.kind == kindCommit {
			commits = append(commits, f)
			maxCommit = max(maxCommit, f.version)
		}
	}
	cp := pickCheckpoint(files, target)
	if len(commits) == 0 && cp == nil {
		return nil, fmt.Errorf("load %s: %w", st.URI(), ErrNotATable)
	}
	if target < 0 {
		target = maxCommit
		if cp != nil && cp.version > target {
			target = cp.version
		}
	}
	start := int64(0)
	if cp != nil {
		start = cp.version + 1
	}
	// The commits start..target must all be present and contiguous.
	var need []logFile
	for _, c := range commits {
		if c.version >= start && c.version <= target {
			need = append(need, c)
		}
	}
	for i, c := range need {
		if c.version != start+int64(i) {
			return nil, fmt.Errorf("load %s: log versions are not contiguous: version %d is missing", st.URI(), start+int64(i))
		}
	}
	if start+int64(len(need))-1 < target {
		if maxCommit < target && (cp == nil || cp.version < target) {
			return nil, fmt.Errorf("load %s version %d: %w (latest is %d)", st.URI(), target, ErrVersionNotFound, max(maxCommit, cpVersion(cp)))
		}
		if cp == nil && len(commits) > 0 && commits[0].version > 0 {
			return nil, fmt.Errorf("load %s version %d: %w (the log starts at %d and has no checkpoint at or before %d)", st.URI(), target, ErrVersionNotFound, commits[0].version, target)
		}
		return nil, fmt.Errorf("load %s: log versions are not contiguous: version %d is missing", st.URI(), start+int64(len(need)))
	}
	s := &Snapshot{
		Version:           target,
		CheckpointVersion: cpVersion(cp),
		files:             map[string]*Add{},
		tombstones:        map[string]*Remove{},
		txns:              map[string]int64{},
		domains:           map[string]*DomainMetadata{},
		commits:           need,
		features:          features,
	}
	haveProtocol, haveMetadata := false, false
	if cp != nil {
		acts, err := readCheckpoint(ctx, st, *cp)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", st.URI(), err)
		}
		for i := range acts {
			s.apply(&acts[i], &haveProtocol, &haveMetadata)
		}
	}
	lastTS, err := s.applyCommits(ctx, st, need, &haveProtocol, &haveMetadata, nil)
	if err != nil {
		return nil, err
	}
	if len(need) == 0 && cp != nil {
		// The commit's time when its file is still there, else the
		// checkpoint's (written after it).
		for _, f := range files {
			if f.version == cp.version && f.kind != kindOther {
				lastTS = f.modTime
				if f.kind == kindCommit {
					break
				}
			}
		}
	}
	s.Timestamp = time.UnixMilli(lastTS).UTC()
	if !haveProtocol {
		return nil, fmt.Errorf("load %s version %d: the log has no protocol action", st.URI(), target)
	}
	if !haveMetadata {
		return nil, fmt.Errorf("load %s version %d: the log has no metaData action", st.URI(), target)
	}
	if err := CheckReadable(&s.Protocol, &s.Metadata, features...); err != nil {
		return nil, fmt.Errorf("load %s: %w", st.URI(), err)
	}
	if err := s.parseSchema(st); err != nil {
		return nil, err
	}
	return s, nil
}

// applyCommits folds the commits into the snapshot in order, calling seen
// (if not nil) with each action, and returns the last commit's time.
func (s *Snapshot) applyCommits(ctx context.Context, st objstore.Store, commits []logFile, haveProtocol, haveMetadata *bool, seen func(*Action)) (int64, error) {
	var lastTS int64
	for _, c := range commits {
		b, err := objstore.ReadAll(ctx, st, c.key)
		if err != nil {
			return 0, fmt.Errorf("load %s: read commit %d: %w", st.URI(), c.version, err)
		}
		acts, err := ParseActions(b)
		if err != nil {
			return 0, fmt.Errorf("load %s: commit %d: %w", st.URI(), c.version, err)
		}
		lastTS = c.modTime
		for i := range acts {
			if ts := inCommitTimestamp(acts[i].CommitInfo); ts > 0 {
				lastTS = ts
			}
			if seen != nil {
				seen(&acts[i])
			}
			s.apply(&acts[i], haveProtocol, haveMetadata)
		}
	}
	return lastTS, nil
}

// parseSchema sets Schema from Metadata.SchemaString.
func (s *Snapshot) parseSchema(st objstore.Store) error {
	s.Schema = Struct()
	if s.Metadata.SchemaString != "" {
		schema, err := ParseSchema(s.Metadata.SchemaString)
		if err != nil {
			return fmt.Errorf("load %s version %d: %w", st.URI(), s.Version, err)
		}
		s.Schema = schema
	}
	return nil
}

func cpVersion(cp *checkpointRef) int64 {
	if cp == nil {
		return -1
	}
	return cp.version
}

func inCommitTimestamp(ci map[string]any) int64 {
	if ci == nil {
		return 0
	}
	if v, ok := ci["inCommitTimestamp"].(float64); ok {
		return int64(v)
	}
	return 0
}

// apply folds one action into the snapshot, in log order.
func (s *Snapshot) apply(a *Action, haveProtocol, haveMetadata *bool) {
	switch {
	case a.Add != nil:
		k := fileKey(canonicalPath(a.Add.Path), a.Add.DeletionVector)
		s.files[k] = a.Add
		delete(s.tombstones, k)
	case a.Remove != nil:
		k := fileKey(canonicalPath(a.Remove.Path), a.Remove.DeletionVector)
		delete(s.files, k)
		s.tombstones[k] = a.Remove
	case a.Txn != nil:
		s.txns[a.Txn.AppID] = a.Txn.Version
	case a.Protocol != nil:
		s.Protocol = *a.Protocol
		*haveProtocol = true
	case a.MetaData != nil:
		s.Metadata = *a.MetaData
		*haveMetadata = true
	case a.DomainMetadata != nil:
		if a.DomainMetadata.Removed {
			delete(s.domains, a.DomainMetadata.Domain)
		} else {
			s.domains[a.DomainMetadata.Domain] = a.DomainMetadata
		}
	}
}

// CheckReadable returns an *UnsupportedFeatureError when the table needs a
// reader feature this package does not implement, beyond those the caller
// says it handles itself (also: FeatureDeletionVectors).
func CheckReadable(p *Protocol, m *Metadata, also ...string) error {
	if p.MinReaderVersion > 3 {
		return &UnsupportedFeatureError{Feature: fmt.Sprintf("readerVersion%d", p.MinReaderVersion)}
	}
	for _, f := range ReaderFeatures(p, m) {
		if !slices.Contains(SupportedReaderFeatures, f) && !slices.Contains(also, f) {
			return &UnsupportedFeatureError{Feature: f}
		}
	}
	if p.MinReaderVersion >= 2 && slices.Contains(also, FeatureColumnMapping) {
		switch ColumnMappingMode(m) {
		case ColumnMappingNone, ColumnMappingName, ColumnMappingID:
		default:
			return &UnsupportedFeatureError{Feature: "columnMapping mode " + ColumnMappingMode(m)}
		}
	}
	return nil
}

// VersionAtTimestamp returns the latest version committed at or before t.
// Commit times are the commit files' modification times (in-commit
// timestamps are not consulted yet).
func VersionAtTimestamp(ctx context.Context, st objstore.Store, t time.Time) (int64, error) {
	files, err := listLogFrom(ctx, st, "")
	if err != nil {
		return 0, err
	}
	ms := t.UnixMilli()
	found := int64(-1)
	var earliest int64 = -1
	for _, f := range files {
		if f.kind != kindCommit {
			continue
		}
		ts := f.modTime
		if earliest < 0 {
			earliest = ts
		}
		if ts <= ms && f.version > found {
			found = f.version
		}
	}
	if earliest < 0 {
		return 0, fmt.Errorf("load %s: %w", st.URI(), ErrNotATable)
	}
	if found < 0 {
		return 0, fmt.Errorf("timestamp %s is before the earliest commit (%s): %w",
			t.UTC().Format(time.RFC3339Nano), time.UnixMilli(earliest).UTC().Format(time.RFC3339Nano), ErrVersionNotFound)
	}
	return found, nil
}

// SupportedWriterFeatures are the table features (protocol writer version 7)
// this package honours when it writes. Some are supported only while unused
// (see CheckWritable).
var SupportedWriterFeatures = []string{
	"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns",
	"columnMapping", "identityColumns", "timestampNtz", "domainMetadata", "vacuumProtocolCheck",
}

// CheckWritable returns an *UnsupportedFeatureError when writing to the table
// could break a guarantee it declares: a writer feature we do not implement,
// or one in use that we would have to enforce (invariants, CHECK constraints,
// generated or identity columns, column mapping). also are the features the
// caller handles itself, for reading and writing (OPTIMIZE, which applies
// deletion vectors and writes none, passes FeatureDeletionVectors; it
// rewrites files under their physical names and field ids, and passes
// FeatureColumnMapping).
func CheckWritable(p *Protocol, m *Metadata, schema *Schema, also ...string) error {
	if err := CheckReadable(p, m, also...); err != nil {
		return err
	}
	if p.MinWriterVersion > 7 {
		return &UnsupportedFeatureError{Feature: fmt.Sprintf("writerVersion%d", p.MinWriterVersion), Writer: true}
	}
	if p.MinWriterVersion == 7 {
		for _, f := range p.WriterFeatures {
			if !slices.Contains(SupportedWriterFeatures, f) && !slices.Contains(also, f) {
				return &UnsupportedFeatureError{Feature: f, Writer: true}
			}
		}
	}
	for k := range m.Configuration {
		if strings.HasPrefix(k, "delta.constraints.") {
			return &UnsupportedFeatureError{Feature: "checkConstraints", Writer: true}
		}
	}
	var bad string
	walkTypes(schema, nil, func(f *Field) {
		for _, key := range []string{"delta.invariants", "delta.generationExpression", "delta.identity.start", FieldIDKey} {
			if key == FieldIDKey && slices.Contains(also, FeatureColumnMapping) {
				continue // the caller writes physical names and field ids
			}
			if _, ok := f.Metadata[key]; ok && bad == "" {
				bad = map[string]string{
					"delta.invariants": "invariants", "delta.generationExpression": "generatedColumns",
					"delta.identity.start": "identityColumns", "delta.columnMapping.id": "columnMapping",
				}[key]
			}
		}
	})
	if bad != "" {
		return &UnsupportedFeatureError{Feature: bad, Writer: true}
	}
	return nil
}

// walkTypes calls visitType for t and every type nested in it, and
// visitField for every struct field, depth first. Either may be nil.
func walkTypes(t *Type, visitType func(*Type), visitField func(*Field)) {
	if t == nil {
		return
	}
	if visitType != nil {
		visitType(t)
	}
	for i := range t.Fields {
		if visitField != nil {
			visitField(&t.Fields[i])
		}
		walkTypes(t.Fields[i].Type, visitType, visitField)
	}
	walkTypes(t.Element, visitType, visitField)
	walkTypes(t.Key, visitType, visitField)
	walkTypes(t.Value, visitType, visitField)
}

// ProtocolFor returns the lowest protocol that supports schema: (1, 2), or
// (3, 7) with the timestampNtz feature when a timestamp_ntz column exists.
func ProtocolFor(schema *Schema) Protocol {
	ntz := false
	walkTypes(schema, func(t *Type) { ntz = ntz || t.Name == TypeTimestampNTZ }, nil)
	if ntz {
		return Protocol{MinReaderVersion: 3, MinWriterVersion: 7,
			ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"timestampNtz"}}
	}
	return Protocol{MinReaderVersion: 1, MinWriterVersion: 2}
}
