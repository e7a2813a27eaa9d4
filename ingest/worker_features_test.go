package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// runUntil runs a worker for spec until cond holds, then stops it.
func runUntil(t *testing.T, spec *Spec, cond func(w *Worker) bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, done := startWorker(t, ctx, spec)
	waitFor(t, "the worker", 30*time.Second, func() bool { return cond(w) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// selfSigned returns a TLS server config for 127.0.0.1 and the CA PEM.
func selfSigned(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, certPEM
}

// TestWorkerTLSAndSASL consumes over TLS with each SASL mechanism, the
// password given as a secret reference.
func TestWorkerTLSAndSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			tlsCfg, caPEM := selfSigned(t)
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"), kfake.TLS(tlsCfg),
				kfake.EnableSASL(), kfake.Superuser(mech, "sluice", "s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			t.Setenv("TEST_KAFKA_PASSWORD", "s3cret")
			m, err := saslMechanism(&SASLSpec{Mechanism: mech, Username: "sluice", Password: "env:TEST_KAFKA_PASSWORD"})
			if err != nil {
				t.Fatal(err)
			}
			prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}), kgo.SASL(m))
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			good := produce(t, prod, "orders", 0, 200, 0)
			dir := t.TempDir()
			ca := filepath.Join(dir, "ca.pem")
			os.WriteFile(ca, caPEM, 0o600)
			spec := testSpec(t, c.ListenAddrs(), "orders", dir)
			spec.Source.TLS = &TLSSpec{CAFile: ca}
			spec.Source.SASL = &SASLSpec{Mechanism: mech, Username: "sluice", Password: "env:TEST_KAFKA_PASSWORD"}
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			runUntil(t, spec, func(*Worker) bool { ids, _ := tableIDs(t, spec.Sink.Table); return len(ids) == good })
		})
	}
	// A password written into the spec in clear is refused.
	s := testSpec(t, []string{"127.0.0.1:1"}, "orders", t.TempDir())
	s.Source.SASL = &SASLSpec{Mechanism: "PLAIN", Username: "u", Password: "hunter2"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "source.sasl.password") {
		t.Fatalf("clear-text password: got %v", err)
	}
}

