package sharing

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// changeRequest is a window of versions to read the changes of.
type changeRequest struct {
	start      int64
	end        *int64 // nil: the latest version
	historical bool   // include metaData lines of later versions
	// historicalProtocol: include the protocol lines of later versions,
	// each protocol line with its version (delta format only)
	historicalProtocol bool
	cdf                bool // the changes endpoint: cdc files when a commit has them
	maxFiles           *int
	pageToken          *string
	params             string // hash of the parameters a page token is bound to

	includeRefresh bool    // hand out a refresh token (changes endpoint)
	refreshToken   *string // the window of an earlier request, new URLs
}

// change is one line after the header of a changes response: a file, or a
// table's metadata as of a later version.
type change struct {
	file  *fileAction
	meta  *deltalog.Metadata
	proto *deltalog.Protocol
	ver   int64
}

func (c *call) changes(segs []string) (int, *apiError) {
	t, aerr := c.table(segs)
	if aerr != nil {
		return 0, aerr
	}
	if aerr := needHistory(t, "reading the change data feed"); aerr != nil {
		return 0, aerr
	}
	if c.idScheme, aerr = parseFileIDHash(c.r); aerr != nil {
		return 0, aerr
	}
	q := c.r.URL.Query()
	get := func(k string) (string, bool) { return q.Get(k), q.Has(k) }
	sv, hasSV := get("startingVersion")
	sts, hasSTS := get("startingTimestamp")
	ev, hasEV := get("endingVersion")
	ets, hasETS := get("endingTimestamp")
	switch {
	case hasSV && hasSTS:
		return 0, badParam("give startingVersion or startingTimestamp, not both")
	case !hasSV && !hasSTS:
		return 0, badParam("startingVersion or startingTimestamp is required")
	case hasEV && hasETS:
		return 0, badParam("give endingVersion or endingTimestamp, not both")
	}
	w := changeRequest{cdf: true}
	w.historical, _ = strconv.ParseBool(q.Get("includeHistoricalMetadata"))
	w.historicalProtocol, _ = strconv.ParseBool(q.Get("includeHistoricalProtocol"))
	if v, ok := get("maxFiles"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, badParam("maxFiles must be a positive integer, not %q", v)
		}
		w.maxFiles = &n
	}
	if v, ok := get("pageToken"); ok && v != "" {
		w.pageToken = &v
	}
	w.includeRefresh, _ = strconv.ParseBool(q.Get("includeRefreshToken"))
	if v, ok := get("refreshToken"); ok && v != "" {
		w.refreshToken = &v
	}
	switch {
	case w.refreshToken != nil && w.pageToken != nil:
		return 0, badParam("refreshToken must be used in the first page request")
	case w.includeRefresh && w.pageToken != nil:
		return 0, badParam("includeRefreshToken must be used in the first page request")
	}
	params := []any{sv, sts, ev, ets, w.historical}
	if w.historicalProtocol { // only when set: tokens issued before it existed stay valid
		params = append(params, true)
	}
	w.params = paramsHash(params)
	st, aerr := c.open(t)
	if aerr != nil {
		return 0, aerr
	}
	var commits []commit
	if hasSTS || hasETS {
		var err error
		if commits, err = listCommits(c.ctx, st); err != nil {
			return 0, internal(err)
		}
	}
	if hasSV {
		n, err := strconv.ParseInt(sv, 10, 64)
		if err != nil || n < 0 {
			return 0, badParam("startingVersion %q is not a non-negative integer", sv)
		}
		w.start = n
	} else {
		tm, aerr := parseTimestamp("startingTimestamp", sts)
		if aerr != nil {
			return 0, aerr
		}
		if w.start, aerr = versionAtOrAfter(commits, "startingTimestamp", tm); aerr != nil {
			return 0, aerr
		}
	}
	switch {
	case hasEV:
		n, err := strconv.ParseInt(ev, 10, 64)
		if err != nil || n < 0 {
			return 0, badParam("endingVersion %q is not a non-negative integer", ev)
		}
		w.end = &n
	case hasETS:
		tm, aerr := parseTimestamp("endingTimestamp", ets)
		if aerr != nil {
			return 0, aerr
		}
		n, aerr := versionAtOrBefore(commits, "endingTimestamp", tm)
		if aerr != nil {
			return 0, aerr
		}
		w.end = &n
	}
	if w.end != nil && *w.end < w.start {
		return 0, badParam("the starting version (%d) must not be greater than the ending version (%d)", w.start, *w.end)
	}
	return c.serveChanges(t, st, parseCapabilities(c.r.Header.Get(capsHeader)), w)
}

