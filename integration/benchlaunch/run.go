package benchlaunch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/report"
	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
	sfnsvc "github.com/throttle-handler/throttle-handler/integration/services/sfn"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// runPair runs one (scenario, strategy) pair on a fresh local AWS and
// measures it. An error means the run could not be measured at all; a run
// that ended badly (failed execution, timeout) is a Result with Error set.
func runPair(ctx context.Context, p Params, s setup) (Result, error) {
	wall := time.Now()
	r := Result{Scenario: s.scenario, Strategy: s.strategy, Seed: p.Seed, Requested: s.requested(), TimeScale: s.timeScale}
	dir, err := machinesDir(s.strategy, p.Concurrency)
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)

	m := &meter{}
	so := awslocal.ServicesOptions{Functions: m.build, StateMachinesDir: dir, NoDynamoDB: s.strategy != Ours, Metrics: p.Metrics,
		Configure: func(c *config.Config) {
			c.LimitsJSON = s.limitsJSON
			if p.DeferThreshold != nil {
				c.DeferThreshold = *p.DeferThreshold
			}
		}}
	if hook := s.faultHook(); hook != nil {
		so.Lambda = func(o *lambdasvc.Options) { o.Fault = hook }
	}
	logger := slog.New(slog.DiscardHandler)
	if p.Log != io.Discard {
		// -v: the stack's and the handlers' logs too (deferrals, stretched
		// slots, rate decreases), to see why a run throttled.
		logger = slog.New(slog.NewTextHandler(p.Log, nil))
	}
	if p.Log != nil && p.Log != os.Stdout {
		so.RunnerStderr = p.Log
	}
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: s.timeScale, Sim: s.sim, Logger: logger, Services: so})
	if err != nil {
		return r, fmt.Errorf("start the local AWS: %w", err)
	}
	defer stack.Close()
	m.acq.watch(stack.Clock.Now)
	svc := stack.LocalServices()
	if svc == nil {
		return r, errors.New("the local AWS started without its services")
	}
	machine, ok := svc.StateMachines[machineOf[s.strategy]]
	if !ok {
		return r, fmt.Errorf("state machine %s not loaded", machineOf[s.strategy])
	}
	sfnc := sfn.NewFromConfig(aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")})

	hash := launch.RequestHash(s.request.RequestID)
	submitted := stack.Clock.Now()
	if err := startCotenant(stack.Sim, s.cotenant, submitted); err != nil {
		return r, err
	}
	var arn string
	var ur *urgentRun
	if s.strategy == Ours {
		submitOurs := func(req launch.Request) (string, error) {
			body, _ := json.Marshal(req)
			res, err := submit.New(sfnc, machine).Submit(ctx, body)
			return res.ExecutionARN, err
		}
		if arn, err = submitOurs(s.request); err != nil {
			return r, fmt.Errorf("submit: %w", err)
		}
		ur = startUrgent(ctx, s, stack, submitOurs, submitted)
	} else {
		input, err := baselineInput(s, hash)
		if err != nil {
			return r, err
		}
		res, err := sfnc.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine),
			Name: aws.String(s.request.RequestID), Input: aws.String(input)})
		if err != nil {
			return r, fmt.Errorf("StartExecution: %w", err)
		}
		arn = aws.ToString(res.ExecutionArn)
	}

	size := chunkSize(s.request)
	var throttles []report.Point
	var lastThrottled int64
	snapshot := func() report.Snapshot {
		c := sim.Count(stack.Sim.Ledger().For(hash), func(_ string, chunk int) int { return size(chunk) })
		st := stack.Sim.Stats()
		t := stack.Clock.Now().Sub(submitted).Seconds()
		if n := st.ThrottledCalls + st.AsyncThrottles; n > lastThrottled {
			throttles = append(throttles, report.Point{X: t, Y: float64(n - lastThrottled)})
			lastThrottled = n
		}
		return report.Snapshot{SimSeconds: t, Requested: r.Requested, Launched: c.Unique + s.urgentLaunched(stack),
			Throttled: st.ThrottledCalls, Async: st.AsyncThrottles}
	}
	prog := report.NewProgress(ctx, p.Out, p.TTY, r.Requested, 5*time.Second)
	runCtx, cancel := context.WithTimeout(ctx, p.RunTimeout)
	info, err := follow(runCtx, svc.SFN, arn, prog, snapshot)
	if err == nil {
		err = ur.wait(runCtx, stack)
	}
	if err == nil {
		settle(runCtx, s, stack.Clock, prog, snapshot, failedUnits(s.strategy, info.Output))
	}
	cancel()
	final := snapshot()
	prog.Done(final)
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		r.Error = err.Error()
	}
	r.Status = info.Status
	if info.Status != "" && info.Status != "SUCCEEDED" {
		r.Error = fmt.Sprintf("execution %s: %s %s", info.Status, info.Error, info.Cause)
	}
	r.Failed = failedUnits(s.strategy, info.Output)

	measure(&r, s, stack, hash, submitted, size)
	measureJobs(&r, p, stack, s.request.RequestID, submitted, info.StopDate)
	if perr := measurePriority(&r, s, stack, ur, submitted, m.acq.of(urgentID(s))); perr != nil && r.Error == "" {
		r.Error = perr.Error()
	}
	r.throttles = throttles
	for _, p := range throttles {
		for range int(p.Y) {
			r.ThrottleTimesS = append(r.ThrottleTimesS, math.Round(p.X*10)/10)
		}
	}
	for _, e := range svc.SFN.Executions("", "") {
		r.Transitions += int64(e.Transitions)
	}
	r.LambdaInvocations, r.DynamoDBWrites, r.LambdaGBSeconds = m.snapshot()
	r.LambdaErrors = svc.Lambda.Stats().Errors
	r.WallS = time.Since(wall).Seconds()
	r.finish()
	return r, nil
}

