package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Command is one row of the command table.
type Command struct {
	Name     string
	Synopsis string
	Usage    string
	Run      func(ctx context.Context, app *App, args []string) error
}

// commands is the table of subcommands: one row per command.
func commands() []Command {
	return []Command{
		{
			Name:     "submit",
			Synopsis: "submit a launch request (StartExecution named from its requestId, or a LaunchRequested event)",
			Usage:    "submit [--via-events] [--state-machine-arn ARN] [--event-bus NAME] <request.json|->",
			Run:      runSubmit,
		},
		{
			Name:     "status",
			Synopsis: "show a request's progress, counts, reasons and launched ARNs/IDs",
			Usage:    "status [--watch] [--interval 2s] [--table NAME] [--state-machine-arn ARN] <requestId>",
			Run:      runStatus,
		},
		{
			Name:     "results",
			Synopsis: "list a request's per-unit results: index, task, attempts, exit code, status (JSON Lines with --output json)",
			Usage:    "results [--status SUCCEEDED|FAILED|DEAD_LETTERED|CANCELLED|RUNNING|PENDING] [--all-attempts] [--table NAME] <requestId>",
			Run:      runResults,
		},
		{
			Name:     "cancel",
			Synopsis: "stop a request's execution and its relaunches, put LaunchCancelled; --stop-launched also stops what it launched",
			Usage:    "cancel [--stop-launched [--yes]] [--cause TEXT] [--table NAME] [--event-bus NAME] [--state-machine-arn ARN] <requestId>",
			Run:      runCancel,
		},
		{
			Name:     "redrive",
			Synopsis: "re-submit what a finished request dead-lettered, once, as <requestId>.redrive",
			Usage:    "redrive [--include-unknown] [--table NAME] [--state-machine-arn ARN] <requestId>",
			Run:      runRedrive,
		},
		{
			Name:     "doctor",
			Synopsis: "check a deployed (or the local) stack in seconds: resources, Lambda concurrency, vCPU quotas, rules, task roles; each failure with its fix (pass/fail/skipped/assumed; exit 1 only on a fail; locally the stack checks are skipped: no CloudFormation)",
			Usage:    "doctor [--stack-name NAME] [--task-roles R,…] [--task-definitions TD,…] [--tasks N] [--instance-vcpus N] [--strict]",
			Run:      runDoctor,
		},
		limitsCommand(),
		{
			Name:     "invoke",
			Synopsis: "run a function's real handler in-process on an event",
			Usage:    "invoke [--timeout 15m] <function> <event-file|->",
			Run:      runInvoke,
		},
		{
			Name:     "help",
			Synopsis: "show this help",
			Usage:    "help",
			Run: func(_ context.Context, app *App, _ []string) error {
				app.usage(app.Stdout)
				return nil
			},
		},
	}
}

func lookup(name string) (Command, bool) {
	for _, c := range commands() {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

func (a *App) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: throttlectl [--region R] [--profile P] [--endpoint-url URL] [--output json|table] <command> [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n           throttlectl %s\n", c.Name, c.Synopsis, c.Usage)
	}
	fmt.Fprintf(w, "\nfunctions: %s\n", strings.Join(a.Names(), ", "))
}
