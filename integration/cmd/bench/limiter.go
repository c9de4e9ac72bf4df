package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"golang.org/x/time/rate"

	"github.com/throttle-handler/throttle-handler/internal/nodetools"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// limiterReport is the JSON object of `bench limiter`. Times per op are in
// nanoseconds (the key says so), run lengths in seconds.
type limiterReport struct {
	LocalNsPerOp         float64 `json:"local_ns_per_op"`
	XRateNsPerOp         float64 `json:"xrate_ns_per_op"`
	LocalAllocsPerOp     int64   `json:"local_allocs_per_op"`
	XRateAllocsPerOp     int64   `json:"xrate_allocs_per_op"`
	LocalParallelNsPerOp float64 `json:"local_parallel_ns_per_op"`
	XRateParallelNsPerOp float64 `json:"xrate_parallel_ns_per_op"`

	// Over-admissions: admitted beyond burst + rate × elapsed + 1, summed
	// over the local stale-timestamp run and the DynamoDB paced run.
	Overadmissions      int64   `json:"overadmissions"`
	LocalAdmitted       int64   `json:"local_admitted"`
	LocalBound          float64 `json:"local_bound"`
	XRateAdmitted       int64   `json:"xrate_admitted"`
	XRateOveradmissions int64   `json:"xrate_overadmissions"`

	// The 64-way paced run on dynalite: callers honour their slots.
	DDBWorkers          int     `json:"ddb_workers"`
	DDBSeconds          float64 `json:"ddb_seconds"`
	DDBRate             float64 `json:"ddb_rate"`
	DDBBurst            float64 `json:"ddb_burst"`
	DDBAcquisitions     int64   `json:"ddb_acquisitions"`
	DDBBound            float64 `json:"ddb_bound"`
	DDBWrites           int64   `json:"ddb_writes"`
	DDBConflicts        int64   `json:"ddb_conflicts"`
	DDBReads            int64   `json:"ddb_reads"`
	DDBWritesPerAcquire float64 `json:"ddb_writes_per_acquire"`
	DDBPacedPerS        float64 `json:"ddb_paced_acquires_per_s"`
	DDBBusy             int64   `json:"ddb_busy_answers"`

	// The unpaced run: as many acquisitions as the store serves.
	DDBAcquiresPerS          float64 `json:"ddb_acquires_per_s"`
	DDBSaturationWritesPerAc float64 `json:"ddb_saturation_writes_per_acquire"`

	TargetsMet bool `json:"targets_met"`
}

