package report

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var fargate = map[string]Bucket{"ecs:RunTask": {100, 40}, "ecs:FargateRunTask": {20, 20}, "ecs:FargateTasks": {100, 20}}

func fargateUnits(n float64) map[string]float64 {
	calls := math.Ceil(n / 10)
	return map[string]float64{"ecs:RunTask": calls, "ecs:FargateRunTask": calls, "ecs:FargateTasks": n}
}

func TestIdealMakespan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		units map[string]float64
		want  float64
	}{
		{"the contracts' example: 10,000 Fargate tasks", fargateUnits(10000), 495},
		{"2,000 Fargate tasks", fargateUnits(2000), 95},
		{"within the burst", fargateUnits(100), 0},
		{"the call bucket binds", map[string]float64{"ecs:FargateRunTask": 220}, 10},
		{"unknown bucket ignored", map[string]float64{"nope": 1e6}, 0},
	}
	for _, tt := range tests {
		if got := IdealMakespan(tt.units, fargate); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIdealCurve(t *testing.T) {
	t.Parallel()
	pts := IdealCurve(2000, fargateUnits(2000), fargate, 120, 1)
	if pts[0] != (Point{0, 100}) {
		t.Errorf("starts at %v, want the burst (0, 100)", pts[0])
	}
	if got := At(pts, 10); got != 300 {
		t.Errorf("at 10 s: %v, want 100 + 20·10 = 300", got)
	}
	if last := pts[len(pts)-1]; last != (Point{120, 2000}) {
		t.Errorf("ends at %v, want (120, 2000)", last)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].Y < pts[i-1].Y || pts[i].X < pts[i-1].X {
			t.Fatalf("not monotonic at %d: %v → %v", i, pts[i-1], pts[i])
		}
	}
	if At(pts, 95) != 2000 || At(pts, 94) >= 2000 {
		t.Errorf("reaches 2000 at %v, want at the ideal makespan 95 s", pts)
	}
}

func TestStepsAndAt(t *testing.T) {
	t.Parallel()
	got := Steps([]float64{1, 1, 2.5, 4})
	want := []Point{{0, 0}, {1, 2}, {2.5, 3}, {4, 4}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d: got %v, want %v", i, got[i], want[i])
		}
	}
	for x, y := range map[float64]float64{-1: 0, 0.5: 0, 1: 2, 3: 3, 99: 4} {
		if a := At(got, x); a != y {
			t.Errorf("At(%v) = %v, want %v", x, a, y)
		}
	}
}

func TestFinishAndTable(t *testing.T) {
	t.Parallel()
	r := Report{Requested: 2000, Launched: 1990, DeadLettered: 4, Calls: 200, ThrottledCalls: 3, MakespanS: 190, IdealMakespanS: 95,
		Reasons: map[string]int{"capacity: Capacity": 4}}
	r.Finish()
	if r.Lost != 6 || r.ThrottledPct != 1.5 {
		t.Errorf("Finish: lost %d throttled %v%%, want 6 and 1.5", r.Lost, r.ThrottledPct)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"launched        1990 (99.5 %)", "dead-lettered   4 (capacity: Capacity ×4)", "lost            6",
		"throttled       3 sync (1.50 % of calls), 0 async", "makespan        190.0 s simulated (2.00× the ideal)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil || back.Lost != 6 || back.IdealMakespanS != 95 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

func TestLinesProgress(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	now := time.Unix(0, 0)
	l := &Lines{W: &b, Every: 2 * time.Second, Now: func() time.Time { return now }}
	s := Snapshot{SimSeconds: 12, Requested: 200, Launched: 50, InFlight: 30, Deferred: 120, Throttled: 2, Async: 1}
	l.Update(s) // printed: the first
	now = now.Add(time.Second)
	l.Update(s) // too soon
	now = now.Add(time.Second)
	l.Update(s) // printed
	s.Launched, s.DeadLettered = 190, 10
	l.Done(s)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), b.String())
	}
	if want := "t=   12s  launched 50/200 ( 25%)  in flight 30  deferred 120  throttled 3"; lines[0] != want {
		t.Errorf("got %q, want %q", lines[0], want)
	}
	if !strings.HasSuffix(lines[2], "dead-lettered 10") {
		t.Errorf("last line %q lacks the dead-lettered count", lines[2])
	}
}

func TestChartSave(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.png")
	c := Chart{Title: "t", XLabel: "s", YLabel: "tasks",
		Lines: []Series{{Name: "launched", Points: Steps([]float64{1, 2, 3})}, {Name: "ideal", Points: []Point{{0, 1}, {3, 3}}, Dashed: true}},
		Marks: []Series{{Name: "throttled", Points: []Point{{2, 2}}}}}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 960 {
		t.Errorf("png: %v, bounds %v; want 960 px wide", err, img.Bounds())
	}
	empty := Chart{Lines: c.Lines, Marks: []Series{{Name: "throttled (0)"}}}
	if err := empty.Save(path); err != nil {
		t.Errorf("a chart with an empty mark series: %v", err)
	}
	if err := (Chart{}).Save(path); err == nil {
		t.Error("an empty chart saved without error")
	}
}

