package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsl "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

type ThrottledError struct{ Msg string }

func (e *ThrottledError) Error() string { return e.Msg }

type echoIn struct {
	Mode string `json:"mode"`
}

// handlers are small test functions; "block" waits for release (or its
// context) instead of sleeping.
func testResolver(release <-chan struct{}, started chan<- struct{}) Resolver {
	return func(name string) (awslambda.Handler, error) {
		switch name {
		case "work":
			return awslambda.NewHandler(func(ctx context.Context, in echoIn) (map[string]string, error) {
				switch in.Mode {
				case "throttled":
					return nil, &ThrottledError{Msg: "slow down"}
				case "plain":
					return nil, errors.New("boom")
				case "wrapped":
					return nil, fmt.Errorf("ctx: %w", &ThrottledError{Msg: "x"})
				case "panic":
					panic("oops")
				case "block":
					started <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				return map[string]string{"mode": in.Mode}, nil
			}), nil
		}
		return nil, fmt.Errorf("no function %q", name)
	}
}

func newClient(t *testing.T, s *Service) *awsl.Client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return awsl.New(awsl.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), RetryMaxAttempts: 1})
}

func TestInvoke(t *testing.T) {
	t.Parallel()
	s := New(testResolver(nil, nil))
	t.Cleanup(s.Close)
	c := newClient(t, s)
	tests := []struct {
		name, function, payload string
		wantFnErr               string // "" = success
		wantType                string
		wantPayload             string
	}{
		{"ok by name", "work", `{"mode":"a"}`, "", "", `{"mode":"a"}`},
		{"ok by ARN", "arn:aws:lambda:us-east-1:000000000000:function:work", `{"mode":"b"}`, "", "", `{"mode":"b"}`},
		{"ok by qualified name", "work:$LATEST", `{"mode":"c"}`, "", "", `{"mode":"c"}`},
		{"named error type", "work", `{"mode":"throttled"}`, "Unhandled", "ThrottledError", ""},
		{"errors.New", "work", `{"mode":"plain"}`, "Unhandled", "errorString", ""},
		{"wrapped error keeps the wrapper's type", "work", `{"mode":"wrapped"}`, "Unhandled", "wrapError", ""},
		{"panic", "work", `{"mode":"panic"}`, "Unhandled", "string", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String(tc.function), Payload: []byte(tc.payload)})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(out.FunctionError); got != tc.wantFnErr {
				t.Fatalf("FunctionError: got %q, want %q (payload %s)", got, tc.wantFnErr, out.Payload)
			}
			if tc.wantFnErr == "" {
				if string(out.Payload) != tc.wantPayload {
					t.Errorf("payload: got %s, want %s", out.Payload, tc.wantPayload)
				}
				return
			}
			var doc struct{ ErrorType, ErrorMessage string }
			if err := json.Unmarshal(out.Payload, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.ErrorType != tc.wantType || doc.ErrorMessage == "" {
				t.Errorf("got %+v, want errorType %s", doc, tc.wantType)
			}
		})
	}
}

func TestInvokeUnknownFunction(t *testing.T) {
	t.Parallel()
	s := New(testResolver(nil, nil))
	t.Cleanup(s.Close)
	_, err := newClient(t, s).Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want ResourceNotFoundException", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{}, 2)
	s := New(testResolver(release, started), func(o *Options) { o.Concurrency = 2 })
	t.Cleanup(s.Close)
	c := newClient(t, s)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, _ = c.Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String("work"), Payload: []byte(`{"mode":"block"}`)})
		})
	}
	<-started
	<-started
	_, err := c.Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String("work"), Payload: []byte(`{}`)})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Fatalf("got %v, want TooManyRequestsException (ConcurrentInvocationLimitExceeded)", err)
	}
	close(release)
	wg.Wait()
	if got := s.Stats(); got.Throttles != 1 || got.PeakConcurrent != 2 {
		t.Errorf("stats: got %+v, want 1 throttle at peak 2", got)
	}
}

