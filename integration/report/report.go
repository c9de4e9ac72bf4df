package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// Report is one launch run's measurement. Field names are the shared
// contract of the demo's and the benchmark's JSON (docs/contracts.md "Reports and the ledger");
// durations are simulated seconds.
type Report struct {
	// Requested is the units (tasks, instances) the request asked for.
	Requested int `json:"requested"`
	// Launched counts each chunk's work once: launched and not stopped with
	// TaskFailedToStart, at most the chunk's size (the ledger's Unique).
	Launched int `json:"launched"`
	// Lost = requested − launched − dead-lettered, never below 0.
	Lost int `json:"lost"`
	// Duplicates = Σ over chunks of launched beyond the chunk's size.
	Duplicates int `json:"duplicates"`
	// DeadLettered units were given up with a reason (the request's summary).
	DeadLettered int `json:"dead_lettered"`
	// Calls counts RunTask + RunInstances calls the account received.
	Calls int64 `json:"calls"`
	// ThrottledCalls are synchronous throttles (ThrottlingException,
	// RequestLimitExceeded); AsyncThrottles the rest (TaskFailedToStart,
	// RunTask's wrapped throttle).
	ThrottledCalls int64 `json:"throttled_calls"`
	AsyncThrottles int64 `json:"async_throttles"`
	// ThrottledByBucket names the buckets that refused (a call refused by
	// two buckets counts in both).
	ThrottledByBucket map[string]int64 `json:"throttled_by_bucket,omitempty"`
	// ThrottledPct is 100 × ThrottledCalls / Calls.
	ThrottledPct float64 `json:"throttled_pct"`
	// MakespanS runs from submit to the last successful launch call;
	// IdealMakespanS is the buckets' bound (IdealMakespan).
	MakespanS      float64 `json:"makespan_s"`
	IdealMakespanS float64 `json:"ideal_makespan_s"`

	// Context of the run (optional).
	RequestID   string            `json:"request_id,omitempty"`
	Status      string            `json:"status,omitempty"` // the execution's final status
	Concurrency int               `json:"concurrency,omitempty"`
	TimeScale   float64           `json:"time_scale,omitempty"`
	StartupS    float64           `json:"startup_wall_s,omitempty"` // real seconds to start the stack
	WallS       float64           `json:"wall_s,omitempty"`         // real seconds, start-up included
	Reasons     map[string]int    `json:"reasons,omitempty"`        // dead-lettered units by "class: code"
	Buckets     map[string]Bucket `json:"buckets,omitempty"`
	// Timeline is the launch curve: units launched by simulated second.
	Timeline []Point `json:"timeline,omitempty"`

	// Jobs: tasks that run and stop. Completed counts the tasks that
	// stopped after they started (retries included; TaskFailedToStart
	// excluded), CompletedTimeline them by simulated second, EndS is the
	// execution's end (simulated seconds since submit).
	Completed         int     `json:"completed,omitempty"`
	CompletedTimeline []Point `json:"completed_timeline,omitempty"`
	EndS              float64 `json:"end_s,omitempty"`
	// Counts are units by result status (SUCCEEDED, FAILED, …) and
	// CountsFrom where they come from: "execution output", or the ledger
	// when the output has none (then they count tasks, not units).
	Counts     map[string]int `json:"counts,omitempty"`
	CountsFrom string         `json:"counts_from,omitempty"`
}

// Finish fills the derived fields: Lost and ThrottledPct.
func (r *Report) Finish() {
	r.Lost = max(0, r.Requested-r.Launched-r.DeadLettered)
	r.ThrottledPct = 0
	if r.Calls > 0 {
		r.ThrottledPct = 100 * float64(r.ThrottledCalls) / float64(r.Calls)
	}
}

// WriteJSON writes r, indented, to path.
func (r Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// WriteTable prints the summary table a person reads at the end of a run.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	row("requested", fmt.Sprint(r.Requested))
	row("launched", fmt.Sprintf("%d%s", r.Launched, pct(r.Launched, r.Requested)))
	row("dead-lettered", fmt.Sprint(r.DeadLettered)+reasons(r.Reasons))
	row("duplicates", fmt.Sprint(r.Duplicates))
	row("lost", fmt.Sprint(r.Lost))
	row("calls", fmt.Sprint(r.Calls))
	row("throttled", fmt.Sprintf("%d sync (%.2f %% of calls), %d async", r.ThrottledCalls, r.ThrottledPct, r.AsyncThrottles))
	ratio := ""
	if r.IdealMakespanS > 0 {
		ratio = fmt.Sprintf(" (%.2f× the ideal)", r.MakespanS/r.IdealMakespanS)
	}
	row("makespan", fmt.Sprintf("%.1f s simulated%s", r.MakespanS, ratio))
	row("ideal makespan", fmt.Sprintf("%.1f s simulated", r.IdealMakespanS))
	if r.Completed > 0 {
		row("completed", fmt.Sprintf("%d tasks stopped, the last at %.1f s; execution ended at %.1f s simulated", r.Completed, lastX(r.CompletedTimeline), r.EndS))
	}
	if r.Counts != nil {
		row("counts", counts(r.Counts)+" ("+r.CountsFrom+")")
	}
	if r.WallS > 0 {
		row("wall time", fmt.Sprintf("%.1f s real (start-up %.1f s, time scale %g×)", r.WallS, r.StartupS, r.TimeScale))
	}
	return tw.Flush()
}

// statusOrder is the order of result statuses in a counts row; others
// follow, sorted.
var statusOrder = []string{"SUCCEEDED", "FAILED", "DEAD_LETTERED", "CANCELLED", "RUNNING", "PENDING"}

