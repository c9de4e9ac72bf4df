package sfnrunner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

// Event is one history event reported by the runner for an execution.
type Event struct {
	Type  string `json:"t"`
	State string `json:"s,omitempty"`
	// Index is the Map iteration the event belongs to, if any.
	Index *int   `json:"i,omitempty"`
	Error string `json:"err,omitempty"`
	Cause string `json:"cause,omitempty"`
	// Retry marks a TaskScheduled event that is a retry of the state.
	Retry bool `json:"retry,omitempty"`
}

// Result is how an execution ended.
type Result struct {
	Status string          `json:"status"` // SUCCEEDED, FAILED, TIMED_OUT, ABORTED
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
}

// MapRun is a DISTRIBUTED Map's Map Run as the runner reports it: once when
// it starts (Status RUNNING) and once when it ends.
type MapRun struct {
	ARN string `json:"arn"`
	// Parent is the execution whose Map state started the run.
	Parent string `json:"parent"`
	State  string `json:"s"`
	// Machine is the ARN the child executions run under (parent machine/Label).
	Machine string `json:"machine"`
	Total   int    `json:"total"`
	// ToleratedPercentage and ToleratedCount are nil when not set.
	ToleratedPercentage *float64 `json:"tp,omitempty"`
	ToleratedCount      *int     `json:"tc,omitempty"`
	MaxConcurrency      int      `json:"mc"`
	Status              string   `json:"status"` // RUNNING, SUCCEEDED, FAILED, ABORTED
}

// Child is a child execution a Map Run starts; it is reported before any of
// its events.
type Child struct {
	ARN     string          `json:"arn"`
	Parent  string          `json:"parent"`
	MapRun  string          `json:"mapRun"`
	Machine string          `json:"machine"`
	Name    string          `json:"name"`
	Input   json.RawMessage `json:"input"`
}

// MapRunListener is a Listener that also follows DISTRIBUTED Maps; a plain
// Listener receives the children's events and ends all the same.
type MapRunListener interface {
	Listener
	MapRun(m MapRun)
	Child(c Child)
}

// Listener receives what the runner reports. Calls for one execution arrive
// in order, from one goroutine; they must not block for long.
type Listener interface {
	Event(execARN string, e Event)
	Done(execARN string, r Result)
}

// Options configures Start.
type Options struct {
	// Endpoint is the local AWS edge the Task states call (required).
	Endpoint string
	// TimeScale is k, simulated seconds per real second (default 1).
	TimeScale float64
	// Region is AWS_REGION for the runner (default us-east-1).
	Region string
	// Stderr receives the runner's diagnostics; nil discards them.
	Stderr io.Writer
	// StartTimeout bounds the wait for the runner to be ready (default 20 s).
	StartTimeout time.Duration

	// InlineDistributedMap runs a DISTRIBUTED Map like an INLINE one (no
	// child executions, no Map Run, no tolerance), as before Map Runs.
	InlineDistributedMap bool
	// HistoryLimit fails an execution whose history reaches that many events
	// with States.Runtime (AWS: 25,000); 0 sets no limit.
	HistoryLimit int
	// WaitLateness is the most a Wait state ends late, in simulated time,
	// drawn uniformly with Seed; 0 ends Wait states on time.
	WaitLateness time.Duration
	Seed         int64
	// IgnoreHeartbeat keeps a .waitForTaskToken task waiting whatever its
	// HeartbeatSeconds (no States.HeartbeatTimeout).
	IgnoreHeartbeat bool
}

// Runner is a running Node runner process. Safe for concurrent use.
type Runner struct {
	cmd      *exec.Cmd
	listener Listener

	wmu   sync.Mutex
	stdin io.WriteCloser

	mu      sync.Mutex
	nextReq int
	replies map[int]chan error

	exited chan struct{}
	err    error // why the process exited, set before exited closes
}

// Script returns the path of runner.mjs in the source tree.
func Script() string {
	return filepath.Join(testenv.RepoRoot(), "integration", "sfnrunner", "runner.mjs")
}

