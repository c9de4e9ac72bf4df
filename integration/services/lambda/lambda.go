package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Resolver builds the handler of a function by name. An error means the
// function does not exist (ResourceNotFoundException).
type Resolver func(name string) (awslambda.Handler, error)

// FaultKind is what an injected fault does to one invocation.
type FaultKind int

const (
	// FaultNone runs the invocation normally.
	FaultNone FaultKind = iota
	// FaultThrottle answers 429 TooManyRequestsException without running the handler.
	FaultThrottle
	// FaultServiceError answers 500 ServiceException without running the handler.
	FaultServiceError
	// FaultCrashBefore answers Runtime.ExitError without running the handler.
	FaultCrashBefore
	// FaultCrashAfter runs the handler, then answers Runtime.ExitError: the
	// work happened but the caller never learns its result.
	FaultCrashAfter
)

// FaultHook decides the fault of one invocation; nil injects none. It is
// called concurrently.
type FaultHook func(ctx context.Context, function string, payload []byte) FaultKind

// Options configures a Service.
type Options struct {
	// Region and Account build function ARNs (default us-east-1, 000000000000).
	Region, Account string
	// Clock is the stack's scaled clock; timeouts are simulated seconds on
	// it (default: a clock at factor 1).
	Clock *clock.Scaled
	// Concurrency is the account's concurrent executions limit; more
	// in-flight invocations answer 429 (default 1000, as on AWS).
	Concurrency int
	// Reserved maps a function name to its reserved concurrency: it may
	// never run more invocations at once (more answer 429 with reason
	// ReservedFunctionConcurrentInvocationLimitExceeded) and the others
	// share what is left of Concurrency (never less than 1 here; AWS keeps
	// 100 unreserved). A value ≤ 0 reserves nothing.
	Reserved map[string]int
	// Timeout is the functions' timeout in simulated time (default 900 s);
	// Timeouts overrides it per function name.
	Timeout  time.Duration
	Timeouts map[string]time.Duration
	// Fault injects faults; nil injects none.
	Fault FaultHook
	// Logger receives async invocation failures (default: discard).
	Logger *slog.Logger
	// AsyncRetries is how many times an asynchronous (Event) invocation is
	// retried after a function error (default 2, as Lambda).
	AsyncRetries *int
	// OnFailure maps a function name to the SQS queue (URL or ARN) of its
	// asynchronous invocations' on-failure destination: an invocation that
	// still fails after AsyncRetries is sent there as Lambda's destination
	// record, through SendToQueue. Without one it is only logged.
	OnFailure   map[string]string
	SendToQueue func(ctx context.Context, queue, body string) error
}

// Stats counts invocations since the service started.
type Stats struct {
	Invocations    int64 `json:"invocations"` // handler runs started
	Errors         int64 `json:"errors"`      // function errors, timeouts and crashes
	Throttles      int64 `json:"throttles"`   // 429 answers
	PeakConcurrent int64 `json:"peakConcurrent"`
}

// Service is the local Lambda. Safe for concurrent use.
type Service struct {
	resolve Resolver
	o       Options

	mu       sync.Mutex
	handlers map[string]*sandboxes

	inflight   atomic.Int64
	unreserved atomic.Int64             // in flight of functions without a reservation
	byFunc     map[string]*atomic.Int64 // in flight per reserved function
	pool       int64                    // Concurrency less the reservations
	peak       atomic.Int64
	invoked    atomic.Int64
	errored    atomic.Int64
	throttle   atomic.Int64

	bg     sync.WaitGroup
	bgCtx  context.Context
	cancel context.CancelFunc
}

// sandboxes holds a function's idle handler instances. Like Lambda's
// execution environments, one instance serves one invocation at a time:
// aws-lambda-go's handlers reuse their output buffer between calls, so they
// are not safe for concurrent Invoke.
type sandboxes struct {
	idle []awslambda.Handler
}

