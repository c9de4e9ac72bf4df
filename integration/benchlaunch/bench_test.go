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

	"github.com/throttle-handler/throttle-handler/internal/testenv"
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
		{"hidden ENI bucket bounds", Async, Ours, Params{Tasks: 1000, ENIBurst: 100, ENIRate: 15}, 60, 60},
		{"sdk-adaptive's own size", Burst, SDKAdaptive, Params{Tasks: 10000, AdaptiveTasks: 300}, 10, 10},
		{"EC2 below the burst", EC2, Ours, Params{Instances: 500}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := tc.p
			if err := p.defaults(); err != nil {
				t.Fatal(err)
			}
			s, err := newSetup(p, tc.scenario, tc.strategy)
			if err != nil {
				t.Fatal(err)
			}
			var r Result
			r.IdealMakespanS = idealOf(s.units, s.ideal)
			r.IdealRemainingS = idealOf(s.units, s.remaining)
			if math.Abs(r.IdealMakespanS-tc.ideal) > 1e-9 || math.Abs(r.IdealRemainingS-tc.remaining) > 1e-9 {
				t.Errorf("ideal %g remaining %g, want %g %g", r.IdealMakespanS, r.IdealRemainingS, tc.ideal, tc.remaining)
			}
		})
	}
}

func TestParamsErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		p    Params
		want string
	}{
		"unknown scenario": {Params{Scenarios: []string{"storm"}}, "--scenario"},
		"unknown strategy": {Params{Strategies: []string{"yolo"}}, "--strategies"},
		"share of 1":       {Params{CotenantShare: 1}, "--cotenant-share"},
		"negative tasks":   {Params{Tasks: -1}, "--tasks"},
		"chart not png":    {Params{Chart: "x.svg"}, "--chart"},
		"crash rate":       {Params{CrashRate: 2}, "--crash-rate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.p.defaults()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		})
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
