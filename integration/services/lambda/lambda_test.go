package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
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
