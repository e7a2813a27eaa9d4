package sharing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluice-io/sluice/policy"
)

func TestNewHandlerOptions(t *testing.T) {
	e := newEnv(t)
	pol, err := policy.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"short token key", []Option{WithTokenKey([]byte("short"))}},
		{"zero URL lifetime", []Option{WithURLLifetime(0)}},
		{"negative token lifetime", []Option{WithTokenLifetime(-time.Second)}},
	} {
		if _, err := NewHandler(e.cat, pol, c.opts...); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := NewHandler(nil, pol); err == nil {
		t.Error("no catalog: accepted")
	}
}

// TestURLLifetimeAndMetrics: the configured lifetime is the files'
// expirationTimestamp, and the counters see requests, files and bytes.
func TestURLLifetimeAndMetrics(t *testing.T) {
	e := newEnv(t)
	pol, _ := policy.New(context.Background())
	reg := prometheus.NewRegistry()
	h, err := NewHandler(e.cat, pol, WithSigner(fakeSigner{}), WithClock(func() time.Time { return now }),
		WithURLLifetime(time.Hour), WithRegisterer(reg), WithPrefix("/ds/"))
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.srv.Config.Handler = h
	r := e.do("POST", "acme", "/../ds"+orders+"/query", "{}") // not under the prefix
	if r.status != 404 {
		t.Fatalf("outside the prefix: %d", r.status)
	}
	req := func(path string) response {
		return e.doRaw("POST", "acme", "/ds"+path, "{}")
	}
	r = req(orders + "/query")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := now.Add(time.Hour).UnixMilli()
	for _, l := range ndjson(t, r.body) {
		if f, ok := l["file"].(map[string]any); ok && f["expirationTimestamp"] != float64(want) {
			t.Fatalf("expiry %v, want %d", f["expirationTimestamp"], want)
		}
	}
	if got := counterValue(h.files); got != 4 {
		t.Errorf("files_total %v", got)
	}
	if got := counterValue(h.bytes); got != 670 {
		t.Errorf("bytes_total %v", got)
	}
	if got := counterValue(h.requests.WithLabelValues("query", "200")); got != 1 {
		t.Errorf("requests_total{query,200} %v", got)
	}
}

// TestLocalTableWithoutSigner: the default signer cannot sign local files;
// the recipient gets a 500 that says nothing of where the table lives.
func TestLocalTableWithoutSigner(t *testing.T) {
	e := newEnv(t)
	pol, _ := policy.New(context.Background())
	h, err := NewHandler(e.cat, pol)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	r := e.do("POST", "acme", orders+"/query", "{}")
	if r.status != 500 || errorCode(t, r) != codeInternal || strings.Contains(r.body, e.dirs["orders"]) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Metadata needs no URL and works.
	if r := e.do("GET", "acme", orders+"/metadata", ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestConcurrentRequests: the handler serves recipients in parallel (run
// with -race); every answer is the one a lone request gets.
func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t)
	want := e.do("POST", "acme", orders+"/query", "{}").body
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if r := e.do("POST", "acme", orders+"/query", "{}"); r.body != want {
					errs <- "query: " + r.body
				}
				if r := e.do("GET", []string{"acme", "other"}[i%2], "/shares", ""); r.status != 200 {
					errs <- "list: " + r.body
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// authFunc adapts a function to Authenticator, as a JWT authenticator
// would plug in.
type authFunc func(r *http.Request) (string, error)

func (f authFunc) Authenticate(r *http.Request) (string, error) { return f(r) }

func TestCustomAuthenticator(t *testing.T) {
	e := newEnv(t)
	pol, _ := policy.New(context.Background())
	h, err := NewHandler(e.cat, pol, WithSigner(fakeSigner{}), WithAuthenticator(authFunc(func(r *http.Request) (string, error) {
		switch r.Header.Get("X-Test") {
		case "acme":
			return "acme", nil
		case "broken":
			return "", errors.New("key server down")
		}
		return "", fmt.Errorf("%w: bad JWT", ErrUnauthenticated)
	})))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	if r := e.do("GET", "", "/shares", "", "X-Test", "acme"); r.status != 200 || !strings.Contains(r.body, "q3") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "", "/shares", "", "X-Test", "nobody"); r.status != 401 || !strings.Contains(r.body, "bad JWT") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("GET", "", "/shares", "", "X-Test", "broken"); r.status != 500 || strings.Contains(r.body, "key server") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
