package exec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/ingest/decode"
	"github.com/sluice-io/sluice/internal/secret"
	"github.com/sluice-io/sluice/plan"
)

// RegistryTimeout bounds the Schema Registry lookup of CREATE STREAM
// without a column list.
const RegistryTimeout = 10 * time.Second

// registryFormats are the value formats whose columns can come from the
// store's Schema Registry.
var registryFormats = map[string]bool{decode.FormatAvro: true, decode.FormatProtobuf: true, decode.FormatJSONSchema: true}

// prefetched is what prefetchColumns read for one statement.
type prefetched struct {
	cols []catalog.Column
	err  error
}

// prefetchColumns reads the registry columns a CREATE STREAM without a
// column list needs before the statement's catalog transaction starts: a
// slow or unreachable registry must not hold the catalog's write lock. It
// returns nil for any other statement, or when the statement will fail on
// its own first (bad name, missing store): createStream then reads the
// columns itself. Its error is reported by createStream only after the
// statement is authorized, so a principal without CREATE learns nothing
// from it.
func (e *Executor) prefetchColumns(ctx context.Context, stmt sqlparse.Statement) *prefetched {
	s, ok := stmt.(*sqlparse.CreateStream)
	if !ok || len(s.Columns) > 0 {
		return nil
	}
	p, err := parts(object.KindStream, s.Name)
	if err != nil {
		return nil
	}
	props, err := properties(s.With)
	if err != nil || props["store"] == "" || props["topic"] == "" || !registryFormats[props["value.format"]] {
		return nil
	}
	var store catalog.Store
	if err := e.cat.View(ctx, func(tx *catalog.Tx) (err error) {
		store, err = tx.GetStore(props["store"])
		return err
	}); err != nil {
		return nil
	}
	rel := catalog.Relation{Topic: props["topic"], ValueFormat: props["value.format"]}
	cols, err := registryColumns(ctx, strings.Join(p, "."), rel, store)
	return &prefetched{cols: cols, err: err}
}

// registryColumns returns the columns of stream (declared without a column
// list, in value format rel.ValueFormat) from the latest schema of the
// subject <topic>-value in the Schema Registry of its store. They are read
// once, now: a later schema version does not change the stream.
func registryColumns(ctx context.Context, stream string, rel catalog.Relation, store catalog.Store) ([]catalog.Column, error) {
	spec := plan.RegistrySpec(store.Properties)
	if spec == nil {
		return nil, invalid("stream %s: without a column list, the columns come from the Schema Registry, but store %s has no 'schema.registry.url': add it to the store (CREATE STORE ... WITH ('schema.registry.url' = ...)) or list the columns",
			stream, store.Name)
	}
	var opts []decode.RegistryOption
	if spec.Username != "" {
		pass, err := secret.Resolve(spec.Password)
		if err != nil {
			return nil, invalid("stream %s: store %s 'schema.registry.password': %v", stream, store.Name, err)
		}
		opts = append(opts, decode.WithBasicAuth(spec.Username, pass))
	}
	reg, err := decode.NewRegistryClient(spec.URL, opts...)
	if err != nil {
		return nil, invalid("stream %s: store %s: %v", stream, store.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, RegistryTimeout)
	defer cancel()
	subject := rel.Topic + "-value"
	cols, err := decode.SubjectColumns(ctx, reg, subject, rel.ValueFormat)
	switch {
	case errors.Is(err, decode.ErrSubjectNotFound):
		return nil, invalid("stream %s: the Schema Registry of store %s (%s) has no subject %q: register the value schema of topic %s, or list the columns",
			stream, store.Name, spec.URL, subject, rel.Topic)
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("stream %s: the Schema Registry of store %s (%s) did not answer within %s: list the columns, or retry when it is reachable", stream, store.Name, spec.URL, RegistryTimeout)
	case err != nil:
		return nil, fmt.Errorf("stream %s: reading the columns from the Schema Registry of store %s (%s): %w; list the columns, or retry when it is reachable", stream, store.Name, spec.URL, err)
	}
	out := make([]catalog.Column, len(cols))
	for i, c := range cols {
		out[i] = catalog.Column{Name: c.Name, Type: deltalog.FormatType(c.Type), Nullable: c.Nullable}
	}
	return out, nil
}
