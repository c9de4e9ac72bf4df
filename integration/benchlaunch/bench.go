package benchlaunch

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/throttle-handler/throttle-handler/integration/report"
)

// Run runs every selected (scenario, strategy) pair in turn, each on a
// fresh local AWS with the same seed, prints a progress line per run, and
// writes one chart per scenario. Pairs that cannot run are Results with
// Skipped set; a run that ends badly is a Result with Error set. Run
// returns an error only when ctx ends or the benchmark cannot start.
func Run(ctx context.Context, p Params) ([]Result, error) {
	if err := p.defaults(); err != nil {
		return nil, err
	}
	if slices.Contains(p.Strategies, SDKAdaptive) {
		fmt.Fprintf(p.Out, "sdk-adaptive launches %d tasks at time scale 1 (the SDK's clock cannot be scaled); the others %d tasks (ec2: %d instances) at %g×: compare ratios, not seconds\n",
			p.AdaptiveTasks, p.Tasks, p.Instances, p.TimeScale)
	}
	var results []Result
	total, i := len(p.Scenarios)*len(p.Strategies), 0
	for _, sc := range p.Scenarios {
		var rows []Result
		for _, st := range p.Strategies {
			i++
			s, err := newSetup(p, sc, st)
			if err != nil {
				fmt.Fprintf(p.Out, "[%d/%d] %s × %s: skipped (%v)\n", i, total, sc, st, err)
				rows = append(rows, Result{Scenario: sc, Strategy: st, Skipped: err.Error()})
				continue
			}
			fmt.Fprintf(p.Out, "[%d/%d] %s × %s: %d units at time scale %g×\n", i, total, sc, st, s.requested(), s.timeScale)
			r, err := runPair(ctx, p, s)
			if err != nil {
				if ctx.Err() != nil {
					return append(results, rows...), ctx.Err()
				}
				r.Error = err.Error()
			}
			fmt.Fprintf(p.Out, "        makespan %.1f s (ideal %.1f s, ×%.2f), %d/%d launched, %d throttled of %d calls, %d lost, %d duplicates, %.1f s real\n",
				r.MakespanS, r.IdealMakespanS, r.MakespanRatio, r.Launched, r.Requested, r.ThrottledCalls+r.AsyncThrottles, r.Calls, r.Lost, r.Duplicates, r.WallS)
			if f := r.PriorityFields; f != nil {
				fmt.Fprintf(p.Out, "        urgent (%d tasks at %g s): started %.1f s after submit, delay %.1f s over its ideal %.1f s, done %.1f s after submit; batch used %.0f %% of the capacity left (ideal %.1f s)\n",
					f.UrgentTasks, f.UrgentAtS, f.UrgentStartS, f.UrgentDelayS, f.UrgentIdealS, f.UrgentMakespanS, f.BatchCapacityUsedPct, f.BatchIdealLeftS)
			}
			if r.CotenantCalls > 0 {
				fmt.Fprintf(p.Out, "        co-tenant: %d of its %d calls throttled; %.0f %% of the capacity it left used (ideal %.1f s)\n",
					r.CotenantThrottledCalls, r.CotenantCalls, r.CapacityUsedPct, r.IdealRemainingS)
			}
			rows = append(rows, r)
		}
		if path, err := saveChart(p, sc, rows); err != nil {
			fmt.Fprintf(p.Out, "chart %s: %v\n", sc, err)
		} else if path != "" {
			fmt.Fprintf(p.Out, "chart: %s\n", path)
		}
		results = append(results, rows...)
	}
	return results, nil
}

// ChartPath is the chart file of a scenario.
func ChartPath(chart, scenario string) string {
	return strings.TrimSuffix(chart, ".png") + "-" + scenario + ".png"
}

