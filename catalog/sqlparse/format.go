package sqlparse

import (
	"strings"
	"unicode/utf8"
)

// Format renders statements as a script: canonical SQL, one statement a
// line, each ending in ';'.
func Format(stmts []Statement) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(s.String())
		b.WriteString(";\n")
	}
	return b.String()
}

// String renders the identifier, double-quoted if it was quoted or must be.
func (n *Ident) String() string { return quoteIdent(n.Name, n.Quoted) }

// String renders the dotted name.
func (n *Name) String() string { return joinIdents(n.Parts) }

func joinIdents(parts []*Ident) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = p.String()
	}
	return strings.Join(s, ".")
}

// String renders 'key' = value.
func (n *Property) String() string { return quoteString(n.Key) + " = " + n.Value.String() }

// String renders the canonical type.
func (n *TypeName) String() string { return n.Text }

// String renders name TYPE [NOT NULL].
func (n *ColumnDef) String() string {
	s := n.Name.String() + " " + n.Type.String()
	if n.NotNull {
		s += " NOT NULL"
	}
	return s
}

// with renders " WITH (...)", or "" without properties.
func with(props []*Property) string {
	if len(props) == 0 {
		return ""
	}
	return " WITH " + propList(props)
}

// propList renders ('key' = value, ...).
func propList(props []*Property) string {
	s := make([]string, len(props))
	for i, p := range props {
		s[i] = p.String()
	}
	return "(" + strings.Join(s, ", ") + ")"
}

func ifNotExists(b bool) string {
	if b {
		return " IF NOT EXISTS"
	}
	return ""
}

// String renders the statement.
func (n *CreateObject) String() string {
	s := "CREATE " + n.Kind.Keyword() + ifNotExists(n.IfNotExists) + " " + n.Name.String() + with(n.With)
	if len(n.Properties) > 0 {
		s += " WITH PROPERTIES " + propList(n.Properties)
	}
	return s
}

// String renders the statement.
func (n *Drop) String() string {
	s := "DROP " + n.Kind.Keyword()
	if n.IfExists {
		s += " IF EXISTS"
	}
	s += " " + n.Name.String()
	if n.Cascade {
		s += " CASCADE"
	}
	if n.Purge {
		s += " PURGE"
	}
	return s
}

// String renders the statement.
func (n *CreateStream) String() string {
	s := "CREATE STREAM" + ifNotExists(n.IfNotExists) + " " + n.Name.String()
	if len(n.Columns) > 0 {
		cols := make([]string, len(n.Columns))
		for i, c := range n.Columns {
			cols[i] = c.String()
		}
		s += " (" + strings.Join(cols, ", ") + ")"
	}
	return s + with(n.With)
}

// String renders the statement.
func (n *CreateTable) String() string {
	s := "CREATE TABLE" + ifNotExists(n.IfNotExists) + " " + n.Name.String()
	if n.Location != nil {
		s += " LOCATION " + n.Location.String()
	}
	s += with(n.With)
	if n.Query != nil {
		s += " AS " + n.Query.String()
	}
	return s
}

// String renders SELECT ... FROM ... [WHERE ...].
func (n *Select) String() string {
	items := make([]string, len(n.Items))
	for i, it := range n.Items {
		items[i] = it.String()
	}
	s := "SELECT " + strings.Join(items, ", ") + " FROM " + n.From.String()
	if n.Where != nil {
		s += " WHERE " + n.Where.String()
	}
	return s
}

// String renders expr [AS alias].
func (n *SelectItem) String() string {
	if n.Alias != nil {
		return n.Expr.String() + " AS " + n.Alias.String()
	}
	return n.Expr.String()
}

// String renders the statement.
func (n *Show) String() string {
	s := "SHOW " + n.What
	if n.In != nil {
		s += " IN " + n.In.String()
	}
	if n.Like != nil {
		s += " LIKE " + n.Like.String()
	}
	return s
}

// String renders the statement.
func (n *ShowGrants) String() string {
	s := "SHOW GRANTS"
	if n.On != nil {
		s += " ON " + n.OnKind.Keyword() + " " + n.On.String()
	}
	if n.To != nil {
		s += " TO " + n.ToKind.Keyword() + " " + n.To.String()
	}
	return s
}

// String renders the statement.
func (n *Describe) String() string {
	if n.Kind == "" {
		return "DESCRIBE " + n.Name.String()
	}
	return "DESCRIBE " + n.Kind.Keyword() + " " + n.Name.String()
}

// String renders the statement.
func (n *QueryControl) String() string { return n.Action + " QUERY " + n.Query.String() }

// String renders the statement.
func (n *RotateToken) String() string {
	return "ALTER " + n.Kind.Keyword() + " " + n.Name.String() + " ROTATE TOKEN" + with(n.With)
}

// String renders the statement.
func (n *AlterRecipient) String() string {
	s := "ALTER RECIPIENT " + n.Name.String()
	switch {
	case n.SetProperties != nil:
		return s + " SET PROPERTIES " + propList(n.SetProperties)
	case n.UnsetProperties != nil:
		return s + " UNSET PROPERTIES " + keyList(n.UnsetProperties)
	}
	return s + " SET " + propList(n.Set)
}

