package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// A workflow of the user's own calls the launch machine with
// startExecution.sync:2: examples/parent/parent.asl.json, the definition
// docs/integration.md shows, run as it is in the local Step Functions.

// parentMachine creates the example parent machine on the local stack.
func (w *world) parentMachine() string {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "examples", "parent", "parent.asl.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	def := strings.ReplaceAll(string(b), "${LaunchStateMachineArn}", w.machine)
	out, err := w.sfn.CreateStateMachine(w.t.Context(), &sfn.CreateStateMachineInput{Name: aws.String("parent"),
		Definition: aws.String(def), RoleArn: aws.String("arn:aws:iam::000000000000:role/parent")})
	if err != nil {
		w.t.Fatalf("CreateStateMachine parent: %v", err)
	}
	return aws.ToString(out.StateMachineArn)
}

// startParent starts the parent machine with {"request": req}.
func (w *world) startParent(machine, name string, req launch.Request) string {
	w.t.Helper()
	b, err := json.Marshal(map[string]any{"request": req})
	if err != nil {
		w.t.Fatal(err)
	}
	out, err := w.sfn.StartExecution(w.t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(string(b))})
	if err != nil {
		w.t.Fatalf("StartExecution %s: %v", name, err)
	}
	return aws.ToString(out.ExecutionArn)
}

