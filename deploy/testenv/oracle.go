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
	CDF              []map[string]any `json:"cdf"`         // with --cdf N: the change rows, with _change_type and _commit_version
	ReadSeconds      float64          `json:"readSeconds"` // opening the table and reading it whole
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
	return runOracle[DeltaRsTable](t, Python(t), "deltars_read.py", env, uris, args)
}

// SparkTable is what the Spark oracle (oracles/spark_read.py, Apache Spark
// with delta-spark) reports about one table.
type SparkTable struct {
	Error   string `json:"error"`
	History []struct {
		Version             int64             `json:"version"`
		Operation           string            `json:"operation"`
		OperationParameters map[string]string `json:"operationParameters"`
	} `json:"history"` // DESCRIBE HISTORY, newest first
	NumRecords int64   `json:"numRecords"`
	CDF        [][]any `json:"cdf"` // with --cdf N: [_change_type, _commit_version] per change row
}

// Spark reads the tables at uris with Apache Spark and delta-spark (in the
// Spark venv; the jars come through Spark's Ivy, cached by test.sh) and
// returns one result per URI, in order. args are oracle flags (--cdf N).
// Each call starts a JVM: about 20 s.
func Spark(t testing.TB, uris []string, args ...string) []SparkTable {
	t.Helper()
	py := need(t, EnvSparkPython)
	return runOracle[SparkTable](t, py, "spark_read.py", []string{EnvSparkIvy + "=" + need(t, EnvSparkIvy)}, uris, args)
}

// runOracle runs an oracle script of OracleDir on uris and decodes its
// output: one object for one URI, a list for several.
func runOracle[T any](t testing.TB, py, script string, env []string, uris []string, args []string) []T {
	t.Helper()
	cmd := exec.Command(py, append(append([]string{filepath.Join(OracleDir(), script)}, uris...), args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("oracle %s: %v\n%s%s", script, err, out, stderr)
	}
	if len(uris) == 1 {
		var one T
		if err := json.Unmarshal(out, &one); err != nil {
			t.Fatalf("oracle %s output: %v\n%.2000s", script, err, out)
		}
		return []T{one}
	}
	var many []T
	if err := json.Unmarshal(out, &many); err != nil {
		t.Fatalf("oracle %s output: %v\n%.2000s", script, err, out)
	}
	if len(many) != len(uris) {
		t.Fatalf("oracle %s: %d results for %d tables", script, len(many), len(uris))
	}
	return many
}

// S3Env returns the AWS_* variables that point a reader at the test MinIO.
func (e *S3Env) AWSEnv() []string {
	return []string{"AWS_ENDPOINT_URL=" + e.Endpoint, "AWS_ACCESS_KEY_ID=" + e.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + e.SecretKey, "AWS_REGION=" + e.Region}
}
