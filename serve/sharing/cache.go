package sharing

import (
	"container/list"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// DefaultSnapshotCache is how many table snapshots the handler keeps by
// default (see WithSnapshotCache).
const DefaultSnapshotCache = 16

// snapshotCache keeps the snapshots last served, by table location and
// version, least recently used out first. A version of a Delta table never
// changes, so an entry is never stale: a new commit is a new version.
type snapshotCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *snapEntry, most recent first
	byKey map[string]*list.Element
}

type snapEntry struct {
	key  string
	snap *deltalog.Snapshot
}

func newSnapshotCache(max int) *snapshotCache {
	return &snapshotCache{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *snapshotCache) get(key string) *deltalog.Snapshot {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*snapEntry).snap
	}
	return nil
}

func (c *snapshotCache) put(key string, s *deltalog.Snapshot) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&snapEntry{key: key, snap: s})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*snapEntry).key)
	}
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
