package demo

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

// ProduceOptions configure Produce.
type ProduceOptions struct {
	Brokers   string // Kafka bootstrap servers, comma-separated
	Topic     string // default Topic
	Rate      int    // orders per second; 0: as fast as the broker takes them
	Count     int    // stop after this many orders; 0: until ctx ends
	ReadyFile string // created once the broker has acknowledged an order
	Stdout    io.Writer
}

// Produce sends the demo's web-shop orders into a real Kafka topic until
// ctx ends or Count orders are acknowledged, printing progress every 10 s.
// Order ids start from the current time in microseconds, so a restarted
// producer does not repeat the ids of an earlier run.
func Produce(ctx context.Context, o ProduceOptions) error {
	if o.Topic == "" {
		o.Topic = Topic
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(o.Brokers, ",")...), kgo.AllowAutoTopicCreation())
	if err != nil {
		return fmt.Errorf("kafka %s: %w", o.Brokers, err)
	}
	defer client.Close()
	var st eventgen.Stats
	gen := eventgen.New(uint64(time.Now().UnixNano()), eventgen.WithStartID(time.Now().UnixMicro()))
	fmt.Fprintf(o.Stdout, "producing web-shop orders to %s, topic %s, %d/s\n", o.Brokers, o.Topic, o.Rate)
	done := make(chan error, 1)
	go func() { done <- eventgen.Run(ctx, client, gen, o.Topic, o.Rate, o.Count, &st) }()
	if o.ReadyFile != "" {
		os.Remove(o.ReadyFile) // an earlier run's
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ready := o.ReadyFile == ""
	for n := 1; ; n++ {
		select {
		case err := <-done:
			fmt.Fprintf(o.Stdout, "%d orders produced, %d failed\n", st.Produced.Load(), st.Failed.Load())
			return err
		case <-tick.C:
		}
		if !ready && st.Produced.Load() > 0 {
			if err := os.WriteFile(o.ReadyFile, []byte("producing\n"), 0o600); err != nil {
				return fmt.Errorf("--ready-file: %w", err)
			}
			ready = true
		}
		if n%10 == 0 {
			fmt.Fprintf(o.Stdout, "%d orders produced, %d failed\n", st.Produced.Load(), st.Failed.Load())
		}
	}
}
