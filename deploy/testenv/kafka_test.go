package testenv

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaProduceConsume proves the test broker works end to end: topic
// creation through kadm, idempotent acks=all produce, and a consumer group
// that reads everything back and commits its offsets.
func TestKafkaProduceConsume(t *testing.T) {
	k := Kafka(t)
	if k.PID != 0 {
		if err := syscall.Kill(k.PID, 0); err != nil {
			t.Fatalf("Kafka broker pid %d from %s: %v", k.PID, EnvKafkaPID, err)
		}
	}
	const partitions, n = 3, 1000
	topic := k.NewTopic(t, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// kadm sees the topic with its 3 partitions, each led by our one broker.
	adm := k.Admin(t)
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	d, ok := td[topic]
	if !ok {
		t.Fatalf("kadm.ListTopics does not list %s; it lists %v", topic, td.Names())
	}
	if d.Err != nil || len(d.Partitions) != partitions {
		t.Fatalf("topic %s: err %v, %d partitions, want %d", topic, d.Err, len(d.Partitions), partitions)
	}
	for _, p := range d.Partitions {
		if p.Leader != 1 || len(p.Replicas) != 1 {
			t.Errorf("partition %d: leader %d replicas %v, want leader 1 and one replica", p.Partition, p.Leader, p.Replicas)
		}
	}

	// Produce, idempotently with acks=all, keyed so records spread over the
	// partitions.
	prod := k.Client(t,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k-%04d", i)), Value: []byte(fmt.Sprintf("v-%04d", i))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", n, topic, err)
	}
	perPartition := map[int32]int{}
	for _, r := range recs {
		perPartition[r.Partition]++
		if r.ProducerID < 0 {
			t.Fatalf("record %s was not produced idempotently (producer id %d)", r.Key, r.ProducerID)
		}
	}
	if len(perPartition) != partitions {
		t.Errorf("records landed on partitions %v, want all %d used", perPartition, partitions)
	}

	// Consume everything back with a consumer group.
	group := topic + "-group"
	cons := k.Client(t,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	seen := make(map[string]string, n)
	lastOffset := map[int32]int64{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timing out", len(seen), n)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := lastOffset[r.Partition]; ok && r.Offset <= prev {
				t.Errorf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			lastOffset[r.Partition] = r.Offset
			if _, dup := seen[string(r.Key)]; dup {
				t.Errorf("record %s consumed twice", r.Key)
			}
			seen[string(r.Key)] = string(r.Value)
		})
	}
	for i := 0; i < n; i++ {
		k, want := fmt.Sprintf("k-%04d", i), fmt.Sprintf("v-%04d", i)
		if got, ok := seen[k]; !ok || got != want {
			t.Errorf("record %s: got %q (present %v), want %q", k, got, ok, want)
		}
	}
	if len(seen) != n {
		t.Errorf("consumed %d distinct records, want %d", len(seen), n)
	}

	// The group's committed offsets account for every record.
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit offsets for group %s: %v", group, err)
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch committed offsets of group %s: %v", group, err)
	}
	var committed int64
	if err := offs.Error(); err != nil {
		t.Fatalf("committed offsets of group %s: %v", group, err)
	}
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != n {
		t.Errorf("group %s committed offsets summing to %d, want %d", group, committed, n)
	}
}
