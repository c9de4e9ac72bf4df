// Command bench runs the project's measurements, one subcommand each:
//
//	go run ./integration/cmd/bench limiter [--json FILE|-] [flags]
//	go run ./integration/cmd/bench launch [--json FILE|-] [--seeds 1,2,3] [flags]
//	go run ./integration/cmd/bench launch --scenario burst --strategies ours --wait-for-completion [--task-run-seconds 60] [--items]
//
// Each subcommand prints a readable table, or with --json one JSON object
// (to FILE, or stdout for -). Durations in the JSON are seconds unless the
// key says otherwise (ns_per_op).
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// command is one subcommand: run parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands. Add one by adding an entry and a file.
func commands() map[string]command {
	return map[string]command{
		"limiter": {"local and DynamoDB limiter: ns/op, allocs, over-admissions, writes per acquisition", runLimiter},
		"launch":  {"launch benchmark: strategies × scenarios on the local AWS, table, JSON, chart", runLaunch},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || cmds[args[0]].run == nil {
		fmt.Fprintln(stderr, "usage: bench <subcommand> [--json FILE|-] [flags]")
		for _, name := range slices.Sorted(maps.Keys(cmds)) {
			fmt.Fprintf(stderr, "  %-10s %s\n", name, cmds[name].summary)
		}
		return 2
	}
	if err := cmds[args[0]].run(ctx, args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// writeJSONOrTable writes v as one JSON object to dest ("-" is stdout), or,
// when dest is empty, calls table.
func writeOutput(dest string, stdout io.Writer, doc []byte, table func(io.Writer)) error {
	switch dest {
	case "":
		table(stdout)
		return nil
	case "-":
		_, err := fmt.Fprintf(stdout, "%s\n", doc)
		return err
	}
	return os.WriteFile(dest, append(doc, '\n'), 0o644)
}