// ended polls an execution until it is no longer RUNNING (real timeout).
// It is safe for concurrent use (t.Fatal only from the test's goroutine:
// errors come back).
func (w *world) ended(arn string, timeout time.Duration) (*sfn.DescribeExecutionOutput, error) {
	deadline := time.Now().Add(timeout)
	for {
		d, err := w.sfn.DescribeExecution(w.t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, err
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			return d, nil
		}
		if time.Now().After(deadline) {
			return d, errors.New(arn + " still RUNNING after " + timeout.String() + " (real)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// launchesOf lists the launch machine's executions whose input is the
// request requestID, described.
func (w *world) launchesOf(requestID string) []*sfn.DescribeExecutionOutput {
	w.t.Helper()
	var out []*sfn.DescribeExecutionOutput
	p := sfn.NewListExecutionsPaginator(w.sfn, &sfn.ListExecutionsInput{StateMachineArn: aws.String(w.machine)})
	for p.HasMorePages() {
		page, err := p.NextPage(w.t.Context())
		if err != nil {
			w.t.Fatalf("ListExecutions: %v", err)
		}
		for _, e := range page.Executions {
			d, err := w.sfn.DescribeExecution(w.t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
			if err != nil {
				w.t.Fatalf("DescribeExecution: %v", err)
			}
			var in struct {
				RequestID string `json:"requestId"`
			}
			if json.Unmarshal([]byte(aws.ToString(d.Input)), &in) == nil && in.RequestID == requestID {
				out = append(out, d)
			}
		}
	}
	return out
}

// waitPlanned waits (real timeout) until the request is stored: its
// execution has claimed the request id and planned it.
func (w *world) waitPlanned(requestID string, timeout time.Duration) {
	w.t.Helper()
	store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(w.aws), w.cfg.Table)
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if _, err := store.Request(w.t.Context(), requestID); err == nil {
			return
		} else if !errors.Is(err, launchstore.ErrNotFound) {
			w.t.Fatalf("request %s: %v", requestID, err)
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("request %s not planned after %v (real)", requestID, timeout)
		}
	}
}

// parentOutput is the example parent's output on success.
type parentOutput struct {
	Launch struct {
		Summary      json.RawMessage `json:"summary"`
		ExecutionARN string          `json:"executionArn"`
	} `json:"launch"`
}

// TestSyncParent runs the example parent workflow against the launch
// machine on the local AWS: a request that succeeds (the parent's output
// holds the summary as JSON), one failing beyond its tolerance (the
// parent fails with the launch's error and cause, read with
// States.StringToJson), one stopped by its parent (the launch execution is
// stopped too), and one request id started by two parents at once (one
// launch runs it, the other fails at Plan with RequestAlreadyRunning,
// which its parent sees); then a parent started again for the request
// that succeeded, after its launch ended, gets the same summary.
//
// Every task exits 1 after ~10 s: the succeeding request only launches
// (a launched unit is its success), the others wait for their tasks.
func TestSyncParent(t *testing.T) {
	w := newWorld(t, setup{scale: 20, sim: sim.Config{Seed: 23, Runs: sim.Runs{FailureRate: 1}}})
	parent := w.parentMachine()

	ok := fargate("sync-ok", 20)
	failing := itemsRequest("sync-fail", 4, "FARGATE")
	failing.RetryStrategy = &launch.RetryStrategy{Attempts: 1}
	failing.ToleratedFailureCount = new(1)
	stopped := itemsRequest("sync-stop", 4, "FARGATE")
	stopped.RetryStrategy = &launch.RetryStrategy{Attempts: 10}
	for _, r := range []launch.Request{ok, failing, stopped} {
		if err := r.Validate(); err != nil {
			t.Fatalf("the test's request %s is invalid: %v", r.RequestID, err)
		}
	}

	first := w.startParent(parent, "ok-first", ok)
	fail := w.startParent(parent, "fail", failing)
	stop := w.startParent(parent, "stop", stopped)
	w.waitPlanned(ok.RequestID, 20*time.Second)
	second := w.startParent(parent, "ok-second", ok)

	var wg sync.WaitGroup
	results := map[string]*sfn.DescribeExecutionOutput{}
	errs := map[string]error{}
	var mu sync.Mutex
	for _, arn := range []string{first, second, fail} {
		wg.Go(func() {
			d, err := w.ended(arn, 90*time.Second)
			mu.Lock()
			results[arn], errs[arn] = d, err
			mu.Unlock()
		})
	}
	w.checkStopped(parent, stop, stopped.RequestID)
	wg.Wait()
	for arn, err := range errs {
		if err != nil {
			t.Fatalf("parent %s: %v", arn, err)
		}
	}
	w.checkSucceeded(results[first], ok)
	w.checkSecondRefused(results[second], ok.RequestID)
	w.checkFailedBeyondTolerance(results[fail], failing.RequestID)
	w.checkRunAgain(parent, ok)
}

// checkRunAgain: a parent started again for a request whose launch has
// ended takes the request id over and gets the same summary; nothing is
// launched anew.
func (w *world) checkRunAgain(parent string, req launch.Request) {
	t := w.t
	t.Helper()
	d, err := w.ended(w.startParent(parent, "ok-again", req), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("parent run again for %s: %s %s %s, want SUCCEEDED", req.RequestID, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	var out parentOutput
	var sum launch.Summary
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil || json.Unmarshal(out.Launch.Summary, &sum) != nil {
		t.Fatalf("parent output %s: %v", aws.ToString(d.Output), err)
	}
	if sum.Launched != 20 || sum.Status != launch.StatusSucceeded {
		t.Errorf("summary run again: %+v, want the same 20 launched", sum)
	}
	if c := counts(req, w.ledger(req.RequestID)); c.Unique != 20 || c.Duplicates != 0 {
		t.Errorf("ledger after running again: %+v, want the same 20 tasks, none launched anew", c)
	}
}

// checkSucceeded: the parent's output holds the launch's summary as JSON
// (an object, not a string), and one launch ran the request: every task
// launched once.
func (w *world) checkSucceeded(d *sfn.DescribeExecutionOutput, req launch.Request) {
	t := w.t
	t.Helper()
	if d.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("parent of %s: %s %s %s, want SUCCEEDED", req.RequestID, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
	}
	var out parentOutput
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
		t.Fatalf("parent output %s: %v", aws.ToString(d.Output), err)
	}
	var sum launch.Summary
	if err := json.Unmarshal(out.Launch.Summary, &sum); err != nil {
		t.Fatalf("launch.summary %s: not the summary as JSON: %v", out.Launch.Summary, err)
	}
	if sum.RequestID != req.RequestID || sum.Requested != 20 || sum.Launched != 20 || sum.Status != launch.StatusSucceeded {
		t.Errorf("summary in the parent's output: %+v, want 20 of 20 launched, SUCCEEDED", sum)
	}
	c := counts(req, w.ledger(req.RequestID))
	if c.Unique != 20 || c.Duplicates != 0 {
		t.Errorf("ledger %+v: want 20 tasks launched once", c)
	}
	launches := w.launchesOf(req.RequestID)
	ran := 0
	for _, l := range launches {
		if l.Status == sfntypes.ExecutionStatusSucceeded {
			ran++
			if aws.ToString(l.ExecutionArn) != out.Launch.ExecutionARN {
				t.Errorf("the launch that ran is %s, the parent names %s", aws.ToString(l.ExecutionArn), out.Launch.ExecutionARN)
			}
		} else if aws.ToString(l.Error) != handler.ErrRequestAlreadyRunning {
			t.Errorf("launch %s of %s: %s %s, want SUCCEEDED or refused", aws.ToString(l.ExecutionArn), req.RequestID, l.Status, aws.ToString(l.Error))
		}
	}
	if ran != 1 || len(launches) != 2 {
		t.Errorf("%d launch executions of %s, %d succeeded: want 2, one running the request", len(launches), req.RequestID, ran)
	}
}

// checkSecondRefused: the second parent fails with the launch's own error,
// RequestAlreadyRunning, whose cause names the request and the execution
// that runs it.
func (w *world) checkSecondRefused(d *sfn.DescribeExecutionOutput, requestID string) {
	t := w.t
	t.Helper()
	cause := aws.ToString(d.Cause)
	if d.Status != sfntypes.ExecutionStatusFailed || aws.ToString(d.Error) != handler.ErrRequestAlreadyRunning {
		t.Fatalf("second parent of %s: %s %s %s, want FAILED %s", requestID, d.Status, aws.ToString(d.Error), cause, handler.ErrRequestAlreadyRunning)
	}
	var holder string
	for _, l := range w.launchesOf(requestID) {
		if l.Status != sfntypes.ExecutionStatusFailed {
			holder = aws.ToString(l.ExecutionArn)
		}
	}
	if holder == "" || !strings.Contains(cause, holder) || !strings.Contains(cause, requestID) {
		t.Errorf("cause %q: want it to name %s and the execution running it (%s)", cause, requestID, holder)
	}
}

// checkFailedBeyondTolerance: 4 items, all failing, 1 tolerated: the
// parent fails with TasksFailed and the launch's cause (the counts).
func (w *world) checkFailedBeyondTolerance(d *sfn.DescribeExecutionOutput, requestID string) {
	t := w.t
	t.Helper()
	if d.Status != sfntypes.ExecutionStatusFailed || aws.ToString(d.Error) != launch.ErrTasksFailed {
		t.Fatalf("parent of %s: %s %s %s, want FAILED %s", requestID, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), launch.ErrTasksFailed)
	}
	var cause launch.SummaryCause
	if err := json.Unmarshal([]byte(aws.ToString(d.Cause)), &cause); err != nil {
		t.Fatalf("parent's cause %q: not the launch's cause: %v", aws.ToString(d.Cause), err)
	}
	if cause.RequestID != requestID || cause.Counts[launch.StatusFailed] != 4 {
		t.Errorf("cause %+v: want the 4 failed tasks of %s", cause, requestID)
	}
}

// checkStopped stops the parent once its launch runs: the parent and the
// launch end ABORTED.
func (w *world) checkStopped(parent, stop, requestID string) {
	t := w.t
	t.Helper()
	w.waitPlanned(requestID, 20*time.Second)
	if _, err := w.sfn.StopExecution(t.Context(), &sfn.StopExecutionInput{ExecutionArn: aws.String(stop), Error: aws.String("Test"), Cause: aws.String("stopped by the test")}); err != nil {
		t.Fatalf("StopExecution parent: %v", err)
	}
	p, err := w.ended(stop, 10*time.Second)
	if err != nil || p.Status != sfntypes.ExecutionStatusAborted {
		t.Fatalf("stopped parent: %v %v, want ABORTED", p, err)
	}
	launches := w.launchesOf(requestID)
	if len(launches) != 1 {
		t.Fatalf("%d launch executions of %s, want 1", len(launches), requestID)
	}
	child, err := w.ended(aws.ToString(launches[0].ExecutionArn), 10*time.Second)
	if err != nil || child.Status != sfntypes.ExecutionStatusAborted {
		t.Errorf("launch of the stopped parent: %v %v, want ABORTED", child, err)
	}
}
