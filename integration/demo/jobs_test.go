package demo

import (
	"maps"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// task is a ledger entry of chunk c launched at s seconds, stopped at stop
// (negative: running) with exit code exit (negative: none) and stop code.
func task(c int, s, stop float64, exit int, code string) sim.LedgerEntry {
	t0 := time.Unix(1000, 0)
	e := sim.LedgerEntry{Kind: sim.KindTask, RequestHash: "h", Chunk: c, LaunchedAt: t0.Add(time.Duration(s * float64(time.Second)))}
	if stop >= 0 {
		at := t0.Add(time.Duration(stop * float64(time.Second)))
		e.StoppedAt, e.StopCode = &at, code
		e.FailedToStart = code == sim.StopTaskFailedToStart
	}
	if exit >= 0 {
		e.ExitCode = &exit
	}
	return e
}

// TestCountRuns: a failed run's replacement is not a duplicate; a third
// task beside it is; a task that failed to start is not counted; without
// failures the count is sim.Count's.
func TestCountRuns(t *testing.T) {
	t.Parallel()
	ok, fail, spot := sim.StopEssentialContainerExit, sim.StopEssentialContainerExit, sim.StopSpotInterruption
	tests := map[string]struct {
		entries           []sim.LedgerEntry
		unique, duplicate int
	}{
		"one run each":           {[]sim.LedgerEntry{task(0, 1, 30, 0, ok), task(0, 1, -1, -1, "")}, 2, 0},
		"exit 1 retried":         {[]sim.LedgerEntry{task(0, 1, 30, 1, fail), task(0, 1, 25, 0, ok), task(0, 31, 60, 0, ok)}, 2, 0},
		"spot retried":           {[]sim.LedgerEntry{task(0, 1, 90, -1, spot), task(0, 1, 30, 0, ok), task(0, 91, -1, -1, "")}, 2, 0},
		"retried twice":          {[]sim.LedgerEntry{task(0, 1, 30, 1, fail), task(0, 1, 25, 0, ok), task(0, 31, 60, 0, ok), task(0, 32, 62, 0, ok)}, 2, 1},
		"succeeded and launched": {[]sim.LedgerEntry{task(0, 1, 30, 0, ok), task(0, 1, 30, 0, ok), task(0, 2, 30, 0, ok)}, 2, 1},
		"failed to start":        {[]sim.LedgerEntry{task(0, 1, 2, -1, sim.StopTaskFailedToStart), task(0, 3, -1, -1, ""), task(0, 3, -1, -1, "")}, 2, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := countRuns(tt.entries, func(int) int { return 2 })
			if c.Unique != tt.unique || c.Duplicates != tt.duplicate {
				t.Errorf("unique %d duplicates %d, want %d and %d", c.Unique, c.Duplicates, tt.unique, tt.duplicate)
			}
		})
	}
}

func TestLedgerCounts(t *testing.T) {
	t.Parallel()
	entries := []sim.LedgerEntry{
		task(0, 1, 30, 0, sim.StopEssentialContainerExit), task(0, 1, 30, 1, sim.StopEssentialContainerExit),
		task(1, 2, 90, -1, sim.StopSpotInterruption), task(1, 2, -1, -1, ""), task(1, 2, 3, -1, sim.StopTaskFailedToStart),
	}
	want := map[string]int{launch.ResultSucceeded: 1, launch.ResultFailed: 2, launch.ResultRunning: 1}
	if got := ledgerCounts(entries); !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := stoppedTimes(entries, time.Unix(1000, 0)); len(got) != 3 || got[0] != 30 || got[2] != 90 {
		t.Errorf("stopped times %v, want [30 30 90]", got)
	}
}

func TestOutputCounts(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		doc  string
		want map[string]int
	}{
		"output":    {`{"status":"SUCCEEDED","counts":{"SUCCEEDED":3,"FAILED":0}}`, map[string]int{"SUCCEEDED": 3, "FAILED": 0}},
		"cause":     {`{"requestId":"r","counts":{"FAILED":2}}`, map[string]int{"FAILED": 2}},
		"no counts": {`{"requested":3,"launched":3}`, nil},
		"not JSON":  {`States.TaskFailed`, nil},
		"empty":     {``, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := outputCounts(tt.doc); !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRequest: the demo waits for its tasks with a retry strategy unless
// told not to; the request is valid either way.
func TestRequest(t *testing.T) {
	t.Parallel()
	for _, noWait := range []bool{false, true} {
		o := Options{Tasks: 30, NoWait: noWait}
		if err := o.defaults(); err != nil {
			t.Fatal(err)
		}
		r := o.request()
		if err := r.Validate(); err != nil {
			t.Errorf("noWait %v: invalid request: %v", noWait, err)
		}
		if r.WaitForCompletion == noWait || (r.RetryStrategy != nil) == noWait {
			t.Errorf("noWait %v: waitForCompletion %v, retryStrategy %v", noWait, r.WaitForCompletion, r.RetryStrategy)
		}
		if got := o.runs(); got.MeanSeconds != DefaultTaskRunSeconds || got.FailureRate != 0 {
			t.Errorf("runs %+v, want the defaults", got)
		}
	}
	if got := (Options{TaskRunSeconds: -1}).runs(); got.MeanSeconds != 0 {
		t.Errorf("negative run time: %+v, want tasks that run until stopped", got)
	}
}
