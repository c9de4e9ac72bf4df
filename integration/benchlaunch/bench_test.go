package benchlaunch

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestRunTiny runs the benchmark harness end to end on a tiny burst with
// every strategy, so that it cannot silently rot: each pair must launch its
// whole request exactly once, the JSON must carry the contract's names and
// the chart must be a PNG.
func TestRunTiny(t *testing.T) {
	t.Parallel()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("needs the Node tools (make deps): %v", err)
	}
	var out bytes.Buffer
	dir := t.TempDir()
	// Fargate 10 burst / 10 per s: 40 tasks are bound by the buckets
	// (ideal 3 s), and sdk-adaptive's 20 at scale 1 take about a second.
	p := Params{Scenarios: []string{Burst}, Tasks: 40, AdaptiveTasks: 20, TimeScale: 10, FargateBurst: 10, FargateRate: 10,
		Chart: filepath.Join(dir, "chart.png"), Out: &out}
	rs, err := Run(t.Context(), p)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if got, want := len(rs), len(AllStrategies); got != want {
		t.Fatalf("got %d results, want %d (one per strategy)", got, want)
	}
	for _, r := range rs {
		if r.Skipped != "" || r.Error != "" {
			t.Errorf("%s: skipped %q error %q", r.Strategy, r.Skipped, r.Error)
			continue
		}
		want := 40
		if r.Strategy == SDKAdaptive {
			want = 20
		}
		if r.Requested != want || r.Launched != want || r.Lost != 0 || r.Duplicates != 0 {
			t.Errorf("%s: requested %d launched %d lost %d duplicates %d, want %d launched once", r.Strategy, r.Requested, r.Launched, r.Lost, r.Duplicates, want)
		}
		if min := int64(math.Ceil(float64(want) / 10)); r.Calls < min {
			t.Errorf("%s: %d calls, want ≥ %d (10 tasks per RunTask)", r.Strategy, r.Calls, min)
		}
		if r.MakespanS <= 0 || r.P99LaunchS < r.P50LaunchS || r.Transitions == 0 || r.CostPer1000USD <= 0 {
			t.Errorf("%s: makespan %g p50 %g p99 %g transitions %d cost %g: want all set", r.Strategy, r.MakespanS, r.P50LaunchS, r.P99LaunchS, r.Transitions, r.CostPer1000USD)
		}
		if r.Strategy == Ours && r.DynamoDBWrites == 0 {
			t.Errorf("ours: no DynamoDB writes counted")
		}
	}
	var buf bytes.Buffer
	if err := EncodeJSON(&buf, rs); err != nil {
		t.Fatal(err)
	}
	var doc []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JSON is not an array of objects: %v", err)
	}
	for _, k := range []string{"scenario", "strategy", "requested", "launched", "lost", "duplicates", "calls", "throttled_calls",
		"async_throttles", "makespan_s", "ideal_makespan_s", "cost_per_1000_usd"} {
		if _, ok := doc[0][k]; !ok {
			t.Errorf("JSON object lacks %q", k)
		}
	}
	f, err := os.Open(ChartPath(p.Chart, Burst))
	if err != nil {
		t.Fatalf("chart: %v\n%s", err, out.String())
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("chart is not a PNG: %v", err)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, rs); err != nil {
		t.Fatal(err)
	}
	for _, s := range AllStrategies {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %s:\n%s", s, table.String())
		}
	}
}

