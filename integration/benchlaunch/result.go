package benchlaunch

import (
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"

	"github.com/throttle-handler/throttle-handler/integration/report"
)

// Prices (USD, us-east-1, published on aws.amazon.com/<service>/pricing,
// checked 2026-11): Step Functions Standard per state transition; Lambda
// arm64 per GB-second and per request; DynamoDB on-demand per write
// request unit (one per write of ≤ 1 KB; every write here is one item
// under 1 KB). Free tiers are ignored.
const (
	PricePerTransition = 0.025 / 1000
	PricePerGBSecond   = 0.0000133334
	PricePerInvocation = 0.20 / 1e6
	PricePerWrite      = 0.625 / 1e6
)

// Result is one (scenario, strategy) run. JSON names follow docs/contracts.md
// "Reports and the ledger"; durations are simulated seconds.
type Result struct {
	Scenario string `json:"scenario"`
	Strategy string `json:"strategy"`
	Seed     uint64 `json:"seed"`
	// Skipped says why the pair was not run (then only the names are set).
	Skipped string `json:"skipped,omitempty"`
	// Error says why a run failed to complete (the numbers are what it did).
	Error string `json:"error,omitempty"`

	Requested int `json:"requested"`
	// Launched counts each chunk's work once (ledger Unique).
	Launched int `json:"launched"`
	// Failed units were given up with a reported reason (ours: dead-lettered;
	// baselines: Map items that ended in their Catch).
	Failed     int `json:"failed"`
	Lost       int `json:"lost"`
	Duplicates int `json:"duplicates"`

	Calls          int64   `json:"calls"`
	ThrottledCalls int64   `json:"throttled_calls"`
	AsyncThrottles int64   `json:"async_throttles"`
	ThrottledPct   float64 `json:"throttled_pct"` // 100 × (sync + async) / calls
	// ThrottledBy counts refusals by the simulator's bucket that refused.
	ThrottledBy  map[string]int64 `json:"throttled_by,omitempty"`
	CallsPerTask float64          `json:"calls_per_task"`
	// ThrottleTimesS are when throttles were seen (simulated seconds since
	// submit, at the progress poll's resolution), one entry per throttle:
	// where in the run they fall says what caused them.
	ThrottleTimesS []float64 `json:"throttle_times_s,omitempty"`

	MakespanS      float64 `json:"makespan_s"`
	IdealMakespanS float64 `json:"ideal_makespan_s"`
	MakespanRatio  float64 `json:"makespan_ratio"`
	// IdealRemainingS is the ideal over the capacity the co-tenant leaves
	// while it is there (report.IdealRemaining); CapacityUsedPct = 100 ×
	// IdealRemainingS / MakespanS.
	IdealRemainingS float64 `json:"ideal_remaining_s"`
	CapacityUsedPct float64 `json:"capacity_used_pct"`
	// CotenantCalls counts the co-tenant caller's calls (cotenant scenario:
	// one per published bucket per 100 ms while it is there);
	// CotenantThrottledCalls those that found a bucket short, the harm the
	// strategy did to the rest of the account; CotenantThrottledBy names
	// the buckets.
	CotenantCalls          int64            `json:"cotenant_calls"`
	CotenantThrottledCalls int64            `json:"cotenant_throttled_calls"`
	CotenantThrottledBy    map[string]int64 `json:"cotenant_throttled_by,omitempty"`
	// CotenantServices is the co-tenant ECS services of the run, and
	// CotenantServicesRunTask whether their deployments drew from the
	// RunTask API buckets (sim.Cotenants.ChargeRunTaskAPI);
	// CotenantServiceActions counts the throttle events they received.
	CotenantServices        int   `json:"cotenant_services"`
	CotenantServicesRunTask bool  `json:"cotenant_services_runtask"`
	CotenantServiceActions  int64 `json:"cotenant_service_actions"`
	// FirstLaunchS is submit → first launch: the start-up cost (plan,
	// cold starts) that the ideal does not count.
	FirstLaunchS float64 `json:"first_launch_s"`
	// P50LaunchS and P99LaunchS: time from submit to each unit's launch.
	P50LaunchS float64 `json:"p50_launch_s"`
	P99LaunchS float64 `json:"p99_launch_s"`

	// Cost model inputs and the price per 1,000 requested units.
	Transitions       int64   `json:"state_transitions"`
	LambdaInvocations int64   `json:"lambda_invocations"`
	LambdaGBSeconds   float64 `json:"lambda_gb_s"`
	DynamoDBWrites    int64   `json:"dynamodb_writes"`
	// LambdaErrors are function errors, timeouts and crashes the local
	// Lambda saw (injected crashes included): under load on a small
	// machine, timeouts show here.
	LambdaErrors   int64   `json:"lambda_errors"`
	CostPer1000USD float64 `json:"cost_per_1000_usd"`

	// Jobs variants (jobs.go): whether the request waited for its tasks
	// and carried items, the tasks' mean run time; when the last task
	// stopped and the execution ended, the ideal of that end (launch ideal
	// + start-up + the longest run drawn + the stop) and their ratio; the
	// quota probes of the request's gate (absent when it has none).
	WaitForCompletion bool    `json:"wait_for_completion,omitempty"`
	Items             bool    `json:"items,omitempty"`
	TaskRunS          float64 `json:"task_run_s,omitempty"`
	LastStopS         float64 `json:"last_stop_s,omitempty"`
	ExecutionEndS     float64 `json:"execution_end_s,omitempty"`
	IdealCompletionS  float64 `json:"ideal_completion_s,omitempty"`
	CompletionRatio   float64 `json:"completion_ratio,omitempty"`
	QuotaProbes       *int    `json:"quota_probes,omitempty"`
	// The priority scenario's figures (priority.go); absent elsewhere.
	*PriorityFields

	Status    string  `json:"status"` // the execution's final status
	TimeScale float64 `json:"time_scale"`
	WallS     float64 `json:"wall_s"` // real seconds, start-up included

	curve, throttles []report.Point // for the chart
}

