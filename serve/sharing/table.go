package sharing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// maxQueryBody bounds a query request body.
const maxQueryBody = 1 << 20

// queryRequest is the body of POST .../query. Pointers tell absent fields
// from zero ones.
type queryRequest struct {
	PredicateHints      []string  `json:"predicateHints,omitempty"`
	JSONPredicateHints  *hintText `json:"jsonPredicateHints,omitempty"`
	LimitHint           *int64    `json:"limitHint,omitempty"`
	Version             *int64    `json:"version,omitempty"`
	Timestamp           *string   `json:"timestamp,omitempty"`
	StartingVersion     *int64    `json:"startingVersion,omitempty"`
	EndingVersion       *int64    `json:"endingVersion,omitempty"`
	MaxFiles            *int      `json:"maxFiles,omitempty"`
	PageToken           *string   `json:"pageToken,omitempty"`
	IncludeRefreshToken *bool     `json:"includeRefreshToken,omitempty"`
	RefreshToken        *string   `json:"refreshToken,omitempty"`
	// IncludeHistoricalProtocol: with startingVersion, the protocol
	// actions of later versions, in the delta format.
	IncludeHistoricalProtocol *bool `json:"includeHistoricalProtocol,omitempty"`
	// IdempotencyKey (the protocol's idempotencyKey; the reference
	// client sends idempotency_key, also accepted) names an asynchronous
	// query across retries.
	IdempotencyKey    *string `json:"idempotencyKey,omitempty"`
	IdempotencyKeyAlt *string `json:"idempotency_key,omitempty"`
}

// idempotencyKey is the key of either spelling, "" without one.
func (q queryRequest) idempotencyKey() string {
	switch {
	case q.IdempotencyKey != nil:
		return *q.IdempotencyKey
	case q.IdempotencyKeyAlt != nil:
		return *q.IdempotencyKeyAlt
	}
	return ""
}

// historicalProtocol reports whether includeHistoricalProtocol is true.
func (q queryRequest) historicalProtocol() bool {
	return q.IncludeHistoricalProtocol != nil && *q.IncludeHistoricalProtocol
}

// hintText is jsonPredicateHints: a string holding the predicate's JSON,
// as the protocol says, or (leniently) the JSON object itself.
type hintText string

// UnmarshalJSON implements json.Unmarshaler.
func (h *hintText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*h = hintText(s)
		return nil
	}
	*h = hintText(b)
	return nil
}

// pageParams are the parameters a page token is bound to.
func (q queryRequest) pageParams() string {
	p := []any{q.PredicateHints, q.JSONPredicateHints, q.LimitHint, q.Version, q.Timestamp, q.StartingVersion, q.EndingVersion}
	if q.historicalProtocol() { // only when set: tokens issued before it existed stay valid
		p = append(p, true)
	}
	return paramsHash(p)
}

func decodeQuery(r *http.Request) (queryRequest, *apiError) {
	var q queryRequest
	return q, decodeBody(r, &q, "a query request (a JSON object with predicateHints, limitHint, version, ...)")
}

// decodeBody decodes a request body of at most maxQueryBody bytes, one
// JSON object, into v; an empty body leaves v as it is. what names the
// object in the error.
func decodeBody(r *http.Request, v any, what string) *apiError {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxQueryBody+1))
	if err != nil {
		return malformed("read the request body: %v", err)
	}
	if len(b) > maxQueryBody {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", maxQueryBody)}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // the protocol asks for {}, but nothing means the same
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return malformed("the body is not a valid %s: %v", what, err)
	}
	if dec.More() {
		return malformed("the body holds more than one JSON value")
	}
	return nil
}

