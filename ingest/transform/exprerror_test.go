package transform

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
)

// TestExprErrorAt: a failing compile reports, in the one pass, the innermost
// sub-expression that fails on its own (its arguments compile), through
// Expr.Compile and through Compile of a spec; a non-boolean filter is a
// FilterTypeError with its type.
func TestExprErrorAt(t *testing.T) {
	bad := op("lower", col("i32")) // lower of an int fails; its argument compiles
	deep := bad
	for range 300 {
		deep = op("concat", deep, str("x"))
	}
	unknown := col("nope")
	for _, tc := range []struct {
		name string
		spec *Spec
		at   *Expr
		msg  string
	}{
		{"select item", &Spec{Select: []SelectItem{{Name: "v", Expr: op("concat", str("a"), bad)}}}, bad, `column "v": lower: argument 1 must be a string, got int`},
		{"deep in a select item", &Spec{Select: []SelectItem{{Name: "ok", Expr: col("s")}, {Name: "v", Expr: deep}}}, bad, `column "v": lower`},
		{"in the filter", &Spec{Filter: op("=", op("length", unknown), i32("1"))}, unknown, `filter: unknown column "nope"`},
		{"the filter before the items", &Spec{Filter: op("and", col("b"), bad), Select: []SelectItem{{Name: "u", Expr: unknown}}}, bad, "filter: lower"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(sqlSchema, tc.spec)
			var ee *ExprError
			if !errors.As(err, &ee) || ee.At != tc.at {
				t.Fatalf("Compile: %v; want an ExprError at %s", err, tc.at)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Compile: %v; want %q", err, tc.msg)
			}
		})
	}
	_, err := Compile(sqlSchema, &Spec{Filter: col("i32")})
	var fe *FilterTypeError
	if !errors.As(err, &fe) || fe.Type.ID() != arrow.INT32 || err.Error() != "filter: expression has type int32, want boolean" {
		t.Fatalf("non-boolean filter: %v; want a FilterTypeError of int32", err)
	}
}
