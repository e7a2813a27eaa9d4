package sharing

import (
	"context"
	"testing"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/testdata"
)

// TestLatestVersionMatchesReplay: the quick latest version (hint plus
// listing) is the version a full log replay reaches, on golden tables with
// checkpoints of every kind, a corrupted hint and missing commits.
func TestLatestVersionMatchesReplay(t *testing.T) {
	for _, name := range []string{"checkpoint", "multi-part-checkpoint", "corrupted-last-checkpoint", "only-checkpoint-files",
		"snapshot-data3", "v2-checkpoint-json", "v2-checkpoint-parquet", "time-travel-start-start20-start40", "basic-with-inserts-deletes-checkpoint"} {
		t.Run(name, func(t *testing.T) {
			st, err := objstore.NewLocal(testdata.Path("delta-golden", name))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			snap, err := deltalog.Load(ctx, st)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			v, ok, err := latestVersion(ctx, st)
			if err != nil || !ok || v != snap.Version {
				t.Fatalf("latestVersion = %d, %v, %v; replay reaches %d", v, ok, err, snap.Version)
			}
		})
	}
	st, _ := objstore.NewLocal(t.TempDir())
	if _, ok, err := latestVersion(context.Background(), st); ok || err != nil {
		t.Fatalf("empty directory: ok %v, %v", ok, err)
	}
}

func TestSnapshotCacheEvictsLeastRecent(t *testing.T) {
	c := newSnapshotCache(2)
	s := func(v int64) *tableState { return &tableState{snap: &deltalog.Snapshot{Version: v}} }
	c.put("a", s(1))
	c.put("b", s(2))
	if c.get("a") == nil { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("c", s(3))
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil {
		t.Fatal("wrong entry evicted")
	}
	var off *snapshotCache
	off.put("a", s(1))
	if off.get("a") != nil {
		t.Fatal("a nil cache kept something")
	}
}
