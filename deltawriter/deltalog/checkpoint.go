package deltalog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"

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
	if err := checkFooterSize(b); err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	if err := checkLZ4Pages(b, f.Metadata()); err != nil {
		return nil, err
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
			v = normalizeParquetValue(v)
			a, ok := actionFromRow(v)
			if !ok {
				// Anything the fast path does not model exactly goes
				// through encoding/json, which defines the semantics.
				j, err := json.Marshal(v)
				if err != nil {
					return nil, fmt.Errorf("row %d: %w", rowNum, err)
				}
				a = Action{}
				if err := json.Unmarshal(j, &a); err != nil {
					return nil, fmt.Errorf("row %d: %w", rowNum, err)
				}
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

// checkFooterSize checks the footer length a Parquet file ends with against
// the file's size before parquet-go allocates a buffer of that length (up to
// 4 GiB for a corrupt one).
func checkFooterSize(b []byte) error {
	const magic = "PAR1"
	if len(b) < 2*len(magic)+4 || string(b[:4]) != magic || string(b[len(b)-4:]) != magic {
		return fmt.Errorf("open parquet: not a Parquet file (%d bytes, no %s magic at both ends)", len(b), magic)
	}
	if n := int64(binary.LittleEndian.Uint32(b[len(b)-8:])); n > int64(len(b)-2*len(magic)-4) {
		return fmt.Errorf("open parquet: corrupt footer: its length %d exceeds the %d-byte file", n, len(b))
	}
	return nil
}

// checkLZ4Pages trial-decodes every page of the LZ4_RAW column chunks into a
// buffer of the page's declared size. parquet-go's LZ4_RAW decoder retries a
// failing block with a buffer twice as large, forever, so one corrupt page
// makes it allocate until the process dies; a page that decodes here cannot
// trigger that. Other codecs fail cleanly on corrupt data.
func checkLZ4Pages(b []byte, md *format.FileMetaData) error {
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			m := &md.RowGroups[i].Columns[j].MetaData
			if m.Codec != format.Lz4Raw {
				continue
			}
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			if start < 0 || m.TotalCompressedSize < 0 || start > int64(len(b)) || m.TotalCompressedSize > int64(len(b))-start {
				return fmt.Errorf("corrupt parquet checkpoint: row group %d column %d: chunk [%d, +%d) is outside the %d-byte file",
					i, j, start, m.TotalCompressedSize, len(b))
			}
			if err := checkLZ4Chunk(b[start : start+m.TotalCompressedSize]); err != nil {
				return fmt.Errorf("corrupt parquet checkpoint: row group %d column %d: %w", i, j, err)
			}
		}
	}
	return nil
}

// checkLZ4Chunk trial-decodes the pages of one LZ4_RAW column chunk.
func checkLZ4Chunk(chunk []byte) error {
	var proto thrift.CompactProtocol
	for off := 0; off < len(chunk); {
		r := bytes.NewReader(chunk[off:])
		var h format.PageHeader
		if err := thrift.NewDecoder(proto.NewReader(r)).Decode(&h); err != nil {
			return fmt.Errorf("page header at chunk offset %d: %w", off, err)
		}
		off += len(chunk[off:]) - r.Len()
		if h.CompressedPageSize < 0 || int(h.CompressedPageSize) > len(chunk)-off || h.UncompressedPageSize < 0 {
			return fmt.Errorf("page at chunk offset %d: invalid sizes %d compressed, %d uncompressed", off, h.CompressedPageSize, h.UncompressedPageSize)
		}
		data := chunk[off : off+int(h.CompressedPageSize)]
		off += int(h.CompressedPageSize)
		size := int(h.UncompressedPageSize)
		if h.Type == format.DataPageV2 && h.DataPageHeaderV2.Valid {
			v2 := h.DataPageHeaderV2.V
			if v2.IsCompressed.Valid && !v2.IsCompressed.V {
				continue
			}
			levels := int(v2.RepetitionLevelsByteLength) + int(v2.DefinitionLevelsByteLength)
			if v2.RepetitionLevelsByteLength < 0 || v2.DefinitionLevelsByteLength < 0 || levels > len(data) || levels > size {
				return fmt.Errorf("page at chunk offset %d: invalid level lengths", off)
			}
			data, size = data[levels:], size-levels
		}
		// LZ4 cannot expand a block more than 255 times.
		if size > 255*len(data)+64 {
			return fmt.Errorf("page at chunk offset %d: %d bytes cannot decompress to %d", off, len(data), size)
		}
		if _, err := lz4.UncompressBlock(data, make([]byte, size)); err != nil {
			return fmt.Errorf("page at chunk offset %d: LZ4_RAW data does not decode into its declared %d bytes: %w", off, size, err)
		}
	}
	return nil
}

