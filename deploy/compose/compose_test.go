// Package compose_test runs the root docker-compose.yml for real: images
// built (third-party ones from the stand-ins deploy/container/setup.sh
// makes under the same names), the stack up and healthy, records produced
// from the host read back through the written profile with the Python
// delta-sharing connector, SSE-KMS on the table's objects, a restart of the
// server losing and duplicating nothing, and `down -v` leaving nothing.
package compose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/ingest/eventgen"
)

// readShare is the README's pandas snippet: the table through the profile.
const readShare = `import json, sys
import delta_sharing
df = delta_sharing.load_as_pandas(sys.argv[1] + "#partners.sales.paid_orders")
print(json.dumps([int(x) for x in df["order_id"]]))
`

// stack is one compose project of the root docker-compose.yml.
type stack struct {
	t       *testing.T
	env     *testenv.ContainerEnv
	root    string
	project string
	vars    []string
	dir     string // SLUICE_STACK_DIR
	ports   map[string]int
}

func TestComposeStack(t *testing.T) {
	start := time.Now()
	ctrs := testenv.Containers(t)
	py := testenv.Python(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, env: ctrs, root: root, project: fmt.Sprintf("sluicetest%d", time.Now().UnixNano()%1e9),
		dir: t.TempDir(), ports: map[string]int{}}
	for _, name := range []string{"SLUICE_HTTP_PORT", "SLUICE_S3_PORT", "SLUICE_KAFKA_PORT"} {
		s.ports[name] = freePort(t)
		s.vars = append(s.vars, fmt.Sprintf("%s=%d", name, s.ports[name]))
	}
	s.vars = append(s.vars, "SLUICE_STACK_DIR="+s.dir, "SLUICE_IMAGE_TAG=test", "SLUICE_VERSION=v0.0.0-composetest",
		"SLUICE_COMMIT=0123456789abcdef0123456789abcdef01234567")
	run(t, "", filepath.Join(root, "deploy/compose/secrets.sh"), s.dir)

	// docker compose config: the file is valid.
	s.compose("config", "--quiet")

	t.Cleanup(func() { s.composeErr("down", "--volumes", "--remove-orphans", "--timeout", "10") })
	t0 := time.Now()
	s.compose("build")
	t.Logf("images built in %v", time.Since(t0).Round(time.Second))
	if out := run(t, "", ctrs.Podman, "run", "--rm", "sluice:test", "version"); !strings.Contains(out, "v0.0.0-composetest (commit 0123456789abcdef") {
		t.Errorf("sluice version in the image = %q, want the stamped version and commit", out)
	}

	t0 = time.Now()
	s.up()
	t.Logf("up -d --wait: healthy in %v", time.Since(t0).Round(time.Second))
	profile := filepath.Join(s.dir, "profiles", "acme.share")
	first, err := os.ReadFile(profile)
	if err != nil {
		t.Fatalf("the init service wrote no profile: %v\n%s", err, s.composeErr("logs", "init"))
	}
	if st, _ := os.Stat(profile); st.Mode().Perm() != 0o600 {
		t.Errorf("profile mode %v, want 0600", st.Mode().Perm())
	}
	if !strings.Contains(string(first), fmt.Sprintf("http://localhost:%d/delta-sharing", s.ports["SLUICE_HTTP_PORT"])) {
		t.Errorf("profile %s does not name the published server:\n%s", profile, first)
	}

	// N records from the host; the pipeline keeps the paid ones.
	gen := eventgen.New(42, eventgen.WithStartID(1))
	want := s.produce(gen, 300)
	t0 = time.Now()
	s.waitShare(py, profile, want)
	t.Logf("%d of 300 records readable through the share %v after producing", len(want), time.Since(t0).Round(100*time.Millisecond))

	s.checkSSEKMS()

	// A restart of the server (and so of its worker) loses and duplicates
	// nothing: the records before and after it are all there, once.
	s.compose("restart", "--timeout", "20", "sluice")
	s.up("--no-recreate")
	want = append(want, s.produce(gen, 300)...)
	s.waitShare(py, profile, want)

	// A second up is harmless, and applying the pipelines again (what
	// `restart init` does, and a new container of it would) changes
	// nothing: the profile (its token) stays as it was.
	s.up()
	s.compose("restart", "init")
	s.up("--no-recreate")
	if again, _ := os.ReadFile(profile); !bytes.Equal(again, first) {
		t.Errorf("applying again rewrote the profile:\n%s\nwas\n%s", again, first)
	}
	if logs := s.composeErr("logs", "init"); !strings.Contains(logs, "table shop.sales.paid_orders already exists, skipped") ||
		!strings.Contains(logs, "recipient acme already exists, skipped") {
		t.Errorf("the second apply did not skip the existing objects:\n%s", logs)
	}

	// The demo profile's generator feeds the same topic: the share grows.
	s.vars = append(s.vars, "COMPOSE_PROFILES=demo")
	s.up()
	s.waitShareGrows(py, profile, len(want))

	s.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
	label := "label=com.docker.compose.project=" + s.project
	for _, what := range [][]string{{"ps", "-a"}, {"volume", "ls"}, {"network", "ls"}} {
		args := append(append([]string(nil), what...), "--filter", label, "--format", "{{.Names}}{{.Name}}")
		if out := strings.TrimSpace(run(t, "", ctrs.Podman, args...)); out != "" {
			t.Errorf("after down -v, podman %s still lists: %s", strings.Join(what, " "), out)
		}
	}
	t.Logf("compose test: %v in all", time.Since(start).Round(time.Second))
}

