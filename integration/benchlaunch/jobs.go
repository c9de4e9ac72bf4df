package benchlaunch

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Jobs variants of the burst scenario (Params.WaitForCompletion,
// Params.Items): the product's request waits for its tasks, which run
// TaskRunSeconds on average, and/or carries one item per task. The
// baselines launch without waiting and without per-task input, so only
// ours runs them.

// DefaultTaskRunSeconds is the tasks' mean run time with
// --wait-for-completion.
const DefaultTaskRunSeconds = 60

// jobsVariant says whether p asks for a jobs variant.
func (p Params) jobsVariant() bool { return p.WaitForCompletion || p.Items }

// jobsProblem checks the jobs flags: a variant of burst, a run time only
// with waiting.
func (p *Params) jobsProblem() error {
	if p.WaitForCompletion && p.TaskRunSeconds == 0 {
		p.TaskRunSeconds = DefaultTaskRunSeconds
	}
	switch {
	case p.TaskRunSeconds < 0:
		return fmt.Errorf("--task-run-seconds: must be ≥ 0, got %g", p.TaskRunSeconds)
	case p.TaskRunSeconds > 0 && !p.WaitForCompletion:
		return fmt.Errorf("--task-run-seconds: only with --wait-for-completion (the launch-only benchmark ends before the tasks would)")
	case p.jobsVariant() && !slices.Equal(p.Scenarios, []string{Burst}):
		return fmt.Errorf("--wait-for-completion and --items are variants of the burst scenario: give --scenario burst, got %s", strings.Join(p.Scenarios, ","))
	}
	return nil
}

// jobsSkip says why a strategy does not run a jobs variant ("" when it
// does).
func (p Params) jobsSkip(strategy string) string {
	if !p.jobsVariant() || strategy == Ours {
		return ""
	}
	return "the jobs variants (--wait-for-completion, --items) run ours only: the baselines launch without waiting for their tasks (runTask, not runTask.sync) and without per-task input"
}

// applyJobs makes s the jobs variant p asks for: waitForCompletion and the
// tasks' run time, and/or one item per task (each its own RunTask call).
func (p Params) applyJobs(s *setup) {
	if !p.jobsVariant() {
		return
	}
	ecs := s.request.ECS
	if p.Items {
		ecs.Items = make([]launch.TaskOverride, ecs.Count)
		for i := range ecs.Items {
			ecs.Items[i] = launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "worker", Command: []string{"work", fmt.Sprint(i)}}}}
		}
	}
	if p.WaitForCompletion {
		s.request.WaitForCompletion = true
		s.sim.Runs = sim.Runs{MeanSeconds: p.TaskRunSeconds}
	}
	calls := math.Ceil(float64(ecs.Count) / float64(s.request.ECSChunkSize()))
	s.units[sim.BucketRunTask], s.units[sim.BucketFargateRunTask] = calls, calls
}

// measureJobs fills the jobs fields of r: when the last task stopped and
// the execution ended, against the ideal end — the launch's ideal, then
// the time to RUNNING, the longest run the simulator draws (1.5 × the
// mean, which the slowest of many tasks approaches) and the stop — and the
// quota probes the request's gate counted, when it has one.
func measureJobs(r *Result, p Params, stack *awslocal.Stack, requestID string, submitted, ended time.Time) {
	if !p.jobsVariant() {
		return
	}
	r.WaitForCompletion, r.Items, r.TaskRunS = p.WaitForCompletion, p.Items, p.TaskRunSeconds
	if !ended.IsZero() {
		r.ExecutionEndS = ended.Sub(submitted).Seconds()
	}
	var last time.Time
	for _, e := range stack.Sim.Ledger().For(launch.RequestHash(requestID)) {
		if e.StoppedAt != nil && !e.FailedToStart && e.StoppedAt.After(last) {
			last = *e.StoppedAt
		}
	}
	if !last.IsZero() {
		r.LastStopS = last.Sub(submitted).Seconds()
	}
	if p.WaitForCompletion {
		l := stack.Sim.Config().Lifecycle
		r.IdealCompletionS = r.IdealMakespanS + l.ProvisioningSeconds + l.PendingSeconds + 1.5*p.TaskRunSeconds + l.StoppingSeconds
		if r.IdealCompletionS > 0 && r.ExecutionEndS > 0 {
			r.CompletionRatio = r.ExecutionEndS / r.IdealCompletionS
		}
	}
	r.QuotaProbes = quotaProbes(stack, requestID)
}

// writeJobsTable prints the jobs variants' completion times under the
// main table: nothing when no result ran one.
func writeJobsTable(w io.Writer, rs []Result) error {
	jobs, tw := section(w, rs, func(r Result) bool { return r.Skipped == "" && (r.WaitForCompletion || r.Items) },
		"jobs (simulated seconds since submit):",
		"scenario\tstrategy\titems\twait\trun s\tlaunch s\tlaunch ideal s\tlast stop s\tend s\tideal s\tratio\tquota probes\t")
	for _, r := range jobs {
		ratio, probes := "-", "-"
		if r.CompletionRatio > 0 {
			ratio = fmt.Sprintf("%.3f", r.CompletionRatio)
		}
		if r.QuotaProbes != nil {
			probes = fmt.Sprint(*r.QuotaProbes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%g\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t\n", r.Scenario, r.Strategy, r.Items, r.WaitForCompletion,
			r.TaskRunS, r.MakespanS, r.IdealMakespanS, r.LastStopS, r.ExecutionEndS, r.IdealCompletionS, ratio, probes)
	}
	if tw == nil {
		return nil
	}
	return tw.Flush()
}

// section starts a table under the main one for the results keep accepts:
// a blank line, the title, then the header. Nil writer (and nothing
// printed) when none does.
func section(w io.Writer, rs []Result, keep func(Result) bool, title, header string) ([]Result, *tabwriter.Writer) {
	var rows []Result
	for _, r := range rs {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	fmt.Fprintln(w, "\n"+title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, header)
	return rows, tw
}