// follow updates prog until the execution ends.
func follow(ctx context.Context, svc *sfnsvc.Service, arn string, prog report.Progress, snap func() report.Snapshot) (sfnsvc.ExecutionInfo, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			info, _ := svc.Describe(arn)
			return info, fmt.Errorf("did not finish in time: %w", ctx.Err())
		case <-tick.C:
		}
		prog.Update(snap())
		info, err := svc.Describe(arn)
		if err != nil {
			return info, err
		}
		if info.Status != "RUNNING" {
			return info, nil
		}
	}
}

// settle keeps watching after the execution ended while work is still
// moving: tasks that fail to start after the last call (the async
// scenario's ENI timeout) and the product's relaunches of them, which run
// from EventBridge rules, outside the execution. It waits at least the
// simulator's ENI timeout plus provisioning in the async scenario, and
// returns as soon as launched + failed reach the request, or after
// settleSeconds simulated without it.
func settle(ctx context.Context, s setup, clk clock.Clock, prog report.Progress, snap func() report.Snapshot, failed int) {
	const settleSeconds = 90
	start := clk.Now()
	minimum := 0.0
	if s.scenario == Async {
		minimum = s.sim.Lifecycle.ENITimeoutSeconds + 5
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		sn := snap()
		prog.Update(sn)
		waited := clk.Now().Sub(start).Seconds()
		if waited >= minimum && sn.Launched+failed >= sn.Requested || waited >= settleSeconds {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// chunkSize returns the size of each chunk of req.
func chunkSize(req launch.Request) func(int) int {
	return func(chunk int) int {
		c, err := req.Chunk(chunk)
		if err != nil {
			return 0
		}
		return c.Size
	}
}

// failedUnits reads the units given up with a reason from the execution's
// output: the product's summary, or the baselines' Map results.
func failedUnits(strategy, output string) int {
	if output == "" {
		return 0
	}
	if strategy == Ours {
		var sum launch.Summary
		if json.Unmarshal([]byte(output), &sum) != nil {
			return 0
		}
		return sum.Failed
	}
	var items []struct {
		Failed int `json:"failed"`
	}
	if json.Unmarshal([]byte(output), &items) != nil {
		return 0
	}
	n := 0
	for _, it := range items {
		n += it.Failed
	}
	return n
}

// measure fills r from the ledger and the simulator's counters.
func measure(r *Result, s setup, stack *awslocal.Stack, hash string, submitted time.Time, size func(int) int) {
	entries := stack.Sim.Ledger().For(hash)
	c := sim.Count(entries, func(_ string, chunk int) int { return size(chunk) })
	st := stack.Sim.Stats()
	r.Launched, r.Duplicates = c.Unique, c.Duplicates
	r.Calls = st.Calls["ecs:RunTask"] + st.Calls["ec2:RunInstances"]
	r.ThrottledCalls, r.AsyncThrottles = st.ThrottledCalls, st.AsyncThrottles
	r.ThrottledBy = byBucket(st.Buckets, func(b sim.BucketStats) int64 { return b.Throttled })
	r.CotenantCalls, r.CotenantThrottledCalls = st.CotenantCalls, st.CotenantThrottledCalls
	r.CotenantThrottledBy = byBucket(st.Buckets, func(b sim.BucketStats) int64 { return b.CotenantThrottled })
	r.CotenantServices, r.CotenantServicesRunTask = s.sim.Cotenants.Services, s.sim.Cotenants.ChargeRunTaskAPI
	for _, n := range st.ServiceActions {
		r.CotenantServiceActions += n
	}
	var launched []float64
	for _, e := range entries {
		if !e.FailedToStart {
			launched = append(launched, e.LaunchedAt.Sub(submitted).Seconds())
		}
	}
	launched = sortedTimes(launched)
	if len(launched) > 0 {
		r.FirstLaunchS, r.MakespanS = launched[0], launched[len(launched)-1]
	}
	r.P50LaunchS, r.P99LaunchS = percentile(launched, 50), percentile(launched, 99)
	r.IdealMakespanS = idealOf(s.units, s.ideal)
	r.IdealRemainingS = s.idealRemaining()
	r.curve = report.Steps(launched)
}

// byBucket is count of each bucket where it is not 0; nil when none is.
func byBucket(buckets map[string]sim.BucketStats, count func(sim.BucketStats) int64) map[string]int64 {
	var out map[string]int64
	for name, b := range buckets {
		if n := count(b); n > 0 {
			if out == nil {
				out = map[string]int64{}
			}
			out[name] = n
		}
	}
	return out
}

// startCotenant sets the co-tenant caller on the simulator, its times
// counted from submitted.
func startCotenant(sm *sim.Sim, c report.Cotenant, submitted time.Time) error {
	if c.Share == 0 {
		return nil
	}
	var until time.Time
	if c.StopS > 0 {
		until = submitted.Add(time.Duration(c.StopS * float64(time.Second)))
	}
	return sm.SetCotenantTraffic(c.Share, submitted.Add(time.Duration(c.StartS*float64(time.Second))), until)
}

// idealOf is the contracts' ideal makespan of units over buckets.
func idealOf(units map[string]float64, buckets map[string]report.Bucket) float64 {
	return report.IdealMakespan(units, buckets)
}
