package benchlaunch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// The priority scenario (ours only): a low-priority batch of BatchTasks is
// launching when a high-priority request of UrgentTasks is submitted,
// UrgentAtS simulated seconds later, both through submit and the state
// machine on the published buckets. It measures how long the urgent
// request waits behind the batch and how much of the capacity the urgent
// request leaves the batch still uses.

// Defaults of the priority scenario's flags: 60 s into a 5,000-task batch
// (≈ 245 s on the published Fargate bucket) the batch has spent its burst
// and booked positions far ahead, which is the case priority lanes exist for.
const (
	DefaultBatchTasks  = 5000
	DefaultUrgentTasks = 50
	DefaultUrgentAtS   = 60
)

// prioritySkip says why a strategy does not run the priority scenario.
const prioritySkip = "the priority scenario runs ours only: the baselines have no request priority"

// PriorityFields are the priority scenario's figures (absent elsewhere).
// Times are simulated seconds; the batch's from its submit.
type PriorityFields struct {
	BatchTasks  int     `json:"batch_tasks"`
	UrgentTasks int     `json:"urgent_tasks"`
	UrgentAtS   float64 `json:"urgent_at_s"`
	// UrgentStartS is from the urgent request's submit to its first
	// acquisition: the moment the first limiter write (UpdateItem on a
	// limiter# item) made by a runtask invocation for that request
	// answered, on the stack's clock — the plan, the Map's start and the
	// cold starts before it asked for a slot.
	UrgentStartS float64 `json:"urgent_start_s"`
	// UrgentDelayS is from that first acquisition to the urgent request's
	// last launch, minus UrgentIdealS: the time it lost behind the batch.
	UrgentDelayS float64 `json:"urgent_delay_s"`
	// UrgentIdealS is the urgent request's own ideal on the account's
	// buckets with their burst drained (idealDrained): the batch that is
	// launching has spent the burst, so the urgent request can at best
	// take every token as it refills.
	UrgentIdealS float64 `json:"urgent_ideal_s"`
	// UrgentMakespanS is from the urgent request's submit to its last
	// launch.
	UrgentMakespanS float64 `json:"urgent_makespan_s"`
	UrgentLaunched  int     `json:"urgent_launched"`
	// BatchMakespanS is the batch's last launch; BatchIdealLeftS its ideal
	// with the urgent request's tokens taken out (batchIdealLeft), and
	// BatchCapacityUsedPct = 100 × BatchIdealLeftS ÷ BatchMakespanS (at
	// most 100).
	BatchMakespanS       float64 `json:"batch_makespan_s"`
	BatchIdealLeftS      float64 `json:"batch_ideal_left_s"`
	BatchCapacityUsedPct float64 `json:"batch_capacity_used_pct"`
}

// urgentSetup is the priority scenario's second request: its units, and
// the batch's (the setup's units are the whole run's).
type urgentSetup struct {
	request      launch.Request
	atS          float64
	units, batch map[string]float64
}

// ecsUnits is what n Fargate tasks in chunks of launch.ChunkSizeECS draw
// from each bucket.
func ecsUnits(n int) map[string]float64 {
	calls := math.Ceil(float64(n) / launch.ChunkSizeECS)
	return map[string]float64{sim.BucketRunTask: calls, sim.BucketFargateRunTask: calls, sim.BucketFargateTasks: float64(n)}
}

// setPriority makes s the priority scenario: the batch (low) is s.request,
// the urgent request (high) is submitted at p.UrgentAtS.
func (p Params) setPriority(s *setup) {
	batch := s.request
	batch.ECS.Count, batch.Priority = p.BatchTasks, launch.PriorityLow
	ecs := *batch.ECS
	ecs.Count = p.UrgentTasks
	u := launch.Request{RequestID: batch.RequestID + "-urgent", Priority: launch.PriorityHigh, ECS: &ecs}
	s.urgent = &urgentSetup{request: u, atS: p.UrgentAtS, units: ecsUnits(p.UrgentTasks), batch: ecsUnits(p.BatchTasks)}
	s.request, s.units = batch, ecsUnits(p.BatchTasks)
	for name, n := range s.urgent.units {
		s.units[name] += n
	}
}

// idealDrained is the time units take on buckets whose burst is spent:
// the longest units ÷ rate over the buckets (each unit waits for its
// token to refill).
func idealDrained(units map[string]float64, buckets map[string]report.Bucket) float64 {
	var worst float64
	for name, n := range units {
		if b, ok := buckets[name]; ok && b.Rate > 0 {
			worst = math.Max(worst, n/b.Rate)
		}
	}
	return worst
}

