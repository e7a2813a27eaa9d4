package testenv

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// EnvMinIOBin is the MinIO binary test.sh installed.
const EnvMinIOBin = "SLUICE_TEST_MINIO_BIN"

// PrivateMinIO starts a MinIO server of the test's own (for tests that pause
// or kill storage, which must not disturb the shared server other packages
// use at the same time) and stops it at cleanup. PID is set, so the test
// can SIGSTOP/SIGCONT it.
func PrivateMinIO(t testing.TB) *S3Env {
	t.Helper()
	bin := need(t, EnvMinIOBin)
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	user := make([]byte, 8)
	rand.Read(user)
	pass := make([]byte, 24)
	rand.Read(pass)
	e := &S3Env{AccessKey: "private" + hex.EncodeToString(user), SecretKey: hex.EncodeToString(pass), Region: "us-east-1", KMSKeyID: "sluice-test-key"}
	port, cport := freePort(t), freePort(t)
	cmd := exec.Command(bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", cport), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+e.AccessKey, "MINIO_ROOT_PASSWORD="+e.SecretKey,
		"MINIO_KMS_SECRET_KEY=sluice-test-key:"+base64.StdEncoding.EncodeToString(key),
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start private MinIO: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	e.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	e.PID = cmd.Process.Pid
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(e.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
			t.Fatalf("private MinIO not ready after 60s: %v\n%s", err, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
