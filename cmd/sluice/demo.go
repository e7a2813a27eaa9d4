package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/ingest/eventgen"
	"github.com/sluice-io/sluice/internal/dirlock"
	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/testdata"
)

const demoUsage = `Run the whole of Sluice on this machine, with no external service: an
embedded Kafka fed with web-shop orders, the server (catalog, OPA, query
supervisor, Delta Sharing) on a local-disk warehouse, and a demo pipeline:
paid orders into the Delta table shop.sales.paid_orders, shared with the
recipient acme. The recipient's profile file is written to disk, with a
Python snippet to read the share; a status line shows the records produced
and ingested, the table version and the lag. It runs until interrupted
(Ctrl-C), then stops cleanly.

Usage: sluice demo [--data-dir DIR] [--addr HOST:PORT] [--profile PATH] [--rate N]
       sluice demo produce --brokers HOST:PORT ...   (the orders into a real Kafka)

The demo listens on 127.0.0.1:8090 by default, not on sluice serve's
127.0.0.1:8080, so it runs beside a server.

Each run gets a new data directory (printed; kept after the run so the table
can be inspected). A --data-dir given must be new or empty: the embedded
Kafka starts empty on every run, so an old catalog and table would not
match it.

Examples:
  sluice demo
  sluice demo --data-dir /tmp/sluice-demo --rate 2000 --addr 127.0.0.1:9000
`

// demoAddr is the demo's default listen address: another port than
// sluice serve's default (config.Defaults), so both run side by side.
const demoAddr = "127.0.0.1:8090"

// demoTable and demoShareTable name the demo's table in the catalog and
// in the share.
const (
	demoTable      = "shop.sales.paid_orders"
	demoShareTable = "partners.sales.paid_orders"
	demoTopic      = "orders"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "produce" {
		return runDemoProduce(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("demo", demoUsage, stderr)
	dataDir := fs.String("data-dir", "", "directory of the demo's catalog, warehouse and logs, new or empty (default: a new directory under the system's temp dir)")
	addr := fs.String("addr", demoAddr, "listen address of the server (port 0 picks a free port)")
	profile := fs.String("profile", "", "where to write the recipient's profile file (default <data-dir>/acme.share)")
	rate := fs.Int("rate", 100, "orders produced per second")
	level := fs.String("log-level", "warn", "server log level: debug, info, warn, error")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice demo: takes no arguments (see --help)")
		return errUsage
	}
	if *rate <= 0 {
		fmt.Fprintln(stderr, "sluice demo: --rate must be positive")
		return errUsage
	}
	if *dataDir == "" {
		if *dataDir, err = os.MkdirTemp("", "sluice-demo-"); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	} else if err := dirlock.Check(*dataDir); err != nil {
		return serve.DataDirError(err)
	} else if err := emptyDir(*dataDir); err != nil {
		return err
	}
	if *profile == "" {
		*profile = filepath.Join(*dataDir, "acme.share")
	}
	if _, err := os.Lstat(*profile); err == nil {
		return fmt.Errorf("--profile %s exists: choose another path (a profile is never overwritten)", *profile)
	}

	// The embedded Kafka, and the orders flowing into it.
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, demoTopic))
	if err != nil {
		return fmt.Errorf("embedded Kafka: %w", err)
	}
	defer kafka.Close()
	brokers := strings.Join(kafka.ListenAddrs(), ",")
	producer, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.DefaultProduceTopic(demoTopic))
	if err != nil {
		return err
	}
	defer producer.Close()
	var produced eventgen.Stats
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	genDone := make(chan error, 1)
	go func() {
		genDone <- eventgen.Run(genCtx, producer, eventgen.New(uint64(time.Now().UnixNano())), demoTopic, *rate, 0, &produced)
	}()

	script, err := testdata.Pipeline("demo", struct{ Brokers, Topic string }{brokers, demoTopic})
	if err != nil {
		return err
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.Addr, cfg.LogLevel = *dataDir, *addr, *level
	token := catalog.NewUserToken()
	fmt.Fprintf(stdout, "Sluice demo: embedded Kafka at %s, %d orders/s into topic %q; data in %s\n", brokers, *rate, demoTopic, *dataDir)
	d := &demo{stdout: stdout, token: token, produced: &produced, profile: *profile,
		table: "file://" + filepath.ToSlash(mustAbs(filepath.Join(*dataDir, "warehouse", "shop", "sales", "paid_orders")))}
	srv, err := serve.New(ctx, cfg, serve.WithLogOutput(stderr), serve.WithBootstrapToken(token),
		serve.WithReady(func(ctx context.Context, publicURL string) error { return d.start(ctx, publicURL, script) }))
	if err == nil {
		err = srv.Run(ctx)
	}
	stopGen()
	if gerr := <-genDone; err == nil && gerr != nil && ctx.Err() == nil {
		err = gerr
	}
	fmt.Fprintf(stdout, "\nSluice demo stopped; %d orders produced. The table and catalog stay in %s.\n", produced.Produced.Load(), *dataDir)
	return err
}

