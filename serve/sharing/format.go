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
	features  []string // readerfeatures, lower-cased
	endStream bool
	async     bool // asyncquery=true
}

// splitList splits a comma-separated header value.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
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
			if fs := splitList(v); len(fs) > 0 {
				c.formats = fs
			}
		case "readerfeatures":
			c.features = splitList(v)
		case "includeendstreamaction":
			c.endStream = strings.TrimSpace(v) == "true"
		case "asyncquery":
			c.async = strings.TrimSpace(v) == "true"
		}
	}
	return c
}

// serverFeatures are reader features of the log alone, which the server
// reads for the client: they need nothing of it.
var serverFeatures = []string{deltalog.FeatureV2Checkpoint, deltalog.FeatureVacuumProtocol}

// parquetFeatures are the reader features a table may need and still be
// served in the parquet format: files any Parquet reader reads right with
// the table's schema.
var parquetFeatures = append([]string{deltalog.FeatureTimestampNTZ}, serverFeatures...)

// sharedFeatures are the reader features the server can hand on in the
// delta format (to a client that names them in readerfeatures): the
// actions are passed through as the log has them. A table needing any
// other is refused (loadError).
var sharedFeatures = deltalog.WithFeatures(deltalog.PassThroughFeatures...)

// chooseFormat picks the response format: the only one asked, or among
// both, parquet for tables any reader can read (reader version 1) and delta
// otherwise. The parquet format is refused for tables whose files need a
// reader feature (deletion vectors, column mapping, widened types, variant)
// to be read right; the delta format for a table needing a reader feature
// the client did not name in readerfeatures.
func (c capabilities) chooseFormat(t sharedTable, p deltalog.Protocol, m deltalog.Metadata) (string, *apiError) {
	var known []string
	for _, f := range c.formats {
		if f == formatParquet || f == formatDelta {
			known = append(known, f)
		}
	}
	var noParquet, noDelta []string // the features each format lacks
	for _, f := range deltalog.ReaderFeatures(&p, &m) {
		if !slices.Contains(parquetFeatures, f) {
			noParquet = append(noParquet, f)
		}
		if !slices.Contains(serverFeatures, f) && !slices.Contains(c.features, strings.ToLower(f)) {
			noDelta = append(noDelta, f)
		}
	}
	parquetOK := len(noParquet) == 0 && slices.Contains(known, formatParquet)
	deltaOK := len(noDelta) == 0 && slices.Contains(known, formatDelta)
	switch {
	case len(known) == 0:
		return "", badParam("responseformat %q is not supported: use parquet or delta", strings.Join(c.formats, ","))
	case parquetOK && (!deltaOK || p.MinReaderVersion <= 1):
		return formatParquet, nil
	case deltaOK:
		return formatDelta, nil
	case slices.Contains(known, formatDelta):
		return "", &apiError{status: http.StatusBadRequest, code: codeUnsupported, msg: fmt.Sprintf(
			"table %s needs the reader features %s, which the client did not name in readerfeatures: use a client that supports them and names them (header delta-sharing-capabilities: responseformat=delta;readerfeatures=%s)",
			t.label(), strings.Join(noDelta, ", "), strings.ToLower(strings.Join(noDelta, ",")))}
	}
	return "", &apiError{status: http.StatusBadRequest, code: codeUnsupported, msg: fmt.Sprintf(
		"table %s needs the reader features %s, which the parquet response format cannot carry: ask for the delta format (header delta-sharing-capabilities: responseformat=delta;readerfeatures=%s; with the Python connector, use_delta_format=True)",
		t.label(), strings.Join(noParquet, ", "), strings.ToLower(strings.Join(noParquet, ",")))}
}

// responseCapabilities is the header value echoed to the client.
func responseCapabilities(format string, endStream bool) string {
	s := "responseformat=" + format
	if endStream {
		s += ";includeendstreamaction=true"
	}
	return s
}

// The fileidhash request header picks the scheme of file ids (query and
// changes); the server echoes it, lower-cased.
const (
	fileIDHashHeader = "fileidhash"
	fileIDParquet    = "parquet"
	fileIDDelta      = "delta"
)

// parseFileIDHash reads the fileidhash header: "" when absent, else
// parquet or delta; any other value is refused, as the protocol says.
func parseFileIDHash(r *http.Request) (string, *apiError) {
	v, ok := r.Header[http.CanonicalHeaderKey(fileIDHashHeader)]
	if !ok {
		return "", nil
	}
	s := strings.ToLower(strings.TrimSpace(strings.Join(v, ",")))
	if s != fileIDParquet && s != fileIDDelta {
		return "", badParam("fileidhash %q is not supported: use parquet or delta (or leave the header out)", strings.Join(v, ","))
	}
	return s, nil
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

func (l *answer) protocol(p deltalog.Protocol) { l.protocolAt(p, nil) }

// protocolAt adds a protocol line; in the delta format with a version
// (includeHistoricalProtocol), the line names the version it is of.
func (l *answer) protocolAt(p deltalog.Protocol, version *int64) {
	if l.format == formatDelta {
		line := map[string]any{"deltaProtocol": p}
		if version != nil {
			line["version"] = *version
		}
		l.value(map[string]any{"protocol": line})
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
