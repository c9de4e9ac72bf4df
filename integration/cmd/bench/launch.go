package main

import (
	"context"
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
)

// runLaunch is `bench launch`: the launch benchmark of integration/benchlaunch.
func runLaunch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("launch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p benchlaunch.Params
	scenario := fs.String("scenario", "all", "scenario: burst, cotenant, async, ec2, faults or all (comma-separated list allowed)")
	strategies := fs.String("strategies", "all", "strategies, comma-separated: ours, naive, asl-jitter, sdk-adaptive or all")
	fs.IntVar(&p.Tasks, "tasks", 0, "Fargate tasks per request (default 10000; --quick 600)")
	fs.IntVar(&p.Instances, "instances", 0, "EC2 instances in the ec2 scenario (default 500; --quick 100)")
	fs.IntVar(&p.AdaptiveTasks, "adaptive-tasks", 0, "sdk-adaptive's tasks, run at time scale 1 (default 1000; --quick 300)")
	fs.IntVar(&p.Concurrency, "concurrency", 400, "every Map's MaxConcurrency")
	fs.Float64Var(&p.RunTaskBurst, "runtask-burst", 100, "ECS RunTask bucket burst")
	fs.Float64Var(&p.RunTaskRate, "runtask-rate", 40, "ECS RunTask bucket rate (calls/s)")
	fs.Float64Var(&p.FargateBurst, "fargate-burst", 100, "Fargate task launch bucket burst")
	fs.Float64Var(&p.FargateRate, "fargate-rate", 20, "Fargate task launch bucket rate (tasks/s)")
	fs.Float64Var(&p.CotenantShare, "cotenant-share", 0.3, "share of every bucket the co-tenant takes (cotenant scenario)")
	fs.Float64Var(&p.ENIBurst, "eni-burst", 100, "hidden ENI bucket burst (async scenario)")
	fs.Float64Var(&p.ENIRate, "eni-rate", 15, "hidden ENI bucket rate (async scenario)")
	fs.Float64Var(&p.LostRate, "lost-rate", 0.03, "share of launch calls whose response is lost (faults scenario)")
	fs.Float64Var(&p.ServerErrorRate, "server-error-rate", 0.03, "share of calls answered 5xx (faults scenario)")
	fs.Float64Var(&p.CrashRate, "crash-rate", 0.01, "share of launching Lambda invocations that crash after the work (faults scenario)")
	fs.Uint64Var(&p.Seed, "seed", 1, "seed of every simulated account")
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
	if _, err := nodetools.Ensure(ctx, testenv.RepoRoot(), p.Out); err != nil {
		return err
	}
	results, err := benchlaunch.Run(ctx, p)
	if len(results) > 0 {
		fmt.Fprintln(p.Out)
		if terr := benchlaunch.WriteTable(p.Out, results); terr != nil && err == nil {
			err = terr
		}
		fmt.Fprintf(p.Out, "\nprices (us-east-1): Step Functions $%g per transition, Lambda $%g per GB-s + $%g per request, DynamoDB $%g per write\n",
			benchlaunch.PricePerTransition, benchlaunch.PricePerGBSecond, benchlaunch.PricePerInvocation, benchlaunch.PricePerWrite)
	}
	switch *jsonOut {
	case "":
	case "-":
		if jerr := benchlaunch.EncodeJSON(stdout, results); jerr != nil && err == nil {
			err = jerr
		}
	default:
		if jerr := benchlaunch.WriteJSON(*jsonOut, results); jerr != nil && err == nil {
			err = jerr
		} else if jerr == nil {
			fmt.Fprintf(p.Out, "json: %s\n", *jsonOut)
		}
	}
	return err
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
