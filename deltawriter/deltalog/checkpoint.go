package deltalog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// LastCheckpoint is the content of _delta_log/_last_checkpoint.
type LastCheckpoint struct {
	Version       int64           `json:"version"`
	Size          int64           `json:"size"`
	Parts         *int            `json:"parts,omitempty"`
	SizeInBytes   int64           `json:"sizeInBytes,omitempty"`
	NumOfAddFiles int64           `json:"numOfAddFiles,omitempty"`
	V2Checkpoint  json.RawMessage `json:"v2Checkpoint,omitempty"`
}

// readLastCheckpoint returns the _last_checkpoint hint, or nil when it is
// missing or unreadable: the hint is an optimisation and a corrupt one must
// not make the table unreadable (the listing is the truth).
func readLastCheckpoint(ctx context.Context, st objstore.Store) *LastCheckpoint {
	b, err := objstore.ReadAll(ctx, st, LastCheckpointKey)
	if err != nil {
		return nil
	}
	var lc LastCheckpoint
	if err := json.Unmarshal(b, &lc); err != nil || lc.Version < 0 {
		return nil
	}
	return &lc
}

// readCheckpoint reads every action of a complete checkpoint, following V2
// sidecars.
func readCheckpoint(ctx context.Context, st objstore.Store, cp checkpointRef) ([]Action, error) {
	var all []Action
	for _, key := range cp.keys {
		acts, err := readCheckpointFile(ctx, st, key)
		if err != nil {
			return nil, err
		}
		all = append(all, acts...)
	}
	if !cp.v2 {
		return all, nil
	}
	out := all[:0:0]
	for _, a := range all {
		if a.Sidecar == nil {
			out = append(out, a)
			continue
		}
		key, err := sidecarKey(a.Sidecar.Path)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", cp.version, err)
		}
		acts, err := readCheckpointFile(ctx, st, key)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", cp.version, err)
		}
		out = append(out, acts...)
	}
	return out, nil
}

// sidecarKey resolves a sidecar path (relative to _delta_log/_sidecars/).
func sidecarKey(p string) (string, error) {
	if strings.Contains(p, "://") {
		return "", fmt.Errorf("sidecar %q: absolute sidecar paths are not supported", p)
	}
	key := SidecarDir + p
	if err := objstore.ValidateKey(key); err != nil {
		return "", fmt.Errorf("sidecar %q: %w", p, err)
	}
	return key, nil
}

// readCheckpointFile reads one checkpoint or sidecar file, JSON or Parquet.
func readCheckpointFile(ctx context.Context, st objstore.Store, key string) ([]Action, error) {
	b, err := objstore.ReadAll(ctx, st, key)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", key, err)
	}
	var acts []Action
	if strings.HasSuffix(key, ".json") {
		acts, err = ParseActions(b)
	} else {
		acts, err = ParseParquetActions(b)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path.Base(key), err)
	}
	return acts, nil
}

// ParseActions parses newline-delimited JSON actions (a commit file or a
// JSON V2 checkpoint). Errors name the line.
func ParseActions(b []byte) ([]Action, error) {
	var acts []Action
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 256*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		var a Action
		if err := json.Unmarshal(l, &a); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		acts = append(acts, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return acts, nil
}

// validate checks the fields every reader relies on.
func (a *Action) validate() error {
	switch {
	case a.Add != nil && a.Add.Path == "":
		return errors.New("add action without path")
	case a.Remove != nil && a.Remove.Path == "":
		return errors.New("remove action without path")
	case a.Txn != nil && a.Txn.AppID == "":
		return errors.New("txn action without appId")
	case a.Protocol != nil && (a.Protocol.MinReaderVersion < 1 || a.Protocol.MinWriterVersion < 1):
		return fmt.Errorf("protocol action with invalid versions reader=%d writer=%d", a.Protocol.MinReaderVersion, a.Protocol.MinWriterVersion)
	}
	return nil
}

// ParseParquetActions decodes a Parquet checkpoint (or sidecar): one action
// per row. Corrupt input gives an error, never a panic.
func ParseParquetActions(b []byte) (acts []Action, err error) {
	defer func() {
		if r := recover(); r != nil {
			acts, err = nil, fmt.Errorf("corrupt parquet checkpoint: %v", r)
		}
	}()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	schema := f.Schema()
	r := parquet.NewReader(f)
	defer r.Close()
	rows := make([]parquet.Row, 256)
	rowNum := 0
	for {
		n, rerr := r.ReadRows(rows)
		for _, row := range rows[:n] {
			rowNum++
			var v any
			if err := schema.Reconstruct(&v, row); err != nil {
				return nil, fmt.Errorf("row %d: %w", rowNum, err)
			}
			j, err := json.Marshal(normalizeParquetValue(v))
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", rowNum, err)
			}
			var a Action
			if err := json.Unmarshal(j, &a); err != nil {
				return nil, fmt.Errorf("row %d: %w", rowNum, err)
			}
			if err := a.validate(); err != nil {
				return nil, fmt.Errorf("row %d: %w", rowNum, err)
			}
			if !a.isEmpty() {
				acts = append(acts, a)
			}
		}
		if rerr == io.EOF {
			return acts, nil
		}
		if rerr != nil {
			return nil, fmt.Errorf("row %d: %w", rowNum+1, rerr)
		}
	}
}

// normalizeParquetValue turns what parquet-go reconstructs into JSON-ready
// values: byte slices (map values of STRING type) become strings, typed
// nils and pointers are dereferenced, and stats_parsed-like columns are kept.
func normalizeParquetValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case *[]byte:
		if x == nil {
			return nil
		}
		return string(*x)
	case *string:
		if x == nil {
			return nil
		}
		return *x
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeParquetValue(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeParquetValue(e)
		}
		return x
	}
	return v
}

// isEmpty reports whether no action field is set (a checkpoint row of a
// column this reader does not model).
func (a *Action) isEmpty() bool {
	return a.Protocol == nil && a.MetaData == nil && a.Add == nil && a.Remove == nil &&
		a.Txn == nil && a.CommitInfo == nil && a.CDC == nil && a.DomainMetadata == nil &&
		a.CheckpointMetadata == nil && a.Sidecar == nil
}
