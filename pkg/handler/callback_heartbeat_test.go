package handler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// hbEnv is a relaunch queue consumer with a callback, on a memory store.
type hbEnv struct {
	st    launchstore.Store
	clk   *clock.Fake
	api   *fakeSFN
	queue *fakeQueue
	rl    *Relaunch
	cb    *Callback
}

func newHBEnv(t *testing.T) *hbEnv {
	t.Helper()
	st, _ := newTestStore(t)
	e := &hbEnv{st: st, clk: clock.NewFake(t0), api: &fakeSFN{}, queue: &fakeQueue{}}
	e.cb = NewCallback(st, e.api, Options{Clock: e.clk}).WithQueue(e.queue, "http://127.0.0.1/relaunch")
	e.rl = NewRelaunch(st, &fakeLimiter{}, &fakeECS{}, &fakeEvents{}, e.queue, func(o *RelaunchOptions) {
		o.Clock, o.RelaunchQueueURL, o.Callback = e.clk, "http://127.0.0.1/relaunch", e.cb
	})
	return e
}

// deliver hands the relaunch consumer one heartbeat message and returns
// the record's action (failed: redelivered).
func (e *hbEnv) deliver(t *testing.T, id string, seq int, messageID string) (string, bool) {
	t.Helper()
	var m hbMessage
	m.Heartbeat.RequestID, m.Heartbeat.Seq = id, seq
	b, _ := json.Marshal(m)
	var action string
	out, err := e.rl.queueRecord(context.Background(), SQSRecord{MessageID: messageID, EventSource: "aws:sqs", Body: string(b)})
	action = strings.TrimPrefix(out.Action, "heartbeat ")
	return action, err != nil
}

// next is the last queued heartbeat (its seq and delay).
func (e *hbEnv) next(t *testing.T) (int, int32, int) {
	t.Helper()
	msgs := e.queue.sent()
	if len(msgs) == 0 {
		return -1, 0, 0
	}
	m, ok := parseHeartbeat(aws.ToString(msgs[len(msgs)-1].MessageBody))
	if !ok {
		t.Fatalf("not a heartbeat: %s", aws.ToString(msgs[len(msgs)-1].MessageBody))
	}
	return m.Heartbeat.Seq, msgs[len(msgs)-1].DelaySeconds, len(msgs)
}

// TestHeartbeatChain: each message sends one heartbeat and queues the
// next a third of heartbeatSeconds later; a duplicate message (another id
// for a seq already claimed) sends nothing and queues nothing, so the
// chain never forks; the same message redelivered (its follow-up may have
// been lost) goes through again.
func TestHeartbeatChain(t *testing.T) {
	t.Parallel()
	e := newHBEnv(t)
	plan(t, e.st, callbackRequest("r1", 90), t0)
	steps := []struct {
		seq        int
		msg, want  string
		heartbeats int
	}{
		{0, "m0", HeartbeatSent, 1},
		{0, "dup0", HeartbeatDuplicate, 1},
		{0, "m0", HeartbeatSent, 2}, // redelivered
		{1, "m1", HeartbeatSent, 3},
		{1, "m1b", HeartbeatDuplicate, 3},
		{0, "m0", HeartbeatDuplicate, 3}, // the chain moved on
		{2, "m2", HeartbeatSent, 4},
	}
	queued := 0
	for i, s := range steps {
		action, failed := e.deliver(t, "r1", s.seq, s.msg)
		if failed || action != s.want || len(e.api.got()) != s.heartbeats {
			t.Fatalf("step %d (seq %d, %s): %s (failed %v), %d heartbeats; want %s, %d", i, s.seq, s.msg, action, failed, len(e.api.got()), s.want, s.heartbeats)
		}
		seq, delay, n := e.next(t)
		if s.want == HeartbeatSent {
			queued++
			if seq != s.seq+1 || delay != 30 || n != queued {
				t.Fatalf("step %d: queued seq %d after %d s (%d queued); want seq %d after 30 s", i, seq, delay, n, s.seq+1)
			}
		} else if n != queued {
			t.Fatalf("step %d: a %s queued a heartbeat", i, action)
		}
	}
	for _, c := range e.api.got() {
		if c.Kind != "heartbeat" || c.Token != testToken+"r1" {
			t.Fatalf("call %+v; want heartbeats with the request's token", c)
		}
	}
}