// saveChart draws launched-over-time of every run of a scenario against
// the ideal of the largest request, with throttles marked on each curve.
// Curves are in units launched as a share of the run's request, so that
// sdk-adaptive's smaller request compares (its x axis is simulated seconds
// at scale 1, like the others').
func saveChart(p Params, scenario string, rows []Result) (string, error) {
	ch := report.Chart{Title: fmt.Sprintf("launch benchmark, scenario %s: share of the request launched over time", scenario),
		XLabel: "simulated seconds since submit", YLabel: "% of the request launched"}
	idealDone := map[int]bool{}
	for _, r := range rows {
		if r.Skipped != "" || len(r.curve) == 0 {
			continue
		}
		curve := percentOf(r.curve, r.Requested)
		col := strategyColor(r.Strategy)
		ch.Lines = append(ch.Lines, report.Series{Name: fmt.Sprintf("%s (%d units, %.0f s, ×%.2f ideal)", r.Strategy, r.Requested, r.MakespanS, r.MakespanRatio), Points: curve, Color: col})
		var marks []report.Point
		for _, t := range r.throttles {
			marks = append(marks, report.Point{X: t.X, Y: report.At(curve, t.X)})
		}
		if len(marks) > 0 {
			ch.Marks = append(ch.Marks, report.Series{Name: fmt.Sprintf("%s: throttles (%d)", r.Strategy, r.ThrottledCalls+r.AsyncThrottles),
				Points: marks, Color: col})
		}
		// One set of ideals per request size: sdk-adaptive's smaller
		// request has its own.
		if !idealDone[r.Requested] {
			ch.Lines = append(ch.Lines, idealLines(p, scenario, r, col)...)
			idealDone[r.Requested] = true
		}
	}
	if len(ch.Lines) == 0 {
		return "", nil
	}
	path := ChartPath(p.Chart, scenario)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, ch.Save(path)
}

// percentOf is pts with Y as a percentage of requested.
func percentOf(pts []report.Point, requested int) []report.Point {
	out := make([]report.Point, len(pts))
	for i, q := range pts {
		out[i] = report.Point{X: q.X, Y: 100 * q.Y / float64(requested)}
	}
	return out
}

// idealLines are the dashed ideals of r's request: at the account's
// buckets, and on the capacity the co-tenant leaves when there is one.
// Grey, or sdk-adaptive's colour for its own smaller request.
func idealLines(p Params, scenario string, r Result, col color.Color) []report.Series {
	s, err := newSetup(p, scenario, r.Strategy)
	if err != nil {
		return nil
	}
	until := max(r.MakespanS, r.IdealMakespanS, r.IdealRemainingS) * 1.05
	full, left := color.Color(color.RGBA{110, 110, 110, 255}), color.Color(color.RGBA{170, 170, 170, 255})
	if r.Strategy == SDKAdaptive {
		full, left = col, col
	}
	out := []report.Series{{Name: fmt.Sprintf("ideal at the account's buckets, %d units (%.0f s)", r.Requested, r.IdealMakespanS),
		Points: percentOf(report.IdealCurve(r.Requested, s.units, s.ideal, until, 0.5), r.Requested), Dashed: true, Color: full}}
	if s.cotenant.Share > 0 {
		pts := report.IdealCurveLeft(r.Requested, s.units, s.ideal, s.cotenant, published, until, 0.5)
		out = append(out, report.Series{Name: fmt.Sprintf("ideal on what the co-tenant leaves, %d units (%.0f s)", r.Requested, r.IdealRemainingS),
			Points: percentOf(pts, r.Requested), Dashed: true, Color: left})
	}
	return out
}

// EncodeJSON writes v (the results, or a SeedsReport) as indented JSON to w.
func EncodeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteJSON writes v (the results, or a SeedsReport) as indented JSON to
// path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// strategyColor gives each strategy's curve and its throttle marks one
// colour; grey is the ideal's.
func strategyColor(strategy string) color.Color {
	switch strategy {
	case Ours:
		return color.RGBA{31, 119, 180, 255} // blue
	case Naive:
		return color.RGBA{214, 39, 40, 255} // red
	case ASLJitter:
		return color.RGBA{255, 127, 14, 255} // orange
	default:
		return color.RGBA{44, 160, 44, 255} // green
	}
}
