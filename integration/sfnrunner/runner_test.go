package sfnrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a Listener that keeps everything and signals ends.
type recorder struct {
	mu     sync.Mutex
	events map[string][]Event
	done   map[string]chan Result
}

func newRecorder() *recorder {
	return &recorder{events: map[string][]Event{}, done: map[string]chan Result{}}
}

func (r *recorder) ch(arn string) chan Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.done[arn]
	if !ok {
		c = make(chan Result, 1)
		r.done[arn] = c
	}
	return c
}

func (r *recorder) Event(arn string, e Event) {
	r.mu.Lock()
	r.events[arn] = append(r.events[arn], e)
	r.mu.Unlock()
}

func (r *recorder) Done(arn string, res Result) { r.ch(arn) <- res }

func (r *recorder) wait(t *testing.T, arn string) Result {
	t.Helper()
	select {
	case res := <-r.ch(arn):
		return res
	case <-time.After(20 * time.Second):
		t.Fatalf("execution %s did not end", arn)
		return Result{}
	}
}

// lambdaStub answers Lambda Invoke with the input echoed under "echo", or
// with a function error when the payload asks for one.
func lambdaStub() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		switch {
		case in["fail"] != nil:
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = w.Write([]byte(`{"errorMessage":"slow down","errorType":"ThrottledError"}`))
		case in["throttle"] != nil:
			w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"Reason":"ConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`))
		case in["big"] != nil:
			_, _ = w.Write([]byte(`{"blob":"` + strings.Repeat("x", 300*1024) + `"}`))
		default:
			out, _ := json.Marshal(map[string]any{"echo": in, "path": r.URL.Path})
			_, _ = w.Write(out)
		}
	}))
}

var runSeq atomic.Int64

// shared is the one runner (k = 1000) and Lambda stub the tests share:
// starting Node and importing the library is the slow part.
var shared struct {
	once sync.Once
	r    *Runner
	rec  *recorder
	srv  *httptest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.r != nil {
		_ = shared.r.Close()
		shared.srv.Close()
	}
	os.Exit(code)
}

func startRunner(t *testing.T) (*Runner, *recorder) {
	t.Helper()
	shared.once.Do(func() {
		shared.srv = lambdaStub()
		shared.rec = newRecorder()
		shared.r, shared.err = Start(context.Background(), shared.rec, Options{Endpoint: shared.srv.URL, TimeScale: 1000, Stderr: os.Stderr})
	})
	if shared.err != nil {
		t.Skipf("runner unavailable (run make deps): %v", shared.err)
	}
	return shared.r, shared.rec
}

const machine = `{
  "StartAt": "Pick",
  "States": {
    "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.mode", "StringEquals": "wait", "Next": "Hold"}], "Default": "Call"},
    "Hold": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "Call"},
    "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:work", "Payload.$": "$"},
             "ResultSelector": {"out.$": "$.Payload", "code.$": "$.StatusCode"},
             "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 1}],
             "Catch": [{"ErrorEquals": ["ThrottledError"], "ResultPath": "$.error", "Next": "Caught"}],
             "End": true},
    "Caught": {"Type": "Pass", "End": true}
  }
}`

