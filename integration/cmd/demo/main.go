// Command demo is the local end-to-end run (integration/demo), what
// `make demo` runs:
//
//	go run ./integration/cmd/demo [--tasks 2000] [--concurrency 100] [--time-scale 10]
//	    [--task-run-seconds 20] [--task-failure-rate 0] [--wait-for-completion=true] [--retry-attempts 3]
//	    [--report reports/demo.json] [--<bucket>-burst N --<bucket>-rate R …]
//
// It installs the Node tools as `make deps` does (internal/nodetools),
// starts the local AWS, submits one Fargate request and ends with a table,
// a JSON report and a PNG chart. Exit codes: 0 every task launched once,
// 1 anything lost or launched twice, or the run failed, 2 usage error.
// Ctrl-C stops every process it started before it exits.
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

	"github.com/throttle-handler/throttle-handler/integration/demo"
	"github.com/throttle-handler/throttle-handler/internal/nodetools"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := demo.BindFlags(fs)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: go run ./integration/cmd/demo [flags]\n\nflags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	} else if err != nil {
		fmt.Fprintf(stderr, "demo: %v (-h lists the flags)\n", err)
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "demo: takes no arguments, got %q\n", fs.Args())
		return 2
	}
	o := flags.Options(stdout, stderr)
	o.Install = install
	rep, err := demo.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	if rep.Lost > 0 || rep.Duplicates > 0 {
		return 1
	}
	return 0
}

// install makes the repository's Node tools current, as make deps does.
func install(ctx context.Context, log io.Writer) error {
	_, err := nodetools.Ensure(ctx, testenv.RepoRoot(), log)
	return err
}
