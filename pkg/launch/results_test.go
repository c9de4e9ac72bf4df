package launch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

var t0 = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

func storedOf(r launch.Request) launch.StoredRequest {
	return launch.StoredRequest{Request: r, Plan: launch.NewPlan(r, t0.Add(time.Hour)), Created: t0, Deadline: t0.Add(time.Hour)}
}

func arn(i int) string { return fmt.Sprintf("arn:aws:ecs:us-east-1:1:task/c/t%d", i) }

// rec is a referenced record of unit index, attempt a, launched at
// minute m, with an outcome and (when stopped) an exit code.
func rec(index, a, m int, outcome string, exit *int) launch.TaskRecord {
	obs := launch.TaskObservation{ARN: arn(index*100 + a*10 + m), LastStatus: "RUNNING", StartedAt: t0.Add(time.Duration(m) * time.Minute)}
	if outcome != "" {
		obs.LastStatus, obs.ExitCode, obs.StoppedAt = "STOPPED", exit, obs.StartedAt.Add(time.Minute)
	}
	return launch.TaskRecord{
		TaskRef:    launch.TaskRef{ARN: obs.ARN, Index: index, Chunk: index / 10, Attempt: a, LaunchedAt: obs.StartedAt},
		Referenced: true, Observation: obs, Outcome: outcome,
	}
}

type rowWant struct {
	status   string
	attempts int
	arn      string // "" none
}

