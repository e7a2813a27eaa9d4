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

	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/serve/config"
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
