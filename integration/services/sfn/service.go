package sfn

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/integration/sfnrunner"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

const maxPayload = 256 * 1024 // bytes: execution input

// Options configures Start.
type Options struct {
	// Endpoint is the local AWS edge the runner's Task states call (required).
	Endpoint string
	// Clock is the stack's scaled clock; its factor scales the runner's
	// timers (default: factor 1).
	Clock *clock.Scaled
	// Region and Account build ARNs (default us-east-1, 000000000000).
	Region, Account string
	// RoleArn is reported as the executions' role.
	RoleArn string
	// RunnerStderr receives the Node runner's diagnostics; nil discards them.
	RunnerStderr io.Writer

	// AWS behaviours, each on unless turned off here.
	//
	// InlineDistributedMap runs a DISTRIBUTED Map like an INLINE one: no
	// child executions, no Map Run, no failure tolerance.
	InlineDistributedMap bool
	// HistoryLimit is the events an execution's history may reach before it
	// fails with States.Runtime (default 25,000, AWS's quota); NoHistoryLimit
	// sets none.
	HistoryLimit   int
	NoHistoryLimit bool
	// WaitLateness is the most a Wait state ends late (simulated, default
	// DefaultWaitLateness), drawn with Seed; NoWaitLateness ends them on time.
	WaitLateness   time.Duration
	NoWaitLateness bool
	Seed           int64
	// NoHeartbeatTimeout keeps .waitForTaskToken tasks waiting past their
	// HeartbeatSeconds instead of failing them with States.HeartbeatTimeout.
	NoHeartbeatTimeout bool
}

// Defaults of the AWS behaviours.
const (
	DefaultHistoryLimit = 25000
	// DefaultWaitLateness keeps Wait states a little late, as on AWS,
	// without weighing on the launch benchmark (a Wait lasts seconds).
	DefaultWaitLateness = 250 * time.Millisecond
)

func (o Options) runnerOptions() sfnrunner.Options {
	r := sfnrunner.Options{Endpoint: o.Endpoint, TimeScale: o.Clock.Factor(), Region: o.Region, Stderr: o.RunnerStderr,
		InlineDistributedMap: o.InlineDistributedMap, Seed: o.Seed, IgnoreHeartbeat: o.NoHeartbeatTimeout}
	if !o.NoHistoryLimit {
		r.HistoryLimit = cmp.Or(o.HistoryLimit, DefaultHistoryLimit)
	}
	if !o.NoWaitLateness {
		r.WaitLateness = cmp.Or(o.WaitLateness, DefaultWaitLateness)
	}
	return r
}

// Service is the local Step Functions. Safe for concurrent use.
type Service struct {
	o      Options
	runner *sfnrunner.Runner

	mu         sync.Mutex
	machines   map[string]*machine   // by ARN
	executions map[string]*execution // by ARN
	mapRuns    map[string]*mapRun    // by ARN
	seq        int64
}

type machine struct {
	arn, name  string
	definition string
	created    time.Time
}

type execution struct {
	arn, name, machine string
	input              string
	status             string
	start, stop        time.Time
	output             string
	hasOutput          bool
	errName, cause     string
	events             []event
	transitions        int
	seq                int64
	done               chan struct{}
	// mapRun is the Map Run that started a child execution.
	mapRun string
}

type event struct {
	sfnrunner.Event
	at time.Time
}

// Start starts the Node runner and returns the service. Close stops it.
func Start(ctx context.Context, o Options) (*Service, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "000000000000"
	}
	if o.Clock == nil {
		o.Clock = clock.NewScaled(time.Now(), 1)
	}
	if o.RoleArn == "" {
		o.RoleArn = fmt.Sprintf("arn:aws:iam::%s:role/awslocal-states", o.Account)
	}
	s := &Service{o: o, machines: map[string]*machine{}, executions: map[string]*execution{}, mapRuns: map[string]*mapRun{}}
	r, err := sfnrunner.Start(ctx, s, o.runnerOptions())
	if err != nil {
		return nil, err
	}
	s.runner = r
	go s.watchRunner()
	return s, nil
}

// watchRunner fails every running execution if the runner dies.
func (s *Service) watchRunner() {
	<-s.runner.Exited()
	s.mu.Lock()
	var running []string
	for arn, e := range s.executions {
		if e.status == StatusRunning {
			running = append(running, arn)
		}
	}
	s.mu.Unlock()
	for _, arn := range running {
		s.Done(arn, sfnrunner.Result{Status: StatusFailed, Error: "States.Runtime", Cause: "the local Step Functions runner exited"})
	}
}

// Close kills the runner; executions still running end FAILED with
// States.Runtime.
func (s *Service) Close() error { return s.runner.Close() }

