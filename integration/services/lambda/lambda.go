package lambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
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

// FaultHook decides the fault of one invocation; nil injects none. It is
// called concurrently.
type FaultHook func(ctx context.Context, function string, payload []byte) FaultKind

// Options configures a Service.
type Options struct {
	// Region and Account build function ARNs (default us-east-1, 000000000000).
	Region, Account string
	// Clock is the stack's scaled clock; timeouts, cold starts and
	// asynchronous delays are simulated time on it (default: a clock at
	// factor 1).
	Clock *clock.Scaled
	// Concurrency is the account's concurrent executions limit; more
	// in-flight invocations answer 429 (default 1000, as on AWS).
	Concurrency int
	// UnreservedMin is how many concurrent executions reservations must
	// leave to the functions without one: Create refuses Reserved, and
	// PutFunctionConcurrency a reservation, that leaves fewer (default 100,
	// as on AWS; a pointer to 0 turns the floor off).
	UnreservedMin *int
	// Reserved maps a function name to its reserved concurrency: it may
	// never run more invocations at once (more answer 429 with reason
	// ReservedFunctionConcurrentInvocationLimitExceeded) and the others
	// share what is left of Concurrency. A value ≤ 0 reserves nothing.
	Reserved map[string]int
	// Timeout is the functions' timeout in simulated time (default 900 s);
	// Timeouts overrides it per function name.
	Timeout  time.Duration
	Timeouts map[string]time.Duration
	// ColdStartMin and ColdStartMax bound the simulated latency an
	// invocation waits when it gets a new execution environment (default
	// 100–400 ms, drawn from Seed). NoColdStart turns it off.
	ColdStartMin, ColdStartMax time.Duration
	NoColdStart                bool
	// Seed seeds the cold starts and the asynchronous queue's disorder.
	Seed uint64
	// Fault injects faults; nil injects none.
	Fault FaultHook
	// Logger receives async invocation failures (default: discard).
	Logger *slog.Logger
	// AsyncRetries is how many times an asynchronous (Event) invocation is
	// retried after a function error (default 2, as Lambda).
	AsyncRetries *int
	// MaxEventAge is how long an asynchronous event may wait (throttled,
	// or between retries) before it is dropped to the on-failure
	// destination (default 6 h, as Lambda); MaxEventAges overrides it per
	// function name.
	MaxEventAge  time.Duration
	MaxEventAges map[string]time.Duration
	// AsyncDuplicates is the probability that an asynchronous event is
	// delivered twice, and AsyncDelayMax the most an event waits in the
	// queue before its first attempt, so that events run out of order
	// (defaults 0.02 and 2 s of simulated time). NoAsyncDisorder turns both
	// off: each event runs once, at once.
	AsyncDuplicates float64
	AsyncDelayMax   time.Duration
	NoAsyncDisorder bool
	// OnFailure maps a function name to the SQS queue (URL or ARN) of its
	// asynchronous invocations' on-failure destination: an invocation that
	// still fails after AsyncRetries, or outlives MaxEventAge, is sent there
	// as Lambda's destination record, through SendToQueue. Without one it is
	// only logged.
	OnFailure   map[string]string
	SendToQueue func(ctx context.Context, queue, body string) error
}

func (o *Options) defaults() {
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
	if o.UnreservedMin == nil {
		floor := 100
		o.UnreservedMin = &floor
	}
	if o.MaxEventAge == 0 {
		o.MaxEventAge = 6 * time.Hour
	}
	if o.ColdStartMin == 0 && o.ColdStartMax == 0 {
		o.ColdStartMin, o.ColdStartMax = 100*time.Millisecond, 400*time.Millisecond
	}
	o.ColdStartMax = max(o.ColdStartMax, o.ColdStartMin)
	if o.AsyncDuplicates == 0 && o.AsyncDelayMax == 0 {
		o.AsyncDuplicates, o.AsyncDelayMax = 0.02, 2*time.Second
	}
}

