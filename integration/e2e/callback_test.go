package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// parentWorkflow is a user's workflow in the style docs/integration.md
// shows: one Task puts LaunchRequested on the product's bus with the
// task's token as callback.taskToken and waits for the answer. heartbeat
// > 0 sets the Task's HeartbeatSeconds; catch adds a Catch that keeps the
// error (a failed request's error and cause) as the output.
func parentWorkflow(t *testing.T, bus string, req launch.Request, heartbeat, callbackHeartbeat int, catch bool) string {
	t.Helper()
	var detail map[string]any
	b, _ := json.Marshal(req)
	if err := json.Unmarshal(b, &detail); err != nil {
		t.Fatal(err)
	}
	cb := map[string]any{"taskToken.$": "$$.Task.Token"}
	if callbackHeartbeat > 0 {
		cb["heartbeatSeconds"] = callbackHeartbeat
	}
	detail["callback"] = cb
	task := map[string]any{
		"Type":     "Task",
		"Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
		"Parameters": map[string]any{"Entries": []any{map[string]any{
			"EventBusName": bus, "Source": launch.EventSource, "DetailType": launch.DetailLaunchRequested, "Detail": detail,
		}}},
		"TimeoutSeconds": 3600,
		"End":            true,
	}
	if heartbeat > 0 {
		task["HeartbeatSeconds"] = heartbeat
	}
	states := map[string]any{"Launch": task}
	if catch {
		task["Catch"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.error", "Next": "Caught"}}
		states["Caught"] = map[string]any{"Type": "Pass", "End": true}
	}
	def, _ := json.Marshal(map[string]any{"StartAt": "Launch", "States": states})
	return string(def)
}

// runParent creates the parent machine named name and runs it to its end.
func (w *world) runParent(name, definition string, timeout time.Duration) (*sfn.DescribeExecutionOutput, error) {
	w.t.Helper()
	ctx := w.t.Context()
	m, err := w.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), Definition: aws.String(definition),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/parent")})
	if err != nil {
		return nil, err
	}
	out, err := w.sfn.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Input: aws.String("{}")})
	if err != nil {
		return nil, err
	}
	var d *sfn.DescribeExecutionOutput
	eventually(w.t, timeout, name+"'s end", func() bool {
		d, err = w.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn})
		return err != nil || d.Status != "RUNNING"
	})
	return d, err
}