func runLimiter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("limiter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.String("json", "", "write one JSON object to `FILE` (- for stdout) instead of a table")
	workers := fs.Int("workers", 64, "concurrent callers in the DynamoDB runs")
	seconds := fs.Float64("seconds", 5, "length of the paced DynamoDB run (real seconds)")
	ddbRate := fs.Float64("rate", 40, "bucket rate of the paced run (tokens/s; ECS RunTask: 40)")
	ddbBurst := fs.Float64("burst", 100, "bucket burst of the paced run")
	check := fs.Bool("check", false, "exit non-zero when a target is missed")
	rounds := fs.Int("rounds", 5, "rounds of the local benchmarks (the best counts: the machine may be busy)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := limiterReport{DDBWorkers: *workers, DDBSeconds: *seconds, DDBRate: *ddbRate, DDBBurst: *ddbBurst}
	progress := func(s string) { fmt.Fprintln(stderr, "bench limiter:", s) }

	progress(fmt.Sprintf("local limiter vs x/time/rate, best of %d interleaved rounds", *rounds))
	for i := range *rounds {
		local, xr := benchLocal()
		lp, xp := benchLocalParallel()
		best := func(dst *float64, v int64) {
			if i == 0 || float64(v) < *dst {
				*dst = float64(v)
			}
		}
		best(&r.LocalNsPerOp, local.NsPerOp())
		best(&r.XRateNsPerOp, xr.NsPerOp())
		best(&r.LocalParallelNsPerOp, lp.NsPerOp())
		best(&r.XRateParallelNsPerOp, xp.NsPerOp())
		r.LocalAllocsPerOp = max(r.LocalAllocsPerOp, local.AllocsPerOp())
		r.XRateAllocsPerOp = max(r.XRateAllocsPerOp, xr.AllocsPerOp())
	}

	progress("stale-timestamp contention run")
	staleRun(&r, *workers)

	progress("starting dynalite")
	if _, err := nodetools.Ensure(ctx, testenv.RepoRoot(), stderr); err != nil {
		return err
	}
	dyn, err := testenv.StartDynalite(ctx, testenv.DynaliteOptions{})
	if err != nil {
		return err
	}
	defer dyn.Stop()
	client := testenv.PooledDynamoDBClient(dyn.Endpoint, 256)
	if err := testenv.CreateTable(ctx, client, "th-bench"); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	progress(fmt.Sprintf("paced run: %d callers, %g s, bucket %g burst / %g per s", *workers, *seconds, *ddbBurst, *ddbRate))
	if err := pacedRun(ctx, &r, limiter.NewDynamoStore(client, "th-bench")); err != nil {
		return err
	}
	progress("unpaced run")
	if err := saturationRun(ctx, &r, limiter.NewDynamoStore(client, "th-bench"), *workers); err != nil {
		return err
	}

	r.Overadmissions += max(0, r.LocalAdmitted-int64(r.LocalBound))
	r.TargetsMet = r.LocalNsPerOp <= 1.5*r.XRateNsPerOp && r.LocalAllocsPerOp == 0 &&
		r.Overadmissions == 0 && r.DDBWritesPerAcquire <= 1.2 && r.DDBBusy == 0
	doc, _ := json.Marshal(r)
	if err := writeOutput(*jsonOut, stdout, doc, func(w io.Writer) { limiterTable(w, r) }); err != nil {
		return err
	}
	if *check && !r.TargetsMet {
		return errors.New("a target was missed")
	}
	return nil
}

func benchLocal() (local, xr testing.BenchmarkResult) {
	local = testing.Benchmark(func(b *testing.B) {
		l := limiter.NewLocal(1e9, 1<<30)
		b.ReportAllocs()
		for b.Loop() {
			l.Allow()
		}
	})
	xr = testing.Benchmark(func(b *testing.B) {
		l := rate.NewLimiter(1e9, 1<<30)
		b.ReportAllocs()
		for b.Loop() {
			l.Allow()
		}
	})
	return local, xr
}

func benchLocalParallel() (local, xr testing.BenchmarkResult) {
	local = testing.Benchmark(func(b *testing.B) {
		l := limiter.NewLocal(1e9, 1<<30)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow()
			}
		})
	})
	xr = testing.Benchmark(func(b *testing.B) {
		l := rate.NewLimiter(1e9, 1<<30)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow()
			}
		})
	})
	return local, xr
}

// staleRun has workers goroutines read the clock, yield, and only then ask
// the limiter (1,000/s, burst 10) for a token, for one second: the pattern
// that makes x/time/rate over-admit.
func staleRun(r *limiterReport, workers int) {
	const lim, burst = 1000, 10
	start := time.Now()
	ours := limiter.NewLocal(lim, burst)
	xr := rate.NewLimiter(lim, burst)
	var a, xa atomic.Int64
	var wg sync.WaitGroup
	stop := start.Add(time.Second)
	for range workers {
		wg.Go(func() {
			for {
				t := time.Now()
				if t.After(stop) {
					return
				}
				runtime.Gosched()
				if ours.AllowN(t, 1) {
					a.Add(1)
				}
				if xr.AllowN(t, 1) {
					xa.Add(1)
				}
			}
		})
	}
	wg.Wait()
	bound := burst + lim*time.Since(start).Seconds() + 1
	r.LocalAdmitted, r.XRateAdmitted, r.LocalBound = a.Load(), xa.Load(), bound
	r.XRateOveradmissions = max(0, xa.Load()-int64(bound))
}

