package sharing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// Asynchronous queries (the asyncquery capability). A client that sends
// delta-sharing-capabilities: asyncquery=true with a snapshot query of a
// large table (more files than the threshold, or a table with no cached
// snapshot to count them) gets a query id at once; the snapshot is loaded
// in the background, and POST .../queries/{id} answers "pending" until it
// is loaded, then the query's files, paged like a synchronous query.
//
// A query is a few hundred bytes: the request, the recipient, the table
// and the version it was pinned to at submission. Its files are streamed
// from the cached snapshot at each fetch, never kept. It is bound to the
// recipient and the table (anyone else gets the 404 of an unknown id), the
// recipient's access to the table is checked again on every fetch, and it
// lives for the token lifetime from its submission. Queries live in the
// process: after a restart every id is unknown (404) and the client submits
// again.

// DefaultAsyncThreshold is the number of files above which a query asked
// with asyncquery=true is answered asynchronously.
const DefaultAsyncThreshold = 10000

// maxAsyncPerRecipient bounds the live asynchronous queries of one
// recipient.
const maxAsyncPerRecipient = 64

// WithAsyncThreshold sets the number of files above which a client that
// allows it is answered asynchronously (DefaultAsyncThreshold); 0 answers
// every such query asynchronously, a negative value none.
func WithAsyncThreshold(n int) Option { return func(h *Handler) { h.asyncThreshold = n } }

// asyncQuery is one submitted query.
type asyncQuery struct {
	id        string
	recipient string
	scope     string // the table's, as in tokens
	key       string // idempotency key ("" without)
	params    string // q.pageParams(), for the idempotency check
	q         queryRequest
	version   int64
	expires   time.Time
	done      chan struct{} // closed when the snapshot is loaded or failed
	err       *apiError     // set before done closes, on failure
}

// asyncQueries holds the live queries.
type asyncQueries struct {
	mu    sync.Mutex
	byID  map[string]*asyncQuery
	byKey map[string]*asyncQuery // recipient, scope, idempotency key
}

func idemKey(recipient, scope, key string) string { return recipient + "\x00" + scope + "\x00" + key }

// expire drops the queries expired at now; the lock is held.
func (a *asyncQueries) expire(now time.Time) {
	for id, q := range a.byID {
		if !now.Before(q.expires) {
			delete(a.byID, id)
			if q.key != "" {
				delete(a.byKey, idemKey(q.recipient, q.scope, q.key))
			}
		}
	}
}

// lookup returns the live query id of recipient on the table scope, or nil.
func (a *asyncQueries) lookup(id, recipient, scope string, now time.Time) *asyncQuery {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.byID[id]
	if q == nil || q.recipient != recipient || q.scope != scope || !now.Before(q.expires) {
		return nil
	}
	return q
}

// submitAsync answers a snapshot query asynchronously when it is large
// enough; done is false when the caller answers it synchronously.
func (c *call) submitAsync(t sharedTable, st objstore.Store, q queryRequest, at *int64) (status int, aerr *apiError, done bool) {
	h := c.h
	if h.asyncThreshold < 0 {
		return 0, nil, false
	}
	var version int64
	if at != nil {
		version = *at
	} else {
		v, ok, err := h.latest.latest(c.ctx, st)
		if err != nil {
			return 0, internal(fmt.Errorf("table %s: %w", t.label(), err)), true
		}
		if !ok {
			return 0, nil, false // no log the quick way: the synchronous path tells what is wrong
		}
		version = v
	}
	// The size of the answer is the snapshot's file count, known when a
	// snapshot of the table is cached; without one, loading it is the slow
	// part, which is what an asynchronous query is for.
	if s := h.snapshots.newestBefore(st.URI(), version+1); s != nil && len(s.files) <= h.asyncThreshold {
		return 0, nil, false
	}
	now := h.now()
	key := q.idempotencyKey()
	h.async.mu.Lock()
	h.async.expire(now)
	if key != "" {
		if old := h.async.byKey[idemKey(c.recipient, t.scope(), key)]; old != nil {
			h.async.mu.Unlock()
			if old.params != q.pageParams() {
				return 0, badParam("idempotencyKey %q was used for a query with other parameters on table %s: use a new key for a new query", key, t.label()), true
			}
			return c.writeQueryStatus(old), nil, true
		}
	}
	n := 0
	for _, o := range h.async.byID {
		if o.recipient == c.recipient {
			n++
		}
	}
	if n >= maxAsyncPerRecipient {
		h.async.mu.Unlock()
		return 0, &apiError{status: http.StatusTooManyRequests, code: codeTooMany, msg: fmt.Sprintf(
			"recipient %s has %d asynchronous queries in progress, the most it may have: fetch their results or wait until they expire (%v after submission)", c.recipient, n, h.tokenTTL)}, true
	}
	idb := make([]byte, 16)
	rand.Read(idb)
	stored := q
	stored.MaxFiles, stored.PageToken = nil, nil // the fetch asks its pages
	aq := &asyncQuery{id: hex.EncodeToString(idb), recipient: c.recipient, scope: t.scope(), key: key, params: q.pageParams(),
		q: stored, version: version, expires: now.Add(h.tokenTTL), done: make(chan struct{})}
	h.async.byID[aq.id] = aq
	if key != "" {
		h.async.byKey[idemKey(c.recipient, t.scope(), key)] = aq
	}
	h.async.mu.Unlock()
	go h.runAsync(t, st, aq)
	return c.writeQueryStatus(aq), nil, true
}

