package launch

import (
	"maps"
	"slices"
	"time"
)

// Per-task results (version 2's jobs): every task launched has a record
// keyed by its ARN (an instance by its id), written by two parties that
// never overwrite each other's fields:
//   - the launcher (runtask, relaunch) writes the TaskRef: which unit index
//     the task runs and which attempt of it it is;
//   - the tracker writes the latest TaskObservation (from ECS Task State
//     Change events, or DescribeTasks when events are overdue), only ever
//     moving it forward, and once the task has stopped, its Outcome.
//
// A unit's result is its latest attempt's record (Results).

// Task outcomes, decided once per task record when it stops.
const (
	// OutcomeSucceeded: the essential container exited 0.
	OutcomeSucceeded = "SUCCEEDED"
	// OutcomeFailed: the attempt failed and retryStrategy ends the unit.
	OutcomeFailed = "FAILED"
	// OutcomeRetried: the attempt failed and a new attempt is launched.
	OutcomeRetried = "RETRIED"
	// OutcomeRelaunched: the task failed to start (TaskFailedToStart); the
	// relaunch path launches its replacement, same attempt.
	OutcomeRelaunched = "RELAUNCHED"
)

// Result statuses of a unit (one row of `throttlectl results`).
const (
	ResultSucceeded    = "SUCCEEDED"
	ResultFailed       = "FAILED"
	ResultDeadLettered = "DEAD_LETTERED"
	ResultCancelled    = "CANCELLED"
	// Not final: the unit's latest task has not stopped yet, or the unit
	// has no task yet.
	ResultRunning = "RUNNING"
	ResultPending = "PENDING"
)

// ECS lastStatus values in the order a task moves through them.
var taskStatusOrder = []string{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}

// StatusRank orders ECS lastStatus values (0 for an unknown one): a task
// record only moves to a higher rank, or to a higher event version within
// one.
func StatusRank(lastStatus string) int {
	for i, s := range taskStatusOrder {
		if s == lastStatus {
			return i + 1
		}
	}
	return 0
}

// TaskRef is what the launcher knows of a task it launched.
type TaskRef struct {
	ARN   string `json:"taskArn"`
	Chunk int    `json:"chunk"`
	// Index is the unit the task runs (UnitIndex), its array index for an
	// items request.
	Index int `json:"index"`
	// Attempt numbers the unit's task runs from 1; a relaunch after
	// TaskFailedToStart keeps its predecessor's attempt.
	Attempt    int       `json:"attempt"`
	LaunchedAt time.Time `json:"launchedAt"`
	// Predecessor is the task this one replaces (relaunch or retry).
	Predecessor string `json:"predecessor,omitempty"`
}

// TaskObservation is one state of a task, as an ECS Task State Change
// event or a DescribeTasks answer shows it.
type TaskObservation struct {
	ARN        string `json:"taskArn"`
	LastStatus string `json:"lastStatus"`
	// Version is the task's version (ECS increments it with each change of
	// the task; events and DescribeTasks both carry it).
	Version       int64  `json:"version,omitempty"`
	StopCode      string `json:"stopCode,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`
	// ExitCode and Reason are the essential container's; ExitCode is nil
	// while it has none.
	ExitCode  *int      `json:"exitCode,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	StoppedAt time.Time `json:"stoppedAt,omitzero"`
	// LogStream is the essential container's awslogs stream, when known.
	LogStream string `json:"logStream,omitempty"`
	// ObservedAt is when the tracker recorded it.
	ObservedAt time.Time `json:"observedAt,omitzero"`
}

// After says whether o is a later state of the task than prev.
func (o TaskObservation) After(prev TaskObservation) bool {
	r, p := StatusRank(o.LastStatus), StatusRank(prev.LastStatus)
	return r > p || (r == p && o.Version > prev.Version)
}

// TaskRecord is a task's item.
type TaskRecord struct {
	TaskRef
	// Referenced: the launcher's fields are written (a record created by
	// an event that outran the launcher's write has only the observation).
	Referenced  bool            `json:"referenced"`
	Observation TaskObservation `json:"observation"`
	// Outcome is decided once, when the task has stopped ("" before).
	Outcome string `json:"outcome,omitempty"`
	Why     string `json:"why,omitempty"`
}

// Stopped says whether the task's latest observation is STOPPED.
func (t TaskRecord) Stopped() bool { return t.Observation.LastStatus == "STOPPED" }

// UnitIndex is the index of unit k of a chunk: its position in the
// request's ECS tasks, then its EC2 instances.
func (r Request) UnitIndex(c ChunkSpec, k int) int {
	if c.Kind == KindEC2 && r.ECS != nil {
		return r.ECS.taskCount() + c.Offset + k
	}
	return c.Offset + k
}

// ResultRow is one unit's result: its latest attempt.
type ResultRow struct {
	Index      int    `json:"index"`
	TaskARN    string `json:"taskArn,omitempty"`
	InstanceID string `json:"instanceId,omitempty"`
	Attempts   int    `json:"attempts"`
	LastStatus string `json:"lastStatus,omitempty"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	StopCode   string `json:"stopCode,omitempty"`
	// StoppedReason is the task's; for a dead-lettered unit, the reason
	// it was given up.
	StoppedReason string     `json:"stoppedReason,omitempty"`
	StartedAt     *time.Time `json:"startedAt,omitempty"`
	StoppedAt     *time.Time `json:"stoppedAt,omitempty"`
	LogStream     string     `json:"logStream,omitempty"`
	Status        string     `json:"status"`
}

