// Package sqlparse parses Sluice's SQL dialect (databases, streams, tables, grants and shares) into an AST.
// It only parses: it resolves no names and executes nothing; errors carry line:col and a caret excerpt.
package sqlparse

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/internal/secret"
)

// Parse parses src, a sequence of statements separated by ';' (empty
// statements are skipped). On failure the error is a *ParseError.
func Parse(src string) (stmts []Statement, err error) {
	p := newParser(src)
	defer p.recover(&err)
	for {
		for p.acceptPunct(";") {
		}
		if p.tok().Kind == tokEOF {
			return stmts, nil
		}
		stmts = append(stmts, p.statement())
		if t := p.tok(); !t.isPunct(";") && t.Kind != tokEOF {
			p.failAt(t, "expected ';' or end of input after the statement, found "+t.describe(), ";")
		}
	}
}

// ParseOne parses src, which must hold exactly one statement (a trailing
// ';' is allowed).
func ParseOne(src string) (Statement, error) {
	stmts, err := Parse(src)
	if err != nil {
		return nil, err
	}
	switch len(stmts) {
	case 1:
		return stmts[0], nil
	case 0:
		p := newParser(src)
		return nil, p.errorAt(p.toks[len(p.toks)-1], "expected a statement, found end of input")
	}
	pos := stmts[1].Position()
	return nil, &ParseError{Line: pos.Line, Col: pos.Col, Offset: pos.Offset, Msg: "expected one statement, found a second one"}
}

// ParseExpr parses src as a single expression, such as a WHERE condition.
func ParseExpr(src string) (e Expr, err error) {
	p := newParser(src)
	defer p.recover(&err)
	e = p.expr()
	if p.tok().Kind != tokEOF {
		p.failExpected("end of expression")
	}
	return e, nil
}

// maxDepth bounds expression nesting so hostile input cannot exhaust the stack.
const maxDepth = 200

// parser is a recursive descent parser over the tokens of src. Errors
// unwind with panic(bailout) to Parse.
type parser struct {
	src    string
	toks   []token
	i      int
	depth  int
	lastKW int // index of the last token consumed as a keyword
}

// bailout carries a parse error up the stack.
type bailout struct{ err *ParseError }

func newParser(src string) *parser {
	return &parser{src: src, toks: tokenize(src), lastKW: -1}
}

// recover turns a bailout into *errp; other panics go on.
func (p *parser) recover(errp *error) {
	if r := recover(); r != nil {
		b, ok := r.(bailout)
		if !ok {
			panic(r)
		}
		*errp = b.err
	}
}

func (p *parser) tok() token { return p.toks[p.i] }

// peek returns the token n places ahead (the last token past the end).
func (p *parser) peek(n int) token { return p.toks[min(p.i+n, len(p.toks)-1)] }

// next consumes and returns the current token; it never moves past the
// final EOF or error token.
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

// accept consumes the keyword kw if it is next.
func (p *parser) accept(kw string) bool {
	if p.tok().is(kw) {
		p.lastKW = p.i
		p.next()
		return true
	}
	return false
}

// acceptAny consumes the next token if it is one of the keywords kws and
// returns it upper-cased, or returns "".
func (p *parser) acceptAny(kws ...string) string {
	for _, kw := range kws {
		if p.accept(kw) {
			return kw
		}
	}
	return ""
}

func (p *parser) acceptPunct(s string) bool {
	if p.tok().isPunct(s) {
		p.next()
		return true
	}
	return false
}

// expect consumes the keyword kw or fails.
func (p *parser) expect(kw string) token {
	t := p.tok()
	if !p.accept(kw) {
		p.failExpected(kw, kw)
	}
	return t
}

// expectPunct consumes s or fails.
func (p *parser) expectPunct(s string) token {
	t := p.tok()
	if !p.acceptPunct(s) {
		p.failExpected("'"+s+"'", s)
	}
	return t
}

// errorAt builds an error at t; a lexical error token reports itself.
func (p *parser) errorAt(t token, msg string, expected ...string) *ParseError {
	if t.Kind == tokError {
		msg, expected = t.Val, nil
	}
	return &ParseError{Line: t.Pos.Line, Col: t.Pos.Col, Offset: t.Pos.Offset, Msg: msg, Expected: expected}
}