// TestReservedConcurrency: a function with reserved concurrency answers 429
// beyond it (reason ReservedFunctionConcurrentInvocationLimitExceeded) while
// the account has room, and the others share what the reservation leaves.
func TestReservedConcurrency(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{}, 3)
	base := testResolver(release, started)
	// "other" is the same handler under another name (unreserved).
	resolve := func(name string) (awslambda.Handler, error) {
		if name == "other" {
			name = "work"
		}
		return base(name)
	}
	s := New(resolve, func(o *Options) { o.Concurrency, o.UnreservedMin = 3, new(int); o.Reserved = map[string]int{"work": 1} })
	t.Cleanup(s.Close)
	c := newClient(t, s)
	invoke := func(fn, mode string) error {
		_, err := c.Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"mode":"` + mode + `"}`)})
		return err
	}
	var wg sync.WaitGroup
	for _, fn := range []string{"work", "other", "other"} {
		wg.Go(func() { _ = invoke(fn, "block") })
	}
	for range 3 {
		<-started
	}
	var tm *types.TooManyRequestsException
	if err := invoke("work", "plain"); !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Fatalf("work beyond its reservation of 1: got %v, want TooManyRequestsException (ReservedFunctionConcurrentInvocationLimitExceeded)", err)
	}
	if err := invoke("other", "plain"); !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Fatalf("other beyond the unreserved 2: got %v, want TooManyRequestsException (ConcurrentInvocationLimitExceeded)", err)
	}
	close(release)
	wg.Wait()
	if err := invoke("work", "echo"); err != nil {
		t.Fatalf("work after its invocation ended: %v, want it to run", err)
	}
	if got := s.Stats(); got.Throttles != 2 || got.PeakConcurrent != 3 {
		t.Errorf("stats: got %+v, want 2 throttles at peak 3", got)
	}
}

func TestTimeoutInSimulatedSeconds(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	// 30 simulated seconds at k = 1000: 30 ms.
	s := New(testResolver(make(chan struct{}), started), func(o *Options) {
		o.Clock = clock.NewScaled(time.Now(), 1000)
		o.Timeout = 30 * time.Second
	})
	t.Cleanup(s.Close)
	resp, err := s.Invoke(context.Background(), "work", []byte(`{"mode":"block"}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.FunctionError != "Unhandled" || !strings.Contains(string(resp.Payload), `"errorType":"Sandbox.Timedout"`) ||
		!strings.Contains(string(resp.Payload), "Task timed out after 30.00 seconds") {
		t.Fatalf("got %q %s, want a Sandbox.Timedout error", resp.FunctionError, resp.Payload)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := map[FaultKind]struct {
		wantStatus int
		wantType   string
		ran        bool
	}{
		FaultThrottle:     {429, "", false},
		FaultServiceError: {500, "", false},
		FaultCrashBefore:  {0, "Runtime.ExitError", false},
		FaultCrashAfter:   {0, "Runtime.ExitError", true},
	}
	for kind, tc := range tests {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			t.Parallel()
			var ran bool
			s := New(func(string) (awslambda.Handler, error) {
				return awslambda.NewHandler(func() error { ran = true; return nil }), nil
			}, func(o *Options) {
				o.Fault = func(context.Context, string, []byte) FaultKind { return kind }
			})
			t.Cleanup(s.Close)
			resp, err := s.Invoke(context.Background(), "f", []byte(`{}`))
			if tc.wantStatus != 0 {
				var api interface{ HTTPStatus() int }
				if !errors.As(err, &api) || api.HTTPStatus() != tc.wantStatus {
					t.Fatalf("got %v, want HTTP %d", err, tc.wantStatus)
				}
			} else if err != nil || !strings.Contains(string(resp.Payload), tc.wantType) {
				t.Fatalf("got %v %s, want %s", err, resp.Payload, tc.wantType)
			}
			if ran != tc.ran {
				t.Errorf("handler ran: got %v, want %v", ran, tc.ran)
			}
		})
	}
}

