package sfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// run starts an execution through the sfn client and waits for its end.
func run(t *testing.T, c *awssfn.Client, wait func(context.Context, string) error, machine, input string) *awssfn.DescribeExecutionOutput {
	t.Helper()
	ctx := context.Background()
	start, err := c.StartExecution(ctx, &awssfn.StartExecutionInput{StateMachineArn: aws.String(machine), Input: aws.String(input)})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := wait(wctx, aws.ToString(start.ExecutionArn)); err != nil {
		t.Fatalf("execution did not end: %v", err)
	}
	d, err := c.DescribeExecution(ctx, &awssfn.DescribeExecutionInput{ExecutionArn: start.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFlow(t *testing.T) {
	t.Parallel()
	w := newWorker()
	st, arns := newStack(t, w)
	c := st.SFNClient()
	wait := func(ctx context.Context, arn string) error { _, err := st.SFN.Wait(ctx, arn); return err }
	items := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`{"value":%d}`, i))
		}
		return strings.Join(parts, ",")
	}
	tests := []struct {
		name       string
		input      string
		wantStatus types.ExecutionStatus
		check      func(t *testing.T, out map[string]any, d *awssfn.DescribeExecutionOutput)
	}{
		{"wait on SecondsPath then map", `{"waitSeconds":30,"items":[` + items(12) + `]}`, types.ExecutionStatusSucceeded,
			func(t *testing.T, out map[string]any, _ *awssfn.DescribeExecutionOutput) {
				results := out["results"].([]any)
				for i, r := range results {
					if got := r.(map[string]any)["value"]; got != float64(2*i) {
						t.Errorf("result %d: got %v, want %d", i, got, 2*i)
					}
				}
				if len(results) != 12 {
					t.Errorf("got %d results, want 12", len(results))
				}
			}},
		{"transient error retried", `{"items":[{"value":3,"key":"t1","failTimes":1}]}`, types.ExecutionStatusSucceeded,
			func(t *testing.T, out map[string]any, _ *awssfn.DescribeExecutionOutput) {
				if got := out["results"].([]any)[0].(map[string]any)["value"]; got != 6.0 {
					t.Errorf("got %v, want 6", got)
				}
			}},
		{"429 retried by Lambda.TooManyRequestsException", `{"items":[{"value":4,"key":"th","throttleTimes":3}]}`, types.ExecutionStatusSucceeded,
			func(t *testing.T, out map[string]any, _ *awssfn.DescribeExecutionOutput) {
				if got := out["results"].([]any)[0].(map[string]any)["status"]; got != 200.0 {
					t.Errorf("StatusCode: got %v, want 200", got)
				}
			}},
		{"permanent error caught by errorType with AWS's Cause", `{"items":[{"permanent":true}]}`, types.ExecutionStatusSucceeded,
			func(t *testing.T, out map[string]any, _ *awssfn.DescribeExecutionOutput) {
				got := out["results"].([]any)[0].(map[string]any)
				cause, _ := got["cause"].(map[string]any)
				if got["error"] != "PermanentError" || cause["errorType"] != "PermanentError" || cause["errorMessage"] != "bad input" {
					t.Errorf("got %v, want error PermanentError with the Lambda error document as Cause", got)
				}
			}},
		{"retries exhausted fail the execution", `{"items":[{"value":1,"key":"t2","failTimes":9}]}`, types.ExecutionStatusFailed,
			func(t *testing.T, _ map[string]any, d *awssfn.DescribeExecutionOutput) {
				if aws.ToString(d.Error) != "TransientError" || aws.ToString(d.Cause) != `{"errorMessage":"try again (attempt 3)","errorType":"TransientError"}` {
					t.Errorf("got %q %q", aws.ToString(d.Error), aws.ToString(d.Cause))
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := run(t, c, wait, arns["flow"], tc.input)
			if d.Status != tc.wantStatus {
				t.Fatalf("status: got %s (%s: %s), want %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), tc.wantStatus)
			}
			var out map[string]any
			if d.Output != nil {
				if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
					t.Fatal(err)
				}
			}
			tc.check(t, out, d)
		})
	}
	if got := w.peak.Load(); got > 5 {
		t.Errorf("peak concurrency %d over the Map's MaxConcurrency 5", got)
	}
	if got := w.throttled.Load(); got != 3 {
		t.Errorf("got %d throttles, want the 3 injected", got)
	}
}

