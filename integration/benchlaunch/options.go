package benchlaunch

import (
	"fmt"
	"github.com/throttle-handler/throttle-handler/statemachines"
	"io"
	"slices"
	"strings"
	"time"
)

// Strategy names.
const (
	Ours        = "ours"
	Naive       = "naive"
	ASLJitter   = "asl-jitter"
	SDKAdaptive = "sdk-adaptive"
)

// Scenario names.
const (
	Burst = "burst"
	// Unknown is burst on an account whose buckets are not the published
	// ones, and ours is not told them.
	Unknown  = "unknown"
	Cotenant = "cotenant"
	Async    = "async"
	EC2      = "ec2"
	Faults   = "faults"
	// Priority is a high-priority request arriving while a low-priority
	// batch is launching (priority.go; ours only).
	Priority = "priority"
)

// AllStrategies and AllScenarios in table order.
var (
	AllStrategies = []string{Ours, Naive, ASLJitter, SDKAdaptive}
	AllScenarios  = []string{Burst, Unknown, Cotenant, Async, EC2, Faults, Priority}
)

// Params configure a benchmark. Zero fields take the defaults named; Quick
// changes the defaults of the sizes to the `make bench` budget.
type Params struct {
	// Scenarios and Strategies to run (default all).
	Scenarios, Strategies []string
	// Tasks is the Fargate tasks per request (default 10,000; quick 600).
	Tasks int
	// Instances is the EC2 scenario's instances (default 500; quick 100).
	Instances int
	// AdaptiveTasks is sdk-adaptive's request size: it runs at time scale 1
	// (default 1,000; quick 300).
	AdaptiveTasks int
	// Concurrency is every Map's MaxConcurrency (default the launch
	// machine's own, statemachines.LaunchConcurrency: the strategies then
	// differ only in how they call).
	Concurrency int
	// Account buckets; zero takes the scenario's default: AWS's published
	// RunTask 100 burst/40 per s and Fargate tasks 100/20, except in the
	// unknown scenario, RunTask 70/27 and Fargate tasks 90/16. The Fargate
	// RunTask cap stays 20/20. Ours is told them, except in unknown.
	RunTaskBurst, RunTaskRate, FargateBurst, FargateRate float64
	// CotenantShare is the share of every published bucket the co-tenant
	// caller draws in the cotenant scenario (default 0.3), from
	// CotenantStartS to CotenantStopS, simulated seconds since submit
	// (defaults 0, already there; and 0, never leaves). The strategies are
	// not told.
	CotenantShare                 float64
	CotenantStartS, CotenantStopS float64
	// CotenantServices adds that many co-tenant ECS services to the
	// cotenant scenario (sim.Cotenants, deploying 5 tasks every 30 s on
	// average; default 0, none). CotenantServicesRunTask charges their
	// deployments to the RunTask API request buckets
	// (sim.Cotenants.ChargeRunTaskAPI; default false, AWS's documented
	// charging).
	CotenantServices        int
	CotenantServicesRunTask bool
	// ENIBurst and ENIRate are the hidden ENI bucket of the async scenario
	// (default 100/15: below the Fargate rate, so ECS throttles
	// asynchronously).
	ENIBurst, ENIRate float64
	// LostRate, ServerErrorRate and CrashRate are the faults scenario's
	// lost responses, 5xx answers and Lambda crashes (after the work)
	// (defaults 0.03, 0.03, 0.01).
	LostRate, ServerErrorRate, CrashRate float64
	// WaitForCompletion and Items are the jobs variants of the burst
	// scenario (jobs.go; ours only): the request waits for its tasks,
	// which run TaskRunSeconds on average (default DefaultTaskRunSeconds),
	// and/or carries one item per task (one RunTask call each).
	WaitForCompletion, Items bool
	TaskRunSeconds           float64
	// BatchTasks and UrgentTasks are the priority scenario's low-priority
	// batch and high-priority request (defaults 5,000 and 50; quick 1,000
	// and 50), the urgent one submitted UrgentAtS simulated seconds after
	// the batch (default 60; quick 20).
	BatchTasks, UrgentTasks int
	UrgentAtS               float64
	// DeferThreshold overrides ours' TH_DEFER_THRESHOLD_SECONDS (nil: the
	// product's default).
	DeferThreshold *time.Duration
	// Seed of every simulated account (default 1).
	Seed uint64
	// TimeScale k of the scaled clock (default 5); sdk-adaptive runs at 1.
	// The local stack's real overheads (Node runner, dynalite, handlers on
	// 2 cores) cost k× more simulated time as k grows, and they hurt the
	// strategy that paces most: measured on ours, 1,000 tasks, burst:
	// ×1.04 of the ideal at k=2, ×1.26 at k=5, ×2.7 at k=20.
	TimeScale float64
	// Quick is `make bench`: small sizes (≤ 5 minutes on 2 cores).
	Quick bool
	// Chart is the PNG chart's path (default reports/bench-launch.png); one
	// file per scenario, named <chart>-<scenario>.png.
	Chart string
	// Out receives progress and the table; Log the stack's diagnostics and
	// the handlers' logs (nil: discarded).
	Out, Log io.Writer
	// Metrics receives the handlers' EMF metric lines, Lambda's log stream
	// (nil: discarded).
	Metrics io.Writer
	// TTY shows live bars instead of progress lines.
	TTY bool
	// RunTimeout bounds one (scenario, strategy) run in real time (default
	// 10 min).
	RunTimeout time.Duration
}

