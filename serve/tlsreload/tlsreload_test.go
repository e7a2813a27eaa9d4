package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pair writes a new self-signed pair for 127.0.0.1 and returns a pool
// trusting it.
func pair(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	c, k, err := SelfSigned("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, c, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c)
	return pool
}

func get(url string, cfg *tls.Config) error {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

// TestServeAndReload: the server answers over TLS 1.2+ only, picks up a
// renewed pair after the interval, and keeps its certificate when the
// files are broken.
func TestServeAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := pair(t, certFile, keyFile)
	now := time.Now()
	r, err := New(certFile, keyFile, WithInterval(time.Minute), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(tls.NewListener(ln, r.Config()))
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/"

	if err := get(url, &tls.Config{RootCAs: first}); err != nil {
		t.Fatalf("TLS with the first certificate: %v", err)
	}
	if err := get(url, &tls.Config{RootCAs: first, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	if err := get(url, &tls.Config{}); err == nil {
		t.Fatal("an untrusted self-signed certificate was accepted")
	}

	// Renewal: the old certificate is served until the interval passes.
	second := pair(t, certFile, keyFile)
	if err := get(url, &tls.Config{RootCAs: first}); err != nil {
		t.Fatalf("within the interval: %v", err)
	}
	now = now.Add(time.Minute)
	if err := get(url, &tls.Config{RootCAs: second}); err != nil {
		t.Fatalf("after the renewal: %v", err)
	}
	if err := get(url, &tls.Config{RootCAs: first}); err == nil {
		t.Fatal("the old certificate is still served")
	}

	// A broken pair is not taken.
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	now = now.Add(time.Minute)
	if err := get(url, &tls.Config{RootCAs: second}); err != nil {
		t.Fatalf("after a broken renewal: %v", err)
	}

	if _, err := New(certFile, keyFile); err == nil {
		t.Fatal("New accepted a broken pair")
	}
	if _, err := New(filepath.Join(dir, "nope.crt"), keyFile); err == nil {
		t.Fatal("New accepted a missing file")
	}
}