// failAt stops parsing with an error at t.
func (p *parser) failAt(t token, msg string, expected ...string) {
	panic(bailout{p.errorAt(t, msg, expected...)})
}

// failExpected stops parsing with "expected <what> [after <prev>], found
// <current token>".
func (p *parser) failExpected(what string, expected ...string) {
	t := p.tok()
	if len(expected) == 0 {
		expected = []string{what}
	}
	p.failAt(t, "expected "+what+p.after()+", found "+t.describe(), expected...)
}

// after renders the previous token for error messages: " after TABLE"
// for a keyword, " after ','" otherwise, "" at the start.
func (p *parser) after() string {
	if p.i == 0 {
		return ""
	}
	prev := p.toks[p.i-1]
	if p.lastKW == p.i-1 {
		return " after " + strings.ToUpper(prev.Text)
	}
	if prev.Kind == tokString {
		return ""
	}
	return " after " + prev.describe()
}

// ident parses an identifier: an unquoted word that is not reserved, or
// a quoted identifier. what names it in errors ("table name").
func (p *parser) ident(what string) *Ident {
	t := p.tok()
	switch {
	case t.Kind == tokQuoted:
		p.next()
		return &Ident{Pos: t.Pos, Name: t.Val, Quoted: true}
	case t.Kind == tokWord && !reserved[strings.ToUpper(t.Text)]:
		p.next()
		return &Ident{Pos: t.Pos, Name: t.Text}
	case t.Kind == tokWord:
		p.failAt(t, fmt.Sprintf("expected %s%s, found reserved word %s (quote it to use it as a name: %s)",
			what, p.after(), t.Text, quoteIdent(t.Text, true)), what)
	}
	p.failExpected(what)
	return nil
}

// queryID parses the id after QUERY: a UUID unquoted (lexed as one word),
// in 'single' or "double" quotes, or a name. An id that is not a plain
// name is Quoted, as it renders.
func (p *parser) queryID() *Ident {
	t := p.tok()
	switch {
	case (t.Kind == tokString || t.Kind == tokQuoted) && t.Val != "":
		p.next()
		return &Ident{Pos: t.Pos, Name: t.Val, Quoted: true}
	case t.Kind == tokWord && !reserved[strings.ToUpper(t.Text)]:
		p.next()
		return &Ident{Pos: t.Pos, Name: t.Text, Quoted: !isPlainIdent(t.Text)}
	}
	p.failAt(t, "expected a query id"+p.after()+", found "+t.describe()+": "+QueryIDShape, "query id")
	return nil
}

// isQueryIDStart reports whether t can start a query id.
func isQueryIDStart(t token) bool {
	return isIdentStart(t) || t.Kind == tokString && t.Val != ""
}

// isIdentStart reports whether t can start an identifier.
func isIdentStart(t token) bool {
	return t.Kind == tokQuoted || t.Kind == tokWord && !reserved[strings.ToUpper(t.Text)]
}

// nameShapes gives, per kind, how many parts a name may have and their meaning.
var nameShapes = map[object.Kind]string{
	object.KindDatabase: "database",
	object.KindSchema:   "database.schema",
	object.KindStream:   "database.schema.stream",
	object.KindTable:    "database.schema.table",
}

// objectName parses the name of an object of the given kind.
func (p *parser) objectName(kind object.Kind) *Name {
	shape := nameShapes[kind]
	if shape == "" {
		shape = string(kind)
	}
	return p.name(string(kind)+" name", shape)
}

// name parses a dotted name of at most as many parts as shape has.
func (p *parser) name(what, shape string) *Name {
	first := p.ident(what)
	n := &Name{Pos: first.Pos, Parts: []*Ident{first}}
	maxParts := strings.Count(shape, ".") + 1
	for p.tok().isPunct(".") {
		if len(n.Parts) == maxParts {
			if maxParts == 1 {
				p.failAt(p.tok(), fmt.Sprintf("a %s cannot be qualified, found '.'", what))
			}
			p.failAt(p.tok(), fmt.Sprintf("a %s has at most %d parts (%s), found '.'", what, maxParts, shape))
		}
		p.next()
		n.Parts = append(n.Parts, p.ident(what))
	}
	return n
}

