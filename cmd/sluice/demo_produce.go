package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/ingest/eventgen"
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
	topic := fs.String("topic", demoTopic, "topic to produce to")
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
	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...), kgo.AllowAutoTopicCreation())
	if err != nil {
		return fmt.Errorf("kafka %s: %w", *brokers, err)
	}
	defer client.Close()
	var st eventgen.Stats
	gen := eventgen.New(uint64(time.Now().UnixNano()), eventgen.WithStartID(time.Now().UnixMicro()))
	fmt.Fprintf(stdout, "producing web-shop orders to %s, topic %s, %d/s\n", *brokers, *topic, *rate)
	done := make(chan error, 1)
	go func() { done <- eventgen.Run(ctx, client, gen, *topic, *rate, *count, &st) }()
	if *readyFile != "" {
		os.Remove(*readyFile) // an earlier run's
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ready := *readyFile == ""
	for n := 1; ; n++ {
		select {
		case err := <-done:
			fmt.Fprintf(stdout, "%d orders produced, %d failed\n", st.Produced.Load(), st.Failed.Load())
			return err
		case <-tick.C:
		}
		if !ready && st.Produced.Load() > 0 {
			if err := os.WriteFile(*readyFile, []byte("producing\n"), 0o600); err != nil {
				return fmt.Errorf("--ready-file: %w", err)
			}
			ready = true
		}
		if n%10 == 0 {
			fmt.Fprintf(stdout, "%d orders produced, %d failed\n", st.Produced.Load(), st.Failed.Load())
		}
	}
}
