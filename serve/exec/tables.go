package exec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/policy"
)

// StorageTimeout bounds what one statement does in object storage: reading
// the Delta log of a LOCATION, deleting the files of a purged table.
const StorageTimeout = 2 * time.Minute

// WithStoreOptions passes options to objstore.Open when the executor opens
// a table's location (CREATE TABLE ... LOCATION, DROP TABLE ... PURGE): S3
// endpoint, credentials, path style.
func WithStoreOptions(opts ...objstore.OpenOption) Option {
	return func(e *Executor) { e.storeOpts = append(e.storeOpts, opts...) }
}

// prepared is what a statement needs from outside the catalog, fetched
// before its catalog transaction so that no object-store request runs
// while the catalog's write lock is held.
type prepared struct {
	// snap is the Delta table found at the LOCATION of a CREATE TABLE,
	// and location that LOCATION as the catalog records it (a plain path
	// as its file:// URI).
	snap     *deltalog.Snapshot
	location string
	// registry holds the columns of a CREATE STREAM without a column
	// list, read from its store's Schema Registry (prefetchColumns).
	registry *prefetched
}

// prepare does the work a statement needs outside the catalog: the registry
// columns of a CREATE STREAM without a column list (prefetchColumns), and
// the Delta log of CREATE TABLE ... LOCATION, which is authorized first, in a read
// transaction, so that a denied principal causes no request to storage
// (the statement's transaction then decides again, so such a statement
// makes two audited decisions).
func (e *Executor) prepare(ctx context.Context, who Principal, s sqlparse.Statement) (*prepared, error) {
	if reg := e.prefetchColumns(ctx, s); reg != nil {
		return &prepared{registry: reg}, nil
	}
	if as, ok := s.(*sqlparse.AlterShare); ok {
		return e.prepareShareFilter(ctx, who, as)
	}
	ct, ok := s.(*sqlparse.CreateTable)
	if !ok || ct.Location == nil {
		return nil, nil
	}
	var (
		p    []string
		skip bool
	)
	err := e.cat.View(ctx, func(tx *catalog.Tx) error {
		r := &run{e: e, ctx: ctx, tx: tx, who: who, stmt: s}
		var err error
		p, skip, err = r.authorizeCreate(object.KindTable, ct.Name, ct.IfNotExists)
		return err
	})
	if err != nil || skip {
		return nil, err
	}
	name := strings.Join(p, ".")
	loc, err := checkLocation(ct.Location.Value)
	if err != nil {
		return nil, invalid("table %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, StorageTimeout)
	defer cancel()
	snap, err := e.loadTable(ctx, loc)
	if err != nil {
		return nil, invalid("table %s: %v", name, err)
	}
	location := ct.Location.Value
	if !strings.Contains(location, "://") {
		location = loc.String() // a plain path is kept as the file:// URI it means
	}
	return &prepared{snap: snap, location: location}, nil
}

// prepareShareFilter reads the Delta log of a table registered with
// LOCATION that ALTER SHARE ... ADD TABLE ... WHERE shares, for its
// partition columns, after authorizing the statement in a read transaction
// (ALTER on the share, SELECT on the table).
func (e *Executor) prepareShareFilter(ctx context.Context, who Principal, s *sqlparse.AlterShare) (*prepared, error) {
	if s.Where == nil || s.Action != "ADD" {
		return nil, nil
	}
	var rel catalog.Relation
	err := e.cat.View(ctx, func(tx *catalog.Tx) error {
		r := &run{e: e, ctx: ctx, tx: tx, who: who, stmt: s}
		if _, err := r.authorizeOn(policy.ActionAlter, object.KindShare, oneName(s.Share.Name)); err != nil {
			return err
		}
		t, err := r.authorizeOn(policy.ActionSelect, object.KindTable, s.Table)
		if err != nil {
			return err
		}
		rel, err = tx.GetRelation(t[0], t[1], t[2])
		return err
	})
	if err != nil || !rel.External {
		return nil, err
	}
	loc, err := checkLocation(rel.Location)
	if err != nil {
		return nil, invalid("table %s: %v", rel.Path(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, StorageTimeout)
	defer cancel()
	snap, err := e.loadTable(ctx, loc)
	if err != nil {
		return nil, invalid("table %s: %v", rel.Path(), err)
	}
	return &prepared{snap: snap, location: rel.Location}, nil
}

// checkLocation checks the URI of an existing table and returns it parsed:
// file:///absolute/path, s3://bucket/prefix or an absolute directory path
// (returned as its file:// URI, as `sluice delta inspect` takes it), with
// no "." or ".." component, no empty component and no control character.
// A relative path is refused: the server's working directory is no
// meaningful base.
func checkLocation(loc string) (*url.URL, error) {
	bad := func(why string) error {
		return fmt.Errorf("LOCATION %q: %s; want /absolute/path, file:///absolute/path or s3://bucket/prefix", loc, why)
	}
	if i := strings.IndexFunc(loc, unicode.IsControl); i >= 0 {
		return nil, bad(fmt.Sprintf("control character at byte %d", i))
	}
	uri := loc
	if !strings.Contains(loc, "://") {
		if !filepath.IsAbs(loc) {
			return nil, bad("a relative path, which the server does not resolve against its working directory: write it from the root")
		}
		p := strings.TrimRight(filepath.ToSlash(loc), "/")
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // the root, or a Windows volume: file:///C:/...
		}
		uri = (&url.URL{Scheme: "file", Path: p}).String()
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, bad("not a URI")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, bad("no user, query or fragment allowed")
	}
	var path string
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, bad(fmt.Sprintf("a file URI names a local path, not host %q", u.Host))
		}
		if !strings.HasPrefix(u.Path, "/") || u.Path == "/" {
			return nil, bad("a file URI needs an absolute path below the root")
		}
		path = strings.TrimPrefix(u.Path, "/")
	case "s3":
		if !validBucket(u.Host) {
			return nil, bad(fmt.Sprintf("invalid bucket name %q", u.Host))
		}
		path = strings.TrimPrefix(u.Path, "/")
		if path == "" {
			return u, nil
		}
	case "":
		return nil, bad("no scheme")
	default:
		return nil, bad(fmt.Sprintf("unsupported scheme %q", u.Scheme))
	}
	for _, seg := range strings.Split(strings.TrimSuffix(path, "/"), "/") {
		switch {
		case seg == "":
			return nil, bad("empty path component")
		case seg == "." || seg == "..":
			return nil, bad(fmt.Sprintf("%q path component", seg))
		case strings.ContainsAny(seg, `\`):
			return nil, bad("backslash in path")
		case strings.IndexFunc(seg, unicode.IsControl) >= 0:
			return nil, bad("control character in path")
		}
	}
	return u, nil
}

// checkTableLocation checks where a query is to write its table: a URI as
// checkLocation takes, or a directory path (relative to the worker's
// directory, or absolute), in either case below a root (a bucket, the
// file system's root) and with no "." or ".." component.
func checkTableLocation(loc string) error {
	if strings.Contains(loc, "://") {
		u, err := checkLocation(loc)
		if err == nil && strings.Trim(u.Path, "/") == "" {
			err = fmt.Errorf("location %q is the root of bucket %s: give a prefix below it, s3://%s/<prefix>", loc, u.Host, u.Host)
		}
		return err
	}
	bad := func(why string) error {
		return fmt.Errorf("location %q: %s; want a directory path, file:///absolute/path or s3://bucket/prefix", loc, why)
	}
	if i := strings.IndexFunc(loc, unicode.IsControl); i >= 0 {
		return bad(fmt.Sprintf("control character at byte %d", i))
	}
	path := strings.Trim(filepath.ToSlash(loc), "/")
	if path == "" {
		return bad("a root")
	}
	for _, seg := range strings.Split(path, "/") {
		switch seg {
		case "":
			return bad("empty path component")
		case ".", "..":
			return bad(fmt.Sprintf("%q path component", seg))
		}
	}
	return nil
}

// validBucket reports whether b is a valid S3 bucket name: 3 to 63
// lower-case letters, digits, '.' and '-', starting and ending with a letter
// or digit.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return true
}

// loadTable opens the Delta table at loc and checks that Sluice can read
// it, with errors that say what is wrong there.
func (e *Executor) loadTable(ctx context.Context, loc *url.URL) (*deltalog.Snapshot, error) {
	uri := loc.String()
	if strings.EqualFold(loc.Scheme, "file") {
		// objstore creates a missing local root; a location to register
		// must already be there.
		fi, err := os.Stat(filepath.FromSlash(loc.Path))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("no Delta table at %s: the directory does not exist", uri)
		case err != nil:
			return nil, fmt.Errorf("no Delta table at %s: %v", uri, err)
		case !fi.IsDir():
			return nil, fmt.Errorf("no Delta table at %s: not a directory (give the table's root, the directory holding _delta_log)", uri)
		}
	}
	st, err := objstore.Open(ctx, uri, e.storeOpts...)
	if err != nil {
		return nil, err
	}
	// Accepted: what the sharing server serves (in the delta format to
	// clients naming the features), even if Sluice reads no rows of it.
	snap, err := deltalog.Load(ctx, st, deltalog.WithFeatures(deltalog.PassThroughFeatures...))
	var uf *deltalog.UnsupportedFeatureError
	switch {
	case errors.Is(err, deltalog.ErrNotATable):
		return nil, fmt.Errorf("no Delta table at %s: _delta_log is empty or missing (give the table's root, the directory holding _delta_log)", uri)
	case errors.As(err, &uf):
		return nil, fmt.Errorf("the Delta table at %s cannot be registered: %v", uri, uf)
	case err != nil:
		return nil, fmt.Errorf("cannot read the Delta table at %s (check the location, the table's log and the server's storage credentials): %w", uri, err)
	}
	if err := deltalog.CheckReadable(&snap.Protocol, &snap.Metadata, deltalog.PassThroughFeatures...); err != nil {
		return nil, fmt.Errorf("the Delta table at %s cannot be registered: %w", uri, err)
	}
	return snap, nil
}

// registerTable records the table found at a LOCATION, its columns taken
// from the table's schema.
func (r *run) registerTable(s *sqlparse.CreateTable, p []string, props map[string]string) (Result, error) {
	name := strings.Join(p, ".")
	if r.pre == nil || r.pre.snap == nil {
		// prepare found the table already there (IF NOT EXISTS) and it has
		// been dropped since.
		return Result{}, &catalog.Error{Class: catalog.ErrInUse, Msg: fmt.Sprintf("table %s changed while its location was read: run the statement again", name)}
	}
	snap := r.pre.snap
	rel := catalog.Relation{Database: p[0], Schema: p[1], Name: p[2], Kind: object.KindTable,
		Location: r.pre.location, External: true, Properties: props}
	for _, f := range snap.Schema.Fields {
		if err := catalog.ValidateName("column", f.Name); err != nil {
			return Result{}, invalid("table %s: the Delta table at %s cannot be registered: %v (Sluice names columns with letters, digits and _)", name, rel.Location, err)
		}
		rel.Columns = append(rel.Columns, catalog.Column{Name: f.Name, Type: deltalog.FormatType(f.Type), Nullable: f.Nullable})
	}
	if _, err := r.tx.CreateRelation(rel); err != nil {
		return Result{}, err
	}
	if Upkept(rel) {
		return msg("table %s registered at %s (version %d, %d columns; not copied; with %s, the upkeep loop compacts, cleans and vacuums it)",
			name, rel.Location, snap.Version, len(rel.Columns), UpkeepProperty), nil
	}
	return msg("table %s registered at %s (version %d, %d columns; not copied: Sluice reads it and does not write it)",
		name, rel.Location, snap.Version, len(rel.Columns)), nil
}

// dropTable drops a table; its query is terminated (the supervisor stops
// the worker). With PURGE the table's files are deleted once the drop has
// committed; a table registered with LOCATION is refused.
func (r *run) dropTable(s *sqlparse.Drop, p []string) (Result, error) {
	name := strings.Join(p, ".")
	if s.Purge {
		rel, err := r.tx.GetRelation(p[0], p[1], p[2])
		if err != nil {
			return Result{}, err
		}
		if rel.External {
			return Result{}, invalid("table %s was registered with LOCATION %s: Sluice did not create its files and will not delete them (other tables or tools may use them); drop it without PURGE and delete the files with the tool that wrote them", name, rel.Location)
		}
		if err := purgeable(rel.Location); err != nil {
			return Result{}, invalid("table %s: %v; drop it without PURGE and delete its files by hand", name, err)
		}
	}
	rel, err := r.tx.DropTable(p[0], p[1], p[2])
	if err != nil {
		return Result{}, err
	}
	m := fmt.Sprintf("table %s dropped", rel.Path())
	if rel.QueryID != "" {
		m += fmt.Sprintf("; query %s terminated", rel.QueryID)
	}
	if !s.Purge {
		return Result{Message: m + fmt.Sprintf("; its files stay at %s", rel.Location)}, nil
	}
	r.after = func(ctx context.Context) error {
		// The drop has committed: finish the purge even if the client
		// goes away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StorageTimeout)
		defer cancel()
		if err := r.e.purge(ctx, rel.Location); err != nil {
			return fmt.Errorf("table %s was dropped, but purging its files failed: %w; delete what remains under %s by hand", rel.Path(), err, rel.Location)
		}
		return nil
	}
	return Result{Message: m + fmt.Sprintf("; its files at %s purged", rel.Location)}, nil
}

// purgeable refuses to purge a location that names a root: a bucket, the
// file system's root or the working directory.
func purgeable(loc string) error {
	if u, err := url.Parse(loc); err == nil && u.Scheme != "" {
		if strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("its location %s is a root, which PURGE never deletes", loc)
		}
		if u.Scheme != "file" && u.Scheme != "s3" {
			return fmt.Errorf("its location %s has an unsupported scheme", loc)
		}
		return nil
	}
	clean := filepath.Clean(loc)
	if clean == "." || clean == string(filepath.Separator) || slices.Contains(strings.Split(filepath.ToSlash(loc), "/"), "..") {
		return fmt.Errorf("its location %s is a root or leaves its directory, which PURGE never deletes", loc)
	}
	return nil
}

// purge deletes every object under the table location loc, then, for a
// local directory, the directories left empty and the root itself.
func (e *Executor) purge(ctx context.Context, loc string) error {
	st, err := objstore.Open(ctx, loc, e.storeOpts...)
	if err != nil {
		return err
	}
	objs, err := st.List(ctx, "", "")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := st.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	if l, ok := st.(*objstore.Local); ok {
		return removeEmptyDirs(l.Root())
	}
	return nil
}

// removeEmptyDirs removes root and the directories below it, deepest
// first, if they are empty; a directory still holding something stays.
func removeEmptyDirs(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return err
		}
	}
	return nil
}

// dropStream drops a stream no live query reads.
func (r *run) dropStream(p []string) error {
	rel, err := r.tx.GetRelation(p[0], p[1], p[2])
	if err != nil {
		return err
	}
	if rel.Kind != object.KindStream {
		return invalid("%s is a %s, not a stream: use DROP %s %s", rel.Path(), rel.Kind, rel.Kind.Keyword(), rel.Path())
	}
	qs, err := r.queriesReading(p, true)
	if err != nil {
		return err
	}
	switch len(qs) {
	case 0:
	case 1:
		return &catalog.Error{Class: catalog.ErrInUse, Msg: fmt.Sprintf(
			"stream %s is read by query %s (writing table %s): terminate the query first (TERMINATE QUERY, or DROP TABLE %s)",
			rel.Path(), qs[0].ID, qs[0].Table, qs[0].Table)}
	default:
		slices.SortFunc(qs, func(a, b catalog.Query) int { return strings.Compare(a.Table, b.Table) })
		readers := make([]string, len(qs))
		for i, q := range qs {
			readers[i] = fmt.Sprintf("%s (writing table %s)", q.ID, q.Table)
		}
		return &catalog.Error{Class: catalog.ErrInUse, Msg: fmt.Sprintf(
			"stream %s is read by %d queries, %s: terminate them first (TERMINATE QUERY, or DROP TABLE of the table each writes)",
			rel.Path(), len(qs), strings.Join(readers, ", "))}
	}
	return r.tx.DropRelation(p[0], p[1], p[2], false)
}

// queriesReading returns the queries, not terminated, whose FROM is the
// stream at p. The catalog links a query to the table it writes only, so
// the FROM is read back from the query's SQL, resolved as CREATE TABLE
// resolved it: relative to the table's schema. A query whose SQL is not a
// CREATE TABLE ... AS SELECT (none made by this executor) may read
// anything: it is returned when unknown is set.
func (r *run) queriesReading(p []string, unknown bool) ([]catalog.Query, error) {
	qs, err := r.tx.ListQueries()
	if err != nil {
		return nil, err
	}
	var out []catalog.Query
	for _, q := range qs {
		if q.State == catalog.QueryTerminated {
			continue
		}
		stmts, err := sqlparse.Parse(q.SQL)
		var ct *sqlparse.CreateTable
		if err == nil && len(stmts) == 1 {
			ct, _ = stmts[0].(*sqlparse.CreateTable)
		}
		if ct == nil || ct.Query == nil {
			if unknown {
				out = append(out, q)
			}
			continue
		}
		from := sourcePath(ct.Query.From, strings.SplitN(q.Table, ".", 3))
		if len(from) == 3 && slices.EqualFunc(from, p, strings.EqualFold) {
			out = append(out, q)
		}
	}
	return out, nil
}

// sourcePath qualifies the FROM name of a query writing the table target
// (database, schema, table): a bare name is in the target's schema, a
// two-part one in its database.
func sourcePath(from *sqlparse.Name, target []string) []string {
	var p []string
	for _, part := range from.Parts {
		p = append(p, part.Name)
	}
	if len(target) != 3 {
		return p
	}
	switch len(p) {
	case 1:
		p = []string{target[0], target[1], p[0]}
	case 2:
		p = []string{target[0], p[0], p[1]}
	}
	return p
}

// checkGrantable refuses, before any authorization, a privilege that does
// not apply to the kind of object it is granted on.
func checkGrantable(s *sqlparse.GrantPrivileges) error {
	k := s.OnKind
	for _, p := range s.Privileges {
		if err := catalog.CheckPrivilege(p, k); err != nil {
			return invalid("%s on %s %s: %v", p, k, s.On, err)
		}
	}
	return nil
}