// counts renders counts by status: "SUCCEEDED 1998, FAILED 2, …", every
// status of statusOrder shown (zeros included).
func counts(m map[string]int) string {
	var parts []string
	for _, k := range statusOrder {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	var rest []string
	for k := range m {
		if !slices.Contains(statusOrder, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// lastX is the abscissa of a curve's last point (0 when empty).
func lastX(c []Point) float64 {
	if len(c) == 0 {
		return 0
	}
	return c[len(c)-1].X
}

func pct(a, b int) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f %%)", 100*float64(a)/float64(b))
}

func reasons(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Bucket is a token bucket: Burst tokens, refilled at Rate per simulated
// second.
type Bucket struct {
	Burst float64 `json:"burst"`
	Rate  float64 `json:"rate"`
}

// IdealMakespan is the contracts' bound: the largest, over the buckets the
// work draws on (units by bucket name), of max(0, (units − burst) / rate).
// Buckets with no rate do not bound the work.
func IdealMakespan(units map[string]float64, buckets map[string]Bucket) float64 {
	var worst float64
	for name, n := range units {
		b, ok := buckets[name]
		if ok && b.Rate > 0 {
			worst = math.Max(worst, math.Max(0, (n-b.Burst)/b.Rate))
		}
	}
	return worst
}

// IdealCurve is the most units that can be launched by each time: at t,
// the smallest over the buckets of (burst + rate·t) divided by the bucket's
// units per launched unit, capped at total. It is sampled every step
// simulated seconds from 0 until total is reached (or until), and ends at
// IdealMakespan exactly.
func IdealCurve(total int, units map[string]float64, buckets map[string]Bucket, until, step float64) []Point {
	return IdealCurveLeft(total, units, buckets, Cotenant{}, nil, until, step)
}

// IdealCurveLeft is IdealCurve on the capacity c leaves on the buckets
// shared accepts (nil: all): Left instead of burst + rate·t, ending at
// IdealRemaining.
func IdealCurveLeft(total int, units map[string]float64, buckets map[string]Bucket, c Cotenant, shared func(bucket string) bool, until, step float64) []Point {
	if total <= 0 || step <= 0 {
		return nil
	}
	of := func(name string) Cotenant {
		if shared != nil && !shared(name) {
			return Cotenant{}
		}
		return c
	}
	at := func(t float64) float64 {
		y := float64(total)
		for name, n := range units {
			b, ok := buckets[name]
			if !ok || b.Rate <= 0 || n <= 0 {
				continue
			}
			y = math.Min(y, of(name).Left(b, t)*float64(total)/n)
		}
		return y
	}
	end := IdealRemaining(units, buckets, c, shared)
	var pts []Point
	for t := 0.0; t < end && t <= until; t += step {
		pts = append(pts, Point{t, at(t)})
	}
	pts = append(pts, Point{end, float64(total)})
	if until > end {
		pts = append(pts, Point{until, float64(total)})
	}
	return pts
}

// Cotenant is another caller of the buckets: from StartS to StopS
// (simulated seconds since submit; StopS 0: it never leaves) it draws Share
// of each bucket's rate, and, when there from the start, Share of its burst.
type Cotenant struct {
	Share, StartS, StopS float64
}

// present is how long, of [0, t], the co-tenant is there.
func (c Cotenant) present(t float64) float64 {
	end := t
	if c.StopS > 0 {
		end = math.Min(t, c.StopS)
	}
	return math.Max(0, end-c.StartS)
}

// Left is the capacity of b left to us by t: the burst left (all of it,
// less the co-tenant's share when it is there from the start) plus the
// integral over [0, t] of the rate left (less its share while it is there).
func (c Cotenant) Left(b Bucket, t float64) float64 {
	burst := b.Burst
	if c.StartS <= 0 {
		burst -= c.Share * b.Burst
	}
	return burst + b.Rate*t - c.Share*b.Rate*c.present(t)
}

// CoveredAt is the first time at which Left covers n units of b: the
// ideal makespan of n units on b shared with c. Left grows piecewise
// linearly (slope rate·(1−share) while the co-tenant is there, rate
// otherwise), so the answer is found on the segment where it crosses n.
func (c Cotenant) CoveredAt(n float64, b Bucket) float64 {
	if n <= c.Left(b, 0) {
		return 0
	}
	// The breaks of the slope, in order; the last segment is unbounded.
	breaks := []float64{}
	if c.Share > 0 {
		if c.StartS > 0 {
			breaks = append(breaks, c.StartS)
		}
		if c.StopS > 0 {
			breaks = append(breaks, c.StopS)
		}
	}
	t0 := 0.0
	for _, t1 := range append(breaks, math.Inf(1)) {
		left0 := c.Left(b, t0)
		slope := b.Rate
		if c.Share > 0 && t0 >= c.StartS && (c.StopS <= 0 || t0 < c.StopS) {
			slope *= 1 - c.Share
		}
		if t := t0 + (n-left0)/slope; t <= t1 {
			return t
		}
		t0 = t1
	}
	return math.Inf(1) // unreachable: the last segment is unbounded
}

// IdealRemaining is IdealMakespan with c drawing on the buckets that shared
// accepts (nil: all): the latest CoveredAt over the buckets the work draws
// on, the binding bucket deciding. Buckets with no rate do not bound it.
func IdealRemaining(units map[string]float64, buckets map[string]Bucket, c Cotenant, shared func(bucket string) bool) float64 {
	var worst float64
	for name, n := range units {
		b, ok := buckets[name]
		if !ok || b.Rate <= 0 {
			continue
		}
		cc := c
		if shared != nil && !shared(name) {
			cc = Cotenant{}
		}
		worst = math.Max(worst, cc.CoveredAt(n, b))
	}
	return worst
}