func TestInlineMapRunsAtMost40(t *testing.T) {
	t.Parallel()
	w := newWorker()
	st, arns := newStack(t, w)
	items := strings.TrimSuffix(strings.Repeat(`{"value":1,"block":true},`, 100), ",")
	start, err := st.SFN.StartExecution(context.Background(), arns["wide"], "", `{"items":[`+items+`]}`)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until 40 iterations are blocked, give the runner time to start
	// more if it would, then release them all.
	deadline := time.Now().Add(20 * time.Second)
	for w.inflight.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(w.release)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := st.SFN.Wait(ctx, start.ExecutionARN)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "SUCCEEDED" || d.Output != `{"count":100}` {
		t.Fatalf("got %s %s %s", d.Status, d.Output, d.Cause)
	}
	if got := w.peak.Load(); got != 40 {
		t.Fatalf("peak concurrent iterations: got %d, want exactly 40 (MaxConcurrency 400 on an INLINE Map)", got)
	}
}

func TestDataLimitExceeded(t *testing.T) {
	t.Parallel()
	w := newWorker()
	st, arns := newStack(t, w)
	c := st.SFNClient()
	wait := func(ctx context.Context, arn string) error { _, err := st.SFN.Wait(ctx, arn); return err }
	many := strings.TrimSuffix(strings.Repeat(`{"value":1,"pad":3000},`, 100), ",")
	tests := map[string]string{
		"one task output over 256 KB":       `{"items":[{"value":1,"pad":270000}]}`,
		"map output aggregated over 256 KB": `{"items":[` + many + `]}`,
		"task outputs under the limit pass": `{"items":[{"value":1,"pad":1000}]}`,
	}
	for name, input := range tests {
		t.Run(name, func(t *testing.T) {
			d := run(t, c, wait, arns["big"], input)
			want := types.ExecutionStatusFailed
			if strings.Contains(name, "under") {
				want = types.ExecutionStatusSucceeded
			}
			if d.Status != want {
				t.Fatalf("got %s (%s), want %s", d.Status, aws.ToString(d.Error), want)
			}
			if want == types.ExecutionStatusFailed && aws.ToString(d.Error) != "States.DataLimitExceeded" {
				t.Errorf("error: got %q, want States.DataLimitExceeded", aws.ToString(d.Error))
			}
		})
	}
}

