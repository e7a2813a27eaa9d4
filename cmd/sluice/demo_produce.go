package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sluice-io/sluice/serve/demo"
)

const demoProduceUsage = `Produce the demo's web-shop orders (JSON, as 'sluice demo' does) into a
real Kafka topic, until interrupted or --count orders are acknowledged. The
local stack's generator service runs it (docker compose --profile demo).

Usage: sluice demo produce --brokers HOST:PORT[,...] [--topic T] [--rate N] [--count N]

The topic is created by the broker if it allows auto-creation; otherwise
create it first. Order ids start from the current time in microseconds, so
a restarted producer does not repeat the ids of an earlier run.

Examples:
  sluice demo produce --brokers localhost:9092 --rate 100
  sluice demo produce --brokers kafka:19092 --topic orders --count 1000
`

func runDemoProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo produce", demoProduceUsage, stderr)
	brokers := fs.String("brokers", "", "Kafka bootstrap servers, comma-separated")
	topic := fs.String("topic", demo.Topic, "topic to produce to")
	rate := fs.Int("rate", 100, "orders per second (0: as fast as the broker takes them)")
	count := fs.Int("count", 0, "stop after this many orders (0: run until interrupted)")
	readyFile := fs.String("ready-file", "", "create this file once the broker has acknowledged an order (for a health check: sluice healthcheck file://FILE)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *brokers == "" || *rate < 0 || *count < 0 {
		fmt.Fprintln(stderr, "sluice demo produce: give --brokers HOST:PORT; --rate and --count must not be negative (see --help)")
		return errUsage
	}
	return demo.Produce(ctx, demo.ProduceOptions{Brokers: *brokers, Topic: *topic, Rate: *rate, Count: *count, ReadyFile: *readyFile, Stdout: stdout})
}