func TestRunnerExecutes(t *testing.T) {
	t.Parallel()
	r, rec := startRunner(t)
	ctx := context.Background()
	if err := r.Define(ctx, "sm", json.RawMessage(machine), false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		input      string
		wantStatus string
		check      func(t *testing.T, res Result)
	}{
		{"lambda invoke unwraps Payload", `{"mode":"go","n":1}`, "SUCCEEDED", func(t *testing.T, res Result) {
			var out struct {
				Out  map[string]any `json:"out"`
				Code int            `json:"code"`
			}
			if err := json.Unmarshal(res.Output, &out); err != nil {
				t.Fatal(err)
			}
			if got, want := out.Out["path"], "/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:work/invocations"; got != want {
				t.Errorf("path: got %v, want %v", got, want)
			}
			if out.Code != 200 || out.Out["echo"].(map[string]any)["n"] != 1.0 {
				t.Errorf("got %s, want the echoed payload and StatusCode 200", res.Output)
			}
		}},
		{"function error caught by errorType with the Lambda error document as Cause", `{"mode":"go","fail":true}`, "SUCCEEDED", func(t *testing.T, res Result) {
			var out struct{ Error struct{ Error, Cause string } }
			_ = json.Unmarshal(res.Output, &out)
			if out.Error.Error != "ThrottledError" || out.Error.Cause != `{"errorMessage":"slow down","errorType":"ThrottledError"}` {
				t.Errorf("got %+v", out.Error)
			}
		}},
		{"429 retried then fails with Lambda.TooManyRequestsException", `{"mode":"go","throttle":true}`, "FAILED", func(t *testing.T, res Result) {
			if res.Error != "Lambda.TooManyRequestsException" || !strings.Contains(res.Cause, "Status Code: 429; Error Code: TooManyRequestsException") {
				t.Errorf("got %q %q", res.Error, res.Cause)
			}
		}},
		{"oversized task output", `{"mode":"go","big":true}`, "FAILED", func(t *testing.T, res Result) {
			if res.Error != "States.DataLimitExceeded" {
				t.Errorf("got error %q, want States.DataLimitExceeded", res.Error)
			}
		}},
		{"wait scaled by k", `{"mode":"wait","seconds":100}`, "SUCCEEDED", nil},
	}
	run := runSeq.Add(1) // execution ARNs stay unique when the test runs again (-count)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arn := fmt.Sprintf("exec-%d:%s", run, tc.name)
			begin := time.Now()
			if err := r.StartExecution(arn, "sm", json.RawMessage(tc.input), ContextObject{}); err != nil {
				t.Fatal(err)
			}
			res := rec.wait(t, arn)
			if res.Status != tc.wantStatus {
				t.Fatalf("status: got %s (%s %s), want %s", res.Status, res.Error, res.Cause, tc.wantStatus)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
			// 100 simulated seconds at k = 1000 take 0.1 s; unscaled they would take 100 s.
			if d := time.Since(begin); d > 10*time.Second {
				t.Errorf("took %v: timers not scaled", d)
			}
		})
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var retries int
	for _, e := range rec.events[fmt.Sprintf("exec-%d:429 retried then fails with Lambda.TooManyRequestsException", run)] {
		if e.Retry {
			retries++
		}
	}
	if retries != 1 {
		t.Errorf("got %d retries of the throttled call, want 1", retries)
	}
}

func TestRunnerRejectsInvalidDefinition(t *testing.T) {
	t.Parallel()
	r, _ := startRunner(t)
	err := r.Define(context.Background(), "bad", json.RawMessage(`{"StartAt":"Nowhere","States":{"A":{"Type":"Pass","End":true}}}`), true)
	if err == nil {
		t.Fatal("got nil error for a definition whose StartAt names no state")
	}
}

func TestRunnerStop(t *testing.T) {
	t.Parallel()
	r, rec := startRunner(t)
	def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`
	if err := r.Define(context.Background(), "w", json.RawMessage(def), false); err != nil {
		t.Fatal(err)
	}
	if err := r.StartExecution("stop-e1", "w", json.RawMessage(`{}`), ContextObject{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop("stop-e1"); err != nil {
		t.Fatal(err)
	}
	if got := rec.wait(t, "stop-e1"); got.Status != "ABORTED" {
		t.Fatalf("got %s, want ABORTED", got.Status)
	}
}

func TestRunnerExecutionTimeout(t *testing.T) {
	t.Parallel()
	// 60 simulated seconds at k = 1000 are 60 ms.
	r, rec := startRunner(t)
	def := `{"TimeoutSeconds":60,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`
	if err := r.Define(context.Background(), "t", json.RawMessage(def), false); err != nil {
		t.Fatal(err)
	}
	if err := r.StartExecution("timeout-e", "t", json.RawMessage(`{}`), ContextObject{}); err != nil {
		t.Fatal(err)
	}
	if got := rec.wait(t, "timeout-e"); got.Status != "TIMED_OUT" || got.Error != "States.Timeout" {
		t.Fatalf("got %+v, want TIMED_OUT with States.Timeout", got)
	}
}
