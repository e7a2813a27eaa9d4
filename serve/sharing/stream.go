package sharing

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// Streamed answers. A table answer (metadata, query, changes) is written
// as it is made: its protocol and metadata lines, then each file's line as
// the file passes the filters, encoded straight into one reused buffer
// that goes to the client every flushAt bytes. Memory is bounded by that
// buffer and the page, not by the table.
//
// Until the first file line is ready nothing is sent, so an error found
// before it (a bad page token, a signer that cannot sign this table) is an
// ordinary error answer. After it, the status is sent: an error then ends
// the answer with a line that is not JSON and has no newline (a client
// reading NDJSON fails on it), is logged and audited as a 500, and the
// connection is aborted (http.ErrAbortHandler), so no client can take a
// short answer for a whole one.

// flushAt is how many bytes of lines are gathered before they are sent
// (after the first file, which leaves at once). Each write to a client
// whose receive window is smaller than a segment (a 16 KiB receive buffer
// on loopback, where segments are 64 KiB) waits about 200 ms for a TCP
// window probe: at 32 KiB a 40,000-file answer took minutes, at 1 MiB
// seconds (TestServeSlowReaderGetsLongAnswer). Memory per answer stays
// bounded by this size.
const flushAt = 1 << 20

// truncatedLine ends an answer cut short by an error.
const truncatedLine = `{"error":{"errorCode":"INTERNAL_ERROR","message":"the answer was cut short by a server error; see the server log"`

// answer is a table answer being written.
type answer struct {
	c         *call
	format    string
	version   int64
	endStream bool
	buf       []byte
	sent      bool // the status and some lines went to the client
}

func (c *call) stream(format string, version int64, endStream bool) *answer {
	return &answer{c: c, format: format, version: version, endStream: endStream, buf: make([]byte, 0, 4<<10)}
}

// value adds the line of v encoded by encoding/json (the few lines per
// answer that are not files).
func (w *answer) value(v any) {
	b, err := json.Marshal(v)
	if err != nil { // only structs, maps of strings and numbers: cannot happen
		panic(fmt.Sprintf("sharing: encode a line: %v", err))
	}
	w.buf = append(append(w.buf, b...), '\n')
}

// flush sends the lines gathered so far, the status first, and pushes them
// to the client.
func (w *answer) flush() {
	w.send()
	http.NewResponseController(w.c.w).Flush() // a writer that cannot flush sends when it can
}

