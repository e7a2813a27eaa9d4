package deltalog

import (
	"fmt"
	"math"
	"strings"
)

// Reader features this package knows by name beyond deletion vectors.
const (
	FeatureColumnMapping      = "columnMapping"
	FeatureTimestampNTZ       = "timestampNtz"
	FeatureTypeWidening       = "typeWidening"
	FeatureTypeWideningPrev   = "typeWidening-preview"
	FeatureVariantType        = "variantType"
	FeatureVariantTypePreview = "variantType-preview"
	FeatureV2Checkpoint       = "v2Checkpoint"
	FeatureVacuumProtocol     = "vacuumProtocolCheck"
)

// Column mapping modes (the table property delta.columnMapping.mode).
const (
	ColumnMappingNone = "none"
	ColumnMappingName = "name"
	ColumnMappingID   = "id"
)

// Field metadata keys of column mapping.
const (
	PhysicalNameKey = "delta.columnMapping.physicalName"
	FieldIDKey      = "delta.columnMapping.id"
)

// ColumnMappingMode returns the table's column mapping mode: "none",
// "name" or "id" (lower-cased; an unknown mode is returned as it is).
func ColumnMappingMode(m *Metadata) string {
	mode := strings.ToLower(strings.TrimSpace(m.Configuration["delta.columnMapping.mode"]))
	if mode == "" {
		return ColumnMappingNone
	}
	return mode
}

// PhysicalName is the name of a field's column in data files, statistics
// and partition values under a column mapping mode: its physicalName
// metadata in modes name and id, else its name.
func PhysicalName(f *Field, mode string) string {
	if mode == ColumnMappingNone {
		return f.Name
	}
	if s, ok := f.Metadata[PhysicalNameKey].(string); ok && s != "" {
		return s
	}
	return f.Name
}

// FieldID is a field's column mapping id, and whether it has one.
func FieldID(f *Field) (int, bool) {
	switch v := f.Metadata[FieldIDKey].(type) {
	case float64:
		if v >= 1 && v <= math.MaxInt32 && v == math.Trunc(v) {
			return int(v), true
		}
	case int:
		return v, v >= 1
	case int64:
		return int(v), v >= 1 && v <= math.MaxInt32
	}
	return 0, false
}

// PhysicalSchema returns the schema of a table's data files under column
// mapping mode: every field, nested ones too, named by its physical name,
// its metadata (field id included) kept. Mode none returns s itself. A field
// without a physical name in mode name or id is an error: the table's log
// is inconsistent.
func PhysicalSchema(s *Schema, mode string) (*Schema, error) {
	switch mode {
	case ColumnMappingNone:
		return s, nil
	case ColumnMappingName, ColumnMappingID:
	default:
		return nil, fmt.Errorf("unknown column mapping mode %q (want none, name or id)", mode)
	}
	var conv func(t *Type, path string) (*Type, error)
	conv = func(t *Type, path string) (*Type, error) {
		if t == nil {
			return nil, nil
		}
		out := *t
		var err error
		if t.Fields != nil {
			out.Fields = make([]Field, len(t.Fields))
			for i, f := range t.Fields {
				p := path + "." + f.Name
				if _, ok := f.Metadata[PhysicalNameKey].(string); !ok {
					return nil, fmt.Errorf("column %s has no %s in column mapping mode %s", p[1:], PhysicalNameKey, mode)
				}
				if mode == ColumnMappingID {
					if _, ok := FieldID(&f); !ok {
						return nil, fmt.Errorf("column %s has no %s in column mapping mode id", p[1:], FieldIDKey)
					}
				}
				f.Name = PhysicalName(&f, mode)
				if f.Type, err = conv(f.Type, p); err != nil {
					return nil, err
				}
				out.Fields[i] = f
			}
		}
		if out.Element, err = conv(t.Element, path+".element"); err != nil {
			return nil, err
		}
		if out.Key, err = conv(t.Key, path+".key"); err != nil {
			return nil, err
		}
		if out.Value, err = conv(t.Value, path+".value"); err != nil {
			return nil, err
		}
		return &out, nil
	}
	return conv(s, "")
}

// PassThroughFeatures are the reader features, beyond
// SupportedReaderFeatures, that a reader handing a table's actions on to
// its own readers (the sharing server's delta format) can serve: it reads
// the log and no rows. CREATE TABLE ... LOCATION accepts them.
var PassThroughFeatures = []string{FeatureDeletionVectors, FeatureColumnMapping, FeatureVariantType, FeatureVariantTypePreview}

// ReaderFeatures are the reader features a table needs of its readers:
// the protocol's readerFeatures (reader version 3), or columnMapping for
// reader version 2 with a column mapping mode set.
func ReaderFeatures(p *Protocol, m *Metadata) []string {
	var out []string
	if p.MinReaderVersion >= 3 {
		out = append(out, p.ReaderFeatures...)
	}
	if p.MinReaderVersion == 2 && ColumnMappingMode(m) != ColumnMappingNone {
		out = append(out, FeatureColumnMapping)
	}
	return out
}
