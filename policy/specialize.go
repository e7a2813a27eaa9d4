package policy

import (
	"context"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Specialisation: OPA's partial evaluation of the policy per request shape.
//
// Of a node check's input, four fields take few values and decide most of
// the policy's work: the principal's kind, the action, the index of the
// checked node and the path's length. Partially evaluating the decision with
// those four known and everything else unknown (the path's nodes, the
// principal's name, roles and properties) gives a residual policy in which every rule
// that depends only on them is already decided: which privilege the node
// needs, which grants cover it, which reason to give. OPA does this
// (rego.PreparedPartialQuery), and OPA evaluates the residual; no rule of
// the policy is restated here. The residual is exact for any input of that
// shape because every other field of the input is unknown to it.
//
// A shape is specialised on its first check and kept with the compiled
// policy (a Reload starts afresh). A policy that calls a nondeterministic
// builtin is never specialised, and a shape whose partial evaluation fails is
// evaluated in full, as is every shape when specialisation is off.

// residualPackage is the package of the rules built from a residual. It
// cannot clash with an operator's package: "sluice_specialised" is reserved
// (docs/policy.md).
var residualPackage = ast.Ref{ast.DefaultRootDocument, ast.StringTerm("sluice_specialised")}

const residualQuery = "data.sluice_specialised.decision"

// The rules and queries of a split residual (split.go).
const (
	grantedQuery = "x = data.sluice_specialised.granted" // bound to x: 4 allocations fewer than the bare reference
	deniedQuery  = "x = data.sluice_specialised.denied"
)

// deniedRef is the rule deniedQuery asks.
var deniedRef = ast.MustParseRef("data.sluice_specialised.denied")

// partialQuery is what the policy is partially evaluated for: the decision,
// bound to x, so that each residual query body says which decision it gives.
const partialQuery = "x = " + Query

// shapeUnknowns are the input fields a residual leaves to evaluation time.
var shapeUnknowns = []*ast.Term{
	ast.MustParseTerm("input.path"),
	ast.MustParseTerm("input.principal.name"),
	ast.MustParseTerm("input.principal.roles"),
	ast.MustParseTerm("input.principal.properties"),
}

// shape is what a residual is specialised on.
type shape struct {
	kind   PrincipalKind
	action Action
	node   int
	depth  int
}

// residual is the specialised policy of one shape, made once.
type residual struct {
	once     sync.Once
	compiler *ast.Compiler
	// query is x = data.sluice_specialised.decision, compiled; nil when
	// the residual was split (split.go) into granted and denied.
	query ast.Body
	// granted is x = data.sluice_specialised.granted, compiled: when it holds,
	// the decision is grant. Otherwise denied, x =
	// data.sluice_specialised.denied, gives the decision, or its reason
	// when reasonOnly; a nil denied leaves the decision undefined.
	granted    ast.Body
	grant      decided
	denied     ast.Body
	reasonOnly bool
	// reason, when not nil, renders the denial's reason without asking
	// OPA the denied query (reason.go); the query stays for the inputs it
	// cannot render.
	reason *reasonTemplate
	ok     bool // false: evaluate the full policy for this shape
	err    error
}

// decided is a decision read from the policy.
type decided struct {
	allow  bool
	reason string
}

// specialiser makes and keeps the residuals of one compiled policy.
type specialiser struct {
	partial rego.PreparedPartialQuery
	modules []*ast.Module // the policy, for residuals that call its rules
	// store is empty (residuals read only input) and never written, so
	// one read transaction, opened here and never closed, serves every
	// evaluation: a transaction per check would cost an allocation and
	// two atomic operations on the store's lock, shared by all checks.
	store storage.Store
	txn   storage.Transaction

	mu     sync.RWMutex
	shapes map[shape]*residual
}

// newSpecialiser prepares the partial evaluation of the compiled modules.
func newSpecialiser(ctx context.Context, mods []*ast.Module) (*specialiser, error) {
	opts := []func(*rego.Rego){rego.Query(partialQuery), rego.StrictBuiltinErrors(true)}
	for _, m := range mods {
		opts = append(opts, rego.ParsedModule(m))
	}
	pq, err := rego.New(opts...).PrepareForPartial(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: prepare partial evaluation: %w", err)
	}
	store := inmem.New()
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: open the residuals' store: %w", err)
	}
	return &specialiser{partial: pq, modules: mods, store: store, txn: txn, shapes: make(map[shape]*residual)}, nil
}

// residual returns the residual for s, making it on first use; r.ok is
// false when s must be evaluated with the full policy.
func (sp *specialiser) residual(ctx context.Context, s shape) *residual {
	sp.mu.RLock()
	r := sp.shapes[s]
	sp.mu.RUnlock()
	if r == nil {
		sp.mu.Lock()
		if r = sp.shapes[s]; r == nil {
			r = &residual{}
			sp.shapes[s] = r
		}
		sp.mu.Unlock()
	}
	r.once.Do(func() {
		r.err = sp.make(context.WithoutCancel(ctx), s, r)
		r.ok = r.err == nil
	})
	return r
}

