package cli

import (
	"context"
	"encoding/json"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// local is a running local AWS and the environment throttlectl reads for
// it (the export lines of go run ./integration/cmd/awslocal).
type local struct {
	stack *awslocal.Stack
	env   Env
}

// startLocal starts the local AWS for t at 20× real time and stops it when
// t ends.
func startLocal(t *testing.T, cfg sim.Config) *local {
	t.Helper()
	return startLocalWith(t, awslocal.Options{Sim: cfg})
}

// startLocalWith is startLocal with more of the stack's options (o's time
// scale is set).
func startLocalWith(t *testing.T, o awslocal.Options) *local {
	t.Helper()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("needs the Node tools (make deps): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// 10× real time: a function's 30 s timeout is then 3 s of the shared
	// machine, which a busy dynalite does not reach (at 20× an invocation
	// that timed out after its call left it unrecorded, and a cancelled
	// request's table then trailed the ledger for good).
	o.TimeScale = 10
	stack, err := awslocal.Start(ctx, o)
	if err != nil {
		t.Fatalf("awslocal.Start: %v", err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	vars := stack.Env()
	return &local{stack: stack, env: Env{Getenv: func(k string) string { return vars[k] }, Clock: stack.Clock}}
}

func (l *local) run(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, l.env, args...)
}

// writeRequest writes a Fargate request for count tasks to a file.
func writeRequest(t *testing.T, id string, count int, edit func(*launch.Request)) string {
	t.Helper()
	r := launch.Request{RequestID: id, ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:1", Count: count, LaunchType: "FARGATE",
		NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a"}}}}}
	if edit != nil {
		edit(&r)
	}
	b, _ := json.Marshal(r)
	path := filepath.Join(t.TempDir(), id+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// decodeAll decodes the JSON documents of a --watch output.
func decodeAll[T any](t *testing.T, out string) []T {
	t.Helper()
	var all []T
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("output is not JSON documents: %v\n%s", err, out)
		}
		all = append(all, v)
	}
	return all
}

// waitDone watches a request until its execution ends and returns the
// last status.
func (l *local) waitDone(t *testing.T, id string) Status {
	t.Helper()
	var r result
	deadline := time.Now().Add(60 * time.Second)
	for { // a LaunchRequested event reaches its execution asynchronously
		r = l.run(t, "status", "--watch", "--interval", "100ms", id)
		if r.code == ExitOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.code != ExitOK {
		t.Fatalf("status --watch %s: exit %d: %s", id, r.code, r.stderr)
	}
	all := decodeAll[Status](t, r.stdout)
	return all[len(all)-1]
}

// ledgerIDs are the tasks the simulator really launched for a request and
// that did not fail to start.
func (l *local) ledgerIDs(id string) []string {
	var ids []string
	for _, e := range l.stack.Sim.Ledger().For(launch.RequestHash(id)) {
		if !e.FailedToStart {
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// unsettledChunks are the chunks of request id whose attempt is still
// "sent": its call may have launched, but the invocation ended (on this
// shared machine, a Lambda timeout) before it recorded the answer.
func (l *local) unsettledChunks(t *testing.T, id string) map[int]bool {
	t.Helper()
	app := &App{Env: l.env.fill()}
	p, err := app.product(t.Context(), names{}, needTable)
	if err != nil {
		t.Fatal(err)
	}
	chunks, _, err := p.store().Chunks(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for _, c := range chunks {
		if _, ok := c.Unsettled(); ok {
			out[c.Index] = true
		}
	}
	return out
}

func TestSubmitAndStatusLocal(t *testing.T) {
	t.Parallel()
	l := startLocal(t, sim.Config{})
	file := writeRequest(t, "cli-submit", 25, nil)

	r := l.run(t, "submit", file)
	if r.code != ExitOK {
		t.Fatalf("submit: exit %d: %s", r.code, r.stderr)
	}
	var res struct {
		RequestID, ExecutionName, ExecutionArn string
		AlreadySubmitted                       bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.ExecutionName != "cli-submit" || res.AlreadySubmitted ||
		!strings.HasSuffix(res.ExecutionArn, ":execution:launch:cli-submit") {
		t.Fatalf("submit output %s (%v): want execution cli-submit, not already submitted", r.stdout, err)
	}

	st := l.waitDone(t, "cli-submit")
	if st.Execution != "SUCCEEDED" || st.Requested != 25 || st.Launched != 25 || st.Pending != 0 || st.Chunks != (Chunks{Total: 3, Launched: 3}) {
		t.Errorf("status %+v: want SUCCEEDED, 25/25 launched in 3 chunks", st)
	}
	if want := l.ledgerIDs("cli-submit"); !slices.Equal(st.IDs, want) {
		t.Errorf("status lists %d IDs, the simulator launched %d: %v vs %v", len(st.IDs), len(want), st.IDs, want)
	}
	// The limiter's state of the buckets the request drew on: 3 calls of
	// up to 10 Fargate tasks each, at the configured rates, no decrease.
	byBucket := map[string]limiter.BucketStatus{}
	for _, b := range st.Limiter {
		byBucket[b.Bucket] = b
	}
	if b := byBucket[limiter.ECSRunTask]; b.ConfiguredRate != 40 || b.Rate != 40 || b.Epoch != 0 || b.LastSignal != "" {
		t.Errorf("limiter status of %s: %+v; want rate 40 of 40, epoch 0, no decrease (all: %+v)", limiter.ECSRunTask, b, st.Limiter)
	}

	// invoke runs the real summary handler against the local table and bus.
	r = run(t, Env{Getenv: l.env.Getenv, Stdin: strings.NewReader(`{"requestId":"cli-submit"}`)}, "invoke", "summary", "-")
	var sum launch.Summary
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &sum) != nil || sum.Launched != 25 || sum.Requested != 25 {
		t.Errorf("invoke summary: exit %d, stdout %s, stderr %s: want 25 of 25 launched", r.code, r.stdout, r.stderr)
	}

	r = l.run(t, "submit", file)
	if r.code != ExitOK || !strings.Contains(r.stdout, `"alreadySubmitted": true`) {
		t.Errorf("second submit: exit %d, stdout %s: want alreadySubmitted", r.code, r.stdout)
	}
	r = l.run(t, "--output", "table", "status", "cli-submit")
	for _, want := range []string{"execution      SUCCEEDED", "limiter        ecs:FargateTasks: 20 of 20 per s, epoch 0", "progress       25/25 launched (100.0 %)", "chunks         3: 3 launched, 0 in progress, 0 dead-lettered, 0 not started", "… 15 more"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table status lacks %q:\n%s", want, r.stdout)
		}
	}
	other := writeRequest(t, "cli-submit", 30, nil)
	if r := l.run(t, "submit", other); r.code != ExitFailure || !strings.Contains(r.stderr, "already submitted with a different request") {
		t.Errorf("a different request under a used id: exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestSubmitViaEventsLocal(t *testing.T) {
	t.Parallel()
	l := startLocal(t, sim.Config{})
	r := l.run(t, "submit", "--via-events", writeRequest(t, "cli-events", 12, nil))
	if r.code != ExitOK || !strings.Contains(r.stdout, `"eventBus": "throttle-handler"`) || !strings.Contains(r.stdout, `"eventId"`) {
		t.Fatalf("submit --via-events: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
	st := l.waitDone(t, "cli-events")
	if st.Execution != "SUCCEEDED" || st.Launched != 12 || len(l.ledgerIDs("cli-events")) != 12 {
		t.Errorf("status %+v, ledger %d: want the event's request launched, 12 tasks", st, len(l.ledgerIDs("cli-events")))
	}
}

func TestCancelLocal(t *testing.T) {
	t.Parallel()
	// 10 tasks per simulated second: 300 tasks take 30 s, cancel comes first.
	l := startLocal(t, sim.Config{Buckets: map[string]sim.Bucket{sim.BucketFargateTasks: {Burst: 10, Rate: 10}}})
	if r := l.run(t, "submit", writeRequest(t, "cli-cancel", 300, nil)); r.code != ExitOK {
		t.Fatalf("submit: %s", r.stderr)
	}
	// Cancel once the table records a launch: the simulator's ledger leads
	// the table by the runtask invocation still writing its result.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := l.run(t, "status", "cli-cancel")
		var st Status
		if r.code == ExitOK && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Launched > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing launched in 30 s: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := l.run(t, "cancel", "cli-cancel")
	var res struct {
		Stopped             bool
		Execution           string
		Launched, Requested int
	}
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &res) != nil || !res.Stopped || res.Execution != "ABORTED" || res.Launched == 0 || res.Launched >= 300 {
		t.Fatalf("cancel: exit %d, stdout %s, stderr %s: want stopped, ABORTED, some but not all launched", r.code, r.stdout, r.stderr)
	}
	// What was launched stays reported: the table and the ledger agree
	// once the invocations in flight at the stop have answered.
	var st Status
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		st = l.waitDone(t, "cli-cancel")
		if len(st.IDs) == len(l.ledgerIDs("cli-cancel")) {
			break
		}
	}
	// A task the table lacks must belong to a chunk whose call has an
	// unknown outcome: its invocation timed out after the call, and the
	// cancelled execution will not replay it (cancel --stop-launched finds
	// such tasks by their startedBy). Read in this order — the ledger, the
	// unsettled chunks, the status — a task an invocation launches or
	// settles between the reads is in one of them.
	launched := l.stack.Sim.Ledger().For(launch.RequestHash("cli-cancel"))
	unsettled := l.unsettledChunks(t, "cli-cancel")
	st = l.waitDone(t, "cli-cancel")
	for _, e := range launched {
		if !e.FailedToStart && !slices.Contains(st.IDs, e.ID) && !unsettled[e.Chunk] {
			t.Errorf("task %s (chunk %d) launched but neither recorded nor of a chunk with an unknown outcome", e.ID, e.Chunk)
		}
	}
	ledger := l.ledgerIDs("cli-cancel")
	for _, id := range st.IDs {
		if !slices.Contains(ledger, id) {
			t.Errorf("table id %s not in the ledger", id)
		}
	}
	if st.Execution != "ABORTED" || st.Launched == 0 || st.Launched+st.Pending != 300 {
		t.Errorf("after cancel: %s launched %d pending %d, %d IDs vs %d in the ledger", st.Execution, st.Launched, st.Pending, len(st.IDs), len(ledger))
	}
	if len(st.IDs) != len(ledger) {
		t.Logf("%d tasks of chunks with an unknown outcome (%v) are not in the table", len(ledger)-len(st.IDs), unsettled)
	}
	if r := l.run(t, "cancel", "cli-cancel"); r.code != ExitOK || !strings.Contains(r.stdout, `"stopped": false`) || !strings.Contains(r.stdout, "already ended ABORTED") {
		t.Errorf("second cancel: exit %d, stdout %s", r.code, r.stdout)
	}
	if r := l.run(t, "cancel", "never-submitted"); r.code != ExitFailure || !strings.Contains(r.stderr, "no execution") {
		t.Errorf("cancel of an unknown request: exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestRedriveLocal(t *testing.T) {
	t.Parallel()
	// subnet-a holds 5 running Fargate tasks: 15 of 20 fail for capacity
	// until the attempts run out and are dead-lettered.
	l := startLocal(t, sim.Config{Capacity: sim.Capacity{FargateSubnets: map[string]int{"subnet-a": 5}}})
	file := writeRequest(t, "cli-redrive", 20, func(r *launch.Request) { r.MaxAttempts = 2 })
	if r := l.run(t, "submit", file); r.code != ExitOK {
		t.Fatalf("submit: %s", r.stderr)
	}
	st := l.waitDone(t, "cli-redrive")
	if st.DeadLettered == 0 || st.Launched+st.DeadLettered != 20 || len(st.Reasons) == 0 {
		t.Fatalf("first run: %+v: want some units dead-lettered with reasons, the rest launched", st)
	}
	l.stack.Sim.SetCapacity(sim.Capacity{}) // the capacity came back

	r := l.run(t, "redrive", "cli-redrive")
	var res struct {
		RedriveRequestID string `json:"redriveRequestId"`
		Redriven         int
		AlreadySubmitted bool
	}
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &res) != nil || res.RedriveRequestID != "cli-redrive.redrive" || res.Redriven != st.DeadLettered || res.AlreadySubmitted {
		t.Fatalf("redrive: exit %d, stdout %s, stderr %s: want %d units redriven as cli-redrive.redrive", r.code, r.stdout, r.stderr, st.DeadLettered)
	}
	re := l.waitDone(t, "cli-redrive.redrive")
	if re.Execution != "SUCCEEDED" || re.Launched != st.DeadLettered || re.DeadLettered != 0 {
		t.Errorf("redrive run: %+v: want the %d dead-lettered units launched", re, st.DeadLettered)
	}
	// Fresh tokens: the redrive's launches carry its own identity.
	for _, e := range l.stack.Sim.Ledger().For(launch.RequestHash("cli-redrive.redrive")) {
		if strings.Contains(e.ClientToken, launch.ClientToken("cli-redrive", 0, 1)[:27]) {
			t.Errorf("redrive launch %s reuses the original's token %s", e.ID, e.ClientToken)
		}
	}
	if r := l.run(t, "redrive", "cli-redrive"); r.code != ExitOK || !strings.Contains(r.stdout, `"alreadySubmitted": true`) {
		t.Errorf("second redrive: exit %d, stdout %s: want already submitted (once)", r.code, r.stdout)
	}
	if r := l.run(t, "redrive", "cli-redrive.redrive"); r.code != ExitFailure || !strings.Contains(r.stderr, "itself a redrive") {
		t.Errorf("redrive of a redrive: exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestProductErrors(t *testing.T) {
	t.Parallel()
	bad := writeRequest(t, "bad", 0, nil)
	good := writeRequest(t, "good", 5, nil)
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"invalid request":   {[]string{"submit", bad}, ExitFailure, "ecs.count: must be 1..100000, got 0"},
		"no state machine":  {[]string{"submit", good}, ExitFailure, "set TH_STATE_MACHINE_ARN or pass --state-machine-arn (the deployed stack's output StateMachineArn"},
		"no bus":            {[]string{"submit", "--via-events", good}, ExitFailure, "set TH_EVENT_BUS_NAME or pass --event-bus"},
		"no table":          {[]string{"status", "r1"}, ExitFailure, "set TH_TABLE_NAME or pass --table"},
		"cancel no machine": {[]string{"cancel", "--table", "t", "r1"}, ExitFailure, "TH_STATE_MACHINE_ARN"},
		"status no id":      {[]string{"status"}, ExitUsage, "status: want <requestId>, got 0"},
		"submit no file":    {[]string{"submit", "no/such.json"}, ExitUsage, "submit: request no/such.json"},
		"redrive a redrive": {[]string{"redrive", "r1.redrive"}, ExitFailure, "itself a redrive"},
		"bad interval":      {[]string{"status", "--interval", "0s", "r1"}, ExitUsage, "--interval: must be > 0"},
		"demo moved":        {[]string{"demo", "--tasks", "40"}, ExitUsage, "the local demo is `make demo` (go run ./integration/cmd/demo)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(t, Env{}, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
}

func TestCommandHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"submit", "status", "cancel", "redrive"} {
		r := run(t, Env{}, cmd, "-h")
		if r.code != ExitOK || !strings.Contains(r.stdout, "usage: throttlectl "+cmd) || !strings.Contains(r.stdout, "-endpoint-url") {
			t.Errorf("%s -h: exit %d, stdout %q", cmd, r.code, r.stdout)
		}
	}
}
