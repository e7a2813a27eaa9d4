package deltalog

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// TestUpdateEqualsFullReplay builds each version of a table from every
// older one by Update and compares it with Load of that version: adds,
// removes (also of a file added in the same window), re-adds, metadata
// and protocol changes, transactions, domains, and a checkpoint within
// the window.
func TestUpdateEqualsFullReplay(t *testing.T) {
	ss2, err := SchemaString(Struct(
		Field{Name: "id", Type: Primitive(TypeLong)},
		Field{Name: "name", Type: Primitive(TypeString), Nullable: true},
		Field{Name: "extra", Type: Primitive(TypeDouble), Nullable: true},
	))
	if err != nil {
		t.Fatal(err)
	}
	remove := func(p string) Action {
		return Action{Remove: &Remove{Path: p, DataChange: true, DeletionTimestamp: ptr(int64(1))}}
	}
	commits := []struct {
		name       string
		acts       []Action
		checkpoint bool
	}{
		{"append", []Action{addAction("b.parquet"), addAction("a.parquet"), {Txn: &Txn{AppID: "app", Version: 1}}}, false},
		{"remove and add", []Action{remove("a.parquet"), addAction("c.parquet")}, false},
		{"metadata change", []Action{{MetaData: &Metadata{ID: "test-id", Format: Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: ss2, PartitionColumns: []string{}, Configuration: map[string]string{"k": "v"}}}, addAction("d.parquet")}, true},
		{"re-add a removed file", []Action{addAction("a.parquet"), {Txn: &Txn{AppID: "app", Version: 4}}}, false},
		{"protocol change", []Action{{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 4}},
			{DomainMetadata: &DomainMetadata{Domain: "d1", Configuration: "{}"}}}, false},
		{"add and remove in one window", []Action{addAction("e.parquet")}, false},
		{"", []Action{remove("e.parquet"), remove("b.parquet"), {DomainMetadata: &DomainMetadata{Domain: "d1", Removed: true}}}, true},
		{"stats replaced", []Action{{Add: &Add{Path: "c.parquet", PartitionValues: map[string]*string{}, Size: 20, DataChange: false,
			Stats: `{"numRecords":2}`}}}, false},
	}
	ctx := context.Background()
	st := newStore(t)
	snap := createTable(t, st, nil)
	for _, c := range commits {
		v, err := Commit(ctx, st, snap, c.acts, Operation{Name: "WRITE"})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if snap, err = Load(ctx, st); err != nil {
			t.Fatal(err)
		}
		if c.checkpoint {
			if err := WriteCheckpoint(ctx, st, snap); err != nil {
				t.Fatalf("checkpoint at %d: %v", v, err)
			}
		}
	}
	latest := snap.Version
	for from := int64(0); from <= latest; from++ {
		for to := from; to <= latest; to++ {
			t.Run(fmt.Sprintf("%d->%d", from, to), func(t *testing.T) {
				base, err := Load(ctx, st, AtVersion(from))
				if err != nil {
					t.Fatal(err)
				}
				if from%2 == 0 {
					base.SortedFiles() // the order is carried over, or made afresh
				}
				got, err := base.Update(ctx, st, to)
				if err != nil {
					t.Fatal(err)
				}
				want, err := Load(ctx, st, AtVersion(to))
				if err != nil {
					t.Fatal(err)
				}
				sameSnapshot(t, got, want)
				again, err := Load(ctx, st, AtVersion(from))
				if err != nil {
					t.Fatal(err)
				}
				sameSnapshot(t, base, again) // the base is unchanged
			})
		}
	}
	t.Run("latest", func(t *testing.T) {
		base, err := Load(ctx, st, AtVersion(1))
		if err != nil {
			t.Fatal(err)
		}
		got, err := base.Update(ctx, st, -1)
		if err != nil {
			t.Fatal(err)
		}
		sameSnapshot(t, got, snap)
	})
	t.Run("past the end", func(t *testing.T) {
		if _, err := snap.Update(ctx, st, latest+1); err == nil {
			t.Fatal("Update past the latest version succeeded")
		}
	})
	t.Run("commit cleaned up", func(t *testing.T) {
		base, err := Load(ctx, st, AtVersion(1))
		if err != nil {
			t.Fatal(err)
		}
		// Version 2 is gone (kept by the checkpoint at 3): Update falls
		// back to a full load.
		dir := st.(*objstore.Local).Root()
		if err := os.Rename(filepath.Join(dir, CommitKey(2)), filepath.Join(dir, CommitKey(2)+".hidden")); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(filepath.Join(dir, CommitKey(2)+".hidden"), filepath.Join(dir, CommitKey(2)))
		got, err := base.Update(ctx, st, 5)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Load(ctx, st, AtVersion(5))
		if err != nil {
			t.Fatal(err)
		}
		sameSnapshot(t, got, want)
	})
}