// QuotaGate is a request's quota gate: its units waiting for quota probe
// at most once per interval, or once per task of the request that stopped
// since the last probe (its capacity came back).
type QuotaGate struct {
	// Stops counts the request's tasks that stopped; ProbeStops is Stops at
	// the last probe claimed, ProbedAt its time; Probes counts the claims.
	Stops, ProbeStops, Probes int
	ProbedAt                  time.Time
}

// RefFromChunk derives the TaskRef of a task launched by one of the
// chunk's attempts from the chunk itself: an attempt keeps its launched
// ids in order, and unit k of the chunk is the units its lower attempts
// launched plus the position in its ids (attempts of a chunk are made one
// after another: a higher one begins only once the lower ones are
// settled). A replacement launched by the relaunch path is not among them
// (ok false): its launcher records it.
func RefFromChunk(r Request, spec ChunkSpec, state ChunkState, arn string) (TaskRef, bool) {
	for _, ref := range chunkRefs(r, spec, state) {
		if ref.ARN == arn {
			return ref, true
		}
	}
	return TaskRef{}, false
}

// chunkRefs are the refs of every task the chunk's attempts launched, in
// unit order.
func chunkRefs(r Request, spec ChunkSpec, state ChunkState) []TaskRef {
	var refs []TaskRef
	k := 0
	for _, n := range slices.Sorted(maps.Keys(state.Attempts)) {
		a := state.Attempts[n]
		for j, id := range a.IDs {
			refs = append(refs, TaskRef{ARN: id, Chunk: spec.Index, Index: r.UnitIndex(spec, k+j), Attempt: 1, LaunchedAt: state.LaunchedAt})
		}
		k += a.Launched
	}
	return refs
}

// WithChunkRefs completes a request's task records from its chunks: a
// record the launcher's fields are missing from gets them (RefFromChunk),
// and a task a chunk launched with no record yet (no event of it arrived)
// gets a record with its ref and no observation. Records are in the order
// given, the added ones after them.
func WithChunkRefs(sr StoredRequest, chunks []ChunkState, tasks []TaskRecord) []TaskRecord {
	out := slices.Clone(tasks)
	seen := make(map[string]int, len(tasks))
	for i, t := range out {
		seen[t.ARN] = i
	}
	for _, c := range chunks {
		spec, err := sr.Request.Chunk(c.Index)
		if err != nil {
			continue
		}
		for _, ref := range chunkRefs(sr.Request, spec, c) {
			i, ok := seen[ref.ARN]
			switch {
			case !ok:
				seen[ref.ARN] = len(out)
				out = append(out, TaskRecord{TaskRef: ref, Referenced: true})
			case !out[i].Referenced:
				out[i].TaskRef, out[i].Referenced = ref, true
			}
		}
	}
	return out
}
