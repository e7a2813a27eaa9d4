package deltalog

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

func TestPlanLogCleanup(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// layout: "c" commit, "k" classic checkpoint, "m2" two-part checkpoint
	// (both parts), "m1" one part of two, "v" V2 checkpoint, "r" crc: per
	// version i, at base+i hours.
	type file struct {
		v     int64
		kinds string
	}
	keysOf := func(v int64, kinds string) []string {
		var ks []string
		for _, k := range strings.Split(kinds, ",") {
			switch k {
			case "c":
				ks = append(ks, CommitKey(v))
			case "k":
				ks = append(ks, CheckpointKey(v))
			case "m2":
				ks = append(ks, fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", LogDir, v, 1, 2),
					fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", LogDir, v, 2, 2))
			case "m1":
				ks = append(ks, fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", LogDir, v, 1, 2))
			case "v":
				ks = append(ks, fmt.Sprintf("%s%020d.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json", LogDir, v))
			case "r":
				ks = append(ks, fmt.Sprintf("%s%020d.crc", LogDir, v))
			}
		}
		return ks
	}
	// layout builds versions 0..n-1 with commits, plus extras per version.
	layout := func(n int64, extra map[int64]string) []objstore.ObjectInfo {
		var infos []objstore.ObjectInfo
		for v := int64(0); v < n; v++ {
			kinds := "c"
			if e := extra[v]; e != "" {
				kinds += "," + e
			}
			for _, k := range keysOf(v, kinds) {
				infos = append(infos, objstore.ObjectInfo{Key: k, ModTime: base.Add(time.Duration(v) * time.Hour)})
			}
		}
		infos = append(infos, objstore.ObjectInfo{Key: LastCheckpointKey, ModTime: base},
			objstore.ObjectInfo{Key: SidecarDir + "a.parquet", ModTime: base})
		return infos
	}
	// upTo lists the keys of versions [0, v) in the layout.
	upTo := func(v int64, extra map[int64]string) []string {
		var ks []string
		for i := int64(0); i < v; i++ {
			kinds := "c"
			if e := extra[i]; e != "" {
				kinds += "," + e
			}
			ks = append(ks, keysOf(i, kinds)...)
		}
		return ks
	}
	at := func(h float64) time.Time { return base.Add(time.Duration(h * float64(time.Hour))) }
	every10 := map[int64]string{10: "k", 20: "k", 30: "k"}
	tests := []struct {
		name       string
		n          int64
		extra      map[int64]string
		cutoff     time.Time
		minKeep    int64
		checkpoint int64
		delete     []string
	}{
		{"no checkpoint: nothing goes", 25, nil, at(100), -1, -1, nil},
		{"everything within retention", 35, every10, at(-1), -1, -1, nil},
		{"newest checkpoint at or before the oldest kept version", 35, every10, at(24.5), -1, 20, upTo(20, every10)},
		{"kept version exactly at a checkpoint", 35, every10, at(20), -1, 20, upTo(20, every10)},
		{"oldest kept version just after a checkpoint", 35, every10, at(10.5), -1, 10, upTo(10, every10)},
		{"all expired: the latest stays loadable", 35, every10, at(100), -1, 30, upTo(30, every10)},
		{"min version to keep holds older versions", 35, every10, at(100), 15, 10, upTo(10, every10)},
		{"min version to keep before every checkpoint", 35, every10, at(100), 5, -1, nil},
		{"min version to keep newer than retention changes nothing", 35, every10, at(14.5), 30, 10, upTo(10, every10)},
		{"multi-part checkpoint, all parts go", 35, map[int64]string{10: "m2", 20: "m2"}, at(100), -1, 20, upTo(20, map[int64]string{10: "m2"})},
		{"incomplete multi-part checkpoint is not a start", 35, map[int64]string{10: "k", 20: "m1"}, at(100), -1, 10,
			upTo(10, map[int64]string{10: "k"})},
		{"V2 checkpoint and crc files", 25, map[int64]string{3: "r", 10: "v,r", 15: "r"}, at(100), -1, 10,
			upTo(10, map[int64]string{3: "r"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanLogCleanup(layout(tt.n, tt.extra), tt.cutoff, tt.minKeep)
			slices.Sort(tt.delete)
			if p.Checkpoint != tt.checkpoint {
				t.Fatalf("checkpoint %d, want %d", p.Checkpoint, tt.checkpoint)
			}
			if !slices.Equal(p.Delete, tt.delete) {
				t.Fatalf("delete\n%v\nwant\n%v", p.Delete, tt.delete)
			}
			wantOldest := int64(-1)
			if len(tt.delete) > 0 {
				wantOldest = tt.checkpoint
			}
			if p.OldestLoadable != wantOldest {
				t.Fatalf("oldest loadable %d, want %d", p.OldestLoadable, wantOldest)
			}
		})
	}
	t.Run("a young file below the start stays", func(t *testing.T) {
		infos := layout(25, every10)
		for i := range infos {
			if infos[i].Key == CheckpointKey(10) {
				infos[i].ModTime = at(200)
			}
		}
		p := PlanLogCleanup(infos, at(100), -1)
		if p.Checkpoint != 20 || slices.Contains(p.Delete, CheckpointKey(10)) || !slices.Contains(p.Delete, CommitKey(10)) {
			t.Fatalf("checkpoint %d, delete %v: want 20, commit 10 but not the young checkpoint 10", p.Checkpoint, p.Delete)
		}
	})
	t.Run("a young commit is a version to keep", func(t *testing.T) {
		infos := layout(25, every10)
		for i := range infos {
			if infos[i].Key == CommitKey(3) {
				infos[i].ModTime = at(200)
			}
		}
		if p := PlanLogCleanup(infos, at(100), -1); len(p.Delete) != 0 {
			t.Fatalf("delete %v: version 3 is within retention and no checkpoint precedes it", p.Delete)
		}
	})
}
