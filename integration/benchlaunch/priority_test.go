package benchlaunch

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/report"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// published is AWS's published Fargate account: RunTask 100/40, Fargate
// RunTask 20/20, Fargate tasks 100/20.
var publishedBuckets = map[string]report.Bucket{
	sim.BucketRunTask:        {Burst: 100, Rate: 40},
	sim.BucketFargateRunTask: {Burst: 20, Rate: 20},
	sim.BucketFargateTasks:   {Burst: 100, Rate: 20},
}

func TestIdealDrained(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		units map[string]float64
		want  float64
	}{
		// 50 tasks = 5 calls: tasks 50/20 = 2.5 s bind (calls 5/40, 5/20).
		"50 tasks":  {ecsUnits(50), 2.5},
		"1 task":    {ecsUnits(1), 0.05},
		"101 tasks": {ecsUnits(101), 5.05}, // 11 calls: 0.55 s on the Fargate RunTask cap
		// A bucket the units do not draw on, or one without a rate, binds
		// nothing.
		"unknown bucket": {map[string]float64{"hidden:x": 1000}, 0},
		// A call-bound request: 40 calls of one task, 40/20 = 2 s on the
		// Fargate RunTask cap against 40/20 tasks.
		"one task a call": {map[string]float64{sim.BucketRunTask: 40, sim.BucketFargateRunTask: 40, sim.BucketFargateTasks: 10}, 2},
	}
	for name, tc := range tests {
		if got := idealDrained(tc.units, publishedBuckets); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: idealDrained = %g, want %g", name, got, tc.want)
		}
	}
}

func TestBatchIdealLeft(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		batch, urgent int
		atS, want     float64
	}{
		// (5,000 + 50 − 100) / 20 = 247.5 s; alone 245 s.
		"defaults": {5000, 50, 60, 247.5},
		// The batch alone is done at (1,000 − 100)/20 = 45 s before the
		// urgent request arrives: nothing taken from it.
		"urgent after the batch": {1000, 50, 60, 45},
		// Arriving at the very end of the batch's ideal still takes from it
		// only if the batch is not done yet: 45 s is done.
		"urgent at the batch's end": {1000, 50, 45, 45},
		"urgent just before":        {1000, 50, 44.9, 47.5},
		// Within the burst: the batch is done at 0 and the urgent request
		// takes nothing from it.
		"batch within the burst": {80, 50, 1, 0},
		// A large urgent request: (400 + 400 − 100) / 20 = 35 s; on the
		// Fargate RunTask cap (80 − 20)/20 = 3 s.
		"large urgent": {400, 400, 2, 35},
	}
	for name, tc := range tests {
		got := batchIdealLeft(ecsUnits(tc.batch), ecsUnits(tc.urgent), publishedBuckets, tc.atS)
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: batchIdealLeft = %g, want %g", name, got, tc.want)
		}
	}
}

func TestUrgentFigures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		first, last, ideal    float64
		wantDelay             float64
		batchIdeal, batchSpan float64
		wantCapacity          float64
	}{
		// Served at once: last launch 2.5 s after the first acquisition.
		{"served ahead", 60.4, 62.9, 2.5, 0, 247.5, 250, 99},
		// First come, first served: the batch had booked up to 245 s.
		{"behind the batch", 60.4, 247.9, 2.5, 185, 247.5, 247.5, 100},
		// A batch that finished early is capped at 100 %.
		{"batch faster than its ideal", 10, 13, 2.5, 0.5, 247.5, 240, 100},
		{"no batch makespan", 0, 2.5, 2.5, 0, 10, 0, 0},
	}
	for _, tc := range tests {
		if got := urgentDelay(tc.first, tc.last, tc.ideal); math.Abs(got-tc.wantDelay) > 1e-9 {
			t.Errorf("%s: urgentDelay = %g, want %g", tc.name, got, tc.wantDelay)
		}
		if got := capacityUsedPct(tc.batchIdeal, tc.batchSpan); math.Abs(got-tc.wantCapacity) > 1e-9 {
			t.Errorf("%s: capacityUsedPct = %g, want %g", tc.name, got, tc.wantCapacity)
		}
	}
}

