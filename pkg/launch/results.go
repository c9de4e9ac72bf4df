package launch

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Results are a request's per-unit results, one row per unit index in
// index order, computed from its chunks and task records:
//   - a unit's row is its latest attempt's record (highest Attempt, then
//     latest LaunchedAt; a relaunch after TaskFailedToStart keeps its
//     attempt): SUCCEEDED or FAILED once decided, RUNNING before;
//   - a unit with no live task (none launched, or its last task failed to
//     start or was retried and the replacement is not launched) is
//     DEAD_LETTERED when its chunk gave up or its replacement was given up,
//     CANCELLED when the request was cancelled, else PENDING;
//   - a task the chunk recorded whose record the launcher has not written
//     yet takes the chunk's first unit without a live task (RUNNING).
//
// Attempts is the unit's highest attempt number.
func Results(sr StoredRequest, chunks []ChunkState, tasks []TaskRecord, cancelled bool) []ResultRow {
	var rows []ResultRow
	for _, u := range buildUnits(sr, chunks, tasks) {
		rows = append(rows, u.row(cancelled))
	}
	return rows
}

// AllAttemptResults lists every attempt of every unit: a unit's earlier
// tasks (their own status: an attempt retried or relaunched FAILED), then
// its Results row.
func AllAttemptResults(sr StoredRequest, chunks []ChunkState, tasks []TaskRecord, cancelled bool) []ResultRow {
	var rows []ResultRow
	for _, u := range buildUnits(sr, chunks, tasks) {
		last := u.row(cancelled)
		for i, t := range u.records {
			if i == len(u.records)-1 && last.TaskARN+last.InstanceID != "" {
				break // the latest record is the unit's row
			}
			rows = append(rows, recordRow(u.index, t, t.Attempt, attemptStatus(t)))
		}
		rows = append(rows, last)
	}
	return rows
}

// ResultStatuses are the row statuses, final ones first.
var ResultStatuses = []string{ResultSucceeded, ResultFailed, ResultDeadLettered, ResultCancelled, ResultRunning, ResultPending}

// StatusCounts counts rows by status, every status present.
func StatusCounts(rows []ResultRow) map[string]int {
	c := make(map[string]int, len(ResultStatuses))
	for _, s := range ResultStatuses {
		c[s] = 0
	}
	for _, r := range rows {
		c[r.Status]++
	}
	return c
}

// FinalCountsOf are the counts Outcome decides on. Without waiting a
// launched unit (RUNNING, or already stopped) counts as succeeded; units
// still RUNNING or PENDING when a waiting request ends count nowhere
// (Outcome takes them as missing).
func FinalCountsOf(rows []ResultRow, waiting bool) FinalCounts {
	fc := FinalCounts{Requested: len(rows)}
	for _, r := range rows {
		switch r.Status {
		case ResultSucceeded:
			fc.Succeeded++
		case ResultFailed, ResultRunning:
			if !waiting {
				fc.Succeeded++
			} else if r.Status == ResultFailed {
				fc.Failed++
			}
		case ResultDeadLettered:
			fc.DeadLettered++
		case ResultCancelled:
			fc.Cancelled++
		}
	}
	return fc
}

// Final says whether a row's status is final.
func Final(status string) bool {
	return status != ResultRunning && status != ResultPending
}

// unit is one unit index with what is known of it.
type unit struct {
	index   int
	chunk   ChunkState
	records []TaskRecord // by attempt, then launch time
	// orphan is a live task of the chunk with no record yet, and its
	// observation when an event already created an unreferenced record.
	orphan *TaskRecord
}

// live says whether the unit's latest task still stands for it (not
// replaced by a relaunch or retry).
func (u *unit) live() bool {
	if u.orphan != nil {
		return true
	}
	if len(u.records) == 0 {
		return false
	}
	o := u.records[len(u.records)-1].Outcome
	return o != OutcomeRetried && o != OutcomeRelaunched
}

func (u *unit) attempts() int {
	n := 0
	for _, t := range u.records {
		n = max(n, t.Attempt)
	}
	if u.orphan != nil {
		n = max(n, 1)
	}
	return n
}

