package statemachines

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sfnrunner"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// historyLimit is Step Functions' history quota of a Standard execution
// ("Step Functions service quotas").
const historyLimit = 25000

// loopLambda answers the launch machine's Lambda invokes: one chunk
// launched, then the summary answers waitSeconds 5 as many times as the
// request id says ("w<n>"), then a final summary.
type loopLambda struct {
	mu        sync.Mutex
	summaries map[string]int
}

func (l *loopLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, _ := in["requestId"].(string)
	if req, ok := in["request"].(map[string]any); ok { // plan: {"request", "executionArn"}
		id, _ = req["requestId"].(string)
	}
	var out any
	switch fn := r.URL.Path; {
	case strings.Contains(fn, "plan"):
		out = map[string]any{"requestId": id, "chunks": []int{0}, "chunkCount": 1, "ecsChunks": 1, "ec2Chunks": 0,
			"deadline": "2026-11-23T20:00:00Z", "stall": map[string]any{"limit": 2, "waitSeconds": 60}}
	case strings.Contains(fn, "runtask"):
		out = map[string]any{"status": "launched", "launched": 10, "missing": 0}
	case strings.Contains(fn, "summary"):
		l.mu.Lock()
		l.summaries[id]++
		n := l.summaries[id]
		l.mu.Unlock()
		var waits int
		fmt.Sscanf(id, "w%d", &waits)
		s := map[string]any{"requestId": id, "requested": 10, "launched": 10, "reasons": map[string]int{}, "status": "SUCCEEDED"}
		if n <= waits {
			s = map[string]any{"requestId": id, "requested": 10, "launched": 10, "reasons": map[string]int{}, "waitSeconds": 5}
		}
		out = s
	default:
		http.Error(w, "unknown function "+fn, http.StatusNotFound)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// historyRecorder keeps each execution's reported events.
type historyRecorder struct {
	mu     sync.Mutex
	events map[string][]sfnrunner.Event
	done   map[string]chan sfnrunner.Result
}

func (h *historyRecorder) ch(arn string) chan sfnrunner.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done[arn] == nil {
		h.done[arn] = make(chan sfnrunner.Result, 1)
	}
	return h.done[arn]
}

func (h *historyRecorder) Event(arn string, e sfnrunner.Event) {
	h.mu.Lock()
	h.events[arn] = append(h.events[arn], e)
	h.mu.Unlock()
}

func (h *historyRecorder) Done(arn string, r sfnrunner.Result) { h.ch(arn) <- r }

// awsEvents is the length of the history AWS keeps for what the runner
// reported: its events, TaskScheduled, TaskStarted and TaskSucceeded per
// Task state entered (the local Step Functions service adds TaskScheduled;
// AWS records a Lambda task's start and success too: "AWS Step Functions
// API Reference: HistoryEvent"), ExecutionStarted and the end.
func awsEvents(events []sfnrunner.Event) int {
	n := len(events) + 2
	for _, e := range events {
		if e.Type == "TaskStateEntered" {
			n += 3
		}
	}
	return n
}

// The waiting loop fits the history quota at the longest deadline: a
// real loop of the launch machine (Summary → RelaunchesPending →
// WaitForRelaunches) is counted in the local runner, from two executions
// that differ only in their number of loops, and applied to the number of
// checks launch.WaitInterval makes over 7 days — with no timeouts, and
// with an attempt's timeout due before every check (the most checks).
func TestWaitingHistoryAtMaxDeadline(t *testing.T) {
	t.Parallel()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("node missing (node_modules not installed; CI runs make deps first): %v", err)
	}
	srv := httptest.NewServer(&loopLambda{summaries: map[string]int{}})
	t.Cleanup(srv.Close)
	rec := &historyRecorder{events: map[string][]sfnrunner.Event{}, done: map[string]chan sfnrunner.Result{}}
	r, err := sfnrunner.Start(context.Background(), rec, sfnrunner.Options{Endpoint: srv.URL, TimeScale: 1000, Stderr: os.Stderr, HistoryLimit: historyLimit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	def, err := Load(Launch, LocalSubstitutions("us-east-1", "bus"))
	if err != nil {
		t.Fatal(err)
	}
	const machine = "arn:aws:states:us-east-1:000000000000:stateMachine:launch"
	if err := r.Define(context.Background(), machine, def, false); err != nil {
		t.Fatal(err)
	}
	const few, many = 3, 13
	count := map[int]int{}
	for _, waits := range []int{few, many} {
		arn := fmt.Sprintf("%s:w%d", strings.Replace(machine, "stateMachine", "execution", 1), waits)
		if err := r.StartExecution(arn, machine, json.RawMessage(fmt.Sprintf(`{"requestId": "w%d"}`, waits)), sfnrunner.ContextObject{}); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-rec.ch(arn):
			if res.Status != "SUCCEEDED" {
				t.Fatalf("%d waits: %s %s (%s)", waits, res.Status, res.Error, res.Cause)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%d waits: the execution did not end", waits)
		}
		rec.mu.Lock()
		count[waits] = awsEvents(rec.events[arn])
		rec.mu.Unlock()
	}
	perLoop := (count[many] - count[few]) / (many - few)
	if perLoop*(many-few) != count[many]-count[few] || perLoop != 9 {
		t.Fatalf("histories of %d and %d events for %d and %d waits: %d events a loop, want 9 (a Task, a Choice, a Wait)", count[few], count[many], few, many, perLoop)
	}
	base := count[few] - few*perLoop
	for _, next := range []time.Duration{0, time.Nanosecond} {
		checks := launch.WaitLoops(launch.MaxDeadline, next)
		total := base + perLoop*(checks-1)
		t.Logf("7 days, next timeout %v: %d checks, %d history events (%d a loop, %d besides)", next, checks, total, perLoop, base)
		if total >= historyLimit {
			t.Errorf("7 days, next timeout %v: %d checks make %d history events, over the %d quota", next, checks, total, historyLimit)
		}
	}
}
