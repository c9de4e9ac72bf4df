package demo

import (
	"encoding/json"
	"fmt"
	"image/color"
	"sort"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Defaults of the demo's tasks: they run 20 s on average (10–30 s), so the
// last ones have stopped (15 s to start, 5 s to stop) before the
// launch-only demo's execution ended, 60 s after the last launch, and the
// waiting execution ends about then; a failed run is retried up to 3
// attempts.
const (
	DefaultTaskRunSeconds = 20
	DefaultRetryAttempts  = 3
)

// Where the per-status counts come from.
const (
	CountsFromOutput = "execution output"
	CountsFromLedger = "simulator's ledger: tasks by how they ended, retries included — the execution's output has no counts"
)

// completedColor is the completed line's: green, beside the blue launches.
var completedColor = color.RGBA{44, 160, 44, 255}

// request is the demo's request: o.Tasks Fargate tasks that, unless
// NoWait, the execution waits for, retrying failed runs.
func (o Options) request() launch.Request {
	req := launch.Request{RequestID: fmt.Sprintf("demo-%d-tasks", o.Tasks), ECS: &launch.ECSSpec{
		Cluster: "demo", TaskDefinition: "job:1", Count: o.Tasks, LaunchType: "FARGATE",
		NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{
			Subnets: []string{"subnet-a", "subnet-b", "subnet-c"}}}}}
	if !o.NoWait {
		req.WaitForCompletion = true
		req.RetryStrategy = &launch.RetryStrategy{Attempts: o.RetryAttempts}
	}
	return req
}

// runs is how the simulator's tasks end: after TaskRunSeconds on average
// (negative: they run until stopped), TaskFailureRate of them exiting 1.
func (o Options) runs() sim.Runs {
	return sim.Runs{MeanSeconds: max(0, o.TaskRunSeconds), FailureRate: o.TaskFailureRate}
}

// failedRun: the task started, then stopped other than by its essential
// container exiting 0 — a run its request may retry.
func failedRun(e sim.LedgerEntry) bool {
	return e.StoppedAt != nil && !e.FailedToStart && (e.ExitCode == nil || *e.ExitCode != 0 || e.StopCode == sim.StopSpotInterruption)
}

// countRuns is the ledger's count (sim.Count) with each failed run's
// replacement allowed: a chunk's tasks beyond its size are duplicates only
// past the number of its runs that failed, since each failed run may be
// retried once. Without failures it is sim.Count.
func countRuns(entries []sim.LedgerEntry, size func(chunk int) int) sim.Counts {
	c := sim.Count(entries, func(_ string, chunk int) int { return size(chunk) })
	failed := map[int]int{}
	for _, e := range entries {
		if failedRun(e) {
			failed[e.Chunk]++
		}
	}
	if len(failed) > 0 {
		c.Duplicates = sim.Count(entries, func(_ string, chunk int) int { return size(chunk) + failed[chunk] }).Duplicates
	}
	return c
}

// stoppedTimes are the simulated seconds since submitted at which tasks
// that had started stopped, sorted.
func stoppedTimes(entries []sim.LedgerEntry, submitted time.Time) []float64 {
	var out []float64
	for _, e := range entries {
		if e.StoppedAt != nil && !e.FailedToStart {
			out = append(out, e.StoppedAt.Sub(submitted).Seconds())
		}
	}
	sort.Float64s(out)
	return out
}

// ledgerCounts counts the tasks that started by how they ended: exit 0
// SUCCEEDED, any other stop FAILED, not stopped RUNNING.
func ledgerCounts(entries []sim.LedgerEntry) map[string]int {
	c := map[string]int{launch.ResultSucceeded: 0, launch.ResultFailed: 0, launch.ResultRunning: 0}
	for _, e := range entries {
		switch {
		case e.FailedToStart:
		case e.StoppedAt == nil:
			c[launch.ResultRunning]++
		case failedRun(e):
			c[launch.ResultFailed]++
		default:
			c[launch.ResultSucceeded]++
		}
	}
	return c
}

// outputCounts reads the per-status counts of the execution's output (or
// of a failed execution's cause): nil when it has none.
func outputCounts(doc string) map[string]int {
	var v struct {
		Counts map[string]int `json:"counts"`
	}
	if doc == "" || json.Unmarshal([]byte(doc), &v) != nil {
		return nil
	}
	return v.Counts
}

// addJobs adds the tasks' stops to the report and the chart: the
// completed line, and the per-status counts from the execution's output
// when it has them, else from the ledger (labelled so).
func addJobs(r *report.Report, ch *report.Chart, entries []sim.LedgerEntry, submitted time.Time, output string) {
	stops := stoppedTimes(entries, submitted)
	r.Completed = len(stops)
	if r.Counts = outputCounts(output); r.Counts != nil {
		r.CountsFrom = CountsFromOutput
	} else {
		r.Counts, r.CountsFrom = ledgerCounts(entries), CountsFromLedger
	}
	if len(stops) == 0 {
		return
	}
	curve := report.Steps(stops)
	r.CompletedTimeline = perSecond(curve)
	ch.YLabel = "tasks"
	ch.Lines = append(ch.Lines, report.Series{Name: fmt.Sprintf("completed: tasks stopped (%d, the last at %.0f s)", len(stops), stops[len(stops)-1]),
		Points: curve, Color: completedColor})
}

// jobDefaults fills and checks the options of the demo's tasks.
func (o *Options) jobDefaults() error {
	if o.TaskRunSeconds == 0 {
		o.TaskRunSeconds = DefaultTaskRunSeconds
	}
	if o.RetryAttempts == 0 {
		o.RetryAttempts = DefaultRetryAttempts
	}
	switch {
	case o.TaskFailureRate < 0 || o.TaskFailureRate > 1:
		return fmt.Errorf("--task-failure-rate: must be in [0, 1], got %g", o.TaskFailureRate)
	case o.RetryAttempts < 1 || o.RetryAttempts > launch.MaxTaskAttempts:
		return fmt.Errorf("--retry-attempts: must be 1..%d (retryStrategy.attempts), got %d", launch.MaxTaskAttempts, o.RetryAttempts)
	}
	return nil
}

// jobsLine says how the demo's tasks run and whether the request waits.
func (o Options) jobsLine() string {
	run := "tasks run until stopped"
	if o.TaskRunSeconds > 0 {
		run = fmt.Sprintf("tasks run %g s on average (%g–%g s), %g %% exit 1", o.TaskRunSeconds, o.TaskRunSeconds/2, 1.5*o.TaskRunSeconds, 100*o.TaskFailureRate)
	}
	if o.NoWait {
		return run + "; the execution ends after the launch (no waitForCompletion)"
	}
	return fmt.Sprintf("%s; the execution waits for every task to stop (waitForCompletion, retryStrategy.attempts %d)", run, o.RetryAttempts)
}