// emptyDir makes sure dir does not exist or is empty.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("--data-dir %s is not empty: the embedded Kafka starts empty on every run, so an old demo's catalog and table would not match it; remove the directory or choose another", dir)
	}
	return nil
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}

// demo is the part of `sluice demo` that runs once the server listens.
type demo struct {
	stdout   io.Writer
	token    string
	produced *eventgen.Stats
	profile  string
	table    string // URI of the demo table
}

// start runs the demo script through the statements API, writes the
// profile, prints the next steps and starts the status line.
func (d *demo) start(ctx context.Context, publicURL, script string) error {
	fmt.Fprintf(d.stdout, "Server at %s; running the demo pipeline (testdata/pipelines/demo.sql):\n\n", publicURL)
	var out bytes.Buffer
	code := run(ctx, []string{"sql", "--server", publicURL, "--token", d.token, "--profile-out", d.profile, "-e", script}, &out, &out)
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		fmt.Fprintln(d.stdout, "  "+l)
	}
	if code != 0 {
		return fmt.Errorf("the demo script failed (see above)")
	}
	fmt.Fprintf(d.stdout, `
The recipient acme can now read the share with any Delta Sharing client.
Its profile file is %[1]s. In Python (pip install delta-sharing):

  import delta_sharing
  profile = %[2]q
  print(delta_sharing.SharingClient(profile).list_all_tables())
  df = delta_sharing.load_as_pandas(profile + "#%[3]s")
  print(df.groupby("country").amount.sum())

SQL as the admin: sluice sql --server %[4]s --token %[5]s -e 'SHOW QUERIES'
Press Ctrl-C to stop.

`, d.profile, mustAbs(d.profile), demoShareTable, publicURL, d.token)
	go d.status(ctx, publicURL)
	return nil
}

// status prints a status line every second until ctx ends: on a terminal
// it rewrites one line, elsewhere it prints a line every 10 s.
func (d *demo) status(ctx context.Context, publicURL string) {
	tty := isTerminal(d.stdout)
	every, tick := 10, 0
	t := time.NewTicker(time.Second)
	defer t.Stop()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tick++
		if !tty && tick%every != 0 {
			continue
		}
		line := d.statusLine(ctx, client, publicURL)
		if tty {
			fmt.Fprintf(d.stdout, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(d.stdout, line)
		}
	}
}

// statusLine reads the query's state and lag from SHOW QUERIES and the
// table's version and rows from its Delta log.
func (d *demo) statusLine(ctx context.Context, client *http.Client, publicURL string) string {
	line := fmt.Sprintf("produced %d", d.produced.Produced.Load())
	if st, lag, err := d.query(ctx, client, publicURL); err == nil {
		line += fmt.Sprintf(" | query %s, lag %s", st, lag)
	}
	st, err := objstore.Open(ctx, d.table)
	if err == nil {
		if info, err := deltawriter.New(st).Inspect(ctx); err == nil {
			return line + fmt.Sprintf(" | %s: version %d, %d paid orders in %d files", demoTable, info.Version, info.NumRecords, info.NumFiles)
		}
	}
	return line + " | " + demoTable + ": no commit yet"
}

// query returns the status and lag of the demo's query from SHOW QUERIES.
func (d *demo) query(ctx context.Context, client *http.Client, publicURL string) (status, lag string, err error) {
	resp, raw, err := postStatements(ctx, client, publicURL, d.token, "SHOW QUERIES")
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("SHOW QUERIES: %s", resp.Status)
	}
	var ok serve.StatementsResponse
	if err := json.Unmarshal(raw, &ok); err != nil || len(ok.Results) != 1 {
		return "", "", fmt.Errorf("SHOW QUERIES: unexpected answer")
	}
	r := ok.Results[0]
	col := func(row []string, name string) string {
		for i, c := range r.Columns {
			if c == name && i < len(row) {
				return row[i]
			}
		}
		return "?"
	}
	for _, row := range r.Rows {
		if col(row, "table") == demoTable {
			lag := col(row, "lag")
			if _, err := strconv.Atoi(lag); err == nil {
				lag += " records"
			}
			return col(row, "status"), lag, nil
		}
	}
	return "", "", fmt.Errorf("no query writes %s", demoTable)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
