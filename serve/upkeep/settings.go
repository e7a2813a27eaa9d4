package upkeep

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// Table properties the loop reads. The delta.* ones are Delta's own (and
// other engines honour them); the sluice.* ones are Sluice's.
const (
	PropLogRetention         = "delta.logRetentionDuration"
	PropDeletedFileRetention = "delta.deletedFileRetentionDuration"
	PropCheckpointInterval   = "delta.checkpointInterval"

	PropCompactionEnabled  = "sluice.compaction.enabled"
	PropCompactionTarget   = "sluice.compaction.targetFileSize"
	PropCompactionMinFiles = "sluice.compaction.minFiles"
	PropCompactionMinBytes = "sluice.compaction.minBytes"
	PropCompactionMinAge   = "sluice.compaction.minAge"
	PropCompactionMaxFiles = "sluice.compaction.maxFilesPerRun"
	PropCompactionMaxBytes = "sluice.compaction.maxBytesPerRun"
	PropVacuumInterval     = "sluice.vacuum.interval"
	PropLogCleanupInterval = "sluice.logCleanup.interval"
)

// Properties are the table properties ParseSettings reads, in name order.
var Properties = []string{
	PropCheckpointInterval, PropDeletedFileRetention, PropLogRetention,
	PropCompactionEnabled, PropCompactionMaxBytes, PropCompactionMaxFiles, PropCompactionMinAge,
	PropCompactionMinBytes, PropCompactionMinFiles, PropCompactionTarget,
	PropLogCleanupInterval, PropVacuumInterval,
}

// Defaults of the sluice.* schedules.
const (
	DefaultVacuumInterval     = 24 * time.Hour
	DefaultLogCleanupInterval = time.Hour
)

// Settings are one table's upkeep settings, from its properties.
type Settings struct {
	Compact              bool // sluice.compaction.enabled (default true)
	Policy               deltawriter.CompactPolicy
	LogRetention         time.Duration // delta.logRetentionDuration (default 30 days)
	DeletedFileRetention time.Duration // delta.deletedFileRetentionDuration (default 7 days)
	CheckpointInterval   int64         // delta.checkpointInterval (default 10)
	VacuumInterval       time.Duration // sluice.vacuum.interval (default 24 hours)
	LogCleanupInterval   time.Duration // sluice.logCleanup.interval (default 1 hour)
}

// DefaultSettings are the settings of a table that sets no property.
func DefaultSettings() Settings {
	return Settings{
		Compact:              true,
		Policy:               deltawriter.DefaultCompactPolicy(),
		LogRetention:         deltalog.DefaultLogRetention,
		DeletedFileRetention: deltalog.DefaultTombstoneRetention,
		CheckpointInterval:   10,
		VacuumInterval:       DefaultVacuumInterval,
		LogCleanupInterval:   DefaultLogCleanupInterval,
	}
}

// ParseSettings reads the upkeep settings from table properties; unset
// ones keep their defaults and other properties are ignored. The error
// names the first property (in name order) whose value is invalid, and
// what it wants.
func ParseSettings(props map[string]string) (Settings, error) {
	s := DefaultSettings()
	fields := s.parsers()
	names := make([]string, 0, len(props))
	for k := range props {
		if fields[k] != nil {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		if err := fields[k](props[k]); err != nil {
			return s, fmt.Errorf("table property %s = %q: %w", k, props[k], err)
		}
	}
	if s.Policy.MaxBytes < s.Policy.TargetFileSize {
		return s, fmt.Errorf("table property %s = %d is below %s = %d: a run must be able to write one file of the target size",
			PropCompactionMaxBytes, s.Policy.MaxBytes, PropCompactionTarget, s.Policy.TargetFileSize)
	}
	return s, nil
}

// CheckProperty checks the value of one property ParseSettings reads, on
// its own (ParseSettings also checks limits that depend on each other);
// a key it does not read is nil.
func CheckProperty(key, value string) error {
	s := DefaultSettings()
	f := s.parsers()[key]
	if f == nil {
		return nil
	}
	if err := f(value); err != nil {
		return fmt.Errorf("table property %s = %q: %w", key, value, err)
	}
	return nil
}

// parsers are the parsers of the properties, by name, each setting its
// field of s.
func (s *Settings) parsers() map[string]func(string) error {
	return map[string]func(string) error{
		PropLogRetention:         positiveInterval(&s.LogRetention),
		PropDeletedFileRetention: positiveInterval(&s.DeletedFileRetention),
		PropCheckpointInterval:   positiveInt(&s.CheckpointInterval),
		PropCompactionEnabled: func(v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			s.Compact = b
			return nil
		},
		PropCompactionTarget:   positiveSize(&s.Policy.TargetFileSize),
		PropCompactionMinBytes: positiveSize(&s.Policy.MinBytes),
		PropCompactionMaxBytes: positiveSize(&s.Policy.MaxBytes),
		PropCompactionMinFiles: intAtLeast2(&s.Policy.MinFiles),
		PropCompactionMaxFiles: intAtLeast2(&s.Policy.MaxFiles),
		PropCompactionMinAge: func(v string) error {
			d, err := deltalog.ParseInterval(v)
			if err != nil {
				return err
			}
			s.Policy.MinAge = d
			return nil
		},
		PropVacuumInterval:     positiveInterval(&s.VacuumInterval),
		PropLogCleanupInterval: positiveInterval(&s.LogCleanupInterval),
	}
}

func positiveInterval(dst *time.Duration) func(string) error {
	return func(v string) error {
		d, err := deltalog.ParseInterval(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return fmt.Errorf("want a positive interval such as \"interval 7 days\"")
		}
		*dst = d
		return nil
	}
}

func positiveInt(dst *int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive integer")
		}
		*dst = n
		return nil
	}
}

func intAtLeast2(dst *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 2 {
			return fmt.Errorf("want an integer of at least 2 (one file is not compacted)")
		}
		*dst = n
		return nil
	}
}

// sizeUnits are the suffixes a size property accepts, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"b", 1}}

// positiveSize parses a byte count: digits, optionally with a unit such as
// "128MiB" or "64 mb".
func positiveSize(dst *int64) func(string) error {
	return func(v string) error {
		s := strings.ToLower(strings.TrimSpace(v))
		mult := int64(1)
		for _, u := range sizeUnits {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
				break
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n > (1<<62)/mult {
			return fmt.Errorf("want a positive size in bytes, optionally with a unit (KiB, MiB, GiB, KB, MB, GB), such as \"128MiB\"")
		}
		*dst = n * mult
		return nil
	}
}
