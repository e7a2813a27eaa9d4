package exec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/serve/exec"
)

// schemaRegistry is a tiny Confluent Schema Registry serving the latest
// version of some subjects (GET /subjects/<s>/versions/latest).
func schemaRegistry(t *testing.T, subjects map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		subject, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/subjects/"), "/versions/latest")
		schema, found := subjects[subject]
		if !ok || !found {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error_code":40401,"message":"Subject not found."}`)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		json.NewEncoder(w).Encode(map[string]any{"subject": subject, "version": 2, "id": 7, "schema": schema})
	}))
	t.Cleanup(srv.Close)
	return srv
}

const ordersAvro = `{"type":"record","name":"Order","fields":[
 {"name":"id","type":"long"},
 {"name":"customer","type":["null","string"]},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
 {"name":"placed_at","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}}]}`

// TestCreateStreamFromRegistry: CREATE STREAM without a column list takes
// the columns of <topic>-value from the store's registry, and a query over
// the stream compiles against them; a missing subject, an unreachable
// registry, a store without a registry and a JSON stream without columns
// are refused with errors that say what to do.
func TestCreateStreamFromRegistry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	run := func(sql string) ([]string, error) {
		res, err := e.ex.Execute(ctx, user("root"), sql)
		return messages(res), err
	}
	reg := schemaRegistry(t, map[string]string{"orders-value": ordersAvro})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := run(fmt.Sprintf(`CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE k WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092', 'schema.registry.url' = '%s');
CREATE STORE gone WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092', 'schema.registry.url' = '%s');
CREATE STORE plain WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092')`, reg.URL, dead.URL)); err != nil {
		t.Fatal(err)
	}
	msgs, err := run("CREATE STREAM sales.eu.orders WITH ('store' = 'k', 'topic' = 'orders', 'value.format' = 'avro')")
	if err != nil {
		t.Fatal(err)
	}
	if want := "stream sales.eu.orders created, with the 5 columns of subject orders-value"; len(msgs) != 1 || msgs[0] != want {
		t.Fatalf("messages %q, want %q", msgs, want)
	}
	var rel catalog.Relation
	if err := e.cat.View(ctx, func(tx *catalog.Tx) (err error) {
		rel, err = tx.GetRelation("sales", "eu", "orders")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []catalog.Column{{Name: "id", Type: "long"}, {Name: "customer", Type: "string", Nullable: true},
		{Name: "amount", Type: "decimal(12,2)"}, {Name: "placed_at", Type: "timestamp"}, {Name: "address", Type: "struct<city:string not null>"}}
	if fmt.Sprint(rel.Columns) != fmt.Sprint(want) {
		t.Fatalf("columns %v\nwant %v", rel.Columns, want)
	}
	// The derived columns type-check a query, and reach the worker's spec.
	if _, err := run("CREATE TABLE sales.eu.big AS SELECT id, amount * 2 AS doubled, address FROM sales.eu.orders WHERE customer IS NOT NULL"); err != nil {
		t.Fatalf("CTAS over a registry stream: %v", err)
	}
	var spec ingest.Spec
	if err := e.cat.View(ctx, func(tx *catalog.Tx) error {
		qs, err := tx.ListQueries()
		if err != nil || len(qs) != 1 {
			return fmt.Errorf("queries %v: %v", qs, err)
		}
		return json.Unmarshal(qs[0].Spec, &spec)
	}); err != nil {
		t.Fatal(err)
	}
	if spec.Decode.Format != "avro" || spec.Decode.SchemaRegistry == nil || spec.Decode.SchemaRegistry.URL != reg.URL || len(spec.Decode.Columns) != 5 {
		t.Fatalf("spec decode %+v", spec.Decode)
	}

	for _, tc := range []struct{ sql, want string }{
		{"CREATE STREAM sales.eu.pay WITH ('store' = 'k', 'topic' = 'payments', 'value.format' = 'avro')",
			`stream sales.eu.pay: the Schema Registry of store k (` + reg.URL + `) has no subject "payments-value": register the value schema of topic payments, or list the columns`},
		{"CREATE STREAM sales.eu.o2 WITH ('store' = 'gone', 'topic' = 'orders', 'value.format' = 'protobuf')",
			`stream sales.eu.o2: reading the columns from the Schema Registry of store gone (` + dead.URL + `): subject "orders-value": registry: `},
		{"CREATE STREAM sales.eu.o3 WITH ('store' = 'plain', 'topic' = 'orders', 'value.format' = 'jsonschema')",
			`stream sales.eu.o3: without a column list, the columns come from the Schema Registry, but store plain has no 'schema.registry.url'`},
		{"CREATE STREAM sales.eu.o4 WITH ('store' = 'k', 'topic' = 'orders', 'value.format' = 'protobuf')",
			`stream sales.eu.o4: reading the columns from the Schema Registry of store k (` + reg.URL + `): subject "orders-value" version 2 is registered as AVRO, not PROTOBUF`},
		{"CREATE STREAM sales.eu.o5 WITH ('store' = 'k', 'topic' = 'orders')",
			`stream sales.eu.o5: a json stream needs its columns`},
	} {
		if _, err := run(tc.sql); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.sql, err, tc.want)
		}
	}
}

// TestRegistryOutsideTheLock: a registry that does not answer does not
// hold the catalog's write lock (other statements run meanwhile), and a
// principal without CREATE is denied before any registry error is shown.
func TestRegistryOutsideTheLock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":40401,"message":"Subject not found."}`)
	}))
	defer slow.Close()
	if _, err := e.ex.Execute(ctx, user("root"), fmt.Sprintf(`CREATE DATABASE sales; CREATE SCHEMA sales.eu;
CREATE STORE slow WITH ('type' = 'kafka', 'bootstrap.servers' = 'k1:9092', 'schema.registry.url' = '%s')`, slow.URL)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.ex.Execute(ctx, user("root"), "CREATE STREAM sales.eu.s WITH ('store' = 'slow', 'topic' = 't', 'value.format' = 'avro')")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the registry request is pending
	other := make(chan error, 1)
	go func() {
		_, err := e.ex.Execute(ctx, user("root"), "CREATE DATABASE other")
		other <- err
	}()
	select {
	case err := <-other:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		unblock()
		t.Fatal("a statement waited behind the registry request")
	}
	select {
	case err := <-done:
		t.Fatalf("CREATE STREAM finished before the registry answered: %v", err)
	default:
	}
	unblock()
	if err := <-done; err == nil || !strings.Contains(err.Error(), `has no subject "t-value"`) {
		t.Fatalf("CREATE STREAM: %v", err)
	}
	// alice may not create in sales.eu: denied, and the registry's answer
	// (here: no such subject) is not shown to her.
	_, err := e.ex.Execute(ctx, user("alice"), "CREATE STREAM sales.eu.s2 WITH ('store' = 'slow', 'topic' = 't', 'value.format' = 'avro')")
	var de *exec.DeniedError
	if !errors.As(err, &de) || strings.Contains(err.Error(), "subject") {
		t.Fatalf("alice: %v", err)
	}
}
