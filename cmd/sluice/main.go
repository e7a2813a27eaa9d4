// Command sluice is the Sluice streaming share gateway: Kafka topics into
// governed Delta Lake tables, shared over the Delta Sharing protocol.
//
// This file only dispatches subcommands; each lives in its own file and
// calls into the packages that do the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version and commit are set at build time with
// -ldflags "-X main.version=… -X main.commit=…" (the Dockerfile's VERSION
// and COMMIT build arguments).
var (
	version = "dev"
	commit  = ""
)

// command is one subcommand (or group of subcommands).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run Kafka -> Delta -> Delta Sharing end to end on this machine, no external services", runDemo},
		{"serve", "run the server: SQL statements API, query workers, Delta Sharing; authorized by OPA", runServe},
		{"sql", "run SQL statements on a server", runSQL},
		{"worker", "run one pipeline worker: a Kafka topic into a Delta table, exactly once", runWorker},
		{"delta", "inspect and maintain Delta tables (inspect, optimize, vacuum, checkpoint)", runDelta},
		{"apply", "apply every SQL file of a folder to a server, once each; write the recipients' profiles", runApply},
		{"bucket", "create an S3 bucket if it does not exist (for a fresh S3-compatible store)", runBucket},
		{"token", "print a new random API token (e.g. for SLUICE_BOOTSTRAP_TOKEN)", runToken},
		{"healthcheck", "check that a server answers at URL/healthz (exit 0) or not (exit 1)", runHealthcheck},
		{"version", "print the version and the commit it was built from", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Sluice turns Kafka topics into governed Delta Lake tables and shares them
over the Delta Sharing protocol.

Usage:
  sluice <command> [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "sluice <command> --help" for a command's flags and examples.
`)
}

// errUsage marks an error already explained with usage text: exit code 2.
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(stderr, "sluice %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// newFlagSet returns a FlagSet whose --help prints the given usage text and
// the flags.
func newFlagSet(name, usageText string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments
// ("sluice delta inspect URI --json"), and returns the positionals.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