// validate checks the combinations the protocol allows.
func (q queryRequest) validate() *apiError {
	n := 0
	for _, set := range []bool{q.Version != nil, q.Timestamp != nil, q.StartingVersion != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return badParam("only one of version, timestamp and startingVersion may be given")
	case q.Version != nil && *q.Version < 0:
		return badParam("version %d is negative", *q.Version)
	case q.StartingVersion != nil && *q.StartingVersion < 0:
		return badParam("startingVersion %d is negative", *q.StartingVersion)
	case q.EndingVersion != nil && q.StartingVersion == nil:
		return badParam("endingVersion needs startingVersion")
	case q.EndingVersion != nil && *q.EndingVersion < *q.StartingVersion:
		return badParam("startingVersion (%d) must not be greater than endingVersion (%d)", *q.StartingVersion, *q.EndingVersion)
	case q.LimitHint != nil && *q.LimitHint < 0:
		return badParam("limitHint %d is negative", *q.LimitHint)
	case q.MaxFiles != nil && *q.MaxFiles <= 0:
		return badParam("maxFiles must be positive")
	case q.IncludeRefreshToken != nil && *q.IncludeRefreshToken && n > 0:
		return badParam("includeRefreshToken cannot be used when querying a specific version")
	case q.IncludeRefreshToken != nil && *q.IncludeRefreshToken && q.PageToken != nil:
		return badParam("includeRefreshToken must be used in the first page request")
	case q.RefreshToken != nil && n > 0:
		return badParam("refreshToken cannot be used when querying a specific version")
	case q.RefreshToken != nil && q.PageToken != nil:
		return badParam("refreshToken must be used in the first page request")
	}
	return nil
}

// needHistory refuses version and time travel on a table shared without
// history, as the protocol says.
func needHistory(t sharedTable, what string) *apiError {
	if t.entry.WithHistory {
		return nil
	}
	return badParam("%s is not supported because history sharing is not enabled on table %s", what, t.label())
}

// openTable resolves the table of the request path and opens its store, for
// the endpoints that validate nothing else first.
func (c *call) openTable(segs []string) (sharedTable, objstore.Store, *apiError) {
	t, aerr := c.table(segs)
	if aerr != nil {
		return t, nil, aerr
	}
	st, aerr := c.open(t)
	return t, st, aerr
}

// open opens the table's store.
func (c *call) open(t sharedTable) (objstore.Store, *apiError) {
	if t.location == "" {
		return nil, internal(fmt.Errorf("table %s (%s) has no location", t.label(), t.entry.Table))
	}
	st, err := c.h.store(c.ctx, t.location)
	if err != nil {
		return nil, internal(fmt.Errorf("open table %s: %w", t.label(), err))
	}
	return st, nil
}

func (c *call) tableVersion(segs []string) (int, *apiError) {
	t, st, aerr := c.openTable(segs)
	if aerr != nil {
		return 0, aerr
	}
	commits, err := listCommits(c.ctx, st)
	if err != nil {
		return 0, internal(err)
	}
	var v int64
	if ts := c.r.URL.Query().Get("startingTimestamp"); ts != "" {
		if aerr := needHistory(t, "startingTimestamp"); aerr != nil {
			return 0, aerr
		}
		tm, aerr := parseTimestamp("startingTimestamp", ts)
		if aerr != nil {
			return 0, aerr
		}
		if v, aerr = versionAtOrAfter(commits, "startingTimestamp", tm); aerr != nil {
			return 0, aerr
		}
	} else {
		ts, aerr := c.loadAt(t, st, nil)
		if aerr != nil {
			return 0, aerr
		}
		v = ts.snap.Version
	}
	c.version = &v
	c.w.Header().Set("Delta-Table-Version", strconv.FormatInt(v, 10))
	c.w.WriteHeader(http.StatusOK)
	return http.StatusOK, nil
}

