package deltalog

import (
	"strings"
	"testing"
)

func TestParseType(t *testing.T) {
	nullable := func(name string, t *Type) Field { return Field{Name: name, Type: t, Nullable: true} }
	tests := []struct {
		in   string
		want *Type
	}{
		{"int", Primitive(TypeInteger)},
		{"INTEGER", Primitive(TypeInteger)},
		{" BigInt ", Primitive(TypeLong)},
		{"long", Primitive(TypeLong)},
		{"SMALLINT", Primitive(TypeShort)},
		{"tinyint", Primitive(TypeByte)},
		{"VARCHAR", Primitive(TypeString)},
		{"varchar(20)", Primitive(TypeString)},
		{"TEXT", Primitive(TypeString)},
		{"BYTES", Primitive(TypeBinary)},
		{"BOOL", Primitive(TypeBoolean)},
		{"REAL", Primitive(TypeFloat)},
		{"DOUBLE", Primitive(TypeDouble)},
		{"TIMESTAMP", Primitive(TypeTimestamp)},
		{"timestamp_ntz", Primitive(TypeTimestampNTZ)},
		{"DATE", Primitive(TypeDate)},
		{"DECIMAL", Decimal(10, 0)},
		{"DECIMAL(5)", Decimal(5, 0)},
		{"decimal( 38 , 10 )", Decimal(38, 10)},
		{"ARRAY<STRING>", Array(Primitive(TypeString), true)},
		{"array<int not null>", Array(Primitive(TypeInteger), false)},
		{"MAP<STRING, ARRAY<BIGINT>>", Map(Primitive(TypeString), Array(Primitive(TypeLong), true), true)},
		{"STRUCT<>", Struct()},
		{"STRUCT<a: INT, b STRING NOT NULL, `c d`:DOUBLE>", Struct(
			nullable("a", Primitive(TypeInteger)),
			Field{Name: "b", Type: Primitive(TypeString)},
			nullable("c d", Primitive(TypeDouble)))},
		{"struct<`a``b`:struct<x:date>>", Struct(nullable("a`b", Struct(nullable("x", Primitive(TypeDate)))))},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if err != nil {
			t.Errorf("ParseType(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("ParseType(%q) = %s, want %s", tt.in, FormatType(got), FormatType(tt.want))
		}
	}
}

func TestParseTypeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `at byte 0: expected a type name, found end of input`},
		{"INTEGRAL", `at byte 0: expected a type name, found "INTEGRAL"`},
		{"ARRAY<INT", `at byte 9: expected '>', found end of input`},
		{"ARRAY INT>", `at byte 6: expected '<', found "INT>"`},
		{"MAP<STRING INT>", `at byte 11: expected ',', found "INT>"`},
		{"STRUCT<a INT b INT>", `at byte 13: expected ',' or '>', found "b INT>"`},
		{"STRUCT<a INT NOT>", `at byte 16: expected NULL after NOT, found ">"`},
		{"STRUCT<: INT>", `at byte 7: expected a field name, found ": INT>"`},
		{"STRUCT<`a INT>", `at byte 14: expected closing '` + "`" + `', found end of input`},
		{"DECIMAL(40,2)", `at byte 0: expected decimal(p,s) with 1 <= p <= 38 and 0 <= s <= p, found "DECIMAL(40,2)"`},
		{"DECIMAL(4,5)", `at byte 0: expected decimal(p,s)`},
		{"DECIMAL(x)", `at byte 8: expected a number, found "x)"`},
		{"INT INT", `at byte 4: expected end of type, found "INT"`},
	}
	for _, tt := range tests {
		_, err := ParseType(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseType(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

// TestParseTypeString checks that ParseType reads what Type.String writes for
// types String can represent (nullable fields with plain names).
func TestParseTypeString(t *testing.T) {
	for _, s := range []string{"decimal(10,2)", "array<long>", "map<string,array<timestamp_ntz>>", "struct<a:integer,b:struct<c:binary>>"} {
		ty, err := ParseType(s)
		if err != nil {
			t.Fatalf("ParseType(%q): %v", s, err)
		}
		if ty.String() != s {
			t.Errorf("ParseType(%q).String() = %q", s, ty.String())
		}
	}
}

func FuzzParseType(f *testing.F) {
	for _, s := range []string{"int", "DECIMAL(10,2)", "ARRAY<STRING NOT NULL>", "MAP<STRING, INT>",
		"STRUCT<a: INT, b STRING NOT NULL, `c``d` ARRAY<MAP<INT,DATE>>>", "struct<>", "VARCHAR(3)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ty, err := ParseType(s)
		if err != nil {
			return
		}
		ddl := FormatType(ty)
		back, err := ParseType(ddl)
		if err != nil {
			t.Fatalf("ParseType(FormatType(%q) = %q): %v", s, ddl, err)
		}
		if !back.Equal(ty) {
			t.Fatalf("FormatType round trip of %q: %q parses to %s", s, ddl, FormatType(back))
		}
		if stringRepresentable(ty) {
			back, err := ParseType(ty.String())
			if err != nil || !back.Equal(ty) {
				t.Fatalf("String round trip of %q: %q -> %v, %v", s, ty.String(), back, err)
			}
		}
	})
}

// stringRepresentable reports whether Type.String keeps all of t: it drops
// NOT NULL and does not quote field names.
func stringRepresentable(t *Type) bool {
	switch t.Name {
	case TypeArray:
		return t.ContainsNull && stringRepresentable(t.Element)
	case TypeMap:
		return t.ValueContainsNull && stringRepresentable(t.Key) && stringRepresentable(t.Value)
	case TypeStruct:
		for _, f := range t.Fields {
			if !f.Nullable || !isIdent(f.Name) || !stringRepresentable(f.Type) {
				return false
			}
		}
	}
	return true
}
