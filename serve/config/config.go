// Package config loads the settings of `sluice serve`: defaults, overridden
// by a YAML file, then by SLUICE_* environment variables, then by flags.
//
// Each setting is one field of Config, tagged with its YAML key, its
// environment variable, its flag and its help text: adding a field adds it
// to the file, the environment, the flags and the documentation at once.
// Unknown keys in the file are errors that cite file:line:column.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/internal/secret"
)

// Config is everything `sluice serve` takes. Tags on leaf fields: yaml (the
// key in its section), env (the environment variable), flag (the flag
// name, optional) and help (one line for --help). Sections are structs.
type Config struct {
	// DataDir holds the SQLite catalog (catalog.db, unless catalog.url
	// names another) and the audit log (audit.jsonl).
	DataDir string `yaml:"data_dir" env:"SLUICE_DATA_DIR" flag:"data-dir" help:"directory of the catalog (SQLite, unless catalog.url is set) and the audit log"`
	// Addr is the HTTP listen address, host:port.
	Addr string `yaml:"addr" env:"SLUICE_ADDR" flag:"addr" help:"listen address, host:port (port 0 picks a free port)"`
	// BootstrapTokenFile holds the bootstrap admin's token (see
	// SLUICE_BOOTSTRAP_TOKEN), e.g. a container secret.
	BootstrapTokenFile string `yaml:"bootstrap_token_file" env:"SLUICE_BOOTSTRAP_TOKEN_FILE" flag:"bootstrap-token-file" help:"file holding the token of the bootstrap admin sluice_admin, as 'sluice token' prints (instead of SLUICE_BOOTSTRAP_TOKEN; e.g. a compose secret)"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" env:"SLUICE_LOG_LEVEL" flag:"log-level" help:"log level: debug, info, warn, error"`
	// Catalog says which database holds the catalog.
	Catalog Catalog `yaml:"catalog"`
	// Storage says where query tables are written.
	Storage Storage `yaml:"storage"`
	// Policy adds Rego modules to the default authorization policy.
	Policy Policy `yaml:"policy"`
	// PublicURL is the URL recipients reach the server at, written into
	// their profiles and the base of local file URLs. Empty: derived from
	// the listener and TLS.
	PublicURL string `yaml:"public_url" env:"SLUICE_PUBLIC_URL" flag:"public-url" help:"URL recipients reach this server at, written into their profiles (default: from addr and TLS)"`
	// TLS is the server's TLS section.
	TLS TLS `yaml:"tls"`
	// HTTP holds the HTTP server's timeouts and limits.
	HTTP HTTP `yaml:"http"`
	// Queries is the section of the query workers.
	Queries Queries `yaml:"queries"`
	// Sharing is the Delta Sharing section.
	Sharing Sharing `yaml:"sharing"`
	// Upkeep is the table upkeep section: compaction, checkpoints, log
	// cleanup and VACUUM of the tables the server keeps.
	Upkeep Upkeep `yaml:"upkeep"`

	// sources records where each setting that is not a default came from
	// ("file sluice.yaml:3:10", "env SLUICE_ADDR", "flag --addr"), by key.
	sources map[string]string
}

// Catalog is the catalog section: SQLite in the data directory by default,
// or a PostgreSQL database that several servers can share.
type Catalog struct {
	// URL is empty for SQLite (<data_dir>/catalog.db), or
	// postgres://user@host:port/database?sslmode=... without a password.
	URL string `yaml:"url" env:"SLUICE_CATALOG_URL" flag:"catalog" help:"catalog database: empty for SQLite in <data_dir>/catalog.db, or postgres://user@host:5432/database?sslmode=verify-full (no password in it: see catalog.password), which replicas share (they need one storage.warehouse and SLUICE_FILE_URL_KEY; one of them leads, docs/operations.md)"`
	// Password is a reference to the PostgreSQL password, never the
	// password: env:NAME or file:/path. Empty: pgx's defaults (PGPASSWORD,
	// ~/.pgpass, or none for certificate or trust authentication).
	Password string `yaml:"password" env:"SLUICE_CATALOG_PASSWORD" flag:"catalog-password" help:"where the PostgreSQL catalog's password is: env:NAME or file:/absolute/path, never the password itself (default: PGPASSWORD or ~/.pgpass)"`
}

