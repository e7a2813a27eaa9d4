//go:build unix

package sluice_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/internal/mdblocks"
	"github.com/sluice-io/sluice/internal/syncbuf"
)

// The README's blocks are run by TestREADMEBlocks, in order, in one bash
// session in a fresh clone, as a reader would paste them: sh/bash/shell
// blocks are sourced (so exports and background servers carry over),
// python blocks run with python3 (the test venv's, first on PATH), others
// are text. An HTML comment just before a block annotates it:
//
//	<!-- readme-test: skip "why" -->  not run; only for the commands above
//	                                  the first section (they run the demo
//	                                  and the whole suite, tested elsewhere)
//	<!-- readme-test: expect "text" --> the block's output must contain text
//	<!-- readme-test: wait "text" -->   after the block, wait until output
//	                                  since it began contains text (a server
//	                                  started in the background is ready)
//
// Any failing command ends the session (set -e) and fails the test. The
// section readmeIgnored (run by the compose test) is not run here.
const readmeIgnored = "Run the local stack"

// Per-block limits: the first block builds the binary in a fresh clone.
const (
	readmeBlockTimeout = 5 * time.Minute
	readmeWaitTimeout  = 30 * time.Second
)

// TestREADMEBlocks runs every command block of README.md (see above): the
// server and SQL, a share over HTTPS with a certificate made by openssl,
// the Python connector reading it with the CA setting the README
// documents, and the Delta maintenance commands.
func TestREADMEBlocks(t *testing.T) {
	py := testenv.Python(t)
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: the README's commands need it (%v)", tool, err)
		}
	}
	clone := cloneHEAD(t)
	src, err := os.ReadFile(filepath.Join(clone, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := mdblocks.Parse(string(src), "readme-test")
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	s := startSession(t, clone, readmeEnv(py))
	ran := 0
	for _, b := range blocks {
		if b.InSection(readmeIgnored) {
			continue
		}
		if why, ok := b.Annotation("skip"); ok {
			if len(b.Section) > 1 || why == "" {
				t.Fatalf("README.md:%d: skip %q: only the commands above the first section may be skipped, with a reason", b.Line, why)
			}
			t.Logf("README.md:%d skipped: %s", b.Line, why)
			continue
		}
		var run string
		switch b.Lang {
		case "sh", "bash", "shell":
			run = "source"
		case "python":
			run = "python3"
		default:
			continue
		}
		s.run(t, b, run)
		ran++
	}
	if ran < 8 {
		t.Fatalf("only %d README blocks ran: did the annotations or languages change?", ran)
	}
	// What the README says of the profile files.
	for _, p := range []string{"acme.share", "acme-2.share"} {
		fi, err := os.Stat(filepath.Join(clone, p))
		if err != nil {
			t.Errorf("profile %s: %v", p, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("profile %s has mode %v; the README says 0600", p, fi.Mode().Perm())
		}
	}
}

// readmeEnv is the reader's environment: no Sluice or CA variables of
// ours, the test venv's python3 and pip first on PATH, pip offline.
func readmeEnv(py string) []string {
	var env []string
	for _, kv := range offlineEnv() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "SLUICE_"), name == "REQUESTS_CA_BUNDLE", name == "SSL_CERT_FILE", name == "SSL_CERT_DIR", name == "CURL_CA_BUNDLE":
		case name == "PATH":
			env = append(env, "PATH="+filepath.Dir(py)+string(os.PathListSeparator)+strings.TrimPrefix(kv, "PATH="))
		default:
			env = append(env, kv)
		}
	}
	return append(env, "PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1")
}

// session is one bash process the blocks are fed to.
type session struct {
	dir    string // where the block files are written
	stdin  io.WriteCloser
	out    *syncbuf.Buffer
	exited chan struct{}
	n      int
}

func startSession(t *testing.T, dir string, env []string) *session {
	t.Helper()
	s := &session{dir: t.TempDir(), out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, s.out, s.out
	// Its own process group: the servers the blocks leave running in the
	// background are stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Those servers hold the output pipe open: once bash has exited (a
	// block failed), Wait must not wait for them.
	cmd.WaitDelay = 2 * time.Second
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bash: %v", err)
	}
	go func() { cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		if t.Failed() {
			t.Logf("session output:\n%s", s.out.String())
		}
	})
	fmt.Fprintln(s.stdin, "set -eo pipefail")
	return s
}

// run feeds block b to the session with the command run (source or
// python3) and checks its annotations.
func (s *session) run(t *testing.T, b mdblocks.Block, run string) {
	t.Helper()
	s.n++
	file := filepath.Join(s.dir, fmt.Sprintf("block-%d-line-%d", s.n, b.Line))
	if err := os.WriteFile(file, []byte(b.Code), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("@@readme-test block %d done@@", s.n)
	start := s.out.Len()
	t0 := time.Now()
	fmt.Fprintf(s.stdin, "%s %q\necho %q\n", run, file, marker)
	if !s.await(start, marker, readmeBlockTimeout) {
		what := fmt.Sprintf("did not finish in %v", readmeBlockTimeout)
		select {
		case <-s.exited:
			what = "failed (a command exited non-zero, which ends the session)"
		default:
		}
		t.Fatalf("README.md:%d (%s block) %s; its output:\n%s", b.Line, b.Lang, what, s.out.Since(start))
	}
	t.Logf("README.md:%d ran in %v", b.Line, time.Since(t0).Round(10*time.Millisecond))
	for _, a := range b.Annotations {
		switch a.Key {
		case "expect":
			if !strings.Contains(s.out.Since(start), a.Arg) {
				t.Fatalf("README.md:%d: output has no %q:\n%s", b.Line, a.Arg, s.out.Since(start))
			}
		case "wait":
			if !s.await(start, a.Arg, readmeWaitTimeout) {
				t.Fatalf("README.md:%d: no %q in the output after %v:\n%s", b.Line, a.Arg, readmeWaitTimeout, s.out.Since(start))
			}
		default:
			t.Fatalf("README.md:%d: unknown readme-test annotation %q (skip, expect, wait)", b.Line, a.Key)
		}
	}
}

// await waits until the output since start holds text; false if the
// session ended or the timeout passed first.
func (s *session) await(start int, text string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		if strings.Contains(s.out.Since(start), text) {
			return true
		}
		select {
		case <-s.exited:
			return strings.Contains(s.out.Since(start), text)
		case <-deadline:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}
