package sqlparse

import (
	"strings"
	"time"
)

// Expression grammar, loosest first: OR < AND < NOT < comparison, IS, IN,
// BETWEEN, LIKE < || < + - < * / % < unary - + < postfix (.field, [i]).

// expr parses a full expression.
func (p *parser) expr() Expr { return p.or() }

// leftAssoc parses next (op next)*, where op is one of ops (keywords or
// operators), as left-associative Binary expressions.
func (p *parser) leftAssoc(next func() Expr, ops ...string) Expr {
	x := next()
	for {
		t, op := p.tok(), ""
		for _, o := range ops {
			if t.isPunct(o) || t.is(o) {
				op = o
			}
		}
		if op == "" {
			return x
		}
		p.next()
		x = &Binary{Pos: x.Position(), OpPos: t.Pos, Op: op, X: x, Y: next()}
	}
}

func (p *parser) or() Expr { return p.leftAssoc(p.and, "OR") }

func (p *parser) and() Expr { return p.leftAssoc(p.not, "AND") }

// enter counts a level of nesting and fails past maxDepth; the caller
// defers p.leave.
func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.failAt(p.tok(), "expression nested too deeply")
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) not() Expr {
	p.enter()
	defer p.leave()
	if t := p.tok(); p.accept("NOT") {
		return &Unary{Pos: t.Pos, Op: "NOT", X: p.not()}
	}
	return p.comparison()
}

