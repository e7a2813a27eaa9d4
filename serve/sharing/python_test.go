package sharing

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/fileurl"
	"github.com/sluice-io/sluice/testdata"
)

// ordersRows are the rows appended to the S3 table, one batch per version
// (1, 2, 3; version 0 creates the table).
var ordersRows = []string{
	`[{"id":1,"name":"a","amount":1.5,"day":"2026-01-01","region":"eu"},
	  {"id":2,"name":"b","amount":2.5,"day":"2026-01-02","region":"us"},
	  {"id":3,"name":null,"amount":null,"day":null,"region":"eu"}]`,
	`[{"id":4,"name":"d","amount":4.5,"day":"2026-01-04","region":"eu"},
	  {"id":5,"name":"e","amount":5.5,"day":"2026-01-05","region":"apac"}]`,
	`[{"id":6,"name":"f","amount":6.5,"day":"2026-01-06","region":null},
	  {"id":7,"name":"g","amount":7.5,"day":"2026-01-07","region":"us"}]`,
}

func TestPythonConnector(t *testing.T) {
	s3env := testenv.MinIO(t)
	testenv.Python(t) // fails now, not after the setup, when the venv is missing
	ctx := context.Background()
	golden := testdata.Path("delta-golden", "snapshot-data3")
	if _, err := os.Stat(filepath.Join(golden, "_delta_log")); err != nil {
		t.Fatalf("golden table: %v (see testdata/delta-golden/README.md)", err)
	}

	// An S3 table with three appends.
	bucket := s3env.NewBucket(t)
	s3opts := []objstore.S3Option{objstore.WithEndpoint(s3env.Endpoint), objstore.WithRegion(s3env.Region),
		objstore.WithPathStyle(true), objstore.WithStaticCredentials(s3env.AccessKey, s3env.SecretKey, "")}
	st, err := objstore.NewS3(ctx, bucket, "sales/orders", s3opts...)
	if err != nil {
		t.Fatal(err)
	}
	schema := deltalog.Struct(
		deltalog.Field{Name: "id", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: true},
		deltalog.Field{Name: "name", Type: deltalog.Primitive(deltalog.TypeString), Nullable: true},
		deltalog.Field{Name: "amount", Type: deltalog.Primitive(deltalog.TypeDouble), Nullable: true},
		deltalog.Field{Name: "day", Type: deltalog.Primitive(deltalog.TypeDate), Nullable: true},
		deltalog.Field{Name: "region", Type: deltalog.Primitive(deltalog.TypeString), Nullable: true},
	)
	tbl := deltawriter.New(st)
	if _, err := tbl.Create(ctx, schema, deltawriter.CreateOptions{PartitionColumns: []string{"region"}}); err != nil {
		t.Fatal(err)
	}
	as, err := deltalog.ArrowSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range ordersRows {
		rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, as, strings.NewReader(rows))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tbl.Append(ctx, []arrow.Record{rec}); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	s3uri := "s3://" + bucket + "/sales/orders"

	// The catalog: share q holds both tables, with history, for acme.
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	var token string
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateDatabase(catalog.Database{Name: "sales"}); err != nil {
			return err
		}
		if _, err := tx.CreateSchema(catalog.Schema{Database: "sales", Name: "eu"}); err != nil {
			return err
		}
		for name, loc := range map[string]string{"orders": s3uri, "snap": golden} {
			if _, err := tx.CreateRelation(catalog.Relation{Database: "sales", Schema: "eu", Name: name, Kind: object.KindTable, Location: loc, External: true}); err != nil {
				return err
			}
		}
		if _, err := tx.CreateShare(catalog.Share{Name: "q"}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("q", catalog.ShareTable{Table: "sales.eu.orders", WithHistory: true}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("q", catalog.ShareTable{Table: "sales.eu.snap", ShareSchema: "golden", WithHistory: true}); err != nil {
			return err
		}
		_, token, err = tx.CreateRecipient(catalog.Recipient{Name: "acme"})
		if err != nil {
			return err
		}
		_, err = tx.GrantShare("q", "acme")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := &policy.MemorySink{}
	pol, err := policy.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Local tables are served by the production file endpoint, mounted
	// beside the protocol, with URLs signed by the table's catalog ID.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fileSigner, err := fileurl.NewSigner([]byte(strings.Repeat("k", fileurl.KeySize)), srv.URL+"/files/")
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(fileSigner.Pattern(), fileSigner.Handler(fileurl.SharedTables(cat)))
	h, err := NewHandler(cat, pol, WithSigner(StoreSigner{Local: fileSigner}), WithAuditSink(sink),
		WithStoreOpener(func(ctx context.Context, uri string) (objstore.Store, error) {
			if rest, ok := strings.CutPrefix(uri, "s3://"); ok {
				b, prefix, _ := strings.Cut(rest, "/")
				return objstore.NewS3(ctx, b, prefix, s3opts...)
			}
			return objstore.Open(ctx, uri)
		}))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(DefaultPrefix+"/", h)
	profile := filepath.Join(t.TempDir(), "profile.share")
	pb, _ := json.Marshal(map[string]any{"shareCredentialsVersion": 1, "endpoint": srv.URL + DefaultPrefix, "bearerToken": token})
	if err := os.WriteFile(profile, pb, 0o600); err != nil {
		t.Fatal(err)
	}

	// What delta-rs reads.
	awsEnv := s3env.AWSEnv()
	deltaRs := func(uri string, version int) []any {
		args := []string{"--rows"}
		if version >= 0 {
			args = append(args, "--version", strconv.Itoa(version))
		}
		res := testenv.DeltaRs(t, awsEnv, []string{uri}, args...)[0]
		if res.Error != "" {
			t.Fatalf("delta-rs %s@%d: %s", uri, version, res.Error)
		}
		rows, err := testenv.SortRows(res.Rows)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	ordersAt := make([][]any, 4)
	for v := range ordersAt {
		ordersAt[v] = deltaRs(s3uri, v)
	}
	latest := ordersAt[3]
	snapLatest, snap1 := deltaRs(golden, -1), deltaRs(golden, 1)
	if len(latest) != 7 || len(snapLatest) == 0 || reflect.DeepEqual(snapLatest, snap1) {
		t.Fatalf("unexpected oracle rows: %d orders, %d/%d snapshot-data3", len(latest), len(snapLatest), len(snap1))
	}

	// Commit times as the server sees them (the log files' times on MinIO).
	commits, err := listCommits(ctx, st)
	if err != nil || len(commits) != 4 {
		t.Fatalf("commits %v, %v", commits, err)
	}
	at := func(v int) string { return time.UnixMilli(commits[v].ms).UTC().Format("2006-01-02T15:04:05.000Z") }

	pred := func(col, op, typ, v string) string {
		b, _ := json.Marshal(map[string]any{"op": op, "children": []any{
			map[string]string{"op": "column", "name": col, "valueType": typ},
			map[string]string{"op": "literal", "value": v, "valueType": typ}}})
		return string(b)
	}
	ops := []map[string]any{
		{"op": "list_all_tables"},
		{"op": "load", "table": "q.eu.orders"},
		{"op": "load", "table": "q.eu.orders", "use_delta_format": true},
		{"op": "load", "table": "q.eu.orders", "limit": 2},
		{"op": "load", "table": "q.eu.orders", "jsonPredicateHints": pred("region", "equal", "string", "eu")},
		{"op": "load", "table": "q.eu.orders", "jsonPredicateHints": pred("id", "greaterThan", "long", "5"), "use_delta_format": true},
		{"op": "load", "table": "q.eu.orders", "version": 1},
		{"op": "load", "table": "q.eu.orders", "version": 2, "use_delta_format": true},
		{"op": "changes", "table": "q.eu.orders", "starting_version": 0},
		{"op": "changes", "table": "q.eu.orders", "starting_version": 2, "ending_version": 3, "use_delta_format": true},
		{"op": "load", "table": "q.golden.snap"},
		{"op": "load", "table": "q.golden.snap", "version": 1},
		{"op": "load", "table": "q.golden.snap", "use_delta_format": true},
		{"op": "load", "table": "q.eu.orders", "timestamp": at(2)},
		{"op": "changes", "table": "q.eu.orders", "starting_timestamp": at(3)},
	}
	start := time.Now()
	results := runConnector(t, profile, ops)
	t.Logf("%d connector operations in %v", len(ops), time.Since(start).Round(time.Millisecond))
	rowsOf := func(i int) []any {
		t.Helper()
		if results[i].Error != "" {
			t.Fatalf("op %d %v: %s", i, ops[i], results[i].Error)
		}
		rows, err := testenv.SortRows(results[i].Rows)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	same := func(i int, want []any) {
		t.Helper()
		if got := rowsOf(i); !reflect.DeepEqual(got, want) {
			t.Errorf("op %d %v:\n got %v\nwant %v", i, ops[i], got, want)
		}
	}
	where := func(rows []any, keep func(map[string]any) bool) []any {
		var out []any
		for _, r := range rows {
			if keep(r.(map[string]any)) {
				out = append(out, r)
			}
		}
		return out
	}

	if got := results[0].Tables; !reflect.DeepEqual(got, []string{"q.eu.orders", "q.golden.snap"}) || results[0].Error != "" {
		t.Errorf("list_all_tables: %v %s", got, results[0].Error)
	}
	same(1, latest)
	same(2, latest)
	if got := rowsOf(3); len(got) != 2 || len(where(latest, func(r map[string]any) bool { return containsRow(got, r) })) != 2 {
		t.Errorf("limit 2: %v", got)
	}
	// The server filtered by partition: the client does not filter itself.
	same(4, where(latest, func(r map[string]any) bool { return r["region"] == "eu" }))
	// By statistics: files whose ids are all <= 5 were skipped, nothing more.
	if got := rowsOf(5); !reflect.DeepEqual(where(got, func(r map[string]any) bool { return r["id"].(float64) > 5 }),
		where(latest, func(r map[string]any) bool { return r["id"].(float64) > 5 })) || len(got) >= len(latest) {
		t.Errorf("stats filter: %v", got)
	}
	same(6, ordersAt[1])
	same(7, ordersAt[2])
	// Changes: each version's commit timestamp is one value per version,
	// increasing with it; the rest of the row is checked against delta-rs.
	for i, want := range map[int][]any{8: changesOf(ordersAt, 0, 3), 9: changesOf(ordersAt, 2, 3)} {
		got := rowsOf(i)
		stamps := map[float64]any{}
		for _, r := range got {
			m := r.(map[string]any)
			v := m["_commit_version"].(float64)
			if prev, ok := stamps[v]; ok && !reflect.DeepEqual(prev, m["_commit_timestamp"]) {
				t.Errorf("op %d: version %v has two commit timestamps: %v, %v", i, v, prev, m["_commit_timestamp"])
			}
			stamps[v] = m["_commit_timestamp"]
			delete(m, "_commit_timestamp")
		}
		if len(stamps) == 0 {
			t.Errorf("op %d: no changes", i)
		}
		got, _ = testenv.SortRows(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("op %d %v:\n got %v\nwant %v", i, ops[i], got, want)
		}
	}
	same(10, snapLatest)
	same(11, snap1)
	same(12, snapLatest)
	same(13, ordersAt[2])
	if got := rowsOf(14); len(got) != len(changesOf(ordersAt, 3, 3)) {
		t.Errorf("changes from the timestamp of version 3: %v", got)
	}

	// Every request was audited as acme's, with what it handed out.
	var queries, files int
	for _, ev := range sink.Events() {
		if ev.Request == "query" && ev.Principal == "recipient:acme" && ev.Status == 200 && ev.Files != nil {
			queries++
			files += *ev.Files
		}
	}
	if queries < 9 || files == 0 {
		t.Errorf("audit: %d queries, %d files", queries, files)
	}

	// Per-recipient filters: share geo holds orders filtered by the
	// recipient's region property, for r_eu, r_us and r_none (without it).
	geoTokens := map[string]string{}
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateShare(catalog.Share{Name: "geo"}); err != nil {
			return err
		}
		if _, err := tx.AddShareTable("geo", catalog.ShareTable{Table: "sales.eu.orders", WithHistory: true,
			Filter: "region = CURRENT_RECIPIENT('region')"}); err != nil {
			return err
		}
		for name, region := range map[string]string{"r_eu": "eu", "r_us": "us", "r_none": ""} {
			rc := catalog.Recipient{Name: name}
			if region != "" {
				rc.SharingProperties = map[string]string{"region": region}
			}
			_, tok, err := tx.CreateRecipient(rc)
			if err != nil {
				return err
			}
			geoTokens[name] = tok
			if _, err := tx.GrantShare("geo", name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inRegion := func(rows []any, region string) []any {
		return where(rows, func(r map[string]any) bool { return region != "" && r["region"] == region })
	}
	for name, region := range map[string]string{"r_eu": "eu", "r_us": "us", "r_none": ""} {
		t.Run("recipient filter "+name, func(t *testing.T) {
			prof := filepath.Join(t.TempDir(), name+".share")
			pb, _ := json.Marshal(map[string]any{"shareCredentialsVersion": 1, "endpoint": srv.URL + DefaultPrefix, "bearerToken": geoTokens[name]})
			if err := os.WriteFile(prof, pb, 0o600); err != nil {
				t.Fatal(err)
			}
			other := "us"
			if region == "us" {
				other = "eu"
			}
			gops := []map[string]any{
				{"op": "load", "table": "geo.eu.orders"},
				{"op": "load", "table": "geo.eu.orders", "jsonPredicateHints": pred("region", "equal", "string", other)},
				{"op": "load", "table": "geo.eu.orders", "jsonPredicateHints": pred("region", "equal", "string", region)},
				{"op": "load", "table": "geo.eu.orders", "version": 2},
				{"op": "changes", "table": "geo.eu.orders", "starting_version": 0},
				{"op": "paged_files", "table": "geo.eu.orders", "max_files": 1},
			}
			res := runConnector(t, prof, gops)
			gotRows := func(i int) []any {
				t.Helper()
				if res[i].Error != "" {
					t.Fatalf("op %d %v: %s", i, gops[i], res[i].Error)
				}
				rows, err := testenv.SortRows(res[i].Rows)
				if err != nil {
					t.Fatal(err)
				}
				return rows
			}
			check := func(i int, want []any) {
				t.Helper()
				if got := gotRows(i); len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
					t.Errorf("op %d %v:\n got %v\nwant %v", i, gops[i], got, want)
				}
			}
			check(0, inRegion(latest, region))
			check(1, nil)
			check(2, inRegion(latest, region))
			check(3, inRegion(ordersAt[2], region))
			changes := gotRows(4)
			for _, r := range changes {
				delete(r.(map[string]any), "_commit_timestamp")
			}
			changes, _ = testenv.SortRows(changes)
			if want := inRegion(changesOf(ordersAt, 0, 3), region); len(changes) != len(want) || len(want) > 0 && !reflect.DeepEqual(changes, want) {
				t.Errorf("changes:\n got %v\nwant %v", changes, want)
			}
			// Pages of one file: as many pages as the recipient has files
			// (one file per append and region), and at least one page.
			wantFiles := map[string]int{"eu": 2, "us": 2, "": 0}[region]
			if res[5].Error != "" || len(res[5].Files) != wantFiles || res[5].Pages != max(wantFiles, 1) {
				t.Errorf("paged files: %+v, want %d files", res[5], wantFiles)
			}
		})
	}
}

// changesOf is the change data feed of an append-only table from the rows
// delta-rs reads at each version: the rows new at version v are inserts of
// v. The commit timestamp is checked apart (dropped here and by the caller).
func changesOf(at [][]any, from, to int) []any {
	var out []any
	for v := max(from, 0); v <= to; v++ {
		var prev []any
		if v > 0 {
			prev = at[v-1]
		}
		for _, r := range multisetMinus(at[v], prev) {
			m := map[string]any{}
			for k, x := range r.(map[string]any) {
				m[k] = x
			}
			m["_change_type"] = "insert"
			m["_commit_version"] = float64(v)
			out = append(out, m)
		}
	}
	rows, _ := testenv.SortRows(out)
	return rows
}

func multisetMinus(a, b []any) []any {
	count := map[string]int{}
	for _, r := range b {
		k, _ := json.Marshal(r)
		count[string(k)]++
	}
	var out []any
	for _, r := range a {
		k, _ := json.Marshal(r)
		if count[string(k)] > 0 {
			count[string(k)]--
			continue
		}
		out = append(out, r)
	}
	return out
}

func containsRow(rows []any, r map[string]any) bool {
	for _, x := range rows {
		if reflect.DeepEqual(x, any(r)) {
			return true
		}
	}
	return false
}

// connectorResult is one operation's result from sharing_client.py.
type connectorResult struct {
	Tables   []string `json:"tables"`
	Rows     []any    `json:"rows"`
	Error    string   `json:"error"`
	Files    []string `json:"files"`
	Pages    int      `json:"pages"`
	Versions []int64  `json:"versions"`
}

// runConnector runs the real Python connector (oracles/sharing_client.py)
// on ops with the profile, one result per op.
func runConnector(t *testing.T, profile string, ops []map[string]any) []connectorResult {
	t.Helper()
	spec, _ := json.Marshal(map[string]any{"profile": profile, "oracles": testenv.OracleDir(), "ops": ops})
	cmd := exec.Command(testenv.Python(t), filepath.Join(testenv.OracleDir(), "sharing_client.py"))
	cmd.Stdin = strings.NewReader(string(spec))
	cmd.Env = os.Environ()
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("sharing client: %v\n%s%s", err, out, stderr)
	}
	var results []connectorResult
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(ops) {
		t.Fatalf("client output: %v\n%.3000s", err, out)
	}
	return results
}
