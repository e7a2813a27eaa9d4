package sqlparse

import (
	"strings"

	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// Node is implemented by every AST node. Nodes embed Pos, where they start
// in the source (binary expressions also record OpPos, their operator).
type Node interface {
	// Position is where the node starts in the source.
	Position() Pos
}

// Statement is one parsed SQL statement. String renders it as canonical
// SQL, which parses back to a statement with the same String.
type Statement interface {
	Node
	String() string
	stmt()
}

// Ident is an identifier. Quoted records that it was written "quoted" or
// `quoted`; Name is the identifier without quotes, as written (no case
// folding is applied).
type Ident struct {
	Pos
	Name   string
	Quoted bool
}

// Name is a possibly qualified name such as db.schema.table.
type Name struct {
	Pos
	Parts []*Ident
}

// Property is one 'key' = value pair of a WITH (...) clause. Value is a
// *Literal (string, number or boolean) or a *ColumnRef of one part (a bare
// identifier, as in 'timestamp' = ts).
type Property struct {
	Pos
	Key   string
	Value Expr
}

// TypeName is a DDL type such as BIGINT or STRUCT<a INT>. Text is the
// canonical rendering (deltalog.FormatType) and Type the parsed type.
type TypeName struct {
	Pos
	Text string
	Type *deltalog.Type `dump:"-"`
}

// CreateObject is CREATE <kind> [IF NOT EXISTS] name [WITH (...)] for the
// kinds that have no other clauses: DATABASE, SCHEMA, STORE, USER, ROLE,
// SHARE and RECIPIENT. With is used by STORE and RECIPIENT only.
// Properties is the WITH PROPERTIES (...) clause of a RECIPIENT: the
// recipient properties CURRENT_RECIPIENT('key') reads in share filters.
type CreateObject struct {
	Pos
	Kind        object.Kind
	IfNotExists bool
	Name        *Name
	With        []*Property
	Properties  []*Property
}

// Drop is DROP <kind> [IF EXISTS] name [CASCADE | PURGE]. Cascade applies to
// DATABASE and SCHEMA, Purge to TABLE.
type Drop struct {
	Pos
	Kind     object.Kind
	IfExists bool
	Name     *Name
	Cascade  bool
	Purge    bool
}

// ColumnDef is one column of CREATE STREAM: name TYPE [NOT NULL].
type ColumnDef struct {
	Pos
	Name    *Ident
	Type    *TypeName
	NotNull bool
}

// CreateStream is CREATE STREAM [IF NOT EXISTS] name [(columns)] [WITH (...)].
type CreateStream struct {
	Pos
	IfNotExists bool
	Name        *Name
	Columns     []*ColumnDef
	With        []*Property
}

// CreateTable is CREATE TABLE [IF NOT EXISTS] name, either derived from a
// stream (WITH (...) AS SELECT ...: Query is set) or registering an existing
// Delta table (LOCATION 'uri' [WITH (...)]: Location is set).
type CreateTable struct {
	Pos
	IfNotExists bool
	Name        *Name
	Location    *Literal
	With        []*Property
	Query       *Select
}

// Select is SELECT items FROM source [WHERE expr].
type Select struct {
	Pos
	Items []*SelectItem
	From  *Name
	Where Expr
}

// SelectItem is one item of a SELECT list: an expression with an optional
// alias, or a *Star.
type SelectItem struct {
	Pos
	Expr  Expr
	Alias *Ident
}

// Show is SHOW <What> [IN name] [LIKE 'pattern']; What is the plural
// keyword (DATABASES, SCHEMAS, STREAMS, TABLES, QUERIES, STORES, SHARES,
// RECIPIENTS, ROLES, USERS) or "TABLE STATUS". In is set for SCHEMAS,
// STREAMS, TABLES and TABLE STATUS only, Like for TABLE STATUS only.
type Show struct {
	Pos
	What string
	In   *Name
	Like *Literal
}

// ShowGrants is SHOW GRANTS [ON <kind> name | TO ROLE|USER|RECIPIENT name].
// At most one of On and To is set.
type ShowGrants struct {
	Pos
	OnKind object.Kind
	On     *Name
	ToKind object.Kind
	To     *Ident
}

// Describe is DESCRIBE [<kind>] name; Kind is "" when not given.
type Describe struct {
	Pos
	Kind object.Kind
	Name *Name
}

// QueryControl is PAUSE, RESUME or TERMINATE QUERY id. The id (a UUID)
// may be written unquoted, 'single-' or "double-quoted"; it is rendered
// double-quoted (see QueryIDShape). DESCRIBE QUERY takes the same forms.
type QueryControl struct {
	Pos
	Action string
	Query  *Ident
}

// RotateToken is ALTER USER u ROTATE TOKEN or ALTER RECIPIENT r ROTATE TOKEN
// [WITH (...)] (With is used by RECIPIENT only).
type RotateToken struct {
	Pos
	Kind object.Kind
	Name *Ident
	With []*Property
}

// AlterRecipient is ALTER RECIPIENT r SET ('k' = v, ...), which changes
// the recipient's settings (token.ttl, ip_allow, ...), or ALTER RECIPIENT r
// SET PROPERTIES ('k' = v, ...) / UNSET PROPERTIES ('k', ...), which change
// the recipient properties CURRENT_RECIPIENT reads. Exactly one of Set,
// SetProperties and UnsetProperties is set.
type AlterRecipient struct {
	Pos
	Name            *Ident
	Set             []*Property
	SetProperties   []*Property
	UnsetProperties []*Literal
}

// GrantRole is GRANT ROLE r TO ROLE|USER x, or with Revoke, REVOKE ROLE r
// FROM ROLE|USER x.
type GrantRole struct {
	Pos
	Revoke      bool
	Role        *Ident
	GranteeKind object.Kind
	Grantee     *Ident
}

// GrantPrivileges is GRANT privs ON <kind> name TO ROLE|RECIPIENT r, or
// with Revoke, REVOKE ... FROM; <kind> is DATABASE, SCHEMA, STREAM, TABLE,
// SHARE or RECIPIENT. RECIPIENT grantees are only granted SELECT on a
// SHARE; ON RECIPIENT grants a role privileges on the recipient (USAGE:
// granting shares to it).
type GrantPrivileges struct {
	Pos
	Revoke      bool
	Privileges  []object.Privilege
	OnKind      object.Kind
	On          *Name
	GranteeKind object.Kind
	Grantee     *Ident
}

// AlterShare is ALTER SHARE s ADD TABLE [IF NOT EXISTS] t [AS schema.name]
// [WITH HISTORY] [WHERE filter] or ALTER SHARE s REMOVE TABLE t. Action is
// "ADD" or "REMOVE"; IfNotExists makes adding a table already in the share
// a no-op. Where is the per-recipient filter (an AND of col = literal and
// col = CURRENT_RECIPIENT('key'), checked by package sharefilter).
type AlterShare struct {
	Pos
	Share       *Ident
	Action      string
	IfNotExists bool
	Table       *Name
	As          *Name
	WithHistory bool
	Where       Expr
}

// AlterTable is ALTER TABLE t SET TBLPROPERTIES ('key' = value, ...) or
// ALTER TABLE t UNSET TBLPROPERTIES [IF EXISTS] ('key', ...). Set holds
// the properties to set, Unset the keys to remove (string literals); one
// of them is set.
type AlterTable struct {
	Pos
	Table    *Name
	Set      []*Property
	Unset    []*Literal
	IfExists bool
}

func (*CreateObject) stmt()    {}
func (*Drop) stmt()            {}
func (*CreateStream) stmt()    {}
func (*CreateTable) stmt()     {}
func (*Show) stmt()            {}
func (*ShowGrants) stmt()      {}
func (*Describe) stmt()        {}
func (*QueryControl) stmt()    {}
func (*RotateToken) stmt()     {}
func (*GrantRole) stmt()       {}
func (*AlterRecipient) stmt()  {}
func (*GrantPrivileges) stmt() {}
func (*AlterShare) stmt()      {}
func (*AlterTable) stmt()      {}

// Expr is an expression. String renders it as canonical SQL, with the
// parentheses that precedence requires and no others.
type Expr interface {
	Node
	String() string
	// format writes the expression into b (see render).
	format(b *strings.Builder)
}

// LiteralKind classifies literals.
type LiteralKind string

// The kinds of literal.
const (
	LitNumber    LiteralKind = "NUMBER"
	LitString    LiteralKind = "STRING"
	LitBool      LiteralKind = "BOOLEAN"
	LitNull      LiteralKind = "NULL"
	LitDate      LiteralKind = "DATE"
	LitTimestamp LiteralKind = "TIMESTAMP"
	LitInterval  LiteralKind = "INTERVAL"
)

// Literal is a constant. Value is the number as written, the decoded
// string, "TRUE" or "FALSE", "" for NULL, or the quoted text of DATE,
// TIMESTAMP and INTERVAL literals; Unit is the unit of an INTERVAL
// (YEAR, MONTH, DAY, HOUR, MINUTE, SECOND), if given.
type Literal struct {
	Pos
	Kind  LiteralKind
	Value string
	Unit  string
}

// ColumnRef is a column reference, possibly qualified (s.x.col) or naming
// a struct field (col.field): the parser cannot tell them apart.
type ColumnRef struct {
	Pos
	Parts []*Ident
}

// Star is * (all columns) or q.* in a SELECT list, or the * of f(*).
type Star struct {
	Pos
	Qualifier []*Ident
}

// Unary is NOT x, -x or +x; Op is "NOT", "-" or "+".
type Unary struct {
	Pos
	Op string
	X  Expr
}

// Binary is x op y, with Op one of OR AND = <> != < <= > >= || + - * / %.
type Binary struct {
	Pos
	OpPos Pos
	Op    string
	X, Y  Expr
}

// IsNull is x IS [NOT] NULL.
type IsNull struct {
	Pos
	X   Expr
	Not bool
}

// In is x [NOT] IN (list).
type In struct {
	Pos
	X    Expr
	Not  bool
	List []Expr
}

// Between is x [NOT] BETWEEN lo AND hi.
type Between struct {
	Pos
	X      Expr
	Not    bool
	Lo, Hi Expr
}

// Like is x [NOT] LIKE pattern.
type Like struct {
	Pos
	X       Expr
	Not     bool
	Pattern Expr
}

// When is one WHEN cond THEN result arm of a CASE.
type When struct {
	Pos
	Cond   Expr
	Result Expr
}

// Case is CASE [operand] WHEN ... THEN ... [ELSE else] END. With an
// operand (a simple CASE), each When.Cond is compared to it.
type Case struct {
	Pos
	Operand Expr
	Whens   []*When
	Else    Expr
}

// Cast is CAST(x AS type).
type Cast struct {
	Pos
	X    Expr
	Type *TypeName
}

// FuncCall is name(args), or name(*) (Args holds one *Star). Function
// names are not checked: any identifier can be called.
type FuncCall struct {
	Pos
	Name *Ident
	Args []Expr
}

// FieldAccess is x.field where x is not a plain column reference (for
// example f(x).a or m['k'].b).
type FieldAccess struct {
	Pos
	X     Expr
	Field *Ident
}

// Subscript is x[index]: a map key or an array index.
type Subscript struct {
	Pos
	X     Expr
	Index Expr
}