func TestPrioritySetup(t *testing.T) {
	t.Parallel()
	s := setupOf(t, Params{}, Priority, Ours)
	if s.request.ECS.Count != DefaultBatchTasks || s.request.Lane() != launch.PriorityLow {
		t.Errorf("batch: %d tasks at %s, want %d at low", s.request.ECS.Count, s.request.Lane(), DefaultBatchTasks)
	}
	u := s.urgent
	if u == nil || u.request.ECS.Count != DefaultUrgentTasks || u.request.Lane() != launch.PriorityHigh || u.atS != DefaultUrgentAtS {
		t.Fatalf("urgent: %+v, want %d high tasks at %d s", u, DefaultUrgentTasks, DefaultUrgentAtS)
	}
	if u.request.RequestID == s.request.RequestID {
		t.Errorf("urgent and batch share the request ID %s", u.request.RequestID)
	}
	for _, req := range []launch.Request{s.request, u.request} {
		if err := req.Validate(); err != nil {
			t.Errorf("%s: invalid request: %v", req.RequestID, err)
		}
	}
	// The run's units are both requests': its ideal and chart count both.
	if s.units[sim.BucketFargateTasks] != DefaultBatchTasks+DefaultUrgentTasks || s.units[sim.BucketRunTask] != 505 ||
		u.batch[sim.BucketFargateTasks] != DefaultBatchTasks || u.units[sim.BucketRunTask] != 5 {
		t.Errorf("units: run %v batch %v urgent %v", s.units, u.batch, u.units)
	}
	if s.requested() != DefaultBatchTasks+DefaultUrgentTasks {
		t.Errorf("requested %d, want both requests' %d", s.requested(), DefaultBatchTasks+DefaultUrgentTasks)
	}
	if s.limitsJSON == "" {
		t.Error("ours is not told the account's (published) buckets")
	}
	for _, st := range []string{Naive, ASLJitter, SDKAdaptive} {
		if _, err := newSetup(Params{}, Priority, st); err == nil || !strings.Contains(err.Error(), "ours only") {
			t.Errorf("%s: got %v, want skipped (ours only)", st, err)
		}
	}
}

func TestLimiterWrite(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		want bool
	}{
		"limiter take":  {`{"Key":{"pk":{"S":"limiter#ecs#us-east-1"},"sk":{"S":"bucket"}},"TableName":"t"}`, true},
		"launch record": {`{"Key":{"pk":{"S":"req#abc"},"sk":{"S":"chunk#1"}},"TableName":"t"}`, false},
		"empty":         {``, false},
	}
	for name, tc := range tests {
		r, err := http.NewRequest(http.MethodPost, "http://local/", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := limiterWrite(r); got != tc.want {
			t.Errorf("%s: limiterWrite = %v, want %v", name, got, tc.want)
		}
		// The request is still sent whole.
		if b, _ := io.ReadAll(r.Body); !bytes.Equal(b, []byte(tc.body)) {
			t.Errorf("%s: body after the check %q, want %q", name, b, tc.body)
		}
	}
	if limiterWrite(&http.Request{}) {
		t.Error("a request without a body is not a limiter write")
	}
}

func TestAcquisitionsKeepTheFirst(t *testing.T) {
	t.Parallel()
	var a acquisitions
	a.saw("r") // before watch: the stack's clock is not known yet
	now := time.Unix(100, 0)
	a.watch(func() time.Time { return now })
	if !a.of("r").IsZero() {
		t.Errorf("an acquisition before watch was kept: %v", a.of("r"))
	}
	a.saw("r")
	now = now.Add(time.Second)
	a.saw("r")
	a.saw("s")
	if got := a.of("r"); !got.Equal(time.Unix(100, 0)) {
		t.Errorf("r: first acquisition %v, want the first seen (100 s)", got)
	}
	if got := a.of("s"); !got.Equal(time.Unix(101, 0)) {
		t.Errorf("s: first acquisition %v, want 101 s", got)
	}
	if got := requestIDOf([]byte(`{"requestId":"bench-x","chunk":3}`)); got != "bench-x" {
		t.Errorf("requestIDOf = %q", got)
	}
	if got := requestIDOf([]byte(`not json`)); got != "" {
		t.Errorf("requestIDOf(not json) = %q, want empty", got)
	}
}