// acceptKind consumes one of the allowed object kinds, or fails naming them.
func (p *parser) acceptKind(allowed ...object.Kind) object.Kind {
	for _, k := range allowed {
		if p.accept(k.Keyword()) {
			return k
		}
	}
	words := make([]string, len(allowed))
	for i, k := range allowed {
		words[i] = k.Keyword()
	}
	p.failExpected(orList(words), words...)
	return ""
}

// orList renders "A, B or C".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// statementWords are the keywords that start a statement.
var statementWords = []string{"CREATE", "DROP", "ALTER", "SHOW", "DESCRIBE", "GRANT", "REVOKE", "PAUSE", "RESUME", "TERMINATE"}

func (p *parser) statement() Statement {
	t := p.tok()
	switch {
	case t.is("CREATE"):
		return p.create()
	case t.is("DROP"):
		return p.drop()
	case t.is("ALTER"):
		return p.alter()
	case t.is("SHOW"):
		return p.show()
	case t.is("DESCRIBE"):
		return p.describe()
	case t.is("GRANT"), t.is("REVOKE"):
		return p.grant()
	case t.is("PAUSE"), t.is("RESUME"), t.is("TERMINATE"):
		p.accept(strings.ToUpper(t.Text))
		p.expect("QUERY")
		return &QueryControl{Pos: t.Pos, Action: strings.ToUpper(t.Text), Query: p.queryID()}
	}
	p.failExpected("a statement ("+orList(statementWords)+")", statementWords...)
	return nil
}

// ifClause parses an optional IF EXISTS, or IF NOT EXISTS when not is set.
func (p *parser) ifClause(not bool) bool {
	if !p.accept("IF") {
		return false
	}
	if not {
		p.expect("NOT")
	}
	p.expect("EXISTS")
	return true
}

func (p *parser) create() Statement {
	pos := p.expect("CREATE").Pos
	kind := p.acceptKind(object.KindDatabase, object.KindSchema, object.KindStream, object.KindTable, object.KindStore, object.KindShare, object.KindRecipient, object.KindUser, object.KindRole)
	ifNot := p.ifClause(true)
	name := p.objectName(kind)
	switch kind {
	case object.KindStream:
		s := &CreateStream{Pos: pos, IfNotExists: ifNot, Name: name}
		if p.acceptPunct("(") {
			s.Columns = p.columns()
		}
		if p.accept("WITH") {
			s.With = p.properties()
		}
		return s
	case object.KindTable:
		return p.createTable(&CreateTable{Pos: pos, IfNotExists: ifNot, Name: name})
	}
	c := &CreateObject{Pos: pos, Kind: kind, IfNotExists: ifNot, Name: name}
	switch {
	case kind == object.KindStore:
		p.expect("WITH")
		c.With = p.properties()
	case kind == object.KindRecipient && p.accept("WITH"):
		if !p.accept("PROPERTIES") {
			c.With = p.properties()
			if !p.accept("WITH") {
				break
			}
			p.expect("PROPERTIES")
		}
		c.Properties = p.properties()
	}
	return c
}

func (p *parser) createTable(c *CreateTable) Statement {
	if p.accept("LOCATION") {
		t := p.tok()
		if t.Kind != tokString {
			p.failExpected("the table's URI as a string such as 's3://bucket/path' or '/data/path'")
		}
		p.next()
		switch {
		case strings.HasPrefix(t.Val, "s3://"), strings.HasPrefix(t.Val, "file://"), strings.HasPrefix(t.Val, "/"):
		case !strings.Contains(t.Val, "://"):
			p.failAt(t, "expected an absolute path, file:// or s3:// URI, found the relative path "+quoteString(t.Val)+
				": the server does not resolve it against its working directory; write it from the root, such as '/data/path'")
		default:
			p.failAt(t, "expected an absolute path, file:// or s3:// URI, found "+t.describe())
		}
		c.Location = &Literal{Pos: t.Pos, Kind: LitString, Value: t.Val}
		if p.accept("WITH") {
			c.With = p.properties()
		}
		return c
	}
	if p.accept("WITH") {
		c.With = p.properties()
	} else if !p.tok().is("AS") {
		p.failExpected("AS SELECT, WITH or LOCATION", "AS", "WITH", "LOCATION")
	}
	p.expect("AS")
	c.Query = p.selectStmt()
	return c
}