// serveChanges answers the changes of versions w.start..w.end: the changes
// endpoint and queries with startingVersion.
func (c *call) serveChanges(t sharedTable, st objstore.Store, caps capabilities, w changeRequest) (int, *apiError) {
	kind := kindFiles
	if w.cdf {
		kind = kindChanges
	}
	offset := 0
	if w.pageToken != nil {
		tok, aerr := c.h.tokens.open(*w.pageToken, kind, c.recipient, t.scope())
		if aerr != nil {
			return 0, aerr
		}
		if tok.Params != w.params {
			return 0, badParam("pageToken was issued for a request with other parameters: repeat the first page's parameters")
		}
		end := tok.End
		w.start, w.end, offset = tok.Start, &end, tok.Offset
	}
	if w.refreshToken != nil {
		tok, aerr := c.h.tokens.open(*w.refreshToken, kindRefreshChanges, c.recipient, t.scope())
		if aerr != nil {
			return 0, aerr
		}
		if tok.Params != w.params {
			return 0, badParam("refreshToken was issued for a request with other parameters: repeat them")
		}
		end := tok.End
		w.start, w.end = tok.Start, &end
	}
	commits, err := listCommits(c.ctx, st)
	if err != nil {
		return 0, internal(err)
	}
	if len(commits) == 0 {
		return 0, internal(fmt.Errorf("table %s: %w", t.label(), deltalog.ErrNotATable))
	}
	latest := commits[len(commits)-1].version
	if w.start > latest {
		return 0, badParam("starting version %d is after the latest version of table %s (%d)", w.start, t.label(), latest)
	}
	end := latest
	if w.end != nil && *w.end < latest {
		end = *w.end
	}
	times := make(map[int64]int64, len(commits))
	for _, cm := range commits {
		times[cm.version] = cm.ms
	}
	if _, ok := times[w.start]; !ok {
		return 0, badParam("version %d of table %s is no longer in its log (the earliest is %d)", w.start, t.label(), commits[0].version)
	}
	first, aerr := c.loadAt(t, st, &w.start)
	if aerr != nil {
		return 0, aerr
	}
	snap := first.snap
	format, aerr := caps.chooseFormat(t, snap.Protocol, snap.Metadata)
	if aerr != nil {
		return 0, aerr
	}
	if format == formatParquet && end > w.start {
		// Deletion vectors enabled within the window are refused too.
		last, aerr := c.loadAt(t, st, &end)
		if aerr != nil {
			return 0, aerr
		}
		if _, aerr := caps.chooseFormat(t, last.snap.Protocol, last.snap.Metadata); aerr != nil {
			return 0, aerr
		}
	}
	paged := w.maxFiles != nil || w.pageToken != nil
	refresh := w.includeRefresh || w.refreshToken != nil
	endStreamLine := caps.endStream || paged || refresh
	out := c.stream(format, w.start, endStreamLine)
	// includeHistoricalProtocol affects the delta format only; there
	// every protocol line carries its version.
	w.historicalProtocol = w.historicalProtocol && format == formatDelta
	var protoVersion *int64
	if w.historicalProtocol {
		protoVersion = &w.start
	}
	out.protocolAt(changesProtocol(snap.Protocol, w.cdf), protoVersion)
	start := w.start
	out.metadata(changesMetadata(snap.Metadata, w.cdf), &start, nil, nil)
	// The changes in order; of those, the page from offset, cut before
	// the file after maxFiles files.
	idx, files, next := 0, 0, ""
	keep := t.filter.keeper(first.cols)
	aerr = c.eachChange(t, st, w, end, times, func(ch change) (bool, *apiError) {
		if ch.file != nil && !keep(ch.file.partitionValues()) {
			return true, nil // outside the recipient's filter: not even counted
		}
		i := idx
		idx++
		switch {
		case i < offset:
			return true, nil
		case ch.meta != nil:
			v := ch.ver
			out.metadata(changesMetadata(*ch.meta, w.cdf), &v, nil, nil)
			return true, nil
		case ch.proto != nil:
			v := ch.ver
			out.protocolAt(changesProtocol(*ch.proto, w.cdf), &v)
			return true, nil
		case w.maxFiles != nil && files == *w.maxFiles:
			next = c.h.tokens.seal(token{Kind: kind, Recipient: c.recipient, Scope: t.scope(), Params: w.params,
				Start: w.start, End: end, Offset: i, Expires: c.h.now().Add(c.h.tokenTTL).UnixMilli()})
			return false, nil
		}
		sg, aerr := c.signOne(t, st, *ch.file)
		if aerr != nil {
			return false, aerr
		}
		out.file(sg, false)
		files++
		return true, nil
	})
	if aerr != nil {
		return out.fail(aerr)
	}
	if paged && offset > idx {
		return out.fail(badParam("pageToken is past the end of the changes"))
	}
	if endStreamLine {
		e := endStream{NextPageToken: next, MinURLExpirationTimestamp: c.minExp}
		if refresh {
			// The window is pinned: a refresh gives the same files even
			// when the table has moved on.
			e.RefreshToken = c.h.tokens.seal(token{Kind: kindRefreshChanges, Recipient: c.recipient, Scope: t.scope(), Params: w.params,
				Start: w.start, End: end, Expires: c.h.now().Add(c.h.tokenTTL).UnixMilli()})
		}
		out.end(e)
	}
	c.version = &w.start
	return out.finish()
}

