package upkeep

import (
	"sort"
	"strings"
	"testing"
	"time"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]string
		check   func(s Settings) bool
		wantErr string // substring; "" for success
	}{
		{"defaults", nil, func(s Settings) bool { return s == DefaultSettings() }, ""},
		{"other properties are ignored", map[string]string{"delta.enableChangeDataFeed": "true", "comment": "x"},
			func(s Settings) bool { return s == DefaultSettings() }, ""},
		{"delta retentions and interval", map[string]string{PropLogRetention: "interval 2 days", PropDeletedFileRetention: "interval 36 hours", PropCheckpointInterval: "50"},
			func(s Settings) bool {
				return s.LogRetention == 48*time.Hour && s.DeletedFileRetention == 36*time.Hour && s.CheckpointInterval == 50
			}, ""},
		{"compaction policy", map[string]string{PropCompactionTarget: "64MiB", PropCompactionMinFiles: "20", PropCompactionMinBytes: "1 gb",
			PropCompactionMinAge: "interval 5 minutes", PropCompactionMaxFiles: "500", PropCompactionMaxBytes: "2GiB"},
			func(s Settings) bool {
				p := s.Policy
				return p.TargetFileSize == 64<<20 && p.MinFiles == 20 && p.MinBytes == 1e9 && p.MinAge == 5*time.Minute &&
					p.MaxFiles == 500 && p.MaxBytes == 2<<30
			}, ""},
		{"minimum age zero", map[string]string{PropCompactionMinAge: "0 seconds"}, func(s Settings) bool { return s.Policy.MinAge == 0 }, ""},
		{"compaction off", map[string]string{PropCompactionEnabled: "false"}, func(s Settings) bool { return !s.Compact }, ""},
		{"schedules", map[string]string{PropVacuumInterval: "interval 6 hours", PropLogCleanupInterval: "10 minutes"},
			func(s Settings) bool {
				return s.VacuumInterval == 6*time.Hour && s.LogCleanupInterval == 10*time.Minute
			}, ""},
		{"bad interval", map[string]string{PropLogRetention: "30 dayz"}, nil, `table property delta.logRetentionDuration = "30 dayz"`},
		{"zero retention", map[string]string{PropDeletedFileRetention: "interval 0 days"}, nil, "delta.deletedFileRetentionDuration"},
		{"checkpoint interval not a number", map[string]string{PropCheckpointInterval: "ten"}, nil, "delta.checkpointInterval"},
		{"one file is no compaction", map[string]string{PropCompactionMinFiles: "1"}, nil, "sluice.compaction.minFiles"},
		{"bad size", map[string]string{PropCompactionTarget: "big"}, nil, "sluice.compaction.targetFileSize"},
		{"negative size", map[string]string{PropCompactionMinBytes: "-5"}, nil, "sluice.compaction.minBytes"},
		{"bad bool", map[string]string{PropCompactionEnabled: "sometimes"}, nil, "sluice.compaction.enabled"},
		{"max bytes below target", map[string]string{PropCompactionTarget: "1GiB", PropCompactionMaxBytes: "10MiB"}, nil,
			"sluice.compaction.maxBytesPerRun = 10485760 is below sluice.compaction.targetFileSize"},
		{"first bad property by name", map[string]string{PropVacuumInterval: "x", PropCompactionMinFiles: "x"}, nil, "sluice.compaction.minFiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSettings(tt.props)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Fatalf("settings %+v", s)
			}
		})
	}
}

// TestPropertiesListed: every name in Properties is one that
// ParseSettings reads (its bad value is refused), in name order.
func TestPropertiesListed(t *testing.T) {
	if !sort.StringsAreSorted(Properties) {
		t.Errorf("Properties not in name order: %v", Properties)
	}
	for _, k := range Properties {
		if _, err := ParseSettings(map[string]string{k: "not a value"}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s = 'not a value': err %v, want one naming it", k, err)
		}
		if err := CheckProperty(k, "not a value"); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("CheckProperty(%s, 'not a value'): err %v, want one naming it", k, err)
		}
	}
	// On its own, a per-run limit below the default target is fine: the
	// target may be lowered beside it.
	if err := CheckProperty(PropCompactionMaxBytes, "1MiB"); err != nil {
		t.Errorf("CheckProperty(maxBytesPerRun, 1MiB): %v", err)
	}
	if err := CheckProperty("partitioned.by", "x"); err != nil {
		t.Errorf("CheckProperty of another property: %v", err)
	}
}
