package serve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/serve/config"
)

// configIn is the default configuration on data directory dir, listening
// on a free loopback port.
func configIn(dir string) config.Config {
	cfg := config.Defaults()
	cfg.DataDir, cfg.Addr = dir, "127.0.0.1:0"
	return cfg
}

// newServer builds the server of cfg, quiet, closed at the test's end.
func newServer(t *testing.T, cfg config.Config, opts ...Option) *Server {
	t.Helper()
	s, err := New(context.Background(), cfg, append([]Option{WithLogOutput(io.Discard)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRunStops: Run serves /healthz until its context ends, then
// returns nil with everything closed: the data directory is free for the
// next server.
func TestRunStops(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, configIn(dir))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	resp, err := http.Get(s.ListenURL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(ShutdownTimeout + 5*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := http.Get(s.ListenURL() + "/healthz"); err == nil {
		t.Error("the listener still answers after Run returned")
	}
	// The lock, catalog and audit log are closed: a new server starts.
	newServer(t, configIn(dir))
}

// TestRunReadyError: an error of the ready hook stops the server, and Run
// returns it; the hook gets the public URL once the server answers there.
func TestRunReadyError(t *testing.T) {
	boom := errors.New("demo script failed")
	var status int
	s := newServer(t, configIn(t.TempDir()), WithReady(func(ctx context.Context, publicURL string) error {
		resp, err := http.Get(publicURL + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		status = resp.StatusCode
		return boom
	}))
	if err := s.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the hook's error", err)
	}
	if status != http.StatusOK {
		t.Fatalf("healthz from the hook: %d", status)
	}
}

// TestNewErrors: New refuses an invalid configuration and a data directory
// held by another server, naming the fix, and leaves nothing locked.
func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	bad := configIn(dir)
	bad.PublicURL = "sharing.example.com"
	if _, err := New(context.Background(), bad, WithLogOutput(io.Discard)); err == nil || !strings.Contains(err.Error(), "want an absolute URL") {
		t.Fatalf("bad public_url: %v", err)
	}
	newServer(t, configIn(dir))
	_, err := New(context.Background(), configIn(dir), WithLogOutput(io.Discard))
	if err == nil || !strings.Contains(err.Error(), "is in use by another sluice server (pid ") || !strings.Contains(err.Error(), "another --data-dir") {
		t.Fatalf("second server on %s: %v", dir, err)
	}
	// A failed New closes what it opened: the port it was to listen on is
	// taken, and the data directory is free again afterwards.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other := configIn(t.TempDir())
	other.Addr = ln.Addr().String()
	if _, err := New(context.Background(), other, WithLogOutput(io.Discard)); err == nil || !strings.Contains(err.Error(), "choose another address") {
		t.Fatalf("taken address: %v", err)
	}
	other.Addr = "127.0.0.1:0"
	newServer(t, other)
}

// TestPublicURL: public_url loses its trailing slash, and the default
// follows the listener.
func TestPublicURL(t *testing.T) {
	for _, tt := range []struct{ in, out string }{
		{"https://sharing.example.com/", "https://sharing.example.com"},
		{"https://gw.example.com/sluice", "https://gw.example.com/sluice"},
	} {
		cfg := configIn(t.TempDir())
		cfg.PublicURL = tt.in
		if got := newServer(t, cfg).PublicURL(); got != tt.out {
			t.Errorf("public_url %q: PublicURL() = %q, want %q", tt.in, got, tt.out)
		}
	}
	s := newServer(t, configIn(t.TempDir()))
	if got, want := s.PublicURL(), s.ListenURL(); got != want {
		t.Errorf("default public URL %s, want the listener's %s", got, want)
	}
	if got := derivePublicURL("https", &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 8443}); got != "https://10.0.0.5:8443" {
		t.Errorf("derived %s", got)
	}
	if got := derivePublicURL("http", &net.TCPAddr{IP: net.ParseIP("::1"), Port: 80}); got != "http://[::1]:80" {
		t.Errorf("derived %s", got)
	}
}

// TestBootstrapTokenFile: the token file is read and trimmed; an empty file
// or one given alongside SLUICE_BOOTSTRAP_TOKEN is refused.
func TestBootstrapTokenFile(t *testing.T) {
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "good"), filepath.Join(dir, "empty")
	os.WriteFile(good, []byte("  slu_abc\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct {
		name, file, env, want, wantErr string
	}{
		{"env only", "", "slu_env", "slu_env", ""},
		{"file", good, "", "slu_abc", ""},
		{"empty file", empty, "", "", "is empty"},
		{"missing file", filepath.Join(dir, "nope"), "", "", "no such file"},
		{"both", good, "slu_env", "", "both SLUICE_BOOTSTRAP_TOKEN and bootstrap_token_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SLUICE_BOOTSTRAP_TOKEN", tc.env)
			got, err := bootstrapToken(tc.file)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}