// keyList renders ('key', ...).
func keyList(keys []*Literal) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// grantWords returns GRANT/TO or REVOKE/FROM.
func grantWords(revoke bool) (string, string) {
	if revoke {
		return "REVOKE", "FROM"
	}
	return "GRANT", "TO"
}

// String renders the statement.
func (n *GrantRole) String() string {
	verb, to := grantWords(n.Revoke)
	return verb + " ROLE " + n.Role.String() + " " + to + " " + n.GranteeKind.Keyword() + " " + n.Grantee.String()
}

// String renders the statement.
func (n *GrantPrivileges) String() string {
	verb, to := grantWords(n.Revoke)
	privs := make([]string, len(n.Privileges))
	for i, p := range n.Privileges {
		privs[i] = string(p)
	}
	return verb + " " + strings.Join(privs, ", ") + " ON " + n.OnKind.Keyword() + " " + n.On.String() +
		" " + to + " " + n.GranteeKind.Keyword() + " " + n.Grantee.String()
}

// String renders the statement.
func (n *AlterShare) String() string {
	s := "ALTER SHARE " + n.Share.String() + " " + n.Action + " TABLE" + ifNotExists(n.IfNotExists) + " " + n.Table.String()
	if n.As != nil {
		s += " AS " + n.As.String()
	}
	if n.WithHistory {
		s += " WITH HISTORY"
	}
	if n.Where != nil {
		s += " WHERE " + n.Where.String()
	}
	return s
}

// String renders the statement.
func (n *AlterTable) String() string {
	s := "ALTER TABLE " + n.Table.String()
	if n.Unset == nil {
		return s + " SET TBLPROPERTIES " + propList(n.Set)
	}
	if n.IfExists {
		s += " UNSET TBLPROPERTIES IF EXISTS"
	} else {
		s += " UNSET TBLPROPERTIES"
	}
	return s + " " + keyList(n.Unset)
}

// Precedence levels, loosest first.
const (
	precOr = iota + 1
	precAnd
	precNot
	precCompare
	precConcat
	precAdd
	precMul
	precUnary
	precPostfix
)

// precedence returns how tightly e binds.
func precedence(e Expr) int {
	switch e := e.(type) {
	case *Binary:
		switch e.Op {
		case "OR":
			return precOr
		case "AND":
			return precAnd
		case "||":
			return precConcat
		case "+", "-":
			return precAdd
		case "*", "/", "%":
			return precMul
		}
		return precCompare
	case *Unary:
		if e.Op == "NOT" {
			return precNot
		}
		return precUnary
	case *IsNull, *In, *Between, *Like:
		return precCompare
	}
	return precPostfix
}

// render renders an expression through its format method, into one
// builder: the cost is linear in the size of the output, however deep the
// tree (concatenating the strings of subtrees is quadratic in the depth).
func render(e Expr) string {
	var b strings.Builder
	e.format(&b)
	return b.String()
}

// sub writes e, in parentheses if it binds less tightly than minPrec.
func sub(b *strings.Builder, e Expr, minPrec int) {
	if precedence(e) < minPrec {
		b.WriteByte('(')
		e.format(b)
		b.WriteByte(')')
		return
	}
	e.format(b)
}

// not renders " NOT" if set.
func not(b bool) string {
	if b {
		return " NOT"
	}
	return ""
}

// list writes the expressions separated by ", ".
func list(b *strings.Builder, es []Expr) {
	for i, e := range es {
		if i > 0 {
			b.WriteString(", ")
		}
		e.format(b)
	}
}

// String renders the literal.
func (n *Literal) String() string { return render(n) }

func (n *Literal) format(b *strings.Builder) {
	switch n.Kind {
	case LitNumber, LitBool:
		b.WriteString(n.Value)
		return
	case LitNull:
		b.WriteString("NULL")
		return
	case LitString:
		b.WriteString(quoteString(n.Value))
		return
	case LitInterval:
		if n.Unit != "" {
			b.WriteString("INTERVAL " + quoteString(n.Value) + " " + n.Unit)
			return
		}
	}
	b.WriteString(string(n.Kind) + " " + quoteString(n.Value))
}

// String renders the dotted reference.
func (n *ColumnRef) String() string { return joinIdents(n.Parts) }

func (n *ColumnRef) format(b *strings.Builder) { b.WriteString(joinIdents(n.Parts)) }

// String renders * or q.*.
func (n *Star) String() string { return render(n) }

func (n *Star) format(b *strings.Builder) {
	if len(n.Qualifier) > 0 {
		b.WriteString(joinIdents(n.Qualifier) + ".")
	}
	b.WriteByte('*')
}

// String renders the operator and its operand.
func (n *Unary) String() string { return render(n) }

func (n *Unary) format(b *strings.Builder) {
	if n.Op == "NOT" {
		b.WriteString("NOT ")
		sub(b, n.X, precNot)
		return
	}
	b.WriteString(n.Op)
	if _, nested := n.X.(*Unary); nested {
		b.WriteByte('(') // never "--", a comment
		n.X.format(b)
		b.WriteByte(')')
		return
	}
	sub(b, n.X, precUnary)
}