// runAsync loads the query's snapshot into the cache (and its parsed
// statistics, for hints), then marks the query done.
func (h *Handler) runAsync(t sharedTable, st objstore.Store, aq *asyncQuery) {
	defer close(aq.done)
	// The query's lifetime, on the real clock (the loading is real work).
	ctx, cancel := context.WithTimeout(context.Background(), h.tokenTTL)
	defer cancel()
	bg := &call{h: h, ctx: ctx, recipient: aq.recipient, name: "query", path: t.label()}
	ts, aerr := bg.loadAt(t, st, &aq.version)
	if aerr != nil {
		if aerr.status >= 500 {
			h.log.Error("asynchronous query failed", "recipient", aq.recipient, "path", t.label(), "query", aq.id, "err", aerr.Error())
		}
		aq.err = aerr
		return
	}
	if hintsFilter(aq.q, ts.cols) != nil {
		ts.fileStats()
	}
}

// queryStatusLine is the protocol's QueryStatus.
type queryStatusLine struct {
	QueryID      string `json:"queryId"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// writeQueryStatus answers the status of aq: pending, or failed with its
// error.
func (c *call) writeQueryStatus(aq *asyncQuery) int {
	line := queryStatusLine{QueryID: aq.id, Status: "pending"}
	select {
	case <-aq.done:
		if aq.err != nil {
			line.Status, line.ErrorMessage = "failed", aq.err.code+": "+aq.err.msg
		}
	default:
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/x-ndjson; charset=utf-8")
	h.Set(capsHeader, "asyncquery=true")
	c.w.WriteHeader(http.StatusOK)
	out := c.stream("", 0, false)
	out.value(map[string]any{"queryStatus": line})
	c.w.Write(out.buf)
	return http.StatusOK
}

// queryInfoRequest is the body of POST .../queries/{queryId}.
type queryInfoRequest struct {
	MaxFiles  *int    `json:"maxFiles,omitempty"`
	PageToken *string `json:"pageToken,omitempty"`
}

// queryInfo answers POST .../queries/{queryId}: the status of a pending
// or failed query, or the files of a done one.
func (c *call) queryInfo(segs []string) (int, *apiError) {
	t, aerr := c.table(segs) // the recipient's access, checked again
	if aerr != nil {
		return 0, aerr
	}
	id := segs[7]
	aq := c.h.async.lookup(id, c.recipient, t.scope(), c.h.now())
	if aq == nil {
		return 0, &apiError{status: http.StatusNotFound, code: codeNotFound, msg: fmt.Sprintf(
			"query %s does not exist on table %s or has expired: submit the query again", id, t.label())}
	}
	var body queryInfoRequest
	if aerr := decodeBody(c.r, &body, "query info request (a JSON object with maxFiles, pageToken)"); aerr != nil {
		return 0, aerr
	}
	if body.MaxFiles != nil && *body.MaxFiles <= 0 {
		return 0, badParam("maxFiles must be positive")
	}
	if c.idScheme, aerr = parseFileIDHash(c.r); aerr != nil {
		return 0, aerr
	}
	select {
	case <-aq.done:
	default:
		return c.writeQueryStatus(aq), nil
	}
	if aq.err != nil {
		return c.writeQueryStatus(aq), nil
	}
	q := aq.q
	q.MaxFiles, q.PageToken = body.MaxFiles, body.PageToken
	params := "async:" + aq.id + ":" + aq.params // pages of this query only
	offset := 0
	if q.PageToken != nil {
		tok, aerr := c.h.tokens.open(*q.PageToken, kindFiles, c.recipient, t.scope())
		if aerr != nil {
			return 0, aerr
		}
		if tok.Params != params || tok.Version != aq.version {
			return 0, badParam("pageToken was issued for another query: use the tokens of this query's answers")
		}
		offset = tok.Offset
	}
	st, aerr := c.open(t)
	if aerr != nil {
		return 0, aerr
	}
	ts, aerr := c.loadAt(t, st, &aq.version) // cached by the load, unless evicted since
	if aerr != nil {
		return 0, aerr
	}
	return c.serveSnapshot(t, st, parseCapabilities(c.r.Header.Get(capsHeader)), q, ts, offset, params)
}
