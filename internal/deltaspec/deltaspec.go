// Package deltaspec checks Delta log files against the JSON types of the
// Delta transaction protocol (PROTOCOL.md of delta-io/delta, "Actions" and
// "Last Checkpoint File"), and commitInfo against the types Spark reads it
// with (operationParameters and operationMetrics are maps of strings). Tests
// use it on every log Sluice writes: a field of the wrong JSON type, a
// missing required field, or a field or action the spec does not know fails.
package deltaspec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// kind is a JSON type of the spec.
type kind int

const (
	kString     kind = iota
	kJSONString      // a string holding a JSON object (schemaString, stats)
	kLong            // an integral number (int64 in a checkpoint)
	kInt             // an integral number of 32 bits (int32 in a checkpoint)
	kBool
	kStringArray
	kStringMap     // object of string values
	kNullStringMap // object of string or null values (partition values)
	kStruct
)

// field is one field of an action: its type, whether it is required, and
// the fields of a struct.
type field struct {
	kind     kind
	required bool
	fields   map[string]field
}

func req(k kind) field { return field{kind: k, required: true} }
func opt(k kind) field { return field{kind: k} }
func strct(required bool, fs map[string]field) field {
	return field{kind: kStruct, required: required, fields: fs}
}

var deletionVector = strct(false, map[string]field{
	"storageType": req(kString), "pathOrInlineDv": req(kString), "offset": opt(kInt),
	"sizeInBytes": req(kInt), "cardinality": req(kLong), "maxRowIndex": opt(kLong),
})

// actions is the schema of every action of a commit file.
var actions = map[string]map[string]field{
	"protocol": {
		"minReaderVersion": req(kInt), "minWriterVersion": req(kInt),
		"readerFeatures": opt(kStringArray), "writerFeatures": opt(kStringArray),
	},
	"metaData": {
		"id": req(kString), "name": opt(kString), "description": opt(kString),
		"format":       strct(true, map[string]field{"provider": req(kString), "options": opt(kStringMap)}),
		"schemaString": req(kJSONString), "partitionColumns": req(kStringArray),
		"createdTime": opt(kLong), "configuration": req(kStringMap),
	},
	"add": {
		"path": req(kString), "partitionValues": req(kNullStringMap), "size": req(kLong),
		"modificationTime": req(kLong), "dataChange": req(kBool), "stats": opt(kJSONString),
		"tags": opt(kStringMap), "deletionVector": deletionVector, "baseRowId": opt(kLong),
		"defaultRowCommitVersion": opt(kLong), "clusteringProvider": opt(kString),
	},
	"remove": {
		"path": req(kString), "deletionTimestamp": opt(kLong), "dataChange": req(kBool),
		"extendedFileMetadata": opt(kBool), "partitionValues": opt(kNullStringMap), "size": opt(kLong),
		"stats": opt(kJSONString), "tags": opt(kStringMap), "deletionVector": deletionVector,
		"baseRowId": opt(kLong), "defaultRowCommitVersion": opt(kLong),
	},
	"cdc": {
		"path": req(kString), "partitionValues": req(kNullStringMap), "size": req(kLong),
		"dataChange": req(kBool), "tags": opt(kStringMap),
	},
	"txn": {"appId": req(kString), "version": req(kLong), "lastUpdated": opt(kLong)},
	"domainMetadata": {
		"domain": req(kString), "configuration": req(kString), "removed": req(kBool),
	},
	"checkpointMetadata": {"version": req(kLong), "tags": opt(kStringMap)},
	"sidecar": {
		"path": req(kString), "sizeInBytes": req(kLong), "modificationTime": req(kLong), "tags": opt(kStringMap),
	},
	// The protocol leaves commitInfo free-form; these are the fields and
	// types of Spark's CommitInfo, which DESCRIBE HISTORY decodes. Fields
	// Spark does not know fail too, so nothing Sluice adds goes unchecked.
	// Spark's decoder turns a scalar parameter value into a string but
	// fails on an array or object; Spark itself writes some scalars raw
	// (false, null), Sluice writes only strings, and this checks for that.
	"commitInfo": {
		"version": opt(kLong), "inCommitTimestamp": opt(kLong), "timestamp": opt(kLong),
		"userId": opt(kString), "userName": opt(kString), "operation": opt(kString),
		"operationParameters": opt(kStringMap), "clusterId": opt(kString),
		"readVersion": opt(kLong), "isolationLevel": opt(kString), "isBlindAppend": opt(kBool),
		"operationMetrics": opt(kStringMap), "userMetadata": opt(kString), "tags": opt(kStringMap),
		"engineInfo": opt(kString), "txnId": opt(kString),
	},
}

// lastCheckpoint is the schema of _delta_log/_last_checkpoint.
var lastCheckpoint = map[string]field{
	"version": req(kLong), "size": req(kLong), "parts": opt(kInt), "sizeInBytes": opt(kLong),
	"numOfAddFiles": opt(kLong), "checkpointSchema": opt(kStruct), "checksum": opt(kString),
	"v2Checkpoint": opt(kStruct), "tags": opt(kStringMap),
}

