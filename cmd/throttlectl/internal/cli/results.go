package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

func runResults(ctx context.Context, app *App, args []string) error {
	fs := app.flags("results")
	var n names
	n.register(fs)
	status := fs.String("status", "", "only the units of this status: "+strings.Join(launch.ResultStatuses, ", "))
	all := fs.Bool("all-attempts", false, "list every attempt of each unit (its earlier tasks, then its result)")
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return usagef("results: want <requestId>, got %d argument(s)", len(fs.Args()))
	}
	if *status != "" && !slices.Contains(launch.ResultStatuses, *status) {
		return usagef("results: --status: must be one of %s, got %q", strings.Join(launch.ResultStatuses, ", "), *status)
	}
	p, err := app.product(ctx, n, needTable)
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	rows, err := handler.LoadResults(ctx, p.store(), id, *all)
	if errors.Is(err, launchstore.ErrNotFound) {
		return fmt.Errorf("request %q not found: no req#%s item in table %s; submit it first (throttlectl submit), or check --table and --region", id, id, p.table)
	} else if err != nil {
		return fmt.Errorf("results %s: %w", id, err)
	}
	if *status != "" {
		rows = slices.DeleteFunc(rows, func(r launch.ResultRow) bool { return r.Status != *status })
	}
	return printResults(app.Stdout, app.Output, rows)
}

// printResults writes rows as JSON Lines (one row a line) or as a table.
func printResults(w io.Writer, output string, rows []launch.ResultRow) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tSTATUS\tATTEMPTS\tLAST STATUS\tEXIT\tSTOP CODE\tSTARTED\tSTOPPED\tTASK / INSTANCE\tREASON")
	for _, r := range rows {
		exit := "-"
		if r.ExitCode != nil {
			exit = fmt.Sprint(*r.ExitCode)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Index, r.Status, r.Attempts, dash(r.LastStatus), exit,
			dash(r.StopCode), stamp(r.StartedAt), stamp(r.StoppedAt), dash(r.TaskARN+r.InstanceID), dash(r.StoppedReason))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