func TestFunctionName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"runtask": "runtask", "runtask:$LATEST": "runtask",
		"arn:aws:lambda:us-east-1:000000000000:function:runtask":      "runtask",
		"arn:aws:lambda:us-east-1:000000000000:function:runtask:live": "runtask",
		"000000000000:function:runtask":                               "runtask",
	} {
		if got := FunctionName(in); got != want {
			t.Errorf("FunctionName(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestInvokeAsyncRetriesFunctionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failures  int
		wantCalls int64
	}{
		{"succeeds first time", 0, 1},
		{"fails once then succeeds", 1, 2},
		{"fails always: two retries", 9, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			s := New(func(string) (awslambda.Handler, error) {
				return awslambda.NewHandler(func() error {
					if calls.Add(1) <= int64(tc.failures) {
						return &ThrottledError{Msg: "not yet"}
					}
					return nil
				}), nil
			}, func(o *Options) { o.Clock, o.NoAsyncDisorder = clock.NewScaled(time.Now(), 100000), true }) // a minute is 0.6 ms
			if err := s.InvokeAsync(context.Background(), "f", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			s.bg.Wait()
			s.Close()
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("got %d runs, want %d", got, tc.wantCalls)
			}
		})
	}
	s := New(func(string) (awslambda.Handler, error) { return nil, errors.New("none") })
	t.Cleanup(s.Close)
	var nf interface{ HTTPStatus() int }
	if err := s.InvokeAsync(context.Background(), "nope", nil); !errors.As(err, &nf) || nf.HTTPStatus() != 404 {
		t.Errorf("unknown function: got %v, want 404", err)
	}
}

