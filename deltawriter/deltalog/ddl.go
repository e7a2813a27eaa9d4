package deltalog

import (
	"fmt"
	"strconv"
	"strings"
)

// ddlAliases maps the upper-cased primitive type names accepted by ParseType
// (Delta's own names plus the Spark SQL and ksqlDB aliases) to Delta names.
var ddlAliases = map[string]string{
	"BOOLEAN": TypeBoolean, "BOOL": TypeBoolean,
	"BYTE": TypeByte, "TINYINT": TypeByte,
	"SHORT": TypeShort, "SMALLINT": TypeShort,
	"INTEGER": TypeInteger, "INT": TypeInteger,
	"LONG": TypeLong, "BIGINT": TypeLong,
	"FLOAT": TypeFloat, "REAL": TypeFloat,
	"DOUBLE": TypeDouble,
	"STRING": TypeString, "VARCHAR": TypeString, "TEXT": TypeString, "CHAR": TypeString,
	"BINARY": TypeBinary, "BYTES": TypeBinary,
	"DATE":          TypeDate,
	"TIMESTAMP":     TypeTimestamp,
	"TIMESTAMP_LTZ": TypeTimestamp,
	"TIMESTAMP_NTZ": TypeTimestampNTZ,
}

// ParseType parses a Spark SQL or ksqlDB style DDL type string, such as
// "BIGINT", "decimal(10,2)", "ARRAY<STRING>", "MAP<STRING, INT>" or
// "STRUCT<id: BIGINT NOT NULL, tags ARRAY<STRING>>".
//
// Keywords and primitive names are case-insensitive. Struct fields are
// written "name: type" or "name type", optionally followed by NOT NULL (fields
// are nullable otherwise); names may be back-quoted (a doubled back-quote stands for one).
// Array elements and map values may also carry NOT NULL, which clears
// ContainsNull or ValueContainsNull (both default to true). VARCHAR(n) and
// CHAR(n) are strings; DECIMAL alone is decimal(10,0) and DECIMAL(p) is
// decimal(p,0).
//
// Errors give the byte offset in s and what was expected there.
func ParseType(s string) (*Type, error) {
	p := &ddlParser{s: s}
	t, err := p.parseType()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return nil, p.errorf("end of type")
	}
	return t, nil
}

// FormatType renders t as a DDL type string that ParseType reads back to an
// Equal type: unlike String, it keeps NOT NULL constraints and back-quotes
// field names that are not plain identifiers.
func FormatType(t *Type) string {
	var b strings.Builder
	formatType(&b, t)
	return b.String()
}

func formatType(b *strings.Builder, t *Type) {
	switch t.Name {
	case TypeArray:
		formatArgs(b, "array<", !t.ContainsNull, t.Element)
	case TypeMap:
		formatArgs(b, "map<", !t.ValueContainsNull, t.Key, t.Value)
	case TypeStruct:
		b.WriteString("struct<")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			if isIdent(f.Name) {
				b.WriteString(f.Name)
			} else {
				b.WriteByte('`')
				b.WriteString(strings.ReplaceAll(f.Name, "`", "``"))
				b.WriteByte('`')
			}
			b.WriteByte(':')
			formatType(b, f.Type)
			if !f.Nullable {
				b.WriteString(" not null")
			}
		}
		b.WriteByte('>')
	default:
		b.WriteString(t.String())
	}
}

// formatArgs writes the type arguments of an array or a map; NOT NULL
// applies to the last one.
func formatArgs(b *strings.Builder, open string, notNull bool, args ...*Type) {
	b.WriteString(open)
	for i, a := range args {
		if i > 0 {
			b.WriteByte(',')
		}
		formatType(b, a)
	}
	if notNull {
		b.WriteString(" not null")
	}
	b.WriteByte('>')
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i], i == 0) {
			return false
		}
	}
	return true
}

// maxDDLDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDDLDepth = 100

type ddlParser struct {
	s     string
	pos   int
	depth int
}

// errorf reports what was expected at the current position and what is there.
func (p *ddlParser) errorf(expected string, args ...any) error {
	found := "end of input"
	if p.pos < len(p.s) {
		r := p.s[p.pos:]
		if len(r) > 20 {
			r = r[:20] + "..."
		}
		found = strconv.Quote(r)
	}
	return fmt.Errorf("parse type %q: at byte %d: expected %s, found %s", p.s, p.pos, fmt.Sprintf(expected, args...), found)
}

