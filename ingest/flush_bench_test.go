package ingest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkFlushTradeoff simulates an hour of the demo's shape through the
// flush policy (duePartitions, the code the worker runs): 100 records/s
// into 9 table partitions, one hot partition taking half of them and eight
// sharing the rest, ~60 bytes of Parquet a row (zstd, the demo's columns).
// It reports files and commits per hour and the p50/p99 freshness (commit
// time minus arrival) for each max age (flush.interval) and size
// (flush.maxBytes). Time is simulated in 10 ms steps, as the worker wakes
// at the next partition's deadline.
//
//	go test -run '^$' -bench BenchmarkFlushTradeoff -benchtime 1x ./ingest/
func BenchmarkFlushTradeoff(b *testing.B) {
	const (
		rate     = 100 // records/s
		parts    = 9
		rowBytes = 60
		step     = 10 * time.Millisecond
		hour     = time.Hour
	)
	type setting struct {
		age   time.Duration
		bytes int64
	}
	settings := []setting{
		{2 * time.Second, 128 << 20}, {10 * time.Second, 128 << 20}, {time.Minute, 128 << 20},
		{5 * time.Minute, 128 << 20}, {5 * time.Minute, 256 << 10}, {15 * time.Minute, 1 << 20},
	}
	var table strings.Builder
	for range b.N {
		table.Reset()
		table.WriteString("| max age | max bytes | files/hour | commits/hour | p50 freshness | p99 freshness |\n|---|---|---|---|---|---|\n")
		for _, s := range settings {
			rng := rand.New(rand.NewPCG(1, 2))
			start := time.Unix(0, 0)
			pending := make([][]time.Time, parts) // arrival times buffered per partition
			state := map[string]partitionState{}
			var lat []time.Duration
			files, commits := 0, 0
			perStep := float64(rate) * step.Seconds()
			for now := start; now.Sub(start) < hour; now = now.Add(step) {
				for n := poisson(rng, perStep); n > 0; n-- {
					p := 0 // hot
					if rng.Float64() >= 0.5 {
						p = 1 + rng.IntN(parts-1)
					}
					key := fmt.Sprint(p)
					if len(pending[p]) == 0 {
						state[key] = partitionState{started: now}
					}
					pending[p] = append(pending[p], now)
					st := state[key]
					st.bytes += rowBytes
					state[key] = st
				}
				due := duePartitions(state, now, Policy{MaxAge: s.age, MaxBytes: s.bytes})
				if len(due) > 0 {
					commits++
				}
				for key := range due {
					var p int
					fmt.Sscan(key, &p)
					for _, t := range pending[p] {
						lat = append(lat, now.Sub(t))
					}
					pending[p] = pending[p][:0]
					delete(state, key)
					files++
				}
			}
			slices.Sort(lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			fmt.Fprintf(&table, "| %s | %s | %d | %d | %.1f s | %.1f s |\n", s.age, sizeString(s.bytes), files, commits, p50.Seconds(), p99.Seconds())
			b.ReportMetric(float64(files), fmt.Sprintf("files/h@%s,%s", s.age, sizeString(s.bytes)))
		}
	}
	b.Log("\n" + table.String())
}

// poisson draws from a Poisson distribution of mean m (Knuth; m is small).
func poisson(rng *rand.Rand, m float64) int {
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	default:
		return fmt.Sprintf("%dKiB", n>>10)
	}
}