// New returns a Service that runs the handlers resolve builds.
func New(resolve Resolver, optFns ...func(*Options)) *Service {
	o := Options{Region: "us-east-1", Account: "000000000000", Concurrency: 1000, Timeout: 900 * time.Second}
	for _, f := range optFns {
		f(&o)
	}
	if o.Clock == nil {
		o.Clock = clock.NewScaled(time.Now(), 1)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AsyncRetries == nil {
		two := 2
		o.AsyncRetries = &two
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{resolve: resolve, o: o, handlers: map[string]*sandboxes{}, bgCtx: ctx, cancel: cancel,
		byFunc: map[string]*atomic.Int64{}, pool: int64(o.Concurrency)}
	for name, n := range o.Reserved {
		if n > 0 {
			s.byFunc[name] = new(atomic.Int64)
			s.pool -= int64(n)
		}
	}
	s.pool = max(s.pool, 1)
	return s
}

// FunctionName returns the function a FunctionName parameter names: the
// name segment of an ARN or partial ARN, without a qualifier.
func FunctionName(s string) string {
	parts := strings.Split(s, ":")
	switch {
	case strings.HasPrefix(s, "arn:") && len(parts) >= 7:
		return parts[6] // arn:aws:lambda:region:account:function:name[:qualifier]
	case len(parts) >= 3 && parts[1] == "function":
		return parts[2] // account:function:name[:qualifier]
	default:
		return parts[0] // name[:qualifier]
	}
}

// ARN returns the local ARN of a function.
func (s *Service) ARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.o.Region, s.o.Account, name)
}

// acquire takes an idle instance of the function or builds one (a cold
// start). Give it back with release.
func (s *Service) acquire(name string) (awslambda.Handler, error) {
	s.mu.Lock()
	sb, ok := s.handlers[name]
	if ok && len(sb.idle) > 0 {
		h := sb.idle[len(sb.idle)-1]
		sb.idle = sb.idle[:len(sb.idle)-1]
		s.mu.Unlock()
		return h, nil
	}
	s.mu.Unlock()
	h, err := s.resolve(name)
	if err == nil && h == nil {
		err = fmt.Errorf("resolver returned no handler for %s", name)
	}
	return h, err
}

func (s *Service) release(name string, h awslambda.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.handlers[name]
	if !ok {
		sb = &sandboxes{}
		s.handlers[name] = sb
	}
	sb.idle = append(sb.idle, h)
}

// exists reports whether the function can be built.
func (s *Service) exists(name string) bool {
	h, err := s.acquire(name)
	if err != nil {
		return false
	}
	s.release(name, h)
	return true
}

// Response is the answer of a synchronous invocation that reached the
// function: the payload, and FunctionError "Unhandled" when Payload is an
// error document.
type Response struct {
	Payload       []byte
	FunctionError string
	RequestID     string
}

const maxPayload = 6 * 1024 * 1024 // bytes, synchronous request and response

// Invoke runs function synchronously (RequestResponse). Errors are API
// errors (*awsjson.Error: 404 ResourceNotFoundException, 413
// RequestTooLargeException, 429 TooManyRequestsException, 500
// ServiceException); a function error is a Response with FunctionError set.
func (s *Service) Invoke(ctx context.Context, function string, payload []byte) (Response, error) {
	name := FunctionName(function)
	if len(payload) > maxPayload {
		return Response{}, awsjson.Errorf(413, "RequestTooLargeException", "Request must be smaller than %d bytes for the InvokeFunction operation", maxPayload)
	}
	if !s.exists(name) {
		return Response{}, awsjson.Errorf(404, "ResourceNotFoundException", "Function not found: %s", s.ARN(name))
	}
	fault := FaultNone
	if s.o.Fault != nil {
		fault = s.o.Fault(ctx, name, payload)
	}
	switch fault {
	case FaultThrottle:
		s.throttle.Add(1)
		return Response{}, tooMany()
	case FaultServiceError:
		return Response{}, awsjson.Errorf(500, "ServiceException", "Lambda was unable to process the request (injected fault)")
	}
	if err := s.admit(name); err != nil {
		s.throttle.Add(1)
		return Response{}, err
	}
	defer s.done(name)
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	s.invoked.Add(1)
	rid := awsjson.NewID()
	if fault == FaultCrashBefore {
		s.errored.Add(1)
		return errorResponse(rid, "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: exit status 2", rid)), nil
	}
	out, ferr := s.run(ctx, name, rid, payload)
	if fault == FaultCrashAfter {
		s.errored.Add(1)
		return errorResponse(rid, "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: exit status 2", rid)), nil
	}
	if ferr != nil {
		s.errored.Add(1)
		return Response{Payload: ferr.doc(), FunctionError: "Unhandled", RequestID: rid}, nil
	}
	if len(out) > maxPayload {
		s.errored.Add(1)
		return errorResponse(rid, "Function.ResponseSizeTooLarge", fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayload)), nil
	}
	return Response{Payload: out, RequestID: rid}, nil
}

