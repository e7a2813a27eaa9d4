package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
)

// RunOptions override the spec for one run of RunSpecFile (the flags of
// sluice worker).
type RunOptions struct {
	// MetricsAddr, when set, replaces metrics.addr.
	MetricsAddr string
	// InstanceID, when set, replaces source.instanceId.
	InstanceID string
	// Logger is the worker's logger (default slog.Default()).
	Logger *slog.Logger
}

// RunSpecFile loads the spec at path, applies o, and runs its worker until
// ctx ends. Unless GOMEMLIMIT is set, it sets the process's memory limit
// to 80% of the spec's flush.memoryLimit: the garbage collector then works
// to keep the whole process within the budget its buffers are sized from.
func RunSpecFile(ctx context.Context, path string, o RunOptions) error {
	spec, err := LoadSpec(path)
	if err != nil {
		return err
	}
	if o.MetricsAddr != "" {
		spec.Metrics.Addr = o.MetricsAddr
	}
	if o.InstanceID != "" {
		spec.Source.InstanceID = o.InstanceID
		if err := spec.Validate(); err != nil {
			return fmt.Errorf("--instance-id: %w", err)
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(spec.Flush.MemoryLimit) * 8 / 10)
	}
	var opts []Option
	if o.Logger != nil {
		opts = append(opts, WithLogger(o.Logger))
	}
	w, err := NewWorker(ctx, spec, opts...)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
