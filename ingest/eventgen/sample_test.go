package eventgen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/golden"
	"github.com/sluice-io/sluice/testdata"
)

// TestSampleOrders: testdata/events/orders.jsonl, the sample events other
// tests feed to pipelines, is exactly what the generator makes (seed 1, one
// order a second from 2026-01-01T00:00:00Z), so the file keeps the shape of
// the orders `sluice demo` produces. -update rewrites it.
func TestSampleOrders(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := New(1, WithClock(func() time.Time { at = at.Add(time.Second); return at.Add(-time.Second) }))
	var b strings.Builder
	for range 200 {
		line, err := json.Marshal(g.Next())
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	golden.Check(t, testdata.Path("events", "orders.jsonl"), b.String())
}
