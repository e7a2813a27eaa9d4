package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/ingest"
	"github.com/sluice-io/sluice/internal/secret"
)

// The files of a query's worker, under <dir>/<query id>/.
const (
	specFile = "spec.yaml"
	logFile  = "worker.log"
)

// process is one running worker.
type process struct {
	cmd     *exec.Cmd
	addr    string // its /metrics, host:port
	logs    *logCapture
	exited  chan struct{} // closed when it has exited and its output is drained
	waitErr error         // set before exited is closed
	spec    *ingest.Spec
	expires time.Time // of its scoped storage credentials; zero without
}

// startProcess writes the spec file and starts a worker on it, with fresh
// scoped credentials if given (minted here when needed otherwise).
func (s *Supervisor) startProcess(ctx context.Context, id string, raw json.RawMessage, fresh *objstore.TempCredentials) (*process, error) {
	dir := filepath.Join(s.dir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("worker directory: %w", err)
	}
	spec, err := parseSpec(raw)
	if err != nil {
		return nil, err
	}
	// Static group membership: a worker restarted after a crash gets its
	// partitions back at once instead of after the session timeout of the
	// dead one. One worker per query runs at a time, so the id is unique.
	spec.Source.InstanceID = InstanceID(id)
	refs, err := secretEnvRefs(spec)
	if err != nil {
		return nil, err
	}
	y, err := marshalSpec(spec)
	if err != nil {
		return nil, err
	}
	specPath := filepath.Join(dir, specFile)
	if err := writePrivate(specPath, y); err != nil {
		return nil, fmt.Errorf("%w: write worker spec: %v", errPermanent, err)
	}
	creds, err := s.workerCredentials(ctx, id, spec, fresh)
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logs, err := openLog(filepath.Join(dir, logFile), s.maxLogBytes)
	if err != nil {
		return nil, err
	}
	args := append(slices.Clone(s.binArgs), "worker", "--spec", specPath, "--metrics-addr", addr, "--log-level", s.workerLogLevel)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = dir
	env := workerEnv(os.Environ(), refs)
	if s.creds != nil {
		env = scopeEnv(env, creds)
	}
	cmd.Env = append(env, s.extraEnv...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the pipe does not hold us
	logs.note("sluice supervisor: starting worker for query %s", id)
	if err := startCmd(cmd); err != nil {
		logs.Close()
		return nil, fmt.Errorf("start worker %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, addr: addr, logs: logs, exited: make(chan struct{}), spec: spec}
	if creds != nil {
		p.expires = creds.Expires
	}
	go func() {
		p.waitErr = cmd.Wait()
		logs.note("sluice supervisor: worker pid %d %s", cmd.Process.Pid, p.exitStatus())
		logs.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop asks the worker to exit (SIGTERM: it flushes and commits), and kills
// it after timeout.
func (p *process) stop(timeout time.Duration) {
	if timeout <= 0 { // at once: no SIGTERM, which would start a last commit
		kill(p.cmd.Process)
		<-p.exited
		return
	}
	terminate(p.cmd.Process)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return
	case <-t.C:
	}
	kill(p.cmd.Process)
	<-p.exited
}

// exitStatus describes how the process ended ("exit status 1", "signal:
// killed"); only valid once exited is closed.
func (p *process) exitStatus() string {
	if p.waitErr == nil {
		return "exit status 0"
	}
	return p.waitErr.Error()
}

// exitError is the LastError of a worker that exited on its own: how it
// ended and the last error it logged.
func (p *process) exitError() string {
	msg := "worker exited (" + p.exitStatus() + ")"
	if last := p.logs.lastError(); last != "" {
		msg += ": " + last
	}
	return msg
}

// parseSpec reads the catalog's JSON spec; an unusable one is permanent.
func parseSpec(raw json.RawMessage) (*ingest.Spec, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: the query has no compiled pipeline spec", errPermanent)
	}
	var sp ingest.Spec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, fmt.Errorf("%w: the query's pipeline spec does not parse: %v", errPermanent, err)
	}
	sp.ApplyDefaults()
	if err := sp.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errPermanent, err)
	}
	return &sp, nil
}

// marshalSpec renders a spec as the YAML `sluice worker --spec` loads.
func marshalSpec(sp *ingest.Spec) ([]byte, error) {
	y, err := yaml.Marshal(sp)
	if err != nil {
		return nil, fmt.Errorf("%w: render the pipeline spec: %v", errPermanent, err)
	}
	if _, err := ingest.ParseSpec(y); err != nil {
		return nil, fmt.Errorf("%w: the rendered pipeline spec does not load: %v", errPermanent, err)
	}
	return y, nil
}

// writePrivate writes b to path (mode 0600) atomically.
func writePrivate(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".spec-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// freeLoopbackAddr picks a free loopback port for a worker's /metrics. (The
// port could be taken before the worker binds it; the worker then fails to
// start and is restarted on another port.)
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a metrics port for the worker: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Environment a worker gets from the server: storage configuration and the
// few variables programs expect. Everything else (the bootstrap token, the
// server's own settings) stays out.
var (
	envPrefixes = []string{"AWS_", "SLUICE_S3_"}
	envNames    = []string{"HOME", "PATH", "TMPDIR", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR"}
)

// workerEnv filters environ to the worker's variables plus refs (the
// variables the spec's secret references name).
func workerEnv(environ, refs []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if slices.Contains(envNames, k) || slices.Contains(refs, k) || slices.ContainsFunc(envPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			out = append(out, kv)
		}
	}
	return out
}

// secretEnvRefs returns the variables the spec's secret references name
// (env:NAME). A reference to the server's own configuration (SLUICE_*,
// AWS_*) is refused: a store's SASL password must not be able to carry the
// storage keys or the bootstrap token to a broker.
func secretEnvRefs(sp *ingest.Spec) ([]string, error) {
	var refs []string
	for _, field := range []struct{ name, ref string }{
		{"source.sasl.password", saslPassword(sp)},
		{"decode.schemaRegistry.password", registryPassword(sp)},
	} {
		name, ok := secret.EnvVar(field.ref)
		if !ok {
			continue
		}
		if strings.HasPrefix(name, "SLUICE_") || strings.HasPrefix(name, "AWS_") {
			return nil, fmt.Errorf("%w: %s: secret reference env:%s names a variable of the server's own configuration; put the secret in a variable of its own (e.g. env:KAFKA_PASSWORD)", errPermanent, field.name, name)
		}
		refs = append(refs, name)
	}
	return refs, nil
}

func saslPassword(sp *ingest.Spec) string {
	if sp.Source.SASL == nil {
		return ""
	}
	return sp.Source.SASL.Password
}

func registryPassword(sp *ingest.Spec) string {
	if sp.Decode.SchemaRegistry == nil {
		return ""
	}
	return sp.Decode.SchemaRegistry.Password
}

// InstanceID is the static consumer-group instance id of query id's worker.
func InstanceID(query string) string { return ingest.DefaultInstanceID(query) }