// Storage is the storage section.
type Storage struct {
	// Warehouse is the URI under which query tables get their default
	// location: file:///path or s3://bucket/prefix. Empty means
	// file://<data_dir>/warehouse.
	Warehouse string `yaml:"warehouse" env:"SLUICE_WAREHOUSE" flag:"warehouse" help:"URI under which query tables get their default location: file:///path or s3://bucket/prefix (default file://<data_dir>/warehouse)"`
	// S3PublicEndpoint is the endpoint URL recipients' pre-signed URLs of S3
	// tables are signed for, when it differs from the one the server uses
	// (AWS_ENDPOINT_URL_S3): a store named minio:9000 inside a container
	// network is localhost:9000 on the host.
	S3PublicEndpoint string `yaml:"s3_public_endpoint" env:"SLUICE_S3_PUBLIC_ENDPOINT" flag:"s3-public-endpoint" help:"endpoint URL the pre-signed URLs handed to recipients are signed for, when they reach the S3 store at another address than the server (default: the server's endpoint)"`
	// WorkerRoleARN, when set, isolates the query workers: each worker of
	// an S3 table gets STS credentials of this role limited by a session
	// policy to its own table (and dead-letter table), never the server's.
	WorkerRoleARN string `yaml:"worker_role_arn" env:"SLUICE_WORKER_ROLE_ARN" flag:"worker-role-arn" help:"role ARN each query worker assumes (STS AssumeRole with a session policy) to write only its own S3 table; empty: workers get the server's AWS credentials"`
	// WorkerCredentialsTTL is the lifetime of a worker's credentials; the
	// worker is restarted with new ones at 80% of it.
	WorkerCredentialsTTL time.Duration `yaml:"worker_credentials_ttl" env:"SLUICE_WORKER_CREDENTIALS_TTL" flag:"worker-credentials-ttl" help:"lifetime of a worker's scoped credentials, 15m to 12h (it is restarted with new ones at 80%)"`
}

// Policy is the policy section.
type Policy struct {
	// Files are extra Rego modules; one that fails to compile stops start-up.
	Files []string `yaml:"files" env:"SLUICE_POLICY" flag:"policy" help:"extra Rego module files; the flag is repeatable, the variable comma-separated; a module that fails to compile stops start-up"`
	// AllGrants passes every grant on a node to the policy, not only those
	// to the principal's roles.
	AllGrants bool `yaml:"all_grants" env:"SLUICE_POLICY_ALL_GRANTS" flag:"policy-all-grants" help:"pass every grant on a node to the policy, not only those to the principal's roles: for modules that read other roles' grants (decisions get slower on nodes with many grants)"`
}

// TLS is the tls section. With both files the server speaks HTTPS only
// (TLS 1.2 at least) and reloads the pair when the files change.
type TLS struct {
	CertFile string `yaml:"cert_file" env:"SLUICE_TLS_CERT" flag:"tls-cert" help:"TLS certificate chain (PEM); with tls.key_file, serve HTTPS only"`
	KeyFile  string `yaml:"key_file" env:"SLUICE_TLS_KEY" flag:"tls-key" help:"TLS private key (PEM)"`
}