// pacedRun: workers callers acquire one token at a time from one bucket on
// dynalite and sleep until their slot before asking again.
func pacedRun(ctx context.Context, r *limiterReport, store *limiter.DynamoStore) error {
	lims, err := limiter.ParseLimits(fmt.Sprintf(`{"actions": {"bench:Paced": {"burst": %g, "rate": %g}}}`, r.DDBBurst, r.DDBRate))
	if err != nil {
		return err
	}
	rec := &limiter.Counters{}
	d := limiter.NewDistributed(store, lims, func(o *limiter.Options) {
		o.AccountScope = "bench"
		o.Recorder = rec
		o.StoreTimeout = 10 * time.Second
	})
	takes := []limiter.Take{{Bucket: "bench:Paced", N: 1}}
	start := time.Now()
	end := start.Add(time.Duration(r.DDBSeconds * float64(time.Second)))
	var admitted atomic.Int64
	errs := make(chan error, r.DDBWorkers)
	var wg sync.WaitGroup
	for range r.DDBWorkers {
		wg.Go(func() {
			for ctx.Err() == nil {
				s, err := d.Reserve(ctx, "bench", takes)
				if err != nil {
					errs <- err
					return
				}
				if s.At.After(end) { // acquired, counted, not used
					return
				}
				admitted.Add(1)
				time.Sleep(time.Until(s.At))
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	st := store.Stats()
	r.DDBAcquisitions = admitted.Load()
	r.DDBBound = r.DDBBurst + r.DDBRate*end.Sub(start).Seconds() + 1
	r.DDBWrites, r.DDBConflicts, r.DDBReads = st.Writes, st.Conflicts, st.Reads
	r.DDBWritesPerAcquire = float64(st.Writes) / float64(rec.Get(limiter.MetricAcquisitions, "bench"))
	r.DDBPacedPerS = float64(r.DDBAcquisitions) / r.DDBSeconds
	r.DDBBusy = int64(rec.Get(limiter.MetricStoreBusy, "bench"))
	r.Overadmissions += max(0, r.DDBAcquisitions-int64(r.DDBBound))
	return nil
}

// saturationRun: workers callers acquire as fast as the store answers from
// a bucket too large to bind, for two seconds.
func saturationRun(ctx context.Context, r *limiterReport, store *limiter.DynamoStore, workers int) error {
	lims, err := limiter.ParseLimits(`{"actions": {"bench:Unpaced": {"burst": 1000000, "rate": 1000000}}}`)
	if err != nil {
		return err
	}
	rec := &limiter.Counters{}
	d := limiter.NewDistributed(store, lims, func(o *limiter.Options) {
		o.AccountScope = "bench"
		o.Recorder = rec
		o.StoreTimeout = 10 * time.Second
	})
	takes := []limiter.Take{{Bucket: "bench:Unpaced", N: 1}}
	start := time.Now()
	end := start.Add(2 * time.Second)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				if _, err := d.Reserve(ctx, "bench", takes); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	n := rec.Get(limiter.MetricAcquisitions, "bench")
	r.DDBAcquiresPerS = n / time.Since(start).Seconds()
	r.DDBSaturationWritesPerAc = float64(store.Stats().Writes) / n
	return nil
}

func limiterTable(w io.Writer, r limiterReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ok := func(b bool) string {
		if b {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintln(tw, "measure\tvalue\ttarget\t")
	fmt.Fprintf(tw, "local Allow ns/op\t%.1f\t≤ 1.5 × x/time/rate (%.1f)\t%s\n", r.LocalNsPerOp, 1.5*r.XRateNsPerOp, ok(r.LocalNsPerOp <= 1.5*r.XRateNsPerOp))
	fmt.Fprintf(tw, "x/time/rate Allow ns/op\t%.1f\t\t\n", r.XRateNsPerOp)
	fmt.Fprintf(tw, "local allocs/op\t%d\t0\t%s\n", r.LocalAllocsPerOp, ok(r.LocalAllocsPerOp == 0))
	fmt.Fprintf(tw, "local / x/time/rate parallel ns/op\t%.1f / %.1f\t\t\n", r.LocalParallelNsPerOp, r.XRateParallelNsPerOp)
	fmt.Fprintf(tw, "over-admissions (local + DynamoDB)\t%d\t0\t%s\n", r.Overadmissions, ok(r.Overadmissions == 0))
	fmt.Fprintf(tw, "stale-timestamp run: local / x/time/rate admitted\t%d / %d\tbound %.0f\t\n", r.LocalAdmitted, r.XRateAdmitted, r.LocalBound)
	fmt.Fprintf(tw, "DynamoDB paced run: acquisitions\t%d\tbound %.0f\t\n", r.DDBAcquisitions, r.DDBBound)
	fmt.Fprintf(tw, "DynamoDB writes per acquisition\t%.3f\t≤ 1.2\t%s\n", r.DDBWritesPerAcquire, ok(r.DDBWritesPerAcquire <= 1.2))
	fmt.Fprintf(tw, "DynamoDB writes / conflicts / reads\t%d / %d / %d\t\t\n", r.DDBWrites, r.DDBConflicts, r.DDBReads)
	fmt.Fprintf(tw, "DynamoDB busy answers (store failed)\t%d\t0\t%s\n", r.DDBBusy, ok(r.DDBBusy == 0))
	fmt.Fprintf(tw, "DynamoDB acquisitions/s (unpaced, %d callers)\t%.0f\t\t\n", r.DDBWorkers, r.DDBAcquiresPerS)
	fmt.Fprintf(tw, "DynamoDB writes per acquisition (unpaced)\t%.3f\t\t\n", r.DDBSaturationWritesPerAc)
	tw.Flush()
}
