package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// fakeSweeper counts its sweeps and reports a next timeout.
type fakeSweeper struct {
	mu    sync.Mutex
	calls int
	next  time.Duration
}

func (f *fakeSweeper) Sweep(context.Context, launch.StoredRequest) (SweepReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return SweepReport{NextTimeout: f.next}, nil
}

// jobsEnv is a waiting request of n tasks launched in one chunk, each
// recorded as unit k, with a summary handler writing to a results bucket.
type jobsEnv struct {
	*retryEnv
	arns  []string
	s3    *fakeS3
	sweep *fakeSweeper
	sh    *SummaryHandler
}

func newJobsEnv(t *testing.T, mutate func(r *launch.Request)) *jobsEnv {
	t.Helper()
	e := &jobsEnv{retryEnv: newRetryEnv(t, 0), s3: &fakeS3{}, sweep: &fakeSweeper{}}
	r := launchtest.ECSRequest("r1", 10)
	r.WaitForCompletion, r.DeadlineSeconds = true, 3600
	if mutate != nil {
		mutate(&r)
	}
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	st, _ := e.st.Chunk(context.Background(), "r1", 0)
	e.arns = st.IDs
	refs := make([]launch.TaskRef, len(st.IDs))
	for k, id := range st.IDs {
		refs[k] = launch.TaskRef{ARN: id, Index: k, Attempt: 1, LaunchedAt: t0}
	}
	if err := e.st.RecordTasks(context.Background(), "r1", refs); err != nil {
		t.Fatal(err)
	}
	e.sh = NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) {
		o.Clock, o.Bus, o.S3, o.ResultsBucket, o.Sweeper = e.clk, "product", e.s3, "results-bucket", e.sweep
	}).WithResultsTable("th-table")
	return e
}

// stop records task k stopped with exit code and its outcome.
func (e *jobsEnv) stop(t *testing.T, k, exit int, outcome string) {
	t.Helper()
	ctx := context.Background()
	o := launch.TaskObservation{ARN: e.arns[k], LastStatus: "STOPPED", ExitCode: &exit, StopCode: "EssentialContainerExited",
		StoppedReason: "Essential container in task exited", StartedAt: t0, StoppedAt: e.clk.Now()}
	if _, _, err := e.st.ObserveTask(ctx, "r1", o); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.DecideTask(ctx, "r1", e.arns[k], outcome, "test"); err != nil {
		t.Fatal(err)
	}
}

func (e *jobsEnv) check(t *testing.T) launch.Summary {
	t.Helper()
	sum, err := e.sh.Handle(context.Background(), SummaryInput{RequestID: "r1", WaitForRelaunches: true})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// A request waiting for completion is not final while a task runs: the
// check waits 5 % of the time since the first check (at least 5 s), never
// past the next attempt's timeout, and sweeps on each check; once every
// unit is final the summary says FAILED / TasksFailed for one failure,
// with the cause, the first reasons, and the results object.
func TestSummaryWaitsForCompletion(t *testing.T) {
	t.Parallel()
	e := newJobsEnv(t, nil)
	var waits []int
	for _, at := range []time.Duration{0, 100 * time.Second, 1000 * time.Second, 3000 * time.Second} {
		e.clk.Set(t0.Add(at))
		sum := e.check(t)
		if sum.Status != "" || sum.Counts[launch.ResultRunning] != 10 {
			t.Fatalf("check at %v: %+v; want not final, 10 running", at, sum)
		}
		waits = append(waits, sum.WaitSeconds)
	}
	if want := []int{5, 5, 50, 150}; fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v (5 %% of the time since the first check, at least 5 s)", waits, want)
	}
	for next, want := range map[time.Duration]int{100 * time.Second: 100, 7 * time.Second: 75} {
		e.sweep.next = next
		if sum := e.check(t); sum.WaitSeconds != want {
			t.Errorf("wait %d with an attempt timing out in %v, want %d (not past it, not below half of 150 s)", sum.WaitSeconds, next, want)
		}
	}
	if e.sweep.calls != 6 || completedEvents(e.retryEnv) != 0 {
		t.Errorf("%d sweeps, %d LaunchCompleted; want a sweep per check and nothing put", e.sweep.calls, completedEvents(e.retryEnv))
	}
	for k := range 10 {
		e.stop(t, k, 0, launch.OutcomeSucceeded)
	}
	e.stop(t, 3, 0, launch.OutcomeSucceeded) // already decided: stays
	sum := e.check(t)
	if sum.WaitSeconds != 0 || sum.Status != launch.StatusSucceeded || sum.Error != "" || sum.Cause != "" || sum.Counts[launch.ResultSucceeded] != 10 {
		t.Fatalf("final: %+v; want SUCCEEDED, 10 succeeded", sum)
	}
	want := launch.ResultsLocation{Table: "th-table", PK: "req#r1", SKPrefix: "task#", S3: "s3://results-bucket/results/r1.jsonl"}
	if sum.Results == nil || *sum.Results != want {
		t.Errorf("results %+v, want %+v", sum.Results, want)
	}
	lines := strings.Split(strings.TrimSpace(string(e.s3.puts["results-bucket/results/r1.jsonl"])), "\n")
	var row launch.ResultRow
	if len(lines) != 10 || json.Unmarshal([]byte(lines[9]), &row) != nil || row.Index != 9 || row.TaskARN != e.arns[9] || row.Status != launch.ResultSucceeded {
		t.Errorf("results object: %d lines, last %s; want 10 rows, unit 9 SUCCEEDED", len(lines), lines[len(lines)-1])
	}
}

