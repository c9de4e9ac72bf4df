package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// Options configure a demo run. Zero fields take the defaults named.
type Options struct {
	// Tasks is the Fargate tasks requested (default 2000).
	Tasks int
	// Concurrency is the launch state machine's Map MaxConcurrency
	// (default the machine's own, statemachines.LaunchConcurrency).
	Concurrency int
	// TimeScale runs the local AWS k× faster than real time (default 10).
	TimeScale float64
	// Report is the JSON report's path (default reports/demo.json); the
	// chart is written beside it with the extension .png.
	Report string
	// Buckets override the simulator's published defaults by name
	// (sim.Bucket* names).
	Buckets map[string]sim.Bucket
	// Seed of the simulator's IDs (default 1).
	Seed uint64
	// TaskRunSeconds is the mean run time of a started task, drawn from
	// ±50 % (default DefaultTaskRunSeconds; negative: tasks run until
	// stopped). TaskFailureRate is the share whose essential container
	// exits 1 (default 0).
	TaskRunSeconds, TaskFailureRate float64
	// NoWait submits the request without waitForCompletion: the execution
	// ends after the launch, as before jobs. Otherwise it waits for every
	// task to stop, retrying failed runs up to RetryAttempts attempts
	// (default DefaultRetryAttempts).
	NoWait        bool
	RetryAttempts int
	// DeferThreshold, when ≥ 0, overrides the functions' defer threshold
	// (TH_DEFER_THRESHOLD_SECONDS); negative keeps the product's default.
	DeferThreshold time.Duration
	// Out receives progress, the table and the paths; Log the stack's
	// diagnostics when Verbose.
	Out     io.Writer
	Verbose bool
	Log     io.Writer
	// TTY shows a live bar instead of plain lines every ProgressEvery
	// (default 2 s).
	TTY           bool
	ProgressEvery time.Duration
	// Timeout bounds the run in real time (default 10 min).
	Timeout time.Duration
	// Install, when set, makes the Node tools current once the options
	// are checked, before the stack starts, writing what it does to Out
	// (the command passes internal/nodetools.Ensure: what make deps does).
	Install func(ctx context.Context, log io.Writer) error
}

