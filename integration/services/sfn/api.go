package sfn

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
)

const contentType = "application/x-amz-json-1.0"

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (s *Service) serveAPI(w http.ResponseWriter, r *http.Request) {
	var out any
	var err error
	switch op := awsjson.Operation(r); op {
	case "StartExecution":
		out, err = s.apiStart(r)
	case "DescribeExecution":
		out, err = s.apiDescribe(r)
	case "ListExecutions":
		out, err = s.apiList(r)
	case "StopExecution":
		out, err = s.apiStop(r)
	case "GetExecutionHistory":
		out, err = s.apiHistory(r)
	case "CreateStateMachine":
		out, err = s.apiCreateMachine(r)
	case "DescribeStateMachine":
		out, err = s.apiDescribeMachine(r)
	case "ListStateMachines":
		out, err = s.apiListMachines()
	case "DescribeMapRun":
		out, err = s.apiDescribeMapRun(r)
	case "ListMapRuns":
		out, err = s.apiListMapRuns(r)
	case "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat":
		out, err = s.apiSendTask(r, op)
	default:
		err = awsjson.Errorf(400, "UnknownOperationException", "awslocal does not implement Step Functions %s", op)
	}
	if err != nil {
		awsjson.WriteError(w, contentType, err)
		return
	}
	awsjson.Write(w, contentType, out)
}

func decode(r *http.Request, v any) error { return awsjson.Decode(r, v, "SerializationException") }