// HTTP is the http section: what one client, or all of them, may hold of
// the server (see docs/limits.md). Every value must be positive.
type HTTP struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" env:"SLUICE_HTTP_READ_HEADER_TIMEOUT" flag:"http-read-header-timeout" help:"time a client has to send a request's headers"`
	// BodyTimeout counts from the end of the headers; past it a request
	// is answered 408 and its connection closed.
	BodyTimeout time.Duration `yaml:"body_timeout" env:"SLUICE_HTTP_BODY_TIMEOUT" flag:"http-body-timeout" help:"time a client has to send a request's body, from the end of its headers (past it: 408, connection closed)"`
	IdleTimeout time.Duration `yaml:"idle_timeout" env:"SLUICE_HTTP_IDLE_TIMEOUT" flag:"http-idle-timeout" help:"time a keep-alive connection may wait idle for its next request"`
	// WriteIdleTimeout closes a connection whose client reads nothing of
	// an answer for that long; a slow reader that keeps reading is never
	// cut, however long the answer.
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout" env:"SLUICE_HTTP_WRITE_IDLE_TIMEOUT" flag:"http-write-idle-timeout" help:"a connection whose client reads nothing of an answer for this long is closed (long answers read steadily are never cut)"`
	MaxConnections   int           `yaml:"max_connections" env:"SLUICE_HTTP_MAX_CONNECTIONS" flag:"http-max-connections" help:"open connections at most; more are closed as soon as accepted"`
	// MaxConnectionsPerClient counts by remote IP address: behind a
	// proxy every client has the proxy's.
	MaxConnectionsPerClient int `yaml:"max_connections_per_client" env:"SLUICE_HTTP_MAX_CONNECTIONS_PER_CLIENT" flag:"http-max-connections-per-client" help:"open connections of one client IP address at most (behind a proxy, the proxy's: raise it)"`
	// MaxInflight sheds load: past it requests are answered 503 with
	// Retry-After, except /healthz and /metrics.
	MaxInflight int           `yaml:"max_inflight" env:"SLUICE_HTTP_MAX_INFLIGHT" flag:"http-max-inflight" help:"requests answered at once at most; more get 503 with Retry-After (/healthz and /metrics are exempt)"`
	RetryAfter  time.Duration `yaml:"retry_after" env:"SLUICE_HTTP_RETRY_AFTER" flag:"http-retry-after" help:"Retry-After of a 503 for load, rounded up to whole seconds"`
}

// Queries is the queries section: how query workers are run.
type Queries struct {
	// StopTimeout is how long a worker has to commit and exit after
	// SIGTERM before it is killed.
	StopTimeout time.Duration `yaml:"stop_timeout" env:"SLUICE_WORKER_STOP_TIMEOUT" flag:"worker-stop-timeout" help:"time a worker has to commit and exit after SIGTERM before it is killed"`
}

// Upkeep is the upkeep section: the loop that keeps the tables of the
// server's queries (and registered tables with 'sluice.upkeep' = 'true')
// healthy. Per-table settings are table properties (docs/delta.md).
type Upkeep struct {
	Enabled bool `yaml:"enabled" env:"SLUICE_UPKEEP_ENABLED" flag:"upkeep" help:"run table upkeep (compaction, checkpoints, log cleanup, VACUUM); --upkeep=false turns it off"`
	// Interval is the pause between two rounds over the tables.
	Interval time.Duration `yaml:"interval" env:"SLUICE_UPKEEP_INTERVAL" flag:"upkeep-interval" help:"pause between two upkeep rounds over the tables, 1s to 24h"`
}

