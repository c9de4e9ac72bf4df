package launchstore

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// memJobs holds a request's version-2 items: per-task inputs, task
// records and the quota gate (nil until first written).
type memJobs struct {
	items map[int][]byte
	tasks map[string]*launch.TaskRecord
	gate  *launch.QuotaGate
}

func (j *memJobs) len() int {
	n := len(j.items) + len(j.tasks)
	if j.gate != nil {
		n++
	}
	return n
}

func (m *Memory) jobsOf(requestID string) *memJobs {
	j := m.jobs[requestID]
	if j == nil {
		j = &memJobs{items: map[int][]byte{}, tasks: map[string]*launch.TaskRecord{}}
		m.jobs[requestID] = j
	}
	return j
}

// PutItems implements Store.
func (m *Memory) PutItems(ctx context.Context, requestID string, first int, items []json.RawMessage) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	j := m.jobsOf(requestID)
	for k, it := range items {
		j.items[first+k] = bytes.Clone(it)
	}
	return nil
}

// Item implements Store.
func (m *Memory) Item(ctx context.Context, requestID string, index int) (json.RawMessage, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if j := m.jobs[requestID]; j != nil {
		if it, ok := j.items[index]; ok {
			return bytes.Clone(it), nil
		}
	}
	return nil, ErrNotFound
}

func (j *memJobs) task(arn string) *launch.TaskRecord {
	t := j.tasks[arn]
	if t == nil {
		t = &launch.TaskRecord{TaskRef: launch.TaskRef{ARN: arn}}
		j.tasks[arn] = t
	}
	return t
}

func copyRecord(t *launch.TaskRecord) launch.TaskRecord {
	c := *t
	if t.Observation.ExitCode != nil {
		c.Observation.ExitCode = new(*t.Observation.ExitCode)
	}
	return c
}

// RecordTasks implements Store.
func (m *Memory) RecordTasks(ctx context.Context, requestID string, refs []launch.TaskRef) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	j := m.jobsOf(requestID)
	for _, r := range refs {
		t := j.task(r.ARN)
		r.LaunchedAt = r.LaunchedAt.UTC()
		t.TaskRef, t.Referenced = r, true
	}
	return nil
}

// ObserveTask implements Store.
func (m *Memory) ObserveTask(ctx context.Context, requestID string, o launch.TaskObservation) (launch.TaskRecord, bool, error) {
	if err := m.lock(ctx); err != nil {
		return launch.TaskRecord{}, false, err
	}
	defer m.mu.Unlock()
	t := m.jobsOf(requestID).task(o.ARN)
	advanced := t.Observation.LastStatus == "" || o.After(t.Observation)
	if advanced {
		o.StartedAt, o.StoppedAt, o.ObservedAt = o.StartedAt.UTC(), o.StoppedAt.UTC(), o.ObservedAt.UTC()
		if o.ExitCode != nil {
			o.ExitCode = new(*o.ExitCode)
		}
		t.Observation = o
	}
	return copyRecord(t), advanced, nil
}

// DecideTask implements Store.
func (m *Memory) DecideTask(ctx context.Context, requestID, arn, outcome, why string) (launch.TaskRecord, bool, error) {
	if outcome == "" {
		return launch.TaskRecord{}, false, errNoOutcome
	}
	if err := m.lock(ctx); err != nil {
		return launch.TaskRecord{}, false, err
	}
	defer m.mu.Unlock()
	t := m.jobsOf(requestID).task(arn)
	first := t.Outcome == ""
	if first {
		t.Outcome, t.Why = outcome, why
	}
	return copyRecord(t), first, nil
}

// Task implements Store.
func (m *Memory) Task(ctx context.Context, requestID, arn string) (launch.TaskRecord, error) {
	if err := m.lock(ctx); err != nil {
		return launch.TaskRecord{}, err
	}
	defer m.mu.Unlock()
	if j := m.jobs[requestID]; j != nil {
		if t, ok := j.tasks[arn]; ok {
			return copyRecord(t), nil
		}
	}
	return launch.TaskRecord{}, ErrNotFound
}

// Tasks implements Store, in the order of DynamoDB's sort keys (by ARN).
func (m *Memory) Tasks(ctx context.Context, requestID string) ([]launch.TaskRecord, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	j := m.jobs[requestID]
	if j == nil {
		return nil, nil
	}
	arns := slices.SortedFunc(maps.Keys(j.tasks), strings.Compare)
	out := make([]launch.TaskRecord, 0, len(arns))
	for _, a := range arns {
		out = append(out, copyRecord(j.tasks[a]))
	}
	return out, nil
}

func (j *memJobs) quota() *launch.QuotaGate {
	if j.gate == nil {
		j.gate = &launch.QuotaGate{}
	}
	return j.gate
}

// NoteTaskStopped implements Store.
func (m *Memory) NoteTaskStopped(ctx context.Context, requestID string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.jobsOf(requestID).quota().Stops++
	return nil
}

// ClaimQuotaProbe implements Store.
func (m *Memory) ClaimQuotaProbe(ctx context.Context, requestID string, now time.Time, every time.Duration) (bool, error) {
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	g := m.jobsOf(requestID).quota()
	if g.Stops <= g.ProbeStops && !g.ProbedAt.IsZero() && now.Before(g.ProbedAt.Add(every)) {
		return false, nil
	}
	g.ProbeStops, g.ProbedAt = g.Stops, now.UTC()
	g.Probes++
	return true, nil
}

// QuotaGate implements Store.
func (m *Memory) QuotaGate(ctx context.Context, requestID string) (launch.QuotaGate, error) {
	if err := m.lock(ctx); err != nil {
		return launch.QuotaGate{}, err
	}
	defer m.mu.Unlock()
	if j := m.jobs[requestID]; j != nil && j.gate != nil {
		return *j.gate, nil
	}
	return launch.QuotaGate{}, nil
}

// SetQuotaWait implements Store.
func (m *Memory) SetQuotaWait(ctx context.Context, requestID string, chunk int, since time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.chunk(requestID, chunk).quotaWaitSince = since.UTC()
	return nil
}
