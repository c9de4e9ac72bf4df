package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// SFNAPI is the part of Step Functions the callback uses; *sfn.Client
// satisfies it. Task tokens are not resources: the functions that answer
// need states:SendTask* on "*".
type SFNAPI interface {
	SendTaskSuccess(context.Context, *sfn.SendTaskSuccessInput, ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(context.Context, *sfn.SendTaskFailureInput, ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	SendTaskHeartbeat(context.Context, *sfn.SendTaskHeartbeatInput, ...func(*sfn.Options)) (*sfn.SendTaskHeartbeatOutput, error)
}

var _ SFNAPI = (*sfn.Client)(nil)

// Error names the callback answers with besides the execution's own.
const (
	// ErrLaunchCancelled is the failure of a request cancelled with
	// throttlectl cancel.
	ErrLaunchCancelled = "LaunchCancelled"
)

// Callback answers the task token a request carries (launch.Callback) and
// keeps its heartbeats going. Safe for concurrent use.
type Callback struct {
	store launchstore.Store
	sfn   SFNAPI
	sqs   SQSAPI
	queue string
	o     Options
}

// NewCallback returns the callback of the requests in store. Heartbeats
// need the relaunch queue (WithQueue); without it none are sent.
func NewCallback(store launchstore.Store, api SFNAPI, o Options) *Callback {
	o.defaults()
	return &Callback{store: store, sfn: api, o: o}
}

// WithQueue names the queue that carries the heartbeat chain (the relaunch
// queue: its consumer, Relaunch.HandleSQS, sends them).
func (c *Callback) WithQueue(api SQSAPI, queueURL string) *Callback {
	c.sqs, c.queue = api, queueURL
	return c
}

// tokenRefusals are the answers of Step Functions that no retry changes:
// the caller's task timed out (its own TimeoutSeconds or
// HeartbeatSeconds), it no longer exists (answered, its execution ended),
// or the token is not one. Final: recorded, never retried, and the launch
// goes on.
var tokenRefusals = map[string]bool{"TaskTimedOut": true, "TaskDoesNotExist": true, "InvalidToken": true}

// refusal is the final part of a SendTask* error: its code and message
// when no retry can change it ("" when one may). A retryable error
// (throttled, 5xx, network) is left to the caller's retry.
func refusal(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) && tokenRefusals[api.ErrorCode()] {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	if failure.ClassifyError(err).Class.Retryable() {
		return ""
	}
	return err.Error()
}

// Succeed answers the request's token with output (the summary, the
// execution's output).
func (c *Callback) Succeed(ctx context.Context, sr launch.StoredRequest, output any) error {
	b, err := json.Marshal(output)
	if err != nil {
		return fmt.Errorf("callback output: %w", err)
	}
	return c.answer(ctx, sr, launchstore.AnswerSuccess, "", func(token string) error {
		_, err := c.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(b))})
		return err
	})
}

// Fail answers the request's token with the execution's failure.
func (c *Callback) Fail(ctx context.Context, sr launch.StoredRequest, errName, cause string) error {
	return c.answer(ctx, sr, launchstore.AnswerFailure, errName, func(token string) error {
		return c.sendFailure(ctx, token, errName, cause)
	})
}

// Step Functions' limits of SendTaskFailure's error and cause.
const (
	maxFailureError = 256
	maxFailureCause = 32768
)

func (c *Callback) sendFailure(ctx context.Context, token, errName, cause string) error {
	_, err := c.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token),
		Error: aws.String(errName[:runeCutAt(errName, maxFailureError)]), Cause: aws.String(cause[:runeCutAt(cause, maxFailureCause)])})
	return err
}

// runeCutAt is len(v) if it fits in n bytes, else the largest cut ≤ n on a
// rune boundary.
func runeCutAt(v string, n int) int {
	if len(v) <= n {
		return len(v)
	}
	for n > 0 && v[n]&0xC0 == 0x80 {
		n--
	}
	return n
}

// answer sends the request's answer once in effect: nothing when the
// request has no callback or the answer is recorded; otherwise send, then
// record — so a re-run after a lost record sends again, and Step Functions
// refuses the second answer as final (TaskDoesNotExist), which is recorded
// too. A retryable error is returned (the step's retry sends again).
func (c *Callback) answer(ctx context.Context, sr launch.StoredRequest, answer, detail string, send func(token string) error) error {
	cb, id := sr.Request.Callback, sr.Request.RequestID
	if c == nil || cb == nil || cb.TaskToken == "" {
		return nil
	}
	if st, err := c.state(ctx, id); err != nil {
		return err
	} else if st.Answer != "" {
		return nil
	}
	log := c.o.Logger.With("requestId", id, "answer", answer)
	if err := send(cb.TaskToken); err != nil {
		why := refusal(err)
		if why == "" {
			log.Warn("callback not answered; retried", "err", err)
			return fmt.Errorf("callback %s: %w", answer, err)
		}
		log.Warn("callback refused: final, not retried", "refusal", why)
		answer, detail = launchstore.AnswerFinal, why
	}
	if recorder, ok := c.store.(launchstore.Callbacks); ok {
		if _, err := recorder.RecordAnswer(ctx, id, answer, detail, c.o.Clock.Now()); err != nil {
			return err
		}
	}
	log.Info("callback answered", "detail", detail)
	return nil
}