func TestExecutionNames(t *testing.T) {
	t.Parallel()
	st, arns := newStack(t, newWorker())
	c := st.SFNClient()
	ctx := context.Background()
	start := func(name, input string) (*awssfn.StartExecutionOutput, error) {
		return c.StartExecution(ctx, &awssfn.StartExecutionInput{StateMachineArn: aws.String(arns["hold"]), Name: aws.String(name), Input: aws.String(input)})
	}
	first, err := start("req-1", `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	again, err := start("req-1", `{"a":1}`)
	if err != nil {
		t.Fatalf("same name and input while running: got %v, want the running execution", err)
	}
	if aws.ToString(again.ExecutionArn) != aws.ToString(first.ExecutionArn) || !again.StartDate.Equal(*first.StartDate) {
		t.Errorf("got %v, want the original response %v", again, first)
	}
	var exists *types.ExecutionAlreadyExists
	if _, err := start("req-1", `{"a":2}`); !errors.As(err, &exists) {
		t.Errorf("different input while running: got %v, want ExecutionAlreadyExists", err)
	}
	if _, err := c.StopExecution(ctx, &awssfn.StopExecutionInput{ExecutionArn: first.ExecutionArn, Error: aws.String("Test"), Cause: aws.String("stopped")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeExecution(ctx, &awssfn.DescribeExecutionInput{ExecutionArn: first.ExecutionArn})
	if err != nil || d.Status != types.ExecutionStatusAborted || aws.ToString(d.Error) != "Test" {
		t.Fatalf("after StopExecution: got %v %v, want ABORTED with error Test", d, err)
	}
	if _, err := start("req-1", `{"a":1}`); !errors.As(err, &exists) {
		t.Errorf("same name after the execution closed: got %v, want ExecutionAlreadyExists", err)
	}
	var invalid *types.InvalidName
	for _, name := range []string{strings.Repeat("n", 81), "has space", "a:b", "a/b", "a#b", ""} {
		if name == "" {
			continue // an empty name means "generate one"
		}
		if _, err := start(name, `{}`); !errors.As(err, &invalid) {
			t.Errorf("name %q: got %v, want InvalidName", name, err)
		}
	}
	if _, err := start(strings.Repeat("n", 80), `{}`); err != nil {
		t.Errorf("80-character name: %v", err)
	}
	var noMachine *types.StateMachineDoesNotExist
	if _, err := c.StartExecution(ctx, &awssfn.StartExecutionInput{StateMachineArn: aws.String(arns["hold"] + "x")}); !errors.As(err, &noMachine) {
		t.Errorf("unknown machine: got %v, want StateMachineDoesNotExist", err)
	}
	var noExec *types.ExecutionDoesNotExist
	if _, err := c.DescribeExecution(ctx, &awssfn.DescribeExecutionInput{ExecutionArn: aws.String("arn:aws:states:us-east-1:000000000000:execution:hold:nope")}); !errors.As(err, &noExec) {
		t.Errorf("unknown execution: got %v, want ExecutionDoesNotExist", err)
	}
	list, err := c.ListExecutions(ctx, &awssfn.ListExecutionsInput{StateMachineArn: aws.String(arns["hold"]), StatusFilter: types.ExecutionStatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Executions) != 1 || aws.ToString(list.Executions[0].Name) != strings.Repeat("n", 80) {
		t.Errorf("running executions: got %+v, want the 80-character one", list.Executions)
	}
}

func TestNestedStartExecutionSync(t *testing.T) {
	t.Parallel()
	st, arns := newStack(t, newWorker())
	wait := func(ctx context.Context, arn string) error { _, err := st.SFN.Wait(ctx, arn); return err }
	tests := map[string]struct{ input, want string }{
		"child succeeds": {`{"item":{"value":21}}`, `{"out":{"value":42},"status":"SUCCEEDED"}`},
		"child fails":    {`{"item":{"permanent":true}}`, "PermanentError"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := run(t, st.SFNClient(), wait, arns["parent"], tc.input)
			if d.Status != types.ExecutionStatusSucceeded {
				t.Fatalf("got %s %s", d.Status, aws.ToString(d.Cause))
			}
			out := aws.ToString(d.Output)
			if name == "child succeeds" && out != tc.want {
				t.Errorf("got %s, want %s", out, tc.want)
			}
			if name == "child fails" {
				var got struct {
					Error string
					Child struct{ Status, Error string }
				}
				_ = json.Unmarshal([]byte(out), &got)
				if got.Error != "States.TaskFailed" || got.Child.Status != "FAILED" || got.Child.Error != tc.want {
					t.Errorf("got %s, want States.TaskFailed with the child's description", out)
				}
			}
		})
	}
}

// fakeECS answers RunTask with ThrottlingException for the first throttles
// calls, then launches; it records the request bodies.
type fakeECS struct {
	mu        sync.Mutex
	throttles int
	bodies    []string
}

func (f *fakeECS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	n := len(f.bodies)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("req-%d", n))
	if n <= f.throttles {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
		return
	}
	_, _ = w.Write([]byte(`{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:000000000000:task/jobs/1"},{"taskArn":"arn:aws:ecs:us-east-1:000000000000:task/jobs/2"}],"failures":[]}`))
}

func TestECSRunTaskIntegration(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		throttles int
		want      func(t *testing.T, out string)
	}{
		"throttled once then launched": {1, func(t *testing.T, out string) {
			if want := `{"arns":["arn:aws:ecs:us-east-1:000000000000:task/jobs/1","arn:aws:ecs:us-east-1:000000000000:task/jobs/2"],"failures":[]}`; out != want {
				t.Errorf("got %s, want %s", out, want)
			}
		}},
		"throttled beyond the retries": {9, func(t *testing.T, out string) {
			var got struct{ Error, Cause string }
			_ = json.Unmarshal([]byte(out), &got)
			if got.Error != "ECS.AmazonECSException" ||
				!strings.HasPrefix(got.Cause, "Rate exceeded. (Service: AmazonECS; Status Code: 400; Error Code: ThrottlingException; Request ID: req-3") {
				t.Errorf("got %+v, want ECS.AmazonECSException with the SDK's Cause", got)
			}
		}},
	}
	// Sequential: the edge has one ECS endpoint.
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st, arns := newStack(t, newWorker())
			ecs := &fakeECS{throttles: tc.throttles}
			st.Edge.Handle("ecs", ecs)
			d := run(t, st.SFNClient(), func(ctx context.Context, arn string) error { _, err := st.SFN.Wait(ctx, arn); return err }, arns["ecs"], `{}`)
			if d.Status != types.ExecutionStatusSucceeded {
				t.Fatalf("got %s %s", d.Status, aws.ToString(d.Cause))
			}
			tc.want(t, aws.ToString(d.Output))
			var req struct {
				TaskDefinition       string `json:"taskDefinition"`
				NetworkConfiguration struct {
					AwsvpcConfiguration struct {
						Subnets []string `json:"subnets"`
					} `json:"awsvpcConfiguration"`
				} `json:"networkConfiguration"`
			}
			if err := json.Unmarshal([]byte(ecs.bodies[0]), &req); err != nil || req.TaskDefinition != "job:3" ||
				len(req.NetworkConfiguration.AwsvpcConfiguration.Subnets) != 1 {
				t.Errorf("RunTask request: got %s, want the ECS API's lowerCamel members", ecs.bodies[0])
			}
		})
	}
}