// Sharing is the sharing section: the Delta Sharing server.
type Sharing struct {
	// URLLifetime is the lifetime of the file URLs handed to recipients.
	URLLifetime time.Duration `yaml:"url_lifetime" env:"SLUICE_SHARING_URL_LIFETIME" flag:"sharing-url-lifetime" help:"lifetime of the pre-signed file URLs handed to recipients"`
	// FileURLKey is the hex key signing URLs of local files and page
	// tokens; empty: generated in the data dir. A secret: set it in the
	// environment, not on the command line.
	FileURLKey string `yaml:"file_url_key" env:"SLUICE_FILE_URL_KEY" help:"hex key (64 digits) signing local file URLs and page tokens, shared by servers behind one name (default: generated in data_dir)"`
	// JWT accepts an identity provider's JWTs as recipient credentials.
	JWT JWT `yaml:"jwt"`
	// MaxTokenLifetime caps the lifetime of the recipient bearer tokens
	// created or rotated: a longer token.ttl, or none, is cut to it.
	MaxTokenLifetime time.Duration `yaml:"max_token_lifetime" env:"SLUICE_SHARING_MAX_TOKEN_LIFETIME" flag:"sharing-max-token-lifetime" help:"longest lifetime of a recipient bearer token created or rotated; a longer token.ttl, or none, is cut to it (1h to 8760h)"`
	// TrustedProxies are the addresses (CIDRs or IPs) of the reverse
	// proxies whose X-Forwarded-For gives a recipient's address for its
	// ip_allow list; from any other peer the header is ignored.
	// AsyncThreshold is the number of files above which a query whose
	// client allows it (asyncquery=true) is answered asynchronously.
	AsyncThreshold int      `yaml:"async_threshold" env:"SLUICE_SHARING_ASYNC_THRESHOLD" flag:"sharing-async-threshold" help:"files above which a Delta Sharing query whose client sends asyncquery=true is answered with a query id to poll (0: always, negative: never)"`
	TrustedProxies []string `yaml:"trusted_proxies" env:"SLUICE_SHARING_TRUSTED_PROXIES" flag:"sharing-trusted-proxy" help:"CIDR or IP of a reverse proxy whose X-Forwarded-For is believed for recipients' ip_allow lists; the flag is repeatable, the variable comma-separated"`
}

// TrustedProxyPrefixes parses TrustedProxies (validated by Validate).
func (s Sharing) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	if len(s.TrustedProxies) == 0 {
		return nil, nil
	}
	return catalog.ParseIPAllow(strings.Join(s.TrustedProxies, ","))
}

// JWT is the sharing.jwt section; JWKSURL turns it on.
type JWT struct {
	JWKSURL        string        `yaml:"jwks_url" env:"SLUICE_JWT_JWKS_URL" flag:"jwt-jwks-url" help:"JWKS URL of an identity provider whose JWTs recipients may present"`
	Issuer         string        `yaml:"issuer" env:"SLUICE_JWT_ISSUER" flag:"jwt-issuer" help:"required iss of recipient JWTs"`
	Audience       string        `yaml:"audience" env:"SLUICE_JWT_AUDIENCE" flag:"jwt-audience" help:"required aud of recipient JWTs"`
	RecipientClaim string        `yaml:"recipient_claim" env:"SLUICE_JWT_RECIPIENT_CLAIM" flag:"jwt-recipient-claim" help:"claim naming the recipient (default sub)"`
	Skew           time.Duration `yaml:"skew" env:"SLUICE_JWT_SKEW" flag:"jwt-skew" help:"clock skew allowed on exp and nbf"`
}

// MaxTokenLifetime is the longest sharing.max_token_lifetime, and its
// default: one year, as Databricks caps open-sharing tokens.
const MaxTokenLifetime = 365 * 24 * time.Hour

// Defaults returns the built-in settings.
func Defaults() Config {
	return Config{DataDir: "sluice-data", Addr: "127.0.0.1:8080", LogLevel: "info",
		Storage: Storage{WorkerCredentialsTTL: time.Hour},
		HTTP: HTTP{ReadHeaderTimeout: 10 * time.Second, BodyTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
			WriteIdleTimeout: time.Minute, MaxConnections: 1024, MaxConnectionsPerClient: 128, MaxInflight: 512, RetryAfter: 5 * time.Second},
		Queries: Queries{StopTimeout: 30 * time.Second},
		Upkeep:  Upkeep{Enabled: true, Interval: time.Minute},
		Sharing: Sharing{URLLifetime: 15 * time.Minute, JWT: JWT{RecipientClaim: "sub", Skew: time.Minute}, MaxTokenLifetime: MaxTokenLifetime,
			AsyncThreshold: 10000}} // sharing.DefaultAsyncThreshold
}

