package sqlparse

import "strings"

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
	s := make([]string, len(props))
	for i, p := range props {
		s[i] = p.String()
	}
	return " WITH (" + strings.Join(s, ", ") + ")"
}

func ifNotExists(b bool) string {
	if b {
		return " IF NOT EXISTS"
	}
	return ""
}

// String renders the statement.
func (n *CreateObject) String() string {
	return "CREATE " + string(n.Kind) + ifNotExists(n.IfNotExists) + " " + n.Name.String() + with(n.With)
}

// String renders the statement.
func (n *Drop) String() string {
	s := "DROP " + string(n.Kind)
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
	if n.In != nil {
		return "SHOW " + n.What + " IN " + n.In.String()
	}
	return "SHOW " + n.What
}

// String renders the statement.
func (n *ShowGrants) String() string {
	s := "SHOW GRANTS"
	if n.On != nil {
		s += " ON " + string(n.OnKind) + " " + n.On.String()
	}
	if n.To != nil {
		s += " TO " + string(n.ToKind) + " " + n.To.String()
	}
	return s
}

// String renders the statement.
func (n *Describe) String() string {
	if n.Kind == "" {
		return "DESCRIBE " + n.Name.String()
	}
	return "DESCRIBE " + string(n.Kind) + " " + n.Name.String()
}

// String renders the statement.
func (n *QueryControl) String() string { return n.Action + " QUERY " + n.Query.String() }

// String renders the statement.
func (n *RotateToken) String() string {
	return "ALTER " + string(n.Kind) + " " + n.Name.String() + " ROTATE TOKEN" + with(n.With)
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
	return verb + " ROLE " + n.Role.String() + " " + to + " " + string(n.GranteeKind) + " " + n.Grantee.String()
}

// String renders the statement.
func (n *GrantPrivileges) String() string {
	verb, to := grantWords(n.Revoke)
	privs := make([]string, len(n.Privileges))
	for i, p := range n.Privileges {
		privs[i] = string(p)
	}
	return verb + " " + strings.Join(privs, ", ") + " ON " + string(n.OnKind) + " " + n.On.String() +
		" " + to + " " + string(n.GranteeKind) + " " + n.Grantee.String()
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
	return s
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

// sub renders e, in parentheses if it binds less tightly than minPrec.
func sub(e Expr, minPrec int) string {
	if precedence(e) < minPrec {
		return "(" + e.String() + ")"
	}
	return e.String()
}

// not renders " NOT" if set.
func not(b bool) string {
	if b {
		return " NOT"
	}
	return ""
}

// String renders the literal.
func (n *Literal) String() string {
	switch n.Kind {
	case LitNumber, LitBool:
		return n.Value
	case LitNull:
		return "NULL"
	case LitString:
		return quoteString(n.Value)
	case LitInterval:
		if n.Unit != "" {
			return "INTERVAL " + quoteString(n.Value) + " " + n.Unit
		}
	}
	return string(n.Kind) + " " + quoteString(n.Value)
}

// String renders the dotted reference.
func (n *ColumnRef) String() string { return joinIdents(n.Parts) }

// String renders * or q.*.
func (n *Star) String() string {
	if len(n.Qualifier) == 0 {
		return "*"
	}
	return joinIdents(n.Qualifier) + ".*"
}

// String renders the operator and its operand.
func (n *Unary) String() string {
	if n.Op == "NOT" {
		return "NOT " + sub(n.X, precNot)
	}
	if _, nested := n.X.(*Unary); nested {
		return n.Op + "(" + n.X.String() + ")" // never "--", a comment
	}
	return n.Op + sub(n.X, precUnary)
}

// String renders x op y; operators are left-associative.
func (n *Binary) String() string {
	p := precedence(n)
	return sub(n.X, p) + " " + n.Op + " " + sub(n.Y, p+1)
}

// String renders x IS [NOT] NULL.
func (n *IsNull) String() string { return sub(n.X, precCompare) + " IS" + not(n.Not) + " NULL" }

// String renders x [NOT] IN (...).
func (n *In) String() string {
	list := make([]string, len(n.List))
	for i, e := range n.List {
		list[i] = e.String()
	}
	return sub(n.X, precCompare) + not(n.Not) + " IN (" + strings.Join(list, ", ") + ")"
}

// String renders x [NOT] BETWEEN lo AND hi.
func (n *Between) String() string {
	return sub(n.X, precCompare) + not(n.Not) + " BETWEEN " + sub(n.Lo, precConcat) + " AND " + sub(n.Hi, precConcat)
}

// String renders x [NOT] LIKE pattern.
func (n *Like) String() string {
	return sub(n.X, precCompare) + not(n.Not) + " LIKE " + sub(n.Pattern, precConcat)
}

// String renders WHEN cond THEN result.
func (n *When) String() string { return "WHEN " + n.Cond.String() + " THEN " + n.Result.String() }

// String renders the CASE expression.
func (n *Case) String() string {
	s := "CASE "
	if n.Operand != nil {
		s += n.Operand.String() + " "
	}
	for _, w := range n.Whens {
		s += w.String() + " "
	}
	if n.Else != nil {
		s += "ELSE " + n.Else.String() + " "
	}
	return s + "END"
}

// String renders CAST(x AS type).
func (n *Cast) String() string { return "CAST(" + n.X.String() + " AS " + n.Type.String() + ")" }

// String renders name(args).
func (n *FuncCall) String() string {
	args := make([]string, len(n.Args))
	for i, a := range n.Args {
		args[i] = a.String()
	}
	return n.Name.String() + "(" + strings.Join(args, ", ") + ")"
}

// postfixBase renders the operand of .field or [index], in parentheses
// unless it is itself a reference, call or postfix expression.
func postfixBase(x Expr) string {
	switch x.(type) {
	case *ColumnRef, *FuncCall, *Subscript, *FieldAccess, *Cast, *Case:
		return x.String()
	}
	return "(" + x.String() + ")"
}

// String renders x.field.
func (n *FieldAccess) String() string { return postfixBase(n.X) + "." + n.Field.String() }

// String renders x[index].
func (n *Subscript) String() string { return postfixBase(n.X) + "[" + n.Index.String() + "]" }