func (s *Service) apiStart(r *http.Request) (any, error) {
	var in struct {
		StateMachineArn string  `json:"stateMachineArn"`
		Name            string  `json:"name"`
		Input           *string `json:"input"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	input := ""
	if in.Input != nil {
		input = *in.Input
	}
	res, err := s.StartExecution(r.Context(), in.StateMachineArn, in.Name, input)
	if err != nil {
		return nil, err
	}
	return map[string]any{"executionArn": res.ExecutionARN, "startDate": epoch(res.StartDate)}, nil
}

func describeDoc(e ExecutionInfo) map[string]any {
	d := map[string]any{
		"executionArn": e.ARN, "stateMachineArn": e.StateMachineARN, "name": e.Name, "status": e.Status,
		"startDate": epoch(e.StartDate), "input": e.Input, "inputDetails": map[string]bool{"included": true},
	}
	if e.Status != StatusRunning {
		d["stopDate"] = epoch(e.StopDate)
	}
	if e.Status == StatusSucceeded {
		d["output"] = e.Output
		d["outputDetails"] = map[string]bool{"included": true}
	}
	if e.Error != "" {
		d["error"] = e.Error
	}
	if e.Cause != "" {
		d["cause"] = e.Cause
	}
	if e.MapRunARN != "" {
		d["mapRunArn"] = e.MapRunARN
	}
	return d
}

func (s *Service) apiDescribe(r *http.Request) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	e, err := s.Describe(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	return describeDoc(e), nil
}

// page returns the [from, to) window of n items for a maxResults and an
// opaque nextToken (here: the offset).
func page(n int, maxResults int, token string) (int, int, string, error) {
	if maxResults <= 0 {
		maxResults = 100
	}
	if maxResults > 1000 {
		return 0, 0, "", awsjson.Errorf(400, "ValidationException", "maxResults must be ≤ 1000")
	}
	from := 0
	if token != "" {
		v, err := strconv.Atoi(token)
		if err != nil || v < 0 || v > n {
			return 0, 0, "", awsjson.Errorf(400, "InvalidToken", "Invalid Token: '%s'", token)
		}
		from = v
	}
	to := min(n, from+maxResults)
	next := ""
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

func (s *Service) apiList(r *http.Request) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		MapRunArn       string `json:"mapRunArn"`
		StatusFilter    string `json:"statusFilter"`
		MaxResults      int    `json:"maxResults"`
		NextToken       string `json:"nextToken"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	list, err := s.listFor(in.StateMachineArn, in.MapRunArn, in.StatusFilter)
	if err != nil {
		return nil, err
	}
	from, to, next, err := page(len(list), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, to-from)
	for _, e := range list[from:to] {
		it := map[string]any{"executionArn": e.ARN, "stateMachineArn": e.StateMachineARN, "name": e.Name,
			"status": e.Status, "startDate": epoch(e.StartDate)}
		if e.MapRunARN != "" {
			it["mapRunArn"] = e.MapRunARN
		}
		if e.Status != StatusRunning {
			it["stopDate"] = epoch(e.StopDate)
		}
		items = append(items, it)
	}
	out := map[string]any{"executions": items}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

// listFor answers ListExecutions: a machine's executions, or a Map Run's
// child executions (exactly one of the two ARNs, as on AWS).
func (s *Service) listFor(machineARN, mapRunARN, status string) ([]ExecutionInfo, error) {
	if (machineARN == "") == (mapRunARN == "") {
		return nil, awsjson.Errorf(400, "ValidationException", "Exactly one of stateMachineArn and mapRunArn must be given")
	}
	if mapRunARN != "" {
		return s.mapRunExecutions(mapRunARN, status)
	}
	s.mu.Lock()
	_, ok := s.machines[machineARN]
	s.mu.Unlock()
	if !ok {
		return nil, awsjson.Errorf(400, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", machineARN)
	}
	return s.Executions(machineARN, status), nil
}

func (s *Service) apiStop(r *http.Request) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	stop, err := s.StopExecution(r.Context(), in.ExecutionArn, in.Error, in.Cause)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stopDate": epoch(stop)}, nil
}

func (s *Service) apiHistory(r *http.Request) (any, error) {
	var in struct {
		ExecutionArn         string `json:"executionArn"`
		MaxResults           int    `json:"maxResults"`
		NextToken            string `json:"nextToken"`
		ReverseOrder         bool   `json:"reverseOrder"`
		IncludeExecutionData *bool  `json:"includeExecutionData"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	events, err := s.History(in.ExecutionArn, in.IncludeExecutionData == nil || *in.IncludeExecutionData)
	if err != nil {
		return nil, err
	}
	if in.ReverseOrder {
		for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
			events[i], events[j] = events[j], events[i]
		}
	}
	from, to, next, err := page(len(events), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"events": events[from:to]}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

// History returns an execution's events in the API's JSON shape.
func (s *Service) History(arn string, withData bool) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[arn]
	if !ok {
		return nil, awsjson.Errorf(400, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
	}
	out := make([]map[string]any, 0, len(e.events)+2)
	add := func(typ string, at time.Time, key string, details map[string]any) {
		ev := map[string]any{"id": len(out) + 1, "previousEventId": len(out), "timestamp": epoch(at), "type": typ}
		if key != "" {
			ev[key] = details
		}
		out = append(out, ev)
	}
	started := map[string]any{"roleArn": s.o.RoleArn, "inputDetails": map[string]bool{"included": withData}}
	if withData {
		started["input"] = e.input
	}
	add("ExecutionStarted", e.start, "executionStartedEventDetails", started)
	for _, ev := range e.events {
		key, d := eventDetails(ev)
		add(ev.Type, ev.at, key, d)
	}
	switch e.status {
	case StatusSucceeded:
		d := map[string]any{"outputDetails": map[string]bool{"included": withData}}
		if withData {
			d["output"] = e.output
		}
		add("ExecutionSucceeded", e.stop, "executionSucceededEventDetails", d)
	case StatusFailed:
		add("ExecutionFailed", e.stop, "executionFailedEventDetails", map[string]any{"error": e.errName, "cause": e.cause})
	case StatusTimedOut:
		add("ExecutionTimedOut", e.stop, "executionTimedOutEventDetails", map[string]any{"error": e.errName, "cause": e.cause})
	case StatusAborted:
		add("ExecutionAborted", e.stop, "executionAbortedEventDetails", map[string]any{"error": e.errName, "cause": e.cause})
	}
	return out, nil
}

func eventDetails(ev event) (string, map[string]any) {
	t := ev.Type
	switch {
	case len(t) > len("StateEntered") && t[len(t)-len("StateEntered"):] == "StateEntered":
		return "stateEnteredEventDetails", map[string]any{"name": ev.State}
	case len(t) > len("StateExited") && t[len(t)-len("StateExited"):] == "StateExited":
		return "stateExitedEventDetails", map[string]any{"name": ev.State}
	case t == "TaskFailed":
		return "taskFailedEventDetails", map[string]any{"error": ev.Error, "cause": ev.Cause, "resource": ev.State, "resourceType": "states"}
	case t == "TaskTimedOut":
		return "taskTimedOutEventDetails", map[string]any{"error": ev.Error, "cause": ev.Cause, "resource": ev.State, "resourceType": "states"}
	case t == "TaskScheduled":
		return "taskScheduledEventDetails", map[string]any{"resource": ev.State, "resourceType": "states", "region": "us-east-1", "parameters": "{}"}
	case t == "MapIterationStarted" || t == "MapIterationSucceeded" || t == "MapIterationFailed":
		d := map[string]any{"name": ev.State}
		if ev.Index != nil {
			d["index"] = *ev.Index
		}
		return "mapIterationStartedEventDetails", d
	}
	return "", nil
}

func (s *Service) apiCreateMachine(r *http.Request) (any, error) {
	var in struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	_, exists := s.machines[s.MachineARN(in.Name)]
	s.mu.Unlock()
	if exists {
		return nil, awsjson.Errorf(400, "StateMachineAlreadyExists", "State Machine Already Exists: '%s'", s.MachineARN(in.Name))
	}
	arn, err := s.define(r.Context(), in.Name, in.Definition, true)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stateMachineArn": arn, "creationDate": epoch(s.o.Clock.Now())}, nil
}

func (s *Service) apiDescribeMachine(r *http.Request) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	m, ok := s.machines[in.StateMachineArn]
	s.mu.Unlock()
	if !ok {
		return nil, awsjson.Errorf(400, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", in.StateMachineArn)
	}
	return map[string]any{"stateMachineArn": m.arn, "name": m.name, "status": "ACTIVE", "definition": m.definition,
		"roleArn": s.o.RoleArn, "type": "STANDARD", "creationDate": epoch(m.created)}, nil
}

func (s *Service) apiListMachines() (any, error) {
	s.mu.Lock()
	list := make([]map[string]any, 0, len(s.machines))
	for _, m := range s.machines {
		list = append(list, map[string]any{"stateMachineArn": m.arn, "name": m.name, "type": "STANDARD", "creationDate": epoch(m.created)})
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i]["name"].(string) < list[j]["name"].(string) })
	return map[string]any{"stateMachines": list}, nil
}
