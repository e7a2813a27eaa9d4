package parquetio

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// node is one field of a Delta schema laid onto a Parquet schema, with the
// Dremel levels of that layout. The writer builds it from the Delta schema
// (its own layout); the reader builds it from the file's schema, whose levels
// may differ (legacy lists, required/optional choices of other writers).
type node struct {
	name     string // Delta field name ("element", "key", "value" inside lists and maps)
	path     string // dotted column path, for errors
	typ      *deltalog.Type
	nullable bool
	def      int     // definition level at which the value is non-null
	elemDef  int     // list/map: definition level at which it has an element
	rep      int     // list/map: repetition level of its elements
	children []*node // struct fields; list: element; map: key, value
	leaf     int     // leaf id (writer: Parquet column index); -1 for groups and absent columns
	col      *parquet.Column
	firstLf  int      // smallest leaf id below (or at) this node; -1 if none
	acc      *statAcc // writer: per-file statistics of this node, if kept
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isNested(t *deltalog.Type) bool {
	return t.Name == deltalog.TypeArray || t.Name == deltalog.TypeMap
}

// writerTree lays the Delta fields onto the Parquet layout parquetNode
// produces, numbering leaves in schema order as Parquet does. Statistics are
// kept for leaves and lists/maps that are not inside a list or map.
func writerTree(fields []deltalog.Field) []*node {
	leaves := 0
	var build func(f deltalog.Field, path string, parentDef, parentRep int, stats bool) *node
	build = func(f deltalog.Field, path string, parentDef, parentRep int, stats bool) *node {
		n := &node{name: f.Name, path: joinPath(path, f.Name), typ: f.Type, nullable: f.Nullable, leaf: -1, firstLf: leaves}
		n.def = parentDef + b2i(f.Nullable)
		if stats && f.Type.Name != deltalog.TypeStruct {
			n.acc = newStatAcc(f.Type)
		}
		switch f.Type.Name {
		case deltalog.TypeStruct:
			for _, c := range f.Type.Fields {
				n.children = append(n.children, build(c, n.path, n.def, parentRep, stats))
			}
		case deltalog.TypeArray:
			n.elemDef, n.rep = n.def+1, parentRep+1
			n.children = []*node{build(deltalog.Field{Name: "element", Type: f.Type.Element, Nullable: f.Type.ContainsNull}, n.path, n.elemDef, n.rep, false)}
		case deltalog.TypeMap:
			n.elemDef, n.rep = n.def+1, parentRep+1
			n.children = []*node{
				build(deltalog.Field{Name: "key", Type: f.Type.Key}, n.path, n.elemDef, n.rep, false),
				build(deltalog.Field{Name: "value", Type: f.Type.Value, Nullable: f.Type.ValueContainsNull}, n.path, n.elemDef, n.rep, false),
			}
		default:
			n.leaf = leaves
			leaves++
		}
		return n
	}
	roots := make([]*node, len(fields))
	for i, f := range fields {
		roots[i] = build(f, "", 0, 0, true)
	}
	return roots
}

// fileChild finds the child column of a file group matching a Delta field
// name: exactly, else ignoring case as Delta column names do.
func fileChild(c *parquet.Column, name string) *parquet.Column {
	var fold *parquet.Column
	for _, ch := range c.Columns() {
		if ch.Name() == name {
			return ch
		}
		if fold == nil && strings.EqualFold(ch.Name(), name) {
			fold = ch
		}
	}
	return fold
}

// mappedChild is the child column of c that stores field f under column
// mapping mode: in mode id the one with f's field id, if the file has field
// ids; otherwise the one named by f's physical name (its name in mode none).
func mappedChild(c *parquet.Column, f *deltalog.Field, mode string) *parquet.Column {
	if id, ok := deltalog.FieldID(f); ok && mode == deltalog.ColumnMappingID {
		for _, ch := range c.Columns() {
			if ch.ID() == id {
				return ch
			}
		}
	}
	return fileChild(c, deltalog.PhysicalName(f, mode))
}

func isLogical[T any](c *parquet.Column) bool {
	if c.Leaf() {
		return false
	}
	lt := c.Type().LogicalType()
	if lt == nil {
		return false
	}
	_, ok := lt.Value.(T)
	return ok
}

// readerTree lays the Delta fields onto the columns of a file. Fields the
// file does not have become absent nodes (leaf -1, no column), read as nulls.
// Present leaves are numbered in order; cols[i] is the column of leaf i.
func readerTree(fields []deltalog.Field, root *parquet.Column, mode string) (roots []*node, cols []*parquet.Column, err error) {
	fileChild := func(c *parquet.Column, f *deltalog.Field) *parquet.Column { return mappedChild(c, f, mode) }
	var build func(t *deltalog.Type, name, path string, c *parquet.Column, def, rep int, nullable bool) (*node, error)
	build = func(t *deltalog.Type, name, path string, c *parquet.Column, def, rep int, nullable bool) (*node, error) {
		n := &node{name: name, path: joinPath(path, name), typ: t, nullable: nullable, def: def, leaf: -1, col: c, firstLf: -1}
		if c == nil {
			return n, nil
		}
		switch t.Name {
		case deltalog.TypeStruct:
			if c.Leaf() {
				return nil, fmt.Errorf("column %q: file has a primitive column, want a struct", n.path)
			}
			for _, f := range t.Fields {
				fc := fileChild(c, &f)
				var ch *node
				var err error
				if fc != nil && fc.Repeated() && f.Type.Name == deltalog.TypeArray {
					ch, err = build(f.Type, f.Name, n.path, fc, def, rep, false)
				} else if fc != nil {
					ch, err = build(f.Type, f.Name, n.path, fc, def+b2i(fc.Optional()), rep, fc.Optional())
				} else {
					ch, err = build(f.Type, f.Name, n.path, nil, def, rep, true)
				}
				if err != nil {
					return nil, err
				}
				n.children = append(n.children, ch)
			}
		case deltalog.TypeArray:
			var elem *parquet.Column
			elemDef, elemNullable := 0, false
			n.rep = rep + 1
			switch {
			case c.Repeated(): // unannotated "repeated <type> name": list of required elements
				n.elemDef = def + 1
				elem, elemDef = c, n.elemDef
			default:
				ch := c.Columns()
				if c.Leaf() || len(ch) != 1 || !ch[0].Repeated() {
					return nil, fmt.Errorf("column %q: file column is not a list", n.path)
				}
				r := ch[0]
				n.elemDef = def + 1
				// Parquet LIST backward-compatibility rules: the repeated
				// field is the element itself when it is primitive, has
				// several fields, or is named "array" or "<list>_tuple".
				if r.Leaf() || len(r.Columns()) != 1 || r.Name() == "array" || r.Name() == c.Name()+"_tuple" {
					elem, elemDef = r, n.elemDef
				} else {
					elem = r.Columns()[0]
					elemNullable = elem.Optional()
					elemDef = n.elemDef + b2i(elemNullable)
				}
			}
			e, err := build(t.Element, "element", n.path, elem, elemDef, n.rep, elemNullable)
			if err != nil {
				return nil, err
			}
			n.children = []*node{e}
		case deltalog.TypeMap:
			ch := c.Columns()
			if c.Leaf() || len(ch) != 1 || !ch[0].Repeated() || ch[0].Leaf() || len(ch[0].Columns()) != 2 {
				return nil, fmt.Errorf("column %q: file column is not a map", n.path)
			}
			kv := ch[0].Columns()
			n.elemDef, n.rep = def+1, rep+1
			k, err := build(t.Key, "key", n.path, kv[0], n.elemDef+b2i(kv[0].Optional()), n.rep, kv[0].Optional())
			if err != nil {
				return nil, err
			}
			v, err := build(t.Value, "value", n.path, kv[1], n.elemDef+b2i(kv[1].Optional()), n.rep, kv[1].Optional())
			if err != nil {
				return nil, err
			}
			n.children = []*node{k, v}
		default:
			if !c.Leaf() {
				return nil, fmt.Errorf("column %q: file has a group column, want %s", n.path, t)
			}
			n.leaf = len(cols)
			cols = append(cols, c)
		}
		return n, nil
	}
	for _, f := range fields {
		fc := fileChild(root, &f)
		var r *node
		switch {
		case fc == nil:
			r, err = build(f.Type, f.Name, "", nil, 0, 0, true)
		case fc.Repeated() && f.Type.Name == deltalog.TypeArray:
			r, err = build(f.Type, f.Name, "", fc, 0, 0, false)
		default:
			r, err = build(f.Type, f.Name, "", fc, b2i(fc.Optional()), 0, fc.Optional())
		}
		if err != nil {
			return nil, nil, err
		}
		roots = append(roots, r)
	}
	for _, r := range roots {
		setFirstLeaf(r)
	}
	return roots, cols, nil
}

func setFirstLeaf(n *node) int {
	n.firstLf = n.leaf
	for _, c := range n.children {
		if l := setFirstLeaf(c); n.firstLf < 0 {
			n.firstLf = l
		}
	}
	return n.firstLf
}
