package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// Status is a request's state: its execution, the summary counts computed
// from the table exactly as the summary function computes them, chunk
// counts by state, failure reasons, and every launched task ARN / instance
// ID.
type Status struct {
	RequestID     string `json:"requestId"`
	ExecutionName string `json:"executionName"`
	ExecutionARN  string `json:"executionArn,omitempty"`
	// Execution is the execution's status (RUNNING, SUCCEEDED, FAILED,
	// TIMED_OUT, ABORTED), or NOT_FOUND.
	Execution string `json:"execution,omitempty"`
	Error     string `json:"error,omitempty"`
	Cause     string `json:"cause,omitempty"`
	// Planned is false while the plan step has not stored the request yet.
	Planned      bool    `json:"planned"`
	Requested    int     `json:"requested"`
	Launched     int     `json:"launched"`
	Failed       int     `json:"failed"`
	DeadLettered int     `json:"deadLettered"`
	Pending      int     `json:"pending"`
	Relaunched   int     `json:"relaunched"`
	Progress     float64 `json:"progressPercent"`
	// WaitForCompletion: the request waits for its tasks to stop; Counts
	// are its units by result status (throttlectl results), every status
	// present.
	WaitForCompletion bool           `json:"waitForCompletion,omitempty"`
	Counts            map[string]int `json:"counts,omitempty"`
	// WaitingForQuota counts the units of chunks waiting for quota (no
	// attempt spent) until capacity frees or the deadline passes.
	WaitingForQuota int    `json:"waitingForQuota"`
	Chunks          Chunks `json:"chunks"`
	// Reasons: dead-lettered units by "class: code" (or "relaunch: …").
	Reasons map[string]int `json:"reasons,omitempty"`
	// Failures: RunTask failures[] / capacity reasons met on the way, by
	// reason, in calls (they may have been retried successfully).
	Failures map[string]int `json:"failures,omitempty"`
	// IDs are the launched task ARNs and instance IDs (tasks that failed
	// to start excluded).
	IDs []string `json:"ids"`
	// Limiter is what the fleet's limiter believes of the buckets this
	// request draws on: learned rate, epoch, queue, last decrease.
	Limiter []limiter.BucketStatus `json:"limiter,omitempty"`
}

// Chunks counts a request's chunks by state.
type Chunks struct {
	Total        int `json:"total"`
	Launched     int `json:"launched"`
	InProgress   int `json:"inProgress"`
	DeadLettered int `json:"deadLettered"`
	NotStarted   int `json:"notStarted"`
}

func runStatus(ctx context.Context, app *App, args []string) error {
	fs := app.flags("status")
	var n names
	n.register(fs)
	watch := fs.Bool("watch", false, "refresh until the execution ends")
	interval := fs.Duration("interval", 2*time.Second, "refresh interval with --watch")
	if err := app.parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) != 1 {
		return usagef("status: want <requestId>, got %d argument(s)", len(fs.Args()))
	}
	if *interval <= 0 {
		return usagef("status: --interval: must be > 0, got %s", *interval)
	}
	p, err := app.product(ctx, n, needTable)
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	for i := 0; ; i++ {
		st, err := p.status(ctx, id)
		if err != nil {
			return err
		}
		if i > 0 && app.Output == "table" {
			fmt.Fprintln(app.Stdout)
		}
		if err := app.printStatus(st); err != nil {
			return err
		}
		if !*watch || !st.running() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*interval):
		}
	}
}

func (s Status) running() bool {
	if s.Execution != "" && s.Execution != "NOT_FOUND" {
		return s.Execution == string(sfntypes.ExecutionStatusRunning)
	}
	return !s.Planned || s.Pending > 0
}

// status reads a request's execution (when the state machine is known) and
// its table items.
func (p *product) status(ctx context.Context, id string) (Status, error) {
	st := Status{RequestID: id, ExecutionName: submit.ExecutionName(id), IDs: []string{}}
	if p.machine != "" {
		st.ExecutionARN = submit.ExecutionARN(p.machine, st.ExecutionName)
		d, err := p.sfn().DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(st.ExecutionARN)})
		if _, ok := errors.AsType[*sfntypes.ExecutionDoesNotExist](err); ok {
			st.Execution = "NOT_FOUND"
		} else if err != nil {
			return Status{}, fmt.Errorf("status %s: DescribeExecution %s: %w", id, st.ExecutionARN, err)
		} else {
			st.Execution, st.Error, st.Cause = string(d.Status), aws.ToString(d.Error), aws.ToString(d.Cause)
		}
	}
	store := p.store()
	sum, err := handler.NewSummaryHandler(store, nil).Summarize(ctx, id)
	if errors.Is(err, launchstore.ErrNotFound) {
		if st.Execution == "" || st.Execution == "NOT_FOUND" {
			return Status{}, fmt.Errorf("request %q not found: no req#%s item in table %s%s; submit it first (throttlectl submit), or check --table, --state-machine-arn and --region",
				id, id, p.table, orMachine(p.machine, st.ExecutionName))
		}
		return st, nil // started, not planned yet (or planning refused it: see error)
	}
	if err != nil {
		return Status{}, fmt.Errorf("status %s: %w", id, err)
	}
	st.Planned = true
	st.Requested, st.Launched, st.Failed, st.DeadLettered = sum.Requested, sum.Launched, sum.Failed, sum.DeadLettered
	st.Pending, st.Relaunched, st.Reasons = sum.Pending, sum.Relaunched, sum.Reasons
	st.Counts, st.WaitingForQuota = sum.Counts, sum.WaitingForQuota
	if st.Requested > 0 {
		st.Progress = 100 * float64(st.Launched) / float64(st.Requested)
	}
	sr, err := store.Request(ctx, id)
	if err != nil {
		return Status{}, fmt.Errorf("status %s: %w", id, err)
	}
	chunks, _, err := store.Chunks(ctx, id)
	if err != nil {
		return Status{}, fmt.Errorf("status %s: %w", id, err)
	}
	st.Chunks.Total = sr.Plan.Count
	st.WaitForCompletion = sr.Request.WaitForCompletion
	st.Failures = map[string]int{}
	for _, c := range chunks {
		spec, err := sr.Request.Chunk(c.Index)
		if err != nil {
			continue
		}
		switch {
		case c.GaveUp:
			st.Chunks.DeadLettered++
		case c.Missing(spec.Size) == 0:
			st.Chunks.Launched++
		default:
			st.Chunks.InProgress++
		}
		for _, id := range c.IDs {
			if !slices.Contains(c.Stopped, id) {
				st.IDs = append(st.IDs, id)
			}
		}
		for _, a := range c.Attempts {
			for _, f := range a.Failures {
				st.Failures[f.Reason]++
			}
		}
	}
	st.Chunks.NotStarted = st.Chunks.Total - len(chunks)
	if st.Limiter, err = p.limiterStatus(ctx, sr.Request); err != nil {
		return Status{}, fmt.Errorf("status %s: %w", id, err)
	}
	sort.Strings(st.IDs)
	if len(st.Failures) == 0 {
		st.Failures = nil
	}
	return st, nil
}

