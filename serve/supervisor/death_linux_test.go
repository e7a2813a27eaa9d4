package supervisor

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerDeathStopsWorkers: when the server process dies without
// stopping its workers (kill -9), the kernel sends each worker SIGTERM, so
// no orphan keeps consuming next to the workers of the restarted server.
func TestServerDeathStopsWorkers(t *testing.T) {
	f := newFixture(t)
	id := f.addQuery("orphan", fake(t, "steady", nil))
	server := exec.Command(os.Args[0], "supervise", f.catPath, f.dir)
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 || syscall.Kill(pid, 0) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the supervisor process started no worker (starts: %q)", f.file(id, "starts"))
		}
		time.Sleep(50 * time.Millisecond)
		if fields := strings.Fields(f.file(id, "starts")); len(fields) >= 2 {
			pid, _ = strconv.Atoi(fields[0])
		}
	}
	time.Sleep(200 * time.Millisecond) // the worker is past its start-up
	if err := server.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	server.Wait()
	// The worker's parent is gone, so nobody may reap it: its "stopped"
	// file, not its pid, tells that it stopped.
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(f.file(id, "stopped"), strconv.Itoa(pid)) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("worker %d did not get SIGTERM within 10s of its server's death", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
