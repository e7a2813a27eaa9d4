package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// DeltaRsTable is what the delta-rs oracle (oracles/deltars_read.py) reports
// about one table. Schema is the raw Delta schema JSON.
type DeltaRsTable struct {
	Error            string           `json:"error"`
	Version          int64            `json:"version"`
	NumFiles         int              `json:"numFiles"`
	NumRecords       int64            `json:"numRecords"`
	Schema           json.RawMessage  `json:"schema"`
	PartitionColumns []string         `json:"partitionColumns"`
	Txns             map[string]int64 `json:"txns"`
	Rows             []any            `json:"rows"`
	CDF              []map[string]any `json:"cdf"` // with --cdf N: the change rows, with _change_type and _commit_version
}

// OracleDir is the directory of the Python oracle scripts.
func OracleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "oracles")
}

// DeltaRs reads the tables at uris with delta-rs (the deltalake package in
// the test venv) and returns one result per URI, in order. env adds
// variables (AWS_* for S3); args are oracle flags (--rows, --version N,
// --cdf N, --txn APPID...). It fails the test if the oracle itself cannot run.
func DeltaRs(t testing.TB, env []string, uris []string, args ...string) []DeltaRsTable {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append(append([]string{filepath.Join(OracleDir(), "deltars_read.py")}, uris...), args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("delta-rs oracle: %v\n%s%s", err, out, stderr)
	}
	if len(uris) == 1 {
		var one DeltaRsTable
		if err := json.Unmarshal(out, &one); err != nil {
			t.Fatalf("delta-rs oracle output: %v\n%.2000s", err, out)
		}
		return []DeltaRsTable{one}
	}
	var many []DeltaRsTable
	if err := json.Unmarshal(out, &many); err != nil {
		t.Fatalf("delta-rs oracle output: %v\n%.2000s", err, out)
	}
	if len(many) != len(uris) {
		t.Fatalf("delta-rs oracle: %d results for %d tables", len(many), len(uris))
	}
	return many
}

// S3Env returns the AWS_* variables that point a reader at the test MinIO.
func (e *S3Env) AWSEnv() []string {
	return []string{"AWS_ENDPOINT_URL=" + e.Endpoint, "AWS_ACCESS_KEY_ID=" + e.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + e.SecretKey, "AWS_REGION=" + e.Region}
}
