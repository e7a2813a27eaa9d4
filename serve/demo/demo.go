// Package demo runs the whole of Sluice on one machine, as `sluice demo`
// does: an embedded Kafka (kfake) fed with web-shop orders (eventgen), the
// server of package serve on a local-disk warehouse, and the demo pipeline
// of testdata (paid orders into a Delta table, shared with the recipient
// acme) run through the statements API once the server listens.
package demo

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
	"github.com/sluice-io/sluice/serve/client"
	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/testdata"
)

// DefaultAddr is the demo's default listen address: another port than
// sluice serve's default (config.Defaults), so both run side by side.
const DefaultAddr = "127.0.0.1:8090"

// Topic is the Kafka topic of the demo's orders.
const Topic = "orders"

// The demo's table in the catalog and in the share.
const (
	table      = "shop.sales.paid_orders"
	shareTable = "partners.sales.paid_orders"
)

// Options configure a demo run.
type Options struct {
	// DataDir holds the catalog, warehouse and logs; it must be new or
	// empty. Empty: a new directory under the system's temp dir.
	DataDir string
	// Addr is the server's listen address (default DefaultAddr).
	Addr string
	// Profile is where the recipient's profile goes (default
	// <DataDir>/acme.share); it must not exist.
	Profile string
	// Rate is the orders produced per second (default 100).
	Rate int
	// LogLevel is the server's log level (default warn).
	LogLevel string
	// Stdout gets the demo's messages and status line; Stderr the
	// server's log.
	Stdout, Stderr io.Writer
}

// Run runs the demo until ctx ends (or a part fails), then stops it
// cleanly; the data directory is kept, so the table can be inspected.
func Run(ctx context.Context, o Options) error {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "sluice-demo-")
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		o.DataDir = dir
	} else if err := dirlock.Check(o.DataDir); err != nil {
		return serve.DataDirError(err)
	} else if err := emptyDir(o.DataDir); err != nil {
		return err
	}
	if o.Profile == "" {
		o.Profile = filepath.Join(o.DataDir, "acme.share")
	}
	if _, err := os.Lstat(o.Profile); err == nil {
		return fmt.Errorf("--profile %s exists: choose another path (a profile is never overwritten)", o.Profile)
	}

	// The embedded Kafka, and the orders flowing into it.
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, Topic))
	if err != nil {
		return fmt.Errorf("embedded Kafka: %w", err)
	}
	defer kafka.Close()
	brokers := strings.Join(kafka.ListenAddrs(), ",")
	producer, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.DefaultProduceTopic(Topic))
	if err != nil {
		return fmt.Errorf("embedded Kafka producer: %w", err)
	}
	defer producer.Close()
	var produced eventgen.Stats
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	genDone := make(chan error, 1)
	go func() {
		genDone <- eventgen.Run(genCtx, producer, eventgen.New(uint64(time.Now().UnixNano())), Topic, o.Rate, 0, &produced)
	}()

	script, err := Script(brokers)
	if err != nil {
		return err
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.Addr, cfg.LogLevel = o.DataDir, o.Addr, o.LogLevel
	token := catalog.NewUserToken()
	fmt.Fprintf(o.Stdout, "Sluice demo: embedded Kafka at %s, %d orders/s into topic %q; data in %s\n", brokers, o.Rate, Topic, o.DataDir)
	d := &demo{stdout: o.Stdout, token: token, produced: &produced, profile: o.Profile,
		table: "file://" + filepath.ToSlash(mustAbs(filepath.Join(o.DataDir, "warehouse", "shop", "sales", "paid_orders")))}
	srv, err := serve.New(ctx, cfg, serve.WithLogOutput(o.Stderr), serve.WithBootstrapToken(token),
		serve.WithReady(func(ctx context.Context, publicURL string) error { return d.start(ctx, publicURL, script) }))
	if err == nil {
		err = srv.Run(ctx)
	}
	stopGen()
	if gerr := <-genDone; err == nil && gerr != nil && ctx.Err() == nil {
		err = gerr
	}
	fmt.Fprintf(o.Stdout, "\nSluice demo stopped; %d orders produced. The table and catalog stay in %s.\n", produced.Produced.Load(), o.DataDir)
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

// demo is the part of the demo that runs once the server listens.
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
	fmt.Fprintf(d.stdout, "Server at %s; running the demo pipeline (testdata/pipelines/orders.sql):\n\n", publicURL)
	c, err := client.New(publicURL, d.token, "")
	if err != nil {
		return err
	}
	var out bytes.Buffer
	err = c.RunSQL(ctx, script, client.SQLOptions{ProfileOut: d.profile}, &out)
	if err != nil {
		fmt.Fprintf(&out, "sluice sql: %v\n", err)
	}
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		fmt.Fprintln(d.stdout, "  "+l)
	}
	if err != nil {
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

`, d.profile, mustAbs(d.profile), shareTable, publicURL, d.token)
	go d.status(ctx, c)
	return nil
}

// status prints a status line every second until ctx ends: on a terminal
// it rewrites one line, elsewhere it prints a line every 10 s.
func (d *demo) status(ctx context.Context, c *client.Client) {
	tty := isTerminal(d.stdout)
	every, tick := 10, 0
	t := time.NewTicker(time.Second)
	defer t.Stop()
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
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		line := d.statusLine(ctx, c)
		cancel()
		if tty {
			fmt.Fprintf(d.stdout, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(d.stdout, line)
		}
	}
}

// statusLine reads the query's state and lag from SHOW QUERIES and the
// table's version and rows from its Delta log.
func (d *demo) statusLine(ctx context.Context, c *client.Client) string {
	line := fmt.Sprintf("produced %d", d.produced.Produced.Load())
	if st, lag, err := d.query(ctx, c); err == nil {
		line += fmt.Sprintf(" | query %s, lag %s", st, lag)
	}
	st, err := objstore.Open(ctx, d.table)
	if err == nil {
		if info, err := deltawriter.New(st).Inspect(ctx); err == nil {
			return line + fmt.Sprintf(" | %s: version %d, %d paid orders in %d files", table, info.Version, info.NumRecords, info.NumFiles)
		}
	}
	return line + " | " + table + ": no commit yet"
}

// query returns the status and lag of the demo's query from SHOW QUERIES.
func (d *demo) query(ctx context.Context, c *client.Client) (status, lag string, err error) {
	ans, err := c.Post(ctx, "SHOW QUERIES")
	if err != nil {
		return "", "", err
	}
	if ans.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("SHOW QUERIES: %s", ans.Status)
	}
	var ok serve.StatementsResponse
	if err := json.Unmarshal(ans.Body, &ok); err != nil || len(ok.Results) != 1 {
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
		if col(row, "table") == table {
			lag := col(row, "lag")
			if _, err := strconv.Atoi(lag); err == nil {
				lag += " records"
			}
			return col(row, "status"), lag, nil
		}
	}
	return "", "", fmt.Errorf("no query writes %s", table)
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

// Script is the demo's SQL: the store kafka on the given brokers, then the
// example pipeline testdata/pipelines/orders.sql, which reads it.
func Script(brokers string) (string, error) {
	pipeline, err := testdata.Pipeline("orders")
	if err != nil {
		return "", err
	}
	store := fmt.Sprintf("CREATE STORE IF NOT EXISTS kafka WITH ('type' = 'kafka', 'bootstrap.servers' = '%s');\n", strings.ReplaceAll(brokers, "'", "''"))
	return store + pipeline, nil
}
