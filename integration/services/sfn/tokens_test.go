package sfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/integration/services/events"
	"github.com/throttle-handler/throttle-handler/integration/services/servicestest"
)

// callbackRig drives the callback testdata machine: each execution sends
// its token to a queue of its own, which the test reads as a worker would.
type callbackRig struct {
	st    *servicestest.Stack
	arns  map[string]string
	c     *awssfn.Client
	q     *awssqs.Client
	w     *worker
	seq   atomic.Int64
	scale float64
}

func newCallbackRig(t *testing.T) *callbackRig {
	w := newWorker()
	st, arns := newStack(t, w)
	return &callbackRig{st: st, arns: arns, c: st.SFNClient(), q: st.SQSClient(), w: w, scale: st.Clock.Factor()}
}

// sim converts simulated time to the real time the test sleeps.
func (r *callbackRig) sim(d time.Duration) time.Duration { return time.Duration(float64(d) / r.scale) }

// start starts the callback machine in mode with a new queue.
func (r *callbackRig) start(t *testing.T, mode string) (execARN, queueURL string) {
	t.Helper()
	_, queueURL = r.queue(t)
	input, _ := json.Marshal(map[string]any{"queue": queueURL, "mode": mode, "n": 7, "hb": 120, "timeout": 400})
	return r.startMachine(t, "callback", string(input)), queueURL
}

func (r *callbackRig) startMachine(t *testing.T, machine, input string) string {
	t.Helper()
	out, err := r.c.StartExecution(context.Background(), &awssfn.StartExecutionInput{StateMachineArn: aws.String(r.arns[machine]), Input: aws.String(input)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ExecutionArn)
}

type tokenMessage struct {
	Token string `json:"token"`
	Tag   string `json:"tag"`
	N     int    `json:"n"`
}

// next reads the next message the task sent.
func (r *callbackRig) next(t *testing.T, queueURL string) tokenMessage {
	t.Helper()
	var m tokenMessage
	if body := r.nextBody(t, queueURL); json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("message body %q is not the task's", body)
	}
	return m
}

func (r *callbackRig) nextBody(t *testing.T, queueURL string) string {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		out, err := r.q.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 20})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		if _, err := r.q.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Messages[0].Body)
	}
	t.Fatal("no message from the task")
	return ""
}

// queue creates a queue of the test's own.
func (r *callbackRig) queue(t *testing.T) (name, url string) {
	t.Helper()
	name = fmt.Sprintf("callback-%d-%d", time.Now().UnixNano(), r.seq.Add(1))
	q, err := r.q.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return name, aws.ToString(q.QueueUrl)
}

func (r *callbackRig) end(t *testing.T, arn string) (*awssfn.DescribeExecutionOutput, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.st.SFN.Wait(ctx, arn); err != nil {
		t.Fatalf("execution did not end: %v", err)
	}
	d, err := r.c.DescribeExecution(context.Background(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if d.Output != nil {
		if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
			t.Fatal(err)
		}
	}
	return d, out
}

func (r *callbackRig) succeed(token, output string) error {
	_, err := r.c.SendTaskSuccess(context.Background(), &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(output)})
	return err
}

func (r *callbackRig) fail(token, errName, cause string) error {
	_, err := r.c.SendTaskFailure(context.Background(), &awssfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String(errName), Cause: aws.String(cause)})
	return err
}

func (r *callbackRig) heartbeat(token string) error {
	_, err := r.c.SendTaskHeartbeat(context.Background(), &awssfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)})
	return err
}

// heartbeats sends a heartbeat every interval (simulated) until stop is
// closed or one is refused; it returns the first refusal.
func (r *callbackRig) heartbeats(token string, interval time.Duration, stop <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(r.sim(interval))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
				if err := r.heartbeat(token); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	return done
}

