package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/ingest"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		min, max time.Duration
		want     []time.Duration
	}{
		{time.Second, time.Minute, []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}},
		{time.Second, 5 * time.Second, []time.Duration{1, 2, 4, 5, 5}},
		{3 * time.Second, 3 * time.Second, []time.Duration{3, 3, 3}},
	}
	for _, tt := range tests {
		b := backoff{min: tt.min, max: tt.max}
		for i, w := range tt.want {
			if got := b.next(); got != w*time.Second {
				t.Errorf("%v..%v: delay %d = %v, want %v", tt.min, tt.max, i, got, w*time.Second)
			}
		}
		b.reset()
		if got := b.next(); got != tt.min {
			t.Errorf("after reset: %v, want %v", got, tt.min)
		}
	}
	b := backoff{min: time.Second, max: time.Hour, n: 1000} // no overflow after many crashes
	if got := b.next(); got != time.Hour {
		t.Errorf("after 1000 crashes: %v, want the cap", got)
	}
}

func TestParseLag(t *testing.T) {
	tests := []struct {
		name, text string
		sum        int64
		ok         bool
		err        bool
	}{
		{"two partitions", "# HELP sluice_ingest_consumer_lag x\n# TYPE sluice_ingest_consumer_lag gauge\n" +
			`sluice_ingest_consumer_lag{partition="0",query="q"} 12` + "\n" + `sluice_ingest_consumer_lag{partition="1",query="q"} 30` + "\n", 42, true, false},
		{"other metrics ignored", `sluice_ingest_consumer_lag_seconds{partition="0"} 99` + "\n" + `sluice_ingest_records_in_total{query="q"} 5` + "\n", 0, false, false},
		{"no partitions yet", "# TYPE sluice_ingest_consumer_lag gauge\n", 0, false, false},
		{"exponent and timestamp", `sluice_ingest_consumer_lag{partition="0"} 1.5e+06 1700000000000` + "\n", 1500000, true, false},
		{"label value with a brace", `sluice_ingest_consumer_lag{partition="0",query="a}b"} 7` + "\n", 7, true, false},
		{"negative counts as zero", `sluice_ingest_consumer_lag{partition="0"} -3` + "\n", 0, true, false},
		{"garbage value", `sluice_ingest_consumer_lag{partition="0"} lots` + "\n", 0, false, true},
	}
	for _, tt := range tests {
		sum, ok, err := parseLag(strings.NewReader(tt.text))
		if sum != tt.sum || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("%s: %d %v %v, want %d %v error=%v", tt.name, sum, ok, err, tt.sum, tt.ok, tt.err)
		}
	}
}

func TestLogCapture(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"slog error with err", []string{`{"time":"t","level":"INFO","msg":"worker started"}` + "\n", `{"level":"ERROR","msg":"flush","err":"s3: 503"}` + "\n"}, "flush: s3: 503"},
		{"info after error keeps the error", []string{`{"level":"ERROR","msg":"flush","error":"x"}` + "\n" + `{"level":"WARN","msg":"fetch"}` + "\n"}, "flush: x"},
		{"exit message with indented details", []string{"sluice worker: pipeline spec f: invalid pipeline spec:\n  sink.table: required\n", "  flush.interval: too short\n"}, "sluice worker: pipeline spec f: invalid pipeline spec: sink.table: required flush.interval: too short"},
		{"line split across writes", []string{`{"level":"ERR`, `OR","msg":"a"}` + "\n"}, "a"},
		{"unterminated last line", []string{"panic: boom"}, "panic: boom"},
		{"indented line without an error before", []string{`{"level":"INFO","msg":"x"}` + "\n", "  goroutine 1\n"}, "goroutine 1"},
		{"long line cut", []string{strings.Repeat("é", 2000) + "\n"}, strings.Repeat("é", maxErrorBytes/2) + "..."},
	}
	for _, tt := range tests {
		l, err := openLog(filepath.Join(t.TempDir(), "w.log"), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.writes {
			if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tt.name, n, err)
			}
		}
		if got := l.lastError(); got != tt.want {
			t.Errorf("%s: lastError %q, want %q", tt.name, got, tt.want)
		}
		l.Close()
	}
}

func TestLogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	l, err := openLog(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		l.Write([]byte(strings.Repeat("x", 39) + "\n"))
	}
	l.Close()
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if len(cur) != 40 || len(old) != 80 {
		t.Errorf("after 200 bytes with a 100-byte limit: current %d bytes, rotated %d; want 40 and 80", len(cur), len(old))
	}
}

func TestWorkerEnv(t *testing.T) {
	environ := []string{"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=s", "SLUICE_S3_SSE=aws:kms", "SLUICE_BOOTSTRAP_TOKEN=slu_x",
		"SLUICE_TEST_S3_SECRET_KEY=t", "HOME=/home/s", "PATH=/bin", "KAFKA_PW=k", "DATABASE_URL=postgres://", "AWSX=1", "NOEQUALS"}
	got := workerEnv(environ, []string{"KAFKA_PW"})
	want := []string{"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=s", "SLUICE_S3_SSE=aws:kms", "HOME=/home/s", "PATH=/bin", "KAFKA_PW=k"}
	if !slices.Equal(got, want) {
		t.Errorf("workerEnv = %v, want %v", got, want)
	}
}

func TestSecretEnvRefs(t *testing.T) {
	tests := []struct {
		sasl, registry string
		want           []string
		err            string
	}{
		{"env:KAFKA_PW", "env:SR_PW", []string{"KAFKA_PW", "SR_PW"}, ""},
		{"file:/run/secrets/kafka", "", nil, ""},
		{"env:SLUICE_BOOTSTRAP_TOKEN", "", nil, "source.sasl.password: secret reference env:SLUICE_BOOTSTRAP_TOKEN names a variable of the server's own configuration"},
		{"", "env:AWS_SECRET_ACCESS_KEY", nil, "decode.schemaRegistry.password: secret reference env:AWS_SECRET_ACCESS_KEY"},
	}
	for _, tt := range tests {
		sp := &ingest.Spec{}
		if tt.sasl != "" {
			sp.Source.SASL = &ingest.SASLSpec{Password: tt.sasl}
		}
		if tt.registry != "" {
			sp.Decode.SchemaRegistry = &ingest.SchemaRegistrySpec{Password: tt.registry}
		}
		got, err := secretEnvRefs(sp)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s/%s: err %v, want %q", tt.sasl, tt.registry, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s/%s: %v %v, want %v", tt.sasl, tt.registry, got, err, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"6f1c2a9e-4b1d-4c8e-9f3a-2d7e8b9c0a1f": true, "": false, "..": false, "a/b": false, "q_1": true, strings.Repeat("a", 65): false} {
		if validID(id) != want {
			t.Errorf("validID(%q) = %v", id, !want)
		}
	}
}