// Source says where the setting at key (a dotted YAML path such as
// "storage.warehouse") came from: "default", "file NAME:LINE:COL",
// "env NAME" or "flag --NAME".
func (c *Config) Source(key string) string {
	if s, ok := c.sources[key]; ok {
		return s
	}
	return "default"
}

func (c *Config) setSource(key, src string) {
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[key] = src
}

// setting is one leaf field of Config.
type setting struct {
	key   string // dotted YAML path
	env   string
	flag  string
	help  string
	index []int
	typ   reflect.Type
}

// settings lists the leaf fields of Config, in declaration order.
func settings() []setting {
	var out []setting
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key := yamlKey(f)
			if key == "" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+key+".", idx)
				continue
			}
			out = append(out, setting{key: prefix + key, env: f.Tag.Get("env"), flag: f.Tag.Get("flag"), help: f.Tag.Get("help"), index: idx, typ: f.Type})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return out
}

// yamlKey is a field's YAML key, or "" for unexported or untagged fields.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" {
		return ""
	}
	return k
}

// set parses text into the field of s (a comma-separated list for []string).
func (s setting) set(c *Config, text string) error {
	v := reflect.ValueOf(c).Elem().FieldByIndex(s.index)
	switch {
	case s.typ.Kind() == reflect.String:
		v.SetString(text)
	case s.typ.Kind() == reflect.Slice && s.typ.Elem().Kind() == reflect.String:
		var items []string
		for _, it := range strings.Split(text, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		v.Set(reflect.ValueOf(items))
	case s.typ == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("want a duration such as 30s or 5m")
		}
		v.SetInt(int64(d))
	case s.typ.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		v.SetBool(b)
	case s.typ.Kind() == reflect.Int || s.typ.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer")
		}
		v.SetInt(n)
	default:
		return fmt.Errorf("config: setting %s has unsupported type %s", s.key, s.typ)
	}
	return nil
}

// LoadFile reads the YAML file at path onto c (keys it leaves out keep
// their values).
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return c.Decode(path, b)
}

// Decode reads YAML text onto c; name is used in error messages. Unknown
// keys, duplicate keys, sections that are not mappings and values of the
// wrong type are errors citing name:line:column.
func (c *Config) Decode(name string, data []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			return fmt.Errorf("%s:%s", name, rest) // "line 3: ..." -> "name:3: ..."
		}
		return fmt.Errorf("%s: %s", name, msg)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s:%d: only one YAML document is allowed", name, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if err := checkKeys(name, root, reflect.TypeOf(Config{}), ""); err != nil {
		return err
	}
	// Decode into a copy, so a failed file leaves c as it was.
	next := *c
	if err := root.Decode(&next); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = name + ":" + strings.TrimPrefix(m, "line ")
			}
			return errors.New(strings.Join(msgs, "\n"))
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	next.sources = cloneMap(c.sources)
	recordSources(name, root, "", &next)
	*c = next
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// recordSources notes the file position of every leaf key present in n.
func recordSources(name string, n *yaml.Node, prefix string, c *Config) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.MappingNode {
			recordSources(name, v, prefix+k.Value+".", c)
			continue
		}
		c.setSource(prefix+k.Value, fmt.Sprintf("file %s:%d:%d", name, v.Line, v.Column))
	}
}