// loadAt loads the table's state at version (nil: latest), through the
// handler's snapshot cache: a cached state of that version as it is, else
// the newest cached older one updated with the commits after it, else a
// replay of the log. The reader features of sharedFeatures are allowed:
// the delta format passes them on, and chooseFormat decides who may be
// sent what.
func (c *call) loadAt(t sharedTable, st objstore.Store, version *int64) (*tableState, *apiError) {
	if version == nil {
		v, ok, err := c.h.latest.latest(c.ctx, st)
		if err != nil {
			return nil, internal(fmt.Errorf("table %s: %w", t.label(), err))
		}
		if !ok { // no log the quick way: let Load tell what is wrong
			snap, err := deltalog.Load(c.ctx, st, sharedFeatures)
			if err != nil {
				return nil, loadError(t, err)
			}
			return newTableState(snap, nil), nil
		}
		version = &v
	}
	key := snapshotKey(st.URI(), *version)
	if s := c.h.snapshots.get(key); s != nil {
		return s, nil
	}
	var snap *deltalog.Snapshot
	var err error
	base := c.h.snapshots.newestBefore(st.URI(), *version)
	if base != nil {
		snap, err = base.snap.Update(c.ctx, st, *version)
	} else {
		snap, err = deltalog.Load(c.ctx, st, deltalog.AtVersion(*version), sharedFeatures)
	}
	if err != nil {
		return nil, loadError(t, err)
	}
	s := newTableState(snap, base)
	c.h.snapshots.put(key, s)
	return s, nil
}

// timeTravel resolves a version or timestamp parameter to a version (nil:
// latest), refusing both on tables without history.
func (c *call) timeTravel(t sharedTable, st objstore.Store, version *int64, timestamp *string) (*int64, *apiError) {
	switch {
	case version != nil:
		if aerr := needHistory(t, "reading a table by version"); aerr != nil {
			return nil, aerr
		}
		return version, nil
	case timestamp != nil:
		if aerr := needHistory(t, "reading a table by timestamp"); aerr != nil {
			return nil, aerr
		}
		tm, aerr := parseTimestamp("timestamp", *timestamp)
		if aerr != nil {
			return nil, aerr
		}
		commits, err := listCommits(c.ctx, st)
		if err != nil {
			return nil, internal(err)
		}
		v, aerr := versionAtOrBefore(commits, "timestamp", tm)
		return &v, aerr
	}
	return nil, nil
}

func (c *call) metadata(segs []string) (int, *apiError) {
	t, st, aerr := c.openTable(segs)
	if aerr != nil {
		return 0, aerr
	}
	q := c.r.URL.Query()
	var version *int64
	var timestamp *string
	if v := q.Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, badParam("version %q is not a non-negative integer", v)
		}
		version = &n
	}
	if ts := q.Get("timestamp"); ts != "" {
		if version != nil {
			return 0, badParam("only one of version and timestamp may be given")
		}
		timestamp = &ts
	}
	at, aerr := c.timeTravel(t, st, version, timestamp)
	if aerr != nil {
		return 0, aerr
	}
	ts, aerr := c.loadAt(t, st, at)
	if aerr != nil {
		return 0, aerr
	}
	snap := ts.snap
	format, aerr := parseCapabilities(c.r.Header.Get(capsHeader)).chooseFormat(t, snap.Protocol, snap.Metadata)
	if aerr != nil {
		return 0, aerr
	}
	out := c.stream(format, snap.Version, false)
	out.protocol(snap.Protocol)
	size, n := t.filteredSize(ts)
	out.metadata(snap.Metadata, at, &size, &n)
	c.version = &snap.Version
	return out.finish()
}

// signed is a file action with its URL, and that of its deletion vector
// file if it has one.
type signed struct {
	f       fileAction
	url     string
	dvURL   string
	expires int64
}