// comparisonOps are the comparison operators.
var comparisonOps = map[string]bool{"=": true, "<>": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (p *parser) comparison() Expr {
	x := p.concat()
	for {
		t := p.tok()
		if t.Kind == tokPunct && comparisonOps[t.Text] {
			p.next()
			x = &Binary{Pos: x.Position(), OpPos: t.Pos, Op: t.Text, X: x, Y: p.concat()}
			continue
		}
		if p.accept("IS") {
			not := p.accept("NOT")
			p.expect("NULL")
			x = &IsNull{Pos: x.Position(), X: x, Not: not}
			continue
		}
		not := p.accept("NOT") // NOT only comes before IN, BETWEEN or LIKE here
		if not && !p.tok().is("IN") && !p.tok().is("BETWEEN") && !p.tok().is("LIKE") {
			p.failExpected("IN, BETWEEN or LIKE", "IN", "BETWEEN", "LIKE")
		}
		switch {
		case p.accept("IN"):
			in := &In{Pos: x.Position(), X: x, Not: not}
			p.expectPunct("(")
			for {
				in.List = append(in.List, p.expr())
				if p.acceptPunct(")") {
					break
				}
				if !p.acceptPunct(",") {
					p.failExpected("',' or ')'", ",", ")")
				}
			}
			x = in
		case p.accept("BETWEEN"):
			b := &Between{Pos: x.Position(), X: x, Not: not, Lo: p.concat()}
			p.expect("AND")
			b.Hi = p.concat()
			x = b
		case p.accept("LIKE"):
			x = &Like{Pos: x.Position(), X: x, Not: not, Pattern: p.concat()}
		default:
			return x
		}
	}
}

func (p *parser) concat() Expr { return p.leftAssoc(p.additive, "||") }

func (p *parser) additive() Expr { return p.leftAssoc(p.multiplicative, "+", "-") }

func (p *parser) multiplicative() Expr { return p.leftAssoc(p.unary, "*", "/", "%") }

func (p *parser) unary() Expr {
	p.enter()
	defer p.leave()
	if t := p.tok(); t.isPunct("-") || t.isPunct("+") {
		p.next()
		return &Unary{Pos: t.Pos, Op: t.Text, X: p.unary()}
	}
	return p.postfix()
}

func (p *parser) postfix() Expr {
	x := p.primary()
	for {
		switch {
		case p.acceptPunct("["):
			x = &Subscript{Pos: x.Position(), X: x, Index: p.expr()}
			p.expectPunct("]")
		case p.acceptPunct("."):
			field := p.ident("field name")
			if c, ok := x.(*ColumnRef); ok { // (a).b is a.b
				c.Parts = append(c.Parts, field)
				continue
			}
			x = &FieldAccess{Pos: x.Position(), X: x, Field: field}
		default:
			return x
		}
	}
}

// intervalUnits maps the accepted INTERVAL units to their canonical form.
var intervalUnits = map[string]string{
	"YEAR": "YEAR", "YEARS": "YEAR", "MONTH": "MONTH", "MONTHS": "MONTH", "DAY": "DAY", "DAYS": "DAY",
	"HOUR": "HOUR", "HOURS": "HOUR", "MINUTE": "MINUTE", "MINUTES": "MINUTE", "SECOND": "SECOND", "SECONDS": "SECOND",
}

// timestampLayouts are the accepted forms of TIMESTAMP literals.
var timestampLayouts = []string{
	"2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05Z07:00",
}

func (p *parser) primary() Expr {
	t := p.tok()
	switch {
	case t.Kind == tokNumber:
		p.next()
		return &Literal{Pos: t.Pos, Kind: LitNumber, Value: t.Text}
	case t.Kind == tokString:
		p.next()
		return &Literal{Pos: t.Pos, Kind: LitString, Value: t.Val}
	case t.is("TRUE"), t.is("FALSE"):
		p.next()
		return &Literal{Pos: t.Pos, Kind: LitBool, Value: strings.ToUpper(t.Text)}
	case t.is("NULL"):
		p.next()
		return &Literal{Pos: t.Pos, Kind: LitNull}
	case (t.is("DATE") || t.is("TIMESTAMP") || t.is("INTERVAL")) && p.peek(1).Kind == tokString:
		return p.typedLiteral()
	case t.is("CASE"):
		return p.caseExpr()
	case t.is("CAST"):
		p.accept("CAST")
		p.expectPunct("(")
		c := &Cast{Pos: t.Pos, X: p.expr()}
		p.expect("AS")
		c.Type = p.typeName("type")
		p.expectPunct(")")
		return c
	case t.isPunct("("):
		p.next()
		x := p.expr()
		p.expectPunct(")")
		return x
	case isIdentStart(t):
		if p.peek(1).isPunct("(") {
			return p.call()
		}
		c := &ColumnRef{Pos: t.Pos, Parts: []*Ident{p.ident("column name")}}
		for p.tok().isPunct(".") && isIdentStart(p.peek(1)) {
			p.next()
			c.Parts = append(c.Parts, p.ident("column name"))
		}
		return c
	}
	if t.Kind == tokWord {
		p.failAt(t, "expected an expression"+p.after()+", found reserved word "+t.Text, "expression")
	}
	p.failExpected("an expression", "expression")
	return nil
}

// typedLiteral parses DATE 'd', TIMESTAMP 'ts' or INTERVAL 'n' [unit].
func (p *parser) typedLiteral() Expr {
	kw := p.next()
	s := p.next()
	lit := &Literal{Pos: kw.Pos, Kind: LiteralKind(strings.ToUpper(kw.Text)), Value: s.Val}
	switch lit.Kind {
	case LitDate:
		if _, err := time.Parse("2006-01-02", s.Val); err != nil {
			p.failAt(s, "expected a date as 'YYYY-MM-DD' after DATE, found "+s.describe())
		}
	case LitTimestamp:
		ok := false
		for _, layout := range timestampLayouts {
			if _, err := time.Parse(layout, s.Val); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			p.failAt(s, "expected a timestamp as 'YYYY-MM-DD hh:mm:ss[.fff][+hh:mm]' after TIMESTAMP, found "+s.describe())
		}
	case LitInterval:
		if u := intervalUnits[strings.ToUpper(p.tok().Text)]; u != "" && p.tok().Kind == tokWord {
			p.next()
			lit.Unit = u
		}
	}
	return lit
}

func (p *parser) caseExpr() Expr {
	c := &Case{Pos: p.expect("CASE").Pos}
	if !p.tok().is("WHEN") {
		c.Operand = p.expr()
	}
	for {
		t := p.tok()
		if !p.accept("WHEN") {
			break
		}
		w := &When{Pos: t.Pos, Cond: p.expr()}
		p.expect("THEN")
		w.Result = p.expr()
		c.Whens = append(c.Whens, w)
	}
	if len(c.Whens) == 0 {
		p.failExpected("WHEN", "WHEN")
	}
	if p.accept("ELSE") {
		c.Else = p.expr()
	}
	if !p.accept("END") {
		p.failExpected("WHEN, ELSE or END", "WHEN", "ELSE", "END")
	}
	return c
}

// call parses name(args) or name(*).
func (p *parser) call() Expr {
	name := p.ident("function name")
	f := &FuncCall{Pos: name.Pos, Name: name}
	p.expectPunct("(")
	if t := p.tok(); p.acceptPunct("*") {
		f.Args = []Expr{&Star{Pos: t.Pos}}
		p.expectPunct(")")
		return f
	}
	if p.acceptPunct(")") {
		return f
	}
	for {
		f.Args = append(f.Args, p.expr())
		if p.acceptPunct(")") {
			return f
		}
		if !p.acceptPunct(",") {
			p.failExpected("',' or ')'", ",", ")")
		}
	}
}
