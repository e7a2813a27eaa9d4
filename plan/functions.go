package plan

import "sort"

// functions maps the SQL functions a streaming query may call to the
// transform operator that computes them (see ingest/transform's package
// doc for their arguments and NULL rules).
var functions = map[string]string{
	// conditional
	"coalesce": "coalesce", "nullif": "nullif", "if": "if", "greatest": "greatest", "least": "least",
	// string
	"lower": "lower", "upper": "upper", "trim": "trim", "ltrim": "ltrim", "rtrim": "rtrim",
	"length": "length", "char_length": "length", "substring": "substring", "substr": "substring",
	"replace": "replace", "concat": "concat", "split_part": "split_part",
	"starts_with": "starts_with", "ends_with": "ends_with", "contains": "contains",
	// math
	"abs": "abs", "round": "round", "floor": "floor", "ceil": "ceil", "ceiling": "ceil",
	"sqrt": "sqrt", "power": "power", "pow": "power", "ln": "ln", "exp": "exp",
	// date and time
	"date_trunc": "date_trunc", "extract": "extract", "to_date": "to_date", "to_timestamp": "to_timestamp",
	"current_timestamp": "current_timestamp", "format_timestamp": "format_timestamp", "date_add": "date_add",
	// JSON
	"json_value": "json_value", "json_query": "json_query",
}

// aggregates are refused with their own message: they need windows.
var aggregates = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true, "stddev": true, "variance": true,
	"array_agg": true, "collect_list": true, "collect_set": true, "any_value": true, "first": true, "last": true,
}

// FunctionNames lists the SQL functions queries may call, sorted.
func FunctionNames() []string {
	out := make([]string, 0, len(functions))
	for name := range functions {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
