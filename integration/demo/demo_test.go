package demo

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/statemachines"
)

// TestDemoSmall runs the demo with 60 tasks and slow Fargate buckets (so
// the run is bounded by the buckets, not by the machine) and checks what it
// prints and writes against the simulator's own numbers.
func TestDemoSmall(t *testing.T) {
	t.Parallel()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("needs the Node tools (make deps): %v", err)
	}
	var out bytes.Buffer
	path := filepath.Join(t.TempDir(), "r", "demo.json")
	o := Options{Tasks: 60, Concurrency: 3, TimeScale: 20, Report: path, Out: &out, ProgressEvery: 1,
		DeferThreshold: -1, Buckets: map[string]sim.Bucket{sim.BucketFargateTasks: {Burst: 10, Rate: 5}}}
	rep, err := Run(t.Context(), o)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if rep.Requested != 60 || rep.Launched != 60 || rep.Lost != 0 || rep.Duplicates != 0 || rep.Status != "SUCCEEDED" {
		t.Errorf("report %+v: want 60 launched, none lost or doubled", rep)
	}
	// (60 − 10) / 5 = 10 s: the Fargate task bucket is the bound.
	if rep.IdealMakespanS != 10 || rep.MakespanS < 0.95*rep.IdealMakespanS {
		t.Errorf("makespan %.1f s, ideal %.1f s: want the ideal 10 s and no faster", rep.MakespanS, rep.IdealMakespanS)
	}
	if rep.Calls < 6 {
		t.Errorf("calls = %d: 60 tasks need at least 6 RunTask calls", rep.Calls)
	}
	var disk map[string]any
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &disk) != nil {
		t.Fatalf("report file %s: %v", path, err)
	}
	for _, k := range []string{"requested", "launched", "lost", "duplicates", "calls", "throttled_calls", "async_throttles", "makespan_s", "ideal_makespan_s"} {
		if _, ok := disk[k]; !ok {
			t.Errorf("report JSON lacks %q", k)
		}
	}
	f, err := os.Open(ChartPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < 600 {
		t.Errorf("chart is not a readable PNG: %v", err)
	}
	text := out.String()
	for _, want := range []string{"launched 60/60 (100%)", "requested       60", "duplicates      0", "lost            0", "report: " + path, "chart:  " + ChartPath(path)} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if last := rep.Timeline[len(rep.Timeline)-1]; last.Y != 60 {
		t.Errorf("timeline ends at %v, want 60 launched", last)
	}
	checkJobs(t, rep, text)
}

// checkJobs: the demo's tasks ran and stopped (20 s on average, from a
// launch that ends by about 10 s, so by the execution's end at least one
// has); the completed line ends at the count of stops, and the counts come
// from the execution's output when it has them, else from the ledger.
func checkJobs(t *testing.T, rep report.Report, text string) {
	t.Helper()
	if rep.Completed == 0 || len(rep.CompletedTimeline) == 0 {
		t.Fatalf("no task stopped by the end (%.0f s simulated): the tasks do not run and stop", rep.EndS)
	}
	if last := rep.CompletedTimeline[len(rep.CompletedTimeline)-1]; int(last.Y) != rep.Completed {
		t.Errorf("completed timeline ends at %v, want %d", last, rep.Completed)
	}
	total := 0
	for _, n := range rep.Counts {
		total += n
	}
	switch rep.CountsFrom {
	case CountsFromOutput: // units
		if total != rep.Requested || rep.Counts[launch.ResultSucceeded] != rep.Requested {
			t.Errorf("counts %v from the output: want all %d SUCCEEDED (no task fails)", rep.Counts, rep.Requested)
		}
	case CountsFromLedger: // tasks
		if total < rep.Requested || rep.Counts[launch.ResultSucceeded] != rep.Completed {
			t.Errorf("counts %v from the ledger: want ≥ %d tasks, %d of them SUCCEEDED (every stop)", rep.Counts, rep.Requested, rep.Completed)
		}
	default:
		t.Errorf("counts from %q", rep.CountsFrom)
	}
	if !strings.Contains(text, "counts          SUCCEEDED ") || !strings.Contains(text, "tasks run 20 s on average") {
		t.Errorf("output lacks the counts row or the tasks' line:\n%s", text)
	}
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		o    Options
		want string
	}{
		"tasks":        {Options{Tasks: -1}, "--tasks"},
		"concurrency":  {Options{Concurrency: -4}, "--concurrency"},
		"scale":        {Options{TimeScale: 1000}, "--time-scale"},
		"report":       {Options{Report: "out.txt"}, "--report: must name a .json file"},
		"bucket":       {Options{Buckets: map[string]sim.Bucket{"ecs:RunTask": {Burst: -1}}}, "bucket ecs:RunTask"},
		"failure rate": {Options{TaskFailureRate: 1.5}, "--task-failure-rate"},
		"attempts":     {Options{RetryAttempts: 11}, "--retry-attempts: must be 1..10"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Run(t.Context(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestMachinesDir: the embedded definitions and rules are written out with
// the Map's concurrency set, and the rules read back as they were.
func TestMachinesDir(t *testing.T) {
	t.Parallel()
	dir, err := machinesDir(7)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(filepath.Join(dir, statemachines.Launch+".asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"MaxConcurrency": 7`) || strings.Contains(string(b), `"MaxConcurrency": 400`) {
		t.Errorf("launch.asl.json copy does not carry MaxConcurrency 7")
	}
	want, err := statemachines.Rules()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "rules", "*.json"))
	if len(files) != len(want) || len(want) == 0 {
		t.Fatalf("rules written: %v, want %d", files, len(want))
	}
	for _, w := range want {
		b, err := os.ReadFile(filepath.Join(dir, "rules", w.Name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := statemachines.ParseRule(w.Name+".json", b)
		if err != nil {
			t.Fatal(err)
		}
		var gp, wp any
		_ = json.Unmarshal(got.Pattern, &gp)
		_ = json.Unmarshal(w.Pattern, &wp)
		if got.Bus != w.Bus || got.Target != w.Target || got.Via != w.Via || got.Description != w.Description || !reflect.DeepEqual(gp, wp) {
			t.Errorf("rule %s: got %+v, want %+v", w.Name, got, w)
		}
	}
}
