package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/internal/logging"
)

const workerUsage = `Run one pipeline worker: consume a Kafka topic into a Delta table, exactly once.

Usage: sluice worker --spec FILE [--instance-id ID] [--log-level info] [--metrics-addr HOST:PORT]

The spec (YAML) names the source topic, how values decode into columns, an
optional filter and computed columns, the table, the dead-letter table and the
flush policy. Offsets live in the table (as Delta txn actions), so a worker
can be killed at any moment and restarted.

The worker is a static member of its consumer group, with the id
source.instanceId (default sluice-<query>): restarted after a crash, it gets
its partitions back at once instead of after the dead member's session
timeout. Several workers of one query share the partitions of the topic
through the group; each needs its own id (--instance-id, or instanceId in its
spec), or the last one started fences the others.

Example spec:

  query: orders-eu
  source:
    brokers: ["kafka-1:9092"]
    topic: orders
    instanceId: sluice-orders-eu  # the default: sluice-<query>
    start: earliest            # earliest | latest | 2024-05-01T00:00:00Z
  decode:
    format: json
    columns:
      - {name: id, type: BIGINT, nullable: false}
      - {name: amount, type: "DECIMAL(12,2)"}
      - {name: placed_at, type: TIMESTAMP, path: meta.placed_at}
      - {name: kafka_offset, meta: offset}
  sink:
    table: s3://lake/sales/orders_eu
    partitionBy: []
  flush:
    interval: 10s              # max age of a row in its table partition (freshness)
    maxBytes: 128MiB           # a table partition commits early at this much Parquet
    maxRows: 1000000
    memoryLimit: 256MiB
  metrics:
    addr: 127.0.0.1:9464       # /metrics and /healthz
`

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", workerUsage, stderr)
	specPath := fs.String("spec", "", "pipeline spec file (YAML)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics and /healthz here (overrides the spec)")
	instanceID := fs.String("instance-id", "", "static consumer-group member id (overrides source.instanceId; default sluice-<query>)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *specPath == "" || len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice worker: --spec FILE is required and no arguments are taken (see --help)")
		return errUsage
	}
	logger, err := logging.New(stderr, *level)
	if err != nil {
		return err
	}
	return ingest.RunSpecFile(ctx, *specPath, ingest.RunOptions{MetricsAddr: *metricsAddr, InstanceID: *instanceID, Logger: logger})
}