func TestSetupIdeal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, scenario, strategy string
		p                        Params
		ideal, remaining         float64
	}{
		{"design example", Burst, Ours, Params{Tasks: 10000}, 495, 495},
		{"co-tenant takes 30 %", Cotenant, Naive, Params{Tasks: 10000, CotenantShare: 0.3}, 495, (10000 - 70) / 14.0},
		// 100 + 20·100 = 2,100 tasks by 100 s, the other 7,900 at 14 per s.
		{"co-tenant arrives at 100 s", Cotenant, Ours, Params{Tasks: 10000, CotenantShare: 0.3, CotenantStartS: 100}, 495, 100 + 7900/14.0},
		// 70 + 14·200 = 2,870 tasks by 200 s, the other 7,130 at 20 per s.
		{"co-tenant leaves at 200 s", Cotenant, Ours, Params{Tasks: 10000, CotenantShare: 0.3, CotenantStopS: 200}, 495, 200 + 7130/20.0},
		// The account's buckets, not the published ones: (10,000 − 90) / 16.
		{"unknown account", Unknown, Ours, Params{Tasks: 10000}, 9910 / 16.0, 9910 / 16.0},
		{"unknown account, flags override", Unknown, Naive, Params{Tasks: 10000, FargateBurst: 100, FargateRate: 10}, 990, 990},
		{"hidden ENI bucket bounds", Async, Ours, Params{Tasks: 1000, ENIBurst: 100, ENIRate: 15}, 60, 60},
		{"sdk-adaptive's own size", Burst, SDKAdaptive, Params{Tasks: 10000, AdaptiveTasks: 300}, 10, 10},
		{"EC2 below the burst", EC2, Ours, Params{Instances: 500}, 0, 0},
		// One call per task: Fargate's 20 calls/s bind, (1,000 − 20) / 20.
		{"items", Burst, Ours, Params{Tasks: 1000, Items: true}, launch.IdealECSMakespan(1000, 1, true), launch.IdealECSMakespan(1000, 1, true)},
		{"items, by hand", Burst, Ours, Params{Tasks: 1000, Items: true}, 49, 49},
		// Waiting does not change the launch: 10 tasks a call, (1,000 − 100) / 20.
		{"wait for completion", Burst, Ours, Params{Tasks: 1000, WaitForCompletion: true}, 45, 45},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := setupOf(t, tc.p, tc.scenario, tc.strategy)
			ideal, remaining := idealOf(s.units, s.ideal), s.idealRemaining()
			if math.Abs(ideal-tc.ideal) > 1e-9 || math.Abs(remaining-tc.remaining) > 1e-9 {
				t.Errorf("ideal %g remaining %g, want %g %g", ideal, remaining, tc.ideal, tc.remaining)
			}
		})
	}
}

// TestCotenantServicesSetting: the cotenant scenario carries the co-tenant
// services and the RunTask-charging setting into the account; other
// scenarios have none.
func TestCotenantServicesSetting(t *testing.T) {
	t.Parallel()
	want := map[string]sim.Cotenants{
		Cotenant + " free":    {Services: 4},
		Cotenant + " charged": {Services: 4, ChargeRunTaskAPI: true},
		Burst + " charged":    {},
	}
	for name, w := range want {
		scenario, mode, _ := strings.Cut(name, " ")
		s := setupOf(t, Params{Tasks: 100, CotenantServices: 4, CotenantServicesRunTask: mode == "charged"}, scenario, Ours)
		if s.sim.Cotenants != w {
			t.Errorf("%s: got %+v, want %+v", name, s.sim.Cotenants, w)
		}
	}
}

