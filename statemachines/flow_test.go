package statemachines

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

// answer is one scripted Lambda answer: a payload, or an error name (the
// errorType) with its cause.
type answer struct {
	Payload any    `json:"payload,omitempty"`
	Error   string `json:"error,omitempty"`
	Cause   string `json:"cause,omitempty"`
}

type call struct {
	State   string         `json:"state"`
	Fn      string         `json:"fn"`
	Payload map[string]any `json:"payload"`
}

type flowResult struct {
	Status  string         `json:"status"`
	Output  any            `json:"output"`
	Error   string         `json:"error"`
	Cause   string         `json:"cause"`
	Calls   []call         `json:"calls"`
	Entered map[string]int `json:"entered"`
}

func (r flowResult) callsTo(state string) []map[string]any {
	var out []map[string]any
	for _, c := range r.Calls {
		if c.State == state {
			out = append(out, c.Payload)
		}
	}
	return out
}

// flowJob is one scripted run: keys of script are "<function>" or
// "<function>#<chunk>".
type flowJob struct {
	Input  any                 `json:"input"`
	Script map[string][]answer `json:"script"`
}

// runFlows executes the launch machine in aws-local-stepfunctions (the
// engine of the local runner) once per job, with scripted Lambda answers
// and timers 1000× faster, all in one Node process.
func runFlows(t *testing.T, jobs []flowJob) []flowResult {
	t.Helper()
	node, err := testenv.NodeBin("node")
	if err != nil {
		t.Skipf("node missing (node_modules not installed; CI runs make deps first): %v", err)
	}
	def, err := Load(Launch, LocalSubstitutions("us-east-1", "bus"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(map[string]any{"definition": json.RawMessage(def), "jobs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(testenv.RepoRoot(), "statemachines", "testdata", "flow.mjs"))
	cmd.Dir = testenv.RepoRoot()
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("flow.mjs: %v\n%s", err, stderr.String())
	}
	var rs []flowResult
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != len(jobs) {
		t.Fatalf("flow.mjs output %q: %v (want %d results)", out, err, len(jobs))
	}
	return rs
}

func ok(p any) answer { return answer{Payload: p} }

func plan(chunks ...int) answer {
	return ok(map[string]any{"requestId": "r1", "chunks": chunks, "chunkCount": len(chunks),
		"ecsChunks": len(chunks), "ec2Chunks": 0, "deadline": "2026-11-23T20:00:00Z",
		"stall": map[string]any{"limit": 2, "waitSeconds": 60}})
}

var (
	launched = ok(map[string]any{"status": "launched", "launched": 10, "missing": 0})
	summary  = ok(map[string]any{"requestId": "r1", "requested": 20, "launched": 20, "failed": 0, "deadLettered": 0, "reasons": map[string]int{}})
	classed  = ok(map[string]any{"class": "throttled", "code": "ThrottlingException", "retryable": true})
	// heldSlot is a deferred answer's slot (pkg/limiter's JSON), as the
	// state machine passes it on: opaque to it.
	heldSlot = map[string]any{"at": "2026-11-23T19:00:03.4Z", "waitSeconds": 3.4, "binding": "ecs:FargateTasks",
		"positions": []any{map[string]any{"bucket": "ecs:FargateTasks", "end": 130.0, "n": 10.0, "epoch": 2.0, "at": "2026-11-23T19:00:03.4Z"}}}
	// retimedSlot is heldSlot after a decrease moved it (Recheck).
	retimedSlot = map[string]any{"at": "2026-11-23T19:00:09Z", "waitSeconds": 5.6, "binding": "ecs:FargateTasks",
		"positions": []any{map[string]any{"bucket": "ecs:FargateTasks", "end": 130.0, "n": 10.0, "epoch": 3.0, "at": "2026-11-23T19:00:09Z"}}}
)

func retryAnswer(action string, wait float64, attempt int, reuse bool, exclude []string) answer {
	return ok(map[string]any{"action": action, "waitSeconds": wait, "attempt": attempt, "reuseToken": reuse, "exclude": exclude, "reason": "r"})
}

func TestLaunchFlow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script map[string][]answer
		check  func(t *testing.T, r flowResult)
	}{
		{
			name:   "happy path costs three transitions per chunk",
			script: map[string][]answer{"plan": {plan(0, 1)}, "runtask": {launched}, "summary": {summary}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				perChunk := r.Entered["RunTask"] + r.Entered["Outcome"] + r.Entered["ChunkDone"]
				if got := perChunk / 2; got != 3 || len(r.Calls) != 4 {
					t.Errorf("got %d transitions per chunk and %d calls, want 3 and 4 (%v)", got, len(r.Calls), r.Entered)
				}
				if got := r.Output.(map[string]any)["launched"]; got != 20.0 {
					t.Errorf("output launched = %v, want the summary's 20", got)
				}
				want := map[string]any{"requestId": "r1", "chunk": 0.0, "attempt": 1.0, "reuseToken": false, "exclude": []any{}}
				if got := r.callsTo("RunTask"); !containsPayload(got, want) {
					t.Errorf("runtask inputs %v, want one equal to %v", got, want)
				}
			},
		},
		{
			name: "deferred waits then runs with the held slot",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary},
				"runtask": {ok(map[string]any{"status": "deferred", "launched": 0, "missing": 10, "waitSeconds": 3, "slotAt": "2026-11-23T19:00:03Z", "slot": heldSlot}), launched}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				at := r.callsTo("RunTaskAtSlot")
				if len(at) != 1 || !reflect.DeepEqual(at[0]["slot"], heldSlot) || at[0]["slotAt"] != nil || at[0]["attempt"] != 1.0 {
					t.Errorf("RunTaskAtSlot inputs %v, want one with the held slot (and no slotAt) at attempt 1", at)
				}
				if r.Entered["WaitForSlot"] != 1 || r.Entered["Classify"] != 0 {
					t.Errorf("entered %v, want one WaitForSlot and no Classify", r.Entered)
				}
			},
		},
		{
			name: "a slot re-timed on waking is deferred again and passed on",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary},
				"runtask": {ok(map[string]any{"status": "deferred", "launched": 0, "missing": 10, "waitSeconds": 3, "slot": heldSlot}),
					ok(map[string]any{"status": "deferred", "launched": 0, "missing": 10, "waitSeconds": 5, "slot": retimedSlot}), launched}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				at := r.callsTo("RunTaskAtSlot")
				if len(at) != 2 || !reflect.DeepEqual(at[0]["slot"], heldSlot) || !reflect.DeepEqual(at[1]["slot"], retimedSlot) {
					t.Errorf("RunTaskAtSlot inputs %v, want the held slot, then the re-timed one", at)
				}
				if r.Entered["WaitForSlot"] != 2 || r.Entered["Classify"] != 0 {
					t.Errorf("entered %v, want two WaitForSlot and no Classify", r.Entered)
				}
			},
		},
		{
			name: "partial goes through classify and retry to the next attempt",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary}, "classify": {classed},
				"runtask": {ok(map[string]any{"status": "partial", "launched": 6, "missing": 4, "failures": []any{map[string]any{"reason": "RESOURCE:ENI", "detail": "x"}}}), launched},
				"retry":   {retryAnswer("failover", 2, 2, false, []string{"subnet-a"})}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				if c := r.callsTo("Classify"); len(c) != 1 || c[0]["status"] != "partial" || c[0]["failures"] == nil {
					t.Errorf("classify inputs %v, want the partial output with failures", c)
				}
				rt := r.callsTo("Retry")
				if len(rt) != 1 || rt[0]["attempt"] != 1.0 || rt[0]["classification"].(map[string]any)["class"] != "throttled" || !reflect.DeepEqual(rt[0]["exclude"], []any{}) {
					t.Errorf("retry inputs %v, want attempt 1 with the classification and the current exclude list", rt)
				}
				runs := r.callsTo("RunTask")
				want := map[string]any{"requestId": "r1", "chunk": 0.0, "attempt": 2.0, "reuseToken": false, "exclude": []any{"subnet-a"}}
				if len(runs) != 2 || !reflect.DeepEqual(runs[1], want) {
					t.Errorf("runtask inputs %v, want the second to be %v", runs, want)
				}
				if r.Entered["Backoff"] != 1 {
					t.Errorf("entered %v, want one Backoff", r.Entered)
				}
			},
		},
		{
			name: "a caught error with no wait reruns at once with the same token",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary}, "classify": {classed},
				"runtask": {{Error: "TransientError", Cause: `{"errorMessage":"lost","errorType":"TransientError"}`}, launched},
				"retry":   {retryAnswer("retry", 0, 1, true, nil)}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				if c := r.callsTo("Classify"); len(c) != 1 || c[0]["Error"] != "TransientError" || c[0]["Cause"] == nil {
					t.Errorf("classify inputs %v, want the Catch's {Error, Cause}", c)
				}
				runs := r.callsTo("RunTask")
				if len(runs) != 2 || runs[1]["reuseToken"] != true || runs[1]["attempt"] != 1.0 {
					t.Errorf("runtask inputs %v, want a second call reusing attempt 1's token", runs)
				}
				if r.Entered["Backoff"] != 0 {
					t.Errorf("entered %v, want no Backoff for a zero wait", r.Entered)
				}
			},
		},
		{
			name: "give up ends the chunk and the request is still summarised",
			script: map[string][]answer{"plan": {plan(0, 1)}, "summary": {summary}, "classify": {classed},
				"runtask#0": {launched}, "runtask#1": {{Error: "QuotaError", Cause: "vcpu"}},
				"retry": {retryAnswer("giveup", 0, 1, false, nil)}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				if r.Entered["ChunkGaveUp"] != 1 || r.Entered["Summary"] != 1 {
					t.Errorf("entered %v, want one ChunkGaveUp and a Summary", r.Entered)
				}
			},
		},
		{
			name: "Lambda service errors are retried natively with the same input",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary},
				"runtask": {{Error: "Lambda.ServiceException", Cause: "503"}, launched}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				runs := r.callsTo("RunTask")
				if len(runs) != 2 || !reflect.DeepEqual(runs[0], runs[1]) || r.Entered["Classify"] != 0 {
					t.Errorf("runtask inputs %v, entered %v: want two identical calls and no classify", runs, r.Entered)
				}
			},
		},
		{
			name: "a crash or timeout of plan, classify, retry and summary is retried natively",
			script: map[string][]answer{
				"plan":     {{Error: "Runtime.ExitError", Cause: `{"errorType":"Runtime.ExitError"}`}, plan(0)},
				"runtask":  {{Error: "ThrottledError", Cause: "x"}, launched},
				"classify": {{Error: "Sandbox.Timedout", Cause: "timed out"}, {Error: "Lambda.Unknown", Cause: "?"}, classed},
				"retry":    {{Error: "States.Timeout", Cause: ""}, retryAnswer("retry", 0, 2, false, nil)},
				"summary":  {{Error: "Runtime.ExitError", Cause: "crash"}, summary}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				for state, n := range map[string]int{"Plan": 2, "Classify": 3, "Retry": 2, "Summary": 2} {
					if got := len(r.callsTo(state)); got != n {
						t.Errorf("%s called %d times, want %d (crash retried with the same input)", state, got, n)
					}
				}
			},
		},
		{
			name: "a DynamoDB outage of retry and summary is waited out natively",
			script: map[string][]answer{"plan": {plan(0)}, "classify": {classed},
				"runtask": {{Error: "ThrottledError", Cause: "x"}, launched},
				"retry": {{Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"},
					{Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"},
					retryAnswer("retry", 0, 2, false, nil)},
				"summary": {{Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"},
					{Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"}, {Error: "TransientError", Cause: "ddb"}, summary}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				if n := len(r.callsTo("Retry")); n != 7 {
					t.Errorf("retry called %d times, want 7", n)
				}
			},
		},
		{
			name:   "a rejected request fails with plan's error and launches nothing",
			script: map[string][]answer{"plan": {{Error: "PermanentError", Cause: `{"errorMessage":"ecs.count: must be in [1, 100000]","errorType":"PermanentError"}`}}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "FAILED")
				if r.Error != "PermanentError" || len(r.callsTo("RunTask")) != 0 || r.Entered["Plan"] != 1 {
					t.Errorf("got error %q cause %q after %v, want PermanentError from one Plan and no runtask", r.Error, r.Cause, r.Entered)
				}
			},
		},
		{
			// Retry failing past its native retries used to fail the chunk,
			// hence the Map Run and every other chunk with it.
			name: "a chunk whose retry keeps failing stalls within its budget, ends, and the others still launch",
			script: map[string][]answer{"plan": {plan(0, 1)}, "summary": {summary}, "classify": {classed},
				"runtask#0": {launched}, "runtask#1": {{Error: "ThrottledError", Cause: "x"}},
				"retry": {{Error: "PermanentError", Cause: "retry: table gone"}}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				// limit 2: two stalls wait and ask again, the third ends the chunk.
				want := map[string]int{"Stalled": 3, "StallWait": 2, "ChunkStalled": 1, "ChunkDone": 1, "Summary": 1}
				for st, n := range want {
					if r.Entered[st] != n {
						t.Errorf("entered %s %d times, want %d (entered %v)", st, r.Entered[st], n, r.Entered)
					}
				}
				if n := len(r.callsTo("Retry")); n != 3 {
					t.Errorf("retry called %d times, want 3 (once a stall)", n)
				}
			},
		},
		{
			name: "a stall waits and asks classify and retry again with the same input",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary},
				"classify": {{Error: "PermanentError", Cause: "bad input"}, classed},
				"runtask":  {{Error: "ThrottledError", Cause: "x"}, launched},
				"retry":    {{Error: "Lambda.Unknown", Cause: "?"}, {Error: "Lambda.Unknown", Cause: "?"}, {Error: "Lambda.Unknown", Cause: "?"}, {Error: "Lambda.Unknown", Cause: "?"}, {Error: "Lambda.Unknown", Cause: "?"}, {Error: "Lambda.Unknown", Cause: "?"}, {Error: "Lambda.Unknown", Cause: "?"}, retryAnswer("retry", 0, 2, false, nil)}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				if r.Entered["Stalled"] != 2 || r.Entered["StallWait"] != 2 || r.Entered["ChunkDone"] != 1 || r.Entered["ChunkStalled"] != 0 {
					t.Errorf("entered %v, want two stalls (classify, then retry past its 6 native retries), then ChunkDone", r.Entered)
				}
				c := r.callsTo("Classify")
				if len(c) != 3 || !reflect.DeepEqual(c[0], c[2]) {
					t.Errorf("classify inputs %v, want the same runtask answer three times", c)
				}
				if rt := r.callsTo("Retry"); len(rt) != 8 || !reflect.DeepEqual(rt[0], rt[7]) {
					t.Errorf("retry inputs %v, want 8 identical calls", rt)
				}
				if runs := r.callsTo("RunTask"); len(runs) != 2 || runs[1]["attempt"] != 2.0 {
					t.Errorf("runtask inputs %v, want attempt 2 after the stalls", runs)
				}
			},
		},
		{
			name: "the stall budget comes from the plan",
			script: map[string][]answer{"summary": {summary}, "classify": {classed},
				"plan": {ok(map[string]any{"requestId": "r1", "chunks": []int{0}, "chunkCount": 1, "ecsChunks": 1, "ec2Chunks": 0,
					"deadline": "2026-11-23T20:00:00Z", "stall": map[string]any{"limit": 0, "waitSeconds": 60}})},
				"runtask": {{Error: "ThrottledError", Cause: "x"}},
				"retry":   {{Error: "PermanentError", Cause: "gone"}}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				if r.Entered["Stalled"] != 1 || r.Entered["StallWait"] != 0 || r.Entered["ChunkStalled"] != 1 {
					t.Errorf("entered %v, want one stall ending the chunk at once (limit 0)", r.Entered)
				}
			},
		},
		{
			name: "an unknown runtask status is classified, not dropped",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary}, "classify": {classed},
				"runtask": {ok(map[string]any{"status": "weird"})},
				"retry":   {retryAnswer("giveup", 0, 0, false, nil)}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				if r.Entered["Classify"] != 1 || r.Entered["ChunkGaveUp"] != 1 {
					t.Errorf("entered %v, want Classify then ChunkGaveUp", r.Entered)
				}
			},
		},
		{
			// Relaunches still queued when the Map ends (chaos seed 111):
			// summary answers waitSeconds, the machine waits and asks again;
			// only the answer without it is final (and is the output).
			name: "pending relaunches are waited for before the final summary",
			script: map[string][]answer{"plan": {plan(0, 1)}, "runtask": {launched},
				"summary": {
					ok(map[string]any{"requestId": "r1", "requested": 20, "launched": 19, "pendingRelaunches": 1, "waitSeconds": 30, "reasons": map[string]int{}}),
					ok(map[string]any{"requestId": "r1", "requested": 20, "launched": 19, "pendingRelaunches": 1, "waitSeconds": 30, "reasons": map[string]int{}}),
					ok(map[string]any{"requestId": "r1", "requested": 20, "launched": 19, "failed": 1, "deadLettered": 1, "pendingRelaunches": 0, "reasons": map[string]int{"relaunch: deadline": 1}}),
				}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "SUCCEEDED")
				calls := r.callsTo("Summary")
				if len(calls) != 3 || r.Entered["WaitForRelaunches"] != 2 || r.Entered["RelaunchesPending"] != 3 {
					t.Fatalf("summary called %d times, entered %v; want 3 calls and 2 waits", len(calls), r.Entered)
				}
				for _, c := range calls {
					if want := map[string]any{"requestId": "r1", "waitForRelaunches": true}; !reflect.DeepEqual(c, want) {
						t.Errorf("summary input %v, want %v", c, want)
					}
				}
				out := r.Output.(map[string]any)
				if out["failed"] != 1.0 || out["waitSeconds"] != nil {
					t.Errorf("output %v, want the final summary (failed 1, no waitSeconds)", out)
				}
			},
		},
		{
			// Wait.SecondsPath takes whole seconds only, on AWS as here: the
			// handlers round their delays up (see README.md).
			name: "a fractional waitSeconds is a runtime error",
			script: map[string][]answer{"plan": {plan(0)}, "summary": {summary},
				"runtask": {ok(map[string]any{"status": "deferred", "launched": 0, "missing": 10, "waitSeconds": 2.5, "slot": heldSlot})}},
			check: func(t *testing.T, r flowResult) {
				wantStatus(t, r, "FAILED")
				if r.Error != "States.Runtime" {
					t.Errorf("got error %q (%s), want States.Runtime", r.Error, r.Cause)
				}
			},
		},
	}
	jobs := make([]flowJob, len(tests))
	for i, tt := range tests {
		jobs[i] = flowJob{Input: map[string]any{"requestId": "r1"}, Script: tt.script}
	}
	results := runFlows(t, jobs)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, results[i]) })
	}
}