// CheckCommit checks every line of a commit file and returns one message
// per mismatch ("line 2: add.size: want a long, got \"12\"").
func CheckCommit(body []byte) []string {
	var errs []string
	for i, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		for _, e := range CheckAction(line) {
			errs = append(errs, fmt.Sprintf("line %d: %s", i+1, e))
		}
	}
	return errs
}

// CheckAction checks one action (one line of a commit file).
func CheckAction(line []byte) []string {
	var obj map[string]any
	if err := decode(line, &obj); err != nil {
		return []string{fmt.Sprintf("not a JSON object: %v", err)}
	}
	if len(obj) != 1 {
		return []string{fmt.Sprintf("an action has exactly one key, got %d (%s)", len(obj), keys(obj))}
	}
	for name, v := range obj {
		fs, ok := actions[name]
		if !ok {
			return []string{fmt.Sprintf("unknown action %q", name)}
		}
		return checkStruct(name, fs, v)
	}
	return nil
}

// CheckLastCheckpoint checks the content of _last_checkpoint.
func CheckLastCheckpoint(body []byte) []string {
	var v any
	if err := decode(body, &v); err != nil {
		return []string{fmt.Sprintf("_last_checkpoint: not JSON: %v", err)}
	}
	return checkStruct("_last_checkpoint", lastCheckpoint, v)
}

// CheckTable checks every commit file, the _last_checkpoint and the schema
// of every Parquet checkpoint of a table.
func CheckTable(ctx context.Context, st objstore.Store) ([]string, error) {
	objs, err := st.List(ctx, "_delta_log/", "")
	if err != nil {
		return nil, fmt.Errorf("list the log of %s: %w", st.URI(), err)
	}
	var errs, checkpoints []string
	commits := 0
	for _, o := range objs {
		if strings.Contains(o.Key, ".checkpoint.") && strings.HasSuffix(o.Key, ".parquet") {
			checkpoints = append(checkpoints, o.Key)
			continue
		}
		isCommit := strings.HasSuffix(o.Key, ".json") && !strings.Contains(strings.TrimPrefix(o.Key, "_delta_log/"), ".checkpoint")
		if !isCommit && o.Key != "_delta_log/_last_checkpoint" {
			continue
		}
		b, err := objstore.ReadAll(ctx, st, o.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", o.Key, err)
		}
		var found []string
		if isCommit {
			commits++
			found = CheckCommit(b)
		} else {
			found = CheckLastCheckpoint(b)
		}
		for _, e := range found {
			errs = append(errs, o.Key+": "+e)
		}
	}
	if commits == 0 {
		return nil, fmt.Errorf("no commit files under %s/_delta_log", st.URI())
	}
	cpErrs, err := checkCheckpoints(ctx, st, checkpoints)
	return append(errs, cpErrs...), err
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func keys(m map[string]any) string { return strings.Join(sortedKeys(m), ", ") }

func checkStruct(path string, fs map[string]field, v any) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: want an object, got %s", path, show(v))}
	}
	var errs []string
	for _, k := range sortedKeys(obj) {
		f, ok := fs[k]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s.%s: not a field of the spec", path, k))
			continue
		}
		errs = append(errs, checkValue(path+"."+k, f, obj[k])...)
	}
	for k, f := range fs {
		if _, ok := obj[k]; f.required && !ok {
			errs = append(errs, fmt.Sprintf("%s.%s: required, missing", path, k))
		}
	}
	sort.Strings(errs)
	return errs
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func checkValue(path string, f field, v any) []string {
	bad := func(want string) []string {
		return []string{fmt.Sprintf("%s: want %s, got %s", path, want, show(v))}
	}
	if v == nil {
		if f.required {
			return bad("a value")
		}
		return nil
	}
	switch f.kind {
	case kString:
		if _, ok := v.(string); !ok {
			return bad("a string")
		}
	case kJSONString:
		s, ok := v.(string)
		if !ok {
			return bad("a string holding JSON")
		}
		var inner map[string]any
		if err := decode([]byte(s), &inner); err != nil {
			return bad("a string holding a JSON object")
		}
	case kLong, kInt:
		n, ok := v.(json.Number)
		if !ok {
			return bad("a long")
		}
		i, err := n.Int64()
		if err != nil {
			return bad("an integral long")
		}
		if f.kind == kInt && int64(int32(i)) != i {
			return bad("an int")
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return bad("a boolean")
		}
	case kStringArray:
		arr, ok := v.([]any)
		if !ok {
			return bad("an array of strings")
		}
		for _, e := range arr {
			if _, ok := e.(string); !ok {
				return bad("an array of strings")
			}
		}
	case kStringMap, kNullStringMap:
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("a map of strings")
		}
		for _, k := range sortedKeys(obj) {
			e := obj[k]
			if _, ok := e.(string); !ok && (e != nil || f.kind == kStringMap) {
				return []string{fmt.Sprintf("%s.%s: want a string, got %s", path, k, show(e))}
			}
		}
	case kStruct:
		if f.fields == nil { // a struct the spec leaves open
			if _, ok := v.(map[string]any); !ok {
				return bad("an object")
			}
			return nil
		}
		return checkStruct(path, f.fields, v)
	}
	return nil
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