// columns parses the column list of CREATE STREAM after its '('.
func (p *parser) columns() []*ColumnDef {
	var cols []*ColumnDef
	for {
		name := p.ident("column name")
		c := &ColumnDef{Pos: name.Pos, Name: name, Type: p.typeName("column type")}
		if p.accept("NOT") {
			p.expect("NULL")
			c.NotNull = true
		}
		cols = append(cols, c)
		if p.acceptPunct(")") {
			return cols
		}
		if !p.acceptPunct(",") {
			p.failExpected("',' or ')'", ",", ")")
		}
	}
}

// byteOffset extracts the position from deltalog.ParseType errors.
var byteOffset = regexp.MustCompile(`at byte (\d+): expected (.*), found `)

// typeName parses a DDL type: a word, then a balanced <...> or (...)
// group. The tokens are handed to deltalog.ParseType; its errors are
// mapped back to the offending token.
func (p *parser) typeName(what string) *TypeName {
	first := p.tok()
	if first.Kind != tokWord {
		p.failExpected(what)
	}
	start := p.i
	p.next()
	open, closing := "", ""
	switch {
	case p.tok().isPunct("<>"):
		p.next()
	case p.tok().isPunct("<"):
		open, closing = "<", ">"
	case p.tok().isPunct("("):
		open, closing = "(", ")"
	}
	if open != "" {
		for depth := 0; ; {
			t := p.tok()
			if t.Kind == tokEOF || t.Kind == tokError || t.isPunct(";") {
				break
			}
			p.next()
			if t.isPunct(open) {
				depth++
			} else if t.isPunct(closing) {
				depth--
			}
			if depth == 0 {
				break
			}
		}
	}
	var b strings.Builder
	var starts, ends []int
	for i, t := range p.toks[start:p.i] {
		if i > 0 {
			b.WriteByte(' ')
		}
		starts = append(starts, b.Len())
		if t.Kind == tokQuoted {
			b.WriteString("`" + strings.ReplaceAll(t.Val, "`", "``") + "`")
		} else {
			b.WriteString(t.Text)
		}
		ends = append(ends, b.Len())
	}
	typ, err := deltalog.ParseType(b.String())
	if err != nil {
		m := byteOffset.FindStringSubmatch(err.Error())
		if m == nil {
			p.failAt(first, err.Error())
		}
		at, _ := strconv.Atoi(m[1])
		i := len(starts) - 1
		for i > 0 && starts[i] > at {
			i--
		}
		bad := p.toks[start+i]
		if at >= ends[i] {
			bad = p.toks[start+i+1]
		}
		what := m[2]
		if strings.HasPrefix(what, "'") {
			what += " in type"
		}
		p.failAt(bad, "expected "+what+", found "+bad.describe())
	}
	return &TypeName{Pos: first.Pos, Text: deltalog.FormatType(typ), Type: typ}
}

// formats are the accepted 'value.format' values.
var formats = map[string]bool{"json": true, "avro": true, "protobuf": true, "jsonschema": true, "raw": true}

// properties parses ('key' = value, ...) after WITH.
func (p *parser) properties() []*Property {
	p.expectPunct("(")
	var props []*Property
	seen := map[string]bool{}
	for {
		t := p.tok()
		if t.Kind != tokString {
			p.failExpected("a property name as a string such as 'topic'")
		}
		p.next()
		if seen[t.Val] {
			p.failAt(t, "duplicate property "+quoteString(t.Val))
		}
		seen[t.Val] = true
		p.expectPunct("=")
		prop := &Property{Pos: t.Pos, Key: t.Val, Value: p.propertyValue()}
		lit, isLit := prop.Value.(*Literal)
		switch t.Val {
		case "value.format", "key.format":
			if !isLit || lit.Kind != LitString || !formats[strings.ToLower(lit.Value)] {
				p.failAt(p.toks[p.i-1], "expected 'json', 'avro', 'protobuf', 'jsonschema' or 'raw' for "+quoteString(t.Val)+", found "+p.toks[p.i-1].describe())
			}
		case "sasl.password":
			if !isLit || lit.Kind != LitString || !secret.IsRef(lit.Value) {
				p.failAt(p.toks[p.i-1], "expected 'env:NAME' or 'file:PATH' for 'sasl.password' (a password in clear is refused)")
			}
		}
		props = append(props, prop)
		if p.acceptPunct(")") {
			return props
		}
		if !p.acceptPunct(",") {
			p.failExpected("',' or ')'", ",", ")")
		}
	}
}

