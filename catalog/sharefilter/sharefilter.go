// Package sharefilter reads the per-recipient filter of a shared table,
// the WHERE clause of ALTER SHARE s ADD TABLE t ... WHERE filter:
//
//	country = CURRENT_RECIPIENT('country') AND region = 'eu'
//
// A filter is an AND of equalities, each between a column and either a
// literal or CURRENT_RECIPIENT('key') (a property of the recipient reading
// the share, set by CREATE RECIPIENT ... WITH PROPERTIES). Files are
// shared whole, so only partition columns may be filtered on (Check); the
// sharing server keeps a file only when every equality holds for its
// partition values, and a recipient without one of the properties gets no
// file of the table (Bind).
package sharefilter

import (
	"fmt"
	"strings"

	"github.com/sluice-io/sluice/catalog/sqlparse"
)

// RecipientFunc is the function that reads a recipient property.
const RecipientFunc = "CURRENT_RECIPIENT"

// maxTerms bounds the equalities of one filter.
const maxTerms = 64

// Term is one equality: Column = Literal, or Column = the recipient's
// property Property when Property is set.
type Term struct {
	Column   string
	Literal  string // the literal's value (decoded string, number as written, TRUE/FALSE, date text)
	Kind     sqlparse.LiteralKind
	Property string
}

// Filter is a parsed filter: its canonical SQL and its equalities, in
// order.
type Filter struct {
	Text  string
	Terms []Term
}

// Parse parses and checks a filter's SQL text (as Filter.Text or
// sqlparse renders it).
func Parse(text string) (*Filter, error) {
	e, err := sqlparse.ParseExpr(text)
	if err != nil {
		return nil, fmt.Errorf("share filter %q: %w", text, err)
	}
	return Compile(e)
}

// Compile checks the shape of a parsed filter and returns its equalities.
func Compile(e sqlparse.Expr) (*Filter, error) {
	f := &Filter{Text: e.String()}
	if err := f.add(e); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Filter) add(e sqlparse.Expr) error {
	b, ok := e.(*sqlparse.Binary)
	if !ok {
		return shapeError(e)
	}
	switch b.Op {
	case "AND":
		if err := f.add(b.X); err != nil {
			return err
		}
		return f.add(b.Y)
	case "=":
	default:
		return shapeError(e)
	}
	if len(f.Terms) == maxTerms {
		return fmt.Errorf("share filter %s: more than %d equalities", f.Text, maxTerms)
	}
	col, other := b.X, b.Y
	if _, isCol := col.(*sqlparse.ColumnRef); !isCol {
		col, other = other, col
	}
	c, ok := col.(*sqlparse.ColumnRef)
	if !ok || len(c.Parts) != 1 {
		return shapeError(e)
	}
	t := Term{Column: c.Parts[0].Name}
	switch v := other.(type) {
	case *sqlparse.Literal:
		switch v.Kind {
		case sqlparse.LitString, sqlparse.LitNumber, sqlparse.LitBool, sqlparse.LitDate:
		default:
			return fmt.Errorf("share filter %s: %s: a %s literal cannot be compared with a partition value (use a string, number, boolean or DATE literal)", f.Text, e, strings.ToLower(string(v.Kind)))
		}
		t.Literal, t.Kind = v.Value, v.Kind
	case *sqlparse.FuncCall:
		if !strings.EqualFold(v.Name.Name, RecipientFunc) || len(v.Args) != 1 {
			return shapeError(e)
		}
		key, ok := v.Args[0].(*sqlparse.Literal)
		if !ok || key.Kind != sqlparse.LitString || key.Value == "" {
			return fmt.Errorf("share filter %s: %s takes one property name as a string, such as %s('country')", f.Text, RecipientFunc, RecipientFunc)
		}
		t.Property = key.Value
	default:
		return shapeError(e)
	}
	f.Terms = append(f.Terms, t)
	return nil
}

func shapeError(e sqlparse.Expr) error {
	return fmt.Errorf("share filter: %s is not supported: a filter is an AND of equalities between a partition column and a literal or %s('key'), such as country = %s('country') AND region = 'eu'",
		e, RecipientFunc, RecipientFunc)
}

// Columns returns the columns the filter names, in order, once each.
func (f *Filter) Columns() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range f.Terms {
		k := strings.ToLower(t.Column)
		if !seen[k] {
			seen[k] = true
			out = append(out, t.Column)
		}
	}
	return out
}

// Properties returns the recipient properties the filter reads, in
// order, once each.
func (f *Filter) Properties() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range f.Terms {
		if t.Property != "" && !seen[t.Property] {
			seen[t.Property] = true
			out = append(out, t.Property)
		}
	}
	return out
}

// Check refuses a filter on a column that is not one of the table's
// partition columns (matched case-insensitively): files are shared whole,
// so a filter can only choose files, by their partition values.
func (f *Filter) Check(table string, partitions []string) error {
	for _, c := range f.Columns() {
		found := false
		for _, p := range partitions {
			if strings.EqualFold(p, c) {
				found = true
				break
			}
		}
		if found {
			continue
		}
		by := "is not partitioned"
		if len(partitions) > 0 {
			by = "is partitioned by " + strings.Join(partitions, ", ")
		}
		return fmt.Errorf("share filter on table %s: column %s is not a partition column (the table %s): files are shared whole, so a filter can only select files by their partition values; filter on a partition column, or share a table partitioned by %s",
			table, c, by, c)
	}
	return nil
}

// Bound is a filter with the recipient's properties filled in: for each
// equality, the column and the value it must have.
type Bound struct {
	Terms []BoundTerm
}

// BoundTerm is Column = Value; Kind is the literal's kind (LitString for a
// recipient property).
type BoundTerm struct {
	Column string
	Value  string
	Kind   sqlparse.LiteralKind
}

// Bind fills in the recipient's properties. missing lists the properties
// the filter reads that props lacks: such a recipient gets no file of the
// table (ok is false), never every file.
func (f *Filter) Bind(props map[string]string) (b Bound, missing []string) {
	for _, t := range f.Terms {
		if t.Property == "" {
			b.Terms = append(b.Terms, BoundTerm{Column: t.Column, Value: t.Literal, Kind: t.Kind})
			continue
		}
		v, ok := props[t.Property]
		if !ok {
			missing = append(missing, t.Property)
			continue
		}
		b.Terms = append(b.Terms, BoundTerm{Column: t.Column, Value: v, Kind: sqlparse.LitString})
	}
	return b, missing
}