// sameSnapshot compares what readers of a snapshot see.
func sameSnapshot(t *testing.T, got, want *Snapshot) {
	t.Helper()
	if got.Version != want.Version || !got.Timestamp.Equal(want.Timestamp) {
		t.Fatalf("version %d at %v, want %d at %v", got.Version, got.Timestamp, want.Version, want.Timestamp)
	}
	if !reflect.DeepEqual(got.Protocol, want.Protocol) || !reflect.DeepEqual(got.Metadata, want.Metadata) {
		t.Fatalf("protocol/metadata %+v %+v, want %+v %+v", got.Protocol, got.Metadata, want.Protocol, want.Metadata)
	}
	if got.Schema.String() != want.Schema.String() {
		t.Fatalf("schema %s, want %s", got.Schema, want.Schema)
	}
	// As JSON (a checkpoint's reader may leave an empty map where a
	// commit has none, the same action) and without dataChange, which
	// checkpoints write as false and commits as written: a full replay
	// without the checkpoint differs from one with it the same way.
	if j, w := filesJSON(got.SortedFiles()), filesJSON(want.SortedFiles()); j != w || j != filesJSON(got.Files()) {
		t.Fatalf("files differ:\n%s\nwant\n%s", filesJSON(got.SortedFiles()), filesJSON(want.SortedFiles()))
	}
	if !reflect.DeepEqual(got.Txns(), want.Txns()) || !reflect.DeepEqual(got.domains, want.domains) {
		t.Fatalf("txns/domains %v %v, want %v %v", got.Txns(), got.domains, want.Txns(), want.domains)
	}
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func filesJSON(files []*Add) string {
	out := make([]Add, len(files))
	for i, f := range files {
		out[i] = *f
		out[i].DataChange = false
	}
	return asJSON(out)
}

// TestWithSchema: the copy has the new schema and the same files, in
// order, and the original is unchanged. (It replaced copying a Snapshot by
// value, which go vet refuses: the copy took the sync.Once of the sorted
// order with it.)
func TestWithSchema(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	snap := createTable(t, st, nil)
	if _, err := Commit(ctx, st, snap, []Action{addAction("b.parquet"), addAction("a.parquet")}, Operation{Name: "WRITE"}); err != nil {
		t.Fatal(err)
	}
	snap, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	old := snap.Schema
	evolved := Struct(Field{Name: "id", Type: Primitive(TypeLong)}, Field{Name: "x", Type: Primitive(TypeString), Nullable: true})
	c := snap.WithSchema(evolved)
	if c.Schema != evolved || snap.Schema != old {
		t.Fatalf("schemas: copy %v, original %v (want the evolved one on the copy only)", c.Schema, snap.Schema)
	}
	var got []string
	for _, a := range c.SortedFiles() {
		got = append(got, a.Path)
	}
	if want := []string{"a.parquet", "b.parquet"}; !reflect.DeepEqual(got, want) || c.Version != snap.Version || c.NumFiles() != 2 {
		t.Fatalf("copy: files %v version %d, want %v at %d", got, c.Version, want, snap.Version)
	}
	// Apart from the schema the copy is the snapshot, field by field: a
	// field added to Snapshot and left out of WithSchema fails here.
	c.Schema = old
	if !reflect.DeepEqual(c, snap) {
		t.Fatalf("copy differs from the snapshot beyond its schema:\n%+v\n%+v", c, snap)
	}
}
