package sfnrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// startOwnRunner starts a runner with options of its own (the shared one
// keeps the defaults), closed when the test ends.
func startOwnRunner(t *testing.T, o Options) (*Runner, *recorder) {
	t.Helper()
	startRunner(t) // the Lambda stub
	rec := newRecorder()
	o.Endpoint, o.Stderr = shared.srv.URL, os.Stderr
	if o.TimeScale == 0 {
		o.TimeScale = 1000
	}
	r, err := Start(context.Background(), rec, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, rec
}

func define(t *testing.T, r *Runner, arn, def string) {
	t.Helper()
	if err := r.Define(context.Background(), arn, json.RawMessage(def), false); err != nil {
		t.Fatal(err)
	}
}

func execute(t *testing.T, r *Runner, rec *recorder, machine, input string) (string, Result) {
	t.Helper()
	arn := fmt.Sprintf("exec-%d:%s", runSeq.Add(1), machine)
	if err := r.StartExecution(arn, machine, json.RawMessage(input), ContextObject{}); err != nil {
		t.Fatal(err)
	}
	return arn, rec.wait(t, arn)
}

// A Choice on '$' must read a falsy input (0, false, null) as the value it
// is: the library's JSONPath answered "Path expression '$' does not point
// to a value" (States.Runtime) for them.
func TestRunnerChoiceOnFalsyInput(t *testing.T) {
	t.Parallel()
	r, rec := startRunner(t)
	kind := `{"Type": "Choice", "Choices": [
      {"Variable": "$", "IsNull": true, "Next": "Null"},
      {"Variable": "$", "IsBoolean": true, "Next": "Bool"},
      {"Variable": "$", "NumericEquals": 0, "Next": "Zero"}], "Default": "Other"}`
	leaves := `"Null": {"Type": "Pass", "Result": "null", "End": true},
    "Bool": {"Type": "Pass", "Result": "bool", "End": true},
    "Zero": {"Type": "Pass", "Result": "zero", "End": true},
    "Other": {"Type": "Pass", "Result": "other", "End": true}`
	define(t, r, "falsy", `{"StartAt": "Kind", "States": {"Kind": `+kind+`, `+leaves+`}}`)
	define(t, r, "falsy-map", `{"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items",
      "ItemProcessor": {"StartAt": "Kind", "States": {"Kind": `+kind+`, `+leaves+`}}, "End": true}}}`)
	tests := []struct{ machine, input, want string }{
		{"falsy", `0`, `"zero"`},
		{"falsy", `null`, `"null"`},
		{"falsy", `false`, `"bool"`},
		{"falsy", `7`, `"other"`},
		{"falsy-map", `{"items":[0,3,0,null]}`, `["zero","other","zero","null"]`},
	}
	for _, tc := range tests {
		t.Run(tc.machine+" "+tc.input, func(t *testing.T) {
			_, res := execute(t, r, rec, tc.machine, tc.input)
			if res.Status != "SUCCEEDED" || string(res.Output) != tc.want {
				t.Errorf("got %s %s (%s: %s), want SUCCEEDED %s", res.Status, res.Output, res.Error, res.Cause, tc.want)
			}
		})
	}
}

// threePasses is a Map whose items each take three Pass states.
func threePasses(mode string) string {
	return `{"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items",
    "ItemProcessor": {"ProcessorConfig": {"Mode": "` + mode + `"}, "StartAt": "P1", "States": {
      "P1": {"Type": "Pass", "Next": "P2"}, "P2": {"Type": "Pass", "Next": "P3"}, "P3": {"Type": "Pass", "End": true}}},
    "End": true}}}`
}

// Fidelity: "Step Functions service quotas" and "Step Functions Developer
// Guide: Avoid reaching the history quota" — unless the last of its 25,000
// events (here 60) is ExecutionSucceeded, an execution that reaches the
// quota fails with "The execution reached the maximum number of history
// events"; a DISTRIBUTED Map's
// children have histories of their own ("Step Functions Developer Guide:
// Using Map state in Distributed mode"), an INLINE Map's iterations count
// in the parent's.
func TestRunnerHistoryLimit(t *testing.T) {
	t.Parallel()
	r, rec := startOwnRunner(t, Options{HistoryLimit: 60})
	define(t, r, "loop", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}`)
	define(t, r, "inline", threePasses("INLINE"))
	define(t, r, "distributed", threePasses("DISTRIBUTED"))
	items := `{"items":[1,2,3,4,5,6,7,8,9,10]}`
	tests := []struct {
		machine, input, wantStatus, wantError string
	}{
		{"loop", `{}`, "FAILED", "States.Runtime"},
		{"inline", items, "FAILED", "States.Runtime"},
		{"distributed", items, "SUCCEEDED", ""},
	}
	for _, tc := range tests {
		t.Run(tc.machine, func(t *testing.T) {
			arn, res := execute(t, r, rec, tc.machine, tc.input)
			if res.Status != tc.wantStatus || res.Error != tc.wantError {
				t.Fatalf("got %s %s (%s), want %s %s", res.Status, res.Error, res.Cause, tc.wantStatus, tc.wantError)
			}
			rec.mu.Lock()
			n := len(rec.events[arn])
			rec.mu.Unlock()
			// ExecutionStarted and the end event are Go's: 58 reported at most.
			if n > 58 {
				t.Errorf("history of %d events beyond the limit of 60", n+2)
			}
		})
	}
}

// Fidelity: the option that keeps the former behaviour — a DISTRIBUTED Map
// run inline fails with its item's own error, where Map Runs fail it with
// States.ExceedToleratedFailureThreshold ("Step Functions Developer Guide:
// Setting failure thresholds for Distributed Map states in Step Functions").
func TestRunnerInlineDistributedMapOption(t *testing.T) {
	t.Parallel()
	def := `{"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items",
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "Check", "States": {
      "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Bad"}], "Default": "Good"},
      "Bad": {"Type": "Fail", "Error": "ItemFailed", "Cause": "item 2"},
      "Good": {"Type": "Pass", "End": true}}},
    "End": true}}}`
	tests := []struct {
		name      string
		inline    bool
		wantError string
	}{
		{"map run", false, "States.ExceedToleratedFailureThreshold"},
		{"inline", true, "ItemFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, rec := startOwnRunner(t, Options{InlineDistributedMap: tc.inline})
			define(t, r, "d", def)
			_, res := execute(t, r, rec, "d", `{"items":[1,2,3]}`)
			if res.Status != "FAILED" || res.Error != tc.wantError {
				t.Errorf("got %s %s (%s), want FAILED %s", res.Status, res.Error, res.Cause, tc.wantError)
			}
		})
	}
}

// mulberry32 is the runner's seeded generator: the lateness the runner
// draws, known in advance.
func mulberry32(seed uint32) func() float64 {
	if seed == 0 {
		seed = 1
	}
	return func() float64 {
		seed += 0x6D2B79F5
		t := seed
		t = (t ^ (t >> 15)) * (t | 1)
		t ^= t + (t^(t>>7))*(t|61)
		return float64(t^(t>>14)) / 4294967296
	}
}

// Fidelity: Wait states end late on AWS ("Step Functions Developer Guide:
// Wait workflow state" gives the time a Wait ends at the earliest); the
// runner adds a seeded lateness of up to WaitLateness, and none when it is 0.
// The runner-made lateness states never show in the history.
func TestRunnerWaitLateness(t *testing.T) {
	t.Parallel()
	const waits, k = 4, 10
	lateness := 2 * time.Second // simulated: at most 200 ms real per Wait
	next := mulberry32(42)
	var want time.Duration
	for range waits {
		want += time.Duration(next() * float64(lateness) / k)
	}
	var states []string
	for i := range waits {
		s := fmt.Sprintf(`"W%d": {"Type": "Wait", "Seconds": 0, "Next": "W%d"}`, i, i+1)
		if i == waits-1 {
			s = fmt.Sprintf(`"W%d": {"Type": "Wait", "Seconds": 0, "End": true}`, i)
		}
		states = append(states, s)
	}
	def := `{"StartAt": "W0", "States": {` + strings.Join(states, ",") + `}}`
	tests := []struct {
		name string
		o    Options
		late bool
	}{
		{"late", Options{TimeScale: k, WaitLateness: lateness, Seed: 42}, true},
		{"on time", Options{TimeScale: k, Seed: 42}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, rec := startOwnRunner(t, tc.o)
			define(t, r, "waits", def)
			begin := time.Now()
			arn, res := execute(t, r, rec, "waits", `{}`)
			took := time.Since(begin)
			if res.Status != "SUCCEEDED" {
				t.Fatalf("got %s %s", res.Status, res.Error)
			}
			if tc.late && took < want {
				t.Errorf("took %v, want at least the %v drawn", took, want)
			}
			if !tc.late && took >= want {
				t.Errorf("took %v without lateness, want under %v", took, want)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, e := range rec.events[arn] {
				if !strings.HasPrefix(e.State, "W") {
					t.Errorf("history has the runner-made state %q", e.State)
				}
			}
			if n := len(rec.events[arn]); n != 2*waits {
				t.Errorf("got %d events, want %d (entered and exited per Wait)", n, 2*waits)
			}
		})
	}
}
