package transform

import "testing"

const fmtTS = "yyyy-MM-dd HH:mm:ss.SSSSSS"

func fts(e *Expr) *Expr { return op("format_timestamp", e, str(fmtTS)) }

func TestArithmetic(t *testing.T) {
	runSQLCases(t, []sqlCase{
		{"int + bigint widens to bigint", op("+", col("i32"), col("i64")), "[11 -4 (null) -9223372034707292161 0]", nil, ""},
		{"int overflow fails the row", op("+", col("i32"), i32("1")), "[2 -6 (null) 1]", []int{3}, "integer overflow"},
		{"bigint - underflow", op("-", col("i64"), i64("1")), "[9 2 (null) -1]", []int{3}, "integer overflow"},
		{"bigint * overflow", op("*", col("i64"), i64("2")), "[20 6 (null) 0]", []int{3}, "integer overflow"},
		{"division truncates, by zero fails", op("/", col("i64"), col("i32")), "[10 0 (null) -4294967298]", []int{4}, "(i64 / i32): division by zero"},
		{"MIN / -1 overflows", op("/", col("i64"), i64("-1")), "[-10 -3 (null) 0]", []int{3}, "integer overflow"},
		{"modulo takes the dividend's sign", op("%", col("i64"), i64("3")), "[1 0 (null) -2 0]", nil, ""},
		{"modulo by zero", op("%", col("i32"), col("i32")), "[0 0 (null) 0]", []int{4}, "division by zero"},
		{"neg int", op("neg", col("i32")), "[-1 7 (null) -2147483647 0]", nil, ""},
		{"neg MIN overflows", op("neg", col("i64")), "[-10 -3 (null) 0]", []int{3}, "integer overflow"},
		{"neg decimal", op("neg", col("d")), "[-1.25 3.50 (null) 0.00 -100.99]", nil, ""},
		{"int + double is double", op("+", col("f64"), col("i32")), "[2.5 -9.5 (null) 2.147483647e+09 2.25]", nil, ""},
		{"double division is IEEE", op("/", col("f64"), i32("0")), "[+Inf -Inf (null) NaN +Inf]", nil, ""},
		{"decimal + int", op("+", col("d"), col("i32")), "[2.25 -10.50 (null) 2147483647.00 100.99]", nil, ""},
		{"decimal * decimal", op("*", col("d"), col("d")), "[1.5625 12.2500 (null) 0.0000 10198.9801]", nil, ""},
		{"decimal / decimal by zero", op("/", col("d"), col("d")), "[1.00000000000 1.00000000000 (null) 1.00000000000]", []int{3}, "division by zero"},
		{"decimal % int", op("%", col("d"), col("i32")), "[0.25 -3.50 (null) 0.00]", []int{4}, "division by zero"},
		{"string literal takes the numeric type", op("+", col("i32"), str("5")), "[6 -2 (null) 5]", []int{3}, "integer overflow"},
	})
}

func TestComparisonCoercion(t *testing.T) {
	runSQLCases(t, []sqlCase{
		{"int < bigint", op("<", col("i32"), col("i64")), "[true true (null) false false]", nil, ""},
		{"double > int", op(">", col("f64"), col("i32")), "[true true (null) false true]", nil, ""},
		{"decimal > double", op(">", col("d"), col("f64")), "[false false (null) false true]", nil, ""},
		{"decimal = int", op("=", col("d"), col("i32")), "[false false (null) false false]", nil, ""},
		{"decimal = int literal", op("=", col("d"), i32("0")), "[false false (null) true false]", nil, ""},
		{"cast failure in a comparison fails the row", op("=", col("d"), cast(col("i32"), "DECIMAL(3,0)")), "[false false (null) false]", []int{3}, "CAST(i32 AS DECIMAL(3,0)): cannot cast to decimal(3,0)"},
		{"timestamp >= string literal", op(">=", col("ts"), str("2000-01-01")), "[true false (null) true true]", nil, ""},
		{"date < timestamp", op("<", col("dt"), col("ts")), "[true false (null) true false]", nil, ""},
		{"<> is !=", op("<>", col("i32"), i32("1")), "[false true (null) true true]", nil, ""},
	})
}