func (u *unit) row(cancelled bool) ResultRow {
	if u.orphan != nil {
		return recordRow(u.index, *u.orphan, u.attempts(), ResultRunning)
	}
	if u.live() {
		t := u.records[len(u.records)-1]
		return recordRow(u.index, t, u.attempts(), liveStatus(t))
	}
	row := ResultRow{Index: u.index, Attempts: u.attempts()}
	switch {
	case u.chunk.GaveUp && len(u.records) == 0:
		row.Status, row.StoppedReason = ResultDeadLettered, giveUpReason(u.chunk)
	case len(u.records) > 0 && slices.Contains(u.chunk.Stopped, u.records[len(u.records)-1].ARN):
		// Its replacement was given up: the task joined the stopped ones
		// and no live task took the unit.
		row.Status, row.StoppedReason = ResultDeadLettered, "replacement of "+u.records[len(u.records)-1].ARN+" given up"
	case cancelled:
		row.Status = ResultCancelled
	default:
		row.Status = ResultPending
	}
	return row
}

func giveUpReason(c ChunkState) string {
	if c.Reason != "" {
		return c.Reason
	}
	return strings.TrimPrefix(c.Class+": "+c.Code, ": ")
}

// liveStatus is the status of a unit's live task.
func liveStatus(t TaskRecord) string {
	switch t.Outcome {
	case OutcomeSucceeded:
		return ResultSucceeded
	case OutcomeFailed:
		return ResultFailed
	}
	return ResultRunning
}

// attemptStatus is the status of one attempt of a unit.
func attemptStatus(t TaskRecord) string {
	if t.Outcome == OutcomeRetried || t.Outcome == OutcomeRelaunched {
		return ResultFailed
	}
	return liveStatus(t)
}

func recordRow(index int, t TaskRecord, attempts int, status string) ResultRow {
	o := t.Observation
	row := ResultRow{
		Index: index, Attempts: attempts, LastStatus: o.LastStatus, ExitCode: o.ExitCode,
		StopCode: o.StopCode, StoppedReason: o.StoppedReason, LogStream: o.LogStream, Status: status,
		StartedAt: timePtr(o.StartedAt), StoppedAt: timePtr(o.StoppedAt),
	}
	if strings.HasPrefix(t.ARN, "arn:") {
		row.TaskARN = t.ARN
	} else {
		row.InstanceID = t.ARN
	}
	return row
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// buildUnits lays out every unit of the request with its chunk and its
// records, and gives the chunk's record-less live tasks to the units
// without a live task.
func buildUnits(sr StoredRequest, chunks []ChunkState, tasks []TaskRecord) []*unit {
	tasks = WithChunkRefs(sr, chunks, tasks)
	byChunk := make(map[int]ChunkState, len(chunks))
	for _, c := range chunks {
		byChunk[c.Index] = c
	}
	byIndex := map[int][]TaskRecord{}
	referenced, unreferenced := map[string]bool{}, map[string]TaskRecord{}
	for _, t := range tasks {
		if !t.Referenced {
			unreferenced[t.ARN] = t
			continue
		}
		referenced[t.ARN] = true
		byIndex[t.Index] = append(byIndex[t.Index], t)
	}
	var units []*unit
	for i := range sr.Plan.Count {
		spec, err := sr.Request.Chunk(i)
		if err != nil {
			continue
		}
		c := byChunk[i]
		c.Index = i
		first := len(units)
		for k := range spec.Size {
			idx := sr.Request.UnitIndex(spec, k)
			recs := byIndex[idx]
			slices.SortStableFunc(recs, byAttempt)
			units = append(units, &unit{index: idx, chunk: c, records: recs})
		}
		adoptOrphans(units[first:], c, referenced, unreferenced)
	}
	slices.SortStableFunc(units, func(a, b *unit) int { return cmp.Compare(a.index, b.index) })
	return units
}

func byAttempt(a, b TaskRecord) int {
	if c := cmp.Compare(a.Attempt, b.Attempt); c != 0 {
		return c
	}
	return a.LaunchedAt.Compare(b.LaunchedAt)
}

// adoptOrphans gives each settled task of the chunk that has no
// referenced record to a unit of the chunk without a live task: first
// those whose last task was replaced, then those with none.
func adoptOrphans(units []*unit, c ChunkState, referenced map[string]bool, unreferenced map[string]TaskRecord) {
	var orphans []string
	for _, id := range c.IDs {
		if !referenced[id] && !slices.Contains(c.Stopped, id) && !slices.Contains(c.Relaunching, id) {
			orphans = append(orphans, id)
		}
	}
	for pass := range 2 {
		for _, u := range units {
			if len(orphans) == 0 {
				return
			}
			if u.live() || (pass == 0) != (len(u.records) > 0) {
				continue
			}
			t, ok := unreferenced[orphans[0]]
			if !ok {
				t = TaskRecord{TaskRef: TaskRef{ARN: orphans[0]}}
			}
			u.orphan, orphans = &t, orphans[1:]
		}
	}
}