// counts returns how many shapes were specialised and how many fell back
// to the whole policy (a shape still being made counts as neither).
func (sp *specialiser) counts() (special, general int) {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	for _, r := range sp.shapes {
		switch {
		case r.ok:
			special++
		case r.err != nil:
			general++
		}
	}
	return special, general
}

// make partially evaluates the decision for s and compiles the residual
// into r: split into granted and denied if it has that form (split.go),
// else as the rule data.sluice_specialised.decision, one body per residual
// query.
func (sp *specialiser) make(ctx context.Context, s shape, r *residual) error {
	known := ast.NewObject(
		[2]*ast.Term{keyPrincipal, ast.ObjectTerm([2]*ast.Term{keyKind, ast.StringTerm(string(s.kind))})},
		[2]*ast.Term{keyAction, ast.StringTerm(string(s.action))},
		[2]*ast.Term{keyNode, ast.InternedTerm(s.node)},
		[2]*ast.Term{keyDepth, ast.InternedTerm(s.depth)},
	)
	pq, err := sp.partial.Partial(ctx, rego.EvalParsedInput(known), rego.EvalParsedUnknowns(shapeUnknowns))
	if err != nil {
		return fmt.Errorf("policy: partial evaluation of %+v: %w", s, err)
	}
	if parts, ok := split(pq.Queries, pq.Support); ok && sp.ownsSupport(pq.Support) {
		if err := sp.compileSplit(s, parts, pq.Support, r); err == nil {
			return nil
		}
		// A split that does not compile is still decided by the whole
		// residual below.
	}
	mod := &ast.Module{Package: &ast.Package{Path: residualPackage}}
	for _, body := range pq.Queries {
		mod.Rules = append(mod.Rules, residualRule(mod, "decision", ast.VarTerm("x"), body))
	}
	c, err := sp.compile(s, mod, pq.Support)
	if err != nil {
		return err
	}
	if r.query, err = c.QueryCompiler().Compile(ast.MustParseBody("x = " + residualQuery)); err != nil {
		return fmt.Errorf("policy: compile residual query of %+v: %w", s, err)
	}
	r.compiler = c
	return nil
}

// compileSplit compiles a split residual into r.
func (sp *specialiser) compileSplit(s shape, parts *splitResidual, support []*ast.Module, r *residual) error {
	allow, reason, err := decisionOf(parts.value.Value)
	if err != nil {
		return err
	}
	mod := &ast.Module{Package: &ast.Package{Path: residualPackage}}
	for _, body := range parts.granted {
		mod.Rules = append(mod.Rules, residualRule(mod, "granted", ast.BooleanTerm(true), body))
	}
	for i, body := range parts.denied {
		value := ast.VarTerm("x")
		if parts.reasons != nil {
			value = parts.reasons[i]
		}
		mod.Rules = append(mod.Rules, residualRule(mod, "denied", value, body))
	}
	c, err := sp.compile(s, mod, support)
	if err != nil {
		return err
	}
	qc := c.QueryCompiler()
	if r.granted, err = qc.Compile(ast.MustParseBody(grantedQuery)); err != nil {
		return fmt.Errorf("policy: compile residual query of %+v: %w", s, err)
	}
	if len(parts.denied) > 0 {
		if r.denied, err = qc.Compile(ast.MustParseBody(deniedQuery)); err != nil {
			return fmt.Errorf("policy: compile residual query of %+v: %w", s, err)
		}
	}
	r.compiler, r.grant, r.reasonOnly = c, decided{allow, reason}, parts.reasons != nil
	if rules := c.GetRules(deniedRef); r.reasonOnly && len(rules) == 1 {
		r.reason, _ = newReasonTemplate(rules[0])
	}
	return nil
}

// residualRule is the rule "name := value if body" of mod.
func residualRule(mod *ast.Module, name string, value *ast.Term, body ast.Body) *ast.Rule {
	head := ast.RefHead(ast.Ref{ast.VarTerm(name)}, value)
	head.Assign = true
	return &ast.Rule{Head: head, Body: body, Module: mod}
}

// compile compiles the residual module of s with the partial evaluation's
// support modules and the policy's own.
func (sp *specialiser) compile(s shape, mod *ast.Module, support []*ast.Module) (*ast.Compiler, error) {
	mods := map[string]*ast.Module{"sluice_specialised.rego": mod}
	for i, m := range support {
		mods[fmt.Sprintf("support_%d.rego", i)] = m
	}
	for i, m := range sp.modules {
		mods[fmt.Sprintf("policy_%d.rego", i)] = m
	}
	c := ast.NewCompiler().WithStrict(false)
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("policy: compile residual of %+v: %w", s, c.Errors)
	}
	return c, nil
}

// ownsSupport reports whether no policy module shares a package with the
// support modules, whose rules split reads as all the rules of their
// documents.
func (sp *specialiser) ownsSupport(support []*ast.Module) bool {
	for _, m := range sp.modules {
		for _, sm := range support {
			if m.Package.Path.HasPrefix(sm.Package.Path) || sm.Package.Path.HasPrefix(m.Package.Path) {
				return false
			}
		}
	}
	return true
}