// TestHeartbeatStops: the chain ends — no heartbeat, nothing queued —
// when the request is closed (its final summary, throttlectl cancel), its
// token answered, past its deadline and HeartbeatGrace, or when it asked
// for no heartbeats; a refused token (final) ends it and is recorded; an
// error a retry may fix sends the next one sooner.
func TestHeartbeatStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		heartbeat int
		before    func(e *hbEnv)
		answer    error
		want      string
		delay     int32 // of the next heartbeat; 0: none queued
		recorded  string
	}{
		"closed": {heartbeat: 60, want: HeartbeatStopped, before: func(e *hbEnv) {
			_, _ = e.st.(launchstore.Closer).CloseRequest(ctx, "r1", launchstore.ClosedCancelled, t0)
		}},
		"answered": {heartbeat: 60, want: HeartbeatStopped, recorded: launchstore.AnswerSuccess, before: func(e *hbEnv) {
			_, _ = e.st.(launchstore.Callbacks).RecordAnswer(ctx, "r1", launchstore.AnswerSuccess, "", t0)
		}},
		"past the deadline": {heartbeat: 60, want: HeartbeatStopped, before: func(e *hbEnv) {
			e.clk.Advance(600*time.Second + HeartbeatGrace + time.Second)
		}},
		"none asked":       {heartbeat: 0, want: HeartbeatStopped},
		"TaskTimedOut":     {heartbeat: 60, want: HeartbeatStopped, answer: &sfntypes.TaskTimedOut{Message: aws.String("heartbeat timed out")}, recorded: launchstore.AnswerFinal},
		"TaskDoesNotExist": {heartbeat: 60, want: HeartbeatStopped, answer: &sfntypes.TaskDoesNotExist{Message: aws.String("gone")}, recorded: launchstore.AnswerFinal},
		"InvalidToken":     {heartbeat: 60, want: HeartbeatStopped, answer: &sfntypes.InvalidToken{Message: aws.String("bad")}, recorded: launchstore.AnswerFinal},
		"throttled":        {heartbeat: 60, want: HeartbeatSent, answer: &smithy.GenericAPIError{Code: "ThrottlingException"}, delay: 5},
		"within the grace": {heartbeat: 60, want: HeartbeatSent, delay: 20, before: func(e *hbEnv) {
			e.clk.Advance(600*time.Second + HeartbeatGrace - time.Second)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newHBEnv(t)
			e.api.answer = func(string, int) error { return tc.answer }
			plan(t, e.st, callbackRequest("r1", tc.heartbeat), t0)
			if tc.before != nil {
				tc.before(e)
			}
			action, failed := e.deliver(t, "r1", 0, "m0")
			if failed || action != tc.want {
				t.Fatalf("got %s (failed %v), want %s", action, failed, tc.want)
			}
			if _, delay, n := e.next(t); delay != tc.delay || (n > 0) != (tc.delay > 0) {
				t.Fatalf("queued %d after %d s; want one after %d s (0: none)", n, delay, tc.delay)
			}
			sent := len(e.api.got())
			if stopped := tc.want == HeartbeatStopped && tc.answer == nil; stopped != (sent == 0) {
				t.Fatalf("%d heartbeats sent; a chain that ends before its heartbeat sends none", sent)
			}
			if cb, _ := e.st.(launchstore.Callbacks).Callback(ctx, "r1"); cb.Answer != tc.recorded {
				t.Fatalf("answer %+v, want %q", cb, tc.recorded)
			}
		})
	}
}

// TestHeartbeatQueueFailure: a follow-up that cannot be queued fails the
// record (redelivered), and its redelivery — the same message — goes
// through; a message of an unknown request ends quietly; a heartbeat on a
// consumer without a callback is ignored, not redelivered forever.
func TestHeartbeatQueueFailure(t *testing.T) {
	t.Parallel()
	e := newHBEnv(t)
	plan(t, e.st, callbackRequest("r1", 60), t0)
	e.queue.err = errors.New("sqs down")
	if _, failed := e.deliver(t, "r1", 0, "m0"); !failed {
		t.Fatal("a lost follow-up did not fail the record")
	}
	e.queue.err = nil
	if action, failed := e.deliver(t, "r1", 0, "m0"); failed || action != HeartbeatSent {
		t.Fatalf("redelivery: %s (failed %v), want sent", action, failed)
	}
	if action, failed := e.deliver(t, "nope", 0, "m9"); failed || action != HeartbeatStopped {
		t.Fatalf("unknown request: %s (failed %v), want stopped", action, failed)
	}
	bare := NewRelaunch(e.st, &fakeLimiter{}, &fakeECS{}, &fakeEvents{}, e.queue)
	out, err := bare.queueRecord(context.Background(), SQSRecord{MessageID: "x", EventSource: "aws:sqs", Body: `{"callbackHeartbeat":{"requestId":"r1","seq":1}}`})
	if err != nil || out.Action != EventIgnored {
		t.Fatalf("no callback: %+v, %v; want ignored", out, err)
	}
}