// TestRunPriorityTiny runs the priority scenario end to end, small: both
// requests launch once, and the urgent request's first acquisition is
// observed (else the run reports an error).
func TestRunPriorityTiny(t *testing.T) {
	t.Parallel()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("needs the Node tools (make deps): %v", err)
	}
	var out bytes.Buffer
	// Fargate 10/10: the batch's 150 tasks take 14 s alone, the urgent
	// request's 20 arrive at 3 s, when the batch has booked ahead.
	p := Params{Scenarios: []string{Priority}, Strategies: []string{Ours}, BatchTasks: 150, UrgentTasks: 20, UrgentAtS: 3,
		TimeScale: 10, FargateBurst: 10, FargateRate: 10, Chart: filepath.Join(t.TempDir(), "chart.png"), Out: &out}
	rs, err := Run(t.Context(), p)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if len(rs) != 1 {
		t.Fatalf("got %d results, want 1", len(rs))
	}
	r := rs[0]
	f := r.PriorityFields
	if r.Error != "" || f == nil {
		t.Fatalf("error %q, priority fields %+v\n%s", r.Error, f, out.String())
	}
	if r.Requested != 170 || r.Launched != 170 || r.Lost != 0 || r.Duplicates != 0 || f.UrgentLaunched != 20 {
		t.Errorf("requested %d launched %d (urgent %d) lost %d duplicates %d, want 170 (20) launched once", r.Requested, r.Launched, f.UrgentLaunched, r.Lost, r.Duplicates)
	}
	// (150 + 20 − 10)/10 = 16 s; the urgent request's 20/10 = 2 s.
	if f.BatchIdealLeftS != 16 || f.UrgentIdealS != 2 {
		t.Errorf("ideals: batch left %g urgent %g, want 16 and 2", f.BatchIdealLeftS, f.UrgentIdealS)
	}
	if f.UrgentStartS <= 0 || f.UrgentMakespanS < f.UrgentStartS || f.BatchMakespanS <= 0 {
		t.Errorf("urgent start %g makespan %g, batch makespan %g: want 0 < start ≤ makespan", f.UrgentStartS, f.UrgentMakespanS, f.BatchMakespanS)
	}
	if got := f.UrgentMakespanS - f.UrgentStartS - f.UrgentIdealS; math.Abs(got-f.UrgentDelayS) > 1e-6 {
		t.Errorf("urgent delay %g, want makespan − start − ideal = %g", f.UrgentDelayS, got)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, rs); err != nil || !strings.Contains(table.String(), "urgent delay s") {
		t.Errorf("table (err %v) has no priority section:\n%s", err, table.String())
	}
}

// TestSummarizePriority: over seeds, the priority figures get their median
// and range from the runs that measured them; other scenarios have none.
func TestSummarizePriority(t *testing.T) {
	t.Parallel()
	run := func(seed uint64, f *PriorityFields) Result {
		return Result{Scenario: Priority, Strategy: Ours, Seed: seed, PriorityFields: f}
	}
	rs := []Result{
		run(1, &PriorityFields{UrgentDelayS: 280.6, UrgentStartS: 9.5, UrgentMakespanS: 292.6, BatchCapacityUsedPct: 69}),
		run(2, &PriorityFields{UrgentDelayS: 173.2, UrgentStartS: 3.1, UrgentMakespanS: 178.8, BatchCapacityUsedPct: 73}),
		run(3, nil), // failed before measuring
		{Scenario: Burst, Strategy: Ours, Seed: 1},
	}
	ss := Summarize(rs)
	ps := ss[0].PrioritySummary
	if ps == nil || ss[1].PrioritySummary != nil {
		t.Fatalf("priority summary %+v, burst's %+v: want one for priority only", ps, ss[1].PrioritySummary)
	}
	if ps.UrgentDelayS != (Spread{Median: 226.9, Min: 173.2, Max: 280.6}) || ps.BatchCapacityUsedPct.Median != 71 || ps.UrgentStartS.Max != 9.5 {
		t.Errorf("priority summary %+v", ps)
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, ss); err != nil {
		t.Fatal(err)
	}
	if want := "urgent delay 226.9 [173.2–280.6] s"; !strings.Contains(buf.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, buf.String())
	}
}
