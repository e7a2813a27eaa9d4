package policy

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
)

//go:embed rego/sluice.rego
var defaultPolicy string

// DefaultModuleName is the name the default policy module compiles under.
const DefaultModuleName = "sluice.rego"

// Query is the Rego query every policy must answer: an object
// {"allow": bool, "reason": string}.
const Query = "data.sluice.authz.decision"

// DefaultPolicy returns the source of the embedded default policy.
func DefaultPolicy() string { return defaultPolicy }

// Module is one Rego module: its source and the name (usually its file
// path) that compile errors cite.
type Module struct {
	// Name is shown in compile errors as name:line:column.
	Name string
	// Source is the Rego text (v1 syntax).
	Source string
}

// LoadModules reads the Rego files at paths.
func LoadModules(paths ...string) ([]Module, error) {
	mods := make([]Module, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("policy: read module: %w", err)
		}
		mods = append(mods, Module{Name: p, Source: string(b)})
	}
	return mods, nil
}

// LoadModuleDir reads every *.rego file directly in dir, in name order,
// skipping Rego test files (*_test.rego).
func LoadModuleDir(dir string) ([]Module, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy: read module directory: %w", err)
	}
	var paths []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ".rego") && !strings.HasSuffix(n, "_test.rego") {
			paths = append(paths, filepath.Join(dir, n))
		}
	}
	return LoadModules(paths...)
}

// Option configures New.
type Option func(*config)

type config struct {
	modules   []Module
	files     []string
	dirs      []string
	noDefault bool
	sink      Sink
	now       func() time.Time
	allGrants bool
	cacheSize int
}

// WithModules adds Rego modules to the policy. Modules in package
// sluice.authz extend the default policy: a rule "deny contains msg if ..."
// denies what the default allows, with msg as the reason.
func WithModules(mods ...Module) Option {
	return func(c *config) { c.modules = append(c.modules, mods...) }
}

// WithModuleFiles adds the Rego files at paths (read by New).
func WithModuleFiles(paths ...string) Option {
	return func(c *config) { c.files = append(c.files, paths...) }
}

// WithModuleDir adds every *.rego file in dir but *_test.rego (read by New).
func WithModuleDir(dir string) Option {
	return func(c *config) { c.dirs = append(c.dirs, dir) }
}

// WithoutDefaultPolicy leaves the embedded default policy out: the modules
// given replace it and must define data.sluice.authz.decision.
func WithoutDefaultPolicy() Option {
	return func(c *config) { c.noDefault = true }
}

// WithSink sends the audit event of every decision to s. Without it events
// are discarded.
func WithSink(s Sink) Option {
	return func(c *config) { c.sink = s }
}

// WithClock sets the clock that stamps events and measures latency
// (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithAllGrants passes every grant of every node to the policy. By default
// the Engine passes only the grants to one of the principal's roles, which
// are the only ones the default policy reads and keep evaluation fast; a
// custom policy that reads other roles' grants needs this option.
func WithAllGrants() Option {
	return func(c *config) { c.allGrants = true }
}

// WithDecisionCache sets how many decisions the Engine caches (an LRU;
// DefaultCacheSize by default); 0 turns the cache off. A decision is cached
// under a hash of the whole policy input (principal, roles, action, path,
// grants passed), in a cache that belongs to the compiled policy (Reload
// starts an empty one), so a cached decision is always the one the policy
// would make again. Policies that call a nondeterministic builtin
// (time.now_ns, http.send, ...) are never cached. Every decision, cached
// or not, is audited.
func WithDecisionCache(size int) Option {
	return func(c *config) { c.cacheSize = max(size, 0) }
}

// Decision is the outcome of Engine.Decide.
type Decision struct {
	// Allow is true only when the policy allowed the request.
	Allow bool
	// Reason says why the request was denied: the missing privilege and the
	// node, a deny rule's message, or the error that failed it closed.
	Reason string
	// Revision is a hash of the policy modules that decided.
	Revision string
	// Latency is how long the decision took, audit excluded.
	Latency time.Duration
}

// Engine makes authorization decisions with a prepared OPA query. It is safe
// for concurrent use.
type Engine struct {
	cfg   config
	state atomic.Pointer[prepared]
}

type prepared struct {
	query    rego.PreparedEvalQuery
	revision string
	cache    *decisionCache // nil: not cached
}