// RunnerPID returns the process id of the Node runner.
func (s *Service) RunnerPID() int { return s.runner.PID() }

// MachineARN returns the local ARN of the state machine name.
func (s *Service) MachineARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", s.o.Region, s.o.Account, name)
}

func (s *Service) executionARN(machineName, name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", s.o.Region, s.o.Account, machineName, name)
}

// Define creates or replaces the state machine name with an ASL definition
// (already substituted) and returns its ARN. The definition is not
// validated (asl-validator costs about 1 s per definition; make asl checks
// the repository's files): use Validate first where it matters.
func (s *Service) Define(ctx context.Context, name, definition string) (string, error) {
	return s.define(ctx, name, definition, false)
}

// Validate checks a definition with asl-validator, as CreateStateMachine
// does; an invalid definition is an InvalidDefinition error.
func (s *Service) Validate(ctx context.Context, definition string) error {
	if !json.Valid([]byte(definition)) {
		return awsjson.Errorf(400, "InvalidDefinition", "Invalid State Machine Definition: not JSON")
	}
	if err := s.runner.Define(ctx, "validate:"+awsjson.NewID(), json.RawMessage(definition), true); err != nil {
		return awsjson.Errorf(400, "InvalidDefinition", "Invalid State Machine Definition: %v", err)
	}
	return nil
}

func (s *Service) define(ctx context.Context, name, definition string, validate bool) (string, error) {
	if !ValidName(name) {
		return "", awsjson.Errorf(400, "InvalidName", "Invalid Name: '%s'", name)
	}
	if !json.Valid([]byte(definition)) {
		return "", awsjson.Errorf(400, "InvalidDefinition", "Invalid State Machine Definition: definition of %s is not JSON", name)
	}
	arn := s.MachineARN(name)
	if err := s.runner.Define(ctx, arn, json.RawMessage(definition), validate); err != nil {
		return "", awsjson.Errorf(400, "InvalidDefinition", "Invalid State Machine Definition: %v", err)
	}
	s.mu.Lock()
	s.machines[arn] = &machine{arn: arn, name: name, definition: definition, created: s.o.Clock.Now()}
	s.mu.Unlock()
	return arn, nil
}

// StartResult is what StartExecution answers.
type StartResult struct {
	ExecutionARN string
	StartDate    time.Time
}

// StartExecution starts an execution of machineARN. An empty name gets a
// random one; an empty input is "{}". Errors are *awsjson.Error with the
// codes of the API (InvalidName, InvalidExecutionInput,
// StateMachineDoesNotExist, ExecutionAlreadyExists).
func (s *Service) StartExecution(_ context.Context, machineARN, name, input string) (StartResult, error) {
	if name == "" {
		name = awsjson.NewID()
	}
	if input == "" {
		input = "{}"
	}
	if !ValidName(name) {
		return StartResult{}, awsjson.Errorf(400, "InvalidName", "Invalid Name: '%s'", name)
	}
	if len(input) > maxPayload {
		return StartResult{}, awsjson.Errorf(400, "InvalidExecutionInput", "Input is larger than the maximum size of %d bytes", maxPayload)
	}
	if !json.Valid([]byte(input)) {
		return StartResult{}, awsjson.Errorf(400, "InvalidExecutionInput", "Invalid Input: input is not valid JSON")
	}
	s.mu.Lock()
	m, ok := s.machines[machineARN]
	if !ok {
		s.mu.Unlock()
		return StartResult{}, awsjson.Errorf(400, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", machineARN)
	}
	arn := s.executionARN(m.name, name)
	if e, ok := s.executions[arn]; ok {
		defer s.mu.Unlock()
		// AWS (Standard): idempotent only while running and with the same input.
		if e.status == StatusRunning && e.input == input {
			return StartResult{ExecutionARN: arn, StartDate: e.start}, nil
		}
		return StartResult{}, awsjson.Errorf(400, "ExecutionAlreadyExists", "Execution Already Exists: '%s'", arn)
	}
	now := s.o.Clock.Now()
	s.seq++
	e := &execution{arn: arn, name: name, machine: machineARN, input: input, status: StatusRunning, start: now, seq: s.seq, done: make(chan struct{})}
	s.executions[arn] = e
	s.mu.Unlock()
	c := sfnrunner.ContextObject{
		Execution:    sfnrunner.ContextExecution{ID: arn, Name: name, StartTime: now.UTC().Format(time.RFC3339Nano), RoleArn: s.o.RoleArn},
		StateMachine: sfnrunner.ContextStateMachine{ID: machineARN, Name: m.name},
	}
	if err := s.runner.StartExecution(arn, machineARN, json.RawMessage(input), c); err != nil {
		s.Done(arn, sfnrunner.Result{Status: StatusFailed, Error: "States.Runtime", Cause: err.Error()})
	}
	return StartResult{ExecutionARN: arn, StartDate: now}, nil
}

// StopExecution aborts a running execution. Stopping an execution that has
// ended is a no-op, as on AWS.
func (s *Service) StopExecution(_ context.Context, arn, errName, cause string) (time.Time, error) {
	s.mu.Lock()
	e, ok := s.executions[arn]
	if !ok {
		s.mu.Unlock()
		return time.Time{}, awsjson.Errorf(400, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
	}
	if e.status != StatusRunning {
		stop := e.stop
		s.mu.Unlock()
		return stop, nil
	}
	e.errName, e.cause = errName, cause
	s.mu.Unlock()
	if err := s.runner.Stop(arn); err != nil {
		s.Done(arn, sfnrunner.Result{Status: StatusAborted})
	}
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.stop, nil
}

// Event implements sfnrunner.Listener.
func (s *Service) Event(arn string, ev sfnrunner.Event) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[arn]
	if !ok || e.status != StatusRunning {
		return
	}
	e.events = append(e.events, event{Event: ev, at: now})
	switch {
	case strings.HasSuffix(ev.Type, "StateEntered"):
		e.transitions++
		if ev.Type == "TaskStateEntered" {
			e.events = append(e.events, event{Event: sfnrunner.Event{Type: "TaskScheduled", State: ev.State, Index: ev.Index}, at: now})
		}
	case ev.Retry:
		e.transitions++
	}
}

// Done implements sfnrunner.Listener.
func (s *Service) Done(arn string, r sfnrunner.Result) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[arn]
	if !ok || e.status != StatusRunning {
		return
	}
	e.status, e.stop = r.Status, now
	switch r.Status {
	case StatusSucceeded:
		e.errName, e.cause = "", "" // a StopExecution that lost the race
		e.output, e.hasOutput = string(r.Output), true
		if e.output == "" {
			e.output = "null"
		}
	case StatusAborted:
		// keep the error and cause given to StopExecution
	default:
		e.errName, e.cause = r.Error, r.Cause
	}
	close(e.done)
}

