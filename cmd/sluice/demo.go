package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sluice-io/sluice/serve/demo"
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

// demoAddr is the demo's default listen address.
const demoAddr = demo.DefaultAddr

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
	return demo.Run(ctx, demo.Options{DataDir: *dataDir, Addr: *addr, Profile: *profile, Rate: *rate, LogLevel: *level,
		Stdout: stdout, Stderr: stderr})
}
