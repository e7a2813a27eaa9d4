package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/serve/exec"
	"github.com/sluice-io/sluice/serve/upkeep"
)

// historySkew is subtracted from the time a table was added to a share
// WITH HISTORY before it is turned into a version: the catalog's clock
// and the commit files' times (an object store's) may differ, and keeping
// one version more is harmless where keeping one less is not.
const historySkew = time.Minute

// catalogTables is the upkeep loop's list of tables, from the catalog:
// every table a query writes and every registered table whose
// sluice.upkeep property is true (exec.Upkept), with its catalog
// properties and what its shares WITH HISTORY promise: every version
// from the one it had when it was first added to such a share. A kept
// query's table brings its dead-letter table (ingest.DeadLetterTable of
// its location), with the default policy: it is in no catalog and no
// share.
type catalogTables struct {
	cat *catalog.Catalog
	log *slog.Logger
	// open opens a table's store, as the sharing endpoint does.
	open func(ctx context.Context, uri string) (objstore.Store, error)

	mu    sync.Mutex
	start map[historyKey]int64 // resolved history starts; -1: version 0 (keep all)
}

// historyKey is one table's earliest addition to a share WITH HISTORY.
type historyKey struct {
	table string // relation id
	added time.Time
}

func newCatalogTables(cat *catalog.Catalog, log *slog.Logger) *catalogTables {
	return &catalogTables{cat: cat, log: log, start: map[historyKey]int64{},
		open: func(ctx context.Context, uri string) (objstore.Store, error) { return objstore.Open(ctx, uri) }}
}

// Tables implements upkeep.Tables.
func (c *catalogTables) Tables(ctx context.Context) ([]upkeep.Target, error) {
	var rels []catalog.Relation
	added := map[string]time.Time{} // by relation id: the earliest WITH HISTORY addition
	err := c.cat.View(ctx, func(tx *catalog.Tx) error {
		dbs, err := tx.ListDatabases()
		if err != nil {
			return err
		}
		for _, d := range dbs {
			scs, err := tx.ListSchemas(d.Name)
			if err != nil {
				return err
			}
			for _, sc := range scs {
				rs, err := tx.ListRelations(d.Name, sc.Name)
				if err != nil {
					return err
				}
				for _, r := range rs {
					if exec.Upkept(r) {
						rels = append(rels, r)
					}
				}
			}
		}
		shares, err := tx.ListShares()
		if err != nil {
			return err
		}
		for _, s := range shares {
			full, err := tx.GetShare(s.Name)
			if err != nil {
				return err
			}
			for _, st := range full.Tables {
				if t, ok := added[st.TableID]; st.WithHistory && (!ok || st.Added.Before(t)) {
					added[st.TableID] = st.Added
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upkeep: list the tables in the catalog: %w", err)
	}
	out := make([]upkeep.Target, 0, 2*len(rels))
	uris := make(map[string]bool, len(rels))
	for _, r := range rels {
		tg := upkeep.Target{Name: r.Path(), URI: r.Location, Properties: r.Properties}
		if t, ok := added[r.ID]; ok {
			tg.MinVersion, tg.KeepAll = c.historyStart(ctx, r, t)
		}
		out = append(out, tg)
		uris[r.Location] = true
	}
	for _, r := range rels {
		// A registered table has no worker and so no dead letters; one
		// registered at a dead-letter location is kept by its own entry.
		if dl := ingest.DeadLetterTable(r.Location); !r.External && !uris[dl] {
			out = append(out, upkeep.Target{Name: r.Path() + deadLetterSuffix, URI: dl})
			uris[dl] = true
		}
	}
	return out, nil
}

// deadLetterSuffix names a query's dead-letter table in the upkeep loop's
// logs, metrics and status: the table's path and this.
const deadLetterSuffix = " (dead letters)"

// historyStart is the oldest version a share WITH HISTORY promises: the
// latest committed when the table was added (less historySkew). Added
// before the table's first commit, every version is promised (keepAll).
// When it cannot be told (the log cannot be read) keepAll is the safe
// answer for this round.
func (c *catalogTables) historyStart(ctx context.Context, r catalog.Relation, added time.Time) (minVersion int64, keepAll bool) {
	key := historyKey{r.ID, added}
	c.mu.Lock()
	v, ok := c.start[key]
	c.mu.Unlock()
	if !ok {
		var err error
		if v, err = c.resolve(ctx, r.Location, added.Add(-historySkew)); err != nil {
			if !errors.Is(err, deltalog.ErrNotATable) {
				c.log.Warn("upkeep: cannot tell the version a share WITH HISTORY promises; keeping the whole log this round",
					"table", r.Path(), "err", err)
			}
			return 0, true
		}
		c.mu.Lock()
		c.start[key] = v
		c.mu.Unlock()
	}
	if v <= 0 {
		return 0, true
	}
	return v, false
}

// resolve turns the time t into the latest version committed at or
// before it; -1 when t is before every commit. The answer is stable:
// the loop keeps that version's commit from then on.
func (c *catalogTables) resolve(ctx context.Context, uri string, t time.Time) (int64, error) {
	st, err := c.open(ctx, uri)
	if err != nil {
		return 0, err
	}
	v, err := deltalog.VersionAtTimestamp(ctx, st, t)
	if errors.Is(err, deltalog.ErrVersionNotFound) {
		return -1, nil
	}
	return v, err
}

// tableMonitor shows the upkeep loop to the executor.
type tableMonitor struct{ *upkeep.Loop }

func (m tableMonitor) TableStatus(name string) (exec.TableStatus, bool) {
	s, ok := m.Status(name)
	return exec.TableStatus{Version: s.Version, Files: s.Files, SmallFiles: s.SmallFiles, Bytes: s.Bytes,
		LastCompaction: s.Last[upkeep.OpCompaction], LastVacuum: s.Last[upkeep.OpVacuum], LastLogCleanup: s.Last[upkeep.OpLogCleanup],
		LastError: s.LastError}, ok
}
