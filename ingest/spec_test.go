package ingest

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/golden"
)

// TestSpecFixtures: every good spec loads; every bad one fails with exactly
// the error in its .error file (which names the field and the fix).
func TestSpecFixtures(t *testing.T) {
	good, _ := filepath.Glob("testdata/specs/good/*.yaml")
	bad, _ := filepath.Glob("testdata/specs/bad/*.yaml")
	if len(good) == 0 || len(bad) == 0 {
		t.Fatal("no spec fixtures")
	}
	for _, f := range good {
		if _, err := LoadSpec(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range bad {
		_, err := LoadSpec(f)
		if err == nil {
			t.Errorf("%s: loaded; want an error", f)
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".error", strings.ReplaceAll(err.Error(), f, filepath.Base(f))+"\n")
		})
	}
}

// FuzzParseSpec: arbitrary input never panics the spec loader.
func FuzzParseSpec(f *testing.F) {
	files, _ := filepath.Glob("testdata/specs/*/*.yaml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSpec(b)
		if err == nil && s.Validate() != nil {
			t.Fatal("ParseSpec returned a spec that does not validate")
		}
	})
}

// TestDefaultInstanceID: a spec without source.instanceId gets a static
// member id from its query, valid for Kafka whatever the query holds; one
// given in the spec is kept.
func TestDefaultInstanceID(t *testing.T) {
	long := strings.Repeat("q", 300)
	for _, tt := range []struct{ query, given, want string }{
		{"orders-eu", "", "sluice-orders-eu"},
		{"3f2a9c1e-7d4b-4c6a-9a51-0b1c2d3e4f50", "", "sluice-3f2a9c1e-7d4b-4c6a-9a51-0b1c2d3e4f50"},
		{"ventes:été", "", "sluice-ventes__t_"},
		{"orders-eu", "worker-2", "worker-2"},
		{long, "", DefaultInstanceID(long)},
	} {
		s := Spec{Query: tt.query, Source: SourceSpec{Brokers: []string{"k:9092"}, Topic: "t", InstanceID: tt.given}, Sink: SinkSpec{Table: "/tmp/t"}}
		s.ApplyDefaults()
		if got := s.Source.InstanceID; got != tt.want {
			t.Errorf("query %.20q: instance id %q, want %q", tt.query, got, tt.want)
		}
		if err := s.Validate(); err != nil && strings.Contains(err.Error(), "instanceId") {
			t.Errorf("query %.20q: %v", tt.query, err)
		}
	}
	if a, b := DefaultInstanceID(long), DefaultInstanceID(long+"x"); len(a) > 249 || a == b {
		t.Errorf("long ids: %d bytes, distinct %v", len(a), a != b)
	}
}

func TestTableConfiguration(t *testing.T) {
	for _, tt := range []struct {
		name string
		conf map[string]string
		want map[string]string
	}{
		{"none: the streaming checkpoint interval", nil, map[string]string{"delta.checkpointInterval": "100"}},
		{"the spec's own wins", map[string]string{"delta.checkpointInterval": "10", "delta.appendOnly": "true"},
			map[string]string{"delta.checkpointInterval": "10", "delta.appendOnly": "true"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tableConfiguration(tt.conf); !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
