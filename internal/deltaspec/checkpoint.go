package deltaspec

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// CheckCheckpoint checks the schema of a Parquet checkpoint: every column
// is an action of the spec (commitInfo aside) and every field of an action
// has the Parquet type of its protocol type (long int64, int int32, string
// UTF-8 byte array, boolean, struct group, list and map annotated groups of
// strings).
func CheckCheckpoint(body []byte) []string {
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return []string{fmt.Sprintf("not a Parquet file: %v", err)}
	}
	var errs []string
	for _, col := range f.Schema().Fields() {
		fs, ok := actions[col.Name()]
		if !ok || col.Name() == "commitInfo" {
			errs = append(errs, fmt.Sprintf("column %s: not an action of a checkpoint", col.Name()))
			continue
		}
		errs = append(errs, checkGroup(col.Name(), fs, col)...)
	}
	return errs
}

func checkGroup(path string, fs map[string]field, n parquet.Node) []string {
	if n.Leaf() {
		return []string{fmt.Sprintf("%s: want a struct, got %s", path, describe(n))}
	}
	var errs []string
	for _, c := range n.Fields() {
		f, ok := fs[c.Name()]
		p := path + "." + c.Name()
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: not a field of the spec", p))
			continue
		}
		if f.kind == kStruct && f.fields != nil {
			errs = append(errs, checkGroup(p, f.fields, c)...)
			continue
		}
		if want, got := parquetKind(f.kind), describe(c); want != got {
			errs = append(errs, fmt.Sprintf("%s: want %s, got %s", p, want, got))
		}
	}
	sort.Strings(errs)
	return errs
}

// parquetKind is how describe renders the Parquet form of a spec type.
func parquetKind(k kind) string {
	switch k {
	case kString, kJSONString:
		return "string"
	case kLong:
		return "int64"
	case kInt:
		return "int32"
	case kBool:
		return "boolean"
	case kStringArray:
		return "list<string>"
	case kStringMap, kNullStringMap:
		return "map<string,string>"
	}
	return "struct"
}

// describe renders a Parquet node as one of parquetKind's names, or as its
// physical and logical type when it is none of them.
func describe(n parquet.Node) string {
	logical := ""
	if lt := n.Type().LogicalType(); lt != nil {
		logical = lt.String()
	}
	if n.Leaf() {
		switch k := n.Type().Kind(); {
		case k == parquet.ByteArray && logical == "STRING":
			return "string"
		case k == parquet.Int64:
			return "int64"
		case k == parquet.Int32:
			return "int32"
		case k == parquet.Boolean:
			return "boolean"
		default:
			return fmt.Sprintf("%s %s", k, logical)
		}
	}
	var leaves []string
	var walk func(parquet.Node)
	walk = func(n parquet.Node) {
		for _, c := range n.Fields() {
			if c.Leaf() {
				leaves = append(leaves, describe(c))
			} else {
				walk(c)
			}
		}
	}
	walk(n)
	switch logical {
	case "LIST":
		return "list<" + strings.Join(leaves, ",") + ">"
	case "MAP":
		return "map<" + strings.Join(leaves, ",") + ">"
	}
	return "struct"
}

// checkCheckpoints checks every classic or multi-part Parquet checkpoint
// under _delta_log.
func checkCheckpoints(ctx context.Context, st objstore.Store, keys []string) ([]string, error) {
	var errs []string
	for _, k := range keys {
		b, err := objstore.ReadAll(ctx, st, k)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k, err)
		}
		for _, e := range CheckCheckpoint(b) {
			errs = append(errs, k+": "+e)
		}
	}
	return errs, nil
}