// launchExecution is the launch execution a parent's request started.
func (w *world) launchExecution(requestID string) *sfn.DescribeExecutionOutput {
	w.t.Helper()
	d, err := w.sfn.DescribeExecution(w.t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(w.executionARN(requestID))})
	if err != nil {
		w.t.Fatalf("the launch execution of %s: %v", requestID, err)
	}
	return d
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// TestCallbackParentWorkflow: a parent workflow waits on a task token
// (events:putEvents.waitForTaskToken, the request's callback.taskToken)
// and gets the launch's end as its own: the summary as its output (the
// launch execution's output), a failed request's error and cause in its
// Catch (the launch execution's own). A Task with HeartbeatSeconds shorter
// than the launch succeeds when the request asks for heartbeats and fails
// with States.HeartbeatTimeout when it does not — the launch itself goes
// on and succeeds, and its late answer is recorded as refused (final). A
// request refused before it runs (by submit) answers the token too.
// The Fargate bucket refills one task a second, so each launch of 100
// tasks lasts longer than the Task's 120 s heartbeat timeout (heartbeats
// every 40 s: 2 s real at the time scale of 20, slack for a loaded
// machine).
func TestCallbackParentWorkflow(t *testing.T) {
	slow := map[string]sim.Bucket{sim.BucketFargateTasks: {Burst: 10, Rate: 1}}
	w := newWorld(t, setup{sim: sim.Config{Buckets: slow}, config: func(c *configT) {
		c.LimitsJSON = `{"actions": {"ecs:FargateTasks": {"burst": 10, "rate": 1}}}`
	}})
	store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(w.aws), w.cfg.Table)
	failing := fargate("e2e-cb-failing", 60)
	failing.DeadlineSeconds = 20 // 60 tasks at one a second: LaunchIncomplete
	for _, tc := range []struct {
		name                string
		req                 launch.Request
		heartbeat, callback int // the Task's HeartbeatSeconds, callback.heartbeatSeconds
		catch               bool
		status, errName     string
	}{
		{"summary", fargate("e2e-cb-ok", 5), 0, 0, true, "SUCCEEDED", ""},
		{"failed", failing, 0, 0, true, "SUCCEEDED", launch.ErrLaunchIncomplete},
		{"heartbeats", fargate("e2e-cb-heartbeats", 100), 120, 120, false, "SUCCEEDED", ""},
		{"no heartbeats", fargate("e2e-cb-silent", 100), 120, 0, false, "FAILED", "States.HeartbeatTimeout"},
		{"refused", fargate("e2e-cb-refused", 0), 0, 0, true, "SUCCEEDED", "PermanentError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := parentWorkflow(t, w.cfg.EventBus, tc.req, tc.heartbeat, tc.callback, tc.catch)
			begin := w.now()
			d, err := w.runParent("parent-"+tc.req.RequestID, def, 120*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("parent %s %s after %.0f s (simulated)", d.Status, aws.ToString(d.Error), w.now().Sub(begin).Seconds())
			if string(d.Status) != tc.status {
				t.Fatalf("parent %s %s %s; want %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), tc.status)
			}
			if tc.name == "refused" {
				checkRefused(t, d)
				return
			}
			launched := w.wait(w.executionARN(tc.req.RequestID), 120*time.Second)
			child := w.launchExecution(tc.req.RequestID)
			t.Logf("launch %s %s, %.0f s (simulated): %.300s", child.Status, aws.ToString(child.Error), aws.ToTime(child.StopDate).Sub(aws.ToTime(child.StartDate)).Seconds(), aws.ToString(child.Cause))
			if long := aws.ToTime(child.StopDate).Sub(aws.ToTime(child.StartDate)); tc.heartbeat > 0 && long <= time.Duration(tc.heartbeat)*time.Second {
				t.Fatalf("the launch lasted %v (simulated), not longer than the Task's HeartbeatSeconds %d: the case proves nothing", long, tc.heartbeat)
			}
			checkParent(t, tc.errName, d, child)
			if tc.name == "no heartbeats" {
				checkLateAnswer(t, store, tc.req.RequestID, launched)
			}
		})
	}
}

// checkParent: the parent's output is the launch execution's — its
// summary, or (caught) its error and cause; a heartbeat timeout is the
// parent's own error.
func checkParent(t *testing.T, errName string, d, child *sfn.DescribeExecutionOutput) {
	t.Helper()
	switch errName {
	case "":
		if child.Status != "SUCCEEDED" || !sameJSON(aws.ToString(d.Output), aws.ToString(child.Output)) {
			t.Fatalf("parent output %s; want the launch execution's (%s) %s", aws.ToString(d.Output), child.Status, aws.ToString(child.Output))
		}
	case "States.HeartbeatTimeout":
		if aws.ToString(d.Error) != errName {
			t.Fatalf("parent error %s, want %s", aws.ToString(d.Error), errName)
		}
	default:
		var out struct {
			Error struct{ Error, Cause string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil || out.Error.Error != errName ||
			out.Error.Error != aws.ToString(child.Error) || out.Error.Cause != aws.ToString(child.Cause) {
			t.Fatalf("parent caught %+v; want the launch execution's %s %s", out.Error, aws.ToString(child.Error), aws.ToString(child.Cause))
		}
	}
}

// checkRefused: a request submit refuses starts no execution; its token is
// answered with the error the launch would have failed with at plan.
func checkRefused(t *testing.T, d *sfn.DescribeExecutionOutput) {
	t.Helper()
	var out struct {
		Error struct{ Error, Cause string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil || out.Error.Error != "PermanentError" || !strings.Contains(out.Error.Cause, "ecs.count") {
		t.Fatalf("parent caught %+v; want PermanentError naming ecs.count", out.Error)
	}
}

// checkLateAnswer: the launch whose caller timed out still ends as it
// would have, and its answer, refused, is recorded as final.
func checkLateAnswer(t *testing.T, store *launchstore.DynamoDB, requestID string, launched execution) {
	t.Helper()
	if launched.Status != "SUCCEEDED" {
		t.Fatalf("the launch ended %s %s: the caller's timeout must not fail it", launched.Status, launched.Error)
	}
	cb, err := store.Callback(t.Context(), requestID)
	if err != nil || cb.Answer != launchstore.AnswerFinal {
		t.Fatalf("callback state %+v (%v); want the late answer recorded as final", cb, err)
	}
}
