package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-io/sluice/deltawriter"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

const deltaUsage = `Inspect and maintain Delta Lake tables, local or on S3.

Usage:
  sluice delta inspect    URI [--version N | --timestamp T] [--json]
  sluice delta optimize   URI [--target-size BYTES]
  sluice delta vacuum     URI [--retain 168h] [--dry-run] [--force]
  sluice delta checkpoint URI

URI is a directory path, file:///abs/path or s3://bucket/prefix. S3 is
configured by the standard AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_PROFILE, AWS_ROLE_ARN, ...) plus
AWS_ENDPOINT_URL for S3-compatible stores, AWS_S3_FORCE_PATH_STYLE=true, and
SLUICE_S3_SSE (AES256 | aws:kms) with SLUICE_S3_KMS_KEY_ID for the
encryption of what Sluice writes.
`

func runDelta(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, deltaUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"inspect": deltaInspect, "optimize": deltaOptimize, "vacuum": deltaVacuum, "checkpoint": deltaCheckpoint,
	}[args[0]]
	if sub == nil {
		fmt.Fprintf(stderr, "sluice delta: unknown subcommand %q\n\n%s", args[0], deltaUsage)
		return errUsage
	}
	return sub(ctx, args[1:], stdout, stderr)
}

// openTable parses the single URI argument and opens the table's store.
func openTable(ctx context.Context, fsName string, pos []string, stderr io.Writer) (*deltawriter.Table, error) {
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "sluice delta %s: want exactly one table URI, got %d arguments (see --help)\n", fsName, len(pos))
		return nil, errUsage
	}
	return deltawriter.Open(ctx, pos[0])
}

func deltaInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", `Show a Delta table's version, files, records, schema and recent commits.
Records are the live rows: those deletion vectors mark deleted are counted
apart (Deleted; deletedRecords in --json), each deletion vector read and
checked.

Usage: sluice delta inspect URI [--version N | --timestamp T] [--json]

Examples:
  sluice delta inspect ./warehouse/sales/orders
  sluice delta inspect s3://lake/sales/orders --version 12 --json
`, stderr)
	ver := fs.Int64("version", -1, "inspect this version instead of the latest")
	ts := fs.String("timestamp", "", "inspect the latest version committed at or before this RFC 3339 time")
	asJSON := fs.Bool("json", false, "print one JSON object (version, numFiles, numRecords, sizeBytes, partitionColumns, schema, txns, minReaderVersion, minWriterVersion, ...)")
	history := fs.Int("history", 5, "number of recent commits to show (text output)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	t, err := openTable(ctx, "inspect", pos, stderr)
	if err != nil {
		return err
	}
	var opts []deltalog.LoadOption
	if *ver >= 0 && *ts != "" {
		fmt.Fprintln(stderr, "sluice delta inspect: --version and --timestamp are exclusive")
		return errUsage
	}
	if *ver >= 0 {
		opts = append(opts, deltalog.AtVersion(*ver))
	}
	if *ts != "" {
		at, err := time.Parse(time.RFC3339Nano, *ts)
		if err != nil {
			return fmt.Errorf("--timestamp %q: want RFC 3339, e.g. 2024-05-01T12:00:00Z", *ts)
		}
		opts = append(opts, deltalog.AtTimestamp(at))
	}
	info, err := t.Inspect(ctx, opts...)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Table\t%s\n", info.URI)
	fmt.Fprintf(w, "Version\t%d (%s)\n", info.Version, info.Timestamp)
	fmt.Fprintf(w, "Files\t%d (%s)\n", info.NumFiles, humanBytes(info.SizeBytes))
	fmt.Fprintf(w, "Records\t%d\n", info.NumRecords)
	if info.DeletionVectors > 0 {
		fmt.Fprintf(w, "Deleted\t%d records, by deletion vectors on %d files\n", info.DeletedRecords, info.DeletionVectors)
	}
	fmt.Fprintf(w, "Protocol\treader %d, writer %d %s\n", info.MinReaderVersion, info.MinWriterVersion, strings.Join(append(info.ReaderFeatures, info.WriterFeatures...), " "))
	if len(info.PartitionColumns) > 0 {
		fmt.Fprintf(w, "Partitioned by\t%s\n", strings.Join(info.PartitionColumns, ", "))
	}
	if info.CheckpointVersion >= 0 {
		fmt.Fprintf(w, "Checkpoint\tversion %d\n", info.CheckpointVersion)
	}
	w.Flush()
	fmt.Fprintln(stdout, "\nSchema:")
	for _, f := range info.Schema.Fields {
		null := ""
		if !f.Nullable {
			null = " NOT NULL"
		}
		fmt.Fprintf(stdout, "  %s %s%s\n", f.Name, f.Type, null)
	}
	if len(info.Txns) > 0 {
		fmt.Fprintln(stdout, "\nApplication transactions:")
		apps := make([]string, 0, len(info.Txns))
		for a := range info.Txns {
			apps = append(apps, a)
		}
		sort.Strings(apps)
		for _, a := range apps {
			fmt.Fprintf(stdout, "  %s = %d\n", a, info.Txns[a])
		}
	}
	if *history > 0 {
		h, err := t.History(ctx, info.Version, *history)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nRecent commits:")
		w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, c := range h {
			ts := ""
			if ms, ok := c["timestamp"].(float64); ok {
				ts = time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "  %v\t%s\t%v\t%v\n", c["version"], ts, c["operation"], orEmpty(c["engineInfo"]))
		}
		w.Flush()
	}
	return nil
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func deltaOptimize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("optimize", `Compact small files: per partition, files smaller than the target size are
bin-packed into files of about that size. Rows that deletion vectors mark
deleted are dropped as files are rewritten (a small file with a deletion
vector is rewritten even alone). Readers are unaffected (the rewrite is
committed with dataChange=false); concurrent appends are fine.