// TestSchemaEvolution: a new nullable column is added to the table on the
// next commit; incompatible changes fail naming the column.
func TestSchemaEvolution(t *testing.T) {
	c, prod := fakeKafka(t, 2)
	dir := t.TempDir()
	spec := testSpec(t, c.ListenAddrs(), "orders", dir)
	good := produce(t, prod, "orders", 0, 100, 0)
	runUntil(t, spec, func(*Worker) bool { ids, _ := tableIDs(t, spec.Sink.Table); return len(ids) == good })

	// v2 adds a nullable column.
	spec.Decode.Columns = append(spec.Decode.Columns, ColumnSpec{Name: "note", Type: "STRING"})
	good += produce(t, prod, "orders", 100, 100, 0)
	runUntil(t, spec, func(*Worker) bool { ids, _ := tableIDs(t, spec.Sink.Table); return len(ids) == good })
	_, snap := tableIDs(t, spec.Sink.Table)
	if f := snap.Schema.FieldByName("note"); f == nil || !f.Nullable || f.Type.Name != deltalog.TypeString {
		t.Fatalf("table schema after evolution: %s", snap.Schema)
	}

	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"type change", func(s *Spec) { s.Decode.Columns[1].Type = "BIGINT" }, `column "name" has type string in the table but the pipeline produces long`},
		{"dropped NOT NULL column", func(s *Spec) { s.Decode.Columns = s.Decode.Columns[1:] }, `column "id" is NOT NULL in the table but the pipeline no longer produces it`},
		{"new NOT NULL column", func(s *Spec) {
			f := false
			s.Decode.Columns = append(s.Decode.Columns, ColumnSpec{Name: "required_new", Type: "INT", Nullable: &f})
		}, `new column "required_new" must be nullable`},
	} {
		s := *spec
		s.Decode.Columns = append([]ColumnSpec(nil), spec.Decode.Columns...)
		tc.edit(&s)
		_, err := NewWorker(context.Background(), &s, WithLogger(quietLogger))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestMetricsAndHealth scrapes a running worker's Prometheus endpoint.
func TestMetricsAndHealth(t *testing.T) {
	c, prod := fakeKafka(t, 2)
	good := produce(t, prod, "orders", 0, 300, 10)
	spec := testSpec(t, c.ListenAddrs(), "orders", t.TempDir())
	spec.Metrics.Addr = "127.0.0.1:0"
	var body string
	runUntil(t, spec, func(w *Worker) bool {
		addr := w.MetricsAddr()
		if addr == "" {
			return false
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		resp.Body.Close()
		resp, err = http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return metric(body, `sluice_ingest_records_written_total{query="q1"}`) == float64(good)
	})
	for name, want := range map[string]float64{
		`sluice_ingest_records_in_total{query="q1"}`:                           300,
		`sluice_ingest_records_dead_lettered_total{query="q1",stage="decode"}`: float64(300 - good),
	} {
		if got := metric(body, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"sluice_ingest_consumer_lag", "sluice_ingest_committed_offset", "sluice_ingest_commit_seconds_bucket", "sluice_ingest_files_written_total", "sluice_ingest_bytes_written_total"} {
		if !strings.Contains(body, name) {
			t.Errorf("metric %s missing", name)
		}
	}
}

// metric returns the value of one sample in Prometheus text format.
func metric(body, name string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestStartPosition: a new table starts at the earliest offset, the end of
// the topic, or the first record at or after a timestamp.
func TestStartPosition(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		start string
		want  int // of 100 old records (timestamps t0+i min) and 50 new ones
	}{
		{"earliest", 150},
		{"latest", 50},
		{t0.Add(60 * time.Minute).Format(time.RFC3339), 40 + 50},
	} {
		t.Run(tc.start, func(t *testing.T) {
			c, prod := fakeKafka(t, 1)
			var old []*kgo.Record
			for i := 0; i < 100; i++ {
				old = append(old, &kgo.Record{Topic: "orders", Timestamp: t0.Add(time.Duration(i) * time.Minute),
					Value: []byte(`{"id": ` + strconv.Itoa(i) + `}`)})
			}
			if err := prod.ProduceSync(context.Background(), old...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			spec := testSpec(t, c.ListenAddrs(), "orders", t.TempDir())
			spec.Source.Start = tc.start
			ctx, cancel := context.WithCancel(context.Background())
			w, err := NewWorker(ctx, spec, WithLogger(quietLogger))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			waitFor(t, "assignment", 20*time.Second, func() bool { return w.ready.Load() })
			time.Sleep(500 * time.Millisecond) // the "latest" offset is resolved at assignment
			produce(t, prod, "orders", 1000, 50, 0)
			waitFor(t, "the table", 20*time.Second, func() bool {
				ids, _ := tableIDs(t, spec.Sink.Table)
				return len(ids) >= tc.want
			})
			time.Sleep(1500 * time.Millisecond) // nothing more arrives
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if ids, _ := tableIDs(t, spec.Sink.Table); len(ids) != tc.want {
				t.Fatalf("start %s: %d rows, want %d", tc.start, len(ids), tc.want)
			}
		})
	}
}

// AWS MSK IAM cannot run against a local broker; check the wiring: the
// mechanism signs the first SASL message with the credentials of the
// standard AWS chain (here the environment).
func TestMSKIAMMechanism(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	m, err := saslMechanism(&SASLSpec{Mechanism: "AWS_MSK_IAM"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "AWS_MSK_IAM" {
		t.Fatalf("mechanism %s", m.Name())
	}
	_, first, err := m.Authenticate(context.Background(), "b-1.msk.eu-west-1.amazonaws.com:9098")
	if err != nil {
		t.Fatal(err)
	}
	msg := string(first)
	for _, want := range []string{`"action":"kafka-cluster:Connect"`, "AKIDEXAMPLE", `"x-amz-signature"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("first SASL message lacks %s: %s", want, msg)
		}
	}
	if strings.Contains(msg, "secret-example") {
		t.Fatal("the secret key itself is in the SASL message")
	}
}

// TestStaticMembership: with source.instanceId the worker joins its group
// as a static member (what lets a restarted worker take its partitions
// back without waiting out the dead one's session); without, dynamically.
func TestStaticMembership(t *testing.T) {
	c, prod := fakeKafka(t, 2)
	produce(t, prod, "orders", 0, 20, 0)
	adm := kadm.NewClient(prod)
	for _, id := range []string{"sluice-q1", ""} {
		spec := testSpec(t, c.ListenAddrs(), "orders", t.TempDir())
		spec.Source.InstanceID = id
		// A group of its own: a static member stays in its group after
		// it stops, until its session times out.
		spec.Source.Group = "static-test-" + id
		var members []kadm.DescribedGroupMember
		runUntil(t, spec, func(w *Worker) bool {
			gs, err := adm.DescribeGroups(context.Background(), spec.Source.Group)
			if err != nil {
				return false
			}
			g := gs[spec.Source.Group]
			members = g.Members
			return g.State == "Stable" && len(members) == 1
		})
		got := ""
		if members[0].InstanceID != nil {
			got = *members[0].InstanceID
		}
		if got != id {
			t.Errorf("instanceId %q: the group member's instance id is %q", id, got)
		}
	}
}

// fakeKafka starts a one-broker kfake cluster with the topic "orders" of
// the given partitions and a client on it (a producer, and an admin's
// connection); both are closed when the test ends.
func fakeKafka(t *testing.T, partitions int32) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}