func TestHistoryCountsTransitions(t *testing.T) {
	t.Parallel()
	st, arns := newStack(t, newWorker())
	c := st.SFNClient()
	d := run(t, c, func(ctx context.Context, arn string) error { _, err := st.SFN.Wait(ctx, arn); return err },
		arns["flow"], `{"items":[{"value":1},{"value":2,"key":"h","failTimes":1}]}`)
	if d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("got %s", d.Status)
	}
	var events []types.HistoryEvent
	p := awssfn.NewGetExecutionHistoryPaginator(c, &awssfn.GetExecutionHistoryInput{ExecutionArn: d.ExecutionArn, MaxResults: 5})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, page.Events...)
	}
	count := map[types.HistoryEventType]int{}
	for _, e := range events {
		count[e.Type]++
	}
	// Route, Fanout, Done + 2 × Work: 5 states entered; 1 retry.
	entered := count["ChoiceStateEntered"] + count["MapStateEntered"] + count["SucceedStateEntered"] + count["TaskStateEntered"]
	retries := count["TaskScheduled"] - count["TaskStateEntered"]
	if entered != 5 || retries != 1 || count["ExecutionStarted"] != 1 || count["ExecutionSucceeded"] != 1 || count["MapIterationStarted"] != 2 {
		t.Errorf("got %v, want 5 states entered and 1 retry", count)
	}
	info, _ := st.SFN.Describe(aws.ToString(d.ExecutionArn))
	if info.Transitions != entered+retries {
		t.Errorf("Transitions: got %d, want %d", info.Transitions, entered+retries)
	}
	if events[0].Id != 1 || events[len(events)-1].Id != int64(len(events)) {
		t.Errorf("event ids not sequential")
	}
}