// Stats counts invocations since the service started.
type Stats struct {
	Invocations    int64 `json:"invocations"` // handler runs started
	Errors         int64 `json:"errors"`      // function errors, timeouts and crashes
	Throttles      int64 `json:"throttles"`   // 429 answers
	PeakConcurrent int64 `json:"peakConcurrent"`
	ColdStarts     int64 `json:"coldStarts"` // invocations that waited for a new environment
}

// Service is the local Lambda. Safe for concurrent use.
type Service struct {
	resolve Resolver
	o       Options

	mu       sync.Mutex
	handlers map[string]*sandboxes

	conc     *concurrency
	inflight atomic.Int64
	peak     atomic.Int64
	invoked  atomic.Int64
	errored  atomic.Int64
	throttle atomic.Int64
	colds    atomic.Int64

	rmu sync.Mutex
	rnd *rand.Rand

	bg     sync.WaitGroup
	bgCtx  context.Context
	cancel context.CancelFunc
}

// sandboxes holds a function's idle handler instances. Like Lambda's
// execution environments, one instance serves one invocation at a time:
// aws-lambda-go's handlers reuse their output buffer between calls, so they
// are not safe for concurrent Invoke.
type sandboxes struct {
	idle []sandbox
}

// sandbox is one instance; warm once it has served an invocation (a
// handler built only to see that the function exists has not started).
type sandbox struct {
	h    awslambda.Handler
	warm bool
}

// Create returns a Service that runs the handlers resolve builds, or
// InvalidParameterValueException when Options.Reserved leaves fewer than
// UnreservedMin unreserved executions (as Lambda refuses such a function).
func Create(resolve Resolver, optFns ...func(*Options)) (*Service, error) {
	o := Options{Region: "us-east-1", Account: "000000000000", Concurrency: 1000, Timeout: 900 * time.Second}
	for _, f := range optFns {
		f(&o)
	}
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{resolve: resolve, o: o, handlers: map[string]*sandboxes{}, bgCtx: ctx, cancel: cancel,
		conc: newConcurrency(o.Concurrency, *o.UnreservedMin), rnd: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	for _, name := range slices.Sorted(maps.Keys(o.Reserved)) {
		if n := o.Reserved[name]; n > 0 {
			if err := s.conc.put(name, n); err != nil {
				cancel()
				return nil, fmt.Errorf("lambda: reserved concurrency of %s: %w", name, err)
			}
		}
	}
	return s, nil
}

// New is Create for options known to be valid: it panics on an error.
func New(resolve Resolver, optFns ...func(*Options)) *Service {
	s, err := Create(resolve, optFns...)
	if err != nil {
		panic(err)
	}
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

// acquire takes an idle instance of the function or builds one. cold says
// it has not served an invocation yet. Give it back with release.
func (s *Service) acquire(name string) (h awslambda.Handler, cold bool, err error) {
	s.mu.Lock()
	sb, ok := s.handlers[name]
	if ok && len(sb.idle) > 0 {
		x := sb.idle[len(sb.idle)-1]
		sb.idle = sb.idle[:len(sb.idle)-1]
		s.mu.Unlock()
		return x.h, !x.warm, nil
	}
	s.mu.Unlock()
	h, err = s.resolve(name)
	if err == nil && h == nil {
		err = fmt.Errorf("resolver returned no handler for %s", name)
	}
	return h, true, err
}

func (s *Service) release(name string, h awslambda.Handler, warm bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.handlers[name]
	if !ok {
		sb = &sandboxes{}
		s.handlers[name] = sb
	}
	sb.idle = append(sb.idle, sandbox{h: h, warm: warm})
}

// exists reports whether the function can be built.
func (s *Service) exists(name string) bool {
	h, cold, err := s.acquire(name)
	if err != nil {
		return false
	}
	s.release(name, h, !cold)
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
// ServiceException, 502 ResourceNotReadyException and the EC2/ENI errors);
// a function error is a Response with FunctionError set.
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
	if e := faultError(fault); e != nil {
		if e.Status == http.StatusTooManyRequests {
			s.throttle.Add(1)
		}
		return Response{}, e
	}
	if err := s.conc.admit(name); err != nil {
		s.throttle.Add(1)
		return Response{}, err
	}
	defer s.conc.done(name)
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	s.invoked.Add(1)
	rid := awsjson.NewID()
	if fault == FaultCrashBefore {
		s.errored.Add(1)
		return crashResponse(rid), nil
	}
	out, ferr := s.run(ctx, name, rid, payload)
	switch {
	case fault == FaultCrashAfter:
		s.errored.Add(1)
		return crashResponse(rid), nil
	case ferr != nil:
		s.errored.Add(1)
		return Response{Payload: ferr.doc(), FunctionError: "Unhandled", RequestID: rid}, nil
	case len(out) > maxPayload:
		s.errored.Add(1)
		return errorResponse(rid, "Function.ResponseSizeTooLarge", fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayload)), nil
	}
	return Response{Payload: out, RequestID: rid}, nil
}

func crashResponse(rid string) Response {
	return errorResponse(rid, "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: exit status 2", rid))
}