// checkKeys reports the first key of mapping n that is not a field of the
// struct type t, and any section that is not a mapping.
func checkKeys(name string, n *yaml.Node, t reflect.Type, section string) error {
	where, what := "at the top level", "the file"
	if section != "" {
		where, what = "in section "+section, "section "+section
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && section != "" {
			return nil // "tls:" with nothing under it
		}
		return fmt.Errorf("%s:%d:%d: %s must be a mapping of keys to values, not %s", name, n.Line, n.Column, what, kindName(n))
	}
	fields := map[string]reflect.StructField{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		if k := yamlKey(t.Field(i)); k != "" {
			fields[k] = t.Field(i)
			known = append(known, k)
		}
	}
	sort.Strings(known)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := fields[k.Value]
		if !ok {
			hint := "it takes no keys yet"
			if len(known) > 0 {
				hint = "known keys: " + strings.Join(known, ", ")
			}
			return fmt.Errorf("%s:%d:%d: unknown key %q %s (%s)", name, k.Line, k.Column, k.Value, where, hint)
		}
		key := strings.TrimPrefix(section+"."+k.Value, ".")
		switch {
		case f.Type.Kind() == reflect.Struct:
			if err := checkKeys(name, v, f.Type, key); err != nil {
				return err
			}
		case f.Type.Kind() == reflect.Slice && v.Kind != yaml.SequenceNode && v.Tag != "!!null":
			return fmt.Errorf("%s:%d:%d: %s must be a list (one \"- item\" per line, or [a, b]), not %s", name, v.Line, v.Column, key, kindName(v))
		case f.Type.Kind() != reflect.Slice && v.Kind != yaml.ScalarNode:
			return fmt.Errorf("%s:%d:%d: %s must be a single value, not %s", name, v.Line, v.Column, key, kindName(v))
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "that"
}

// ApplyEnv overrides c with the SLUICE_* variables that lookup finds set
// and non-empty (os.LookupEnv in production).
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, s := range settings() {
		if s.env == "" {
			continue
		}
		v, ok := lookup(s.env)
		if !ok || v == "" {
			continue
		}
		if err := s.set(c, v); err != nil {
			return fmt.Errorf("%s=%q: %w", s.env, v, err)
		}
		c.setSource(s.key, "env "+s.env)
	}
	return nil
}

// Flags holds the flags registered for the settings, to apply after
// parsing only those given on the command line.
type Flags struct {
	fs     *flag.FlagSet
	values map[string]*flagValue // by flag name
}

type flagValue struct {
	s    setting
	vals []string
	set  bool
}

func (f *flagValue) String() string { return strings.Join(f.vals, ",") }
func (f *flagValue) Set(v string) error {
	if f.s.typ.Kind() != reflect.Slice {
		f.vals = f.vals[:0]
	}
	f.vals = append(f.vals, v)
	f.set = true
	return nil
}

// IsBoolFlag lets boolean settings be given as a bare --flag.
func (f *flagValue) IsBoolFlag() bool { return f.s.typ.Kind() == reflect.Bool }

// RegisterFlags defines a flag on fs for every setting that has one, with
// the defaults of Defaults in the help text.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	fl := &Flags{fs: fs, values: map[string]*flagValue{}}
	def := Defaults()
	for _, s := range settings() {
		if s.flag == "" {
			continue
		}
		v := &flagValue{s: s}
		fl.values[s.flag] = v
		help := s.help
		if d := fmt.Sprint(reflect.ValueOf(def).FieldByIndex(s.index)); d != "" && d != "[]" {
			help += fmt.Sprintf(" (default %s)", d)
		}
		fs.Var(v, s.flag, help+"; file key "+s.key+", env "+s.env)
	}
	return fl
}

// Apply overrides c with the flags given on the command line.
func (fl *Flags) Apply(c *Config) error {
	var err error
	fl.fs.Visit(func(f *flag.Flag) {
		v, ok := fl.values[f.Name]
		if !ok || !v.set || err != nil {
			return
		}
		text := strings.Join(v.vals, ",")
		if v.s.typ.Kind() == reflect.Slice {
			// Each repetition is one item, commas and all.
			reflect.ValueOf(c).Elem().FieldByIndex(v.s.index).Set(reflect.ValueOf(append([]string(nil), v.vals...)))
		} else if e := v.s.set(c, text); e != nil {
			err = fmt.Errorf("--%s %q: %w", f.Name, text, e)
			return
		}
		c.setSource(v.s.key, "flag --"+f.Name)
	})
	return err
}

