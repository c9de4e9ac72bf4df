package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// Jobs end to end: items run with waitForCompletion, each task's exit
// judged by the retry strategy, results and the final status checked
// against the simulator's ledger of what really ran and how it ended.
// A failure names the part of the product that is missing or wrong.

// jobsRetry retries exit code 1 and Spot interruptions, and ends every
// other stop. Each entry matters: the last one ("*" matches an absent exit
// code too) would end a Spot interruption or an exit 1 if the first two did
// not come before it (the first match wins), and it replaces AWS Batch's
// "no entry matched: retry" for any other stop. The second entry's action
// is lower case: actions are case-insensitive.
func jobsRetry(attempts int) *launch.RetryStrategy {
	return &launch.RetryStrategy{Attempts: attempts, EvaluateOnExit: []launch.EvaluateOnExit{
		{OnStatusReason: "Your Spot Task*", Action: launch.ActionRetry},
		{OnExitCode: "1", Action: "retry"},
		{OnExitCode: "*", Action: launch.ActionExit},
	}}
}

// itemsRequest is a version-2 request of n items that waits for its tasks:
// item i runs `work <i>` in container worker (which gets TH_ARRAY_INDEX).
func itemsRequest(id string, n int, capacityProvider string) launch.Request {
	items := make([]launch.TaskOverride, n)
	for i := range items {
		items[i] = launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "worker", Command: []string{"work", fmt.Sprint(i)}}}}
	}
	ecs := &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: n, Items: items,
		NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}}
	if capacityProvider == "FARGATE" {
		ecs.LaunchType = "FARGATE"
	} else {
		ecs.CapacityProviderStrategy = []launch.CapacityProviderItem{{CapacityProvider: capacityProvider, Weight: 1}}
	}
	// A deadline bounds a run whose waiting never ends (30 simulated
	// minutes: 3 real minutes at 10×).
	return launch.Request{Version: launch.Version2, RequestID: id, ECS: ecs, WaitForCompletion: true, DeadlineSeconds: 1800}
}