// timedOutEvent returns the error of the execution's TaskTimedOut event.
func (r *callbackRig) timedOutEvent(t *testing.T, arn string) string {
	t.Helper()
	h, err := r.c.GetExecutionHistory(context.Background(), &awssfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h.Events {
		if e.Type == types.HistoryEventTypeTaskTimedOut && e.TaskTimedOutEventDetails != nil {
			return aws.ToString(e.TaskTimedOutEventDetails.Error)
		}
	}
	return ""
}

func wantTimedOut(t *testing.T, what string, err error) {
	t.Helper()
	var timedOut *types.TaskTimedOut
	if !errors.As(err, &timedOut) {
		t.Errorf("%s: got %v, want TaskTimedOut", what, err)
	}
}

func caught(t *testing.T, out map[string]any) (string, string) {
	t.Helper()
	e, ok := out["error"].(map[string]any)
	if !ok {
		t.Fatalf("output %v has no caught error", out)
	}
	errName, _ := e["Error"].(string)
	cause, _ := e["Cause"].(string)
	return errName, cause
}

// Fidelity: "Step Functions Developer Guide: Wait for a Callback with Task
// Token" — a .waitForTaskToken task sends the context object's task token
// ($$.Task.Token) and pauses until SendTaskSuccess (its output is the task's
// result) or SendTaskFailure (its error and cause, as any task failure, go
// to Retry and Catch); each attempt gets a token of its own. "Step Functions
// API Reference: SendTaskSuccess" — a token whose task has been closed is
// answered TaskTimedOut ("the task associated with the token has already
// been closed").
func TestTaskTokenAnswers(t *testing.T) {
	t.Parallel()
	r := newCallbackRig(t)
	tests := []struct {
		name  string
		drive func(t *testing.T, arn string, m tokenMessage, queueURL string)
		check func(t *testing.T, d *awssfn.DescribeExecutionOutput, out map[string]any)
	}{
		{"success: the output is the task's result",
			func(t *testing.T, _ string, m tokenMessage, _ string) {
				if m.Tag != "tag:"+m.Token || m.N != 7 {
					t.Errorf("message %+v: want the token in an intrinsic function too, and n 7", m)
				}
				if err := r.succeed(m.Token, `{"ok":true,"n":7}`); err != nil {
					t.Fatal(err)
				}
				wantTimedOut(t, "second SendTaskSuccess", r.succeed(m.Token, `{}`))
				wantTimedOut(t, "SendTaskFailure after success", r.fail(m.Token, "Late", ""))
				wantTimedOut(t, "SendTaskHeartbeat after success", r.heartbeat(m.Token))
			},
			func(t *testing.T, d *awssfn.DescribeExecutionOutput, out map[string]any) {
				got, _ := json.Marshal(out["result"])
				if d.Status != types.ExecutionStatusSucceeded || string(got) != `{"answer":{"n":7,"ok":true}}` {
					t.Errorf("got %s result %s, want SUCCEEDED with the answer through ResultSelector", d.Status, got)
				}
			}},
		{"failure: Catch sees the error and cause",
			func(t *testing.T, _ string, m tokenMessage, _ string) {
				if err := r.fail(m.Token, "Refused", "because"); err != nil {
					t.Fatal(err)
				}
				wantTimedOut(t, "SendTaskSuccess after failure", r.succeed(m.Token, `{}`))
			},
			func(t *testing.T, _ *awssfn.DescribeExecutionOutput, out map[string]any) {
				if e, c := caught(t, out); e != "Refused" || c != "because" {
					t.Errorf("caught %q %q, want Refused because", e, c)
				}
			}},
		{"retry: each attempt has a token of its own",
			func(t *testing.T, _ string, m tokenMessage, queueURL string) {
				if err := r.fail(m.Token, "Retryable", "again"); err != nil {
					t.Fatal(err)
				}
				m2 := r.next(t, queueURL)
				if m2.Token == m.Token {
					t.Fatal("the retry got the first attempt's token")
				}
				wantTimedOut(t, "first attempt's token", r.succeed(m.Token, `{}`))
				if err := r.succeed(m2.Token, `"second"`); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, d *awssfn.DescribeExecutionOutput, out map[string]any) {
				if res, _ := out["result"].(map[string]any); d.Status != types.ExecutionStatusSucceeded || res["answer"] != "second" {
					t.Errorf("got %s %v, want SUCCEEDED with the second attempt's answer", d.Status, out)
				}
			}},
		{"stopped execution: its token is dead",
			func(t *testing.T, arn string, m tokenMessage, _ string) {
				if _, err := r.c.StopExecution(context.Background(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(arn)}); err != nil {
					t.Fatal(err)
				}
				wantTimedOut(t, "SendTaskSuccess after StopExecution", r.succeed(m.Token, `{}`))
			},
			func(t *testing.T, d *awssfn.DescribeExecutionOutput, _ map[string]any) {
				if d.Status != types.ExecutionStatusAborted {
					t.Errorf("got %s, want ABORTED", d.Status)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			arn, queueURL := r.start(t, "")
			m := r.next(t, queueURL)
			tc.drive(t, arn, m, queueURL)
			d, out := r.end(t, arn)
			tc.check(t, d, out)
		})
	}
}

// Fidelity: "Step Functions API Reference: SendTaskHeartbeat" — a heartbeat
// resets the HeartbeatSeconds clock but not TimeoutSeconds, the task's
// maximum duration whatever the heartbeats; "Amazon States Language: Task
// state" / "Error handling in Step Functions" — no heartbeat within
// HeartbeatSeconds fails the task with States.HeartbeatTimeout, TimeoutSeconds
// with States.Timeout.
func TestTaskTokenHeartbeats(t *testing.T) {
	t.Parallel()
	r := newCallbackRig(t)
	tests := []struct {
		name       string
		mode       string
		heartbeats bool
		// answerAfter answers SendTaskSuccess after that long (simulated); 0: never.
		answerAfter time.Duration
		wantError   string
	}{
		// HeartbeatSeconds is 120: 400 s of heartbeats every 40 s keep it alive.
		{"heartbeats keep the task alive", "", true, 400 * time.Second, ""},
		{"no heartbeat: States.HeartbeatTimeout", "", false, 0, "States.HeartbeatTimeout"},
		// TimeoutSeconds 400 ends the task whatever the heartbeats.
		{"heartbeats do not extend TimeoutSeconds", "timeout", true, 0, "States.Timeout"},
		// The same through HeartbeatSecondsPath (120) and TimeoutSecondsPath (400).
		{"HeartbeatSecondsPath: no heartbeat", "path", false, 0, "States.HeartbeatTimeout"},
		{"TimeoutSecondsPath: heartbeats do not extend it", "path", true, 0, "States.Timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			arn, queueURL := r.start(t, tc.mode)
			m := r.next(t, queueURL)
			stop := make(chan struct{})
			var refused <-chan error
			if tc.heartbeats {
				refused = r.heartbeats(m.Token, 40*time.Second, stop)
			}
			if tc.answerAfter > 0 {
				time.Sleep(r.sim(tc.answerAfter))
				close(stop)
				if err := <-refused; err != nil {
					t.Errorf("heartbeat refused: %v", err)
				}
				if err := r.succeed(m.Token, `{"alive":true}`); err != nil {
					t.Fatalf("answer after %v of heartbeats: %v", tc.answerAfter, err)
				}
			}
			d, out := r.end(t, arn)
			if tc.answerAfter == 0 {
				close(stop)
			}
			if tc.wantError == "" {
				if d.Status != types.ExecutionStatusSucceeded || out["error"] != nil {
					t.Fatalf("got %s %v, want SUCCEEDED with the answer", d.Status, out)
				}
				return
			}
			if e, _ := caught(t, out); e != tc.wantError {
				t.Errorf("caught %q, want %s", e, tc.wantError)
			}
			wantTimedOut(t, "token of a timed-out task", r.succeed(m.Token, `{}`))
			if got := r.timedOutEvent(t, arn); got != tc.wantError {
				t.Errorf("history: TaskTimedOut with error %q, want %s", got, tc.wantError)
			}
		})
	}
}

// Fidelity: "Step Functions API Reference: SendTaskSuccess" and
// "SendTaskFailure" — a token Step Functions did not issue is InvalidToken;
// output must be JSON of at most 256 KiB (InvalidOutput); taskToken is 1 to
// 2,048 characters, error at most 256 and cause at most 32,768
// (ValidationException).
func TestSendTaskErrors(t *testing.T) {
	t.Parallel()
	r := newCallbackRig(t)
	arn, queueURL := r.start(t, "")
	m := r.next(t, queueURL)
	if n := len(m.Token); n < 500 || n > 2048 {
		t.Errorf("token of %d characters, want hundreds and at most 2,048 like AWS's", n)
	}
	name := arn[strings.LastIndex(arn, ":")+1:]
	if strings.Contains(m.Token, name) {
		t.Errorf("token %q shows the execution's name", m.Token)
	}
	tampered := []byte(m.Token)
	tampered[len(tampered)/2] ^= 1
	var invalidToken *types.InvalidToken
	var invalidOutput *types.InvalidOutput
	tests := []struct {
		name string
		err  error
		want any // a *T to errors.As into, or an API error code
	}{
		{"malformed token", r.succeed("not-a-token", `{}`), &invalidToken},
		{"tampered token", r.succeed(string(tampered), `{}`), &invalidToken},
		{"tampered token heartbeat", r.heartbeat(string(tampered)), &invalidToken},
		{"token over 2,048", r.succeed(strings.Repeat("A", 2049), `{}`), "ValidationException"},
		{"output not JSON", r.succeed(m.Token, `{"a":`), &invalidOutput},
		{"output over 256 KiB", r.succeed(m.Token, `"`+strings.Repeat("x", 256*1024)+`"`), &invalidOutput},
		{"error over 256", r.fail(m.Token, strings.Repeat("e", 257), ""), "ValidationException"},
		{"cause over 32,768", r.fail(m.Token, "E", strings.Repeat("c", 32769)), "ValidationException"},
	}
	for _, tc := range tests {
		var api smithy.APIError
		if code, ok := tc.want.(string); ok {
			// SendTask* model no ValidationException: the client reports the code.
			if !errors.As(tc.err, &api) || api.ErrorCode() != code {
				t.Errorf("%s: got %v, want %s", tc.name, tc.err, code)
			}
		} else if !errors.As(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %T", tc.name, tc.err, tc.want)
		}
	}
	// None of the refused answers ended the task.
	if err := r.succeed(m.Token, `{"done":1}`); err != nil {
		t.Fatalf("answer after the refused ones: %v", err)
	}
	if d, _ := r.end(t, arn); d.Status != types.ExecutionStatusSucceeded {
		t.Errorf("got %s, want SUCCEEDED", d.Status)
	}
}

// Fidelity: "Step Functions Developer Guide: Invoke an AWS Lambda function
// with Step Functions" — with .waitForTaskToken the function is invoked
// asynchronously with the token in its payload; "Add EventBridge events with
// Step Functions" — putEvents.waitForTaskToken puts the event carrying the
// token. Either way the task's result is the SendTaskSuccess output.
func TestTaskTokenIntegrations(t *testing.T) {
	t.Parallel()
	r := newCallbackRig(t)
	tests := []struct {
		name string
		// start starts the execution and returns it and the token its task sent.
		start func(t *testing.T) (string, string)
	}{
		{"lambda:invoke.waitForTaskToken", func(t *testing.T) (string, string) {
			arn := r.startMachine(t, "callback-lambda", `{"item":{"value":1}}`)
			select {
			case token := <-r.w.tokens:
				return arn, token
			case <-time.After(15 * time.Second):
				t.Fatal("the function was not invoked with a token")
				return "", ""
			}
		}},
		{"events:putEvents.waitForTaskToken", func(t *testing.T) (string, string) {
			name, url := r.queue(t)
			pattern, _ := json.Marshal(map[string]any{"detail-type": []string{name}})
			rule := events.Rule{Name: name, Bus: events.DefaultBus, Pattern: pattern, Targets: []events.Target{{ARN: r.st.SQS.QueueARN(name)}}}
			if err := r.st.Events.AddRule(rule); err != nil {
				t.Fatal(err)
			}
			arn := r.startMachine(t, "callback-events", `{"detailType":"`+name+`"}`)
			var ev struct {
				Detail tokenMessage `json:"detail"`
			}
			if body := r.nextBody(t, url); json.Unmarshal([]byte(body), &ev) != nil || ev.Detail.Token == "" {
				t.Fatalf("event %s carries no token", body)
			}
			return arn, ev.Detail.Token
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			arn, token := tc.start(t)
			if err := r.succeed(token, `{"from":"callback"}`); err != nil {
				t.Fatal(err)
			}
			d, _ := r.end(t, arn)
			if d.Status != types.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"from":"callback"}` {
				t.Errorf("got %s %s, want SUCCEEDED with the callback's output", d.Status, aws.ToString(d.Output))
			}
		})
	}
}

// Fidelity: "Step Functions Developer Guide: Start a new AWS Step Functions
// state machine execution from a running execution" — stopping the parent
// stops the child it waits for, and "Step Functions API Reference:
// SendTaskSuccess" — the token of the child's closed task is then answered
// TaskTimedOut.
func TestTaskTokenParentStop(t *testing.T) {
	t.Parallel()
	r := newCallbackRig(t)
	def, _ := json.Marshal(map[string]any{"StartAt": "Child", "States": map[string]any{"Child": map[string]any{
		"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": true,
		"Parameters": map[string]any{"StateMachineArn": r.arns["callback"], "Input": map[string]any{"queue.$": "$.queue", "mode": "", "n": 1}},
	}}})
	parent, err := r.st.SFN.Define(context.Background(), fmt.Sprintf("callback-parent-%d", time.Now().UnixNano()), string(def))
	if err != nil {
		t.Fatal(err)
	}
	_, queueURL := r.queue(t)
	arn, err := r.c.StartExecution(context.Background(), &awssfn.StartExecutionInput{StateMachineArn: aws.String(parent), Input: aws.String(`{"queue":"` + queueURL + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	m := r.next(t, queueURL)
	if _, err := r.c.StopExecution(context.Background(), &awssfn.StopExecutionInput{ExecutionArn: arn.ExecutionArn}); err != nil {
		t.Fatal(err)
	}
	children := r.st.SFN.Executions(r.arns["callback"], "")
	if len(children) != 1 {
		t.Fatalf("got %d child executions, want 1", len(children))
	}
	if d, _ := r.end(t, children[0].ARN); d.Status != types.ExecutionStatusAborted {
		t.Errorf("child: got %s, want ABORTED", d.Status)
	}
	wantTimedOut(t, "the stopped child's token", r.succeed(m.Token, `{}`))
}