// propertyValue parses a string, a number, TRUE, FALSE or an identifier.
func (p *parser) propertyValue() Expr {
	t := p.tok()
	switch {
	case t.Kind == tokString, t.Kind == tokNumber, t.is("TRUE"), t.is("FALSE"):
		return p.primary()
	case isIdentStart(t):
		id := p.ident("property value")
		return &ColumnRef{Pos: id.Pos, Parts: []*Ident{id}}
	}
	p.failExpected("a property value (a string, number, TRUE, FALSE or name)")
	return nil
}

func (p *parser) selectStmt() *Select {
	s := &Select{Pos: p.expect("SELECT").Pos}
	for {
		s.Items = append(s.Items, p.selectItem())
		if !p.acceptPunct(",") {
			break
		}
	}
	if !p.accept("FROM") {
		p.failExpected("',' or FROM", ",", "FROM")
	}
	s.From = p.objectName(object.KindStream)
	if p.accept("WHERE") {
		s.Where = p.expr()
	}
	return s
}

func (p *parser) selectItem() *SelectItem {
	t := p.tok()
	if p.acceptPunct("*") {
		return &SelectItem{Pos: t.Pos, Expr: &Star{Pos: t.Pos}}
	}
	// q.* : identifiers separated by dots, then .*
	n := 0
	for isIdentStart(p.peek(n)) && p.peek(n+1).isPunct(".") {
		n += 2
	}
	if n > 0 && p.peek(n).isPunct("*") {
		star := &Star{Pos: t.Pos}
		for p.tok().Kind != tokPunct {
			star.Qualifier = append(star.Qualifier, p.ident("name"))
			p.next()
		}
		p.next()
		return &SelectItem{Pos: t.Pos, Expr: star}
	}
	item := &SelectItem{Pos: t.Pos, Expr: p.expr()}
	if p.accept("AS") || isIdentStart(p.tok()) {
		item.Alias = p.ident("alias")
	}
	return item
}

// showWords are the plural keywords after SHOW.
var showWords = []string{"DATABASES", "SCHEMAS", "STREAMS", "TABLES", "QUERIES", "STORES", "SHARES", "RECIPIENTS", "ROLES", "USERS", "GRANTS"}

func (p *parser) show() Statement {
	pos := p.expect("SHOW").Pos
	if p.accept("TABLE") {
		p.expect("STATUS")
		s := &Show{Pos: pos, What: "TABLE STATUS"}
		if p.accept("IN") {
			s.In = p.objectName(object.KindSchema)
		}
		if p.accept("LIKE") {
			t := p.tok()
			if t.Kind != tokString {
				p.failExpected("a table name pattern as a string such as 'orders%'")
			}
			p.next()
			s.Like = &Literal{Pos: t.Pos, Kind: LitString, Value: t.Val}
		}
		return s
	}
	what := p.acceptAny(showWords...)
	switch what {
	case "":
		p.failExpected(orList(append(showWords, "TABLE STATUS")), append(showWords, "TABLE")...)
	case "GRANTS":
		g := &ShowGrants{Pos: pos}
		if p.accept("ON") {
			g.OnKind, g.On = p.grantObject()
		} else if p.accept("TO") {
			g.ToKind = p.acceptKind(object.KindRole, object.KindUser, object.KindRecipient)
			g.To = p.ident(string(g.ToKind) + " name")
		}
		return g
	}
	s := &Show{Pos: pos, What: what}
	switch what {
	case "SCHEMAS":
		if p.accept("IN") {
			s.In = p.objectName(object.KindDatabase)
		}
	case "STREAMS", "TABLES":
		if p.accept("IN") {
			s.In = p.objectName(object.KindSchema)
		}
	}
	return s
}