// signOne signs a file's URL (and its deletion vector file's), counting
// it for the audit record and metrics.
func (c *call) signOne(t sharedTable, st objstore.Store, f fileAction) (signed, *apiError) {
	key, err := deltawriter.KeyForPath(f.path())
	if err != nil {
		return signed{}, internal(fmt.Errorf("table %s: %w", t.label(), err))
	}
	u, exp, err := c.h.signer.SignURL(c.ctx, File{TableID: t.entry.TableID, Store: st, Key: key}, c.h.urlTTL)
	if err != nil {
		return signed{}, internal(fmt.Errorf("table %s: %w", t.label(), err))
	}
	s := signed{f: f, url: u, expires: exp.UnixMilli()}
	if dv := f.deletionVector(); dv != nil && dv.StorageType != deltalog.DVInline {
		// The deletion vector file is handed out like the data file.
		dvKey, err := dv.Key(st)
		if err != nil {
			return signed{}, internal(fmt.Errorf("table %s: data file %s: %w", t.label(), key, err))
		}
		u, exp, err := c.h.signer.SignURL(c.ctx, File{TableID: t.entry.TableID, Store: st, Key: dvKey}, c.h.urlTTL)
		if err != nil {
			return signed{}, internal(fmt.Errorf("table %s: %w", t.label(), err))
		}
		s.dvURL, s.expires = u, min(s.expires, exp.UnixMilli())
	}
	if c.minExp == nil || s.expires < *c.minExp {
		c.minExp = &s.expires
	}
	if c.files == nil {
		c.files, c.bytes = new(int), new(int64)
	}
	*c.files++
	*c.bytes += f.size()
	c.h.files.Inc()
	c.h.bytes.Add(float64(f.size()))
	return s, nil
}

func (c *call) query(segs []string) (int, *apiError) {
	t, aerr := c.table(segs)
	if aerr != nil {
		return 0, aerr
	}
	q, aerr := decodeQuery(c.r)
	if aerr != nil {
		return 0, aerr
	}
	if aerr := q.validate(); aerr != nil {
		return 0, aerr
	}
	if c.idScheme, aerr = parseFileIDHash(c.r); aerr != nil {
		return 0, aerr
	}
	caps := parseCapabilities(c.r.Header.Get(capsHeader))
	st, aerr := c.open(t)
	if aerr != nil {
		return 0, aerr
	}
	if q.StartingVersion != nil {
		if aerr := needHistory(t, "reading table changes from startingVersion"); aerr != nil {
			return 0, aerr
		}
		w := changeRequest{start: *q.StartingVersion, end: q.EndingVersion, historical: true, historicalProtocol: q.historicalProtocol(),
			maxFiles: q.MaxFiles, pageToken: q.PageToken, params: q.pageParams()}
		return c.serveChanges(t, st, caps, w)
	}
	return c.snapshotQuery(t, st, caps, q)
}

func (c *call) snapshotQuery(t sharedTable, st objstore.Store, caps capabilities, q queryRequest) (int, *apiError) {
	var at *int64
	offset := 0
	switch {
	case q.PageToken != nil:
		tok, aerr := c.h.tokens.open(*q.PageToken, kindFiles, c.recipient, t.scope())
		if aerr != nil {
			return 0, aerr
		}
		if tok.Params != q.pageParams() {
			return 0, badParam("pageToken was issued for a query with other parameters: repeat the first page's predicateHints, jsonPredicateHints, limitHint, version and timestamp")
		}
		v := tok.Version
		at, offset = &v, tok.Offset
	case q.RefreshToken != nil:
		tok, aerr := c.h.tokens.open(*q.RefreshToken, kindRefresh, c.recipient, t.scope())
		if aerr != nil {
			return 0, aerr
		}
		v := tok.Version
		at = &v
	default:
		var aerr *apiError
		if at, aerr = c.timeTravel(t, st, q.Version, q.Timestamp); aerr != nil {
			return 0, aerr
		}
		if caps.async {
			if status, aerr, done := c.submitAsync(t, st, q, at); done {
				return status, aerr
			}
		}
	}
	ts, aerr := c.loadAt(t, st, at)
	if aerr != nil {
		return 0, aerr
	}
	return c.serveSnapshot(t, st, caps, q, ts, offset, q.pageParams())
}