// TestPlanCallback: plan starts the heartbeat chain of a request that asks
// for heartbeats (heartbeat 0, at once; none without); a request refused
// for good gets its own token answered with plan's error and cause as the
// execution reports them (an invalid request, a requestId used by another
// request — the second sender's token, not the first's); a stack without
// the queue refuses heartbeats rather than let the caller time out.
func TestPlanCallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newHBEnv(t)
	p := NewPlanHandler(e.st, func(o *HandlerOptions) { o.Clock, o.Callback = e.clk, e.cb })
	body := func(r launch.Request) json.RawMessage { b, _ := json.Marshal(r); return b }
	if _, err := p.Handle(ctx, body(callbackRequest("hb", 60))); err != nil {
		t.Fatal(err)
	}
	if seq, delay, n := e.next(t); n != 1 || seq != 0 || delay != 0 {
		t.Fatalf("queued %d, seq %d after %d s; want heartbeat 0 at once", n, seq, delay)
	}
	if _, err := p.Handle(ctx, body(callbackRequest("quiet", 0))); err != nil || len(e.queue.sent()) != 1 {
		t.Fatalf("no heartbeats asked: %v, %d queued", err, len(e.queue.sent()))
	}
	bad := `{"requestId":"bad","ecs":{"cluster":"c","taskDefinition":"td","count":0},"callback":{"taskToken":"tok-bad"}}`
	other := callbackRequest("quiet", 0)
	other.Callback.TaskToken = "tok-second"
	for name, tc := range map[string]struct {
		raw        json.RawMessage
		token      string
		causeNames string
	}{
		"invalid":            {json.RawMessage(bad), "tok-bad", "ecs.count"},
		"invalid, envelope":  {json.RawMessage(`{"detail-type":"LaunchRequested","detail":` + bad + `}`), "tok-bad", "ecs.count"},
		"requestId conflict": {body(other), "tok-second", "requestId"},
	} {
		before := len(e.api.got())
		_, err := p.Handle(ctx, tc.raw)
		if _, ok := errors.AsType[*failure.PermanentError](err); !ok {
			t.Fatalf("%s: %v, want a PermanentError", name, err)
		}
		calls := e.api.got()[before:]
		wantName, wantCause := launch.FunctionError(err)
		if len(calls) != 1 || calls[0].Kind != "failure" || calls[0].Token != tc.token || calls[0].Error != "PermanentError" ||
			calls[0].Error != wantName || calls[0].Cause != wantCause || !strings.Contains(calls[0].Cause, tc.causeNames) {
			t.Fatalf("%s: calls %+v; want one failure to %s with PermanentError and the cause %s", name, calls, tc.token, wantCause)
		}
	}
	noQueue := NewPlanHandler(e.st, func(o *HandlerOptions) { o.Clock, o.Callback = e.clk, NewCallback(e.st, e.api, Options{}) })
	if _, err := noQueue.Handle(ctx, body(callbackRequest("hb2", 60))); err == nil || !strings.Contains(err.Error(), "callback.heartbeatSeconds") {
		t.Fatalf("heartbeats without a queue: %v, want a PermanentError naming callback.heartbeatSeconds", err)
	}
}

// refusalError stands for an error type of plan's own (a claim refused):
// not retried by the Plan state, it ends the execution with its name.
type refusalError struct{}

func (refusalError) Error() string { return "another execution runs the request" }

// TestPlanCallbackErrors: plan's errors that end the execution (any but
// TransientError and ThrottledError, which the Plan state retries) answer
// the token with the error's name as Step Functions reports it; a retried
// one answers nothing (the retry may plan). The token is found in every
// shape of plan's input: the request, a LaunchRequested envelope, and
// {"request", "executionArn"}.
func TestPlanCallbackErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := `{"requestId":"r","callback":{"taskToken":"tok"}}`
	for name, tc := range map[string]struct {
		raw  string
		err  error
		want string // the failure's error name; "" no answer
	}{
		"own error type":    {req, &refusalError{}, "refusalError"},
		"permanent":         {req, &failure.PermanentError{}, "PermanentError"},
		"transient":         {req, &failure.TransientError{}, ""},
		"throttled":         {req, &failure.ThrottledError{}, ""},
		"envelope":          {`{"detail-type":"LaunchRequested","detail":` + req + `}`, &failure.PermanentError{}, "PermanentError"},
		"with executionArn": {`{"request":` + req + `,"executionArn":"arn:x"}`, &refusalError{}, "refusalError"},
		"no token":          {`{"requestId":"r"}`, &failure.PermanentError{}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newHBEnv(t)
			p := NewPlanHandler(e.st, func(o *HandlerOptions) { o.Callback = e.cb })
			if err := p.callback(ctx, json.RawMessage(tc.raw), PlanOutput{}, tc.err); err != tc.err {
				t.Fatalf("callback changed plan's error: %v", err)
			}
			calls := e.api.got()
			if tc.want == "" {
				if len(calls) != 0 {
					t.Fatalf("calls %+v, want none", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].Token != "tok" || calls[0].Error != tc.want {
				t.Fatalf("calls %+v; want one failure %s to tok", calls, tc.want)
			}
		})
	}
}