// admit counts an invocation of name in flight against its reservation, or
// against the unreserved pool, and answers 429 when that is exhausted.
// Undo with done.
func (s *Service) admit(name string) error {
	if c, ok := s.byFunc[name]; ok {
		if c.Add(1) > int64(s.o.Reserved[name]) {
			c.Add(-1)
			e := tooMany()
			e.Fields["Reason"] = "ReservedFunctionConcurrentInvocationLimitExceeded"
			return e
		}
		return nil
	}
	if s.unreserved.Add(1) > s.pool {
		s.unreserved.Add(-1)
		return tooMany()
	}
	return nil
}

func (s *Service) done(name string) {
	if c, ok := s.byFunc[name]; ok {
		c.Add(-1)
		return
	}
	s.unreserved.Add(-1)
}

func tooMany() *awsjson.Error {
	e := awsjson.Errorf(429, "TooManyRequestsException", "Rate Exceeded.")
	e.Fields = map[string]any{"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User"}
	return e
}

func errorResponse(rid, typ, msg string) Response {
	return Response{Payload: (&funcError{Type: typ, Message: msg}).doc(), FunctionError: "Unhandled", RequestID: rid}
}

// run calls the handler with a deadline of the function's timeout.
func (s *Service) run(ctx context.Context, name, rid string, payload []byte) ([]byte, *funcError) {
	h, err := s.acquire(name)
	if err != nil {
		return nil, &funcError{Type: "Runtime.InitError", Message: err.Error()}
	}
	timeout := s.o.Timeout
	if t, ok := s.o.Timeouts[name]; ok {
		timeout = t
	}
	// A Go context's deadline is real time: the handler sees the simulated
	// timeout divided by k.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.Clock.RealDuration(timeout))
	defer cancel()
	// The caller going away does not stop a function (as on Lambda), but
	// Close does: otherwise the edge's Shutdown waits for the handler.
	stop := context.AfterFunc(s.bgCtx, cancel)
	defer stop()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: rid, InvokedFunctionArn: s.ARN(name)})
	type result struct {
		out []byte
		err *funcError
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				// A panic kills the runtime: the instance is not reused.
				done <- result{err: &funcError{Type: typeName(p), Message: fmt.Sprint(p)}}
			}
		}()
		out, err := h.Invoke(ctx, payload)
		if err != nil {
			s.release(name, h)
			done <- result{err: toFuncError(err)}
			return
		}
		out = append([]byte(nil), out...) // the handler reuses its buffer
		s.release(name, h)
		done <- result{out: out}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		if s.bgCtx.Err() != nil {
			return nil, &funcError{Type: "Runtime.ExitError", Message: fmt.Sprintf("RequestId: %s Error: Runtime exited: the local Lambda service closed", rid)}
		}
		return nil, &funcError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", rid, timeout.Seconds())}
	}
}

type funcError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *funcError) doc() []byte {
	b, _ := jsonMarshal(map[string]string{"errorMessage": e.Message, "errorType": e.Type})
	return b
}