// serveSnapshot streams the files of the table state ts that pass q's
// hints and limit, from offset, in pages of q.MaxFiles; page tokens carry
// params. The synchronous query and the result of an asynchronous one
// both answer through it.
func (c *call) serveSnapshot(t sharedTable, st objstore.Store, caps capabilities, q queryRequest, ts *tableState, offset int, params string) (int, *apiError) {
	snap := ts.snap
	format, aerr := caps.chooseFormat(t, snap.Protocol, snap.Metadata)
	if aerr != nil {
		return 0, aerr
	}
	keep := t.filter.keeper(ts.cols)
	filter := hintsFilter(q, ts.cols)
	var stats []*fileStats
	if filter != nil {
		stats = ts.fileStats()
	}
	var vp, tsp *int64
	if q.Version != nil || q.Timestamp != nil {
		v, ms := snap.Version, snap.Timestamp.UnixMilli()
		vp, tsp = &v, &ms
	}
	paged := q.MaxFiles != nil || q.PageToken != nil
	refresh := (q.IncludeRefreshToken != nil && *q.IncludeRefreshToken) || q.RefreshToken != nil
	end := caps.endStream || paged || refresh
	out := c.stream(format, snap.Version, end)
	out.protocol(snap.Protocol)
	size, n := t.filteredSize(ts)
	out.metadata(snap.Metadata, vp, &size, &n)
	// The files in path order that pass the hints, then the limit; of
	// those, the page from offset.
	var next string
	lim := limiter{limit: q.LimitHint}
	matched, emitted := 0, 0
	for i, f := range ts.files {
		var fs *fileStats
		if stats != nil {
			fs = stats[i]
		}
		if !keep(f.PartitionValues) || filter != nil && filter(f, fs) == no {
			continue
		}
		if !lim.keep(f, fs) {
			break
		}
		idx := matched
		matched++
		if idx < offset {
			continue
		}
		if q.MaxFiles != nil && emitted == *q.MaxFiles {
			next = c.h.tokens.seal(token{Kind: kindFiles, Recipient: c.recipient, Scope: t.scope(), Params: params,
				Version: snap.Version, Offset: idx, Expires: c.h.now().Add(c.h.tokenTTL).UnixMilli()})
			break
		}
		sg, aerr := c.signOne(t, st, fileAction{kind: "add", add: f, version: vp, ts: tsp})
		if aerr != nil {
			return out.fail(aerr)
		}
		out.file(sg, true)
		emitted++
	}
	if paged && offset > matched {
		return out.fail(badParam("pageToken is past the end of the query's files"))
	}
	if end {
		e := endStream{NextPageToken: next, MinURLExpirationTimestamp: c.minExp}
		if refresh {
			e.RefreshToken = c.h.tokens.seal(token{Kind: kindRefresh, Recipient: c.recipient, Scope: t.scope(),
				Version: snap.Version, Expires: c.h.now().Add(c.h.tokenTTL).UnixMilli()})
		}
		out.end(e)
	}
	c.version = &snap.Version
	return out.finish()
}

// filteredSize is the size and count of the files of ts the recipient's
// filter keeps (all of them without a filter): metadata tells no more.
func (t sharedTable) filteredSize(ts *tableState) (int64, int64) {
	if t.filter == nil {
		return ts.size, int64(len(ts.files))
	}
	keep := t.filter.keeper(ts.cols)
	var size, n int64
	for _, f := range ts.files {
		if keep(f.PartitionValues) {
			size += f.Size
			n++
		}
	}
	return size, n
}

// limiter keeps files, in order, until their live rows (numRecords from
// their stats, less the rows their deletion vectors delete) add up to the
// limit; files without stats are kept and count for nothing, so no fewer
// rows than asked are ever returned. A nil limit keeps every file.
type limiter struct {
	limit *int64
	rows  int64
}

// keep reports whether f is kept; st are its parsed stats, if parsed.
func (l *limiter) keep(f *deltalog.Add, st *fileStats) bool {
	if l.limit == nil {
		return true
	}
	if l.rows >= *l.limit {
		return false
	}
	if st == nil {
		st = numRecordsOnly(f.Stats)
	}
	var deleted int64
	if f.DeletionVector != nil {
		deleted = f.DeletionVector.Cardinality
	}
	if n, ok := liveRows(st, deleted); ok {
		l.rows += n
	}
	return true
}