// TestInvokeAsyncOnFailureDestination: an event that still fails after the
// retries goes to the function's on-failure queue as Lambda's destination
// record (a failed send is tried again); a function without one only logs.
func TestInvokeAsyncOnFailureDestination(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sent []string
	sends := 0
	s := New(func(string) (awslambda.Handler, error) {
		return awslambda.NewHandler(func() error { return &ThrottledError{Msg: "SlotDeferred"} }), nil
	}, func(o *Options) {
		o.Clock, o.NoAsyncDisorder = clock.NewScaled(time.Now(), 100000), true
		o.OnFailure = map[string]string{"retry": "http://127.0.0.1/000000000000/dlq"}
		o.SendToQueue = func(_ context.Context, q, body string) error {
			mu.Lock()
			defer mu.Unlock()
			if sends++; sends == 1 {
				return errors.New("queue unavailable")
			}
			sent = append(sent, q+" "+body)
			return nil
		}
	})
	for _, fn := range []string{"retry", "other"} {
		if err := s.InvokeAsync(context.Background(), fn, []byte(`{"detail-type":"ECS Task State Change"}`)); err != nil {
			t.Fatal(err)
		}
	}
	s.bg.Wait()
	s.Close()
	if len(sent) != 1 {
		t.Fatalf("got %d destination records, want 1 (retry's; other has no destination)", len(sent))
	}
	q, body, _ := strings.Cut(sent[0], " ")
	var rec struct {
		RequestContext struct {
			FunctionARN            string `json:"functionArn"`
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload  map[string]any `json:"requestPayload"`
		ResponsePayload struct {
			ErrorType string `json:"errorType"`
		} `json:"responsePayload"`
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	if q != "http://127.0.0.1/000000000000/dlq" || rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestContext.ApproximateInvokeCount != 3 ||
		!strings.Contains(rec.RequestContext.FunctionARN, ":function:retry") || rec.RequestPayload["detail-type"] != "ECS Task State Change" ||
		rec.ResponsePayload.ErrorType != "ThrottledError" {
		t.Errorf("destination record to %s: %s", q, body)
	}
}

// quiet turns off the behaviours a test does not look at.
func quiet(o *Options) { o.NoColdStart, o.NoAsyncDisorder = true, true }

// TestFidelityTimeout follows AWS Lambda Developer Guide: Configure Lambda
// function timeout. Each function has its own timeout; the handler's
// context carries the deadline and is cancelled at it; the invocation
// fails with Sandbox.Timedout, "Task timed out after N.NN seconds"; the
// environment is reset, so the next invocation starts a new one.
func TestFidelityTimeout(t *testing.T) {
	t.Parallel()
	var builds atomic.Int64
	type seen struct {
		left time.Duration
		err  error
	}
	saw := make(chan seen, 4)
	s := New(func(name string) (awslambda.Handler, error) {
		builds.Add(1)
		return awslambda.NewHandler(func(ctx context.Context, in echoIn) (string, error) {
			dl, ok := ctx.Deadline()
			if !ok {
				return "", errors.New("no deadline")
			}
			if in.Mode == "block" {
				<-ctx.Done()
			}
			saw <- seen{time.Until(dl), ctx.Err()}
			return name, nil
		}), nil
	}, quiet, func(o *Options) {
		o.Clock = clock.NewScaled(time.Now(), 100) // 2.5 simulated seconds: 25 ms
		o.Timeouts = map[string]time.Duration{"short": 2500 * time.Millisecond}
	})
	t.Cleanup(s.Close)
	resp, err := s.Invoke(context.Background(), "short", []byte(`{"mode":"block"}`))
	if err != nil {
		t.Fatal(err)
	}
	var doc funcError
	if err := json.Unmarshal(resp.Payload, &doc); err != nil || resp.FunctionError != "Unhandled" || doc.Type != "Sandbox.Timedout" ||
		doc.Message != fmt.Sprintf("RequestId: %s Error: Task timed out after 2.50 seconds", resp.RequestID) {
		t.Fatalf("got %q %s, want Sandbox.Timedout after 2.50 seconds", resp.FunctionError, resp.Payload)
	}
	if got := <-saw; !errors.Is(got.err, context.DeadlineExceeded) || got.left > 0 {
		t.Errorf("handler's context at the timeout: %+v, want deadline exceeded", got)
	}
	if _, err := s.Invoke(context.Background(), "short", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := <-saw; got.left <= 0 || got.left > 25*time.Millisecond {
		t.Errorf("a new invocation's remaining time: %v, want (0, 25 ms] (2.5 s at k = 100)", got.left)
	}
	if got := builds.Load(); got != 2 {
		t.Errorf("environments built: %d, want 2 (the timed-out one is not reused)", got)
	}
	if _, err := s.Invoke(context.Background(), "long", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := <-saw; got.left < 8*time.Second {
		t.Errorf("a function without its own timeout: %v left, want the default 900 s / 100", got.left)
	}
}

// TestFidelityServiceErrors follows AWS Lambda API Reference: Invoke
// (Errors): each service-side failure answers its own status and error
// code, which the SDK turns into its own exception type (and Step
// Functions into Lambda.<code>).
func TestFidelityServiceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind   FaultKind
		status int
		as     func(error) bool
	}{
		{FaultServiceError, 500, func(err error) bool { var e *types.ServiceException; return errors.As(err, &e) }},
		{FaultResourceNotReady, 502, func(err error) bool { var e *types.ResourceNotReadyException; return errors.As(err, &e) }},
		{FaultEC2Throttled, 502, func(err error) bool { var e *types.EC2ThrottledException; return errors.As(err, &e) }},
		{FaultEC2Unexpected, 502, func(err error) bool { var e *types.EC2UnexpectedException; return errors.As(err, &e) }},
		{FaultENILimitReached, 502, func(err error) bool { var e *types.ENILimitReachedException; return errors.As(err, &e) }},
		{FaultSubnetIPAddressLimitReached, 502, func(err error) bool { var e *types.SubnetIPAddressLimitReachedException; return errors.As(err, &e) }},
		{FaultThrottle, 429, func(err error) bool { var e *types.TooManyRequestsException; return errors.As(err, &e) }},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.kind), func(t *testing.T) {
			t.Parallel()
			var ran atomic.Bool
			s := New(func(string) (awslambda.Handler, error) {
				return awslambda.NewHandler(func() error { ran.Store(true); return nil }), nil
			}, quiet, func(o *Options) { o.Fault = func(context.Context, string, []byte) FaultKind { return tc.kind } })
			t.Cleanup(s.Close)
			_, err := newClient(t, s).Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String("f")})
			var api interface{ HTTPStatusCode() int }
			if !tc.as(err) || !errors.As(err, &api) || api.HTTPStatusCode() != tc.status {
				t.Fatalf("got %v, want the SDK's exception type with HTTP %d", err, tc.status)
			}
			if ran.Load() {
				t.Error("the handler ran")
			}
		})
	}
}