func (o *Options) defaults() error {
	if o.Tasks == 0 {
		o.Tasks = 2000
	}
	if o.Concurrency == 0 {
		o.Concurrency = statemachines.LaunchConcurrency()
	}
	if o.TimeScale == 0 {
		o.TimeScale = 10
	}
	if o.Report == "" {
		o.Report = filepath.Join("reports", "demo.json")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 2 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if err := o.jobDefaults(); err != nil {
		return err
	}
	switch {
	case o.Tasks < 1 || o.Tasks > 100000:
		return fmt.Errorf("--tasks: must be 1..100000 (a request's ecs.count), got %d", o.Tasks)
	case o.Concurrency < 1 || o.Concurrency > 10000:
		return fmt.Errorf("--concurrency: must be 1..10000 (a Map's MaxConcurrency), got %d", o.Concurrency)
	case o.TimeScale <= 0 || o.TimeScale > 200:
		return fmt.Errorf("--time-scale: must be in (0, 200], got %g", o.TimeScale)
	case !strings.HasSuffix(o.Report, ".json"):
		return fmt.Errorf("--report: must name a .json file (the chart goes beside it as .png), got %q", o.Report)
	}
	for name, b := range o.Buckets {
		if b.Burst < 0 || b.Rate < 0 {
			return fmt.Errorf("bucket %s: burst and rate must be ≥ 0, got %g/%g", name, b.Burst, b.Rate)
		}
	}
	return nil
}

// ChartPath is where the chart of a report path goes.
func ChartPath(reportPath string) string { return strings.TrimSuffix(reportPath, ".json") + ".png" }

// Run runs the demo and returns its report. The report and chart are
// written even when the run ends badly (a failed execution, lost units),
// so that what happened can be seen; an interrupted run writes nothing.
func Run(ctx context.Context, o Options) (report.Report, error) {
	wall := time.Now()
	if err := o.defaults(); err != nil {
		return report.Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	out := o.Out
	fmt.Fprintf(out, "throttle-handler demo: %d Fargate tasks, Map concurrency %d, local AWS at %g× real time\n", o.Tasks, o.Concurrency, o.TimeScale)
	fmt.Fprintln(out, o.jobsLine())

	if o.Install != nil {
		if err := o.Install(ctx, out); err != nil {
			return report.Report{}, fmt.Errorf("node tools: %w", err)
		}
	}
	dir, err := machinesDir(o.Concurrency)
	if err != nil {
		return report.Report{}, fmt.Errorf("state machines: %w", err)
	}
	defer os.RemoveAll(dir)

	req := o.request()
	size := func(chunk int) int {
		c, err := req.Chunk(chunk)
		if err != nil {
			return 0
		}
		return c.Size
	}
	obs := newObserver(req.RequestID, size)

	buckets := sim.DefaultBuckets()
	maps.Copy(buckets, o.Buckets)
	logger := slog.New(slog.DiscardHandler)
	// The handlers' EMF metric lines (Lambda's log stream) would bury the
	// progress: the demo measures from the simulator instead.
	so := awslocal.ServicesOptions{Functions: obs.wrap(lambdafn.Build), StateMachinesDir: dir, Metrics: io.Discard}
	if o.DeferThreshold >= 0 {
		so.Configure = func(c *config.Config) { c.DeferThreshold = o.DeferThreshold }
	}
	if o.Verbose {
		logger = slog.New(slog.NewTextHandler(o.Log, nil))
		so.RunnerStderr = o.Log
	}
	fmt.Fprintln(out, "starting the local AWS (ECS/EC2 simulator, Lambda, Step Functions, EventBridge, SQS, DynamoDB) …")
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: o.TimeScale, Sim: sim.Config{Seed: o.Seed, Buckets: buckets, Runs: o.runs()},
		Logger: logger, Services: so})
	if err != nil {
		return report.Report{}, fmt.Errorf("start the local AWS: %w", err)
	}
	defer func() {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "\nstopping the local AWS (dynalite, the Step Functions runner, the handlers in flight) …")
		}
		begin := time.Now()
		_ = stack.Close()
		if ctx.Err() != nil {
			fmt.Fprintf(out, "stopped in %.1f s\n", time.Since(begin).Seconds())
		}
	}()
	startup := time.Since(wall)
	fmt.Fprintf(out, "local AWS up in %.1f s at %s\n", startup.Seconds(), stack.Endpoint)

	awsCfg := aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("demo", "demo", "")}
	sfnc := sfn.NewFromConfig(awsCfg)
	machine := stack.Env()["TH_STATE_MACHINE_ARN"]
	body, _ := json.Marshal(req)
	submitted := stack.Clock.Now()
	res, err := submit.New(sfnc, machine).Submit(ctx, body)
	if err != nil {
		return report.Report{}, fmt.Errorf("submit: %w", err)
	}
	fmt.Fprintf(out, "submitted %s as execution %s\n\n", req.RequestID, res.ExecutionName)

	hash := launch.RequestHash(req.RequestID)
	snapshot := func() report.Snapshot {
		entries := stack.Sim.Ledger().For(hash)
		c := countRuns(entries, size)
		st := stack.Sim.Stats()
		inFlight, deferred := obs.counts()
		return report.Snapshot{SimSeconds: stack.Clock.Now().Sub(submitted).Seconds(), Requested: o.Tasks,
			Launched: c.Unique, InFlight: inFlight, Deferred: deferred, Throttled: st.ThrottledCalls, Async: st.AsyncThrottles,
			Completed: len(stoppedTimes(entries, submitted))}
	}
	prog := report.NewProgress(ctx, out, o.TTY, o.Tasks, o.ProgressEvery)
	status, output, err := follow(ctx, sfnc, res.ExecutionARN, prog, snapshot)
	if err != nil {
		prog.Done(snapshot())
		return report.Report{}, err
	}
	final := snapshot()
	var sum launch.Summary
	if output != "" {
		_ = json.Unmarshal([]byte(output), &sum)
	}
	if c := outputCounts(output); sum.DeadLettered == 0 && c != nil {
		sum.DeadLettered = c[launch.ResultDeadLettered] // a failed execution's cause
	}
	final.DeadLettered = sum.DeadLettered
	final.InFlight, final.Deferred = 0, 0
	prog.Done(final)

	rep, chart := measure(stack, req, submitted, sum, obs, buckets)
	rep.EndS = final.SimSeconds
	addJobs(&rep, &chart, stack.Sim.Ledger().For(hash), submitted, output)
	rep.Status = status
	rep.Concurrency, rep.TimeScale = o.Concurrency, o.TimeScale
	rep.StartupS = startup.Seconds()
	rep.WallS = time.Since(wall).Seconds()
	fmt.Fprintln(out)
	if err := rep.WriteTable(out); err != nil {
		return rep, err
	}
	if err := os.MkdirAll(filepath.Dir(o.Report), 0o755); err != nil {
		return rep, fmt.Errorf("--report: %w", err)
	}
	if err := rep.WriteJSON(o.Report); err != nil {
		return rep, err
	}
	if err := chart.Save(ChartPath(o.Report)); err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "\nreport: %s\nchart:  %s\n", o.Report, ChartPath(o.Report))
	if status != string(sfntypes.ExecutionStatusSucceeded) {
		return rep, fmt.Errorf("execution %s ended %s", res.ExecutionName, status)
	}
	return rep, nil
}

