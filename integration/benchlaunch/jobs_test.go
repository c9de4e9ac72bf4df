package benchlaunch

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

// TestJobsSetup: the jobs variants are burst's, for ours only; waiting
// sets the request and the tasks' run time, items one item per task.
func TestJobsSetup(t *testing.T) {
	t.Parallel()
	p := Params{Tasks: 30, WaitForCompletion: true, Items: true}
	if err := p.defaults(); err != nil {
		t.Fatal(err)
	}
	if len(p.Scenarios) != 1 || p.Scenarios[0] != Burst || p.TaskRunSeconds != DefaultTaskRunSeconds {
		t.Errorf("scenarios %v, run time %g: want burst and the default %d s", p.Scenarios, p.TaskRunSeconds, DefaultTaskRunSeconds)
	}
	s, err := newSetup(p, Burst, Ours)
	if err != nil {
		t.Fatal(err)
	}
	if !s.request.WaitForCompletion || len(s.request.ECS.Items) != 30 || s.sim.Runs.MeanSeconds != DefaultTaskRunSeconds {
		t.Errorf("request wait %v, %d items, run %g s: want the variant", s.request.WaitForCompletion, len(s.request.ECS.Items), s.sim.Runs.MeanSeconds)
	}
	if err := s.request.Validate(); err != nil {
		t.Errorf("the variant's request is invalid: %v", err)
	}
	for _, st := range []string{Naive, ASLJitter, SDKAdaptive} {
		if _, err := newSetup(p, Burst, st); err == nil || !strings.Contains(err.Error(), "ours only") {
			t.Errorf("%s: got %v, want it skipped (ours only)", st, err)
		}
	}
}

// TestRunJobsTiny runs the jobs variant end to end on 20 items whose
// tasks run 10 s: the result carries when the last task stopped and the
// execution ended, and the ideal of that end; the table its jobs section.
func TestRunJobsTiny(t *testing.T) {
	t.Parallel()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("needs the Node tools (make deps): %v", err)
	}
	var out bytes.Buffer
	p := Params{Strategies: []string{Ours}, Tasks: 20, TimeScale: 10, WaitForCompletion: true, Items: true, TaskRunSeconds: 10,
		Chart: filepath.Join(t.TempDir(), "chart.png"), Out: &out}
	rs, err := Run(t.Context(), p)
	if err != nil || len(rs) != 1 {
		t.Fatalf("Run: %v, %d results\n%s", err, len(rs), out.String())
	}
	r := rs[0]
	if r.Launched != 20 || r.Duplicates != 0 || !r.WaitForCompletion || !r.Items {
		t.Errorf("result %+v: want 20 items launched once, the variant recorded", r)
	}
	// Every task starts 15 s after launch (provisioning 5 + pending 10),
	// runs 5–15 s and stops in 5 s: the last stops after the last launch,
	// and the ideal is the launch's plus 15 + 15 + 5 s.
	if r.LastStopS <= r.MakespanS || r.ExecutionEndS <= r.MakespanS {
		t.Errorf("last stop %.1f s, end %.1f s, last launch %.1f s: want both after the launch", r.LastStopS, r.ExecutionEndS, r.MakespanS)
	}
	if want := r.IdealMakespanS + 15 + 15 + 5; r.IdealCompletionS != want {
		t.Errorf("ideal completion %.1f s, want %.1f", r.IdealCompletionS, want)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "jobs (simulated seconds since submit)") || !strings.Contains(table.String(), "last stop s") {
		t.Errorf("table lacks the jobs section:\n%s", table.String())
	}
	var buf bytes.Buffer
	_ = EncodeJSON(&buf, rs)
	var doc []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"wait_for_completion", "items", "task_run_s", "last_stop_s", "execution_end_s", "ideal_completion_s", "completion_ratio"} {
		if _, ok := doc[0][k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}