// ExecutionInfo is DescribeExecution's answer plus the billed transitions.
type ExecutionInfo struct {
	ARN, Name, StateMachineARN string
	Status                     string
	StartDate, StopDate        time.Time
	Input                      string
	Output                     string // set when SUCCEEDED
	Error, Cause               string
	// Transitions are the billed state transitions so far.
	Transitions int
	// HistoryEvents is the length of the history (see Options.HistoryLimit).
	HistoryEvents int
	// MapRunARN is the Map Run that started a child execution.
	MapRunARN string
}

func (e *execution) info() ExecutionInfo {
	n := len(e.events) + 1
	if e.status != StatusRunning {
		n++
	}
	return ExecutionInfo{ARN: e.arn, Name: e.name, StateMachineARN: e.machine, Status: e.status, StartDate: e.start,
		StopDate: e.stop, Input: e.input, Output: e.output, Error: e.errName, Cause: e.cause, Transitions: e.transitions,
		HistoryEvents: n, MapRunARN: e.mapRun}
}

// Describe returns an execution.
func (s *Service) Describe(arn string) (ExecutionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[arn]
	if !ok {
		return ExecutionInfo{}, awsjson.Errorf(400, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
	}
	return e.info(), nil
}

// Wait blocks until the execution ends or ctx is done, and describes it.
func (s *Service) Wait(ctx context.Context, arn string) (ExecutionInfo, error) {
	s.mu.Lock()
	e, ok := s.executions[arn]
	s.mu.Unlock()
	if !ok {
		return ExecutionInfo{}, awsjson.Errorf(400, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
	}
	select {
	case <-e.done:
		return s.Describe(arn)
	case <-ctx.Done():
		return ExecutionInfo{}, ctx.Err()
	}
}

// Executions lists the executions of a machine (all machines when
// machineARN is empty), newest first, optionally of one status.
func (s *Service) Executions(machineARN, status string) []ExecutionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*execution
	for _, e := range s.executions {
		if (machineARN == "" || e.machine == machineARN) && (status == "" || e.status == status) {
			list = append(list, e)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq > list[j].seq })
	out := make([]ExecutionInfo, len(list))
	for i, e := range list {
		out[i] = e.info()
	}
	return out
}

// Stats counts executions by status.
func (s *Service) Stats() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, e := range s.executions {
		out[e.status]++
	}
	return out
}

// ServeHTTP serves the Step Functions JSON 1.0 API.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serveAPI(w, r)
}