// follow updates prog until the execution ends, and returns its status
// and output (a failed execution's cause).
func follow(ctx context.Context, c *sfn.Client, arn string, prog report.Progress, snap func() report.Snapshot) (status, output string, err error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastPoll time.Time
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", "", errors.New("demo: the run did not finish in time (raise --time-scale or lower --tasks)")
			}
			return "", "", fmt.Errorf("demo: interrupted: %w", ctx.Err())
		case <-tick.C:
		}
		prog.Update(snap())
		if time.Since(lastPoll) < 250*time.Millisecond {
			continue
		}
		lastPoll = time.Now()
		d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return "", "", fmt.Errorf("DescribeExecution: %w", err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			if d.Output == nil { // a failed execution's summary is its cause
				return string(d.Status), aws.ToString(d.Cause), nil
			}
			return string(d.Status), aws.ToString(d.Output), nil
		}
	}
}

// measure builds the report and the chart from the ledger, the stats and
// the summary.
func measure(stack *awslocal.Stack, req launch.Request, submitted time.Time, sum launch.Summary, obs *observer, buckets map[string]sim.Bucket) (report.Report, report.Chart) {
	n := req.Requested()
	entries := stack.Sim.Ledger().For(launch.RequestHash(req.RequestID))
	c := countRuns(entries, func(chunk int) int {
		spec, err := req.Chunk(chunk)
		if err != nil {
			return 0
		}
		return spec.Size
	})
	st := stack.Sim.Stats()
	since := func(t time.Time) float64 { return t.Sub(submitted).Seconds() }

	var launched, failed []float64
	for _, e := range entries {
		if e.FailedToStart {
			if e.StoppedAt != nil {
				failed = append(failed, since(*e.StoppedAt))
			}
			continue
		}
		launched = append(launched, since(e.LaunchedAt))
	}
	sort.Float64s(launched)
	sort.Float64s(failed)

	calls := float64((n + 9) / 10)
	units := map[string]float64{sim.BucketRunTask: calls, sim.BucketFargateRunTask: calls, sim.BucketFargateTasks: float64(n)}
	rb := map[string]report.Bucket{}
	for name := range units {
		rb[name] = report.Bucket{Burst: buckets[name].Burst, Rate: buckets[name].Rate}
	}
	r := report.Report{
		RequestID: req.RequestID, Requested: n, Launched: c.Unique, Duplicates: c.Duplicates, DeadLettered: sum.DeadLettered,
		Calls: st.Calls["ecs:RunTask"] + st.Calls["ec2:RunInstances"], ThrottledCalls: st.ThrottledCalls, AsyncThrottles: st.AsyncThrottles,
		IdealMakespanS: report.IdealMakespan(units, rb), Buckets: rb, Reasons: sum.Reasons,
	}
	for name, b := range st.Buckets {
		if b.Throttled > 0 {
			if r.ThrottledByBucket == nil {
				r.ThrottledByBucket = map[string]int64{}
			}
			r.ThrottledByBucket[name] = b.Throttled
		}
	}
	if len(launched) > 0 {
		r.MakespanS = launched[len(launched)-1]
	}
	r.Finish()
	curve := report.Steps(launched)
	r.Timeline = perSecond(curve)

	end := max(r.MakespanS, r.IdealMakespanS) * 1.04
	ch := report.Chart{
		Title: fmt.Sprintf("throttle-handler: %s Fargate tasks at the published ECS limits — %d lost, %d duplicates (local AWS)",
			thousands(n), r.Lost, r.Duplicates),
		XLabel: "simulated seconds since submit", YLabel: "tasks launched",
		Lines: []report.Series{
			{Name: fmt.Sprintf("launched (makespan %.0f s)", r.MakespanS), Points: curve},
			{Name: fmt.Sprintf("ideal at the buckets (%.0f s)", r.IdealMakespanS), Points: report.IdealCurve(n, units, rb, end, 0.5), Dashed: true},
		},
	}
	var marks []report.Point
	for _, t := range obs.throttleTimes() {
		x := since(t)
		marks = append(marks, report.Point{X: x, Y: report.At(curve, x)})
	}
	ch.Marks = append(ch.Marks, report.Series{Name: fmt.Sprintf("throttled calls (%d of %d)", r.ThrottledCalls, r.Calls), Points: marks})
	if len(failed) > 0 {
		var fm []report.Point
		for _, x := range failed {
			fm = append(fm, report.Point{X: x, Y: report.At(curve, x)})
		}
		ch.Marks = append(ch.Marks, report.Series{Name: fmt.Sprintf("failed to start, relaunched (%d)", len(failed)), Points: fm,
			Color: color.RGBA{255, 127, 14, 255}})
	}
	return r, ch
}

// perSecond samples a cumulative curve at each whole simulated second.
func perSecond(curve []report.Point) []report.Point {
	if len(curve) == 0 {
		return nil
	}
	last := curve[len(curve)-1].X
	var out []report.Point
	for t := 0.0; t <= last+1; t++ {
		out = append(out, report.Point{X: t, Y: report.At(curve, t)})
	}
	return out
}

// thousands formats n with a thousands separator: 2,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