// jobsOutput is the execution's output (or, when it failed, its cause) as
// the design's output contract has it.
type jobsOutput struct {
	RequestID    string         `json:"requestId"`
	Reasons      map[string]int `json:"reasons"`
	Status       string         `json:"status"`
	Error        string         `json:"error"`
	Counts       map[string]int `json:"counts"`
	FirstReasons []struct {
		Index  int    `json:"index"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"firstReasons"`
}

// jobRun is a finished execution: status, error, the output or cause
// decoded, and its real duration from StartExecution.
type jobRun struct {
	Status, Error, Cause, Output string
	Out                          jobsOutput
	Wall                         time.Duration
	// Start and Stop are the execution's, simulated.
	Start, Stop time.Time
}

// runJob starts req and polls it every 50 ms until it ends or timeout
// (real). poll, when set, runs between polls.
func (w *world) runJob(req launch.Request, timeout time.Duration, poll func()) jobRun {
	w.t.Helper()
	if err := req.Validate(); err != nil {
		w.t.Fatalf("the test's request is invalid: %v", err)
	}
	begin := time.Now()
	arn := w.start(req)
	for {
		d, err := w.sfn.DescribeExecution(w.t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			w.t.Fatalf("DescribeExecution: %v", err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			r := jobRun{Status: string(d.Status), Error: aws.ToString(d.Error), Cause: aws.ToString(d.Cause),
				Output: aws.ToString(d.Output), Wall: time.Since(begin), Start: aws.ToTime(d.StartDate), Stop: aws.ToTime(d.StopDate)}
			doc := r.Output
			if doc == "" {
				doc = r.Cause
			}
			_ = json.Unmarshal([]byte(doc), &r.Out) // a cause that is not JSON leaves Out empty: reported by the checks
			return r
		}
		if time.Since(begin) > timeout {
			w.t.Fatalf("execution %s still RUNNING after %v (real): %s", arn, timeout, w.stuck(req))
		}
		if poll != nil {
			poll()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stuck says why a waiting execution may not end, from the ledger.
func (w *world) stuck(req launch.Request) string {
	running, stopped := 0, 0
	for _, e := range requestTasks(w.stack.Sim, req.RequestID) {
		if e.StoppedAt == nil {
			running++
		} else {
			stopped++
		}
	}
	if n := req.Requested(); running+stopped < n {
		return fmt.Sprintf("only %d tasks of %d units were launched (%d still running): the launch stalled (see the stack's log: E2E_LOG=1)", running+stopped, n, running)
	}
	if running == 0 && stopped > 0 {
		return fmt.Sprintf("every one of the %d tasks launched has stopped, yet the execution waits: the summary does not see the stops (tracker: ECS Task State Change events → ObserveTask/DecideTask; finish: the waiting check)", stopped)
	}
	return fmt.Sprintf("%d tasks still running, %d stopped", running, stopped)
}

// timeline says, in simulated seconds since the execution started, when
// the request's last task was launched and stopped and the execution
// ended: where a long run spent its time.
func timeline(run jobRun, entries []sim.LedgerEntry) string {
	var launched, stopped time.Time
	for _, e := range entries {
		if e.LaunchedAt.After(launched) {
			launched = e.LaunchedAt
		}
		if e.StoppedAt != nil && e.StoppedAt.After(stopped) {
			stopped = *e.StoppedAt
		}
	}
	since := func(t time.Time) float64 { return t.Sub(run.Start).Seconds() }
	return fmt.Sprintf("simulated seconds from the start: last launch %.0f, last stop %.0f, execution end %.0f", since(launched), since(stopped), since(run.Stop))
}

// requestTasks are the ledger's tasks of one request, in launch order.
func requestTasks(s *sim.Sim, requestID string) []sim.LedgerEntry {
	hash := launch.RequestHash(requestID)
	var out []sim.LedgerEntry
	for _, e := range s.LedgerTasks() {
		if e.RequestHash == hash {
			out = append(out, e)
		}
	}
	return out
}

// unitLedger is the ledger by array index: the tasks that ran (a task that
// failed to start is a launch failure, relaunched within its attempt).
type unitLedger struct {
	runs map[int][]sim.LedgerEntry
	// unindexed counts tasks without TH_ARRAY_INDEX in their overrides;
	// failedToStart the tasks stopped with TaskFailedToStart.
	unindexed, failedToStart int
}

func byIndex(entries []sim.LedgerEntry) unitLedger {
	u := unitLedger{runs: map[int][]sim.LedgerEntry{}}
	for _, e := range entries {
		switch {
		case e.FailedToStart:
			u.failedToStart++
		case e.ArrayIndex == nil:
			u.unindexed++
		default:
			u.runs[*e.ArrayIndex] = append(u.runs[*e.ArrayIndex], e)
		}
	}
	return u
}

// exitOf describes how a task ended, for messages.
func exitOf(e sim.LedgerEntry) string {
	switch {
	case e.StoppedAt == nil:
		return "still running"
	case e.ExitCode != nil:
		return fmt.Sprintf("%s, exit %d", e.StopCode, *e.ExitCode)
	}
	return e.StopCode + ", no exit code"
}

// succeeded: the essential container exited 0 (not a Spot interruption).
func succeeded(e sim.LedgerEntry) bool {
	return e.StoppedAt != nil && e.StopCode != sim.StopSpotInterruption && e.ExitCode != nil && *e.ExitCode == 0
}

// retryable: jobsRetry's RETRY entries match (a Spot interruption, or the
// essential container exited 1).
func retryable(e sim.LedgerEntry) bool {
	return e.StoppedAt != nil && (e.StopCode == sim.StopSpotInterruption || e.ExitCode != nil && *e.ExitCode == 1)
}

// unitWant is what a unit's result row must say, from the ledger.
type unitWant struct {
	attempts int
	last     sim.LedgerEntry
	status   string
}

// judgeUnit checks one index's chain of attempts against the retry rule —
// attempts = 1 + retryable failures, capped at maxAttempts — and returns
// the row it implies, or why the chain is wrong.
func judgeUnit(i int, runs []sim.LedgerEntry, maxAttempts int) (unitWant, string) {
	if len(runs) == 0 {
		return unitWant{}, fmt.Sprintf("index %d never ran", i)
	}
	slices.SortFunc(runs, func(a, b sim.LedgerEntry) int { return a.LaunchedAt.Compare(b.LaunchedAt) })
	for j, e := range runs[:len(runs)-1] {
		if !retryable(e) {
			return unitWant{}, fmt.Sprintf("index %d: attempt %d ended %s (not retryable) but attempt %d was launched (%s): a retry the strategy forbids, or a duplicate",
				i, j+1, exitOf(e), j+2, runs[j+1].ID)
		}
	}
	last := runs[len(runs)-1]
	switch {
	case len(runs) > maxAttempts:
		return unitWant{}, fmt.Sprintf("index %d ran %d times, more than retryStrategy.attempts %d", i, len(runs), maxAttempts)
	case last.StoppedAt == nil:
		return unitWant{}, fmt.Sprintf("index %d: its task %s was still running when the execution ended: waitForCompletion not honoured (finish: the waiting check)", i, last.ID)
	case retryable(last) && len(runs) < maxAttempts:
		return unitWant{}, fmt.Sprintf("index %d: attempt %d ended %s (retryable, attempts left) and was not retried (tracker: retry on exit)", i, len(runs), exitOf(last))
	}
	w := unitWant{attempts: len(runs), last: last, status: launch.ResultFailed}
	if succeeded(last) {
		w.status = launch.ResultSucceeded
	}
	return w, ""
}

// reportAll fails t with at most limit of problems, saying how many there
// were.
func reportAll(t *testing.T, what string, problems []string, limit int) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	shown := problems[:min(limit, len(problems))]
	t.Errorf("%s: %d problem(s), the first %d:\n  %s", what, len(problems), len(shown), strings.Join(shown, "\n  "))
}

// ctlBins holds each test's throttlectl binary.
var ctlBins sync.Map // *testing.T → path

// throttlectl builds the shipped CLI once per test and runs it against the
// local stack with args; the exit error is returned with stderr.
func (w *world) throttlectl(args ...string) (string, error) {
	w.t.Helper()
	bin, ok := ctlBins.Load(w.t)
	if !ok {
		path := filepath.Join(w.t.TempDir(), "throttlectl")
		build := exec.CommandContext(w.t.Context(), "go", "build", "-o", path, "./cmd/throttlectl")
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			w.t.Fatalf("go build ./cmd/throttlectl: %v\n%s", err, out)
		}
		ctlBins.Store(w.t, path)
		w.t.Cleanup(func() { ctlBins.Delete(w.t) })
		bin = path
	}
	cmd := exec.CommandContext(w.t.Context(), bin.(string), args...)
	cmd.Env = append(os.Environ(), w.stack.Environ()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("throttlectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// results runs `throttlectl results --output json ID` and decodes its
// rows (JSON Lines; a JSON array is accepted too).
func (w *world) results(requestID string) ([]launch.ResultRow, error) {
	out, err := w.throttlectl("results", "--output", "json", requestID)
	if err != nil {
		return nil, fmt.Errorf("%w (finish: throttlectl results)", err)
	}
	var rows []launch.ResultRow
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("throttlectl results: output is not JSON Lines: %v\n%.500s", err, out)
		}
		var page []launch.ResultRow
		if json.Unmarshal(raw, &page) == nil {
			rows = append(rows, page...)
			continue
		}
		var r launch.ResultRow
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("throttlectl results: a line is not a result row: %v: %.300s", err, raw)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// compareResults checks result rows against the ledger on index, task ARN,
// exit code, status and attempts.
func compareResults(rows []launch.ResultRow, want map[int]unitWant, n int) []string {
	var p []string
	seen := map[int]bool{}
	for _, r := range rows {
		if seen[r.Index] {
			p = append(p, fmt.Sprintf("index %d: more than one row (without --all-attempts)", r.Index))
			continue
		}
		seen[r.Index] = true
		u, ok := want[r.Index]
		if !ok {
			continue // the ledger's own problem is reported by judgeUnit
		}
		if r.TaskARN != u.last.ID || !equalExit(r.ExitCode, u.last.ExitCode) || r.Status != u.status || r.Attempts != u.attempts {
			p = append(p, fmt.Sprintf("index %d: row {taskArn %s, exitCode %s, status %s, attempts %d}, ledger {%s, %s, %s, %d}",
				r.Index, r.TaskARN, showExit(r.ExitCode), r.Status, r.Attempts, u.last.ID, showExit(u.last.ExitCode), u.status, u.attempts))
		}
	}
	for i := range n {
		if !seen[i] {
			p = append(p, fmt.Sprintf("index %d: no row", i))
		}
	}
	return p
}

func equalExit(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func showExit(c *int) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprint(*c)
}

// wantStatus applies the tolerated-failure rule to the ledger's counts:
// the failures (failed units, and units that never ran) may not exceed
// pct % of n; LaunchIncomplete when the launch failures alone do.
func wantStatus(failed, neverRan, n int, pct float64) (status, errName string) {
	within := func(k int) bool { return float64(k)*100 <= pct*float64(n) }
	switch {
	case within(failed + neverRan):
		return launch.StatusSucceeded, ""
	case !within(neverRan):
		return launch.StatusFailed, launch.ErrLaunchIncomplete
	}
	return launch.StatusFailed, launch.ErrTasksFailed
}

// TestItemsWaitForCompletion is the "done when": 1,000 items with
// waitForCompletion on Fargate Spot at time scale 10, tasks running 60 s
// on average, 10 % exiting 1 and 5 % interrupted; a retry strategy of 3
// attempts that retries exit 1 and Spot interruptions. Judged by the
// ledger: each index's attempts follow the rule, `throttlectl results`
// equals the ledger, the execution's status follows the tolerated-failure
// rule, and the run takes at most 90 s of wall time (not asserted under
// -short).
//
// It runs alone: 1,000 child executions saturate this machine's two cores,
// so beside the rest of the suite its launch outlives the request's
// deadline and the wall time means nothing. `make test` runs it after the
// parallel suite, without the race detector, with TH_E2E_ALONE=1.
func TestItemsWaitForCompletion(t *testing.T) {
	if os.Getenv("TH_E2E_ALONE") == "" {
		t.Skip("runs alone: make test runs it after the parallel suite (TH_E2E_ALONE=1)")
	}
	const (
		n, scale, attempts = 1000, 10, 3
		// 0.3 %: 3 failed units are tolerated; about 2 are expected
		// (0.125³ of 1,000), so either status can follow.
		tolerated = 0.3
	)
	runs := sim.Runs{MeanSeconds: 60, FailureRate: 0.1, SpotInterruptionRate: 0.05}
	w := newWorld(t, setup{scale: scale, sim: sim.Config{Seed: 20, Runs: runs}})
	req := itemsRequest("e2e-items-1000", n, "FARGATE_SPOT")
	req.RetryStrategy = jobsRetry(attempts)
	pct := tolerated
	req.ToleratedFailurePercentage = &pct

	run := w.runJob(req, 5*time.Minute, nil)
	t.Logf("execution %s %s in %.1f s wall (%.0f s simulated at %g×); output %.400s%.400s",
		run.Status, run.Error, run.Wall.Seconds(), run.Wall.Seconds()*scale, float64(scale), run.Output, run.Cause)

	t.Log(timeline(run, requestTasks(w.stack.Sim, req.RequestID)))
	failed, neverRan := judgeItems(t, w, req.RequestID, n, attempts)
	if failed >= 0 {
		wantSt, wantErr := wantStatus(failed, neverRan, n, tolerated)
		if run.Status != wantSt || run.Error != wantErr {
			t.Errorf("execution %s (error %q): the ledger has %d failed and %d never-run units of %d with %g %% tolerated, so want %s (error %q) (finish: the final status)",
				run.Status, run.Error, failed, neverRan, n, tolerated, wantSt, wantErr)
		}
		checkCounts(t, run.Out, map[string]int{launch.ResultSucceeded: n - failed - neverRan, launch.ResultFailed: failed})
	} else {
		checkCounts(t, run.Out, nil)
	}

	if run.Wall > 90*time.Second {
		if testing.Short() {
			t.Logf("wall time %.1f s exceeds 90 s (not asserted under -short)", run.Wall.Seconds())
		} else {
			t.Errorf("wall time %.1f s, want ≤ 90 s", run.Wall.Seconds())
		}
	}
}

// judgeItems checks each index's attempts against the ledger and the rows
// of `throttlectl results` against both, and returns the ledger's failed
// and never-run units (-1, -1 when the ledger has no indexes).
func judgeItems(t *testing.T, w *world, requestID string, n, attempts int) (failed, neverRan int) {
	t.Helper()
	u := byIndex(requestTasks(w.stack.Sim, requestID))
	if u.unindexed > 0 {
		t.Errorf("%d ledger tasks carry no %s in their container overrides: runtask does not launch an items request with each item's overrides (launchpath: items in the launch path); the per-index checks are skipped", u.unindexed, sim.ArrayIndexEnv)
		return -1, -1
	}
	want := map[int]unitWant{}
	var chain []string
	retried := 0
	for i := range n {
		uw, problem := judgeUnit(i, u.runs[i], attempts)
		switch {
		case problem != "":
			chain = append(chain, problem)
			if len(u.runs[i]) == 0 {
				neverRan++
			}
			continue
		case uw.status == launch.ResultFailed:
			failed++
		}
		retried += uw.attempts - 1
		want[i] = uw
	}
	reportAll(t, fmt.Sprintf("attempts per index against the ledger (attempts = 1 + retryable failures, capped at %d)", attempts), chain, 8)
	t.Logf("ledger: %d units, %d retries, %d failed, %d never ran, %d tasks failed to start (relaunched)", n, retried, failed, neverRan, u.failedToStart)
	if retried == 0 {
		t.Errorf("no unit was retried: the run proves nothing about the retry strategy (tracker: retry on exit; or the simulator's Runs end no task with a retryable failure)")
	}
	rows, err := w.results(requestID)
	if err != nil {
		t.Error(err)
	} else {
		reportAll(t, "throttlectl results against the ledger (index, taskArn, exitCode, status, attempts)", compareResults(rows, want, n), 8)
	}
	return failed, neverRan
}

// checkCounts checks the output's (or cause's) per-status counts against
// want (nil: only that every status is there).
func checkCounts(t *testing.T, out jobsOutput, want map[string]int) {
	t.Helper()
	if out.Counts == nil {
		t.Errorf("the execution's output (or cause) has no counts (finish: the output contract's counts by status)")
		return
	}
	for _, k := range []string{launch.ResultSucceeded, launch.ResultFailed, launch.ResultDeadLettered, launch.ResultCancelled, launch.ResultRunning, launch.ResultPending} {
		if _, ok := out.Counts[k]; !ok {
			t.Errorf("counts %v lack %s (every status is present, zeros included)", out.Counts, k)
		}
		if want != nil && out.Counts[k] != want[k] {
			t.Errorf("counts[%s] = %d, the ledger says %d", k, out.Counts[k], want[k])
		}
	}
}

// TestQuotaQueue: the account's Fargate vCPU quota holds 8 of the
// request's 24 tasks (0.25 vCPU each) at once, tasks run 30 s. The units
// beyond the quota wait for it — their chunks show QuotaWaitSince, and
// `throttlectl status` waitingForQuota — and launch as the request's own
// tasks stop, spending no attempt: maxAttempts 2 would give a unit up
// after two quota refusals if they counted, and the ledger has each index
// launched exactly once.
func TestQuotaQueue(t *testing.T) {
	const n, quota = 24, 2
	w := newWorld(t, setup{scale: 10, sim: sim.Config{Seed: 21, Capacity: sim.Capacity{FargateVCPULimit: quota}, Runs: sim.Runs{MeanSeconds: 30}}})
	req := itemsRequest("e2e-quota", n, "FARGATE")
	req.MaxAttempts = 2
	store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(w.aws), w.cfg.Table)

	var waitSeen time.Time
	var waiting []int
	var status string
	var statusErr error
	poll := func() {
		if status != "" || statusErr != nil {
			return
		}
		chunks, _, err := store.Chunks(t.Context(), req.RequestID)
		if err != nil {
			return // not planned yet
		}
		waiting = waiting[:0]
		for _, c := range chunks {
			if !c.QuotaWaitSince.IsZero() {
				waiting = append(waiting, c.Index)
			}
		}
		if len(waiting) > 0 && waitSeen.IsZero() {
			waitSeen = w.now()
			status, statusErr = w.throttlectl("status", req.RequestID)
		}
	}
	run := w.runJob(req, 3*time.Minute, poll)
	t.Logf("execution %s %s in %.1f s wall; output %.400s%.400s", run.Status, run.Error, run.Wall.Seconds(), run.Output, run.Cause)

	entries := requestTasks(w.stack.Sim, req.RequestID)
	t.Log(timeline(run, entries))
	u := byIndex(entries)
	if u.unindexed > 0 {
		t.Errorf("%d ledger tasks carry no %s: runtask does not apply the items' overrides (launchpath: items in the launch path); the per-index check is skipped", u.unindexed, sim.ArrayIndexEnv)
	} else {
		var problems []string
		for i := range n {
			if k := len(u.runs[i]); k != 1 {
				problems = append(problems, fmt.Sprintf("index %d launched %d times, want once", i, k))
			}
		}
		reportAll(t, "each index launched once", problems, 8)
	}
	if len(entries) < n {
		t.Errorf("%d of %d units launched; the summary's reasons %v: units beyond the quota were given up, not queued (launchpath: quota as a queue)", len(entries), n, run.Out.Reasons)
	}
	if u.failedToStart > 0 {
		t.Errorf("%d tasks failed to start: the quota answers in failures[], no task should start and stop", u.failedToStart)
	}
	if waitSeen.IsZero() {
		t.Errorf("no chunk ever had QuotaWaitSince set while the execution ran: units beyond the quota did not wait for it (launchpath: quota as a queue, SetQuotaWait)")
	}
	checkQuotaStatus(t, status, statusErr, len(waiting))
	checkLaunchedAfterStops(t, entries, quota*4)
	if run.Status != launch.StatusSucceeded {
		t.Errorf("execution %s %s %.300s: want SUCCEEDED, every unit run once", run.Status, run.Error, run.Cause)
	}
	checkCounts(t, run.Out, map[string]int{launch.ResultSucceeded: n})
	if g, err := store.QuotaGate(t.Context(), req.RequestID); err == nil {
		t.Logf("quota gate: %d probes, %d stops noted", g.Probes, g.Stops)
	} else if !errors.Is(err, launchstore.ErrNotFound) {
		t.Logf("quota gate: %v", err)
	}
}

// checkQuotaStatus checks `throttlectl status` taken while chunks waited
// for quota.
func checkQuotaStatus(t *testing.T, status string, err error, waitingChunks int) {
	t.Helper()
	if waitingChunks == 0 {
		return // reported by the caller
	}
	if err != nil {
		t.Errorf("throttlectl status while %d chunks waited for quota: %v", waitingChunks, err)
		return
	}
	var st struct {
		WaitingForQuota *int `json:"waitingForQuota"`
	}
	if json.Unmarshal([]byte(status), &st) != nil || st.WaitingForQuota == nil {
		t.Errorf("throttlectl status shows no waitingForQuota while %d chunks waited for quota (finish: status): %.400s", waitingChunks, status)
		return
	}
	if *st.WaitingForQuota <= 0 {
		t.Errorf("throttlectl status: waitingForQuota %d while %d chunks waited for quota", *st.WaitingForQuota, waitingChunks)
	}
}

// checkLaunchedAfterStops: the quota holds at most concurrent tasks, so
// every launch beyond the first concurrent ones follows a stop of one of
// the request's tasks, and no more tasks ever ran at once.
func checkLaunchedAfterStops(t *testing.T, entries []sim.LedgerEntry, concurrent int) {
	t.Helper()
	type ev struct {
		at    time.Time
		delta int
	}
	var evs []ev
	for _, e := range entries {
		evs = append(evs, ev{e.LaunchedAt, +1})
		if e.StoppedAt != nil {
			evs = append(evs, ev{*e.StoppedAt, -1})
		}
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // a stop before a launch at the same time
	})
	live, peak := 0, 0
	for _, e := range evs {
		live += e.delta
		peak = max(peak, live)
	}
	if peak > concurrent {
		t.Errorf("%d of the request's tasks were live at once; the quota holds %d", peak, concurrent)
	}
	if len(entries) > concurrent && peak < concurrent {
		t.Logf("peak %d live tasks of %d allowed: the queue did not fill the quota", peak, concurrent)
	}
}