// Validate checks the settings, naming each bad one's key and source.
func (c *Config) Validate() error {
	bad := func(key, val, want string) error {
		return fmt.Errorf("%s %q (from %s): %s", key, val, c.Source(key), want)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return bad("data_dir", c.DataDir, "want a directory")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		return bad("addr", c.Addr, "want host:port, such as 127.0.0.1:8080 or :8080")
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return bad("log_level", c.LogLevel, "want debug, info, warn or error")
	}
	if err := c.validateCatalog(bad); err != nil {
		return err
	}
	if u := c.PublicURL; u != "" && !isPublicURL(u) {
		return bad("public_url", u, "want an absolute URL such as https://sharing.example.com (no query, no credentials)")
	}
	if w := c.Storage.Warehouse; w != "" {
		scheme, rest, ok := strings.Cut(w, "://")
		if !ok || (scheme != "file" && scheme != "s3") || strings.Trim(rest, "/") == "" {
			return bad("storage.warehouse", w, "want file:///absolute/path or s3://bucket/prefix")
		}
	}
	if e := c.Storage.S3PublicEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return bad("storage.s3_public_endpoint", e, "want an http(s) URL such as http://localhost:9000")
		}
	}
	if r := c.Storage.WorkerRoleARN; r != "" && !strings.HasPrefix(r, "arn:") {
		return bad("storage.worker_role_arn", r, "want a role ARN such as arn:aws:iam::123456789012:role/sluice-worker")
	}
	if d := c.Storage.WorkerCredentialsTTL; d < 15*time.Minute || d > 12*time.Hour {
		return bad("storage.worker_credentials_ttl", d.String(), "want a duration from 15m to 12h (the limits of STS)")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return bad("tls.cert_file", c.TLS.CertFile, "give both tls.cert_file and tls.key_file, or neither")
	}
	if err := c.validateHTTP(bad); err != nil {
		return err
	}
	if c.Queries.StopTimeout <= 0 {
		return bad("queries.stop_timeout", c.Queries.StopTimeout.String(), "want a positive duration")
	}
	if d := c.Upkeep.Interval; d < time.Second || d > 24*time.Hour {
		return bad("upkeep.interval", d.String(), "want a duration from 1s to 24h")
	}
	if d := c.Sharing.URLLifetime; d < time.Minute || d > 7*24*time.Hour {
		return bad("sharing.url_lifetime", d.String(), "want a duration from 1m to 168h")
	}
	if d := c.Sharing.MaxTokenLifetime; d < time.Hour || d > MaxTokenLifetime {
		return bad("sharing.max_token_lifetime", d.String(), "want a duration from 1h to 8760h (one year)")
	}
	if _, err := c.Sharing.TrustedProxyPrefixes(); err != nil {
		return bad("sharing.trusted_proxies", strings.Join(c.Sharing.TrustedProxies, ","), err.Error())
	}
	if j := c.Sharing.JWT; j.JWKSURL != "" && (j.Issuer == "" || j.Audience == "") {
		return bad("sharing.jwt.jwks_url", j.JWKSURL, "JWT authentication needs sharing.jwt.issuer and sharing.jwt.audience too")
	}
	for _, f := range c.Policy.Files {
		if strings.TrimSpace(f) == "" {
			return bad("policy.files", f, "want a Rego file path")
		}
	}
	return nil
}

