package sfn

import (
	"net/http"
	"sort"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/integration/sfnrunner"
)

// Map Run statuses.
const (
	MapRunRunning   = "RUNNING"
	MapRunSucceeded = "SUCCEEDED"
	MapRunFailed    = "FAILED"
	MapRunAborted   = "ABORTED"
)

type mapRun struct {
	sfnrunner.MapRun
	start, stop time.Time
	seq         int64
	children    []string // child execution ARNs, in start order
}

// MapRun implements sfnrunner.MapRunListener.
func (s *Service) MapRun(m sfnrunner.MapRun) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.mapRuns[m.ARN]
	if !ok {
		s.seq++
		r = &mapRun{start: now, seq: s.seq}
		s.mapRuns[m.ARN] = r
	}
	if r.Status != "" && r.Status != MapRunRunning {
		return
	}
	children := r.children
	r.MapRun, r.children = m, children
	if m.Status != MapRunRunning {
		r.stop = now
	}
}

// Child implements sfnrunner.MapRunListener: it records a child execution
// before the runner reports any of its events.
func (s *Service) Child(c sfnrunner.Child) {
	now := s.o.Clock.Now()
	input := string(c.Input)
	if input == "" {
		input = "null"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.executions[c.ARN] = &execution{arn: c.ARN, name: c.Name, machine: c.Machine, input: input, status: StatusRunning,
		start: now, seq: s.seq, done: make(chan struct{}), mapRun: c.MapRun}
	if r, ok := s.mapRuns[c.MapRun]; ok {
		r.children = append(r.children, c.ARN)
	}
}

// MapRunCounts are a Map Run's itemCounts or executionCounts.
type MapRunCounts struct {
	Pending, Running, Succeeded, Failed, TimedOut, Aborted, Total, ResultsWritten int
}

func (c MapRunCounts) doc() map[string]int {
	return map[string]int{"pending": c.Pending, "running": c.Running, "succeeded": c.Succeeded, "failed": c.Failed,
		"timedOut": c.TimedOut, "aborted": c.Aborted, "total": c.Total, "resultsWritten": c.ResultsWritten}
}

// MapRunInfo is DescribeMapRun's answer.
type MapRunInfo struct {
	ARN, ExecutionARN, Status string
	StartDate, StopDate       time.Time
	MaxConcurrency            int
	// ToleratedFailurePercentage and ToleratedFailureCount are 0 when not set.
	ToleratedFailurePercentage float64
	ToleratedFailureCount      int
	ItemCounts                 MapRunCounts
	ExecutionCounts            MapRunCounts
}

func (s *Service) mapRunInfo(r *mapRun) MapRunInfo {
	var ex MapRunCounts
	for _, arn := range r.children {
		switch s.executions[arn].status {
		case StatusRunning:
			ex.Running++
		case StatusSucceeded:
			ex.Succeeded++
		case StatusFailed:
			ex.Failed++
		case StatusTimedOut:
			ex.TimedOut++
		case StatusAborted:
			ex.Aborted++
		}
	}
	ex.Total = len(r.children)
	items := ex
	items.Total = r.Total
	items.Pending = max(0, r.Total-len(r.children))
	info := MapRunInfo{ARN: r.ARN, ExecutionARN: r.Parent, Status: r.Status, StartDate: r.start, StopDate: r.stop,
		MaxConcurrency: r.MaxConcurrency, ItemCounts: items, ExecutionCounts: ex}
	if r.ToleratedPercentage != nil {
		info.ToleratedFailurePercentage = *r.ToleratedPercentage
	}
	if r.ToleratedCount != nil {
		info.ToleratedFailureCount = *r.ToleratedCount
	}
	return info
}

// DescribeMapRun returns a Map Run with its counts.
func (s *Service) DescribeMapRun(arn string) (MapRunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.mapRuns[arn]
	if !ok {
		return MapRunInfo{}, awsjson.Errorf(400, "ResourceNotFound", "Map Run Does Not Exist: '%s'", arn)
	}
	return s.mapRunInfo(r), nil
}

// MapRuns lists the Map Runs an execution started, newest first.
func (s *Service) MapRuns(executionARN string) []MapRunInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*mapRun
	for _, r := range s.mapRuns {
		if r.Parent == executionARN {
			list = append(list, r)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq > list[j].seq })
	out := make([]MapRunInfo, len(list))
	for i, r := range list {
		out[i] = s.mapRunInfo(r)
	}
	return out
}

// mapRunExecutions lists a Map Run's child executions, newest first.
func (s *Service) mapRunExecutions(arn, status string) ([]ExecutionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.mapRuns[arn]
	if !ok {
		return nil, awsjson.Errorf(400, "ResourceNotFound", "Map Run Does Not Exist: '%s'", arn)
	}
	out := make([]ExecutionInfo, 0, len(r.children))
	for i := len(r.children) - 1; i >= 0; i-- {
		if e := s.executions[r.children[i]]; status == "" || e.status == status {
			out = append(out, e.info())
		}
	}
	return out, nil
}

func (s *Service) apiDescribeMapRun(r *http.Request) (any, error) {
	var in struct {
		MapRunArn string `json:"mapRunArn"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	m, err := s.DescribeMapRun(in.MapRunArn)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"mapRunArn": m.ARN, "executionArn": m.ExecutionARN, "status": m.Status,
		"startDate": epoch(m.StartDate), "maxConcurrency": m.MaxConcurrency,
		"toleratedFailurePercentage": m.ToleratedFailurePercentage, "toleratedFailureCount": m.ToleratedFailureCount,
		"itemCounts": m.ItemCounts.doc(), "executionCounts": m.ExecutionCounts.doc(), "redriveCount": 0}
	if m.Status != MapRunRunning {
		d["stopDate"] = epoch(m.StopDate)
	}
	return d, nil
}

func (s *Service) apiListMapRuns(r *http.Request) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		MaxResults   int    `json:"maxResults"`
		NextToken    string `json:"nextToken"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if _, err := s.Describe(in.ExecutionArn); err != nil {
		return nil, err
	}
	list := s.MapRuns(in.ExecutionArn)
	from, to, next, err := page(len(list), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, to-from)
	for _, m := range list[from:to] {
		it := map[string]any{"executionArn": m.ExecutionARN, "mapRunArn": m.ARN, "startDate": epoch(m.StartDate),
			"stateMachineArn": s.machineOf(m.ExecutionARN)}
		if m.Status != MapRunRunning {
			it["stopDate"] = epoch(m.StopDate)
		}
		items = append(items, it)
	}
	out := map[string]any{"mapRuns": items}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (s *Service) machineOf(executionARN string) string {
	e, _ := s.Describe(executionARN)
	return e.StateMachineARN
}