// The final summary's status decides the execution's: FAILED fails it with
// the summary's error and cause (Fail's ErrorPath / CausePath), after the
// waiting loop; a summary without a status (a reporting-only answer)
// succeeds as before.
func TestLaunchFlowFinalStatus(t *testing.T) {
	t.Parallel()
	final := func(status, errName, cause string) answer {
		s := map[string]any{"requestId": "r1", "requested": 10, "launched": 10, "reasons": map[string]int{},
			"counts": map[string]int{"SUCCEEDED": 9, "FAILED": 1}}
		for k, v := range map[string]string{"status": status, "error": errName, "cause": cause} {
			if v != "" {
				s[k] = v
			}
		}
		return ok(s)
	}
	waiting := ok(map[string]any{"requestId": "r1", "requested": 10, "launched": 10, "waitSeconds": 5, "reasons": map[string]int{}})
	cause := `{"requestId":"r1","counts":{"FAILED":1,"SUCCEEDED":9},"firstReasons":[{"index":3,"status":"FAILED","reason":"exit code 1"}]}`
	tests := []struct {
		name                         string
		summary                      []answer
		status, wantError, wantCause string
	}{
		{"tasks failed", []answer{waiting, waiting, final("FAILED", "TasksFailed", cause)}, "FAILED", "TasksFailed", cause},
		{"launch incomplete", []answer{final("FAILED", "LaunchIncomplete", cause)}, "FAILED", "LaunchIncomplete", cause},
		{"succeeded", []answer{waiting, final("SUCCEEDED", "", "")}, "SUCCEEDED", "", ""},
		{"no status", []answer{summary}, "SUCCEEDED", "", ""},
	}
	jobs := make([]flowJob, len(tests))
	for i, tt := range tests {
		jobs[i] = flowJob{Input: map[string]any{"requestId": "r1"},
			Script: map[string][]answer{"plan": {plan(0)}, "runtask": {launched}, "summary": tt.summary}}
	}
	results := runFlows(t, jobs)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := results[i]
			wantStatus(t, r, tt.status)
			if r.Error != tt.wantError || r.Cause != tt.wantCause {
				t.Errorf("error %q cause %q, want %q %q", r.Error, r.Cause, tt.wantError, tt.wantCause)
			}
			if n := len(r.callsTo("Summary")); n != len(tt.summary) || r.Entered["WaitForRelaunches"] != n-1 {
				t.Errorf("%d summaries, entered %v; want %d, each but the last followed by a wait", n, r.Entered, len(tt.summary))
			}
		})
	}
}

func wantStatus(t *testing.T, r flowResult, want string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("got status %s (%s: %s), want %s; entered %v", r.Status, r.Error, r.Cause, want, r.Entered)
	}
}

func containsPayload(got []map[string]any, want map[string]any) bool {
	for _, g := range got {
		if reflect.DeepEqual(g, want) {
			return true
		}
	}
	return false
}