// TestCoveredAt checks the ideal with a co-tenant against hand-computed
// cases on the published Fargate task bucket (100 burst, 20 per s; "AWS
// Fargate throttling quotas"), 1,000 tasks, a co-tenant drawing 30 % of the
// rate from the same bucket ("Amazon ECS API request throttling": one
// bucket per account and Region, shared by every caller).
func TestCoveredAt(t *testing.T) {
	t.Parallel()
	b := Bucket{Burst: 100, Rate: 20}
	tests := []struct {
		name string
		c    Cotenant
		n    float64
		want float64
	}{
		{"no co-tenant: (1000 − 100) / 20", Cotenant{}, 1000, 45},
		{"share 0 anywhere is no co-tenant", Cotenant{Share: 0, StartS: 10, StopS: 20}, 1000, 45},
		{"there all along: (1000 − 70) / 14", Cotenant{Share: 0.3}, 1000, 930.0 / 14},
		{"arrives at 20 s: 100 + 20·20 = 500 by then, 500 more at 14/s", Cotenant{Share: 0.3, StartS: 20}, 1000, 20 + 500.0/14},
		{"arrives at 60 s, after the work is done", Cotenant{Share: 0.3, StartS: 60}, 1000, 45},
		{"leaves at 30 s: 70 + 14·30 = 490 by then, 510 more at 20/s", Cotenant{Share: 0.3, StopS: 30}, 1000, 30 + 510.0/20},
		{"leaves at 100 s, after the work is done", Cotenant{Share: 0.3, StopS: 100}, 1000, 930.0 / 14},
		{"there from 10 s to 40 s: 300, then 720, then 280 more at 20/s", Cotenant{Share: 0.3, StartS: 10, StopS: 40}, 1000, 40 + 280.0/20},
		{"within the burst it leaves", Cotenant{Share: 0.3}, 70, 0},
		{"just past it", Cotenant{Share: 0.3}, 80, 10.0 / 14},
		{"within the whole burst, arriving later", Cotenant{Share: 0.3, StartS: 5}, 100, 0},
		{"half the bucket, there all along", Cotenant{Share: 0.5}, 1000, 950.0 / 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.c.CoveredAt(tt.n, b)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("CoveredAt(%v) = %v, want %v", tt.n, got, tt.want)
			}
			if left := tt.c.Left(b, got); got > 0 && math.Abs(left-tt.n) > 1e-9 {
				t.Errorf("Left at %v = %v, want the %v units", got, left, tt.n)
			}
		})
	}
}

func TestIdealRemaining(t *testing.T) {
	t.Parallel()
	units := fargateUnits(1000)
	c := Cotenant{Share: 0.3}
	// The task bucket binds: 100 calls leave the call buckets done within
	// (100 − 14) / 14 s.
	if got, want := IdealRemaining(units, fargate, c, nil), 930.0/14; math.Abs(got-want) > 1e-9 {
		t.Errorf("shared by every bucket: %v, want %v", got, want)
	}
	notTasks := func(name string) bool { return name != "ecs:FargateTasks" }
	if got, want := IdealRemaining(units, fargate, c, notTasks), 45.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("task bucket not shared: %v, want the unshared %v", got, want)
	}
	if got, want := IdealRemaining(units, fargate, Cotenant{}, nil), IdealMakespan(units, fargate); got != want {
		t.Errorf("no co-tenant: %v, want IdealMakespan's %v", got, want)
	}
}

func TestIdealCurveLeft(t *testing.T) {
	t.Parallel()
	// 1,000 tasks; the co-tenant takes 30 % of the rate from 20 s on: the
	// task bucket allows 100 + 20·t until then, 500 + 14·(t − 20) after.
	c := Cotenant{Share: 0.3, StartS: 20}
	pts := IdealCurveLeft(1000, fargateUnits(1000), fargate, c, nil, 100, 1)
	for x, y := range map[float64]float64{10: 300, 20: 500, 30: 640} {
		if got := At(pts, x); math.Abs(got-y) > 1e-9 {
			t.Errorf("at %v s: %v, want %v", x, got, y)
		}
	}
	end := IdealRemaining(fargateUnits(1000), fargate, c, nil)
	if At(pts, end) != 1000 || At(pts, end-0.5) >= 1000 {
		t.Errorf("reaches 1000 at %v, want at IdealRemaining %v", pts, end)
	}
}

// TestJobsTable: a run whose tasks stop shows when they did and the
// per-status counts with their source; one whose tasks do not shows
// neither row (the launch-only table is unchanged).
func TestJobsTable(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		r           Report
		want, avoid []string
	}{
		"jobs": {
			r: Report{Requested: 20, Launched: 20, Completed: 22, CompletedTimeline: []Point{{0, 0}, {30, 10}, {61.5, 22}}, EndS: 70,
				Counts: map[string]int{"SUCCEEDED": 19, "FAILED": 1}, CountsFrom: "execution output"},
			want: []string{"completed       22 tasks stopped, the last at 61.5 s; execution ended at 70.0 s simulated",
				"counts          SUCCEEDED 19, FAILED 1, DEAD_LETTERED 0, CANCELLED 0, RUNNING 0, PENDING 0 (execution output)"},
		},
		"unknown status sorted after": {
			r:    Report{Requested: 1, Counts: map[string]int{"SUCCEEDED": 1, "ZZ": 2, "AA": 3}, CountsFrom: "ledger"},
			want: []string{"PENDING 0, AA 3, ZZ 2 (ledger)"},
		},
		"launch only": {r: Report{Requested: 5, Launched: 5}, avoid: []string{"completed", "counts"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := tt.r.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("table lacks %q:\n%s", w, b.String())
				}
			}
			for _, a := range tt.avoid {
				if strings.Contains(b.String(), a) {
					t.Errorf("table shows %q:\n%s", a, b.String())
				}
			}
		})
	}
}

func TestLineCompleted(t *testing.T) {
	t.Parallel()
	s := Snapshot{SimSeconds: 40, Requested: 10, Launched: 10, Completed: 4}
	if got, want := Line(s), "t=   40s  launched 10/10 (100%)  in flight 0  deferred 0  throttled 0  completed 4"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
