package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

func TestResultsUsageErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"no id":          {[]string{"results"}, ExitUsage, "results: want <requestId>, got 0 argument(s)"},
		"two ids":        {[]string{"results", "a", "b"}, ExitUsage, "results: want <requestId>, got 2 argument(s)"},
		"bad status":     {[]string{"results", "--status", "failed", "r1"}, ExitUsage, `results: --status: must be one of SUCCEEDED, FAILED, DEAD_LETTERED, CANCELLED, RUNNING, PENDING, got "failed"`},
		"bad output":     {[]string{"results", "--output", "csv", "r1"}, ExitUsage, "--output: must be json or table"},
		"unknown flag":   {[]string{"results", "--attempts", "r1"}, ExitUsage, "flag provided but not defined: -attempts"},
		"no table":       {[]string{"results", "r1"}, ExitFailure, "set TH_TABLE_NAME or pass --table"},
		"status no id":   {[]string{"results", "--status", "FAILED"}, ExitUsage, "got 0 argument(s)"},
		"all-attempts=x": {[]string{"results", "--all-attempts=maybe", "r1"}, ExitUsage, "invalid boolean value"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, Env{}, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want %d and %q, nothing on stdout", r.code, r.stderr, r.stdout, tt.code, tt.want)
			}
		})
	}
}

// resultsStore is a waiting request of 3 units on a Memory store: unit 0
// succeeded at its second attempt, unit 1 failed, unit 2 still runs.
func resultsStore(t *testing.T) launchstore.Store {
	t.Helper()
	ctx := context.Background()
	st := launchstore.NewMemory()
	r := launchtest.ECSRequest("r1", 3)
	r.WaitForCompletion = true
	if _, err := st.CreateRequest(ctx, r, launchtest.T0); err != nil {
		t.Fatal(err)
	}
	refs := []launch.TaskRef{
		{ARN: "arn:aws:ecs:us-east-1:1:task/c/a1", Index: 0, Attempt: 1, LaunchedAt: launchtest.T0},
		{ARN: "arn:aws:ecs:us-east-1:1:task/c/a2", Index: 0, Attempt: 2, LaunchedAt: launchtest.T0.Add(time.Minute)},
		{ARN: "arn:aws:ecs:us-east-1:1:task/c/b1", Index: 1, Attempt: 1, LaunchedAt: launchtest.T0},
		{ARN: "arn:aws:ecs:us-east-1:1:task/c/c1", Index: 2, Attempt: 1, LaunchedAt: launchtest.T0},
	}
	if err := st.RecordTasks(ctx, "r1", refs); err != nil {
		t.Fatal(err)
	}
	for arn, d := range map[string]struct {
		exit    int
		outcome string
	}{"a1": {1, launch.OutcomeRetried}, "a2": {0, launch.OutcomeSucceeded}, "b1": {2, launch.OutcomeFailed}} {
		arn = "arn:aws:ecs:us-east-1:1:task/c/" + arn
		o := launch.TaskObservation{ARN: arn, LastStatus: "STOPPED", ExitCode: new(d.exit), StopCode: "EssentialContainerExited",
			StartedAt: launchtest.T0, StoppedAt: launchtest.T0.Add(time.Minute)}
		if _, _, err := st.ObserveTask(ctx, "r1", o); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.DecideTask(ctx, "r1", arn, d.outcome, ""); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// results prints one JSON document a line (--output json) or a table, the
// rows the summary computes, every attempt with --all-attempts.
func TestPrintResults(t *testing.T) {
	t.Parallel()
	st := resultsStore(t)
	tests := []struct {
		name   string
		all    bool
		output string
		want   []string // per line: substrings
	}{
		{"json", false, "json", []string{`"index":0,"taskArn":"arn:aws:ecs:us-east-1:1:task/c/a2","attempts":2,`, `"index":1,`, `"index":2,`}},
		{"all attempts", true, "json", []string{`"taskArn":"arn:aws:ecs:us-east-1:1:task/c/a1","attempts":1,"lastStatus":"STOPPED","exitCode":1`, `task/c/a2","attempts":2`, `"index":1`, `"index":2`}},
		{"table", false, "table", []string{"INDEX  STATUS", "0      SUCCEEDED  2         STOPPED      0", "1      FAILED     1", "2      RUNNING    1         -            -     -"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, err := handler.LoadResults(context.Background(), st, "r1", tt.all)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := printResults(&out, tt.output, rows); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.want), out.String())
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d %q lacks %q", i, lines[i], w)
				}
				if tt.output == "json" && !json.Valid([]byte(lines[i])) {
					t.Errorf("line %d is not one JSON document: %s", i, lines[i])
				}
			}
		})
	}
	if _, err := handler.LoadResults(context.Background(), st, "nope", false); err == nil {
		t.Error("an unknown request has results, want ErrNotFound")
	}
}