// TestFidelityUnreservedFloor follows AWS Lambda Developer Guide:
// Configuring reserved concurrency for a function, and AWS Lambda API
// Reference: PutFunctionConcurrency. Reservations must leave 100
// concurrent executions unreserved; one that leaves fewer is refused with
// InvalidParameterValueException; 0 stops every invocation.
func TestFidelityUnreservedFloor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		limit    int
		floor    *int
		reserved map[string]int
		wantErr  bool
	}{
		{"the stack's 120 of 1000", 1000, nil, map[string]int{"runtask": 100, "retry": 20}, false},
		{"900 of 1000 leaves exactly 100", 1000, nil, map[string]int{"runtask": 900}, false},
		{"901 of 1000", 1000, nil, map[string]int{"runtask": 900, "retry": 1}, true},
		{"the stack's 120 of 200", 200, nil, map[string]int{"runtask": 100, "retry": 20}, true},
		{"floor off", 200, new(int), map[string]int{"runtask": 100, "retry": 20}, false},
	}
	for _, tc := range tests {
		_, err := Create(testResolver(nil, nil), quiet, func(o *Options) {
			o.Concurrency, o.Reserved = tc.limit, tc.reserved
			if tc.floor != nil {
				o.UnreservedMin = tc.floor
			}
		})
		var ipv interface{ ErrorCode() string }
		if got := err != nil; got != tc.wantErr || (err != nil && (!errors.As(err, &ipv) || ipv.ErrorCode() != "InvalidParameterValueException")) {
			t.Errorf("%s: got %v, want error %v (InvalidParameterValueException)", tc.name, err, tc.wantErr)
		}
	}

	s := New(testResolver(nil, nil), quiet)
	t.Cleanup(s.Close)
	c := newClient(t, s)
	put := func(n int32) error {
		_, err := c.PutFunctionConcurrency(context.Background(), &awsl.PutFunctionConcurrencyInput{FunctionName: aws.String("work"), ReservedConcurrentExecutions: aws.Int32(n)})
		return err
	}
	var ipv *types.InvalidParameterValueException
	if err := put(901); !errors.As(err, &ipv) {
		t.Errorf("PutFunctionConcurrency 901 of 1000: got %v, want InvalidParameterValueException", err)
	}
	if err := put(0); err != nil {
		t.Fatalf("PutFunctionConcurrency 0: %v", err)
	}
	var tm *types.TooManyRequestsException
	if _, err := c.Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String("work"), Payload: []byte(`{}`)}); !errors.As(err, &tm) ||
		tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Errorf("invoke with 0 reserved: got %v, want TooManyRequestsException (ReservedFunctionConcurrentInvocationLimitExceeded)", err)
	}
	if err := put(900); err != nil {
		t.Fatalf("PutFunctionConcurrency 900: %v", err)
	}
	if _, err := c.Invoke(context.Background(), &awsl.InvokeInput{FunctionName: aws.String("work"), Payload: []byte(`{}`)}); err != nil {
		t.Errorf("invoke with 900 reserved: %v", err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.PutFunctionConcurrency(context.Background(), &awsl.PutFunctionConcurrencyInput{FunctionName: aws.String("nope"), ReservedConcurrentExecutions: aws.Int32(1)}); !errors.As(err, &nf) {
		t.Errorf("unknown function: got %v, want ResourceNotFoundException", err)
	}
}

// TestFidelityColdStart follows AWS Lambda Developer Guide: Understanding
// the Lambda execution environment lifecycle. The first invocation on a
// new environment waits for its initialisation; the next one on the same
// environment does not.
func TestFidelityColdStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opt       func(*Options)
		wantColds int64
		minFirst  time.Duration
	}{
		{"on by default", func(*Options) {}, 1, 100 * time.Millisecond},
		{"configured", func(o *Options) { o.ColdStartMin, o.ColdStartMax = time.Second, 2*time.Second }, 1, time.Second},
		{"off", func(o *Options) { o.NoColdStart = true }, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewScaled(time.Now(), 100)
			var started atomic.Int64 // simulated unix nanoseconds at the handler's start
			s := New(func(string) (awslambda.Handler, error) {
				return awslambda.NewHandler(func() error { started.Store(clk.Now().UnixNano()); return nil }), nil
			}, func(o *Options) { o.Clock, o.NoAsyncDisorder = clk, true }, tc.opt)
			t.Cleanup(s.Close)
			for i := range 2 {
				before := clk.Now()
				if _, err := s.Invoke(context.Background(), "f", []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				if waited := time.Duration(started.Load() - before.UnixNano()); i == 0 && waited < tc.minFirst {
					t.Errorf("first invocation started after %v, want at least %v", waited, tc.minFirst)
				}
			}
			if got := s.Stats().ColdStarts; got != tc.wantColds {
				t.Errorf("cold starts over two invocations in a row: %d, want %d", got, tc.wantColds)
			}
		})
	}
}

