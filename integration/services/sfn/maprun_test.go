package sfn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/integration/services/servicestest"
)

// onlyMapRun returns the one Map Run of an execution, described.
func onlyMapRun(t *testing.T, c *awssfn.Client, execARN *string) *awssfn.DescribeMapRunOutput {
	t.Helper()
	ctx := context.Background()
	runs, err := c.ListMapRuns(ctx, &awssfn.ListMapRunsInput{ExecutionArn: execARN})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.MapRuns) != 1 {
		t.Fatalf("ListMapRuns: got %d Map Runs, want 1", len(runs.MapRuns))
	}
	d, err := c.DescribeMapRun(ctx, &awssfn.DescribeMapRunInput{MapRunArn: runs.MapRuns[0].MapRunArn})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.ExecutionArn) != aws.ToString(execARN) {
		t.Errorf("DescribeMapRun executionArn: got %s, want %s", aws.ToString(d.ExecutionArn), aws.ToString(execARN))
	}
	return d
}

func mapRunChildren(t *testing.T, c *awssfn.Client, mapRun *string) []types.ExecutionListItem {
	t.Helper()
	l, err := c.ListExecutions(context.Background(), &awssfn.ListExecutionsInput{MapRunArn: mapRun})
	if err != nil {
		t.Fatal(err)
	}
	return l.Executions
}