// actionFromRow converts a reconstructed checkpoint row (normalized by
// normalizeParquetValue) to an Action without a JSON round trip, for rows
// holding only an add or a remove of the common shape: the bulk of every
// checkpoint. It reports false for anything else, or for any value it does
// not convert exactly as json.Marshal followed by json.Unmarshal would (a
// key that matches a field only case-insensitively, an unexpected type,
// invalid UTF-8, a field it does not model); the caller then takes that
// JSON path.
func actionFromRow(v any) (Action, bool) {
	var a Action
	ok := eachField(v, actionKeys, func(k string, e any) (ok bool) {
		switch k {
		case "add":
			a.Add, ok = addFromRow(e)
		case "remove":
			a.Remove, ok = removeFromRow(e)
		}
		return ok
	})
	return a, ok
}

// JSON field names of Action, Add and Remove.
var (
	actionKeys = []string{"protocol", "metaData", "add", "remove", "txn", "commitInfo", "cdc", "domainMetadata", "checkpointMetadata", "sidecar"}
	addKeys    = []string{"path", "partitionValues", "size", "modificationTime", "dataChange", "stats", "tags", "deletionVector", "baseRowId", "defaultRowCommitVersion", "clusteringProvider"}
	removeKeys = []string{"path", "deletionTimestamp", "dataChange", "extendedFileMetadata", "partitionValues", "size", "stats", "tags", "deletionVector"}
)

// eachField calls set for every non-null member of the object v whose key
// is exactly one of fields, and reports false as soon as set does, or when v
// is not an object or has a key encoding/json might match to a field other
// than by exact name. Null members of exact keys are skipped (encoding/json
// leaves the zero value); keys that match no field are ignored.
func eachField(v any, fields []string, set func(key string, value any) bool) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for k, e := range m {
		switch {
		case slices.Contains(fields, k):
			if e != nil && !set(k, e) {
				return false
			}
		case !ignorableKey(k, fields):
			return false
		}
	}
	return true
}

// ignorableKey reports whether encoding/json would ignore key when decoding
// into a struct with the given field names: an ASCII key that matches none
// of them, even case-insensitively (e.g. stats_parsed).
func ignorableKey(key string, fields []string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range fields {
		if strings.EqualFold(key, f) {
			return false
		}
	}
	return true
}

// addFromRow converts the add member of a checkpoint row (see actionFromRow).
func addFromRow(v any) (*Add, bool) {
	a := &Add{}
	ok := eachField(v, addKeys, func(k string, e any) (ok bool) {
		switch k {
		case "path":
			a.Path, ok = jsonString(e)
		case "partitionValues":
			a.PartitionValues, ok = jsonMap(e, nil, func(s string) *string { return &s })
		case "size":
			a.Size, ok = jsonInt(e)
		case "modificationTime":
			a.ModificationTime, ok = jsonInt(e)
		case "dataChange":
			a.DataChange, ok = e.(bool)
		case "stats":
			a.Stats, ok = jsonString(e)
		case "tags":
			a.Tags, ok = jsonMap(e, "", func(s string) string { return s })
		}
		return ok // false for the fields not modelled here
	})
	return a, ok
}

// removeFromRow converts the remove member of a checkpoint row (see
// actionFromRow).
func removeFromRow(v any) (*Remove, bool) {
	r := &Remove{}
	ok := eachField(v, removeKeys, func(k string, e any) (ok bool) {
		switch k {
		case "path":
			r.Path, ok = jsonString(e)
		case "deletionTimestamp":
			var n int64
			n, ok = jsonInt(e)
			r.DeletionTimestamp = &n
		case "dataChange":
			r.DataChange, ok = e.(bool)
		case "extendedFileMetadata":
			var b bool
			b, ok = e.(bool)
			r.ExtendedFileMetadata = &b
		case "partitionValues":
			r.PartitionValues, ok = jsonMap(e, nil, func(s string) *string { return &s })
		case "size":
			var n int64
			n, ok = jsonInt(e)
			r.Size = &n
		case "stats":
			r.Stats, ok = jsonString(e)
		case "tags":
			r.Tags, ok = jsonMap(e, "", func(s string) string { return s })
		}
		return ok
	})
	return r, ok
}

// jsonString accepts a string that json.Marshal would keep unchanged.
func jsonString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok && utf8.ValidString(s)
}

// jsonInt accepts the integer types parquet-go reconstructs INT32 and INT64
// columns as.
func jsonInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	}
	return 0, false
}

// jsonMap converts a map<string,string> whose values may be null: a null
// value becomes null, a string s becomes val(s), as encoding/json decodes
// them into a map of V.
func jsonMap[V any](v any, null V, val func(string) V) (map[string]V, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]V, len(m))
	for k, e := range m {
		if !utf8.ValidString(k) {
			return nil, false
		}
		if e == nil {
			out[k] = null
			continue
		}
		s, ok := jsonString(e)
		if !ok {
			return nil, false
		}
		out[k] = val(s)
	}
	return out, true
}