// state reads the request's callback state (zero for a store without).
func (c *Callback) state(ctx context.Context, requestID string) (launchstore.CallbackState, error) {
	if cbs, ok := c.store.(launchstore.Callbacks); ok {
		return cbs.Callback(ctx, requestID)
	}
	return launchstore.CallbackState{}, nil
}

// FailUnplanned answers the token of a request that plan refused (an
// invalid request, a requestId in use): nothing of it is stored, so the
// token is read from raw as sent — the error and cause are those the
// execution fails with (the Lambda error's type, and its JSON
// {errorMessage, errorType}). Nothing is recorded; an error is logged,
// since plan's own error is what the execution reports.
func (c *Callback) FailUnplanned(ctx context.Context, raw json.RawMessage, planErr error) {
	token := launch.CallbackToken(raw)
	if c == nil || token == "" {
		return
	}
	name, cause := launch.FunctionError(planErr)
	if err := c.sendFailure(ctx, token, name, cause); err != nil {
		c.o.Logger.Warn("callback of a refused request not answered", "requestId", loggableID(raw), "err", err, "final", refusal(err) != "")
		return
	}
	c.o.Logger.Info("callback answered", "requestId", loggableID(raw), "answer", launchstore.AnswerFailure, "detail", name)
}

// endsExecution says plan's error fails the execution at once: the Plan
// state retries TransientError and ThrottledError (and Lambda's own
// errors, which never reach here); any other error — PermanentError (an
// invalid request, a requestId used by another request), a second live
// execution's refusal — ends it with that error.
func endsExecution(err error) bool {
	if _, ok := errors.AsType[*failure.TransientError](err); ok {
		return false
	}
	_, throttled := errors.AsType[*failure.ThrottledError](err)
	return !throttled
}

// heartbeatAfterFailure is the delay of the next heartbeat after one that
// failed for a reason a retry may change.
const heartbeatAfterFailure = 5 * time.Second

// hbMessage is the body of a heartbeat message on the relaunch queue.
type hbMessage struct {
	Heartbeat struct {
		RequestID string `json:"requestId"`
		Seq       int    `json:"seq"`
	} `json:"callbackHeartbeat"`
}

// parseHeartbeat says body is a heartbeat message (not an ECS event).
func parseHeartbeat(body string) (hbMessage, bool) {
	var m hbMessage
	if json.Unmarshal([]byte(body), &m) != nil || m.Heartbeat.RequestID == "" {
		return hbMessage{}, false
	}
	return m, true
}

// queueHeartbeat puts heartbeat seq of the request on the queue after
// delay.
func (c *Callback) queueHeartbeat(ctx context.Context, requestID string, seq int, delay time.Duration) error {
	var m hbMessage
	m.Heartbeat.RequestID, m.Heartbeat.Seq = requestID, seq
	b, _ := json.Marshal(m)
	_, err := c.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(c.queue), MessageBody: aws.String(string(b)),
		DelaySeconds: int32(min(maxQueueDelay, int(delay.Seconds()))),
		MessageAttributes: map[string]sqsAttr{
			"requestId": {DataType: aws.String("String"), StringValue: aws.String(requestID)},
		},
	})
	if err != nil {
		return fmt.Errorf("heartbeat %d of %s: queue: %w", seq, requestID, err)
	}
	return nil
}

// StartHeartbeats starts the request's heartbeat chain when it asks for
// heartbeats: heartbeat 0, at once (it also tells early that the token is
// refused). A plan run again starts it again: the duplicate is refused by
// ClaimHeartbeat.
//
// A stack whose plan has no queue cannot send them: the request is refused
// (a PermanentError naming the field) rather than left to time out.
func (c *Callback) StartHeartbeats(ctx context.Context, sr launch.StoredRequest) error {
	if c == nil || sr.Request.Callback.HeartbeatInterval() == 0 {
		return nil
	}
	if c.sqs == nil || c.queue == "" {
		return permanent("plan", "InvalidRequest", errors.New("callback.heartbeatSeconds: this stack sends no heartbeats (plan has no relaunch queue, TH_RELAUNCH_QUEUE_URL)"))
	}
	return c.queueHeartbeat(ctx, sr.Request.RequestID, 0, 0)
}

// callback is plan's part of a request's callback (Handle defers it with
// its answer): a request refused for good gets its token answered with
// plan's error; a planned one starts its heartbeats — a failure to start
// them fails plan as transient, so its retry starts them.
func (h *PlanHandler) callback(ctx context.Context, raw json.RawMessage, out PlanOutput, err error) error {
	c := h.o.Callback
	if c == nil {
		return err
	}
	if err != nil {
		if endsExecution(err) {
			c.FailUnplanned(ctx, raw, err)
		}
		return err
	}
	sr, serr := h.store.Request(ctx, out.RequestID)
	if serr == nil {
		serr = c.StartHeartbeats(ctx, sr)
	}
	if _, ok := errors.AsType[*failure.PermanentError](serr); ok {
		c.FailUnplanned(ctx, raw, serr)
		return serr
	}
	if serr != nil {
		return transientErr("plan", fmt.Errorf("callback heartbeats: %w", serr))
	}
	return nil
}
