//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/deploy/testenv"
)

// replica is one `sluice serve` process of a replicated deployment.
type replica struct {
	name string
	cmd  *exec.Cmd
	url  string
}

// startReplica runs `sluice serve` as a process of its own (this test
// binary, see TestMain) on the PostgreSQL catalog catURL (password in
// PGPASSWORD), with its own data directory, and waits until it listens.
func startReplica(t *testing.T, name, catURL, password, warehouse string) *replica {
	t.Helper()
	dir := serveDirWithLogs(t)
	cmd := exec.Command(os.Args[0], "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--log-level", "info",
		"--catalog", catURL, "--warehouse", warehouse, "--worker-stop-timeout", "60s")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "SLUICE_FILE_URL_KEY="+strings.Repeat("5e", 32))
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("replica %s log (last 6000 bytes):\n%s", name, b[max(0, len(b)-6000):])
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Listening on "); ok {
			r.url = strings.Fields(u)[0]
			go io.Copy(io.Discard, out)
			return r
		}
	}
	t.Fatalf("replica %s did not start: %v", name, sc.Err())
	return nil
}

// role is the replica's /readyz answer: "ready: leader" or "ready: follower".
func (r *replica) role(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(r.url + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// waitRole waits up to d for the replica to answer /readyz with want, and
// returns how long it took.
func (r *replica) waitRole(t *testing.T, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := r.role(t)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("replica %s: /readyz says %q after %v, want %q", r.name, got, d, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReplicasEndToEnd: two `sluice serve` processes on one PostgreSQL
// catalog. Statements go through either (the pipeline is created through
// the follower, and the leader's supervisor starts its worker); a
// recipient reads through either; a token rotated through one is refused
// by the other on its next request; the leader killed with SIGKILL, the
// other takes the supervisor within 15 s and the table, read by delta-rs,
// holds exactly the records produced before and after.
func TestReplicasEndToEnd(t *testing.T) {
	k := testenv.Kafka(t)
	s3 := testenv.MinIO(t)
	bucket := s3.NewBucket(t)
	e := newQueryE2E(t, k, s3, bucket)
	u, err := url.Parse(testenv.Postgres(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	warehouse := "s3://" + bucket + "/lake"

	a := startReplica(t, "a", u.String(), password, warehouse)
	a.waitRole(t, "ready: leader", 15*time.Second)
	b := startReplica(t, "b", u.String(), password, warehouse)
	b.waitRole(t, "ready: follower", 5*time.Second)
	if got := a.role(t); got != "ready: leader" {
		t.Fatalf("replica a after b started: %q, want still the leader", got)
	}

	// The pipeline through the follower; the leader runs its worker.
	e.url = b.url
	e.sql(fmt.Sprintf(pipelineSQL, strings.Join(k.Brokers, ","), e.topic))
	e.url = a.url
	e.waitQuery("the worker running on the leader", func(q map[string]string) bool { return q["status"] == "running" && alive(q["pid"]) })
	e.url = b.url
	if q := e.query(); q["status"] != "on leader" {
		t.Errorf("SHOW QUERIES on the follower: status %q, want %q", q["status"], "on leader")
	}
	e.produce(300)
	e.waitRows("first batch, through the leader's worker")

	// A recipient, created through a; its reads through either replica.
	profiles := t.TempDir()
	issue := func(r *replica, name, stmts string) string {
		t.Helper()
		return issueProfile(t, r.url, e.token, filepath.Join(profiles, name+".share"), stmts)
	}
	acme := issue(a, "acme", `CREATE SHARE partners; ALTER SHARE partners ADD TABLE sales.eu.big_orders;
CREATE RECIPIENT acme; GRANT SELECT ON SHARE partners TO RECIPIENT acme`)
	for _, r := range []*replica{a, b} {
		if code, body := recipientCall(t, acme, "GET", r.url+"/delta-sharing/shares/partners/all-tables", ""); code != http.StatusOK {
			t.Fatalf("acme through replica %s: %d %s", r.name, code, body)
		}
	}
	// Rotated through b, the old token is refused by a on its next request.
	rotated := issue(b, "acme2", "ALTER RECIPIENT acme ROTATE TOKEN")
	if code, body := recipientCall(t, acme, "GET", a.url+"/delta-sharing/shares/partners/all-tables", ""); code != http.StatusUnauthorized {
		t.Fatalf("the rotated-out token through replica a: %d %s, want 401", code, body)
	}
	if code, body := recipientCall(t, rotated, "GET", a.url+"/delta-sharing/shares/partners/all-tables", ""); code != http.StatusOK {
		t.Fatalf("the new token through replica a: %d %s", code, body)
	}

	// SIGKILL the leader, records in flight: b takes over within 15 s.
	e.produce(300)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	took := b.waitRole(t, "ready: leader", 15*time.Second)
	t.Logf("replica b leads %v after the leader's SIGKILL", took.Round(10*time.Millisecond))
	e.url = b.url
	e.waitQuery("the worker running on the new leader", func(q map[string]string) bool { return q["status"] == "running" && alive(q["pid"]) })
	e.produce(300)
	e.waitRows("every batch, exactly once, after the failover")
	// Nothing more arrives later: the old leader's worker is gone.
	time.Sleep(3 * time.Second)
	if got, want := e.mustRows(), e.expected(); got != want {
		t.Fatalf("after the failover settled: %d rows, want exactly %d", got, want)
	}
}