func TestInBetween(t *testing.T) {
	runSQLCases(t, []sqlCase{
		{"in constants", op("in", col("i32"), i32("1"), i32("0")), "[true false (null) false true]", nil, ""},
		{"in with null: no match is null", op("in", col("i32"), i32("1"), null("INT")), "[true (null) (null) (null) (null)]", nil, ""},
		{"in strings", op("in", col("s"), str("Hello"), str("x")), "[true false (null) false false]", nil, ""},
		{"in empty string and null", op("in", col("s"), str(""), null("STRING")), "[(null) (null) (null) true (null)]", nil, ""},
		{"in mixed widths", op("in", col("i64"), i32("3"), i32("0")), "[false true (null) false true]", nil, ""},
		{"in columns", op("in", col("i32"), col("i64"), i32("1")), "[true false (null) false true]", nil, ""},
		{"in columns with null", op("in", col("i64"), col("i32"), null("BIGINT")), "[(null) (null) (null) (null) true]", nil, ""},
		{"in dates", op("in", col("dt"), str("1970-01-01"), str("2000-03-01")), "[false true (null) false true]", nil, ""},
		{"between", op("between", col("i32"), i32("0"), i32("1")), "[true false (null) false true]", nil, ""},
		{"between reversed bounds matches nothing", op("between", col("i32"), i32("1"), i32("0")), "[false false (null) false false]", nil, ""},
		{"between mixed types", op("between", col("f64"), col("i32"), i32("3")), "[true true (null) false true]", nil, ""},
		{"between timestamps", op("between", col("ts"), str("1969-12-31 23:59:59"), str("2000-01-01")), "[false true (null) false true]", nil, ""},
	})
}

func TestLike(t *testing.T) {
	like := func(p string) *Expr { return op("like", col("s"), str(p)) }
	runSQLCases(t, []sqlCase{
		{"prefix", like("H%"), "[true false (null) false false]", nil, ""},
		{"contains", like("%l%"), "[true true (null) false false]", nil, ""},
		{"suffix", like("%c"), "[false false (null) false true]", nil, ""},
		{"prefix and suffix", like("H%o"), "[true false (null) false false]", nil, ""},
		{"underscore is one character", like("w_rld"), "[false true (null) false false]", nil, ""},
		{"five characters", like("_____"), "[true true (null) false true]", nil, ""},
		{"empty pattern", like(""), "[false false (null) true false]", nil, ""},
		{"percent matches empty", like("%"), "[true true (null) true true]", nil, ""},
		{"exact", like("Hello"), "[true false (null) false false]", nil, ""},
		{"escaped wildcards", like(`a\%b\_c`), "[false false (null) false true]", nil, ""},
		{"escaped percent then wildcard", like(`a\%%`), "[false false (null) false true]", nil, ""},
		{"custom escape", op("like", col("s"), str("a!%b!_c"), str("!")), "[false false (null) false true]", nil, ""},
		{"no escape", op("like", col("s"), str(`a%\_c`), str("")), "[false false (null) false false]", nil, ""},
		{"column pattern", op("like", col("s"), col("s")), "[true true (null) true true]", nil, ""},
		{"regexp metacharacters are literal", like("a.b%"), "[false false (null) false false]", nil, ""},
		{"not like", op("not", like("%l%")), "[false false (null) true true]", nil, ""},
	})
}

