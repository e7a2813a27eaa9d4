package sharing

import (
	"container/list"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// DefaultSnapshotCache is how many table snapshots the handler keeps by
// default (see WithSnapshotCache).
const DefaultSnapshotCache = 16

// snapshotCache keeps the table states last served, by table location and
// version, least recently used out first. A version of a Delta table never
// changes, so an entry is never stale: a new commit is a new version.
type snapshotCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *snapEntry, most recent first
	byKey map[string]*list.Element
}

type snapEntry struct {
	key   string
	state *tableState
}

func newSnapshotCache(max int) *snapshotCache {
	return &snapshotCache{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func snapshotKey(uri string, version int64) string { return uri + "@" + strconv.FormatInt(version, 10) }

func (c *snapshotCache) get(key string) *tableState {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*snapEntry).state
	}
	return nil
}

// newestBefore returns the cached state of location uri with the highest
// version below v, to build version v from, or nil.
func (c *snapshotCache) newestBefore(uri string, v int64) *tableState {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *tableState
	for key, e := range c.byKey {
		s := e.Value.(*snapEntry).state
		if strings.HasPrefix(key, uri+"@") && key[len(uri)+1:] == strconv.FormatInt(s.snap.Version, 10) &&
			s.snap.Version < v && (best == nil || s.snap.Version > best.snap.Version) {
			best = s
		}
	}
	return best
}

func (c *snapshotCache) put(key string, s *tableState) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&snapEntry{key: key, state: s})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*snapEntry).key)
	}
}

// tableState is a snapshot with what answering from it needs, made once
// per snapshot: its files in path order, their total size, its columns,
// and (on the first request with hints) every file's statistics parsed.
type tableState struct {
	snap  *deltalog.Snapshot
	files []*deltalog.Add // sorted by path; shared, never modified
	size  int64
	cols  map[string]column

	statsOnce sync.Once
	stats     []*fileStats // parallel to files
	statsDone atomic.Bool
	base      *tableState // an older state whose parsed stats this one reuses
}

// newTableState prepares snap; base is the state it was updated from, if
// any, whose parsed statistics are reused for the files both hold.
func newTableState(snap *deltalog.Snapshot, base *tableState) *tableState {
	s := &tableState{snap: snap, files: snap.SortedFiles(), cols: columnsOf(snap)}
	for _, f := range s.files {
		s.size += f.Size
	}
	if base != nil && base.statsDone.Load() && base.snap.Metadata.SchemaString == snap.Metadata.SchemaString &&
		slices.Equal(base.snap.Metadata.PartitionColumns, snap.Metadata.PartitionColumns) {
		s.base = base
	}
	return s
}

// fileStats returns every file's parsed statistics (nil for a file
// without), parsing them on the first call.
func (s *tableState) fileStats() []*fileStats {
	s.statsOnce.Do(func() {
		cols := orderedColumns(s.cols)
		var old map[*deltalog.Add]*fileStats
		if b := s.base; b != nil {
			old = make(map[*deltalog.Add]*fileStats, len(b.files))
			for i, f := range b.files {
				old[f] = b.stats[i]
			}
		}
		s.stats = make([]*fileStats, len(s.files))
		for i, f := range s.files {
			if st, ok := old[f]; ok {
				s.stats[i] = st
				continue
			}
			s.stats[i] = parseFileStats(f.Stats, cols)
		}
		s.base = nil
		s.statsDone.Store(true)
	})
	return s.stats
}

// latestVersion finds the table's latest version from the _last_checkpoint
// hint and the commits listed after it, without replaying the log. ok is
// false when the log has neither (Load then decides what the table is).
func latestVersion(ctx context.Context, st objstore.Store) (v int64, ok bool, err error) {
	v, after := -1, ""
	if b, err := objstore.ReadAll(ctx, st, deltalog.LastCheckpointKey); err == nil {
		var lc deltalog.LastCheckpoint
		if json.Unmarshal(b, &lc) == nil && lc.Version >= 0 {
			v, after = lc.Version, deltalog.CommitKey(lc.Version)
		}
	}
	objs, err := st.List(ctx, deltalog.LogDir, after)
	if err != nil {
		return 0, false, err
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, deltalog.LogDir)
		if len(name) != 25 || !strings.HasSuffix(name, ".json") {
			continue
		}
		if n, err := strconv.ParseInt(name[:20], 10, 64); err == nil && n > v {
			v = n
		}
	}
	return v, v >= 0, nil
}

// latestCache finds each table location's latest version for requests
// that ask for the latest one, without changing what any request sees:
//
//   - The log is listed from the last version found on (a start-after
//     key), not from its start or its last checkpoint.
//   - Requests coalesce. A listing that began before a request arrived
//     may miss a commit the request must see, so it is never shared with
//     it: a request that arrives while a listing runs waits for the next
//     one, which starts when the running one ends and serves every request
//     that waited for it. Each request gets a version at least as new as
//     the latest committed when it arrived (a client that commits and then
//     reads sees its commit), and under load a table is listed about once
//     per listing time, not once per request.
//
// Requests for a version, a timestamp or by token never go through it.
type latestCache struct {
	mu sync.Mutex
	by map[string]*latestEntry
}

type latestEntry struct {
	version int64    // the last version found, -1 before the first
	running *listing // the listing under way, or nil
	next    *listing // the listing that starts when it ends, or nil
}

// listing is one search for the latest version; done is closed when v,
// ok and err are set.
type listing struct {
	done chan struct{}
	v    int64
	ok   bool
	err  error
}

func newLatestCache() *latestCache {
	return &latestCache{by: map[string]*latestEntry{}}
}

// latest returns the latest version of the table in st; ok is false when
// the log has none (Load then says what is wrong).
func (c *latestCache) latest(ctx context.Context, st objstore.Store) (int64, bool, error) {
	uri := st.URI()
	c.mu.Lock()
	e := c.by[uri]
	if e == nil {
		e = &latestEntry{version: -1}
		c.by[uri] = e
	}
	if e.running == nil {
		f := &listing{done: make(chan struct{})}
		e.running = f
		c.mu.Unlock()
		c.run(ctx, st, e, f)
		return f.v, f.ok, f.err
	}
	f := e.next
	if f == nil { // this request starts the next listing when the running one ends
		f = &listing{done: make(chan struct{})}
		e.next = f
		running := e.running
		c.mu.Unlock()
		<-running.done
		c.mu.Lock()
		e.running, e.next = f, nil
		c.mu.Unlock()
		c.run(ctx, st, e, f)
		return f.v, f.ok, f.err
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.v, f.ok, f.err
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
}

// run does listing f (e.running) and records what it found.
func (c *latestCache) run(ctx context.Context, st objstore.Store, e *latestEntry, f *listing) {
	c.mu.Lock()
	from := e.version
	c.mu.Unlock()
	// The listing serves other requests: it does not end with this one.
	f.v, f.ok, f.err = findLatest(context.WithoutCancel(ctx), st, from)
	c.mu.Lock()
	if f.err == nil && f.ok {
		e.version = f.v
	}
	if e.running == f {
		e.running = nil
	}
	c.mu.Unlock()
	close(f.done)
}

// findLatest lists the log from version from on (-1: unknown) for the
// latest version; when from's commit is gone it starts over from the
// checkpoint hint.
func findLatest(ctx context.Context, st objstore.Store, from int64) (int64, bool, error) {
	if from >= 0 {
		vs, err := deltalog.CommitsFrom(ctx, st, from)
		if err != nil {
			return 0, false, err
		}
		if len(vs) > 0 {
			return vs[len(vs)-1], true, nil
		}
	}
	return latestVersion(ctx, st)
}