// TestResults: one row per unit, from the latest attempt, and the status
// of units without a live task.
func TestResults(t *testing.T) {
	t.Parallel()
	r := launchtest.ECSRequest("r", 12) // chunks of 10 and 2 units
	ok, bad := new(0), new(1)
	failedA1, retriedA1 := rec(0, 1, 0, launch.OutcomeRetried, bad), rec(3, 1, 0, launch.OutcomeRetried, bad)
	startFail := rec(4, 1, 0, launch.OutcomeRelaunched, nil)
	tests := []struct {
		name      string
		chunks    []launch.ChunkState
		tasks     []launch.TaskRecord
		cancelled bool
		want      map[int]rowWant
	}{
		{"decided and undecided tasks", nil, []launch.TaskRecord{rec(0, 1, 0, launch.OutcomeSucceeded, ok), rec(1, 1, 0, launch.OutcomeFailed, bad), rec(2, 1, 0, "", nil)},
			false, map[int]rowWant{0: {launch.ResultSucceeded, 1, arn(10)}, 1: {launch.ResultFailed, 1, arn(110)}, 2: {launch.ResultRunning, 1, arn(210)}, 3: {launch.ResultPending, 0, ""}}},
		{"the latest attempt wins", nil, []launch.TaskRecord{rec(0, 2, 5, launch.OutcomeSucceeded, ok), failedA1},
			false, map[int]rowWant{0: {launch.ResultSucceeded, 2, arn(25)}}},
		{"a relaunch keeps the attempt; the later launch wins", nil, []launch.TaskRecord{rec(4, 1, 3, "", nil), startFail},
			false, map[int]rowWant{4: {launch.ResultRunning, 1, arn(413)}}},
		{"a retry not launched yet is pending", nil, []launch.TaskRecord{retriedA1},
			false, map[int]rowWant{3: {launch.ResultPending, 1, ""}}},
		{"a replacement given up is dead-lettered", []launch.ChunkState{{Index: 0, IDs: []string{startFail.ARN}, Stopped: []string{startFail.ARN}, Lost: 1}},
			[]launch.TaskRecord{startFail}, false, map[int]rowWant{4: {launch.ResultDeadLettered, 1, ""}, 5: {launch.ResultPending, 0, ""}}},
		{"a chunk given up dead-letters its units without a task", []launch.ChunkState{{Index: 1, GaveUp: true, DeadLettered: 2, Reason: "quota: vCPU limit"}},
			nil, true, map[int]rowWant{0: {launch.ResultCancelled, 0, ""}, 10: {launch.ResultDeadLettered, 0, ""}, 11: {launch.ResultDeadLettered, 0, ""}}},
		{"a task the chunk recorded without its record fills the first free unit", []launch.ChunkState{{Index: 1, IDs: []string{"arn:aws:ecs:us-east-1:1:task/c/x"}}},
			nil, false, map[int]rowWant{10: {launch.ResultRunning, 1, "arn:aws:ecs:us-east-1:1:task/c/x"}, 11: {launch.ResultPending, 0, ""}}},
		{"a record-less task replaces a relaunched unit first", []launch.ChunkState{{Index: 0, IDs: []string{startFail.ARN, "arn:new"}, Stopped: []string{startFail.ARN}}},
			[]launch.TaskRecord{rec(0, 1, 0, "", nil), startFail}, false, map[int]rowWant{1: {launch.ResultPending, 0, ""}, 4: {launch.ResultRunning, 1, "arn:new"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := launch.Results(storedOf(r), tt.chunks, tt.tasks, tt.cancelled)
			if len(rows) != 12 {
				t.Fatalf("got %d rows, want 12 (one per unit)", len(rows))
			}
			for i, row := range rows {
				if row.Index != i {
					t.Fatalf("row %d has index %d: rows are in index order", i, row.Index)
				}
				w, ok := tt.want[i]
				if !ok {
					continue
				}
				if row.Status != w.status || row.Attempts != w.attempts || row.TaskARN != w.arn {
					t.Errorf("unit %d: got %s, %d attempts, %q; want %s, %d, %q", i, row.Status, row.Attempts, row.TaskARN, w.status, w.attempts, w.arn)
				}
			}
		})
	}
}

// TestResultsRowFields: a stopped task's row carries its observation; a
// dead-lettered unit its chunk's reason; an instance its id.
func TestResultsRowFields(t *testing.T) {
	t.Parallel()
	r := launchtest.ECSRequest("r", 1)
	tr := rec(0, 1, 0, launch.OutcomeFailed, new(137))
	tr.Observation.StopCode, tr.Observation.StoppedReason, tr.Observation.LogStream = "EssentialContainerExited", "Essential container in task exited", "ecs/main/x"
	row := launch.Results(storedOf(r), nil, []launch.TaskRecord{tr}, false)[0]
	if row.ExitCode == nil || *row.ExitCode != 137 || row.StopCode != "EssentialContainerExited" || row.LastStatus != "STOPPED" ||
		row.StoppedReason != tr.Observation.StoppedReason || row.LogStream != "ecs/main/x" || row.StartedAt == nil || !row.StoppedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("row = %+v, want the observation's fields", row)
	}

	gaveUp := []launch.ChunkState{{Index: 0, GaveUp: true, Class: "quota", Code: "TaskLimitExceeded"}}
	if row := launch.Results(storedOf(r), gaveUp, nil, false)[0]; row.StoppedReason != "quota: TaskLimitExceeded" || row.StartedAt != nil {
		t.Errorf("dead-lettered row = %+v, want the chunk's class and code as reason", row)
	}

	e := launchtest.EC2Request("e", 2)
	inst := launch.TaskRecord{TaskRef: launch.TaskRef{ARN: "i-0abc", Index: 1, Attempt: 1}, Referenced: true}
	rows := launch.Results(storedOf(e), nil, []launch.TaskRecord{inst}, false)
	if rows[1].InstanceID != "i-0abc" || rows[1].TaskARN != "" || rows[0].Status != launch.ResultPending {
		t.Errorf("EC2 rows = %+v, want the instance id in instanceId", rows)
	}
}

// TestAllAttemptResults: every attempt, oldest first, then the unit's row.
func TestAllAttemptResults(t *testing.T) {
	t.Parallel()
	r := launchtest.ECSRequest("r", 2)
	tasks := []launch.TaskRecord{
		rec(0, 2, 5, launch.OutcomeSucceeded, new(0)), rec(0, 1, 0, launch.OutcomeRetried, new(1)),
		rec(1, 1, 0, launch.OutcomeRetried, new(1)),
	}
	rows := launch.AllAttemptResults(storedOf(r), nil, tasks, false)
	want := []rowWant{{launch.ResultFailed, 1, arn(10)}, {launch.ResultSucceeded, 2, arn(25)}, {launch.ResultFailed, 1, arn(110)}, {launch.ResultPending, 1, ""}}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		if rows[i].Status != w.status || rows[i].Attempts != w.attempts || rows[i].TaskARN != w.arn {
			t.Errorf("row %d: got %+v, want %+v", i, rows[i], w)
		}
	}
}