// toFuncError reports err as aws-lambda-go's runtime does: an
// InvokeResponse_Error passes its Type through, any other error is named by
// its Go type without package or pointer.
func toFuncError(err error) *funcError {
	var ire messages.InvokeResponse_Error
	if errors.As(err, &ire) {
		return &funcError{Type: ire.Type, Message: ire.Message}
	}
	var pire *messages.InvokeResponse_Error
	if errors.As(err, &pire) && pire != nil {
		return &funcError{Type: pire.Type, Message: pire.Message}
	}
	return &funcError{Type: typeName(err), Message: err.Error()}
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "nil"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// InvokeAsync queues an asynchronous (Event) invocation and returns at
// once. Like Lambda, a throttled event waits and tries again, and a function
// error is retried AsyncRetries times, one then two simulated minutes apart.
// Only a missing function is an error.
func (s *Service) InvokeAsync(ctx context.Context, function string, payload []byte) error {
	name := FunctionName(function)
	if !s.exists(name) {
		return awsjson.Errorf(404, "ResourceNotFoundException", "Function not found: %s", s.ARN(name))
	}
	payload = append([]byte(nil), payload...)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.deliverAsync(name, payload)
	}()
	return nil
}

func (s *Service) deliverAsync(name string, payload []byte) {
	ctx := s.bgCtx
	retries := 0
	for wait := time.Second; ; {
		resp, err := s.Invoke(ctx, name, payload)
		var api *awsjson.Error
		switch {
		case errors.As(err, &api) && (api.Status == http.StatusTooManyRequests || api.Status >= 500):
			// Lambda keeps throttled events queued and retries them.
			if s.o.Clock.Sleep(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, 5*time.Minute)
			continue
		case err != nil:
			s.o.Logger.Error("async invocation failed", "function", name, "code", api.Code, "err", err)
			return
		case resp.FunctionError != "" && retries < *s.o.AsyncRetries:
			retries++
			if s.o.Clock.Sleep(ctx, time.Duration(retries)*time.Minute) != nil {
				return
			}
			continue
		case resp.FunctionError != "":
			if q := s.o.OnFailure[name]; q != "" && s.o.SendToQueue != nil {
				s.sendOnFailure(ctx, name, q, payload, resp, retries)
				return
			}
			s.o.Logger.Error("async invocation failed after retries", "function", name, "retries", retries, "error", string(resp.Payload))
		}
		return
	}
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
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext"`
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

// sendOnFailure sends the destination record to queue, trying again while
// the send fails (the event is not dropped while the service runs).
func (s *Service) sendOnFailure(ctx context.Context, name, queue string, payload []byte, resp Response, retries int) {
	var rec destinationRecord
	rec.Version, rec.Timestamp = "1.0", s.o.Clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	rec.RequestContext.RequestID, rec.RequestContext.FunctionARN = resp.RequestID, s.ARN(name)+":$LATEST"
	rec.RequestContext.Condition, rec.RequestContext.ApproximateInvokeCount = "RetriesExhausted", retries+1
	rec.RequestPayload = payload
	rec.ResponseContext.StatusCode, rec.ResponseContext.ExecutedVersion, rec.ResponseContext.FunctionError = 200, "$LATEST", resp.FunctionError
	rec.ResponsePayload = resp.Payload
	if !json.Valid(resp.Payload) {
		rec.ResponsePayload, _ = json.Marshal(string(resp.Payload))
	}
	body, _ := json.Marshal(rec)
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		err := s.o.SendToQueue(ctx, queue, string(body))
		if err == nil {
			s.o.Logger.Warn("async invocation failed after retries; sent to its on-failure destination", "function", name, "retries", retries, "queue", queue)
			return
		}
		s.o.Logger.Error("on-failure destination", "function", name, "queue", queue, "err", err)
		if s.o.Clock.Sleep(ctx, wait) != nil {
			s.o.Logger.Error("async invocation failed after retries", "function", name, "retries", retries, "error", string(resp.Payload))
			return
		}
	}
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Invocations: s.invoked.Load(), Errors: s.errored.Load(), Throttles: s.throttle.Load(), PeakConcurrent: s.peak.Load()}
}

// InFlight returns the number of invocations running now.
func (s *Service) InFlight() int64 { return s.inflight.Load() }

// Close stops retrying queued asynchronous invocations, cancels the
// context of every running handler and waits for the asynchronous ones to
// return.
func (s *Service) Close() {
	s.cancel()
	s.bg.Wait()
}