// eval evaluates the residual for one node check with OPA's evaluator, on
// sp's store.
func (r *residual) eval(ctx context.Context, sp *specialiser, input *ast.Term) (bool, string, error) {
	return r.evalTraced(ctx, sp, input, nil)
}

// evalTraced is eval with a tracer of OPA's evaluation (nil: none).
func (r *residual) evalTraced(ctx context.Context, sp *specialiser, input *ast.Term, tr topdown.QueryTracer) (bool, string, error) {
	run := func(q ast.Body) (ast.Value, bool, error) {
		vc := newFlatCache()
		defer vc.release()
		query := topdown.NewQuery(q).
			WithVirtualCache(vc).
			WithBaseCache(noBaseCache{}).
			WithCompiler(r.compiler).
			WithStore(sp.store).
			WithTransaction(sp.txn).
			WithInput(input).
			WithStrictBuiltinErrors(true).
			WithMetrics(noMetrics).
			WithRequestMetadata(noRequestMetadata)
		if tr != nil {
			query = query.WithQueryTracer(tr)
		}
		rs, err := query.Run(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("policy: evaluate: %w", err)
		}
		if len(rs) != 1 {
			return nil, false, nil
		}
		x := rs[0][ast.Var("x")]
		if x == nil {
			return nil, false, nil // never: every query binds x
		}
		return x.Value, true, nil
	}
	q := r.query
	if q == nil {
		switch _, ok, err := run(r.granted); {
		case err != nil:
			return false, "", err
		case ok:
			return r.grant.allow, r.grant.reason, nil
		}
		if r.reason != nil {
			if v, ok := r.reason.render(input.Value); ok {
				return false, reasonOf(false, v), nil
			}
		}
		q = r.denied
	}
	var (
		v   ast.Value
		ok  bool
		err error
	)
	if q != nil {
		if v, ok, err = run(q); err != nil {
			return false, "", err
		}
	}
	switch {
	case !ok:
		return false, "", fmt.Errorf("policy: %w: %s is undefined", ErrNoDecision, Query)
	case r.reasonOnly:
		return false, reasonOf(false, v), nil
	default:
		return decisionOf(v)
	}
}

// noRequestMetadata is the request metadata of every residual query:
// empty, and shared, since OPA's evaluator and builtins only read it (they
// hand it to custom builtins and resolvers, of which a residual has none);
// without it OPA makes a map per query.
var noRequestMetadata = map[string]any{}

// noBaseCache is OPA's cache of base documents, kept empty: a residual's
// store is empty, so there is nothing to cache, and OPA's default cache
// costs two allocations per query.
type noBaseCache struct{}

func (noBaseCache) Get(ast.Ref) ast.Value  { return nil }
func (noBaseCache) Put(ast.Ref, ast.Value) {}

// flatCache is OPA's virtual-document cache for one evaluation of a
// residual, kept flat: a residual has a handful of rules, so a linear scan
// of the active frame's entries beats OPA's default tree of hash maps, and
// the entries' memory is reused across evaluations (flatCaches).
type flatCache struct {
	entries []flatEntry
	frames  []int // start in entries of each frame; the last is active
}

type flatEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

var flatCaches = sync.Pool{New: func() any { return &flatCache{} }}

func newFlatCache() *flatCache {
	c := flatCaches.Get().(*flatCache)
	c.entries = c.entries[:0]
	c.frames = append(c.frames[:0], 0)
	return c
}

func (c *flatCache) release() {
	clear(c.entries) // drop the terms for the collector
	flatCaches.Put(c)
}

// Push starts a new, empty frame.
func (c *flatCache) Push() { c.frames = append(c.frames, len(c.entries)) }

// Pop drops the active frame and its entries.
func (c *flatCache) Pop() {
	top := c.frames[len(c.frames)-1]
	clear(c.entries[top:])
	c.entries = c.entries[:top]
	c.frames = c.frames[:len(c.frames)-1]
}

func (c *flatCache) find(ref ast.Ref) *flatEntry {
	for i := len(c.entries) - 1; i >= c.frames[len(c.frames)-1]; i-- {
		if c.entries[i].ref.Equal(ref) {
			return &c.entries[i]
		}
	}
	return nil
}

// Get returns the value cached for ref in the active frame: (v, false) if
// defined, (nil, true) if cached as undefined, (nil, false) if not cached.
func (c *flatCache) Get(ref ast.Ref) (*ast.Term, bool) {
	switch e := c.find(ref); {
	case e == nil:
		return nil, false
	case e.undefined:
		return nil, true
	default:
		return e.value, false
	}
}

// Put caches value for ref in the active frame; a nil value records that
// ref is undefined.
func (c *flatCache) Put(ref ast.Ref, value *ast.Term) {
	e := c.find(ref)
	if e == nil {
		c.entries = append(c.entries, flatEntry{ref: ref})
		e = &c.entries[len(c.entries)-1]
	}
	if value != nil {
		e.value = value
	} else {
		e.undefined = true
	}
}

// Keys returns the refs with a value in the active frame.
func (c *flatCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range c.entries[c.frames[len(c.frames)-1]:] {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