// limiterStatus reads the limiter's state of the service req launches on.
func (p *product) limiterStatus(ctx context.Context, req launch.Request) ([]limiter.BucketStatus, error) {
	lim, err := p.limiter()
	if err != nil {
		return nil, err
	}
	service := handler.ServiceECS
	if req.EC2 != nil {
		service = handler.ServiceEC2
	}
	return lim.Status(ctx, service)
}

func orMachine(machine, name string) string {
	if machine == "" {
		return ""
	}
	return fmt.Sprintf(" and no execution %s of %s", name, machine)
}

// printStatus prints a status as JSON, or as a table listing at most 10
// IDs.
func (a *App) printStatus(st Status) error {
	if a.Output == "json" {
		return a.emit(st)
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("requestId", st.RequestID)
	if st.Execution != "" {
		ex := st.Execution
		if st.Error != "" {
			ex += " (" + st.Error + ": " + st.Cause + ")"
		}
		row("execution", ex+"  "+st.ExecutionARN)
	}
	if !st.Planned {
		row("plan", "not stored yet")
		return tw.Flush()
	}
	row("progress", fmt.Sprintf("%d/%d launched (%.1f %%)", st.Launched, st.Requested, st.Progress))
	row("pending", fmt.Sprint(st.Pending))
	row("dead-lettered", fmt.Sprint(st.DeadLettered))
	if st.WaitingForQuota > 0 {
		row("waiting for quota", fmt.Sprint(st.WaitingForQuota))
	}
	if st.WaitForCompletion {
		row("units", countsRow(st.Counts))
	}
	row("relaunched", fmt.Sprint(st.Relaunched))
	c := st.Chunks
	row("chunks", fmt.Sprintf("%d: %d launched, %d in progress, %d dead-lettered, %d not started", c.Total, c.Launched, c.InProgress, c.DeadLettered, c.NotStarted))
	for _, k := range slices.Sorted(maps.Keys(st.Reasons)) {
		row("reason", fmt.Sprintf("%s ×%d", k, st.Reasons[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(st.Failures)) {
		row("failure", fmt.Sprintf("%s ×%d calls", k, st.Failures[k]))
	}
	for _, b := range st.Limiter {
		row("limiter", limiterRow(b))
	}
	const show = 10
	for i, id := range st.IDs {
		if i == show {
			row("", fmt.Sprintf("… %d more (--output json lists them all)", len(st.IDs)-show))
			break
		}
		row(map[bool]string{true: "ids", false: ""}[i == 0], id)
	}
	return tw.Flush()
}

// countsRow is the units by status, final ones first, zeros left out.
func countsRow(counts map[string]int) string {
	var parts []string
	for _, s := range launch.ResultStatuses {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(parts) == 0 {
		return "none yet"
	}
	return strings.Join(parts, ", ")
}

// limiterRow is one bucket's line: learned of configured rate, epoch,
// queue, last decrease and the queue per lane.
func limiterRow(b limiter.BucketStatus) string {
	line := fmt.Sprintf("%s: %.3g of %.3g per s, epoch %d, queue %.0f (%.1f s ahead), %.0f throttled",
		b.Bucket, b.Rate, b.ConfiguredRate, b.Epoch, b.Queued, b.QueueSeconds, b.Throttled)
	if b.LastSignal != "" {
		line += fmt.Sprintf("; last decrease %s at %s", b.LastSignal, b.LastDecrease.UTC().Format(time.RFC3339))
	}
	if len(b.Lanes) > 0 {
		parts := make([]string, len(b.Lanes))
		for i, l := range b.Lanes {
			parts[i] = fmt.Sprintf("%s ≤%.0f (%.1f s ahead)", l.Lane, l.Queued, l.QueueSeconds)
		}
		line += "; lanes " + strings.Join(parts, ", ")
	}
	return line
}