func (p *parser) describe() Statement {
	d := &Describe{Pos: p.expect("DESCRIBE").Pos}
	t := p.tok()
	for _, k := range []object.Kind{object.KindDatabase, object.KindSchema, object.KindStream, object.KindTable, object.KindStore, object.KindShare, object.KindQuery, object.KindUser, object.KindRole, object.KindRecipient} {
		if k == object.KindQuery && t.is(k.Keyword()) && isQueryIDStart(p.peek(1)) {
			p.accept(k.Keyword())
			d.Kind = k
			id := p.queryID()
			d.Name = &Name{Pos: id.Pos, Parts: []*Ident{id}}
			return d
		}
		if t.is(k.Keyword()) && (k == object.KindTable || isIdentStart(p.peek(1))) {
			p.accept(k.Keyword())
			d.Kind = k
			d.Name = p.objectName(k)
			return d
		}
	}
	d.Name = p.name("object name", "database.schema.object")
	return d
}

func (p *parser) drop() Statement {
	d := &Drop{Pos: p.expect("DROP").Pos}
	d.Kind = p.acceptKind(object.KindDatabase, object.KindSchema, object.KindStream, object.KindTable, object.KindStore, object.KindShare, object.KindRecipient, object.KindUser, object.KindRole)
	d.IfExists = p.ifClause(false)
	d.Name = p.objectName(d.Kind)
	switch d.Kind {
	case object.KindDatabase, object.KindSchema:
		d.Cascade = p.accept("CASCADE")
	case object.KindTable:
		d.Purge = p.accept("PURGE")
	}
	return d
}

func (p *parser) alter() Statement {
	pos := p.expect("ALTER").Pos
	kind := p.acceptKind(object.KindUser, object.KindRecipient, object.KindShare, object.KindTable)
	if kind == object.KindTable {
		return p.alterTable(pos)
	}
	name := p.ident(string(kind) + " name")
	if kind == object.KindRecipient {
		switch p.acceptAny("SET", "UNSET") {
		case "SET":
			if p.accept("PROPERTIES") {
				return &AlterRecipient{Pos: pos, Name: name, SetProperties: p.properties()}
			}
			return &AlterRecipient{Pos: pos, Name: name, Set: p.properties()}
		case "UNSET":
			p.expect("PROPERTIES")
			return &AlterRecipient{Pos: pos, Name: name, UnsetProperties: p.propertyKeys()}
		}
	}
	if kind != object.KindShare {
		if kind == object.KindRecipient && !p.tok().is("ROTATE") {
			p.failExpected("ROTATE, SET or UNSET", "ROTATE", "SET", "UNSET")
		}
		p.expect("ROTATE")
		p.expect("TOKEN")
		r := &RotateToken{Pos: pos, Kind: kind, Name: name}
		if kind == object.KindRecipient && p.accept("WITH") {
			r.With = p.properties()
		}
		return r
	}
	a := &AlterShare{Pos: pos, Share: name}
	if a.Action = p.acceptAny("ADD", "REMOVE"); a.Action == "" {
		p.failExpected("ADD or REMOVE", "ADD", "REMOVE")
	}
	p.expect("TABLE")
	if a.Action == "ADD" {
		a.IfNotExists = p.ifClause(true)
	}
	a.Table = p.objectName(object.KindTable)
	if a.Action == "ADD" {
		if p.accept("AS") {
			a.As = p.name("shared table name", "schema.table")
		}
		if p.accept("WITH") {
			p.expect("HISTORY")
			a.WithHistory = true
		}
		if p.accept("WHERE") {
			a.Where = p.expr()
		}
	}
	return a
}

// alterTable parses ALTER TABLE after TABLE: the name, then SET
// TBLPROPERTIES (...) or UNSET TBLPROPERTIES [IF EXISTS] ('key', ...).
func (p *parser) alterTable(pos Pos) Statement {
	a := &AlterTable{Pos: pos, Table: p.objectName(object.KindTable)}
	switch p.acceptAny("SET", "UNSET") {
	case "SET":
		p.expect("TBLPROPERTIES")
		a.Set = p.properties()
	case "UNSET":
		p.expect("TBLPROPERTIES")
		a.IfExists = p.ifClause(false)
		a.Unset = p.propertyKeys()
	default:
		p.failExpected("SET TBLPROPERTIES or UNSET TBLPROPERTIES", "SET", "UNSET")
	}
	return a
}

