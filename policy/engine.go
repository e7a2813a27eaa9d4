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
	"github.com/sluice-io/sluice/catalog/object"
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
	general   bool // no specialisation
	// observeCheck, when set (by benchmarks), receives the duration and
	// the outcome of every node check.
	observeCheck func(d time.Duration, allow bool)
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

// WithoutSpecialisation evaluates the whole policy for every node check.
// By default the Engine specialises the policy with OPA's partial
// evaluation for each request shape (principal kind, action, node, path
// length) and evaluates the residual, which decides the same at a fraction
// of the cost (see docs/policy.md); this option is for comparing the two.
func WithoutSpecialisation() Option {
	return func(c *config) { c.general = true }
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

// Engine makes authorization decisions: OPA evaluates the policy on each
// node of a request's path (see Decide). It is safe for concurrent use, and
// it is a prometheus.Collector of its decisions and latencies.
type Engine struct {
	cfg     config
	state   atomic.Pointer[prepared]
	metrics *engineMetrics
}

type prepared struct {
	query    rego.PreparedEvalQuery
	revision string
	cache    *decisionCache // nil: not cached
	spec     *specialiser   // nil: every check evaluates the whole policy
}

// New compiles the policy (the default one plus any modules from the
// options) and prepares its query once. A policy that fails to compile
// returns OPA's error, which cites file:line:column.
func New(ctx context.Context, opts ...Option) (*Engine, error) {
	e := &Engine{cfg: config{sink: discard{}, now: time.Now, cacheSize: DefaultCacheSize}, metrics: newMetrics()}
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
	parsed, err := parseModules(all)
	if err != nil {
		return fmt.Errorf("policy: compile: %w", err)
	}
	// A policy that calls a nondeterministic builtin may decide differently
	// on equal input: its decisions are neither cached nor specialised.
	if !nondeterministic(parsed) {
		if e.cfg.cacheSize > 0 {
			st.cache = newDecisionCache(e.cfg.cacheSize)
		}
		if !e.cfg.general {
			if st.spec, err = newSpecialiser(ctx, parsed); err != nil {
				return err
			}
		}
	}
	e.state.Store(st)
	return nil
}

// parseModules parses mods as OPA did to compile them.
func parseModules(mods []Module) ([]*ast.Module, error) {
	parsed := make([]*ast.Module, 0, len(mods))
	for _, m := range mods {
		pm, err := ast.ParseModuleWithOpts(m.Name, m.Source, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		if pm.Package.Path.HasPrefix(residualPackage) {
			return nil, fmt.Errorf("%s: package %s is reserved for the engine's specialised policies; rename the package",
				m.Name, pm.Package.Path)
		}
		parsed = append(parsed, pm)
	}
	return parsed, nil
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

// Decide asks the policy whether r is allowed: OPA evaluates it once per
// node of r.Path, root first, and the first node denied decides (its reason
// is the Decision's); r is allowed when every node is. A decision may come
// from the decision cache instead. Decide fails closed: an invalid request,
// an evaluation error or a policy without an answer is denied, with the
// error returned and named in the Reason. Every decision, allowed or not,
// goes to the audit sink.
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
			d.Allow, d.Reason, err = e.decide(ctx, st, r, names)
		} else {
			k := e.key(r)
			var hit bool
			if d.Allow, d.Reason, hit = st.cache.get(k); hit {
				e.metrics.cacheHits.Inc()
			} else {
				d.Allow, d.Reason, err = e.decide(ctx, st, r, names)
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
	e.metrics.decision.Observe(d.Latency.Seconds())
	switch {
	case err != nil:
		e.metrics.decisions.WithLabelValues("error").Inc()
	case d.Allow:
		e.metrics.decisions.WithLabelValues("allowed").Inc()
	default:
		e.metrics.decisions.WithLabelValues("denied").Inc()
	}
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

// decide evaluates the policy on each node of r's path, root first, and
// stops at the first node it denies.
func (e *Engine) decide(ctx context.Context, st *prepared, r Request, names []string) (bool, string, error) {
	in := e.input(r, names)
	for i := range r.Path {
		allow, reason, err := e.check(ctx, st, r, in.node(i))
		if err != nil || !allow {
			return false, reason, err
		}
	}
	return true, "", nil
}

// check evaluates the policy for one node check: the residual of the
// check's shape, or the whole policy.
func (e *Engine) check(ctx context.Context, st *prepared, r Request, in nodeInput) (allow bool, reason string, err error) {
	defer func(t0 time.Time) {
		d := time.Since(t0)
		e.metrics.check.Observe(d.Seconds())
		if obs := e.cfg.observeCheck; obs != nil {
			obs(d, allow)
		}
	}(time.Now())
	if st.spec != nil {
		s := shape{kind: r.Principal.Kind, action: r.Action, node: in.index, depth: len(r.Path)}
		if res := st.spec.residual(ctx, s); res.ok {
			return res.eval(ctx, st.spec, ast.NewTerm(in.value))
		}
	}
	rs, err := st.query.Eval(ctx, rego.EvalParsedInput(in.value), rego.EvalMetrics(noMetrics))
	if err != nil {
		return false, "", fmt.Errorf("policy: evaluate: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return false, "", fmt.Errorf("policy: %w: %s is undefined", ErrNoDecision, Query)
	}
	v, err := ast.InterfaceToValue(rs[0].Expressions[0].Value)
	if err != nil {
		return false, "", fmt.Errorf("policy: %w: %v", ErrNoDecision, err)
	}
	return decisionOf(v)
}

// decisionOf reads the policy's decision object {"allow": bool, "reason":
// string}.
func decisionOf(v ast.Value) (bool, string, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return false, "", fmt.Errorf("policy: %w: %s is %s, not an object", ErrNoDecision, Query, ast.ValueName(v))
	}
	var allow ast.Boolean
	switch a := obj.Get(keyAllow); {
	case a == nil:
		return false, "", fmt.Errorf("policy: %w: allow is undefined", ErrNoDecision)
	default:
		if allow, ok = a.Value.(ast.Boolean); !ok {
			return false, "", fmt.Errorf("policy: %w: allow is %s, not a boolean", ErrNoDecision, ast.ValueName(a.Value))
		}
	}
	var reason ast.Value
	if t := obj.Get(keyReason); t != nil {
		reason = t.Value
	}
	return bool(allow), reasonOf(bool(allow), reason), nil
}

// reasonOf reads a decision's reason: v if it is a string, and for a
// denial without one, "denied by policy".
func reasonOf(allow bool, v ast.Value) string {
	s, _ := v.(ast.String)
	if !allow && s == "" {
		return "denied by policy"
	}
	return string(s)
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
	keyFilter     = ast.StringTerm("filter")
	keyProperties = ast.StringTerm("properties")
	keyInherited  = ast.StringTerm("inherited")
	keyNode       = ast.StringTerm("node")
	keyDepth      = ast.StringTerm("depth")
	keyAllow      = ast.StringTerm("allow")
	keyReason     = ast.StringTerm("reason")
)

// interned holds the terms of the strings every request repeats: privilege
// and action names, node and principal kinds. OPA does not modify input
// terms, so requests share them.
var interned = func() map[string]*ast.Term {
	m := make(map[string]*ast.Term, len(Actions)+len(object.Kinds)+4)
	for _, a := range Actions {
		m[string(a)] = ast.StringTerm(string(a))
	}
	for _, k := range object.Kinds {
		m[string(k)] = ast.StringTerm(string(k))
	}
	for _, k := range []PrincipalKind{PrincipalUser, PrincipalRecipient, PrincipalWorker} {
		m[string(k)] = ast.StringTerm(string(k))
	}
	m[string(object.PrivAll)] = ast.StringTerm(string(object.PrivAll))
	return m
}()

// term returns the interned term of s, or a new one.
func term(s string) *ast.Term {
	if t := interned[s]; t != nil {
		return t
	}
	return ast.StringTerm(s)
}

// emptySet is shared by every empty privilege set of the input.
var emptySet = ast.SetTerm()

// privSet is the set of ts, or the shared empty set.
func privSet(ts []*ast.Term) *ast.Term {
	if len(ts) == 0 {
		return emptySet
	}
	return ast.SetTerm(ts...)
}

// stringSet is a Rego set of strings.
func stringSet(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.SetTerm(ts...)
}

// requestInput is the policy input of one request, built once and shared
// by its node checks, which differ only in "node".
type requestInput struct {
	fields [4][2]*ast.Term // principal, action, path, depth
}

// nodeInput is the input of the check of one node.
type nodeInput struct {
	index int
	value ast.Value
}

func (in *requestInput) node(i int) nodeInput {
	return nodeInput{index: i, value: ast.NewObject(
		in.fields[0], in.fields[1], in.fields[2], in.fields[3],
		[2]*ast.Term{keyNode, ast.InternedTerm(i)},
	)}
}

// appendHeld adds to privs what a grant of p on a node of kind k gives:
// nothing when p does not apply to k (object.Grantable), else p and the
// privileges it implies (object.Implies).
func appendHeld(privs []*ast.Term, p object.Privilege, k object.Kind) []*ast.Term {
	if !object.Applies(p, k) {
		return privs
	}
	privs = append(privs, term(string(p)))
	for _, q := range object.Implies(p) {
		privs = append(privs, term(string(q)))
	}
	return privs
}

// input builds the policy input as OPA values, with no JSON round trip.
// Each node carries "privileges", the set of privileges granted on it to
// one of the principal's roles (those that apply to its kind) with those
// they imply, and "inherited", the union of its
// ancestors' privileges (computed here, so the policy loops over neither
// grants nor the path), and "grants": unless WithAllGrants, only those to
// the principal's roles.
func (e *Engine) input(r Request, names []string) *requestInput {
	roles := make([]*ast.Term, len(r.Principal.Roles))
	for i, role := range r.Principal.Roles {
		roles[i] = ast.StringTerm(role)
	}
	held := roleFilter(r.Principal.Roles)
	path := make([]*ast.Term, len(r.Path))
	var privs, inherited []*ast.Term
	for i, n := range r.Path {
		grants := make([]*ast.Term, 0, min(len(n.Grants), 8))
		privs = privs[:0]
		for _, g := range n.Grants {
			ri := held(g.Role)
			var role *ast.Term
			switch {
			case ri >= 0:
				role = roles[ri]
				privs = appendHeld(privs, g.Privilege, n.Kind)
			case e.cfg.allGrants:
				role = ast.StringTerm(g.Role)
			default:
				continue
			}
			grants = append(grants, ast.ObjectTerm(
				[2]*ast.Term{keyRole, role},
				[2]*ast.Term{keyPrivilege, term(string(g.Privilege))},
			))
		}
		fields := [][2]*ast.Term{
			{keyKind, term(string(n.Kind))},
			{keyName, ast.StringTerm(n.Name)},
			{keyFQN, ast.StringTerm(names[i])},
			{keyGrants, ast.ArrayTerm(grants...)},
			{keyPrivileges, privSet(privs)},
			{keyInherited, privSet(inherited)},
		}
		inherited = append(inherited, privs...)
		if n.Recipients != nil {
			fields = append(fields, [2]*ast.Term{keyRecipients, stringSet(n.Recipients)})
		}
		if n.Shares != nil {
			fields = append(fields, [2]*ast.Term{keyShares, stringSet(n.Shares)})
		}
		if n.Filter != "" {
			fields = append(fields, [2]*ast.Term{keyFilter, ast.StringTerm(n.Filter)})
		}
		path[i] = ast.ObjectTerm(fields...)
	}
	principal := [][2]*ast.Term{
		{keyKind, term(string(r.Principal.Kind))},
		{keyName, ast.StringTerm(r.Principal.Name)},
		{keyRoles, ast.ArrayTerm(roles...)},
	}
	if r.Principal.Properties != nil {
		props := make([][2]*ast.Term, 0, len(r.Principal.Properties))
		for k, v := range r.Principal.Properties {
			props = append(props, [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(v)})
		}
		principal = append(principal, [2]*ast.Term{keyProperties, ast.ObjectTerm(props...)})
	}
	return &requestInput{fields: [4][2]*ast.Term{
		{keyPrincipal, ast.ObjectTerm(principal...)},
		{keyAction, term(string(r.Action))},
		{keyPath, ast.ArrayTerm(path...)},
		{keyDepth, ast.InternedTerm(len(r.Path))},
	}}
}