// The final status follows the tolerance; the cause is the JSON of the
// counts and first reasons; LaunchCompleted carries the same summary.
func TestSummaryFinalStatus(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		mutate     func(r *launch.Request)
		failed     int
		status     string
		errName    string
		deadline   bool // check after the deadline with unit 9 still running
		firstIndex int
	}{
		"one failure, no tolerance":  {nil, 1, launch.StatusFailed, launch.ErrTasksFailed, false, 0},
		"within the tolerated count": {func(r *launch.Request) { r.ToleratedFailureCount = new(2) }, 2, launch.StatusSucceeded, "", false, 0},
		"beyond the tolerated count": {func(r *launch.Request) { r.ToleratedFailureCount = new(2) }, 3, launch.StatusFailed, launch.ErrTasksFailed, false, 0},
		"within the percentage":      {func(r *launch.Request) { r.ToleratedFailurePercentage = new(30.0) }, 3, launch.StatusSucceeded, "", false, 0},
		"not final at the deadline":  {nil, 0, launch.StatusFailed, launch.ErrLaunchIncomplete, true, 9},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newJobsEnv(t, tc.mutate)
			for k := range 10 {
				switch {
				case k < tc.failed:
					e.stop(t, k, 1, launch.OutcomeFailed)
				case k < 9 || !tc.deadline:
					e.stop(t, k, 0, launch.OutcomeSucceeded)
				}
			}
			if tc.deadline {
				e.clk.Advance(3601 * time.Second)
			}
			sum := e.check(t)
			if sum.WaitSeconds != 0 || sum.Status != tc.status || sum.Error != tc.errName {
				t.Fatalf("final: %+v; want %s %s", sum, tc.status, tc.errName)
			}
			checkCause(t, sum, tc.firstIndex)
			e.events.mu.Lock()
			detail := strings.TrimPrefix(e.events.entries[len(e.events.entries)-1], launch.DetailLaunchCompleted+" ")
			e.events.mu.Unlock()
			if b, _ := json.Marshal(sum); string(b) != detail {
				t.Errorf("LaunchCompleted detail differs from the output:\n%s\n%s", detail, b)
			}
		})
	}
}

func checkCause(t *testing.T, sum launch.Summary, firstIndex int) {
	t.Helper()
	if sum.Status != launch.StatusFailed {
		if sum.Cause != "" {
			t.Errorf("cause %q on success", sum.Cause)
		}
		return
	}
	var c launch.SummaryCause
	if err := json.Unmarshal([]byte(sum.Cause), &c); err != nil || c.RequestID != "r1" || fmt.Sprint(c.Counts) != fmt.Sprint(sum.Counts) {
		t.Fatalf("cause %q (%v); want the JSON of requestId, counts and first reasons", sum.Cause, err)
	}
	if len(c.FirstReasons) == 0 || c.FirstReasons[0].Index != firstIndex || c.FirstReasons[0].Reason == "" {
		t.Errorf("first reasons %+v, want unit %d first", c.FirstReasons, firstIndex)
	}
}