// Fidelity: "Step Functions Developer Guide: Using Map state in Distributed
// mode to orchestrate large-scale parallel workloads" — each item runs as a
// child workflow execution with its own execution history, separate from the
// parent's; the Map Run is served by the "DescribeMapRun" and "ListMapRuns"
// API references, and ListExecutions lists a Map Run's children.
func TestDistributedMapRunsChildExecutions(t *testing.T) {
	t.Parallel()
	st, arns := newStack(t, newWorker())
	c := st.SFNClient()
	d := run(t, c, waiter(st), arns["distributed"], `{"items":[{"value":1},{"value":2},{"value":3}]}`)
	if d.Status != types.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"count":3}` {
		t.Fatalf("got %s %s (%s)", d.Status, aws.ToString(d.Output), aws.ToString(d.Cause))
	}
	mr := onlyMapRun(t, c, d.ExecutionArn)
	if mr.Status != types.MapRunStatusSucceeded || mr.ItemCounts.Succeeded != 3 || mr.ItemCounts.Total != 3 ||
		mr.ExecutionCounts.Succeeded != 3 || mr.ExecutionCounts.Total != 3 || mr.MaxConcurrency != 400 {
		t.Errorf("DescribeMapRun: got status %s, items %+v, executions %+v, maxConcurrency %d", mr.Status, *mr.ItemCounts, *mr.ExecutionCounts, mr.MaxConcurrency)
	}
	children := mapRunChildren(t, c, mr.MapRunArn)
	if len(children) != 3 {
		t.Fatalf("ListExecutions(mapRunArn): got %d, want 3", len(children))
	}
	values := map[string]bool{}
	for _, ch := range children {
		cd, err := c.DescribeExecution(context.Background(), &awssfn.DescribeExecutionInput{ExecutionArn: ch.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		if cd.Status != types.ExecutionStatusSucceeded || aws.ToString(cd.MapRunArn) != aws.ToString(mr.MapRunArn) ||
			!strings.Contains(aws.ToString(cd.ExecutionArn), ":execution:") || aws.ToString(cd.ExecutionArn) == aws.ToString(d.ExecutionArn) {
			t.Errorf("child %s: status %s, mapRunArn %s", aws.ToString(cd.ExecutionArn), cd.Status, aws.ToString(cd.MapRunArn))
		}
		values[aws.ToString(cd.Output)] = true
		if n := historyTypes(t, c, cd.ExecutionArn)["TaskStateEntered"]; n != 1 {
			t.Errorf("child history: got %d TaskStateEntered, want 1", n)
		}
	}
	if len(values) != 3 {
		t.Errorf("child outputs: got %v, want 3 distinct", values)
	}
	parent := historyTypes(t, c, d.ExecutionArn)
	if parent["TaskStateEntered"] != 0 || parent["MapIterationStarted"] != 0 || parent["MapRunStarted"] != 1 || parent["MapRunSucceeded"] != 1 {
		t.Errorf("parent history: got %v, want the Map Run and none of the children's events", parent)
	}
}

func waiter(st *servicestest.Stack) func(context.Context, string) error {
	return func(ctx context.Context, arn string) error { _, err := st.SFN.Wait(ctx, arn); return err }
}

func historyTypes(t *testing.T, c *awssfn.Client, arn *string) map[types.HistoryEventType]int {
	t.Helper()
	count := map[types.HistoryEventType]int{}
	p := awssfn.NewGetExecutionHistoryPaginator(c, &awssfn.GetExecutionHistoryInput{ExecutionArn: arn, MaxResults: 1000})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			count[e.Type]++
		}
	}
	return count
}

func items(specs ...string) string { return "[" + strings.Join(specs, ",") + "]" }

// Fidelity: "Step Functions Developer Guide: Setting failure thresholds for
// Distributed Map states in Step Functions" — without a threshold any failed
// item fails the Map Run; ToleratedFailurePercentage(Path) and
// ToleratedFailureCount fail it once exceeded, with
// States.ExceedToleratedFailureThreshold; a failure caught inside the
// ItemProcessor is a succeeded child.
func TestDistributedMapToleratedFailures(t *testing.T) {
	t.Parallel()
	ok, bad, caught := `{"value":1}`, `{"permanent":true}`, `{"value":1,"key":"%s","failTimes":1}`
	tests := []struct {
		name, machine, input string
		wantStatus           types.ExecutionStatus
		wantRun              types.MapRunStatus
		succeeded, failed    int64
	}{
		{"no failure", "tolerant", `{"tolerated":0,"items":` + items(ok, ok, ok, ok) + `}`, "SUCCEEDED", "SUCCEEDED", 4, 0},
		{"caught in the processor", "tolerant", `{"tolerated":0,"items":` + items(ok, fmt.Sprintf(caught, "c1"), ok, ok) + `}`, "SUCCEEDED", "SUCCEEDED", 4, 0},
		{"25 percent tolerated", "tolerant", `{"tolerated":25,"items":` + items(ok, bad, ok, ok) + `}`, "SUCCEEDED", "SUCCEEDED", 3, 1},
		{"50 percent over 25", "tolerant", `{"tolerated":25,"items":` + items(ok, bad, bad, ok) + `}`, "FAILED", "FAILED", 2, 2},
		{"untolerated failure", "distributed", `{"items":` + items(ok, bad, ok) + `}`, "FAILED", "FAILED", 2, 1},
		{"count 1 tolerated", "counted", `{"items":` + items(ok, bad, ok) + `}`, "SUCCEEDED", "SUCCEEDED", 2, 1},
		{"count 2 over 1", "counted", `{"items":` + items(bad, ok, bad) + `}`, "FAILED", "FAILED", 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, arns := newStack(t, newWorker())
			c := st.SFNClient()
			d := run(t, c, waiter(st), arns[tc.machine], tc.input)
			if d.Status != tc.wantStatus {
				t.Fatalf("status: got %s (%s: %s), want %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), tc.wantStatus)
			}
			if tc.wantStatus == types.ExecutionStatusFailed && aws.ToString(d.Error) != "States.ExceedToleratedFailureThreshold" {
				t.Errorf("error: got %s, want States.ExceedToleratedFailureThreshold", aws.ToString(d.Error))
			}
			mr := waitMapRunEnd(t, c, d.ExecutionArn)
			// Past the threshold, items still running are aborted: which
			// ones depends on timing.
			ic := mr.ItemCounts
			settled := ic.Succeeded + ic.Failed + ic.Aborted
			if mr.Status != tc.wantRun || ic.Failed != tc.failed || settled != ic.Total ||
				(tc.wantRun == types.MapRunStatusSucceeded && ic.Succeeded != tc.succeeded) {
				t.Errorf("Map Run: got %s, items %+v; want %s, %d succeeded, %d failed", mr.Status, *ic, tc.wantRun, tc.succeeded, tc.failed)
			}
			if tc.wantStatus == types.ExecutionStatusSucceeded {
				checkOutputs(t, d, tc.failed)
			}
		})
	}
}

// checkOutputs: the Map's output keeps item order; a tolerated failed item
// holds its child's Error and Cause.
func checkOutputs(t *testing.T, d *awssfn.DescribeExecutionOutput, failed int64) {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
		t.Fatalf("output %s: %v", aws.ToString(d.Output), err)
	}
	var errs int64
	for _, o := range out {
		if o["Error"] == "PermanentError" {
			errs++
		} else if o["value"] != 2.0 && o["caught"] != true {
			t.Errorf("item output: got %v", o)
		}
	}
	if errs != failed {
		t.Errorf("got %d failed items in the output %s, want %d", errs, aws.ToString(d.Output), failed)
	}
}

// Fidelity: "Map Run" (Step Functions Developer Guide: Examining Map Runs)
// and the "MapRunExecutionCounts" API reference — children still running
// when the Map Run fails, or when the parent is stopped, end ABORTED.
func TestDistributedMapAbortsRunningChildren(t *testing.T) {
	t.Parallel()
	blocked, bad := `{"block":true}`, `{"permanent":true}`
	tests := []struct {
		name, input string
		stop        bool
		wantRun     types.MapRunStatus
	}{
		{"threshold exceeded", `{"tolerated":0,"items":` + items(blocked, blocked, blocked, bad) + `}`, false, types.MapRunStatusFailed},
		{"parent stopped", `{"tolerated":0,"items":` + items(blocked, blocked, blocked) + `}`, true, types.MapRunStatusAborted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorker()
			defer close(w.release)
			st, arns := newStack(t, w)
			c := st.SFNClient()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start, err := c.StartExecution(ctx, &awssfn.StartExecutionInput{StateMachineArn: aws.String(arns["tolerant"]), Input: aws.String(tc.input)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				for w.inflight.Load() < 3 && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				if _, err := c.StopExecution(ctx, &awssfn.StopExecutionInput{ExecutionArn: start.ExecutionArn}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.SFN.Wait(ctx, aws.ToString(start.ExecutionArn)); err != nil {
				t.Fatal(err)
			}
			mr := waitMapRunEnd(t, c, start.ExecutionArn)
			children := mapRunChildren(t, c, mr.MapRunArn)
			aborted := 0
			for _, ch := range children {
				if ch.Status == types.ExecutionStatusAborted {
					aborted++
				}
			}
			if mr.Status != tc.wantRun || aborted != 3 || mr.ExecutionCounts.Aborted != 3 || mr.ExecutionCounts.Running != 0 {
				t.Errorf("got Map Run %s, executions %+v, %d children ABORTED; want %s and 3 aborted", mr.Status, *mr.ExecutionCounts, aborted, tc.wantRun)
			}
		})
	}
}

// waitMapRunEnd describes the execution's Map Run once no child runs: the
// children's ends reach the service just after the parent's.
func waitMapRunEnd(t *testing.T, c *awssfn.Client, execARN *string) *awssfn.DescribeMapRunOutput {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mr := onlyMapRun(t, c, execARN)
		if (mr.ExecutionCounts.Running == 0 && mr.Status != types.MapRunStatusRunning) || time.Now().After(deadline) {
			return mr
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Fidelity: "Step Functions Developer Guide: Using Map state in Distributed
// mode" — MaxConcurrency bounds the child executions running at once, and
// DescribeMapRun reports it.
func TestDistributedMapMaxConcurrency(t *testing.T) {
	t.Parallel()
	w := newWorker()
	st, arns := newStack(t, w)
	c := st.SFNClient()
	specs := make([]string, 30)
	for i := range specs {
		specs[i] = fmt.Sprintf(`{"value":%d}`, i)
	}
	d := run(t, c, waiter(st), arns["counted"], `{"items":`+items(specs...)+`}`)
	if d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("got %s (%s)", d.Status, aws.ToString(d.Cause))
	}
	if p := w.peak.Load(); p > 10 {
		t.Errorf("peak concurrency %d over the Map's MaxConcurrency 10", p)
	}
	if mr := onlyMapRun(t, c, d.ExecutionArn); mr.MaxConcurrency != 10 || mr.ExecutionCounts.Succeeded != 30 {
		t.Errorf("DescribeMapRun: got maxConcurrency %d, executions %+v", mr.MaxConcurrency, *mr.ExecutionCounts)
	}
}