// asyncRecorder is a function that records the payloads it runs.
type asyncRecorder struct {
	mu   sync.Mutex
	runs []string
	at   []time.Time
}

func (r *asyncRecorder) resolver(clk *clock.Scaled, fail bool) Resolver {
	return func(string) (awslambda.Handler, error) {
		return awslambda.NewHandler(func(in json.RawMessage) error {
			r.mu.Lock()
			r.runs, r.at = append(r.runs, string(in)), append(r.at, clk.Now())
			r.mu.Unlock()
			if fail {
				return &ThrottledError{Msg: "not now"}
			}
			return nil
		}), nil
	}
}

// TestFidelityAsyncAtLeastOnce follows AWS Lambda Developer Guide:
// Invoking a Lambda function asynchronously — the event queue may deliver
// an event more than once and in no particular order.
func TestFidelityAsyncAtLeastOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opt         func(*Options)
		wantRuns    int
		wantInOrder bool
	}{
		{"duplicates", func(o *Options) { o.AsyncDuplicates, o.AsyncDelayMax = 1, time.Millisecond }, 40, false},
		{"reordered, each once", func(o *Options) { o.AsyncDuplicates, o.AsyncDelayMax = 1e-9, 10*time.Second }, 20, false},
		{"off", func(o *Options) { o.NoAsyncDisorder = true }, 20, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewScaled(time.Now(), 1000)
			var r asyncRecorder
			s := New(r.resolver(clk, false), func(o *Options) { o.Clock, o.NoColdStart, o.Seed = clk, true, 7 }, tc.opt)
			var sent []string
			for i := range 20 {
				sent = append(sent, fmt.Sprintf(`{"n":%d}`, i))
				if err := s.InvokeAsync(context.Background(), "f", []byte(sent[i])); err != nil {
					t.Fatal(err)
				}
				if tc.wantInOrder {
					s.bg.Wait() // one at a time: the order is the sender's
				}
			}
			s.bg.Wait()
			s.Close()
			if len(r.runs) != tc.wantRuns {
				t.Errorf("runs: %d, want %d", len(r.runs), tc.wantRuns)
			}
			for _, p := range sent {
				if !slices.Contains(r.runs, p) {
					t.Errorf("event %s never ran", p)
				}
			}
			if got := slices.Equal(r.runs, sent); !tc.wantInOrder && got {
				t.Errorf("20 events ran in the order sent, want the queue's disorder")
			}
		})
	}
}