// TestFinalCountsOf: without waiting a launched unit succeeded; waiting,
// units not final count nowhere, so Outcome takes them as missing.
func TestFinalCountsOf(t *testing.T) {
	t.Parallel()
	var rows []launch.ResultRow
	for i, s := range []string{launch.ResultSucceeded, launch.ResultFailed, launch.ResultRunning, launch.ResultPending, launch.ResultDeadLettered, launch.ResultCancelled} {
		rows = append(rows, launch.ResultRow{Index: i, Status: s})
	}
	tests := []struct {
		waiting bool
		want    launch.FinalCounts
		status  string
		errName string
	}{
		{false, launch.FinalCounts{Requested: 6, Succeeded: 3, DeadLettered: 1, Cancelled: 1}, launch.StatusFailed, launch.ErrLaunchIncomplete},
		{true, launch.FinalCounts{Requested: 6, Succeeded: 1, Failed: 1, DeadLettered: 1, Cancelled: 1}, launch.StatusFailed, launch.ErrLaunchIncomplete},
	}
	for _, tt := range tests {
		got := launch.FinalCountsOf(rows, tt.waiting)
		if got != tt.want {
			t.Errorf("waiting %v: got %+v, want %+v", tt.waiting, got, tt.want)
		}
		if s, e := launchtest.ECSRequest("r", 6).Outcome(got); s != tt.status || e != tt.errName {
			t.Errorf("waiting %v: outcome %s %s, want %s %s", tt.waiting, s, e, tt.status, tt.errName)
		}
	}
	counts := launch.StatusCounts(rows[:1])
	if len(counts) != 6 || counts[launch.ResultSucceeded] != 1 || counts[launch.ResultPending] != 0 {
		t.Errorf("StatusCounts = %v, want every status, zeros included", counts)
	}
}

// TestWaitInterval: 5 % of the time waited, within [5 s, 600 s]; a
// timeout due sooner shortens it to no less than half; the longest
// deadline takes about 1,100 checks, at most twice that with timeouts due
// at every check.
func TestWaitInterval(t *testing.T) {
	t.Parallel()
	s := func(n int) time.Duration { return time.Duration(n) * time.Second }
	tests := []struct{ waited, next, want time.Duration }{
		{0, 0, s(5)}, {s(99), 0, s(5)}, {s(200), 0, s(10)}, {time.Hour, 0, s(180)},
		{3 * time.Hour, 0, s(540)}, {4 * time.Hour, 0, s(600)}, {launch.MaxDeadline, 0, s(600)},
		{time.Hour, s(200), s(180)}, {time.Hour, s(120), s(120)}, {time.Hour, s(30), s(90)},
		{0, s(2), s(5)}, {4 * time.Hour, time.Nanosecond, s(300)},
	}
	for _, tt := range tests {
		if got := launch.WaitInterval(tt.waited, tt.next); got != tt.want {
			t.Errorf("WaitInterval(%v, next %v) = %v, want %v", tt.waited, tt.next, got, tt.want)
		}
	}
	if n := launch.WaitLoops(launch.MaxDeadline, 0); n < 1000 || n > 1200 {
		t.Errorf("WaitLoops(7 days) = %d, want about 1,100", n)
	}
	if n, base := launch.WaitLoops(launch.MaxDeadline, time.Nanosecond), launch.WaitLoops(launch.MaxDeadline, 0); n > 2*base {
		t.Errorf("WaitLoops(7 days, a timeout at every check) = %d, want at most twice %d", n, base)
	}
	if n := launch.WaitLoops(time.Minute, 0); n != 13 {
		t.Errorf("WaitLoops(1 min) = %d, want 13 (12 checks 5 s apart, and the first)", n)
	}
}