// batchIdealLeft is the batch's ideal makespan when an urgent request
// arriving atS seconds after it takes its units first: on each bucket, if
// the batch alone is done by atS it is unaffected; otherwise the urgent
// request takes the whole refill for urgent ÷ rate seconds (the burst is
// spent by then), and the batch finishes that much later,
// (batch + urgent − burst) ÷ rate. The longest over the buckets.
func batchIdealLeft(batch, urgent map[string]float64, buckets map[string]report.Bucket, atS float64) float64 {
	var worst float64
	for name, n := range batch {
		b, ok := buckets[name]
		if !ok || b.Rate <= 0 {
			continue
		}
		alone := math.Max(0, (n-b.Burst)/b.Rate)
		if alone > atS {
			alone = (n + urgent[name] - b.Burst) / b.Rate
		}
		worst = math.Max(worst, alone)
	}
	return worst
}

// urgentDelay is the urgent request's delay: first acquisition to last
// launch, less its ideal.
func urgentDelay(firstAcquisitionS, lastLaunchS, idealS float64) float64 {
	return lastLaunchS - firstAcquisitionS - idealS
}

// capacityUsedPct is 100 × ideal ÷ makespan, at most 100 (0 without a
// makespan).
func capacityUsedPct(ideal, makespan float64) float64 {
	if makespan <= 0 {
		return 0
	}
	return 100 * math.Min(1, ideal/makespan)
}

// urgentRun is the urgent request of a run in progress.
type urgentRun struct {
	u         *urgentSetup
	submitted time.Time
	arn       string
	done      chan error
	// failed is the units the urgent execution gave up with a reason.
	failed int
}

// startUrgent submits the urgent request at its time, from a goroutine,
// through submit as the batch was; nil when the scenario has none.
func startUrgent(ctx context.Context, s setup, stack *awslocal.Stack, submitBatch func(launch.Request) (string, error), batchAt time.Time) *urgentRun {
	if s.urgent == nil {
		return nil
	}
	ur := &urgentRun{u: s.urgent, done: make(chan error, 1)}
	go func() {
		at := batchAt.Add(time.Duration(s.urgent.atS * float64(time.Second)))
		if err := stack.Clock.Sleep(ctx, at.Sub(stack.Clock.Now())); err != nil {
			ur.done <- err
			return
		}
		ur.submitted = stack.Clock.Now()
		arn, err := submitBatch(s.urgent.request)
		ur.arn = arn
		ur.done <- err
	}()
	return ur
}