// validateCatalog checks the catalog section. A URL is shown redacted:
// it may hold the password this check refuses.
func (c *Config) validateCatalog(bad func(key, val, want string) error) error {
	if s := c.Catalog.URL; s != "" {
		u, err := url.Parse(s)
		if err != nil || !catalog.IsPostgresURL(s) {
			return bad("catalog.url", catalog.RedactURL(s), "want empty (SQLite in the data directory) or postgres://user@host:5432/database?sslmode=verify-full")
		}
		if _, ok := u.User.Password(); ok || u.Query().Has("password") {
			return bad("catalog.url", catalog.RedactURL(s), "the URL holds a password: remove it, and give catalog.password as env:NAME or file:/path (or set PGPASSWORD)")
		}
	}
	if p := c.Catalog.Password; p != "" {
		if !secret.WellFormed(p) {
			// Not echoed: it may be the password itself.
			return fmt.Errorf("catalog.password (from %s): want a reference, env:NAME or file:/absolute/path, not the password itself", c.Source("catalog.password"))
		}
		if c.Catalog.URL == "" {
			return bad("catalog.password", p, "is for a PostgreSQL catalog: set catalog.url too, or remove it")
		}
	}
	if c.Catalog.URL != "" {
		// Replicas share the catalog: what one writes or signs, the
		// others must reach and verify.
		if c.Storage.Warehouse == "" {
			return bad("storage.warehouse", "", "a PostgreSQL catalog is shared by replicas, and the default warehouse (in this server's data directory) is not: set storage.warehouse (--warehouse) to s3://bucket/prefix or a file:// directory every replica reaches")
		}
		if c.Sharing.FileURLKey == "" {
			return bad("sharing.file_url_key", "", "a PostgreSQL catalog is shared by replicas, which must sign page tokens and file URLs with one key: set SLUICE_FILE_URL_KEY to the same 64 hex digits on every replica (e.g. openssl rand -hex 32)")
		}
	}
	return nil
}

// isPublicURL reports whether s is an absolute http(s) URL without
// credentials, query or fragment (a trailing slash is allowed: the server
// drops it).
func isPublicURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// validateHTTP checks the http section: positive values, and a client
// cap within the overall one.
func (c *Config) validateHTTP(bad func(key, val, want string) error) error {
	h := c.HTTP
	for _, d := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{{"read_header_timeout", h.ReadHeaderTimeout, 0}, {"body_timeout", h.BodyTimeout, 0}, {"idle_timeout", h.IdleTimeout, 0},
		{"write_idle_timeout", h.WriteIdleTimeout, 0}, {"retry_after", h.RetryAfter, time.Second}} {
		if d.v <= 0 || d.v < d.min {
			want := "want a positive duration such as 30s"
			if d.min > 0 {
				want = "want a duration of " + d.min.String() + " or more"
			}
			return bad("http."+d.key, d.v.String(), want)
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"max_connections", h.MaxConnections}, {"max_connections_per_client", h.MaxConnectionsPerClient}, {"max_inflight", h.MaxInflight}} {
		if n.v <= 0 {
			return bad("http."+n.key, strconv.Itoa(n.v), "want a positive number")
		}
	}
	if h.MaxConnectionsPerClient > h.MaxConnections {
		return bad("http.max_connections_per_client", strconv.Itoa(h.MaxConnectionsPerClient),
			fmt.Sprintf("want at most http.max_connections (%d)", h.MaxConnections))
	}
	return nil
}

// Help documents the file, the variables and the precedence, for --help.
func Help() string {
	var b strings.Builder
	b.WriteString(`Configuration: defaults < --config FILE (YAML; or SLUICE_CONFIG) < SLUICE_*
environment variables < flags. Unknown keys in the file are errors. Keys:

`)
	rows := [][3]string{{"file key", "environment", "flag"}}
	for _, s := range settings() {
		fl := "-"
		if s.flag != "" {
			fl = "--" + s.flag
		}
		rows = append(rows, [3]string{s.key, s.env, fl})
	}
	w := [3]int{}
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len(c))
		}
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %-*s  %s\n", w[0], r[0], w[1], r[1], r[2])
	}
	return b.String()
}

// Resolve builds the configuration in order of precedence: Defaults, the
// YAML file at path (none if ""), the environment (through lookup), the
// flags given (fl may be nil); then it validates the result.
func Resolve(path string, lookup func(string) (string, bool), fl *Flags) (Config, error) {
	c := Defaults()
	if path != "" {
		if err := c.LoadFile(path); err != nil {
			return Config{}, err
		}
	}
	if err := c.ApplyEnv(lookup); err != nil {
		return Config{}, err
	}
	if fl != nil {
		if err := fl.Apply(&c); err != nil {
			return Config{}, err
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
