package launch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// Callback asks the product to answer a task token of the caller's own
// workflow (a .waitForTaskToken step) when the request ends: success with
// the summary, failure with the execution's error and cause; and, with
// HeartbeatSeconds, to send heartbeats while it runs. Valid in both
// request versions: it changes nothing of the launch itself.
type Callback struct {
	TaskToken string `json:"taskToken"`
	// HeartbeatSeconds is the HeartbeatSeconds of the caller's task: the
	// product sends a heartbeat every third of it (at most every
	// MaxHeartbeatInterval) while the request is live. 0: no heartbeats.
	HeartbeatSeconds int `json:"heartbeatSeconds,omitempty"`
}

// Limits of Callback.
const (
	// MaxTaskTokenLen is Step Functions' limit of a task token.
	MaxTaskTokenLen = 2048
	// MinHeartbeatSeconds: heartbeats are delayed SQS messages consumed by
	// a Lambda, each a few seconds late at worst (the delay, the event
	// source's polling, a cold start, a redelivery after a failed batch);
	// a third of 60 s (20 s) leaves two heartbeats of slack before the
	// caller's timer fires. A shorter timer would time out the caller's
	// task on an ordinary hiccup.
	MinHeartbeatSeconds = 60
	// MaxHeartbeatInterval is SQS's longest message delay: a heartbeat
	// timer longer than three times it still gets one every 15 minutes.
	MaxHeartbeatInterval = 900
)

// HeartbeatInterval is how often the product sends heartbeats (seconds):
// a third of HeartbeatSeconds, at most MaxHeartbeatInterval; 0 when no
// heartbeats were asked for.
func (c *Callback) HeartbeatInterval() int {
	if c == nil || c.HeartbeatSeconds <= 0 {
		return 0
	}
	return max(1, min(c.HeartbeatSeconds/3, MaxHeartbeatInterval))
}

// callbackProblems checks callback. A heartbeat timer longer than the
// request's deadline is refused: the request answers before it could fire,
// so it guards nothing.
func (r Request) callbackProblems() []string {
	c := r.Callback
	if c == nil {
		return nil
	}
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	switch n := utf8.RuneCountInString(c.TaskToken); {
	case n == 0:
		add("callback.taskToken: required")
	case n > MaxTaskTokenLen:
		add("callback.taskToken: must be 1..%d characters, got %d", MaxTaskTokenLen, n)
	}
	limit := int(r.deadlineSeconds())
	switch hb := c.HeartbeatSeconds; {
	case hb == 0:
	case hb < MinHeartbeatSeconds:
		add("callback.heartbeatSeconds: must be at least %d (heartbeats are sent every third of it through a delayed queue message), got %d", MinHeartbeatSeconds, hb)
	case hb > limit:
		add("callback.heartbeatSeconds: must be at most the request's deadline (%d s), got %d", limit, hb)
	}
	return p
}

// CallbackToken is callback.taskToken of a request as sent — the request
// itself, the detail of a LaunchRequested envelope, or plan's "request" —
// read without validating it, so that a refused request's token can still
// be answered; "" when absent or not a string.
func CallbackToken(raw json.RawMessage) string {
	var probe struct {
		Detail   *json.RawMessage `json:"detail"`
		Request  *json.RawMessage `json:"request"`
		Callback struct {
			TaskToken any `json:"taskToken"`
		} `json:"callback"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	if probe.Request != nil {
		return CallbackToken(*probe.Request)
	}
	if probe.Detail != nil {
		return CallbackToken(*probe.Detail)
	}
	token, _ := probe.Callback.TaskToken.(string)
	return token
}

// FunctionError is how Step Functions reports a Go Lambda function's
// error, and so the failure a refused request's token is answered with:
// the error's type name (the runtime's errorType) and, as the cause, the
// JSON of {errorMessage, errorType}.
func FunctionError(err error) (name, cause string) {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name = t.Name()
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{err.Error(), name})
	return name, string(b)
}