// Start launches the runner and waits until it has imported the library.
// Stop it with Close.
func Start(ctx context.Context, l Listener, o Options) (*Runner, error) {
	if o.Endpoint == "" {
		return nil, errors.New("sfnrunner: Options.Endpoint is required")
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 20 * time.Second
	}
	node, err := testenv.NodeBin("node")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, Script())
	cmd.Dir = filepath.Dir(Script())
	cmd.Env = append(os.Environ(),
		"TH_SFN_ENDPOINT="+o.Endpoint,
		"TH_TIME_SCALE="+strconv.FormatFloat(o.TimeScale, 'g', -1, 64),
		"AWS_REGION="+o.Region,
		"TH_SFN_DISTRIBUTED="+map[bool]string{true: "0", false: "1"}[o.InlineDistributedMap],
		"TH_SFN_HISTORY_LIMIT="+strconv.Itoa(max(0, o.HistoryLimit)),
		"TH_SFN_WAIT_LATE_MS="+strconv.FormatFloat(float64(max(0, o.WaitLateness))/float64(time.Millisecond), 'g', -1, 64),
		"TH_SFN_SEED="+strconv.FormatInt(o.Seed, 10),
		"TH_SFN_HEARTBEAT="+map[bool]string{true: "0", false: "1"}[o.IgnoreHeartbeat],
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sfnrunner: start %s: %w", node, err)
	}
	r := &Runner{cmd: cmd, listener: l, stdin: stdin, replies: map[int]chan error{}, exited: make(chan struct{})}
	ready := make(chan struct{})
	go r.read(stdout, ready)
	select {
	case <-ready:
		return r, nil
	case <-r.exited:
		return nil, fmt.Errorf("sfnrunner: runner exited before ready: %w", r.err)
	case <-time.After(o.StartTimeout):
		r.Close()
		return nil, fmt.Errorf("sfnrunner: runner not ready within %v", o.StartTimeout)
	case <-ctx.Done():
		r.Close()
		return nil, ctx.Err()
	}
}

// message holds the fields common to every line; the rest is decoded into
// Event or Result by kind.
type message struct {
	Ev       string  `json:"ev"`
	ARN      string  `json:"arn"`
	Req      int     `json:"req"`
	ReplyErr *string `json:"error"`
	// Code is the API error code of a failed answer.
	Code string `json:"code"`
}

func (r *Runner) read(stdout io.Reader, ready chan struct{}) {
	br := bufio.NewReaderSize(stdout, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			r.dispatch(line, ready)
		}
		if err != nil {
			break
		}
	}
	werr := r.cmd.Wait()
	if werr == nil {
		werr = errors.New("runner exited")
	}
	r.err = werr
	r.mu.Lock()
	for id, ch := range r.replies {
		ch <- fmt.Errorf("sfnrunner: runner exited: %w", werr)
		delete(r.replies, id)
	}
	r.mu.Unlock()
	close(r.exited)
}

func (r *Runner) dispatch(line []byte, ready chan struct{}) {
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return
	}
	switch m.Ev {
	case "ready":
		close(ready)
	case "reply":
		r.mu.Lock()
		ch := r.replies[m.Req]
		delete(r.replies, m.Req)
		r.mu.Unlock()
		if ch != nil {
			switch {
			case m.ReplyErr != nil && m.Code != "":
				ch <- &TokenError{Code: m.Code, Message: *m.ReplyErr}
			case m.ReplyErr != nil:
				ch <- errors.New(*m.ReplyErr)
			default:
				ch <- nil
			}
		}
	case "h":
		var e Event
		if json.Unmarshal(line, &e) == nil {
			r.listener.Event(m.ARN, e)
		}
	case "done":
		var res Result
		if json.Unmarshal(line, &res) == nil {
			r.listener.Done(m.ARN, res)
		}
	case "maprun", "child":
		r.dispatchMap(m.Ev, line)
	}
}

