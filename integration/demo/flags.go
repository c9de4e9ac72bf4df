package demo

import (
	"flag"
	"io"
	"os"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// Flags holds the demo command's flags; Options turns them into Options.
type Flags struct {
	o           Options
	deferS      float64
	plain       bool
	wait        bool
	burst, rate map[string]*float64
}

// BindFlags defines the demo's flags on fs: the request's size, the Map's
// concurrency, the time scale, the report path, how its tasks run (mean run
// time, failure rate, waiting, retry attempts), and the local stack's
// bucket flags (--<bucket>-burst, --<bucket>-rate, e.g. --fargate-rate 10),
// defaulting to AWS's published values.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.IntVar(&f.o.Tasks, "tasks", 2000, "Fargate tasks to request")
	fs.IntVar(&f.o.Concurrency, "concurrency", statemachines.LaunchConcurrency(), "the launch state machine's Map MaxConcurrency (its own by default)")
	fs.Float64Var(&f.o.TimeScale, "time-scale", 10, "simulated seconds per real second")
	fs.StringVar(&f.o.Report, "report", "reports/demo.json", "JSON report path (the PNG chart goes beside it)")
	fs.Uint64Var(&f.o.Seed, "seed", 1, "seed of the simulator's IDs")
	fs.BoolVar(&f.o.Verbose, "verbose", false, "the local stack's logs on stderr")
	fs.Float64Var(&f.deferS, "defer-threshold-seconds", -1, "the functions' TH_DEFER_THRESHOLD_SECONDS (-1: the product's default)")
	fs.BoolVar(&f.plain, "plain", false, "plain progress lines even on a terminal")
	fs.Float64Var(&f.o.TaskRunSeconds, "task-run-seconds", DefaultTaskRunSeconds, "mean run time of a started task, simulated seconds, drawn from ±50 % (negative: tasks run until stopped)")
	fs.Float64Var(&f.o.TaskFailureRate, "task-failure-rate", 0, "share of tasks whose essential container exits 1, in [0, 1]")
	fs.BoolVar(&f.wait, "wait-for-completion", true, "the request waits for its tasks to stop (false: the execution ends after the launch)")
	fs.IntVar(&f.o.RetryAttempts, "retry-attempts", DefaultRetryAttempts, "retryStrategy.attempts of a waiting request: runs per task, the first included")
	f.burst, f.rate = awslocal.BindBucketFlags(fs)
	return f
}

// Options returns the parsed flags as Options writing progress, the table
// and the paths to out and the stack's logs (with --verbose) to log. The
// bar is live when out is a terminal and --plain is not set.
func (f *Flags) Options(out, log io.Writer) Options {
	o := f.o
	o.NoWait = !f.wait
	o.Buckets = map[string]sim.Bucket{}
	for name := range f.burst {
		o.Buckets[name] = sim.Bucket{Burst: *f.burst[name], Rate: *f.rate[name]}
	}
	o.DeferThreshold = -1
	if f.deferS >= 0 {
		o.DeferThreshold = time.Duration(f.deferS * float64(time.Second))
	}
	o.Out, o.Log = out, log
	if file, ok := out.(*os.File); ok && !f.plain {
		o.TTY = report.IsTerminal(file)
	}
	return o
}