func errorResponse(rid, typ, msg string) Response {
	return Response{Payload: (&funcError{Type: typ, Message: msg}).doc(), FunctionError: "Unhandled", RequestID: rid}
}

// timeout returns the function's timeout.
func (s *Service) timeout(name string) time.Duration {
	if t, ok := s.o.Timeouts[name]; ok {
		return t
	}
	return s.o.Timeout
}

// coldStart waits the seeded latency of a new execution environment's
// initialisation, before the function's timeout starts counting.
func (s *Service) coldStart(ctx context.Context) {
	if s.o.NoColdStart || s.o.ColdStartMax <= 0 {
		return
	}
	s.colds.Add(1)
	d := s.o.ColdStartMin
	if span := s.o.ColdStartMax - s.o.ColdStartMin; span > 0 {
		d += time.Duration(s.float64() * float64(span))
	}
	_ = s.o.Clock.Sleep(ctx, d)
}

func (s *Service) float64() float64 {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.rnd.Float64()
}

type result struct {
	out      []byte
	err      *funcError
	reusable bool // the runtime survived: the instance may serve again
}

// run calls the handler with a deadline of the function's timeout. A
// timed-out instance is not reused: Lambda resets its environment.
func (s *Service) run(ctx context.Context, name, rid string, payload []byte) ([]byte, *funcError) {
	h, cold, err := s.acquire(name)
	if err != nil {
		return nil, &funcError{Type: "Runtime.InitError", Message: err.Error()}
	}
	// The caller going away does not stop a function (as on Lambda), but
	// Close does: otherwise the edge's Shutdown waits for the handler.
	base, stopBase := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBase()
	stop := context.AfterFunc(s.bgCtx, stopBase)
	defer stop()
	if cold {
		s.coldStart(base)
	}
	timeout := s.timeout(name)
	// A Go context's deadline is real time: the handler sees the simulated
	// timeout divided by k.
	ctx, cancel := context.WithTimeout(base, s.o.Clock.RealDuration(timeout))
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: rid, InvokedFunctionArn: s.ARN(name)})
	done := make(chan result, 1)
	go func() { done <- invokeHandler(ctx, h, payload) }()
	select {
	case r := <-done:
		if r.reusable {
			s.release(name, h, true)
		}
		return r.out, r.err
	case <-ctx.Done():
		if s.bgCtx.Err() != nil {
			return nil, &funcError{Type: "Runtime.ExitError", Message: fmt.Sprintf("RequestId: %s Error: Runtime exited: the local Lambda service closed", rid)}
		}
		return nil, &funcError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", rid, timeout.Seconds())}
	}
}

// invokeHandler runs one invocation; a panic kills the runtime.
func invokeHandler(ctx context.Context, h awslambda.Handler, payload []byte) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{err: &funcError{Type: typeName(p), Message: fmt.Sprint(p)}}
		}
	}()
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		return result{err: toFuncError(err), reusable: true}
	}
	return result{out: append([]byte(nil), out...), reusable: true} // the handler reuses its buffer
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

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Invocations: s.invoked.Load(), Errors: s.errored.Load(), Throttles: s.throttle.Load(), PeakConcurrent: s.peak.Load(),
		ColdStarts: s.colds.Load()}
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
