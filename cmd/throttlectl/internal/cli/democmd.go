package cli

import (
	"context"
	"io"
	"log"
	"os"
	"time"

	"github.com/throttle-handler/throttle-handler/cmd/throttlectl/internal/demo"
	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// runDemo is `throttlectl demo`: the local end-to-end run (package demo).
// Its bucket flags are the local stack's (--<bucket>-burst, --<bucket>-rate,
// e.g. --fargate-rate 10), defaulting to AWS's published values.
func runDemo(ctx context.Context, app *App, args []string) error {
	fs := app.flags("demo")
	o := demo.Options{}
	fs.IntVar(&o.Tasks, "tasks", 2000, "Fargate tasks to request")
	fs.IntVar(&o.Concurrency, "concurrency", 400, "the launch state machine's Map MaxConcurrency")
	fs.Float64Var(&o.TimeScale, "time-scale", 10, "simulated seconds per real second")
	fs.StringVar(&o.Report, "report", "reports/demo.json", "JSON report path (the PNG chart goes beside it)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the simulator's IDs")
	fs.BoolVar(&o.Verbose, "verbose", false, "the local stack's logs on stderr")
	defer_ := fs.Float64("defer-threshold-seconds", -1, "the functions' TH_DEFER_THRESHOLD_SECONDS (-1: the product's default)")
	plain := fs.Bool("plain", false, "plain progress lines even on a terminal")
	def := sim.DefaultBuckets()
	burst, rate := map[string]*float64{}, map[string]*float64{}
	for _, b := range awslocal.BucketFlags {
		burst[b.Bucket] = fs.Float64(b.Prefix+"-burst", def[b.Bucket].Burst, "burst of "+b.Help)
		rate[b.Bucket] = fs.Float64(b.Prefix+"-rate", def[b.Bucket].Rate, "refill per simulated second of "+b.Help)
	}
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 0 {
		return usagef("demo: takes no arguments, got %q", fs.Args())
	}
	o.Buckets = map[string]sim.Bucket{}
	for name := range burst {
		o.Buckets[name] = sim.Bucket{Burst: *burst[name], Rate: *rate[name]}
	}
	o.DeferThreshold = -1
	if *defer_ >= 0 {
		o.DeferThreshold = time.Duration(*defer_ * float64(time.Second))
	}
	o.Out, o.Log = app.Stdout, app.Stderr
	if f, ok := app.Stdout.(*os.File); ok && !*plain {
		o.TTY = report.IsTerminal(f)
	}
	// The handlers write their EMF metric lines to os.Stdout, Lambda's log
	// stream (pkg/launch/wire); in the demo they would bury the progress.
	if f, ok := app.Stdout.(*os.File); ok && f == os.Stdout {
		if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
			os.Stdout = null
			defer func() { os.Stdout = f; _ = null.Close() }()
		}
	}
	// The local DynamoDB proxy logs every request its client cancelled
	// through the standard logger; keep that for --verbose.
	if !o.Verbose {
		prev := log.Writer()
		log.SetOutput(io.Discard)
		defer log.SetOutput(prev)
	}
	rep, err := demo.Run(ctx, o)
	if err != nil {
		return err
	}
	if rep.Lost > 0 || rep.Duplicates > 0 {
		return &exitError{ExitFailure}
	}
	return nil
}