// changesMetadata is the metadata served with a change data feed: the
// feed is made from the log's add and remove actions (and cdc files where
// a commit has them), which is what a table with delta.enableChangeDataFeed
// holds, so the property is set for readers (delta-kernel) that check it.
func changesMetadata(m deltalog.Metadata, cdf bool) deltalog.Metadata {
	if !cdf {
		return m
	}
	conf := make(map[string]string, len(m.Configuration)+1)
	for k, v := range m.Configuration {
		conf[k] = v
	}
	conf["delta.enableChangeDataFeed"] = "true"
	m.Configuration = conf
	return m
}

// changesProtocol is the protocol served with a change data feed: one
// that allows delta.enableChangeDataFeed (writer version 4, or the
// changeDataFeed feature at 7), which readers (delta-kernel) check.
func changesProtocol(p deltalog.Protocol, cdf bool) deltalog.Protocol {
	switch {
	case !cdf:
	case p.MinWriterVersion < 4:
		p.MinWriterVersion = 4
	case p.MinWriterVersion >= 7 && !slices.Contains(p.WriterFeatures, "changeDataFeed"):
		p.WriterFeatures = append(slices.Clone(p.WriterFeatures), "changeDataFeed")
	}
	return p
}

// eachChange reads the commits start..end, one at a time, and calls fn
// with each change in order until it returns false: per commit, its cdc
// files if it has any and the request is for the change data feed,
// otherwise its adds (inserted rows) and removes (deleted rows) that
// change data; and, with historical, the metadata of later commits that
// change it (with historicalProtocol, their protocol too, first).
func (c *call) eachChange(t sharedTable, st objstore.Store, w changeRequest, end int64, times map[int64]int64, fn func(change) (bool, *apiError)) *apiError {
	for v := w.start; v <= end; v++ {
		ms, ok := times[v]
		if !ok {
			return badParam("version %d of table %s is no longer in its log", v, t.label())
		}
		b, err := objstore.ReadAll(c.ctx, st, deltalog.CommitKey(v))
		if errors.Is(err, objstore.ErrNotExist) {
			return badParam("version %d of table %s is no longer in its log", v, t.label())
		}
		if err != nil {
			return internal(fmt.Errorf("table %s: read commit %d: %w", t.label(), v, err))
		}
		acts, err := deltalog.ParseActions(b)
		if err != nil {
			return internal(fmt.Errorf("table %s: commit %d: %w", t.label(), v, err))
		}
		ver, ts := v, ms
		var metas, cdcs, data []change
		for _, a := range acts {
			switch {
			case a.Protocol != nil && v > w.start && w.historicalProtocol:
				// Before the commit's metadata: a reader checks it can
				// read the version before reading anything of it.
				metas = append([]change{{proto: a.Protocol, ver: v}}, metas...)
			case a.MetaData != nil && v > w.start && w.historical:
				metas = append(metas, change{meta: a.MetaData, ver: v})
			case a.CDC != nil:
				cdcs = append(cdcs, change{file: &fileAction{kind: "cdc", cdc: a.CDC, version: &ver, ts: &ts}})
			case a.Add != nil && a.Add.DataChange:
				data = append(data, change{file: &fileAction{kind: "add", add: a.Add, version: &ver, ts: &ts}})
			case a.Remove != nil && a.Remove.DataChange:
				data = append(data, change{file: &fileAction{kind: "remove", remove: a.Remove, version: &ver, ts: &ts}})
			}
		}
		if w.cdf && len(cdcs) > 0 {
			data = cdcs
		}
		for _, ch := range append(metas, data...) {
			if more, aerr := fn(ch); aerr != nil || !more {
				return aerr
			}
		}
	}
	return nil
}
