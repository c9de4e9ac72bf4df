package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

// asyncEvent is one event in the asynchronous invocation queue.
type asyncEvent struct {
	name    string
	payload []byte
	queued  time.Time // simulated
}

// InvokeAsync queues an asynchronous (Event) invocation and returns at
// once. Like Lambda's queue it delivers at least once and in no set order
// (AsyncDuplicates, AsyncDelayMax); a throttled or failed-to-start event
// waits and tries again, and a function error is retried AsyncRetries
// times, one then two simulated minutes later, all within MaxEventAge.
// Only a missing function is an error.
func (s *Service) InvokeAsync(ctx context.Context, function string, payload []byte) error {
	name := FunctionName(function)
	if !s.exists(name) {
		return awsjson.Errorf(404, "ResourceNotFoundException", "Function not found: %s", s.ARN(name))
	}
	ev := asyncEvent{name: name, payload: append([]byte(nil), payload...), queued: s.o.Clock.Now()}
	copies := 1
	if !s.o.NoAsyncDisorder && s.float64() < s.o.AsyncDuplicates {
		copies = 2
	}
	for range copies {
		s.bg.Go(func() { s.deliverAsync(ev) })
	}
	return nil
}

// maxEventAge returns how long an event of name may wait in the queue.
func (s *Service) maxEventAge(name string) time.Duration {
	if d, ok := s.o.MaxEventAges[name]; ok {
		return d
	}
	return s.o.MaxEventAge
}

// deliverAsync runs ev until it succeeds, its retries are spent or it is
// too old; the last two go to the on-failure destination.
func (s *Service) deliverAsync(ev asyncEvent) {
	ctx := s.bgCtx
	if !s.o.NoAsyncDisorder && s.o.AsyncDelayMax > 0 {
		if s.o.Clock.Sleep(ctx, time.Duration(s.float64()*float64(s.o.AsyncDelayMax))) != nil {
			return
		}
	}
	var last Response
	invokes, retries := 0, 0
	for wait := time.Second; ; {
		if s.o.Clock.Now().Sub(ev.queued) > s.maxEventAge(ev.name) {
			s.failAsync(ctx, ev, last, invokes, "EventAgeExceeded")
			return
		}
		resp, err := s.Invoke(ctx, ev.name, ev.payload)
		var api *awsjson.Error
		pause := time.Duration(0)
		switch {
		case errors.As(err, &api) && (api.Status == http.StatusTooManyRequests || api.Status >= 500):
			// Lambda keeps throttled and failed-to-start events queued.
			pause, wait = wait, min(2*wait, 5*time.Minute)
		case err != nil:
			s.o.Logger.Error("async invocation failed", "function", ev.name, "code", api.Code, "err", err)
			return
		case resp.FunctionError == "":
			return
		case retries < *s.o.AsyncRetries:
			invokes, retries, last = invokes+1, retries+1, resp
			pause = time.Duration(retries) * time.Minute
		default:
			s.failAsync(ctx, ev, resp, invokes+1, "RetriesExhausted")
			return
		}
		if s.o.Clock.Sleep(ctx, pause) != nil {
			return
		}
	}
}

// failAsync sends ev to the function's on-failure destination, or logs it.
func (s *Service) failAsync(ctx context.Context, ev asyncEvent, last Response, invokes int, condition string) {
	if q := s.o.OnFailure[ev.name]; q != "" && s.o.SendToQueue != nil {
		s.sendOnFailure(ctx, q, destinationRecordOf(s, ev, last, invokes, condition))
		return
	}
	s.o.Logger.Error("async invocation dropped", "function", ev.name, "condition", condition, "invokes", invokes, "error", string(last.Payload))
}

// responseContext is the destination record's account of the last run.
type responseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError"`
}

// destinationRecord is the document Lambda sends to an on-failure
// destination of an asynchronous invocation.
type destinationRecord struct {
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *responseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

// destinationRecordOf builds ev's record; an event that never ran (too old
// while throttled) has no response.
func destinationRecordOf(s *Service, ev asyncEvent, last Response, invokes int, condition string) []byte {
	var rec destinationRecord
	rec.Version, rec.Timestamp = "1.0", s.o.Clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	rec.RequestContext.RequestID, rec.RequestContext.FunctionARN = last.RequestID, s.ARN(ev.name)+":$LATEST"
	if rec.RequestContext.RequestID == "" {
		rec.RequestContext.RequestID = awsjson.NewID()
	}
	rec.RequestContext.Condition, rec.RequestContext.ApproximateInvokeCount = condition, invokes
	rec.RequestPayload = ev.payload
	if last.Payload != nil {
		rec.ResponseContext = &responseContext{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: last.FunctionError}
		rec.ResponsePayload = last.Payload
		if !json.Valid(last.Payload) {
			rec.ResponsePayload, _ = json.Marshal(string(last.Payload))
		}
	}
	body, _ := json.Marshal(rec)
	return body
}

// sendOnFailure sends the destination record to queue, trying again while
// the send fails (the event is not dropped while the service runs).
func (s *Service) sendOnFailure(ctx context.Context, queue string, body []byte) {
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		err := s.o.SendToQueue(ctx, queue, string(body))
		if err == nil {
			s.o.Logger.Warn("async invocation sent to its on-failure destination", "queue", queue)
			return
		}
		s.o.Logger.Error("on-failure destination", "queue", queue, "err", err)
		if s.o.Clock.Sleep(ctx, wait) != nil {
			s.o.Logger.Error("async invocation dropped: on-failure destination unreachable", "queue", queue, "record", string(body))
			return
		}
	}
}