// TestAccount: what the simulated account has and what ours is told. In
// unknown, ours keeps the published defaults (no limits document) while the
// account has the flags' buckets, or the scenario's 70/27 and 90/16.
func TestAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, scenario   string
		p                Params
		runTask, fargate sim.Bucket
		told             string // in ours' limits document; "" for none
	}{
		{"burst, published", Burst, Params{}, sim.Bucket{Burst: 100, Rate: 40}, sim.Bucket{Burst: 100, Rate: 20},
			`"ecs:FargateTasks":{"burst":100,"rate":20}`},
		{"burst, told the flags", Burst, Params{RunTaskBurst: 70, RunTaskRate: 27, FargateBurst: 90, FargateRate: 16},
			sim.Bucket{Burst: 70, Rate: 27}, sim.Bucket{Burst: 90, Rate: 16}, `"ecs:RunTask":{"burst":70,"rate":27}`},
		{"unknown, its defaults", Unknown, Params{}, sim.Bucket{Burst: 70, Rate: 27}, sim.Bucket{Burst: 90, Rate: 16}, ""},
		{"unknown, one flag", Unknown, Params{FargateRate: 12}, sim.Bucket{Burst: 70, Rate: 27}, sim.Bucket{Burst: 90, Rate: 12}, ""},
		{"unknown, every flag", Unknown, Params{RunTaskBurst: 50, RunTaskRate: 20, FargateBurst: 60, FargateRate: 10},
			sim.Bucket{Burst: 50, Rate: 20}, sim.Bucket{Burst: 60, Rate: 10}, ""},
		{"cotenant, told the account", Cotenant, Params{FargateRate: 10}, sim.Bucket{Burst: 100, Rate: 40}, sim.Bucket{Burst: 100, Rate: 10},
			`"ecs:FargateTasks":{"burst":100,"rate":10}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := setupOf(t, tc.p, tc.scenario, Ours)
			if got := s.sim.Buckets[sim.BucketRunTask]; got != tc.runTask {
				t.Errorf("account RunTask %+v, want %+v", got, tc.runTask)
			}
			if got := s.sim.Buckets[sim.BucketFargateTasks]; got != tc.fargate {
				t.Errorf("account Fargate tasks %+v, want %+v", got, tc.fargate)
			}
			if got := s.sim.Buckets[sim.BucketFargateRunTask]; got != (sim.Bucket{Burst: 20, Rate: 20}) {
				t.Errorf("account Fargate RunTask %+v, want the published 20/20", got)
			}
			if tc.told == "" && s.limitsJSON != "" || !strings.Contains(s.limitsJSON, tc.told) {
				t.Errorf("ours is told %q, want %q", s.limitsJSON, tc.told)
			}
		})
	}
}

// setupOf is newSetup after p's defaults.
func setupOf(t *testing.T, p Params, scenario, strategy string) setup {
	t.Helper()
	if err := p.defaults(); err != nil {
		t.Fatal(err)
	}
	s, err := newSetup(p, scenario, strategy)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParamsErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		p    Params
		want string
	}{
		"unknown scenario":            {Params{Scenarios: []string{"storm"}}, "--scenario"},
		"unknown strategy":            {Params{Strategies: []string{"yolo"}}, "--strategies"},
		"share of 1":                  {Params{CotenantShare: 1}, "--cotenant-share"},
		"negative tasks":              {Params{Tasks: -1}, "--tasks"},
		"chart not png":               {Params{Chart: "x.svg"}, "--chart"},
		"crash rate":                  {Params{CrashRate: 2}, "--crash-rate"},
		"negative runtask burst":      {Params{RunTaskBurst: -1}, "--runtask-burst"},
		"negative runtask rate":       {Params{RunTaskRate: -40}, "--runtask-rate"},
		"negative fargate burst":      {Params{FargateBurst: -5}, "--fargate-burst"},
		"negative fargate rate":       {Params{FargateRate: -0.5}, "--fargate-rate"},
		"co-tenant arrives before 0":  {Params{CotenantStartS: -1}, "--cotenant-start"},
		"co-tenant leaves before 0":   {Params{CotenantStopS: -1}, "--cotenant-stop"},
		"leaves before it arrives":    {Params{CotenantStartS: 60, CotenantStopS: 30}, "--cotenant-stop"},
		"leaves as it arrives":        {Params{CotenantStartS: 60, CotenantStopS: 60}, "--cotenant-stop"},
		"negative co-tenant services": {Params{CotenantServices: -1}, "--cotenant-services"},
		"run time without waiting":    {Params{TaskRunSeconds: 30}, "--task-run-seconds: only with --wait-for-completion"},
		"negative run time":           {Params{WaitForCompletion: true, TaskRunSeconds: -1}, "--task-run-seconds"},
		"waiting in another scenario": {Params{WaitForCompletion: true, Scenarios: []string{Burst, Cotenant}}, "--scenario burst"},
		"items in another scenario":   {Params{Items: true, Scenarios: []string{EC2}}, "--scenario burst"},
		"negative batch":              {Params{BatchTasks: -1}, "--batch-tasks"},
		"negative urgent":             {Params{UrgentTasks: -5}, "--urgent-tasks"},
		"urgent before the batch":     {Params{UrgentAtS: -1}, "--urgent-at"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
	for name, p := range map[string]Params{
		"co-tenant from 30 s to 60 s": {CotenantStartS: 30, CotenantStopS: 60},
		"co-tenant leaves at 60 s":    {CotenantStopS: 60},
		"unknown with its defaults":   {Scenarios: []string{Unknown}},
		"waiting, every scenario":     {WaitForCompletion: true, Scenarios: []string{"all"}},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFailedUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		strategy, output string
		want             int
	}{
		{Ours, `{"requestId":"r","requested":30,"launched":20,"failed":10,"deadLettered":10}`, 10},
		{Naive, `[{"launched":true},{"failed":10,"error":"ECS.SdkClientException"},{"failed":4,"error":"X"}]`, 14},
		{ASLJitter, `[{"launched":true}]`, 0},
		{Naive, ``, 0},
	}
	for _, tc := range tests {
		if got := failedUnits(tc.strategy, tc.output); got != tc.want {
			t.Errorf("failedUnits(%s, %s) = %d, want %d", tc.strategy, tc.output, got, tc.want)
		}
	}
}
