package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/benchlaunch"
	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/internal/nodetools"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// runLaunch is `bench launch`: the launch benchmark of integration/benchlaunch.
func runLaunch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("launch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p benchlaunch.Params
	scenario := fs.String("scenario", "all", "scenario: burst, unknown, cotenant, async, ec2, faults, priority or all (comma-separated list allowed)")
	strategies := fs.String("strategies", "all", "strategies, comma-separated: ours, naive, asl-jitter, sdk-adaptive or all")
	fs.IntVar(&p.Tasks, "tasks", 0, "Fargate tasks per request (default 10000; --quick 600)")
	fs.IntVar(&p.Instances, "instances", 0, "EC2 instances in the ec2 scenario (default 500; --quick 100)")
	fs.IntVar(&p.AdaptiveTasks, "adaptive-tasks", 0, "sdk-adaptive's tasks, run at time scale 1 (default 1000; --quick 300)")
	fs.IntVar(&p.Concurrency, "concurrency", statemachines.LaunchConcurrency(), "every Map's MaxConcurrency (the launch machine's own by default)")
	fs.Float64Var(&p.RunTaskBurst, "runtask-burst", 0, "the account's ECS RunTask bucket burst (default 100; unknown 70)")
	fs.Float64Var(&p.RunTaskRate, "runtask-rate", 0, "the account's ECS RunTask bucket rate, calls/s (default 40; unknown 27)")
	fs.Float64Var(&p.FargateBurst, "fargate-burst", 0, "the account's Fargate task launch bucket burst (default 100; unknown 90)")
	fs.Float64Var(&p.FargateRate, "fargate-rate", 0, "the account's Fargate task launch bucket rate, tasks/s (default 20; unknown 16)")
	fs.Float64Var(&p.CotenantShare, "cotenant-share", 0.3, "share of every published bucket the co-tenant draws (cotenant scenario)")
	fs.Float64Var(&p.CotenantStartS, "cotenant-start", 0, "when the co-tenant arrives, simulated seconds since submit (0: already there)")
	fs.Float64Var(&p.CotenantStopS, "cotenant-stop", 0, "when the co-tenant leaves, simulated seconds since submit (default 0: never)")
	fs.IntVar(&p.CotenantServices, "cotenant-services", 0, "co-tenant ECS services deploying in the cotenant scenario")
	fs.BoolVar(&p.CotenantServicesRunTask, "cotenant-services-runtask", false, "co-tenant services' deployments also draw from the RunTask API buckets")
	fs.Float64Var(&p.ENIBurst, "eni-burst", 100, "hidden ENI bucket burst (async scenario)")
	fs.Float64Var(&p.ENIRate, "eni-rate", 15, "hidden ENI bucket rate (async scenario)")
	fs.Float64Var(&p.LostRate, "lost-rate", 0.03, "share of launch calls whose response is lost (faults scenario)")
	fs.Float64Var(&p.ServerErrorRate, "server-error-rate", 0.03, "share of calls answered 5xx (faults scenario)")
	fs.Float64Var(&p.CrashRate, "crash-rate", 0.01, "share of launching Lambda invocations that crash after the work (faults scenario)")
	fs.BoolVar(&p.WaitForCompletion, "wait-for-completion", false, "burst, ours only: the request waits for its tasks, which run --task-run-seconds; reports the last stop and the execution's end against their ideal")
	fs.Float64Var(&p.TaskRunSeconds, "task-run-seconds", 0, "mean run time of a task with --wait-for-completion, simulated seconds, drawn from ±50 % (default 60)")
	fs.BoolVar(&p.Items, "items", false, "burst, ours only: one item (per-task overrides) per task, so one RunTask call per task; ideal (N − 20)/20 s on Fargate")
	fs.IntVar(&p.BatchTasks, "batch-tasks", 0, "priority scenario: the low-priority batch's Fargate tasks (default 5000; --quick 1000)")
	fs.IntVar(&p.UrgentTasks, "urgent-tasks", 0, "priority scenario: the high-priority request's Fargate tasks (default 50)")
	fs.Float64Var(&p.UrgentAtS, "urgent-at", 0, "priority scenario: when the high-priority request is submitted, simulated seconds after the batch (default 60; --quick 20)")
	fs.Uint64Var(&p.Seed, "seed", 1, "seed of every simulated account")
	seeds := fs.String("seeds", "", "run every pair once per seed of this comma-separated `list` and print the medians (instead of --seed)")
	fs.DurationVar(&p.RunTimeout, "run-timeout", 10*time.Minute, "bound on one pair's run, real time")
	fs.Float64Var(&p.TimeScale, "time-scale", 5, "run the local AWS k× faster than real time (sdk-adaptive always runs at 1)")
	fs.BoolVar(&p.Quick, "quick", false, "make bench: small sizes, ≤ 5 minutes on 2 cores")
	jsonOut := fs.String("json", "", "also write the results as a JSON array to `FILE` (- for stdout)")
	fs.StringVar(&p.Chart, "chart", "reports/bench-launch.png", "chart path; one PNG per scenario, <chart>-<scenario>.png")
	deferThreshold := fs.Float64("defer-threshold", -1, "ours: TH_DEFER_THRESHOLD_SECONDS (simulated s; negative: the product's default)")
	verbose := fs.Bool("v", false, "show the Step Functions runner's diagnostics and the handlers' logs on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	seedList, err := seedsFlag(fs, *seeds)
	if err != nil {
		return err
	}
	if *deferThreshold >= 0 {
		d := time.Duration(*deferThreshold * float64(time.Second))
		p.DeferThreshold = &d
	}
	p.Scenarios = splitList(*scenario)
	p.Strategies = splitList(*strategies)
	p.Out = stdout
	if *jsonOut == "-" {
		p.Out = stderr // keep stdout for the JSON
	}
	if f, ok := p.Out.(*os.File); ok {
		p.TTY = report.IsTerminal(f)
	}
	if *verbose {
		// The handlers' EMF metric lines (Lambda's log stream) too; without
		// -v they are discarded, and stdout keeps the table.
		p.Log, p.Metrics = stderr, stderr
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if _, err := nodetools.Ensure(ctx, testenv.RepoRoot(), p.Out); err != nil {
		return err
	}
	results, err := benchlaunch.RunSeeds(ctx, p, seedList)
	var doc any = results
	if len(results) > 0 {
		fmt.Fprintln(p.Out)
		if terr := benchlaunch.WriteTable(p.Out, results); terr != nil && err == nil {
			err = terr
		}
		if len(seedList) > 1 {
			sums := benchlaunch.Summarize(results)
			doc = benchlaunch.SeedsReport{Seeds: seedList, Runs: results, Medians: sums}
			fmt.Fprintf(p.Out, "\nmedians of %d seeds [min–max]:\n", len(seedList))
			if terr := benchlaunch.WriteSummary(p.Out, sums); terr != nil && err == nil {
				err = terr
			}
		}
		fmt.Fprintf(p.Out, "\nprices (us-east-1): Step Functions $%g per transition, Lambda $%g per GB-s + $%g per request, DynamoDB $%g per write\n",
			benchlaunch.PricePerTransition, benchlaunch.PricePerGBSecond, benchlaunch.PricePerInvocation, benchlaunch.PricePerWrite)
	}
	if jerr := writeLaunchJSON(*jsonOut, stdout, p.Out, doc); jerr != nil && err == nil {
		err = jerr
	}
	return err
}

// seedsFlag is --seeds as a list; nil when it is not given (--seed holds).
func seedsFlag(fs *flag.FlagSet, list string) ([]uint64, error) {
	if list == "" {
		return nil, nil
	}
	both := false
	fs.Visit(func(f *flag.Flag) { both = both || f.Name == "seed" })
	if both {
		return nil, errors.New("--seeds: give --seed or --seeds, not both")
	}
	return benchlaunch.ParseSeeds(list)
}

// writeLaunchJSON writes doc to dest: nowhere when empty, stdout for -,
// else the file, saying so on out.
func writeLaunchJSON(dest string, stdout, out io.Writer, doc any) error {
	switch dest {
	case "":
		return nil
	case "-":
		return benchlaunch.EncodeJSON(stdout, doc)
	}
	if err := benchlaunch.WriteJSON(dest, doc); err != nil {
		return err
	}
	fmt.Fprintf(out, "json: %s\n", dest)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