// String renders x op y; operators are left-associative.
func (n *Binary) String() string { return render(n) }

// format writes a left-deep chain of operators of one precedence (a AND b
// AND c ...) by a loop down its left spine, not by recursion: a chain of
// 40,000 terms is 40,000 levels deep.
func (n *Binary) format(b *strings.Builder) {
	p := precedence(n)
	spine := []*Binary{n}
	for {
		x, ok := spine[len(spine)-1].X.(*Binary)
		if !ok || precedence(x) != p {
			break
		}
		spine = append(spine, x)
	}
	sub(b, spine[len(spine)-1].X, p)
	for i := len(spine) - 1; i >= 0; i-- {
		b.WriteString(" " + spine[i].Op + " ")
		sub(b, spine[i].Y, p+1)
	}
}

// String renders x IS [NOT] NULL.
func (n *IsNull) String() string { return render(n) }

func (n *IsNull) format(b *strings.Builder) {
	sub(b, n.X, precCompare)
	b.WriteString(" IS" + not(n.Not) + " NULL")
}

// String renders x [NOT] IN (...).
func (n *In) String() string { return render(n) }

func (n *In) format(b *strings.Builder) {
	sub(b, n.X, precCompare)
	b.WriteString(not(n.Not) + " IN (")
	list(b, n.List)
	b.WriteByte(')')
}

// String renders x [NOT] BETWEEN lo AND hi.
func (n *Between) String() string { return render(n) }

func (n *Between) format(b *strings.Builder) {
	sub(b, n.X, precCompare)
	b.WriteString(not(n.Not) + " BETWEEN ")
	sub(b, n.Lo, precConcat)
	b.WriteString(" AND ")
	sub(b, n.Hi, precConcat)
}

// String renders x [NOT] LIKE pattern.
func (n *Like) String() string { return render(n) }

func (n *Like) format(b *strings.Builder) {
	sub(b, n.X, precCompare)
	b.WriteString(not(n.Not) + " LIKE ")
	sub(b, n.Pattern, precConcat)
}

// String renders WHEN cond THEN result.
func (n *When) String() string {
	var b strings.Builder
	n.format(&b)
	return b.String()
}

func (n *When) format(b *strings.Builder) {
	b.WriteString("WHEN ")
	n.Cond.format(b)
	b.WriteString(" THEN ")
	n.Result.format(b)
}

// String renders the CASE expression.
func (n *Case) String() string { return render(n) }

func (n *Case) format(b *strings.Builder) {
	b.WriteString("CASE ")
	if n.Operand != nil {
		n.Operand.format(b)
		b.WriteByte(' ')
	}
	for _, w := range n.Whens {
		w.format(b)
		b.WriteByte(' ')
	}
	if n.Else != nil {
		b.WriteString("ELSE ")
		n.Else.format(b)
		b.WriteByte(' ')
	}
	b.WriteString("END")
}

// String renders CAST(x AS type).
func (n *Cast) String() string { return render(n) }

func (n *Cast) format(b *strings.Builder) {
	b.WriteString("CAST(")
	n.X.format(b)
	b.WriteString(" AS " + n.Type.String() + ")")
}

// String renders name(args).
func (n *FuncCall) String() string { return render(n) }

func (n *FuncCall) format(b *strings.Builder) {
	b.WriteString(n.Name.String() + "(")
	list(b, n.Args)
	b.WriteByte(')')
}

// postfixBase writes the operand of .field or [index], in parentheses
// unless it is itself a reference, call or postfix expression.
func postfixBase(b *strings.Builder, x Expr) {
	switch x.(type) {
	case *ColumnRef, *FuncCall, *Subscript, *FieldAccess, *Cast, *Case:
		x.format(b)
		return
	}
	b.WriteByte('(')
	x.format(b)
	b.WriteByte(')')
}

// String renders x.field.
func (n *FieldAccess) String() string { return render(n) }

func (n *FieldAccess) format(b *strings.Builder) {
	postfixBase(b, n.X)
	b.WriteString("." + n.Field.String())
}

// String renders x[index].
func (n *Subscript) String() string { return render(n) }

func (n *Subscript) format(b *strings.Builder) {
	postfixBase(b, n.X)
	b.WriteByte('[')
	n.Index.format(b)
	b.WriteByte(']')
}

// MaxExcerpt bounds Excerpt, in characters.
const MaxExcerpt = 160

// Excerpt renders s as canonical SQL for an error message or an audit
// record, cut after MaxExcerpt characters with "...": an error about a
// statement of a megabyte quotes its start, not all of it.
func Excerpt(s Statement) string { return Cut(s.String(), MaxExcerpt) }

// Cut returns text cut after n characters (runes), with "..." if it was
// longer.
func Cut(text string, n int) string {
	if len(text) <= n {
		return text
	}
	i, count := 0, 0
	for i < len(text) && count < n {
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
		count++
	}
	if i == len(text) {
		return text
	}
	return text[:i] + "..."
}
