package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/golden"
)

// TestGoodFiles: every fixture under testdata/good loads and validates.
func TestGoodFiles(t *testing.T) {
	golden.Each(t, "testdata/good/*.yaml", func(t *testing.T, f string) {
		if _, err := Resolve(f, noEnv, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGoodFileValues: the values of testdata/good/full.yaml arrive in the
// right fields, and a partial file keeps the defaults of the keys it omits.
func TestGoodFileValues(t *testing.T) {
	c, err := Resolve("testdata/good/full.yaml", noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{DataDir: "/var/lib/sluice", Addr: "0.0.0.0:9090", LogLevel: "debug",
		PublicURL: "https://sharing.example.com",
		Catalog:   Catalog{URL: "postgres://sluice@db.example.com:5432/sluice?sslmode=verify-full", Password: "env:SLUICE_PG_PASSWORD"},
		Storage: Storage{Warehouse: "s3://lake/sluice", WorkerRoleARN: "arn:aws:iam::123456789012:role/sluice-worker",
			WorkerCredentialsTTL: 2 * time.Hour},
		Policy: Policy{Files: []string{"/etc/sluice/deny-pii.rego", "/etc/sluice/office-hours.rego"}, AllGrants: true},
		TLS:    TLS{CertFile: "/etc/sluice/tls.crt", KeyFile: "/etc/sluice/tls.key"},
		HTTP: HTTP{ReadHeaderTimeout: 5 * time.Second, BodyTimeout: 20 * time.Second, IdleTimeout: 90 * time.Second, WriteIdleTimeout: 45 * time.Second,
			MaxConnections: 2000, MaxConnectionsPerClient: 50, MaxInflight: 300, RetryAfter: 3 * time.Second},
		Queries: Queries{StopTimeout: 45 * time.Second},
		Upkeep:  Upkeep{Enabled: false, Interval: 5 * time.Minute},
		Sharing: Sharing{URLLifetime: 10 * time.Minute, FileURLKey: strings.Repeat("cd", 32), JWT: JWT{JWKSURL: "https://idp.example.com/.well-known/jwks.json",
			Issuer: "https://idp.example.com/", Audience: "sluice-sharing", RecipientClaim: "sharing_recipient", Skew: 30 * time.Second},
			MaxTokenLifetime: 90 * 24 * time.Hour, AsyncThreshold: 5000, TrustedProxies: []string{"10.0.0.0/24", "192.0.2.7"}}}
	c.sources = nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	c, err = Resolve("testdata/good/partial.yaml", noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8443" || c.DataDir != Defaults().DataDir || c.LogLevel != "info" {
		t.Fatalf("partial: %+v", c)
	}
	if got := c.Source("addr"); got != "file testdata/good/partial.yaml:2:7" {
		t.Fatalf("Source(addr) = %q", got)
	}
	if got := c.Source("data_dir"); got != "default" {
		t.Fatalf("Source(data_dir) = %q", got)
	}
}

// TestBadFiles: every fixture under testdata/bad fails with the exact
// error text of its .golden file (file:line:column and the fix).
func TestBadFiles(t *testing.T) {
	golden.Each(t, "testdata/bad/*.yaml", func(t *testing.T, f string) {
		_, err := Resolve(f, noEnv, nil)
		if err == nil {
			t.Fatal("loaded; want an error")
		}
		golden.Check(t, strings.TrimSuffix(f, ".yaml")+".golden", err.Error()+"\n")
	})
}

func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestPrecedence: flags > environment > file > defaults, setting by
// setting, and the source of each value is recorded.
func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(file, []byte("data_dir: /from/file\naddr: 10.0.0.1:1000\nlog_level: warn\nstorage:\n  warehouse: s3://file/w\npolicy:\n  files: [file.rego]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		file  string
		env   map[string]string
		flags []string
		check func(c Config) string
	}{
		{"defaults", "", nil, nil, func(c Config) string {
			if c.DataDir != "sluice-data" || c.Addr != "127.0.0.1:8080" || c.LogLevel != "info" || c.Storage.Warehouse != "" || c.Policy.Files != nil {
				return "not the defaults"
			}
			return ""
		}},
		{"file over defaults", file, nil, nil, func(c Config) string {
			if c.DataDir != "/from/file" || c.LogLevel != "warn" || c.Storage.Warehouse != "s3://file/w" || !reflect.DeepEqual(c.Policy.Files, []string{"file.rego"}) {
				return "file values missing"
			}
			return ""
		}},
		{"env over file", file, map[string]string{"SLUICE_ADDR": ":2000", "SLUICE_POLICY": "a.rego, b.rego", "SLUICE_LOG_LEVEL": ""}, nil, func(c Config) string {
			if c.Addr != ":2000" || !reflect.DeepEqual(c.Policy.Files, []string{"a.rego", "b.rego"}) {
				return "env did not override the file"
			}
			if c.LogLevel != "warn" {
				return "an empty variable overrode the file"
			}
			if c.Source("addr") != "env SLUICE_ADDR" || c.Source("data_dir") != "file "+file+":1:11" {
				return "sources: " + c.Source("addr") + " / " + c.Source("data_dir")
			}
			return ""
		}},
		{"flags over env", file, map[string]string{"SLUICE_ADDR": ":2000", "SLUICE_WAREHOUSE": "s3://env/w"},
			[]string{"--addr", ":3000", "--policy", "x,y.rego", "--policy", "z.rego"}, func(c Config) string {
				if c.Addr != ":3000" || c.Storage.Warehouse != "s3://env/w" || c.DataDir != "/from/file" {
					return "flag did not override env, or overrode what it was not given"
				}
				if !reflect.DeepEqual(c.Policy.Files, []string{"x,y.rego", "z.rego"}) {
					return "repeated --policy: each repetition is one file"
				}
				if c.Source("addr") != "flag --addr" {
					return "source " + c.Source("addr")
				}
				return ""
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fl := RegisterFlags(fs)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			c, err := Resolve(tc.file, envOf(tc.env), fl)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Fatalf("%s: %+v", msg, c)
			}
		})
	}
}

// TestBadOverrides: an invalid value from the environment or a flag names
// where it came from.
func TestBadOverrides(t *testing.T) {
	_, err := Resolve("", envOf(map[string]string{"SLUICE_LOG_LEVEL": "loud"}), nil)
	if err == nil || err.Error() != `log_level "loud" (from env SLUICE_LOG_LEVEL): want debug, info, warn or error` {
		t.Fatalf("env: %v", err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	_ = fs.Parse([]string{"--addr", "nowhere"})
	_, err = Resolve("", noEnv, fl)
	if err == nil || err.Error() != `addr "nowhere" (from flag --addr): want host:port, such as 127.0.0.1:8080 or :8080` {
		t.Fatalf("flag: %v", err)
	}
}

// TestExampleFile: deploy/sluice.example.yaml loads, sets every key, and
// documents each key's environment variable and flag.
func TestExampleFile(t *testing.T) {
	const path = "../../deploy/sluice.example.yaml"
	c, err := Resolve(path, noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	for _, s := range settings() {
		if !strings.HasPrefix(c.Source(s.key), "file ") {
			t.Errorf("the example does not set %s", s.key)
		}
		if !strings.Contains(string(text), s.env) || (s.flag != "" && !strings.Contains(string(text), "--"+s.flag)) {
			t.Errorf("the example does not name %s's variable %s and flag --%s", s.key, s.env, s.flag)
		}
	}
	for _, section := range []string{"tls:", "sharing:"} {
		if !strings.Contains(string(text), "\n"+section) {
			t.Errorf("the example lacks the section %s", section)
		}
	}
}

// TestHelpListsEverySetting: --help names every key, variable and flag.
func TestHelpListsEverySetting(t *testing.T) {
	h := Help()
	for _, s := range settings() {
		if !strings.Contains(h, s.key) || !strings.Contains(h, s.env) || !strings.Contains(h, "--"+s.flag) {
			t.Errorf("help lacks %s / %s / --%s:\n%s", s.key, s.env, s.flag, h)
		}
	}
}

// FuzzDecode: no YAML input panics the loader, and whatever it accepts
// validates or fails with an error (never a half-applied Config).
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml", "../../deploy/sluice.example.yaml"} {
		files, _ := filepath.Glob(dir)
		for _, p := range files {
			b, _ := os.ReadFile(p)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Defaults()
		before := c
		if err := c.Decode("fuzz.yaml", data); err != nil {
			if !reflect.DeepEqual(c, before) {
				t.Fatalf("a failed decode changed the config: %+v", c)
			}
			return
		}
		_ = c.Validate()
	})
}

// TestS3PublicEndpoint: the signing endpoint comes from the file, the
// environment or the flag, and must be an http(s) URL.
func TestS3PublicEndpoint(t *testing.T) {
	for _, tc := range []struct {
		value, wantErr string
	}{
		{value: "http://localhost:9000"},
		{value: "https://s3.example.com/"},
		{value: "localhost:9000", wantErr: `storage.s3_public_endpoint "localhost:9000" (from env SLUICE_S3_PUBLIC_ENDPOINT): want an http(s) URL such as http://localhost:9000`},
		{value: "http://k:s@localhost:9000", wantErr: `want an http(s) URL`},
	} {
		c, err := Resolve("", envOf(map[string]string{"SLUICE_S3_PUBLIC_ENDPOINT": tc.value}), nil)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.value, err)
		case tc.wantErr == "" && c.Storage.S3PublicEndpoint != tc.value:
			t.Errorf("%s: got %q", tc.value, c.Storage.S3PublicEndpoint)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.value, err, tc.wantErr)
		}
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	_ = fs.Parse([]string{"--s3-public-endpoint", "http://localhost:9100", "--bootstrap-token-file", "/run/secrets/t"})
	c, err := Resolve("", noEnv, fl)
	if err != nil || c.Storage.S3PublicEndpoint != "http://localhost:9100" || c.BootstrapTokenFile != "/run/secrets/t" {
		t.Fatalf("flags: %+v %v", c, err)
	}
}