// New compiles the policy (the default one plus any modules from the
// options) and prepares its query once. A policy that fails to compile
// returns OPA's error, which cites file:line:column.
func New(ctx context.Context, opts ...Option) (*Engine, error) {
	e := &Engine{cfg: config{sink: discard{}, now: time.Now, cacheSize: DefaultCacheSize}}
	for _, o := range opts {
		o(&e.cfg)
	}
	mods := slices.Clone(e.cfg.modules)
	for _, d := range e.cfg.dirs {
		m, err := LoadModuleDir(d)
		if err != nil {
			return nil, err
		}
		mods = append(mods, m...)
	}
	m, err := LoadModules(e.cfg.files...)
	if err != nil {
		return nil, err
	}
	mods = append(mods, m...)
	if err := e.Reload(ctx, mods...); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload compiles a new policy from mods (plus the default policy, unless
// the Engine was made WithoutDefaultPolicy) and swaps it in atomically:
// decisions in flight finish with the old policy, later ones use the new.
// mods replace the modules given to New. On error the old policy stays.
func (e *Engine) Reload(ctx context.Context, mods ...Module) error {
	all := make([]Module, 0, len(mods)+1)
	if !e.cfg.noDefault {
		all = append(all, Module{Name: DefaultModuleName, Source: defaultPolicy})
	}
	all = append(all, mods...)
	if len(all) == 0 {
		return errors.New("policy: no policy modules")
	}
	seen := make(map[string]bool, len(all))
	opts := []func(*rego.Rego){rego.Query(Query), rego.StrictBuiltinErrors(true)}
	for _, m := range all {
		if seen[m.Name] {
			return fmt.Errorf("policy: two modules named %q", m.Name)
		}
		seen[m.Name] = true
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return fmt.Errorf("policy: compile: %w", err)
	}
	st := &prepared{query: pq, revision: revision(all)}
	if e.cfg.cacheSize > 0 && deterministic(all) {
		st.cache = newDecisionCache(e.cfg.cacheSize)
	}
	e.state.Store(st)
	return nil
}

// deterministic reports whether mods call no nondeterministic builtin, so
// that their decisions may be cached.
func deterministic(mods []Module) bool {
	parsed := make([]*ast.Module, 0, len(mods))
	for _, m := range mods {
		pm, err := ast.ParseModuleWithOpts(m.Name, m.Source, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return false
		}
		parsed = append(parsed, pm)
	}
	return !nondeterministic(parsed)
}

// Revision returns the hash of the policy modules in force.
func (e *Engine) Revision() string { return e.state.Load().revision }

// revision hashes the modules' names and sources, in name order.
func revision(mods []Module) string {
	s := slices.Clone(mods)
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	h := sha256.New()
	for _, m := range s {
		fmt.Fprintf(h, "%d:%s%d:%s", len(m.Name), m.Name, len(m.Source), m.Source)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Decide asks the policy whether r is allowed. It fails closed: an invalid
// request, an evaluation error or a policy without an answer is denied, with
// the error returned and named in the Reason. Every decision, allowed or
// not, goes to the audit sink.
func (e *Engine) Decide(ctx context.Context, r Request) (Decision, error) {
	start := e.cfg.now()
	st := e.state.Load()
	names := QualifiedNames(r.Path)
	var (
		d   = Decision{Revision: st.revision}
		err = r.Validate()
	)
	if err == nil {
		err = ctx.Err()
		if err != nil {
			err = fmt.Errorf("policy: %w", err)
		}
	}
	if err == nil {
		if st.cache == nil {
			d.Allow, d.Reason, err = st.eval(ctx, e.input(r, names))
		} else {
			k := e.key(r)
			var hit bool
			if d.Allow, d.Reason, hit = st.cache.get(k); !hit {
				d.Allow, d.Reason, err = st.eval(ctx, e.input(r, names))
				if err == nil {
					st.cache.put(k, d.Allow, d.Reason)
				}
			}
		}
	}
	if err != nil {
		d.Allow = false
		d.Reason = "denied: " + err.Error()
	}
	d.Latency = e.cfg.now().Sub(start)
	var target string
	if len(names) > 0 {
		target = names[len(names)-1]
	}
	e.cfg.sink.Record(Event{
		Time:          start,
		Principal:     string(r.Principal.Kind) + ":" + r.Principal.Name,
		Action:        r.Action,
		Path:          target,
		Allow:         d.Allow,
		Reason:        d.Reason,
		Revision:      d.Revision,
		LatencyMicros: d.Latency.Microseconds(),
	})
	return d, err
}

// noMetrics spares each evaluation a fresh metrics registry.
var noMetrics = metrics.NoOp()

// ErrNoDecision is wrapped by the error of a policy that gave no decision
// object for a request (it left data.sluice.authz.decision undefined or
// malformed).
var ErrNoDecision = errors.New("policy gave no decision")

func (p *prepared) eval(ctx context.Context, input ast.Value) (bool, string, error) {
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalMetrics(noMetrics))
	if err != nil {
		return false, "", fmt.Errorf("policy: evaluate: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return false, "", fmt.Errorf("policy: %w: %s is undefined", ErrNoDecision, Query)
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return false, "", fmt.Errorf("policy: %w: %s is %T, not an object", ErrNoDecision, Query, rs[0].Expressions[0].Value)
	}
	allow, ok := obj["allow"].(bool)
	if !ok {
		return false, "", fmt.Errorf("policy: %w: allow is %T, not a boolean", ErrNoDecision, obj["allow"])
	}
	reason, _ := obj["reason"].(string)
	if !allow && reason == "" {
		reason = "denied by policy"
	}
	return allow, reason, nil
}

// Keys of the input objects, made once: OPA does not modify input terms.
var (
	keyPrincipal  = ast.StringTerm("principal")
	keyAction     = ast.StringTerm("action")
	keyPath       = ast.StringTerm("path")
	keyKind       = ast.StringTerm("kind")
	keyName       = ast.StringTerm("name")
	keyRoles      = ast.StringTerm("roles")
	keyFQN        = ast.StringTerm("fqn")
	keyGrants     = ast.StringTerm("grants")
	keyRole       = ast.StringTerm("role")
	keyPrivilege  = ast.StringTerm("privilege")
	keyPrivileges = ast.StringTerm("privileges")
	keyRecipients = ast.StringTerm("recipients")
	keyShares     = ast.StringTerm("shares")
)

// privTerms interns the terms of the known privilege names, so building a
// node's privilege set allocates only the set.
var privTerms = func() map[string]*ast.Term {
	m := make(map[string]*ast.Term, len(Actions)+1)
	for _, a := range Actions {
		m[string(a)] = ast.StringTerm(string(a))
	}
	m[PrivilegeAll] = ast.StringTerm(PrivilegeAll)
	return m
}()

func privTerm(p string) *ast.Term {
	if t := privTerms[p]; t != nil {
		return t
	}
	return ast.StringTerm(p)
}

// stringSet is a Rego set of strings.
func stringSet(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.SetTerm(ts...)
}

// input builds the policy input as an OPA value, with no JSON round trip.
// Each node carries "privileges", the set of privileges granted on it to
// one of the principal's roles (computed here, so the policy does not loop
// over grants), and "grants": unless WithAllGrants, only those to the
// principal's roles.
func (e *Engine) input(r Request, names []string) ast.Value {
	roles := make([]*ast.Term, len(r.Principal.Roles))
	for i, role := range r.Principal.Roles {
		roles[i] = ast.StringTerm(role)
	}
	held := roleFilter(r.Principal.Roles)
	path := make([]*ast.Term, len(r.Path))
	var privs []*ast.Term
	for i, n := range r.Path {
		grants := make([]*ast.Term, 0, min(len(n.Grants), 8))
		privs = privs[:0]
		for _, g := range n.Grants {
			ri := held(g.Role)
			var role *ast.Term
			switch {
			case ri >= 0:
				role = roles[ri]
				privs = append(privs, privTerm(g.Privilege))
			case e.cfg.allGrants:
				role = ast.StringTerm(g.Role)
			default:
				continue
			}
			grants = append(grants, ast.ObjectTerm(
				[2]*ast.Term{keyRole, role},
				[2]*ast.Term{keyPrivilege, privTerm(g.Privilege)},
			))
		}
		fields := [][2]*ast.Term{
			{keyKind, ast.StringTerm(string(n.Kind))},
			{keyName, ast.StringTerm(n.Name)},
			{keyFQN, ast.StringTerm(names[i])},
			{keyGrants, ast.ArrayTerm(grants...)},
			{keyPrivileges, ast.SetTerm(privs...)},
		}
		if n.Recipients != nil {
			fields = append(fields, [2]*ast.Term{keyRecipients, stringSet(n.Recipients)})
		}
		if n.Shares != nil {
			fields = append(fields, [2]*ast.Term{keyShares, stringSet(n.Shares)})
		}
		path[i] = ast.ObjectTerm(fields...)
	}
	return ast.NewObject(
		[2]*ast.Term{keyPrincipal, ast.ObjectTerm(
			[2]*ast.Term{keyKind, ast.StringTerm(string(r.Principal.Kind))},
			[2]*ast.Term{keyName, ast.StringTerm(r.Principal.Name)},
			[2]*ast.Term{keyRoles, ast.ArrayTerm(roles...)},
		)},
		[2]*ast.Term{keyAction, ast.StringTerm(string(r.Action))},
		[2]*ast.Term{keyPath, ast.ArrayTerm(path...)},
	)
}