// wait waits for the urgent request's submit and then its execution's end.
func (ur *urgentRun) wait(ctx context.Context, stack *awslocal.Stack) error {
	if ur == nil {
		return nil
	}
	select {
	case err := <-ur.done:
		if err != nil {
			return fmt.Errorf("urgent request: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("urgent request not submitted: %w", ctx.Err())
	}
	svc := stack.LocalServices()
	for {
		info, err := svc.SFN.Describe(ur.arn)
		if err != nil {
			return err
		}
		if info.Status != "RUNNING" {
			ur.failed = failedUnits(Ours, info.Output)
			if info.Status != "SUCCEEDED" {
				return fmt.Errorf("urgent execution %s: %s %s", info.Status, info.Error, info.Cause)
			}
			return nil
		}
		if err := stack.Clock.Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// urgentLaunched is the urgent request's unique launches so far (0
// without one).
func (s setup) urgentLaunched(stack *awslocal.Stack) int {
	if s.urgent == nil {
		return 0
	}
	c, _ := launchedOf(stack, s.urgent.request, time.Time{})
	return c.Unique
}

// launchedOf counts req's launches in the ledger: unique units, duplicates
// and the launch times (seconds since since, sorted).
func launchedOf(stack *awslocal.Stack, req launch.Request, since time.Time) (sim.Counts, []float64) {
	entries := stack.Sim.Ledger().For(launch.RequestHash(req.RequestID))
	size := chunkSize(req)
	c := sim.Count(entries, func(_ string, chunk int) int { return size(chunk) })
	var times []float64
	for _, e := range entries {
		if !e.FailedToStart {
			times = append(times, e.LaunchedAt.Sub(since).Seconds())
		}
	}
	return c, sortedTimes(times)
}

// measurePriority adds the urgent request to r (measured on the batch) and
// fills the priority fields. firstAcquisition is when the urgent request's
// first limiter write answered (zero: never seen).
func measurePriority(r *Result, s setup, stack *awslocal.Stack, ur *urgentRun, submitted, firstAcquisition time.Time) error {
	if ur == nil {
		return nil
	}
	f := &PriorityFields{BatchTasks: s.request.ECS.Count, UrgentTasks: ur.u.request.ECS.Count, UrgentAtS: ur.u.atS}
	r.PriorityFields = f
	f.BatchMakespanS = r.MakespanS
	f.BatchIdealLeftS = batchIdealLeft(ur.u.batch, ur.u.units, s.ideal, ur.u.atS)
	f.BatchCapacityUsedPct = capacityUsedPct(f.BatchIdealLeftS, f.BatchMakespanS)
	f.UrgentIdealS = idealDrained(ur.u.units, s.ideal)

	c, times := launchedOf(stack, ur.u.request, submitted)
	f.UrgentLaunched = c.Unique
	r.Launched += c.Unique
	r.Duplicates += c.Duplicates
	r.Failed += ur.failed
	r.IdealMakespanS = math.Max(f.BatchIdealLeftS, ur.u.atS+f.UrgentIdealS)
	r.IdealRemainingS = f.BatchIdealLeftS
	if len(times) == 0 || ur.submitted.IsZero() {
		return errors.New("urgent request: nothing launched")
	}
	last := times[len(times)-1]
	r.MakespanS = math.Max(r.MakespanS, last)
	urgentAt := ur.submitted.Sub(submitted).Seconds()
	f.UrgentMakespanS = last - urgentAt
	if firstAcquisition.IsZero() {
		return errors.New("urgent request: no limiter acquisition observed")
	}
	first := firstAcquisition.Sub(submitted).Seconds()
	f.UrgentStartS = first - urgentAt
	f.UrgentDelayS = urgentDelay(first, last, f.UrgentIdealS)
	return nil
}

// requestIDOf reads a runtask payload's requestId ("" when absent).
func requestIDOf(payload []byte) string {
	var in struct {
		RequestID string `json:"requestId"`
	}
	if json.Unmarshal(payload, &in) != nil {
		return ""
	}
	return in.RequestID
}

// urgentID is the urgent request's ID ("" without one).
func urgentID(s setup) string {
	if s.urgent == nil {
		return ""
	}
	return s.urgent.request.RequestID
}

// writePriorityTable prints the priority runs' own figures, if any ran.
func writePriorityTable(w io.Writer, rs []Result) error {
	rows, tw := section(w, rs, func(r Result) bool { return r.PriorityFields != nil },
		"priority: a high-priority request arrives while a low-priority batch launches (simulated seconds)",
		"strategy\tseed\tbatch\turgent\tat s\turgent start s\turgent delay s\turgent ideal s\turgent makespan s\tbatch makespan s\tbatch ideal left s\tbatch cap used %\t")
	if tw == nil {
		return nil
	}
	for _, r := range rows {
		f := r.PriorityFields
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%g\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t\n", r.Strategy, r.Seed, f.BatchTasks, f.UrgentTasks, f.UrgentAtS,
			f.UrgentStartS, f.UrgentDelayS, f.UrgentIdealS, f.UrgentMakespanS, f.BatchMakespanS, f.BatchIdealLeftS, f.BatchCapacityUsedPct)
	}
	return tw.Flush()
}

// priorityProblem checks the priority scenario's flags.
func (p Params) priorityProblem() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"--batch-tasks", p.BatchTasks}, {"--urgent-tasks", p.UrgentTasks}} {
		if f.v < 1 || f.v > 100000 {
			return fmt.Errorf("%s: must be 1..100000, got %d", f.name, f.v)
		}
	}
	if p.UrgentAtS < 0 || p.UrgentAtS > 3600 {
		return fmt.Errorf("--urgent-at: must be in [0, 3600] simulated seconds after the batch's submit (0: the default), got %g", p.UrgentAtS)
	}
	return nil
}

// PrioritySummary is the priority scenario's figures over seeds (the runs
// that measured them).
type PrioritySummary struct {
	UrgentDelayS         Spread `json:"urgent_delay_s"`
	UrgentStartS         Spread `json:"urgent_start_s"`
	UrgentMakespanS      Spread `json:"urgent_makespan_s"`
	BatchCapacityUsedPct Spread `json:"batch_capacity_used_pct"`
}

// summarizePriority is g's priority figures; nil when no run has them.
func summarizePriority(g []Result) *PrioritySummary {
	var delay, start, span, capUsed []float64
	for _, r := range g {
		if f := r.PriorityFields; f != nil {
			delay, start = append(delay, f.UrgentDelayS), append(start, f.UrgentStartS)
			span, capUsed = append(span, f.UrgentMakespanS), append(capUsed, f.BatchCapacityUsedPct)
		}
	}
	if len(delay) == 0 {
		return nil
	}
	return &PrioritySummary{UrgentDelayS: spreadOf(delay), UrgentStartS: spreadOf(start), UrgentMakespanS: spreadOf(span), BatchCapacityUsedPct: spreadOf(capUsed)}
}
