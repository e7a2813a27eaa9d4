package eventgen

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGeneratorDeterministicAndPlausible(t *testing.T) {
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	a, b := New(7, WithClock(clock)), New(7, WithClock(clock))
	countries := map[string]int{}
	for i := range 5000 {
		x, y := a.Next(), b.Next()
		if x != y {
			t.Fatalf("event %d differs between two generators with one seed: %+v vs %+v", i, x, y)
		}
		if x.OrderID != int64(i+1) {
			t.Fatalf("order ids not sequential: got %d at %d", x.OrderID, i)
		}
		if x.Amount <= 0 || x.Items < 1 || x.Items > 21 || x.Customer == "" || x.Currency == "" || !x.TS.Equal(at) {
			t.Fatalf("implausible event %+v", x)
		}
		countries[x.Country]++
	}
	if len(countries) != len(countryList()) {
		t.Errorf("5000 events cover %d countries, want all %d", len(countries), len(countryList()))
	}
	if countries["US"] <= countries["ES"] {
		t.Errorf("weights not applied: US %d, ES %d", countries["US"], countries["ES"])
	}
	if New(8).Next() == New(7).Next() {
		t.Error("different seeds gave the same first event")
	}
}

func countryList() []string {
	var out []string
	for _, c := range countries {
		out = append(out, c.code)
	}
	return out
}

func TestRecordJSONAndPoison(t *testing.T) {
	g := New(1, WithPoison(0.2))
	bad := 0
	for range 2000 {
		r := g.Record()
		var o Order
		if err := json.Unmarshal(r.Value, &o); err != nil {
			bad++
			continue
		}
		if string(r.Key) != o.Customer {
			t.Fatalf("key %q is not the customer %q", r.Key, o.Customer)
		}
	}
	if int64(bad) != g.Poisoned() {
		t.Fatalf("invalid JSON records %d, Poisoned() %d", bad, g.Poisoned())
	}
	if bad < 300 || bad > 500 {
		t.Fatalf("poison fraction 0.2 of 2000 gave %d bad records", bad)
	}
	if New(1).Poisoned() != 0 {
		t.Fatal("poison without WithPoison")
	}
}

func TestRunProducesLimit(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rate := range []int{0, 2000} {
		var st Stats
		if err := Run(ctx, cl, New(3), "orders", rate, 450, &st); err != nil {
			t.Fatal(err)
		}
		if st.Produced.Load() != 450 || st.Failed.Load() != 0 {
			t.Fatalf("rate %d: produced %d, failed %d; want 450, 0", rate, st.Produced.Load(), st.Failed.Load())
		}
	}
	got := 0
	for got < 900 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 900: %v", got, err)
		}
		got += fs.NumRecords()
	}
	if err := Run(ctx, cl, New(1), "", 0, 1, nil); err == nil {
		t.Fatal("Run without a topic succeeded")
	}
}

func TestRunStopsOnContext(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var st Stats
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cl, New(1), "orders", 1000, 0, &st) }()
	for st.Produced.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop when its context was cancelled")
	}
}