// Validate reports the first bad parameter, naming its flag, before
// anything is started.
func (p Params) Validate() error { return p.defaults() }

func (p *Params) defaults() error {
	if p.jobsVariant() && (len(p.Scenarios) == 0 || slices.Equal(p.Scenarios, []string{"all"})) {
		p.Scenarios = []string{Burst} // the jobs variants are burst's
	}
	if len(p.Scenarios) == 0 || slices.Contains(p.Scenarios, "all") {
		p.Scenarios = AllScenarios
	}
	if len(p.Strategies) == 0 || slices.Contains(p.Strategies, "all") {
		p.Strategies = AllStrategies
	}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if p.Quick {
				*v = quick
			}
		}
	}
	def(&p.Tasks, 10000, 600)
	def(&p.Instances, 500, 100)
	def(&p.AdaptiveTasks, 1000, 300)
	def(&p.Concurrency, statemachines.LaunchConcurrency(), statemachines.LaunchConcurrency())
	def(&p.BatchTasks, DefaultBatchTasks, 1000)
	def(&p.UrgentTasks, DefaultUrgentTasks, DefaultUrgentTasks)
	if p.UrgentAtS == 0 {
		p.UrgentAtS = DefaultUrgentAtS
		if p.Quick {
			p.UrgentAtS = 20
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	deff(&p.CotenantShare, 0.3)
	deff(&p.ENIBurst, 100)
	deff(&p.ENIRate, 15)
	deff(&p.LostRate, 0.03)
	deff(&p.ServerErrorRate, 0.03)
	deff(&p.CrashRate, 0.01)
	deff(&p.TimeScale, 5)
	if p.Seed == 0 {
		p.Seed = 1
	}
	if p.Chart == "" {
		p.Chart = "reports/bench-launch.png"
	}
	if p.Out == nil {
		p.Out = io.Discard
	}
	if p.Log == nil {
		p.Log = io.Discard
	}
	if p.Metrics == nil {
		p.Metrics = io.Discard
	}
	if p.RunTimeout == 0 {
		p.RunTimeout = 10 * time.Minute
	}
	for _, s := range p.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return fmt.Errorf("--scenario: unknown %q (want %s or all)", s, strings.Join(AllScenarios, ", "))
		}
	}
	for _, s := range p.Strategies {
		if !slices.Contains(AllStrategies, s) {
			return fmt.Errorf("--strategies: unknown %q (want %s or all)", s, strings.Join(AllStrategies, ", "))
		}
	}
	switch {
	case p.Tasks < 1 || p.Tasks > 100000:
		return fmt.Errorf("--tasks: must be 1..100000, got %d", p.Tasks)
	case p.Instances < 1 || p.Instances > 10000:
		return fmt.Errorf("--instances: must be 1..10000, got %d", p.Instances)
	case p.AdaptiveTasks < 1 || p.AdaptiveTasks > 100000:
		return fmt.Errorf("--adaptive-tasks: must be 1..100000, got %d", p.AdaptiveTasks)
	case p.Concurrency < 1 || p.Concurrency > 10000:
		return fmt.Errorf("--concurrency: must be 1..10000, got %d", p.Concurrency)
	case p.CotenantShare < 0 || p.CotenantShare >= 1:
		return fmt.Errorf("--cotenant-share: must be in [0, 1), got %g", p.CotenantShare)
	case p.CotenantServices < 0 || p.CotenantServices > 1000:
		return fmt.Errorf("--cotenant-services: must be 0..1000, got %d", p.CotenantServices)
	case p.CotenantStartS < 0:
		return fmt.Errorf("--cotenant-start: must be ≥ 0 simulated seconds since submit, got %g", p.CotenantStartS)
	case p.CotenantStopS < 0 || p.CotenantStopS > 0 && p.CotenantStopS <= p.CotenantStartS:
		return fmt.Errorf("--cotenant-stop: must be after --cotenant-start (%g s), or 0 for never, got %g", p.CotenantStartS, p.CotenantStopS)
	case p.ENIBurst < 0 || p.ENIRate <= 0:
		return fmt.Errorf("--eni-burst/--eni-rate: burst ≥ 0 and rate > 0, got %g/%g", p.ENIBurst, p.ENIRate)
	case p.TimeScale <= 0 || p.TimeScale > 200:
		return fmt.Errorf("--time-scale: must be in (0, 200], got %g", p.TimeScale)
	case !strings.HasSuffix(p.Chart, ".png"):
		return fmt.Errorf("--chart: must name a .png file, got %q", p.Chart)
	}
	if err := p.jobsProblem(); err != nil {
		return err
	}
	if err := p.priorityProblem(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"--runtask-burst", p.RunTaskBurst}, {"--runtask-rate", p.RunTaskRate}, {"--fargate-burst", p.FargateBurst}, {"--fargate-rate", p.FargateRate}} {
		if f.v < 0 {
			return fmt.Errorf("%s: must be ≥ 0 (0: the scenario's default), got %g", f.name, f.v)
		}
	}
	for name, v := range map[string]float64{"--lost-rate": p.LostRate, "--server-error-rate": p.ServerErrorRate, "--crash-rate": p.CrashRate} {
		if v < 0 || v >= 1 {
			return fmt.Errorf("%s: must be in [0, 1), got %g", name, v)
		}
	}
	return nil
}