func (p *ddlParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

// ident reads an identifier (letters, digits, '_'), or "" if there is none.
func (p *ddlParser) ident() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && isIdentByte(p.s[p.pos], p.pos == start) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// accept consumes c (after spaces) if it is next.
func (p *ddlParser) accept(c byte) bool {
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *ddlParser) expect(c byte) error {
	if !p.accept(c) {
		return p.errorf("%q", c)
	}
	return nil
}

// keyword consumes the case-insensitive keyword kw if it is next.
func (p *ddlParser) keyword(kw string) bool {
	save := p.pos
	if strings.EqualFold(p.ident(), kw) {
		return true
	}
	p.pos = save
	return false
}

// notNull consumes an optional NOT NULL and reports whether it was there.
func (p *ddlParser) notNull() (bool, error) {
	if !p.keyword("NOT") {
		return false, nil
	}
	if !p.keyword("NULL") {
		return false, p.errorf("NULL after NOT")
	}
	return true, nil
}

func (p *ddlParser) number() (int, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' && p.pos-start < 9 {
		p.pos++
	}
	if p.pos == start {
		return 0, p.errorf("a number")
	}
	n, _ := strconv.Atoi(p.s[start:p.pos])
	return n, nil
}

func (p *ddlParser) parseType() (*Type, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDDLDepth {
		return nil, p.errorf("at most %d levels of nesting", maxDDLDepth)
	}
	p.skipSpace()
	start := p.pos
	name := strings.ToUpper(p.ident())
	switch name {
	case "":
		return nil, p.errorf("a type name")
	case "ARRAY":
		args, nn, err := p.typeArgs(1)
		if err != nil {
			return nil, err
		}
		return Array(args[0], !nn), nil
	case "MAP":
		args, nn, err := p.typeArgs(2)
		if err != nil {
			return nil, err
		}
		return Map(args[0], args[1], !nn), nil
	case "STRUCT":
		return p.parseStruct()
	case "DECIMAL", "DEC", "NUMERIC":
		prec, scale := 10, 0
		if p.accept('(') {
			var err error
			if prec, err = p.number(); err != nil {
				return nil, err
			}
			if p.accept(',') {
				if scale, err = p.number(); err != nil {
					return nil, err
				}
			} else {
				scale = 0
			}
			if err := p.expect(')'); err != nil {
				return nil, err
			}
		}
		if prec < 1 || prec > 38 || scale > prec {
			end := p.pos
			p.pos = start
			err := p.errorf("decimal(p,s) with 1 <= p <= 38 and 0 <= s <= p")
			p.pos = end
			return nil, err
		}
		return Decimal(prec, scale), nil
	}
	delta, ok := ddlAliases[name]
	if !ok {
		p.pos = start
		return nil, p.errorf("a type name")
	}
	if delta == TypeString && (name == "VARCHAR" || name == "CHAR") && p.accept('(') {
		if _, err := p.number(); err != nil {
			return nil, err
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
	}
	return Primitive(delta), nil
}

// typeArgs reads "<t1, ..., tn [NOT NULL]>", the type arguments of ARRAY
// and MAP; NOT NULL applies to the last one (the element or the map value).
func (p *ddlParser) typeArgs(n int) (args []*Type, notNull bool, err error) {
	if err := p.expect('<'); err != nil {
		return nil, false, err
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			if err := p.expect(','); err != nil {
				return nil, false, err
			}
		}
		t, err := p.parseType()
		if err != nil {
			return nil, false, err
		}
		args = append(args, t)
	}
	if notNull, err = p.notNull(); err != nil {
		return nil, false, err
	}
	if err := p.expect('>'); err != nil {
		return nil, false, err
	}
	return args, notNull, nil
}

func (p *ddlParser) parseStruct() (*Type, error) {
	if err := p.expect('<'); err != nil {
		return nil, err
	}
	t := Struct()
	if p.accept('>') {
		return t, nil
	}
	for {
		name, err := p.fieldName()
		if err != nil {
			return nil, err
		}
		p.accept(':')
		ft, err := p.parseType()
		if err != nil {
			return nil, err
		}
		nn, err := p.notNull()
		if err != nil {
			return nil, err
		}
		t.Fields = append(t.Fields, Field{Name: name, Type: ft, Nullable: !nn})
		if p.accept('>') {
			return t, nil
		}
		if !p.accept(',') {
			return nil, p.errorf("',' or '>'")
		}
	}
}

// fieldName reads a plain or back-quoted field name.
func (p *ddlParser) fieldName() (string, error) {
	if !p.accept('`') {
		if name := p.ident(); name != "" {
			return name, nil
		}
		return "", p.errorf("a field name")
	}
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		if c != '`' {
			b.WriteByte(c)
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == '`' {
			b.WriteByte('`')
			p.pos++
			continue
		}
		return b.String(), nil
	}
	return "", p.errorf("closing '`'")
}
