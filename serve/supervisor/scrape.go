package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// lagMetric is the worker's per-partition lag gauge (package ingest).
const lagMetric = "sluice_ingest_consumer_lag"

// scrape reads the worker's lag from its /metrics every scrapeEvery until
// ctx is canceled.
func (s *Supervisor) scrape(ctx context.Context, q *query, addr string) {
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + addr + "/metrics"
	t := time.NewTicker(s.scrapeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lag, ok, err := scrapeLag(ctx, client, url)
		if err != nil {
			s.log.Debug("scrape worker metrics", "query", q.id, "err", err)
			continue
		}
		if ctx.Err() != nil {
			return // the process is gone or going: its lag is no longer current
		}
		if !ok {
			lag = -1 // no partition assigned yet
		}
		q.update(func(st *Status) { st.Lag = lag })
	}
}

func scrapeLag(ctx context.Context, client *http.Client, url string) (int64, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseLag(io.LimitReader(resp.Body, 8<<20))
}

// parseLag sums the samples of the lag gauge in the Prometheus text
// format; ok is false when there is none (no partition assigned).
func parseLag(r io.Reader) (sum int64, ok bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, lagMetric)
		if !found || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // a comment, another metric, or one whose name only starts so
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest) // value [timestamp]
		if len(fields) == 0 {
			return 0, false, fmt.Errorf("metrics: sample without a value: %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("metrics: %q: %w", line, err)
		}
		if v > 0 {
			sum += int64(v)
		}
		ok = true
	}
	return sum, ok, sc.Err()
}
