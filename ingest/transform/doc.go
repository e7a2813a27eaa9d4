// Package transform filters rows and computes columns over Arrow batches.
// It is the target the SQL compiler compiles WHERE and SELECT lists into.
//
// # Expressions
//
// An Expr is a Column, a typed Literal, or an Op applied to Args. Ops are
// lower case; NULL in gives NULL out unless stated.
//
//	= != <> < <= > >=          comparison after implicit casts (coerce.go)
//	and or not                 SQL three-valued logic
//	is_null is_not_null        never null
//	+ - * / %                  arithmetic (arith.go: integer overflow and
//	neg                        division by zero fail the row)
//	concat (also ||)           n-ary string concatenation
//	in                         args[0] IN (args[1:]); no match and a null
//	                           in the list gives null
//	between                    args[0] BETWEEN args[1] AND args[2],
//	                           inclusive; reversed bounds match nothing
//	like                       [s, pattern] or [s, pattern, escape] (like.go)
//	case                       [when1, then1, when2, then2, …, else?]: an
//	                           odd count means the last arg is ELSE;
//	                           without ELSE unmatched rows are null
//	if                         [cond, then, else]
//	coalesce nullif greatest least
//	cast                       to Expr.Type (cast.go, castnum.go)
//
// Functions: string (strfunc.go) lower upper trim ltrim rtrim length
// substring replace concat split_part starts_with ends_with contains; math
// (mathfunc.go) abs round floor ceil sqrt power ln exp greatest least;
// date/time (timefunc.go) date_trunc extract to_date to_timestamp
// current_timestamp format_timestamp date_add; JSON (json.go) json_value
// json_query. Arguments are type-checked at compile time, with errors such
// as "substring: argument 2 must be an integer, got string". Arguments
// documented as constants (units, formats, JSON paths, LIKE escapes,
// round's digits) must be literals.
//
// # Row errors
//
// Evaluation is vectorised: each evaluator produces a whole Arrow array.
// A value that cannot be computed for one row (division by zero, integer
// overflow, a string a cast cannot parse, sqrt of a negative) does not
// fail the batch: the evaluator reports it with Batch.Fail, Apply leaves
// the row out of the output and returns it as a RowError naming the
// filter or column and the expression, and the caller sends it to the
// dead-letter table. CASE, IF and COALESCE only keep the failures of the
// rows that actually take the failing branch.
package transform