// A version-1 request with a unit dead-lettered now fails (it used to
// succeed whatever the chunks did); one fully launched succeeds without
// waiting for its tasks.
func TestSummaryVersion1FailsOnDeadLetter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 20), t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
	var sum launch.Summary
	for sum.Status == "" {
		var err error
		if sum, err = sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true}); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Duration(sum.WaitSeconds) * time.Second) // the start watch
	}
	if sum.Status != launch.StatusFailed || sum.Error != launch.ErrLaunchIncomplete || sum.DeadLettered != 10 || sum.Counts[launch.ResultDeadLettered] != 10 || sum.Counts[launch.ResultRunning] != 10 {
		t.Fatalf("version 1, chunk 1 never ran: %+v; want FAILED LaunchIncomplete, 10 dead-lettered, 10 running", sum)
	}
	if len(sum.FirstReasons) != 1 || sum.FirstReasons[0].Index != 10 || sum.Results.S3 != "" || sum.Results.PK != "req#r1" {
		t.Errorf("first reasons %+v, results %+v; want unit 10 alone (its chunk's units share one reason), no S3 without a bucket", sum.FirstReasons, sum.Results)
	}

	plan(t, e.st, launchtest.ECSRequest("r2", 10), t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r2", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	if sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r2"}); err != nil || sum.Status != launch.StatusSucceeded || sum.Cause != "" {
		t.Fatalf("version 1, all launched: %+v, %v; want SUCCEEDED", sum, err)
	}
}

// The output (and LaunchCompleted) stays far below Step Functions' 256 KB
// whatever the number of units: 10,000 failed units with long reasons.
func TestSummaryOutputBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := launchstore.NewMemory()
	r := launchtest.ECSRequest("big", 10000)
	r.WaitForCompletion = true
	sr := plan(t, st, r, t0)
	refs := make([]launch.TaskRef, 10000)
	for i := range refs {
		refs[i] = launch.TaskRef{ARN: fmt.Sprintf("arn:aws:ecs:us-east-1:1:task/c/%05d", i), Chunk: i / 10, Index: i, Attempt: 3, LaunchedAt: t0}
	}
	if err := st.RecordTasks(ctx, "big", refs); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("CannotPullContainerError: pull access denied ", 40)
	for i, ref := range refs {
		if _, _, err := st.ObserveTask(ctx, "big", launch.TaskObservation{ARN: ref.ARN, LastStatus: "STOPPED", ExitCode: new(i % 256), StoppedReason: long}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.DecideTask(ctx, "big", ref.ARN, launch.OutcomeFailed, long); err != nil {
			t.Fatal(err)
		}
	}
	s3 := &fakeS3{}
	sh := NewSummaryHandler(st, &fakeEvents{}, func(o *HandlerOptions) { o.S3, o.ResultsBucket = s3, "b" })
	sum, err := sh.Handle(ctx, SummaryInput{RequestID: sr.Request.RequestID})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(sum)
	t.Logf("output of 10,000 failed units: %d bytes", len(b))
	if len(b) > 8<<10 || sum.Counts[launch.ResultFailed] != 10000 || len(sum.FirstReasons) != launch.MaxFirstReasons {
		t.Errorf("output %d bytes with %d failed, %d first reasons; want ≤ 8 KB (Step Functions allows 256 KB), all failed, %d reasons",
			len(b), sum.Counts[launch.ResultFailed], len(sum.FirstReasons), launch.MaxFirstReasons)
	}
	if n := bytes.Count(s3.puts["b/results/big.jsonl"], []byte("\n")); n != 10000 {
		t.Errorf("results object has %d rows, want 10000", n)
	}
}

// A chunk waiting for quota shows its missing units as waitingForQuota;
// once it no longer waits, none.
func TestSummaryWaitingForQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 25), t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock = e.clk })
	for _, tc := range []struct {
		chunk int
		since time.Time
		want  int
	}{{2, t0, 5}, {1, t0, 15}, {2, time.Time{}, 10}, {0, t0, 10}} {
		if err := e.st.SetQuotaWait(ctx, "r1", tc.chunk, tc.since); err != nil {
			t.Fatal(err)
		}
		sum, err := sh.Summarize(ctx, "r1")
		if err != nil || sum.WaitingForQuota != tc.want {
			t.Errorf("chunk %d waits since %v: waitingForQuota %d (%v), want %d", tc.chunk, tc.since, sum.WaitingForQuota, err, tc.want)
		}
	}
}

// failingPuts is an S3 whose PutObject fails.
type failingPuts struct{ fakeS3 }

func (*failingPuts) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, errors.New("connection reset")
}

// A results object that cannot be written fails the final summary as a
// transient error (the state machine retries it): nothing is put before.
func TestSummaryResultsWriteFails(t *testing.T) {
	t.Parallel()
	e := newJobsEnv(t, nil)
	e.sh.o.S3 = &failingPuts{}
	for k := range 10 {
		e.stop(t, k, 0, launch.OutcomeSucceeded)
	}
	_, err := e.sh.Handle(context.Background(), SummaryInput{RequestID: "r1", WaitForRelaunches: true})
	if errorTypeName(err) != "TransientError" || completedEvents(e.retryEnv) != 0 {
		t.Fatalf("got %v and %d LaunchCompleted; want a TransientError, nothing put", err, completedEvents(e.retryEnv))
	}
}
