package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/ingest/eventgen"
	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/serve/demo"
	"github.com/sluice-io/sluice/testdata"
)

// demoRead is what testdata/demo_read.py prints.
type demoRead struct {
	Tables  []string
	Rows    int
	Columns []string
	Records []map[string]any
	Seconds float64
}

// TestDemo starts `sluice demo` and, within 20 s of its start (issue #5),
// reads rows of the shared table through the profile it wrote, with the
// real Python delta-sharing connector; the rows carry the pipeline's WHERE
// and computed columns. Interrupting the demo stops it cleanly.
func TestDemo(t *testing.T) {
	py := testenv.Python(t)
	dir := t.TempDir()
	profile := filepath.Join(dir, "acme.share")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- run(ctx, []string{"demo", "--data-dir", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0", "--rate", "300", "--profile", profile}, out, out)
	}()
	for {
		if _, err := os.Stat(profile); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d before writing the profile:\n%s", code, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("no profile after 20 s:\n%s", out.String())
		}
	}
	left := 20*time.Second - time.Since(start)
	cmd := exec.Command(py, "testdata/demo_read.py", profile, "partners.sales.paid_orders", fmt.Sprint(left.Seconds()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("connector: %v\n%s\ndemo output:\n%s", err, stderr.String(), out.String())
	}
	elapsed := time.Since(start)
	var got demoRead
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("connector output %q: %v", stdout.String(), err)
	}
	t.Logf("first rows read through the profile %.1f s after the demo started (%d rows; the connector took %.1f s)", elapsed.Seconds(), got.Rows, got.Seconds)
	if !slices.Equal(got.Tables, []string{"partners.sales.paid_orders"}) {
		t.Errorf("list_all_tables = %v", got.Tables)
	}
	if got.Rows == 0 || elapsed > 20*time.Second {
		t.Fatalf("%d rows after %v; want rows within 20 s\ndemo output:\n%s", got.Rows, elapsed, out.String())
	}
	for _, c := range []string{"order_id", "country", "amount", "avg_item_price", "order_size", "ordered_at", "kafka_partition", "kafka_offset"} {
		if !slices.Contains(got.Columns, c) {
			t.Errorf("column %s missing from %v", c, got.Columns)
		}
	}
	for _, r := range got.Records {
		amount, _ := r["amount"].(float64)
		items, _ := r["items"].(float64)
		avg, _ := r["avg_item_price"].(float64)
		size, _ := r["order_size"].(string)
		wantSize := "regular"
		if amount >= 200 {
			wantSize = "large"
		}
		if amount <= 0 || items < 1 || size != wantSize || math.Abs(avg-math.Round(amount/items*100)/100) > 1e-9 || r["country"] == "" {
			t.Fatalf("row does not follow the pipeline (WHERE amount > 0, CASE, ROUND): %v", r)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "Sluice demo stopped") {
			t.Fatalf("demo exited with %d:\n%s", code, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo did not stop after its interrupt:\n%s", out.String())
	}
}

// TestDemoRefusesUsedDataDir: an old demo's catalog would not match the
// fresh embedded Kafka, so a non-empty data dir is refused with the fix.
func TestDemoRefusesUsedDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "catalog.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := run(context.Background(), []string{"demo", "--data-dir", dir}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "is not empty") || !strings.Contains(out.String(), "remove the directory or choose another") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	code = run(context.Background(), []string{"demo", "--rate", "0"}, &out, &out)
	if code != 2 {
		t.Fatalf("--rate 0: exit %d", code)
	}
}

// TestDemoAndServeDefaultPorts: the demo and the server listen on
// different ports by default (a demo beside a server got a bind error),
// and each --help states its own default.
func TestDemoAndServeDefaultPorts(t *testing.T) {
	re := regexp.MustCompile(`-addr (?:string|value)\n\s+listen address.*\(default "?([^")]+)"?\)`)
	defaults := map[string]string{}
	for _, cmd := range []string{"demo", "serve"} {
		var out bytes.Buffer
		if code := run(context.Background(), []string{cmd, "--help"}, &out, &out); code != 0 {
			t.Fatalf("%s --help: exit %d\n%s", cmd, code, out.String())
		}
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("%s --help names no --addr default:\n%s", cmd, out.String())
		}
		defaults[cmd] = m[1]
	}
	if defaults["serve"] != config.Defaults().Addr || defaults["demo"] != demoAddr {
		t.Errorf("--help defaults %v, want serve %s and demo %s", defaults, config.Defaults().Addr, demoAddr)
	}
	if defaults["demo"] == defaults["serve"] {
		t.Errorf("demo and serve both default to %s", defaults["demo"])
	}
}

