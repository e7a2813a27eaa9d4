package deltalog

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// LogDir is the key prefix of the transaction log inside a table's root.
const LogDir = "_delta_log/"

// LastCheckpointKey is the key of the _last_checkpoint hint file.
const LastCheckpointKey = LogDir + "_last_checkpoint"

// SidecarDir is the key prefix of V2 checkpoint sidecar files.
const SidecarDir = LogDir + "_sidecars/"

// CommitKey returns the key of the JSON commit file for version v.
func CommitKey(v int64) string { return fmt.Sprintf("%s%020d.json", LogDir, v) }

// CheckpointKey returns the key of a classic single-file checkpoint.
func CheckpointKey(v int64) string { return fmt.Sprintf("%s%020d.checkpoint.parquet", LogDir, v) }

// logFileKind classifies a file of the _delta_log directory.
type logFileKind int

const (
	kindOther logFileKind = iota
	kindCommit
	kindCheckpointClassic
	kindCheckpointPart
	kindCheckpointV2
)

// logFile is one parsed _delta_log entry.
type logFile struct {
	key     string
	kind    logFileKind
	version int64
	part    int // multi-part checkpoint: 1-based part number
	parts   int // multi-part checkpoint: number of parts
	size    int64
	modTime int64 // ms since epoch
}

// parseLogFile classifies key (a full key under LogDir). Files it does not
// know (crc files, compacted logs, temp files) come back as kindOther.
func parseLogFile(key string) logFile {
	f := logFile{key: key, kind: kindOther, version: -1}
	name := path.Base(key)
	if !strings.HasPrefix(key, LogDir) || strings.Contains(key[len(LogDir):], "/") || len(name) < 21 || name[20] != '.' {
		return f
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil || v < 0 {
		return f
	}
	rest := name[21:]
	switch {
	case rest == "json":
		f.kind, f.version = kindCommit, v
	case rest == "checkpoint.parquet":
		f.kind, f.version = kindCheckpointClassic, v
	case strings.HasPrefix(rest, "checkpoint."):
		r := strings.TrimPrefix(rest, "checkpoint.")
		parts := strings.Split(r, ".")
		// multi-part: checkpoint.0000000001.0000000003.parquet
		if len(parts) == 3 && parts[2] == "parquet" && len(parts[0]) == 10 && len(parts[1]) == 10 {
			p, err1 := strconv.Atoi(parts[0])
			n, err2 := strconv.Atoi(parts[1])
			if err1 == nil && err2 == nil && p >= 1 && n >= 1 && p <= n {
				f.kind, f.version, f.part, f.parts = kindCheckpointPart, v, p, n
			}
			return f
		}
		// V2: checkpoint.<uuid>.json|parquet
		if len(parts) == 2 && (parts[1] == "json" || parts[1] == "parquet") && parts[0] != "" {
			f.kind, f.version = kindCheckpointV2, v
		}
	}
	return f
}

// checkpointRef identifies one complete checkpoint: its version and files.
type checkpointRef struct {
	version int64
	keys    []string // one file (classic, V2) or all parts in order
	v2      bool
}
