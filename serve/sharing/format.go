package sharing

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// Response formats.
const (
	formatParquet = "parquet"
	formatDelta   = "delta"
)

// capsHeader is the request and response header of capabilities.
const capsHeader = "delta-sharing-capabilities"

// capabilities is what a client's delta-sharing-capabilities header asks:
// "responseformat=delta,parquet;readerfeatures=...;includeendstreamaction=true",
// keys and values case-insensitive.
type capabilities struct {
	formats   []string // as asked, in order; default parquet
	endStream bool
}

func parseCapabilities(h string) capabilities {
	c := capabilities{formats: []string{formatParquet}}
	for _, part := range strings.Split(strings.ToLower(h), ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "responseformat":
			var fs []string
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					fs = append(fs, f)
				}
			}
			if len(fs) > 0 {
				c.formats = fs
			}
		case "includeendstreamaction":
			c.endStream = strings.TrimSpace(v) == "true"
		}
	}
	return c
}

// chooseFormat picks the response format: the only one asked, or among
// both, parquet for tables any reader can read (reader version 1) and delta
// otherwise. A table with deletion vectors is never served in the parquet
// format, which cannot say which rows of a file are deleted.
func (c capabilities) chooseFormat(t sharedTable, p deltalog.Protocol) (string, *apiError) {
	var known []string
	for _, f := range c.formats {
		if f == formatParquet || f == formatDelta {
			known = append(known, f)
		}
	}
	switch {
	case len(known) == 0:
		return "", badParam("responseformat %q is not supported: use parquet or delta", strings.Join(c.formats, ","))
	case len(known) == 1 && known[0] == formatParquet && slices.Contains(p.ReaderFeatures, deltalog.FeatureDeletionVectors):
		return "", &apiError{status: http.StatusBadRequest, code: codeUnsupported, msg: fmt.Sprintf(
			"table %s has deletion vectors, which the parquet response format cannot carry: ask for the delta format (header delta-sharing-capabilities: responseformat=delta; with the Python connector, use_delta_format=True)", t.label())}
	case len(known) == 1:
		return known[0], nil
	case p.MinReaderVersion <= 1:
		return formatParquet, nil
	}
	return formatDelta, nil
}

// responseCapabilities is the header value echoed to the client.
func responseCapabilities(format string, endStream bool) string {
	s := "responseformat=" + format
	if endStream {
		s += ";includeendstreamaction=true"
	}
	return s
}

// fileID is the stable id of a data file in a table: the same across
// requests, for client caches.
func fileID(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:16])
}

type parquetFormat struct {
	Provider string `json:"provider"`
}

type parquetMetadata struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Description      string            `json:"description,omitempty"`
	Format           parquetFormat     `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration,omitempty"`
	Version          *int64            `json:"version,omitempty"`
	Size             *int64            `json:"size,omitempty"`
	NumFiles         *int64            `json:"numFiles,omitempty"`
}

type deltaMetadataWrapper struct {
	DeltaMetadata deltalog.Metadata `json:"deltaMetadata"`
	Version       *int64            `json:"version,omitempty"`
	Size          *int64            `json:"size,omitempty"`
	NumFiles      *int64            `json:"numFiles,omitempty"`
}

func (l *answer) protocol(p deltalog.Protocol) {
	if l.format == formatDelta {
		l.value(map[string]any{"protocol": map[string]any{"deltaProtocol": p}})
		return
	}
	l.value(map[string]any{"protocol": map[string]int{"minReaderVersion": 1}})
}

// metadata adds a metaData line; version, size and numFiles are optional.
func (l *answer) metadata(m deltalog.Metadata, version, size, numFiles *int64) {
	if m.PartitionColumns == nil {
		m.PartitionColumns = []string{}
	}
	if l.format == formatDelta {
		if m.Configuration == nil {
			m.Configuration = map[string]string{}
		}
		if m.Format.Options == nil {
			m.Format.Options = map[string]string{}
		}
		l.value(map[string]any{"metaData": deltaMetadataWrapper{DeltaMetadata: m, Version: version, Size: size, NumFiles: numFiles}})
		return
	}
	provider := m.Format.Provider
	if provider == "" {
		provider = "parquet"
	}
	l.value(map[string]any{"metaData": parquetMetadata{
		ID: m.ID, Name: m.Name, Description: m.Description, Format: parquetFormat{Provider: provider},
		SchemaString: m.SchemaString, PartitionColumns: m.PartitionColumns, Configuration: m.Configuration,
		Version: version, Size: size, NumFiles: numFiles,
	}})
}

// fileAction is one data file to hand out: an add (snapshot file or
// inserted rows), a remove (deleted rows) or a cdc file.
type fileAction struct {
	kind    string // "add", "remove", "cdc"
	add     *deltalog.Add
	remove  *deltalog.Remove
	cdc     *deltalog.CDC
	version *int64 // the commit's, for changes and versioned queries
	ts      *int64 // its timestamp, unix ms
}

func (f fileAction) path() string {
	switch f.kind {
	case "remove":
		return f.remove.Path
	case "cdc":
		return f.cdc.Path
	}
	return f.add.Path
}

// deletionVector is the deletion vector of an add or remove, or nil.
func (f fileAction) deletionVector() *deltalog.DeletionVector {
	switch f.kind {
	case "remove":
		return f.remove.DeletionVector
	case "add":
		return f.add.DeletionVector
	}
	return nil
}

// signedDV is the deletion vector handed to a client: an on-disk one
// becomes an absolute path ("p"), the signed URL of its file.
func signedDV(dv *deltalog.DeletionVector, url string) *deltalog.DeletionVector {
	if dv == nil || url == "" {
		return dv
	}
	out := *dv
	out.StorageType, out.PathOrInlineDv = deltalog.DVAbsolute, url
	return &out
}

func (f fileAction) size() int64 {
	switch f.kind {
	case "remove":
		if f.remove.Size != nil {
			return *f.remove.Size
		}
		return 0
	case "cdc":
		return f.cdc.Size
	}
	return f.add.Size
}

func (f fileAction) partitionValues() map[string]*string {
	var pv map[string]*string
	switch f.kind {
	case "remove":
		pv = f.remove.PartitionValues
	case "cdc":
		pv = f.cdc.PartitionValues
	default:
		pv = f.add.PartitionValues
	}
	if pv == nil {
		pv = map[string]*string{}
	}
	return pv
}

// endStream is the last line of a response when the client asked for it
// or paginates.
type endStream struct {
	RefreshToken              string `json:"refreshToken,omitempty"`
	NextPageToken             string `json:"nextPageToken,omitempty"`
	MinURLExpirationTimestamp *int64 `json:"minUrlExpirationTimestamp,omitempty"`
}

func (l *answer) end(e endStream) { l.value(map[string]any{"endStreamAction": e}) }
