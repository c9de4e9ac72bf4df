package e2e

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// report is the 1,000-task run's measurement (docs/contracts.md, "Reports
// and the ledger"); every duration is in simulated seconds.
type report struct {
	Tasks                  int     `json:"tasks"`
	TimeScale              float64 `json:"timeScale"`
	MakespanS              float64 `json:"makespan_s"`
	IdealMakespanS         float64 `json:"ideal_makespan_s"`
	Calls                  int64   `json:"calls"`
	ThrottledCalls         int64   `json:"throttled_calls"`
	FaultsInjected         int64   `json:"faults_injected"`
	LostResponses          int     `json:"lost_responses"`
	Duplicates             int     `json:"duplicates"`
	Lost                   int     `json:"lost"`
	DeadLettered           int     `json:"dead_lettered"`
	StateTransitions       int     `json:"state_transitions"`
	TransitionsPerTask     float64 `json:"state_transitions_per_task"`
	LambdaInvocations      int64   `json:"lambda_invocations"`
	LambdaInvocationsPerTk float64 `json:"lambda_invocations_per_task"`
	WallSeconds            float64 `json:"wall_s"`
}

// ideal is the contracts' ideal makespan: the largest, over the buckets the
// work draws on, of max(0, (units − burst) / rate).
func ideal(buckets map[string]sim.Bucket, units map[string]float64) float64 {
	var worst float64
	for name, n := range units {
		b := buckets[name]
		if b.Rate > 0 {
			worst = math.Max(worst, math.Max(0, (n-b.Burst)/b.Rate))
		}
	}
	return worst
}

// TestThousandTasks launches 1,000 Fargate tasks at the published buckets
// while the simulator loses 3 % of launch responses (the launch happened)
// and answers 3 % of calls with a 5xx: no task may be launched twice and
// none lost; every task is launched or dead-lettered with a reason.
func TestThousandTasks(t *testing.T) {
	const n, scale = 1000, 5
	faults := sim.Faults{LostResponseRate: 0.03, ServerErrorRate: 0.03, LostMode: sim.LostAsServerError}
	w := newWorld(t, setup{scale: scale, sim: sim.Config{Seed: 7, Faults: faults}, config: func(c *configT) {
		if v := os.Getenv("E2E_DEFER_THRESHOLD"); v != "" {
			d, _ := time.ParseDuration(v)
			c.DeferThreshold = d
		}
	}})
	req := fargate("e2e-thousand", n)

	wall := time.Now()
	submitted := w.now()
	e := w.wait(w.start(req), 3*time.Minute)
	// A dead-lettered unit fails the request (LaunchIncomplete).
	if e.Status != "SUCCEEDED" && (e.Error != launch.ErrLaunchIncomplete || e.Summary.DeadLettered == 0) {
		t.Fatalf("execution %s: %s %s", e.Status, e.Error, e.Cause)
	}
	entries := w.ledger(req.RequestID)
	c := counts(req, entries)
	st := w.stats()
	dead := e.Summary.DeadLettered
	lost := sim.Lost(n, c.Unique, dead)

	if c.Duplicates != 0 {
		t.Errorf("duplicates = %d, want 0 (ledger %+v)", c.Duplicates, c)
	}
	if lost != 0 {
		t.Errorf("lost = %d, want 0 (ledger unique %d, dead-lettered %d)", lost, c.Unique, dead)
	}
	if got := e.Summary.Launched + e.Summary.Failed; got != n || e.Summary.Pending != 0 {
		t.Errorf("summary %+v: launched + failed = %d, pending %d; want %d and 0", e.Summary, got, e.Summary.Pending, n)
	}
	if e.Summary.Launched != c.Unique {
		t.Errorf("summary launched %d, ledger unique %d: the record disagrees with what ran", e.Summary.Launched, c.Unique)
	}
	units, reasons := w.deadLetters(req.RequestID)
	queued := 0
	for _, k := range units {
		queued += k
	}
	if queued != dead {
		t.Errorf("dead-letter queue holds %d units (%v), summary says %d", queued, reasons, dead)
	}
	for reason, k := range e.Summary.Reasons {
		if reason == "" && k > 0 {
			t.Errorf("%d units failed without a reason", k)
		}
	}
	var faulted int64
	for _, v := range st.Faults {
		faulted += v
	}
	if faulted == 0 || c.LostResponses == 0 {
		t.Errorf("no faults injected (faults %v, lost responses %d): the test proves nothing", st.Faults, c.LostResponses)
	}

	var last time.Time
	for _, en := range entries {
		if !en.FailedToStart && en.LaunchedAt.After(last) {
			last = en.LaunchedAt
		}
	}
	cfg := w.stack.Sim.Config()
	calls := float64(n / 10)
	r := report{
		Tasks: n, TimeScale: scale, MakespanS: last.Sub(submitted).Seconds(),
		IdealMakespanS: ideal(cfg.Buckets, map[string]float64{sim.BucketRunTask: calls, sim.BucketFargateRunTask: calls, sim.BucketFargateTasks: n}),
		Calls:          st.Calls["ecs:RunTask"], ThrottledCalls: st.Throttled["ecs:RunTask"], FaultsInjected: faulted,
		LostResponses: c.LostResponses, Duplicates: c.Duplicates, Lost: lost, DeadLettered: dead,
		WallSeconds: time.Since(wall).Seconds(),
	}
	r.StateTransitions, _ = w.historyCounts(e.ARN)
	r.TransitionsPerTask = float64(r.StateTransitions) / n
	r.LambdaInvocations = w.lambdaInvocations()
	r.LambdaInvocationsPerTk = float64(r.LambdaInvocations) / n
	hist := map[int]int{}
	for _, en := range entries {
		hist[int(en.LaunchedAt.Sub(submitted).Seconds())/5*5]++
	}
	t.Logf("launches per 5 s from submit: %v; stats %+v", hist, st.Calls)
	b, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("1,000-task report:\n%s", b)
	if dir := os.Getenv("E2E_REPORT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "e2e-thousand.json"), b, 0o644)
	}
	if r.MakespanS < r.IdealMakespanS*0.95 {
		t.Errorf("makespan %.1f s beats the ideal %.1f s: the simulator's buckets were not honoured", r.MakespanS, r.IdealMakespanS)
	}
}