// propertyKeys parses ('key', ...), each key once.
func (p *parser) propertyKeys() []*Literal {
	p.expectPunct("(")
	var keys []*Literal
	seen := map[string]bool{}
	for {
		t := p.tok()
		if t.Kind != tokString {
			p.failExpected("a property name as a string such as 'delta.logRetentionDuration'")
		}
		p.next()
		if seen[t.Val] {
			p.failAt(t, "duplicate property "+quoteString(t.Val))
		}
		seen[t.Val] = true
		keys = append(keys, &Literal{Pos: t.Pos, Kind: LitString, Value: t.Val})
		if p.acceptPunct(")") {
			return keys
		}
		if !p.acceptPunct(",") {
			p.failExpected("',' or ')'", ",", ")")
		}
	}
}

// privilegeWords are the privileges, in the order error messages give them.
var privilegeWords = append(object.Names(object.Privileges), string(object.PrivAll))

// grantKinds are the kinds GRANT, REVOKE and SHOW GRANTS name after ON.
var grantKinds = []object.Kind{object.KindDatabase, object.KindSchema, object.KindStream, object.KindTable,
	object.KindStore, object.KindShare, object.KindRecipient, object.KindQuery}

// grantObject parses <kind> name after ON: a query is named by its id.
func (p *parser) grantObject() (object.Kind, *Name) {
	k := p.acceptKind(grantKinds...)
	if k == object.KindQuery {
		id := p.queryID()
		return k, &Name{Pos: id.Pos, Parts: []*Ident{id}}
	}
	return k, p.objectName(k)
}

func (p *parser) grant() Statement {
	t := p.next()
	p.lastKW = p.i - 1
	revoke := t.is("REVOKE")
	to := "TO"
	if revoke {
		to = "FROM"
	}
	if p.accept("ROLE") {
		g := &GrantRole{Pos: t.Pos, Revoke: revoke, Role: p.ident("role name")}
		p.expect(to)
		g.GranteeKind = p.acceptKind(object.KindRole, object.KindUser)
		g.Grantee = p.ident(string(g.GranteeKind) + " name")
		return g
	}
	g := &GrantPrivileges{Pos: t.Pos, Revoke: revoke}
	var privToks []token
	for {
		pt := p.tok()
		priv := object.Privilege(p.acceptAny(privilegeWords...))
		if priv == "" {
			p.failExpected("a privilege ("+orList(privilegeWords)+") or ROLE", append(privilegeWords, "ROLE")...)
		}
		if priv == object.PrivAll {
			p.accept("PRIVILEGES")
		}
		for _, q := range g.Privileges {
			if q == priv {
				p.failAt(pt, "duplicate privilege "+string(priv))
			}
			if q == object.PrivAll || priv == object.PrivAll {
				p.failAt(pt, "ALL cannot be combined with other privileges")
			}
		}
		g.Privileges = append(g.Privileges, priv)
		privToks = append(privToks, pt)
		if !p.acceptPunct(",") {
			break
		}
	}
	if !p.accept("ON") {
		p.failExpected("',' or ON", ",", "ON")
	}
	g.OnKind, g.On = p.grantObject()
	p.expect(to)
	kt := p.tok()
	g.GranteeKind = p.acceptKind(object.KindRole, object.KindRecipient)
	if g.GranteeKind == object.KindRecipient && (g.OnKind != object.KindShare || len(g.Privileges) != 1 || g.Privileges[0] != object.PrivSelect) {
		p.failAt(kt, "only SELECT on a SHARE can be granted to a RECIPIENT")
	}
	for i, priv := range g.Privileges {
		if g.GranteeKind == object.KindRole && !object.Applies(priv, g.OnKind) {
			p.failAt(privToks[i], fmt.Sprintf("privilege %s does not apply to a %s: use %s", priv, g.OnKind.Keyword(),
				orList(object.Names(object.Grantable(g.OnKind)))))
		}
	}
	g.Grantee = p.ident(string(g.GranteeKind) + " name")
	return g
}