// send hands the lines gathered so far to the response writer, the status
// first, without flushing it: a write of flushAt bytes passes the server's
// buffer and leaves as one chunk.
func (w *answer) send() {
	if !w.sent {
		h := w.c.w.Header()
		h.Set("Content-Type", "application/x-ndjson; charset=utf-8")
		h.Set("Delta-Table-Version", strconv.FormatInt(w.version, 10))
		h.Set(capsHeader, responseCapabilities(w.format, w.endStream))
		if w.c.idScheme != "" {
			h.Set(fileIDHashHeader, w.c.idScheme)
		}
		w.c.w.WriteHeader(http.StatusOK)
		w.sent = true
	}
	if len(w.buf) > 0 {
		w.c.w.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

// finish sends the rest of the answer.
func (w *answer) finish() (int, *apiError) {
	w.flush()
	return http.StatusOK, nil
}

// fail answers e when nothing was sent yet; otherwise it cuts the answer
// short (see above).
func (w *answer) fail(e *apiError) (int, *apiError) {
	if !w.sent {
		return 0, e
	}
	c := w.c
	c.reason = e.code + ": " + e.msg
	c.h.log.Error("delta sharing answer cut short after its first bytes", "request", c.name, "recipient", c.recipient, "path", c.path, "err", e.Error())
	w.buf = append(w.buf, truncatedLine...)
	w.flush()
	c.abort = true
	return e.status, nil
}

// file adds the line of a signed file; snapshot says it is a file of a
// table snapshot ("file" in the parquet format) rather than a change.
func (w *answer) file(s signed, snapshot bool) {
	w.buf = appendFileLine(w.buf, w.format, w.c.idScheme, s, snapshot)
	switch {
	case !w.sent:
		w.flush() // the first file leaves at once
	case len(w.buf) >= flushAt:
		w.send()
	}
}

// appendFileLine appends the NDJSON line of a signed file: byte for byte
// what encoding/json makes of the protocol's objects, without building
// them.
func appendFileLine(b []byte, format, idScheme string, s signed, snapshot bool) []byte {
	f := s.f
	if format == formatDelta {
		b = append(b, `{"file":{"id":`...)
		b = appendFileID(b, f.path(), idScheme)
		b = appendVersionTS(b, f)
		b = append(b, `,"expirationTimestamp":`...)
		b = strconv.AppendInt(b, s.expires, 10)
		b = append(b, `,"deltaSingleAction":{`...)
		switch f.kind {
		case "remove":
			r := *f.remove
			r.Path = s.url
			r.DeletionVector = signedDV(r.DeletionVector, s.dvURL)
			b = appendMarshal(append(b, `"remove":`...), r)
		case "cdc":
			c := *f.cdc
			c.Path = s.url
			b = appendMarshal(append(b, `"cdc":`...), c)
		default:
			b = appendAdd(append(b, `"add":`...), f.add, s.url, signedDV(f.add.DeletionVector, s.dvURL))
		}
		return append(b, "}}}\n"...)
	}
	key := f.kind
	switch {
	case snapshot:
		key = "file"
	case f.kind == "cdc":
		key = "cdf"
	}
	b = append(append(append(b, `{"`...), key...), `":{"url":`...)
	b = appendString(b, s.url)
	b = append(b, `,"id":`...)
	b = appendFileID(b, f.path(), idScheme)
	b = append(b, `,"partitionValues":`...)
	b = appendPartitionValues(b, f.partitionValues())
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, f.size(), 10)
	if f.kind == "add" && f.add.Stats != "" {
		b = appendString(append(b, `,"stats":`...), f.add.Stats)
	}
	b = appendVersionTS(b, f)
	b = append(b, `,"expirationTimestamp":`...)
	b = strconv.AppendInt(b, s.expires, 10)
	return append(b, "}}\n"...)
}

func appendVersionTS(b []byte, f fileAction) []byte {
	if f.version != nil {
		b = strconv.AppendInt(append(b, `,"version":`...), *f.version, 10)
	}
	if f.ts != nil {
		b = strconv.AppendInt(append(b, `,"timestamp":`...), *f.ts, 10)
	}
	return b
}

// appendAdd appends an add action as encoding/json encodes deltalog.Add,
// with path and deletion vector replaced.
func appendAdd(b []byte, a *deltalog.Add, path string, dv *deltalog.DeletionVector) []byte {
	b = appendString(append(b, `{"path":`...), path)
	pv := a.PartitionValues
	if pv == nil {
		pv = map[string]*string{}
	}
	b = appendPartitionValues(append(b, `,"partitionValues":`...), pv)
	b = strconv.AppendInt(append(b, `,"size":`...), a.Size, 10)
	b = strconv.AppendInt(append(b, `,"modificationTime":`...), a.ModificationTime, 10)
	b = strconv.AppendBool(append(b, `,"dataChange":`...), a.DataChange)
	if a.Stats != "" {
		b = appendString(append(b, `,"stats":`...), a.Stats)
	}
	if len(a.Tags) > 0 {
		b = appendMarshal(append(b, `,"tags":`...), a.Tags)
	}
	if dv != nil {
		b = appendMarshal(append(b, `,"deletionVector":`...), dv)
	}
	if a.BaseRowID != nil {
		b = strconv.AppendInt(append(b, `,"baseRowId":`...), *a.BaseRowID, 10)
	}
	if a.DefaultRowCommit != nil {
		b = strconv.AppendInt(append(b, `,"defaultRowCommitVersion":`...), *a.DefaultRowCommit, 10)
	}
	if a.ClusteringProv != nil {
		b = appendString(append(b, `,"clusteringProvider":`...), *a.ClusteringProv)
	}
	return append(b, '}')
}

// appendMarshal appends what encoding/json makes of v (the rare parts of
// a line: tags, deletion vectors, removes and cdc files).
func appendMarshal(b []byte, v any) []byte {
	out, err := json.Marshal(v)
	if err != nil { // deltalog's action types always encode
		panic(fmt.Sprintf("sharing: encode %T: %v", v, err))
	}
	return append(b, out...)
}

// appendPartitionValues appends a map of partition values, keys sorted
// and nil as null, as encoding/json does.
func appendPartitionValues(b []byte, pv map[string]*string) []byte {
	b = append(b, '{')
	var stack [8]string
	keys := stack[:0]
	for k := range pv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		if v := pv[k]; v != nil {
			b = appendString(b, *v)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, '}')
}

// appendFileID appends the quoted id of the file at path in the scheme
// the client asked for in the fileidhash header: "delta", the SHA-256 of
// the path; "parquet", its MD5 (the reference server's two schemes);
// none, the first 16 bytes of its SHA-256 (fileID).
func appendFileID(b []byte, path, scheme string) []byte {
	b = append(b, '"')
	switch scheme {
	case fileIDDelta:
		sum := sha256.Sum256([]byte(path))
		b = hex.AppendEncode(b, sum[:])
	case fileIDParquet:
		sum := md5.Sum([]byte(path))
		b = hex.AppendEncode(b, sum[:])
	default:
		sum := sha256.Sum256([]byte(path))
		b = hex.AppendEncode(b, sum[:16])
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string escaped exactly as
// encoding/json escapes it (HTML characters, U+2028 and U+2029 as \u
// escapes, invalid UTF-8 as U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(append(b, s[start:i]...), `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}