Usage: sluice delta optimize URI [--target-size BYTES]
`, stderr)
	target := fs.Int64("target-size", deltawriter.DefaultTargetFileSize, "target file size in bytes")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	t, err := openTable(ctx, "optimize", pos, stderr)
	if err != nil {
		return err
	}
	res, err := t.Optimize(ctx, deltawriter.OptimizeOptions{TargetFileSize: *target})
	if err != nil {
		return err
	}
	if res.FilesRemoved == 0 {
		fmt.Fprintf(stdout, "nothing to compact at version %d\n", res.Version)
		return nil
	}
	fmt.Fprintf(stdout, "version %d: compacted %d files (%s) into %d (%s) in %d partitions\n",
		res.Version, res.FilesRemoved, humanBytes(res.BytesRemoved), res.FilesAdded, humanBytes(res.BytesAdded), res.Partitions)
	return nil
}

func deltaVacuum(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("vacuum", `Delete files no longer referenced by any version within the retention period
(removed files whose retention expired, and orphans of failed writes). Live
files, their deletion vector files and the _delta_log are never touched.

Usage: sluice delta vacuum URI [--retain 168h] [--dry-run] [--force]
`, stderr)
	retain := fs.Duration("retain", 0, "keep unreferenced files younger than this (default: the table's delta.deletedFileRetentionDuration, 168h)")
	dry := fs.Bool("dry-run", false, "list what would be deleted, delete nothing")
	force := fs.Bool("force", false, "allow --retain shorter than the table's retention (breaks time travel and in-flight writers)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	t, err := openTable(ctx, "vacuum", pos, stderr)
	if err != nil {
		return err
	}
	res, err := t.Vacuum(ctx, deltawriter.VacuumOptions{Retain: *retain, DryRun: *dry, Force: *force})
	if err != nil {
		return err
	}
	verb := "deleted"
	if res.DryRun {
		verb = "would delete"
		for _, f := range res.Files {
			fmt.Fprintln(stdout, f)
		}
	}
	for _, f := range res.StaleTemp {
		if res.DryRun {
			fmt.Fprintln(stdout, f)
		}
	}
	fmt.Fprintf(stdout, "%s %d files (%s) and %d temporary files of unfinished uploads\n", verb, len(res.Files), humanBytes(res.Bytes), len(res.StaleTemp))
	return nil
}

func deltaCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("checkpoint", `Write a checkpoint of the latest version, so readers replay fewer commits.

Usage: sluice delta checkpoint URI
`, stderr)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	t, err := openTable(ctx, "checkpoint", pos, stderr)
	if err != nil {
		return err
	}
	v, err := t.Checkpoint(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checkpoint written at version %d\n", v)
	return nil
}