func TestCountsRow(t *testing.T) {
	t.Parallel()
	for want, counts := range map[string]map[string]int{
		"none yet":                         {launch.ResultSucceeded: 0},
		"3 SUCCEEDED, 1 FAILED, 2 RUNNING": {launch.ResultRunning: 2, launch.ResultFailed: 1, launch.ResultSucceeded: 3},
		"1 DEAD_LETTERED, 4 PENDING":       {launch.ResultPending: 4, launch.ResultDeadLettered: 1},
	} {
		if got := countsRow(counts); got != want {
			t.Errorf("countsRow(%v) = %q, want %q", counts, got, want)
		}
	}
}

// On the local AWS: results lists one row per unit with the task the
// simulator launched for it, as JSON Lines or a table; --status filters.
func TestResultsLocal(t *testing.T) {
	t.Parallel()
	l := startLocal(t, sim.Config{})
	file := writeRequest(t, "cli-results", 25, nil)
	if r := l.run(t, "submit", file); r.code != ExitOK {
		t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
	}
	if st := l.waitDone(t, "cli-results"); st.Execution != "SUCCEEDED" || st.Counts == nil {
		t.Fatalf("status %+v: want SUCCEEDED with counts", st)
	}
	r := l.run(t, "results", "cli-results")
	rows := decodeAll[launch.ResultRow](t, r.stdout)
	if r.code != ExitOK || len(rows) != 25 || strings.Count(r.stdout, "\n") != 25 {
		t.Fatalf("results: exit %d, %d rows (stderr %s); want 25 JSON lines", r.code, len(rows), r.stderr)
	}
	var arns []string
	for i, row := range rows {
		if row.Index != i || row.Attempts != 1 || (row.Status != launch.ResultRunning && row.Status != launch.ResultSucceeded) {
			t.Errorf("row %d: %+v; want index %d, 1 attempt, running or succeeded", i, row, i)
		}
		arns = append(arns, row.TaskARN)
	}
	slices.Sort(arns)
	if want := l.ledgerIDs("cli-results"); !slices.Equal(arns, want) {
		t.Errorf("results name %v, the simulator launched %v", arns, want)
	}
	if r := l.run(t, "results", "--status", "DEAD_LETTERED", "cli-results"); r.code != ExitOK || r.stdout != "" {
		t.Errorf("--status DEAD_LETTERED: exit %d, stdout %q; want no row", r.code, r.stdout)
	}
	r = l.run(t, "--output", "table", "results", "cli-results")
	if r.code != ExitOK || strings.Count(r.stdout, "\n") != 26 || !strings.HasPrefix(r.stdout, "INDEX  STATUS") {
		t.Errorf("table: exit %d:\n%s", r.code, r.stdout)
	}
	if r := l.run(t, "results", "nope"); r.code != ExitFailure || !strings.Contains(r.stderr, `request "nope" not found`) {
		t.Errorf("unknown request: exit %d, stderr %s", r.code, r.stderr)
	}
}

// status --output table shows the units waiting for quota, and the units
// by status of a request that waits for completion.
func TestPrintStatusJobs(t *testing.T) {
	t.Parallel()
	st := Status{RequestID: "r1", Planned: true, Requested: 30, Launched: 20, WaitingForQuota: 10, WaitForCompletion: true,
		Counts: map[string]int{launch.ResultSucceeded: 12, launch.ResultRunning: 8, launch.ResultPending: 10}}
	for _, tc := range []struct {
		st   Status
		want []string
		not  []string
	}{
		{st, []string{"waiting for quota  10", "units              12 SUCCEEDED, 8 RUNNING, 10 PENDING"}, nil},
		{Status{RequestID: "r2", Planned: true, Requested: 10, Launched: 10, Counts: map[string]int{launch.ResultRunning: 10}}, nil, []string{"waiting for quota", "units"}},
	} {
		var out bytes.Buffer
		app := &App{Env: Env{Stdout: &out}, Globals: Globals{Output: "table"}}
		if err := app.printStatus(tc.st); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("table lacks %q:\n%s", w, out.String())
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out.String(), w) {
				t.Errorf("table has %q for a request not waiting:\n%s", w, out.String())
			}
		}
	}
}