// TestDemoPipelineEndToEnd runs the demo's script (the store, then
// testdata/pipelines/orders.sql, as `sluice demo` does) on the test
// Kafka instead of the embedded one, fed with the sample orders
// (testdata/events/orders.jsonl): the table, read by delta-rs, holds
// exactly the paid orders with the pipeline's computed columns.
func TestDemoPipelineEndToEnd(t *testing.T) {
	k := testenv.Kafka(t)
	testenv.Python(t)
	raw, err := os.ReadFile(testdata.Path("events", "orders.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	topic := k.NewTopicNamed(t, "orders", 3) // the pipeline's topic
	want := map[float64]map[string]any{}
	var recs []*kgo.Record
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var o eventgen.Order
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("orders.jsonl line %d: %v", i+1, err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(o.Customer), Value: []byte(line)})
		if o.Status != "paid" || o.Amount <= 0 {
			continue
		}
		size := "regular"
		if o.Amount >= 200 {
			size = "large"
		}
		want[float64(o.OrderID)] = map[string]any{"customer": o.Customer, "country": o.Country, "channel": o.Channel,
			"items": float64(o.Items), "amount": o.Amount, "currency": o.Currency, "avg_item_price": math.Round(o.Amount/float64(o.Items)*100) / 100,
			"order_size": size, "ordered_at": o.TS.UTC().Format("2006-01-02T15:04:05.000000Z")}
	}
	if len(want) == 0 || len(want) == len(recs) {
		t.Fatalf("the sample orders should hold paid and other orders: %d of %d kept", len(want), len(recs))
	}
	if err := k.Client(t).ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	token := catalog.NewUserToken()
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", token)
	dir := serveDirWithLogs(t)
	url, stop := startServe(t, dir)
	defer stop()
	script, err := demo.Script(strings.Join(k.Brokers, ","))
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errs := sql(t, url, token, script); code != 0 {
		t.Fatalf("demo pipeline: exit %d\n%s\n%s", code, out, errs)
	}
	table := filepath.Join(dir, "warehouse", "shop", "sales", "paid_orders")
	deadline := time.Now().Add(90 * time.Second)
	for {
		rs := testenv.DeltaRs(t, nil, []string{table}, "--rows")[0]
		if rs.Error == "" && len(rs.Rows) >= len(want) {
			checkPaidOrders(t, rs.Rows, want)
			return
		}
		if time.Now().After(deadline) {
			_, q, _ := sql(t, url, token, "SHOW QUERIES")
			t.Fatalf("%d of %d paid orders in %s after 90 s (%s); SHOW QUERIES:\n%s", len(rs.Rows), len(want), table, rs.Error, q)
		}
		time.Sleep(time.Second)
	}
}

// checkPaidOrders compares the demo table's rows with the expected ones
// by order_id; the Kafka columns are checked for presence only (which
// partition a record lands on is the producer's choice).
func checkPaidOrders(t *testing.T, rows []any, want map[float64]map[string]any) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want the %d paid orders", len(rows), len(want))
	}
	for _, r := range rows {
		row := r.(map[string]any)
		id, _ := row["order_id"].(float64)
		w, ok := want[id]
		if !ok {
			t.Fatalf("row %v: not a paid order of the sample (or written twice)", row)
		}
		delete(want, id)
		for _, c := range []string{"kafka_partition", "kafka_offset"} {
			if _, ok := row[c].(float64); !ok {
				t.Errorf("order %v: %s = %v", id, c, row[c])
			}
		}
		for c, v := range w {
			got := row[c]
			if f, ok := v.(float64); ok {
				if g, ok := got.(float64); ok && math.Abs(g-f) < 1e-9 {
					continue
				}
			} else if got == v {
				continue
			}
			t.Errorf("order %v: %s = %v, want %v", id, c, got, v)
		}
	}
}