// compose runs docker compose on the root docker-compose.yml for this
// project and fails the test on error.
func (s *stack) compose(args ...string) string {
	s.t.Helper()
	out, err := s.composeRun(args...)
	if err != nil {
		s.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// composeErr runs docker compose and returns its output, errors included.
func (s *stack) composeErr(args ...string) string {
	out, err := s.composeRun(args...)
	if err != nil {
		out += "\n" + err.Error()
	}
	return out
}

func (s *stack) composeRun(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.env.Compose, append([]string{"--project-name", s.project, "--file", filepath.Join(s.root, "docker-compose.yml")}, args...)...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), s.vars...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// up runs `up -d --wait` with pulling disabled. Podman 4.3 runs health
// checks from systemd timers, which these machines lack, so meanwhile a
// loop runs them for the project's containers.
func (s *stack) up(flags ...string) {
	s.t.Helper()
	stop := s.healthLoop()
	defer stop()
	s.compose(append([]string{"up", "--detach", "--wait", "--wait-timeout", "300", "--pull", "never"}, flags...)...)
}

func (s *stack) healthLoop() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			out, _ := exec.CommandContext(ctx, s.env.Podman, "ps", "--quiet", "--filter", "label=com.docker.compose.project="+s.project,
				"--filter", "health=starting").Output()
			out2, _ := exec.CommandContext(ctx, s.env.Podman, "ps", "--quiet", "--filter", "label=com.docker.compose.project="+s.project,
				"--filter", "health=unhealthy").Output()
			for _, id := range strings.Fields(string(out) + " " + string(out2)) {
				exec.CommandContext(ctx, s.env.Podman, "healthcheck", "run", id).Run()
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// produce sends n orders to the topic orders from the host and returns the
// ids of those the pipeline keeps (status paid, amount > 0).
func (s *stack) produce(gen *eventgen.Generator, n int) []int64 {
	s.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("localhost:%d", s.ports["SLUICE_KAFKA_PORT"])), kgo.AllowAutoTopicCreation(),
		kgo.DefaultProduceTopic("orders"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var kept []int64
	var recs []*kgo.Record
	for range n {
		r := gen.Record()
		var o eventgen.Order
		if err := json.Unmarshal(r.Value, &o); err != nil {
			s.t.Fatal(err)
		}
		if o.Status == "paid" && o.Amount > 0 {
			kept = append(kept, o.OrderID)
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		s.t.Fatalf("producing %d records to localhost:%d: %v", n, s.ports["SLUICE_KAFKA_PORT"], err)
	}
	return kept
}

// waitShare reads the share through the profile until it holds exactly
// want (as a multiset), failing after two minutes.
func (s *stack) waitShare(py, profile string, want []int64) {
	s.t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(2 * time.Minute)
	var got []int64
	var last string
	for time.Now().Before(deadline) {
		cmd := exec.Command(py, "-c", readShare, profile)
		out, err := cmd.Output()
		if err != nil {
			last = fmt.Sprintf("%v: %s", err, exitStderr(err))
		} else if err := json.Unmarshal(out, &got); err != nil {
			last = fmt.Sprintf("%v: %s", err, out)
		} else {
			slices.Sort(got)
			if slices.Equal(got, want) {
				return
			}
			last = fmt.Sprintf("%d rows, want %d", len(got), len(want))
			if len(got) > len(want) {
				break // more than produced: duplicates, waiting will not help
			}
		}
		time.Sleep(2 * time.Second)
	}
	s.t.Fatalf("the share through %s never held exactly the %d kept records: %s\ngot  %v\nwant %v\nsluice logs:\n%s",
		profile, len(want), last, got, want, s.composeErr("logs", "--tail", "50", "sluice"))
}

// waitShareGrows waits until the share holds more than n rows.
func (s *stack) waitShareGrows(py, profile string, n int) {
	s.t.Helper()
	var last string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		var got []int64
		out, err := exec.Command(py, "-c", readShare, profile).Output()
		if err == nil && json.Unmarshal(out, &got) == nil && len(got) > n {
			return
		}
		last = fmt.Sprintf("%d rows (%v)", len(got), err)
	}
	s.t.Fatalf("the generator's orders never reached the share (still %s, had %d)\n%s", last, n, s.composeErr("logs", "--tail", "20", "generator"))
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// checkSSEKMS asks MinIO, from the host, for every object of the table:
// each must be SSE-KMS encrypted with the stack's key.
func (s *stack) checkSSEKMS() {
	s.t.Helper()
	env := map[string]string{}
	b, err := os.ReadFile(filepath.Join(s.dir, "sluice.env"))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	c := s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true,
		BaseEndpoint: aws.String(fmt.Sprintf("http://localhost:%d", s.ports["SLUICE_S3_PORT"])),
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")})
	ctx := context.Background()
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("warehouse"), Prefix: aws.String("tables/")})
	if err != nil {
		s.t.Fatalf("list the warehouse bucket: %v", err)
	}
	var parquet int
	for _, o := range list.Contents {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("warehouse"), Key: o.Key})
		if err != nil {
			s.t.Fatalf("HeadObject %s: %v", *o.Key, err)
		}
		if h.ServerSideEncryption != types.ServerSideEncryptionAwsKms || !strings.HasSuffix(aws.ToString(h.SSEKMSKeyId), "sluice-key") {
			s.t.Errorf("object %s: SSE %q key %q, want aws:kms with sluice-key", *o.Key, h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId))
		}
		if strings.HasSuffix(*o.Key, ".parquet") {
			parquet++
		}
	}
	if parquet == 0 {
		s.t.Fatalf("no Parquet file under s3://warehouse/tables/ (%d objects)", len(list.Contents))
	}
	s.t.Logf("%d objects of the table, %d Parquet files, all SSE-KMS with sluice-key", len(list.Contents), parquet)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run runs a command and returns its output, failing the test on error.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
