// Command chaos runs the randomized fault matrix of integration/chaos:
//
//	go run ./integration/cmd/chaos --seeds 20 --first-seed 1
//
// Each seed gets its own local stack; a failing seed is replayed with
// --seeds 1 --first-seed S -v. It prints one line per seed, the failing
// seeds, the fault counts exercised and the runtime, and exits 1 when any
// invariant broke (2 when the harness itself failed).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/chaos"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.Int("seeds", 10, "number of seeds to run")
	first := fs.Uint64("first-seed", 1, "first seed")
	scale := fs.Float64("scale", 20, "time scale k (simulated seconds per real second)")
	parallel := fs.Int("parallel", 1, "seeds run at once (each on its own stack)")
	timeout := fs.Duration("timeout", 5*time.Minute, "real-time bound per seed")
	verbose := fs.Bool("v", false, "stack, handler and runner logs on stderr; print each scenario")
	jsonOut := fs.String("json", "", "write every seed's result as JSON to this file")
	machines := fs.String("statemachines", "", "use this folder's *.asl.json and rules/ instead of the repository's statemachines/")
	crash := fs.String("crash", "plan,runtask,retry,summary", "functions whose invocations may crash or time out")
	list := fs.Bool("list", false, "print the seeds' scenarios without running them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for i := range *seeds {
			fmt.Fprintln(stdout, chaos.NewScenario(*first+uint64(i)))
		}
		return 0
	}
	if *seeds < 1 || *parallel < 1 || *scale <= 0 {
		fmt.Fprintln(stderr, "chaos: --seeds, --parallel and --scale must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o := chaos.Options{TimeScale: *scale, Timeout: *timeout, StateMachinesDir: *machines, CrashFunctions: strings.Split(*crash, ",")}
	if *verbose {
		// The handlers' EMF metric lines too: stdout keeps the results.
		o.Log, o.Metrics = stderr, stderr
	}

	begin := time.Now()
	results := make([]chaos.Result, *seeds)
	errs := make([]error, *seeds)
	var mu sync.Mutex
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i := range *seeds {
		seed := *first + uint64(i)
		sc := chaos.NewScenario(seed)
		sem <- struct{}{} // seeds start in order
		wg.Go(func() {
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			r, err := chaos.Run(ctx, sc, o)
			results[i], errs[i] = r, err
			mu.Lock()
			defer mu.Unlock()
			printSeed(stdout, sc, r, err, *verbose)
		})
	}
	wg.Wait()

	totals := map[string]int64{}
	var failed, broken []uint64
	requested := 0
	for i, r := range results {
		seed := *first + uint64(i)
		switch {
		case errs[i] != nil:
			broken = append(broken, seed)
		case !r.OK():
			failed = append(failed, seed)
		}
		for k, n := range r.Faults {
			totals[k] += n
		}
		for _, q := range r.Requests {
			requested += q.Requested
		}
	}
	fmt.Fprintf(stdout, "\nfault counts exercised over %d seeds (%d units requested):\n", *seeds, requested)
	for _, k := range slices.Sorted(maps.Keys(totals)) {
		fmt.Fprintf(stdout, "  %-40s %d\n", k, totals[k])
	}
	fmt.Fprintf(stdout, "seeds %d, failed %d %v, harness errors %d %v, runtime %v\n",
		*seeds, len(failed), failed, len(broken), broken, time.Since(begin).Round(time.Second))
	extra := ""
	if *machines != "" {
		extra += " --statemachines " + *machines
	}
	if *crash != fs.Lookup("crash").DefValue {
		extra += " --crash " + *crash
	}
	for _, s := range failed {
		fmt.Fprintf(stdout, "replay: go run ./integration/cmd/chaos --seeds 1 --first-seed %d --scale %g%s -v\n", s, *scale, extra)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"results": results, "faults": totals, "failed": failed, "harnessErrors": broken,
			"runtimeSeconds": time.Since(begin).Seconds()}, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(stderr, "chaos:", err)
			return 2
		}
	}
	switch {
	case len(failed) > 0:
		return 1
	case len(broken) > 0:
		return 2
	}
	return 0
}

func printSeed(w io.Writer, sc chaos.Scenario, r chaos.Result, err error, verbose bool) {
	if verbose {
		fmt.Fprintln(w, sc)
	}
	switch {
	case err != nil:
		fmt.Fprintf(w, "seed %d: HARNESS ERROR after %v: %v\n", sc.Seed, r.Runtime.Round(time.Second), err)
	case r.OK():
		fmt.Fprintf(w, "seed %d: ok %v, %d units, %d fault kinds\n", sc.Seed, r.Runtime.Round(time.Second), sc.Requested(), len(r.Faults))
	default:
		fmt.Fprintf(w, "seed %d: FAIL %v\n  %s\n", sc.Seed, r.Runtime.Round(time.Second), sc)
		for _, v := range r.Violations {
			fmt.Fprintf(w, "  - %s\n", v)
		}
	}
}