// TestFidelityAsyncRetryDelays follows AWS Lambda Developer Guide: How
// Lambda handles errors and retries with asynchronous invocation — after a
// function error, two retries, at least one minute and then two minutes
// later.
func TestFidelityAsyncRetryDelays(t *testing.T) {
	t.Parallel()
	clk := clock.NewScaled(time.Now(), 100000)
	var r asyncRecorder
	s := New(r.resolver(clk, true), quiet, func(o *Options) { o.Clock = clk })
	if err := s.InvokeAsync(context.Background(), "f", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	s.bg.Wait()
	s.Close()
	if len(r.at) != 3 {
		t.Fatalf("runs: %d, want 3", len(r.at))
	}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute} {
		if gap := r.at[i+1].Sub(r.at[i]); gap < want {
			t.Errorf("retry %d came %v after the run before, want at least %v", i+1, gap, want)
		}
	}
}

// TestFidelityAsyncMaxEventAge follows AWS Lambda Developer Guide:
// Configuring error handling for asynchronous invocation and Capturing
// records of Lambda asynchronous invocations — an event still queued
// (throttled) past its maximum age is discarded to the on-failure
// destination with condition EventAgeExceeded.
func TestFidelityAsyncMaxEventAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		age       time.Duration
		fault     FaultKind
		wantRuns  int
		condition string
	}{
		{"throttled past the function's age", 10 * time.Minute, FaultThrottle, 0, "EventAgeExceeded"},
		{"failing to start past the default age", 0, FaultResourceNotReady, 0, "EventAgeExceeded"},
		{"failing within the age", time.Hour, FaultNone, 3, "RetriesExhausted"},
		{"age cuts the retries short", 2 * time.Minute, FaultNone, 2, "EventAgeExceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewScaled(time.Now(), 1e4) // a minute is 6 ms; 6 h is 2.2 s
			var r asyncRecorder
			sent := make(chan string, 2)
			s := New(r.resolver(clk, true), quiet, func(o *Options) {
				o.Clock = clk
				if tc.age > 0 {
					o.MaxEventAges = map[string]time.Duration{"f": tc.age}
				}
				o.Fault = func(context.Context, string, []byte) FaultKind { return tc.fault }
				o.OnFailure = map[string]string{"f": "dlq"}
				o.SendToQueue = func(_ context.Context, _, body string) error { sent <- body; return nil }
			})
			if err := s.InvokeAsync(context.Background(), "f", []byte(`{"k":1}`)); err != nil {
				t.Fatal(err)
			}
			s.bg.Wait()
			s.Close()
			var rec destinationRecord
			if err := json.Unmarshal([]byte(<-sent), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.RequestContext.Condition != tc.condition || rec.RequestContext.ApproximateInvokeCount != tc.wantRuns ||
				len(r.runs) != tc.wantRuns || string(rec.RequestPayload) != `{"k":1}` || (tc.wantRuns == 0) != (rec.ResponseContext == nil) {
				t.Errorf("record %+v after %d runs, want %s after %d", rec, len(r.runs), tc.condition, tc.wantRuns)
			}
		})
	}
}

// TestSeededColdStartsRepeat: the same seed draws the same latencies.
func TestSeededColdStartsRepeat(t *testing.T) {
	t.Parallel()
	draw := func(seed uint64) []string {
		s := New(testResolver(nil, nil), func(o *Options) { o.Seed = seed })
		defer s.Close()
		var out []string
		for range 5 {
			out = append(out, strings.TrimSpace(fmt.Sprintf("%.6f", s.float64())))
		}
		return out
	}
	if a, b := draw(3), draw(3); !slices.Equal(a, b) {
		t.Errorf("seed 3 drew %v then %v", a, b)
	}
	if a, b := draw(3), draw(4); slices.Equal(a, b) {
		t.Errorf("seeds 3 and 4 drew the same %v", a)
	}
}