// finish derives the ratios and the cost.
func (r *Result) finish() {
	r.Lost = max(0, r.Requested-r.Launched-r.Failed)
	if r.Calls > 0 {
		r.ThrottledPct = 100 * float64(r.ThrottledCalls+r.AsyncThrottles) / float64(r.Calls)
	}
	if r.Launched > 0 {
		r.CallsPerTask = float64(r.Calls) / float64(r.Launched)
	}
	if r.IdealMakespanS > 0 {
		r.MakespanRatio = r.MakespanS / r.IdealMakespanS
	}
	if r.MakespanS > 0 {
		r.CapacityUsedPct = 100 * math.Min(1, r.IdealRemainingS/r.MakespanS)
	}
	cost := float64(r.Transitions)*PricePerTransition + r.LambdaGBSeconds*PricePerGBSecond +
		float64(r.LambdaInvocations)*PricePerInvocation + float64(r.DynamoDBWrites)*PricePerWrite
	if r.Requested > 0 {
		r.CostPer1000USD = cost * 1000 / float64(r.Requested)
	}
}

// percentile of sorted xs (nearest rank); 0 when empty.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// WriteTable prints results as one table, a row per (scenario, strategy)
// that ran, then a note per pair skipped or ended badly.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tstrategy\tseed\tk\trequested\tlaunched\tfailed\tlost\tdup\tcalls\tthrottled\tasync\tthr %\tcalls/task\tmakespan s\tideal s\tratio\tcap used %\tco-tenant thr\tp50 s\tp99 s\t$/1000\t")
	var notes []string
	for _, r := range rs {
		if r.Skipped != "" {
			notes = append(notes, fmt.Sprintf("%s × %s: skipped: %s", r.Scenario, r.Strategy, r.Skipped))
			continue
		}
		if r.Error != "" {
			notes = append(notes, fmt.Sprintf("%s × %s: %s", r.Scenario, r.Strategy, r.Error))
		}
		ratio, capUsed, harm := "-", "-", "-"
		if r.IdealMakespanS > 0 {
			ratio = fmt.Sprintf("%.3f", r.MakespanRatio)
		}
		if r.IdealRemainingS != r.IdealMakespanS {
			capUsed = fmt.Sprintf("%.0f", r.CapacityUsedPct)
		}
		if r.CotenantCalls > 0 {
			harm = fmt.Sprintf("%d of %d", r.CotenantThrottledCalls, r.CotenantCalls)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%g\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t%s\t%s\t%s\t%.1f\t%.1f\t%.4f\t\n",
			r.Scenario, r.Strategy, r.Seed, r.TimeScale, r.Requested, r.Launched, r.Failed, r.Lost, r.Duplicates, r.Calls, r.ThrottledCalls,
			r.AsyncThrottles, r.ThrottledPct, r.CallsPerTask, r.MakespanS, r.IdealMakespanS, ratio, capUsed, harm,
			r.P50LaunchS, r.P99LaunchS, r.CostPer1000USD)
	}
	if err := flushNotes(w, tw, notes); err != nil {
		return err
	}
	if err := writeJobsTable(w, rs); err != nil {
		return err
	}
	return writePriorityTable(w, rs)
}

// flushNotes flushes a table to w, then prints notes under it, indented.
func flushNotes(w io.Writer, tw *tabwriter.Writer, notes []string) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, "  "+n); err != nil {
			return err
		}
	}
	return nil
}

// sortedTimes returns xs sorted.
func sortedTimes(xs []float64) []float64 {
	out := append([]float64(nil), xs...)
	sort.Float64s(out)
	return out
}