func TestConditionals(t *testing.T) {
	sign := func(withElse bool) *Expr {
		args := []*Expr{op(">", col("i32"), i32("0")), str("pos"), op("<", col("i32"), i32("0")), str("neg")}
		if withElse {
			args = append(args, str("zero"))
		}
		return op("case", args...)
	}
	runSQLCases(t, []sqlCase{
		{"case with else", sign(true), `["pos" "neg" "zero" "pos" "zero"]`, nil, ""},
		{"case without else", sign(false), `["pos" "neg" (null) "pos" (null)]`, nil, ""},
		{"case branch not taken does not fail", op("case", op("=", col("i32"), i32("0")), i32("0"), op("/", i32("100"), col("i32"))), "[100 -14 (null) 0 0]", nil, ""},
		{"case branch taken fails", op("case", op("=", col("i32"), i32("1")), i32("0"), op("/", i32("100"), col("i32"))), "[0 -14 (null) 0]", []int{4}, "division by zero"},
		{"case results widen", op("case", col("b"), col("i32"), col("f64")), "[1 -2.5 (null) 2.147483647e+09 2.25]", nil, ""},
		{"when NULL is never taken", op("case", null("STRING"), i32("1"), i32("2")), "[2 2 2 2 2]", nil, ""},
		{"if", op("if", col("b"), col("s"), str("no")), `["Hello" "no" "no" "" "no"]`, nil, ""},
		{"coalesce widens", op("coalesce", col("i32"), col("i64"), i32("99")), "[1 -7 99 2147483647 0]", nil, ""},
		{"coalesce is lazy", op("coalesce", col("i64"), op("/", i64("100"), col("i32"))), "[10 3 (null) -9223372036854775808 0]", nil, ""},
		{"coalesce all null", op("coalesce", null("INT"), col("i32")), "[1 -7 (null) 2147483647 0]", nil, ""},
		{"untyped NULL adapts", op("coalesce", col("d"), null("STRING")), "[1.25 -3.50 (null) 0.00 100.99]", nil, ""},
		{"NULL in arithmetic", op("+", col("i32"), null("STRING")), "[(null) (null) (null) (null) (null)]", nil, ""},
		{"AND NULL", op("and", col("b"), null("STRING")), "[(null) false (null) (null) false]", nil, ""},
		{"OR NULL", op("or", col("b"), null("STRING")), "[true (null) (null) true (null)]", nil, ""},
		{"nullif", op("nullif", col("i32"), i32("0")), "[1 -7 (null) 2147483647 (null)]", nil, ""},
		{"nullif null second", op("nullif", col("i32"), null("INT")), "[1 -7 (null) 2147483647 0]", nil, ""},
		{"greatest ignores nulls", op("greatest", col("i32"), col("i64"), i32("5")), "[10 5 5 2147483647 5]", nil, ""},
		{"least", op("least", col("i32"), col("f64")), "[1 -7 (null) 0 0]", nil, ""},
		{"least strings", op("least", col("s"), str("b")), `["Hello" "b" "b" "" "a%b_c"]`, nil, ""},
	})
}

func TestStringFunctions(t *testing.T) {
	padded := op("concat", str("  "), col("s"), str(" "))
	runSQLCases(t, []sqlCase{
		{"lower", op("lower", col("s")), `["hello" "wörld" (null) "" "a%b_c"]`, nil, ""},
		{"upper unicode", op("upper", col("s")), `["HELLO" "WÖRLD" (null) "" "A%B_C"]`, nil, ""},
		{"trim", op("trim", padded), `["Hello" "wörld" (null) "" "a%b_c"]`, nil, ""},
		{"ltrim", op("ltrim", padded), `["Hello " "wörld " (null) "" "a%b_c "]`, nil, ""},
		{"rtrim", op("rtrim", padded), `["  Hello" "  wörld" (null) "" "  a%b_c"]`, nil, ""},
		{"trim characters", op("trim", col("s"), str("Hc")), `["ello" "wörld" (null) "" "a%b_"]`, nil, ""},
		{"length counts characters", op("length", col("s")), "[5 5 (null) 0 5]", nil, ""},
		{"substring", op("substring", col("s"), i32("2"), i32("3")), `["ell" "örl" (null) "" "%b_"]`, nil, ""},
		{"substring NULL length", op("substring", col("s"), i32("2"), null("STRING")), `[(null) (null) (null) (null) (null)]`, nil, ""},
		{"substring from 0", op("substring", col("s"), i32("0"), i32("2")), `["H" "w" (null) "" "a"]`, nil, ""},
		{"substring to the end", op("substring", col("s"), i64("4")), `["lo" "ld" (null) "" "_c"]`, nil, ""},
		{"substring past the end", op("substring", col("s"), i32("9"), i32("2")), `["" "" (null) "" ""]`, nil, ""},
		{"substring negative length", op("substring", col("s"), i32("1"), i32("-1")), `[(null)]`, []int{0, 1, 3, 4}, "negative substring length"},
		{"replace", op("replace", col("s"), str("l"), str("L")), `["HeLLo" "wörLd" (null) "" "a%b_c"]`, nil, ""},
		{"replace empty", op("replace", col("s"), str(""), str("x")), `["Hello" "wörld" (null) "" "a%b_c"]`, nil, ""},
		{"concat casts and propagates null", op("concat", col("s"), str("-"), col("i32")), `["Hello-1" "wörld--7" (null) "-2147483647" "a%b_c-0"]`, nil, ""},
		{"||", op("||", col("s"), str("!")), `["Hello!" "wörld!" (null) "!" "a%b_c!"]`, nil, ""},
		{"split_part", op("split_part", str("a,b,c"), str(","), col("i32")), `["a" "" (null) ""]`, []int{4}, "must not be zero"},
		{"split_part from the end", op("split_part", col("s"), str("l"), i32("-1")), `["o" "d" (null) "" "a%b_c"]`, nil, ""},
		{"starts_with", op("starts_with", col("s"), str("He")), "[true false (null) false false]", nil, ""},
		{"ends_with", op("ends_with", col("s"), str("c")), "[false false (null) false true]", nil, ""},
		{"contains unicode", op("contains", col("s"), str("ö")), "[false true (null) false false]", nil, ""},
		{"contains empty", op("contains", col("s"), str("")), "[true true (null) true true]", nil, ""},
	})
}