func (r *Runner) dispatchMap(ev string, line []byte) {
	ml, ok := r.listener.(MapRunListener)
	if !ok {
		return
	}
	if ev == "maprun" {
		var mr MapRun
		if json.Unmarshal(line, &mr) == nil {
			ml.MapRun(mr)
		}
		return
	}
	var c Child
	if json.Unmarshal(line, &c) == nil {
		ml.Child(c)
	}
}

func (r *Runner) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	r.wmu.Lock()
	defer r.wmu.Unlock()
	select {
	case <-r.exited:
		return fmt.Errorf("sfnrunner: runner exited: %w", r.err)
	default:
	}
	_, err = r.stdin.Write(b)
	return err
}

// Define loads (or replaces) a state machine definition under arn. With
// validate, the runner checks it with asl-validator first (about 1 s per
// definition) and an invalid definition returns the validator's error.
func (r *Runner) Define(ctx context.Context, arn string, definition json.RawMessage, validate bool) error {
	return r.request(ctx, map[string]any{"op": "define", "arn": arn, "definition": definition, "validate": validate})
}

// Answer kinds: SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat.
const (
	AnswerSuccess   = "success"
	AnswerFailure   = "failure"
	AnswerHeartbeat = "heartbeat"
)

// Answer is what the Step Functions API received for a task token.
type Answer struct {
	Kind  string
	Token string
	// Output is the task's result (JSON) of a success.
	Output string
	// Error and Cause fail the task (failure).
	Error, Cause string
}

// TokenError is the API error an answer gets: InvalidToken for a token the
// runner did not issue, TaskTimedOut for one whose task has ended.
type TokenError struct{ Code, Message string }

func (e *TokenError) Error() string { return e.Code + ": " + e.Message }

// Answer resumes (success, failure) or keeps alive (heartbeat) the task
// parked on a token; a *TokenError says why it cannot.
func (r *Runner) Answer(ctx context.Context, a Answer) error {
	return r.request(ctx, map[string]any{"op": "answer", "kind": a.Kind, "token": a.Token, "output": a.Output, "error": a.Error, "cause": a.Cause})
}

// request sends msg with a request number and waits for the runner's reply.
func (r *Runner) request(ctx context.Context, msg map[string]any) error {
	ch := make(chan error, 1)
	r.mu.Lock()
	r.nextReq++
	id := r.nextReq
	r.replies[id] = ch
	r.mu.Unlock()
	msg["req"] = id
	if err := r.write(msg); err != nil {
		r.mu.Lock()
		delete(r.replies, id)
		r.mu.Unlock()
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ContextObject is the part of the $$ context object the runner is given.
type ContextObject struct {
	Execution    ContextExecution    `json:"Execution"`
	StateMachine ContextStateMachine `json:"StateMachine"`
}

// ContextExecution is $$.Execution.
type ContextExecution struct {
	ID        string `json:"Id"`
	Name      string `json:"Name"`
	StartTime string `json:"StartTime"`
	RoleArn   string `json:"RoleArn"`
}

// ContextStateMachine is $$.StateMachine.
type ContextStateMachine struct {
	ID   string `json:"Id"`
	Name string `json:"Name"`
}

// StartExecution starts an execution of a defined machine. Its events and
// end arrive on the Listener.
func (r *Runner) StartExecution(execARN, machineARN string, input json.RawMessage, c ContextObject) error {
	return r.write(map[string]any{"op": "start", "arn": execARN, "machine": machineARN, "input": input, "context": c})
}

// Stop aborts a running execution; Done reports ABORTED.
func (r *Runner) Stop(execARN string) error {
	return r.write(map[string]any{"op": "stop", "arn": execARN})
}

// PID returns the runner's process id (its process group id too).
func (r *Runner) PID() int { return r.cmd.Process.Pid }

// Exited is closed when the runner process has exited.
func (r *Runner) Exited() <-chan struct{} { return r.exited }

// Close kills the runner's process group and waits for it to exit.
func (r *Runner) Close() error {
	if r == nil || r.cmd.Process == nil {
		return nil
	}
	select {
	case <-r.exited:
		return nil
	default:
	}
	_ = r.stdin.Close()
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.exited
	return nil
}
