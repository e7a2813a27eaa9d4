package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Environment variables exported by deploy/testenv/test.sh for Kafka.
const (
	EnvKafkaBrokers = "SLUICE_TEST_KAFKA_BROKERS" // 127.0.0.1:PORT[,...], PLAINTEXT
	EnvKafkaPID     = "SLUICE_TEST_KAFKA_PID"     // to pause/kill the broker in failure tests
)

// KafkaEnv describes the test Kafka cluster: one Apache Kafka broker in
// KRaft combined mode (broker and controller in one process), PLAINTEXT on
// loopback, with auto.create.topics.enable=false, so topics must be made
// with NewTopic (or kadm).
type KafkaEnv struct {
	Brokers []string // seed brokers, host:port
	PID     int      // the broker's process id, 0 if unknown
}

// Kafka returns the test Kafka cluster. It fails the test when the
// environment is not set up (skips it under -short).
func Kafka(t testing.TB) *KafkaEnv {
	t.Helper()
	k := &KafkaEnv{}
	for _, b := range strings.Split(need(t, EnvKafkaBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			k.Brokers = append(k.Brokers, b)
		}
	}
	if len(k.Brokers) == 0 {
		t.Fatalf("%s lists no brokers; run deploy/testenv/test.sh", EnvKafkaBrokers)
	}
	if pid := os.Getenv(EnvKafkaPID); pid != "" {
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q is not a process id; run deploy/testenv/test.sh", EnvKafkaPID, pid)
		}
		k.PID = n
	}
	return k
}

// Client returns a franz-go client seeded with the test brokers; opts are
// applied after the seeds (so they can add consumer or producer settings).
// The client is closed at cleanup.
func (k *KafkaEnv) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("new Kafka client for %v: %v", k.Brokers, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm admin client for the test brokers, closed at cleanup.
func (k *KafkaEnv) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(k.Client(t))
}

// NewTopic creates a topic with a unique name (derived from the test's name)
// and the given number of partitions, replication factor 1, and waits until
// every partition has a leader. It returns the name; the topic is deleted at
// cleanup.
func (k *KafkaEnv) NewTopic(t testing.TB, partitions int) string {
	t.Helper()
	return k.NewTopicNamed(t, topicName(t.Name()), partitions)
}

// NewTopicNamed is NewTopic with the name given, for a test that runs a
// pipeline reading a fixed topic. (Names NewTopic derives from test names
// never collide with it.) It fails the test if the topic exists.
func (k *KafkaEnv) NewTopicNamed(t testing.TB, name string, partitions int) string {
	t.Helper()
	if partitions <= 0 {
		t.Fatalf("NewTopic: partitions must be positive, got %d", partitions)
	}
	adm := k.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, name); err != nil {
		t.Fatalf("create Kafka topic %s (%d partitions) at %v: %v", name, partitions, k.Brokers, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopic(ctx, name); err != nil {
			t.Logf("cleanup: delete Kafka topic %s: %v", name, err)
		}
	})
	if err := waitTopicReady(ctx, adm, name, partitions); err != nil {
		t.Fatalf("Kafka topic %s: %v", name, err)
	}
	return name
}

// waitTopicReady polls metadata until the topic has the given number of
// partitions, each with a leader.
func waitTopicReady(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	var last error
	for {
		td, err := adm.ListTopics(ctx, topic)
		switch {
		case err != nil:
			last = err
		case td[topic].Err != nil:
			last = td[topic].Err
		case len(td[topic].Partitions) != partitions:
			last = fmt.Errorf("metadata shows %d partitions, want %d", len(td[topic].Partitions), partitions)
		default:
			last = nil
			for _, p := range td[topic].Partitions {
				if p.Err != nil || p.Leader < 0 {
					last = fmt.Errorf("partition %d has no leader yet (%v)", p.Partition, p.Err)
					break
				}
			}
			if last == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicName returns "sluice-test-<test name>-<random hex>", keeping only the
// characters Kafka allows in topic names ([a-zA-Z0-9._-]) and avoiding '.',
// which Kafka treats as colliding with '_' in metric names.
func topicName(test string) string {
	var b strings.Builder
	for _, r := range test {
		if b.Len() >= 100 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	return "sluice-test-" + b.String() + "-" + hex.EncodeToString(rnd[:])
}