func TestMathFunctions(t *testing.T) {
	runSQLCases(t, []sqlCase{
		{"abs int", op("abs", col("i32")), "[1 7 (null) 2147483647 0]", nil, ""},
		{"abs MIN overflows", op("abs", col("i64")), "[10 3 (null) 0]", []int{3}, "integer overflow"},
		{"abs decimal", op("abs", col("d")), "[1.25 3.50 (null) 0.00 100.99]", nil, ""},
		{"round double half away from zero", op("round", col("f64")), "[2 -3 (null) 0 2]", nil, ""},
		{"round double digits", op("round", col("f64"), i32("1")), "[1.5 -2.5 (null) 0 2.3]", nil, ""},
		{"round decimal", op("round", col("d"), i32("1")), "[1.3 -3.5 (null) 0.0 101.0]", nil, ""},
		{"round decimal negative digits", op("round", col("d"), i32("-1")), "[0 0 (null) 0 100]", nil, ""},
		{"round int negative digits", op("round", col("i64"), i32("-1")), "[10 0 (null) 0]", []int{3}, "integer overflow"},
		{"floor decimal", op("floor", col("d")), "[1 -4 (null) 0 100]", nil, ""},
		{"ceil decimal", op("ceil", col("d")), "[2 -3 (null) 0 101]", nil, ""},
		{"floor double", op("floor", col("f64")), "[1 -3 (null) 0 2]", nil, ""},
		{"ceil int unchanged", op("ceil", col("i32")), "[1 -7 (null) 2147483647 0]", nil, ""},
		{"sqrt of a negative fails", op("sqrt", col("f64")), "[1.224744871391589 (null) 0 1.5]", []int{1}, "square root of a negative"},
		{"ln", op("ln", col("i32")), "[0 (null) 21.487562596892644]", []int{1, 4}, "logarithm"},
		{"exp", op("exp", col("i32")), "[2.718281828459045 0.0009118819655545162 (null) +Inf 1]", nil, ""},
		{"power", op("power", col("i32"), i32("2")), "[1 49 (null) 4.6116860141324206e+18 0]", nil, ""},
		{"complex power fails", op("power", col("f64"), lit("0.5", "DOUBLE")), "[1.224744871391589 (null) 0 1.5]", []int{1}, "complex"},
	})
}

