package policy

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultCacheSize is the number of decisions an Engine caches by default
// (see WithDecisionCache).
const DefaultCacheSize = 8192

// cacheKey is a SHA-256 over everything the policy's input holds: the
// principal (kind, name, roles in order, properties), the action, and every node's kind,
// name and the grants passed to the policy (those to the principal's roles,
// or all of them WithAllGrants; the nodes' qualified names and privilege
// sets are functions of these). With the policy fixed (one cache per
// compiled policy) and deterministic, equal keys give equal decisions.
type cacheKey [sha256.Size]byte

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendList appends a list that may be absent (nil) or empty, telling
// the two apart as the policy input does.
func appendList(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ss))+1)
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

// key computes r's cache key. It applies the same grant filter as input.
func (e *Engine) key(r Request) cacheKey {
	bp := keyBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = appendStr(b, string(r.Principal.Kind))
	b = appendStr(b, r.Principal.Name)
	b = binary.AppendUvarint(b, uint64(len(r.Principal.Roles)))
	for _, role := range r.Principal.Roles {
		b = appendStr(b, role)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Principal.Properties)))
	for _, k := range slices.Sorted(maps.Keys(r.Principal.Properties)) {
		b = appendStr(b, k)
		b = appendStr(b, r.Principal.Properties[k])
	}
	b = appendStr(b, string(r.Action))
	b = binary.AppendUvarint(b, uint64(len(r.Path)))
	held := roleFilter(r.Principal.Roles)
	for _, n := range r.Path {
		b = appendStr(b, string(n.Kind))
		b = appendStr(b, n.Name)
		for _, g := range n.Grants {
			if e.cfg.allGrants || held(g.Role) >= 0 {
				b = append(b, 1)
				b = appendStr(b, g.Role)
				b = appendStr(b, string(g.Privilege))
			}
		}
		b = append(b, 0)
		b = appendList(b, n.Recipients)
		b = appendList(b, n.Shares)
		b = appendStr(b, n.Filter)
	}
	k := cacheKey(sha256.Sum256(b))
	*bp = b
	keyBufs.Put(bp)
	return k
}

// roleFilter returns a function giving the index of a role among roles, or
// -1. A linear scan beats a map for the handful of roles a principal has.
func roleFilter(roles []string) func(string) int {
	if len(roles) > 16 {
		idx := make(map[string]int, len(roles))
		for i, r := range roles {
			idx[r] = i
		}
		return func(role string) int {
			if i, ok := idx[role]; ok {
				return i
			}
			return -1
		}
	}
	return func(role string) int {
		for i, r := range roles {
			if r == role {
				return i
			}
		}
		return -1
	}
}

type cached struct {
	key    cacheKey
	allow  bool
	reason string
}

// decisionCache is a bounded LRU of decisions, one per compiled policy: a
// Reload starts a new, empty one.
type decisionCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	items map[cacheKey]*list.Element
}

func newDecisionCache(size int) *decisionCache {
	return &decisionCache{max: size, ll: list.New(), items: make(map[cacheKey]*list.Element, min(size, 1024))}
}

func (c *decisionCache) get(k cacheKey) (allow bool, reason string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return false, "", false
	}
	c.ll.MoveToFront(el)
	v := el.Value.(*cached)
	return v.allow, v.reason, true
}

func (c *decisionCache) put(k cacheKey, allow bool, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.ll.MoveToFront(el)
		return
	}
	if c.ll.Len() >= c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cached).key)
	}
	c.items[k] = c.ll.PushFront(&cached{key: k, allow: allow, reason: reason})
}

func (c *decisionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// nondeterministic reports whether a module calls a nondeterministic
// builtin (time.now_ns, http.send, rand.intn, ...): such a policy's
// decisions may change with equal input, so they are not cached.
func nondeterministic(mods []*ast.Module) bool {
	found := false
	for _, m := range mods {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			var op *ast.Term
			switch v := t.Value.(type) {
			case ast.Call:
				if len(v) > 0 {
					op = v[0]
				}
			}
			if op != nil {
				if b := ast.BuiltinMap[op.String()]; b != nil && b.Nondeterministic {
					found = true
				}
			}
			return found
		})
		ast.WalkExprs(m, func(x *ast.Expr) bool {
			if x.IsCall() {
				if b := ast.BuiltinMap[x.Operator().String()]; b != nil && b.Nondeterministic {
					found = true
				}
			}
			return found
		})
		if found {
			return true
		}
	}
	return false
}
