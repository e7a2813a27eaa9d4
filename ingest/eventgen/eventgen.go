// Package eventgen produces realistic synthetic events (web-shop orders as
// JSON) to a Kafka topic at a steady rate, for `sluice demo` and benchmarks.
package eventgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Order is one generated event. Its JSON form is the record value.
type Order struct {
	OrderID  int64     `json:"order_id"`
	Customer string    `json:"customer"`
	Country  string    `json:"country"`
	Channel  string    `json:"channel"`
	Status   string    `json:"status"`
	Items    int       `json:"items"`
	Amount   float64   `json:"amount"`
	Currency string    `json:"currency"`
	TS       time.Time `json:"ts"`
}

// country, its currency and its weight in the traffic mix.
var countries = []struct {
	code, currency string
	weight         int
}{
	{"US", "USD", 30}, {"DE", "EUR", 15}, {"GB", "GBP", 12}, {"FR", "EUR", 10},
	{"JP", "JPY", 8}, {"BR", "BRL", 7}, {"NL", "EUR", 6}, {"ES", "EUR", 6}, {"IN", "INR", 6},
}

var (
	channels = []string{"web", "web", "web", "mobile", "mobile", "store"}
	// statuses, weighted: most orders are paid.
	statuses = []string{"paid", "paid", "paid", "paid", "paid", "paid", "paid", "pending", "cancelled", "refunded"}
)

// Generator makes a deterministic sequence of orders from a seed.
type Generator struct {
	rng    *rand.Rand
	next   int64
	total  int
	now    func() time.Time
	bad    float64
	poison atomic.Int64
}

// Option configures a Generator.
type Option func(*Generator)

// WithClock sets the clock that stamps events (default time.Now).
func WithClock(now func() time.Time) Option { return func(g *Generator) { g.now = now } }

// WithStartID sets the first order id (default 1).
func WithStartID(id int64) Option { return func(g *Generator) { g.next = id } }

// WithPoison makes a fraction (0..1) of the records malformed JSON, to show
// dead-lettering. Default 0.
func WithPoison(fraction float64) Option { return func(g *Generator) { g.bad = fraction } }

// New returns a Generator seeded with seed.
func New(seed uint64, opts ...Option) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), next: 1, now: time.Now}
	for _, c := range countries {
		g.total += c.weight
	}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Next returns the next order.
func (g *Generator) Next() Order {
	id := g.next
	g.next++
	pick := g.rng.IntN(g.total)
	c := countries[0]
	for _, cc := range countries {
		if pick < cc.weight {
			c = cc
			break
		}
		pick -= cc.weight
	}
	items := 1 + int(math.Min(20, g.rng.ExpFloat64()*1.5))
	// Order values are roughly log-normal around 40 per item.
	amount := math.Round(math.Exp(g.rng.NormFloat64()*0.6+math.Log(40))*float64(items)*100) / 100
	if c.currency == "JPY" {
		amount = math.Round(amount * 150)
	}
	return Order{
		OrderID:  id,
		Customer: "cust-" + strconv.Itoa(1+g.rng.IntN(5000)),
		Country:  c.code,
		Channel:  channels[g.rng.IntN(len(channels))],
		Status:   statuses[g.rng.IntN(len(statuses))],
		Items:    items,
		Amount:   amount,
		Currency: c.currency,
		TS:       g.now().UTC(),
	}
}

// Record returns the next order as a Kafka record: key the customer (so a
// customer's orders stay in order on one partition), value its JSON. With
// WithPoison a fraction of values are truncated JSON.
func (g *Generator) Record() *kgo.Record {
	o := g.Next()
	v, _ := json.Marshal(o) // plain struct: cannot fail
	if g.bad > 0 && g.rng.Float64() < g.bad {
		v = v[:len(v)/2]
		g.poison.Add(1)
	}
	return &kgo.Record{Key: []byte(o.Customer), Value: v, Timestamp: o.TS}
}

// Poisoned reports how many malformed records Record has made.
func (g *Generator) Poisoned() int64 { return g.poison.Load() }

// Producer is the part of *kgo.Client that Run uses.
type Producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	Flush(ctx context.Context) error
}

// Stats counts what Run has produced; safe to read while Run runs.
type Stats struct {
	Produced atomic.Int64
	Failed   atomic.Int64
}

// Run produces records from g to topic at rate records per second (rate <=
// 0: as fast as the producer accepts) until ctx is done or limit records
// (limit <= 0: no limit) have been acknowledged or failed. It returns nil when
// stopped by ctx or the limit, and the first produce error otherwise only if
// every record failed (a broker going away for good), so a transient error
// does not stop a demo.
func Run(ctx context.Context, p Producer, g *Generator, topic string, rate, limit int, st *Stats) error {
	if topic == "" {
		return errors.New("eventgen: no topic")
	}
	if st == nil {
		st = &Stats{}
	}
	const tick = 100 * time.Millisecond
	var (
		sent     int
		firstErr atomic.Value
		tk       *time.Ticker
		credit   float64
	)
	if rate > 0 {
		tk = time.NewTicker(tick)
		defer tk.Stop()
	}
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			st.Failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
			return
		}
		st.Produced.Add(1)
	}
	for limit <= 0 || sent < limit {
		n := 1000
		if rate > 0 {
			select {
			case <-ctx.Done():
				return flush(p, st, &firstErr)
			case <-tk.C:
			}
			credit += float64(rate) * tick.Seconds()
			n = int(credit)
			credit -= float64(n)
		} else if ctx.Err() != nil {
			return flush(p, st, &firstErr)
		}
		if limit > 0 && sent+n > limit {
			n = limit - sent
		}
		for range n {
			r := g.Record()
			r.Topic = topic
			p.Produce(ctx, r, promise)
		}
		sent += n
	}
	return flush(p, st, &firstErr)
}

func flush(p Producer, st *Stats, firstErr *atomic.Value) error {
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		return fmt.Errorf("eventgen: flush: %w", err)
	}
	if st.Produced.Load() == 0 && st.Failed.Load() > 0 {
		return fmt.Errorf("eventgen: every record failed: %w", firstErr.Load().(error))
	}
	return nil
}