func TestTimeFunctions(t *testing.T) {
	trunc := func(unit string) *Expr { return fts(op("date_trunc", str(unit), col("ts"))) }
	extract := func(f string) *Expr { return op("extract", str(f), col("ts")) }
	runSQLCases(t, []sqlCase{
		{"trunc year", trunc("year"), `["2024-01-01 00:00:00.000000" "1969-01-01 00:00:00.000000" (null) "2024-01-01 00:00:00.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"trunc quarter", trunc("quarter"), `["2024-01-01 00:00:00.000000" "1969-10-01 00:00:00.000000" (null) "2024-10-01 00:00:00.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"trunc month", trunc("MONTH"), `["2024-02-01 00:00:00.000000" "1969-12-01 00:00:00.000000" (null) "2024-12-01 00:00:00.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"trunc week", trunc("week"), `["2024-02-26 00:00:00.000000" "1969-12-29 00:00:00.000000" (null) "2024-12-30 00:00:00.000000" "1999-12-27 00:00:00.000000"]`, nil, ""},
		{"trunc day", trunc("day"), `["2024-02-29 00:00:00.000000" "1969-12-31 00:00:00.000000" (null) "2024-12-31 00:00:00.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"trunc hour", trunc("hour"), `["2024-02-29 13:00:00.000000" "1969-12-31 23:00:00.000000" (null) "2024-12-31 23:00:00.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"trunc minute", trunc("minute"), `["2024-02-29 13:45:00.000000" "1969-12-31 23:59:00.000000" (null) "2024-12-31 23:59:00.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"trunc second", trunc("second"), `["2024-02-29 13:45:30.000000" "1969-12-31 23:59:59.000000" (null) "2024-12-31 23:59:59.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"trunc date", fts(op("date_trunc", str("month"), col("dt"))), `["2024-02-01 00:00:00.000000" "1970-01-01 00:00:00.000000" (null) "1969-12-01 00:00:00.000000" "2000-03-01 00:00:00.000000"]`, nil, ""},
		{"year", extract("year"), "[2024 1969 (null) 2024 2000]", nil, ""},
		{"quarter", extract("quarter"), "[1 4 (null) 4 1]", nil, ""},
		{"month", extract("month"), "[2 12 (null) 12 1]", nil, ""},
		{"day", extract("day"), "[29 31 (null) 31 1]", nil, ""},
		{"hour", extract("hour"), "[13 23 (null) 23 0]", nil, ""},
		{"minute", extract("minute"), "[45 59 (null) 59 0]", nil, ""},
		{"second", extract("second"), "[30 59 (null) 59 0]", nil, ""},
		{"dow", extract("dow"), "[4 3 (null) 2 6]", nil, ""},
		{"doy", extract("doy"), "[60 365 (null) 366 1]", nil, ""},
		{"epoch", extract("epoch"), "[1709214330 -1 (null) 1735689599 946684800]", nil, ""},
		{"dow of a date", op("extract", str("dow"), col("dt")), "[4 4 (null) 3 3]", nil, ""},
		{"to_date iso", fts(op("to_date", op("concat", str("2024-01-"), col("txt")))), `["2024-01-12 00:00:00.000000" (null)]`, []int{1, 3, 4}, "is not a valid date"},
		{"to_date format", fts(op("to_date", op("concat", col("txt"), str("/03/2024")), str("dd/MM/yyyy"))), `["2024-03-12 00:00:00.000000" (null)]`, []int{1, 3, 4}, "is not a valid date"},
		{"to_timestamp epoch millis", fts(op("to_timestamp", col("i64"))), `["1970-01-01 00:00:00.010000" "1970-01-01 00:00:00.003000" (null) "1970-01-01 00:00:00.000000"]`, []int{3}, "out of range"},
		{"to_timestamp string with zone", fts(op("to_timestamp", op("concat", str("2024-03-01T10:"), col("txt"), str(":00+02:00")))), `["2024-03-01 08:12:00.000000" (null)]`, []int{1, 3, 4}, "is not a valid timestamp"},
		{"to_timestamp format", fts(op("to_timestamp", op("concat", col("txt"), str(".03.2024 5:06 PM")), str("dd.MM.yyyy h:mm a"))), `["2024-03-12 17:06:00.000000" (null)]`, []int{1, 3, 4}, "is not a valid timestamp"},
		{"current_timestamp is the batch time", fts(op("current_timestamp")), `["2025-06-01 12:00:00.000000" "2025-06-01 12:00:00.000000" "2025-06-01 12:00:00.000000" "2025-06-01 12:00:00.000000" "2025-06-01 12:00:00.000000"]`, nil, ""},
		{"format_timestamp", op("format_timestamp", col("ts"), str("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")), `["2024-02-29T13:45:30.123Z" "1969-12-31T23:59:59.000Z" (null) "2024-12-31T23:59:59.999Z" "2000-01-01T00:00:00.000Z"]`, nil, ""},
		{"date_add days to a date", fts(op("date_add", col("dt"), col("i32"))), `["2024-03-01 00:00:00.000000" "1969-12-25 00:00:00.000000" (null) "2000-03-01 00:00:00.000000"]`, []int{3}, "out of range"},
		{"date_add month clamps", fts(op("date_add", col("ts"), i32("1"), str("month"))), `["2024-03-29 13:45:30.123456" "1970-01-31 23:59:59.000000" (null) "2025-01-31 23:59:59.999999" "2000-02-01 00:00:00.000000"]`, nil, ""},
		{"date_add month end", fts(op("date_add", lit("2024-01-31", "DATE"), i32("1"), str("month"))), `["2024-02-29 00:00:00.000000" "2024-02-29 00:00:00.000000" "2024-02-29 00:00:00.000000" "2024-02-29 00:00:00.000000" "2024-02-29 00:00:00.000000"]`, nil, ""},
		{"date_add negative years", fts(op("date_add", col("ts"), i32("-1"), str("year"))), `["2023-02-28 13:45:30.123456" "1968-12-31 23:59:59.000000" (null) "2023-12-31 23:59:59.999999" "1999-01-01 00:00:00.000000"]`, nil, ""},
		{"date_add hours", fts(op("date_add", col("ts"), col("i32"), str("hour"))), `["2024-02-29 14:45:30.123456" "1969-12-31 16:59:59.000000" (null) "247008-10-10 06:59:59.999999" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"date_add seconds overflow", fts(op("date_add", col("ts"), col("i64"), str("second"))), `["2024-02-29 13:45:40.123456" "1970-01-01 00:00:02.000000" (null) "2000-01-01 00:00:00.000000"]`, []int{3}, "timestamp out of range"},
		{"format date", op("format_timestamp", col("dt"), str("EEE dd MMM yyyy")), `["Thu 29 Feb 2024" "Thu 01 Jan 1970" (null) "Wed 31 Dec 1969" "Wed 01 Mar 2000"]`, nil, ""},
	})
}

func TestJSONFunctions(t *testing.T) {
	jv := func(p string) *Expr { return op("json_value", col("j"), str(p)) }
	runSQLCases(t, []sqlCase{
		{"array index", jv("$.a.b[0]"), `["1" (null) (null) (null) (null)]`, nil, ""},
		{"nested array element", jv("$.a.b[1]"), `["2" (null) (null) (null) "é"]`, nil, ""},
		{"object is not scalar", jv("$.a"), `[(null) "x" (null) (null) (null)]`, nil, ""},
		{"number as written", jv("$.n"), `["1.50" (null) (null) (null) (null)]`, nil, ""},
		{"boolean", jv("$.t"), `[(null) "true" (null) (null) (null)]`, nil, ""},
		{"json null", jv("$.a.b[0].c"), `[(null) (null) (null) (null) (null)]`, nil, ""},
		{"missing index", jv("$['a']['b'][5]"), `[(null) (null) (null) (null) (null)]`, nil, ""},
		{"root", jv("$"), `[(null) (null) (null) (null) (null)]`, nil, ""},
		{"json_query object", op("json_query", col("j"), str("$.a")), `["{\"b\":[1,2]}" "\"x\"" (null) (null) "{\"b\":[{\"c\":null},\"é\"]}"]`, nil, ""},
		{"json_query array", op("json_query", col("j"), str(`$["a"].b`)), `["[1,2]" (null) (null) (null) "[{\"c\":null},\"é\"]"]`, nil, ""},
	})
}

func TestCasts(t *testing.T) {
	runSQLCases(t, []sqlCase{
		{"string to int", cast(col("txt"), "INT"), "[12 (null) 7]", []int{1, 4}, "is not a valid int"},
		{"string to bigint", cast(col("txt"), "BIGINT"), "[12 (null) 7]", []int{1, 4}, "is not a valid bigint"},
		{"string to double", cast(col("txt"), "DOUBLE"), "[12 (null) 7]", []int{1, 4}, "is not a valid double"},
		{"string to boolean", cast(op("if", col("b"), str("Yes"), str("nah")), "BOOLEAN"), "[true true]", []int{1, 2, 4}, `"nah" is not a valid boolean`},
		{"string to decimal", cast(col("txt"), "DECIMAL(4,1)"), "[12.0 (null) 7.0]", []int{1, 4}, "is not a valid decimal(4,1)"},
		{"string to decimal exponents", cast(op("concat", col("txt"), str("e-200")), "DECIMAL(4,1)"), "[0.0 (null)]", []int{1, 3, 4}, "decimal(4,1)"},
		{"string to decimal huge exponent", cast(op("concat", col("txt"), str("e9999999999")), "DECIMAL(4,1)"), "[(null)]", []int{0, 1, 3, 4}, "decimal(4,1)"},
		{"string to decimal overflow", cast(op("concat", col("txt"), str("000")), "DECIMAL(4,1)"), "[(null) 0.0]", []int{0, 1, 3}, "decimal(4,1)"},
		{"string to date", fts(cast(op("concat", str("2024-01-"), col("txt")), "DATE")), `["2024-01-12 00:00:00.000000" (null)]`, []int{1, 3, 4}, "is not a valid date"},
		{"string to timestamp", fts(cast(op("concat", str("2024-03-01 10:"), col("txt"), str(":00")), "TIMESTAMP")), `["2024-03-01 10:12:00.000000" (null)]`, []int{1, 3, 4}, "is not a valid timestamp"},
		{"bigint to int overflow", cast(col("i64"), "INT"), "[10 3 (null) 0]", []int{3}, "CAST(i64 AS INT)"},
		{"double to int truncation", cast(col("f64"), "INT"), "[1 -2 (null) 0 2]", nil, ""},
		{"int to string", cast(col("i32"), "STRING"), `["1" "-7" (null) "2147483647" "0"]`, nil, ""},
		{"decimal to double", cast(col("d"), "DOUBLE"), "[1.25 -3.5 (null) 0 100.99]", nil, ""},
		{"decimal to string", cast(col("d"), "STRING"), `["1.25" "-3.50" (null) "0.00" "100.99"]`, nil, ""},
		{"decimal in concat", op("concat", col("d"), str("€")), `["1.25€" "-3.50€" (null) "0.00€" "100.99€"]`, nil, ""},
		{"timestamp to date floors", fts(cast(col("ts"), "DATE")), `["2024-02-29 00:00:00.000000" "1969-12-31 00:00:00.000000" (null) "2024-12-31 00:00:00.000000" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"timestamp to timestamp_ntz", fts(cast(col("ts"), "TIMESTAMP_NTZ")), `["2024-02-29 13:45:30.123456" "1969-12-31 23:59:59.000000" (null) "2024-12-31 23:59:59.999999" "2000-01-01 00:00:00.000000"]`, nil, ""},
		{"date to string", cast(col("dt"), "STRING"), `["2024-02-29" "1970-01-01" (null) "1969-12-31" "2000-03-01"]`, nil, ""},
		{"int to narrow decimal fails the row", cast(col("i32"), "DECIMAL(2,1)"), "[1.0 -7.0 (null) 0.0]", []int{3}, "does not fit decimal(2,1)"},
		{"decimal to int truncates", cast(col("d"), "TINYINT"), "[1 -3 (null) 0 100]", nil, ""},
		{"decimal to smaller scale rounds", cast(col("d"), "DECIMAL(5,1)"), "[1.3 -3.5 (null) 0.0 101.0]", nil, ""},
		{"double out of int range", cast(op("*", col("f64"), lit("1e300", "DOUBLE")), "BIGINT"), "[(null) 0]", []int{0, 1, 4}, "out of range for bigint"},
	})
}
