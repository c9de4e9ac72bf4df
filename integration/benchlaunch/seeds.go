package benchlaunch

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// RunSeeds runs Run once per seed, in order, and returns every run. With
// more than one seed, each seed's charts are <chart>-seed<N>-<scenario>.png.
func RunSeeds(ctx context.Context, p Params, seeds []uint64) ([]Result, error) {
	if err := p.defaults(); err != nil {
		return nil, err
	}
	if len(seeds) == 0 {
		seeds = []uint64{p.Seed}
	}
	var all []Result
	for i, seed := range seeds {
		q := p
		q.Seed = seed
		if len(seeds) > 1 {
			fmt.Fprintf(p.Out, "== seed %d (%d of %d)\n", seed, i+1, len(seeds))
			q.Chart = fmt.Sprintf("%s-seed%d.png", strings.TrimSuffix(p.Chart, ".png"), seed)
		}
		rs, err := Run(ctx, q)
		all = append(all, rs...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

// Spread is one figure over seeds: the median (the mean of the middle two
// for an even count) and the range.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := sortedTimes(xs)
	n := len(s)
	return Spread{Median: (s[(n-1)/2] + s[n/2]) / 2, Min: s[0], Max: s[n-1]}
}

// Summary is one (scenario, strategy) pair over seeds. The ideals do not
// depend on the seed.
type Summary struct {
	Scenario               string   `json:"scenario"`
	Strategy               string   `json:"strategy"`
	Seeds                  []uint64 `json:"seeds"`
	Requested              int      `json:"requested"`
	TimeScale              float64  `json:"time_scale"`
	IdealMakespanS         float64  `json:"ideal_makespan_s"`
	IdealRemainingS        float64  `json:"ideal_remaining_s"`
	MakespanS              Spread   `json:"makespan_s"`
	MakespanRatio          Spread   `json:"makespan_ratio"`
	ThrottledPct           Spread   `json:"throttled_pct"`
	CapacityUsedPct        Spread   `json:"capacity_used_pct"`
	CotenantThrottledCalls Spread   `json:"cotenant_throttled_calls"`
	Lost                   Spread   `json:"lost"`
	Duplicates             Spread   `json:"duplicates"`
	WallS                  Spread   `json:"wall_s"`
	// The priority scenario's figures over the seeds (absent elsewhere).
	*PrioritySummary
	// Errors are the runs that ended badly, "seed N: why"; their figures
	// are counted.
	Errors []string `json:"errors,omitempty"`
}

// Summarize groups runs by (scenario, strategy), in the order they first
// appear, skipping pairs that were not run.
func Summarize(rs []Result) []Summary {
	var keys []string
	groups := map[string][]Result{}
	for _, r := range rs {
		if r.Skipped != "" {
			continue
		}
		k := r.Scenario + "\x00" + r.Strategy
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]Summary, 0, len(keys))
	for _, k := range keys {
		out = append(out, summarize(groups[k]))
	}
	return out
}

func summarize(g []Result) Summary {
	spread := func(f func(Result) float64) Spread {
		xs := make([]float64, len(g))
		for i, r := range g {
			xs[i] = f(r)
		}
		return spreadOf(xs)
	}
	first := g[0]
	s := Summary{Scenario: first.Scenario, Strategy: first.Strategy, Requested: first.Requested, TimeScale: first.TimeScale,
		IdealMakespanS: first.IdealMakespanS, IdealRemainingS: first.IdealRemainingS,
		MakespanS:              spread(func(r Result) float64 { return r.MakespanS }),
		MakespanRatio:          spread(func(r Result) float64 { return r.MakespanRatio }),
		ThrottledPct:           spread(func(r Result) float64 { return r.ThrottledPct }),
		CapacityUsedPct:        spread(func(r Result) float64 { return r.CapacityUsedPct }),
		CotenantThrottledCalls: spread(func(r Result) float64 { return float64(r.CotenantThrottledCalls) }),
		Lost:                   spread(func(r Result) float64 { return float64(r.Lost) }),
		Duplicates:             spread(func(r Result) float64 { return float64(r.Duplicates) }),
		WallS:                  spread(func(r Result) float64 { return r.WallS })}
	s.PrioritySummary = summarizePriority(g)
	for _, r := range g {
		s.Seeds = append(s.Seeds, r.Seed)
		if r.Error != "" {
			s.Errors = append(s.Errors, fmt.Sprintf("seed %d: %s", r.Seed, r.Error))
		}
	}
	return s
}

// WriteSummary prints one row per pair: each figure's median over the
// seeds, and its range in brackets, then the runs that ended badly.
func WriteSummary(w io.Writer, ss []Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tstrategy\tseeds\tk\trequested\tratio\tthr %\tcap used %\tco-tenant thr\tlost\tdup\tmakespan s\tideal s\tideal left s\twall s\t")
	var notes []string
	for _, s := range ss {
		f := func(sp Spread, format string) string {
			if sp.Min == sp.Max {
				return fmt.Sprintf(format, sp.Median)
			}
			return fmt.Sprintf(format+" ["+format+"–"+format+"]", sp.Median, sp.Min, sp.Max)
		}
		capUsed := "-"
		if s.IdealRemainingS != s.IdealMakespanS {
			capUsed = f(s.CapacityUsedPct, "%.0f")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%g\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t\n",
			s.Scenario, s.Strategy, len(s.Seeds), s.TimeScale, s.Requested, f(s.MakespanRatio, "%.3f"), f(s.ThrottledPct, "%.2f"),
			capUsed, f(s.CotenantThrottledCalls, "%.0f"), f(s.Lost, "%.0f"), f(s.Duplicates, "%.0f"), f(s.MakespanS, "%.1f"),
			s.IdealMakespanS, s.IdealRemainingS, f(s.WallS, "%.0f"))
		for _, e := range s.Errors {
			notes = append(notes, fmt.Sprintf("%s × %s: %s", s.Scenario, s.Strategy, e))
		}
		if ps := s.PrioritySummary; ps != nil {
			notes = append(notes, fmt.Sprintf("%s × %s: urgent delay %s s, urgent start %s s, batch used %s %% of the capacity left",
				s.Scenario, s.Strategy, f(ps.UrgentDelayS, "%.1f"), f(ps.UrgentStartS, "%.1f"), f(ps.BatchCapacityUsedPct, "%.0f")))
		}
	}
	return flushNotes(w, tw, notes)
}

// SeedsReport is the JSON of a run over several seeds: every run, and the
// medians per pair.
type SeedsReport struct {
	Seeds   []uint64  `json:"seeds"`
	Runs    []Result  `json:"runs"`
	Medians []Summary `json:"medians"`
}

// ParseSeeds reads a comma-separated list of distinct seeds ≥ 1.
func ParseSeeds(list string) ([]uint64, error) {
	var seeds []uint64
	for _, f := range strings.Split(list, ",") {
		var n uint64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n == 0 || strings.TrimSpace(f) != fmt.Sprint(n) {
			return nil, fmt.Errorf("--seeds: want a comma-separated list of whole numbers ≥ 1, got %q", f)
		}
		if slices.Contains(seeds, n) {
			return nil, fmt.Errorf("--seeds: seed %d given twice", n)
		}
		seeds = append(seeds, n)
	}
	return seeds, nil
}
