package deltawriter

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// HiveDefaultPartition is the directory name of a null partition value.
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// partitionValue serializes row i of a partition column as the Delta protocol
// prescribes ("Partition Value Serialization"); nil means null.
func partitionValue(arr arrow.Array, i int, t *deltalog.Type) (*string, error) {
	if arr.IsNull(i) {
		return nil, nil
	}
	var s string
	switch a := arr.(type) {
	case *array.String:
		s = a.Value(i)
		if s == "" {
			return nil, nil // Spark and delta-rs store empty strings as null partitions
		}
	case *array.LargeString:
		s = a.Value(i)
		if s == "" {
			return nil, nil
		}
	case *array.Boolean:
		s = strconv.FormatBool(a.Value(i))
	case *array.Int8:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		s = strconv.FormatInt(a.Value(i), 10)
	case *array.Float32:
		s = strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		s = strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Date32:
		s = a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		ts := a.Value(i).ToTime(unit).UTC()
		if t.Name == deltalog.TypeTimestampNTZ {
			s = ts.Format("2006-01-02 15:04:05.000000")
		} else {
			s = ts.Format("2006-01-02T15:04:05.000000Z")
		}
	case *array.Decimal128:
		dt := a.DataType().(*arrow.Decimal128Type)
		s = a.Value(i).ToString(dt.Scale)
	default:
		return nil, fmt.Errorf("partition values of type %s are not supported", arr.DataType())
	}
	return &s, nil
}

// escapePartitionValue escapes a value for a Hive-style directory name, the
// way Spark does (ExternalCatalogUtils.escapePathName).
func escapePartitionValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{}[]^", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// partitionDir renders the directory of one partition, e.g.
// "date=2024-01-31/region=eu%2Fwest/".
func partitionDir(cols []string, values map[string]*string) string {
	var b strings.Builder
	for _, c := range cols {
		b.WriteString(escapePartitionValue(c))
		b.WriteByte('=')
		if v := values[c]; v == nil {
			b.WriteString(HiveDefaultPartition)
		} else {
			b.WriteString(escapePartitionValue(*v))
		}
		b.WriteByte('/')
	}
	return b.String()
}

// encodeAddPath turns an object key (relative to the table root) into the
// URI-encoded relative path stored in add.path.
func encodeAddPath(key string) string { return (&url.URL{Path: key}).EscapedPath() }

// KeyForPath maps an add/remove path to its object key relative to the table
// root. Absolute URIs (files outside the table) are refused.
func KeyForPath(p string) (string, error) {
	if strings.Contains(p, "://") || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "file:") {
		return "", fmt.Errorf("data file %q is outside the table root: absolute paths are not supported", p)
	}
	k, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("data file %q: bad URI encoding: %w", p, err)
	}
	return k, nil
}
