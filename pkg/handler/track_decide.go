package handler

import (
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// taskStep is what a task's recorded state calls for.
type taskStep int

const (
	// stepRecord: nothing beyond the observation (the task has not
	// stopped, or its outcome is final already).
	stepRecord taskStep = iota
	// stepFinal: record Outcome (SUCCEEDED or FAILED); no new task.
	stepFinal
	// stepRelaunch: TaskFailedToStart; the relaunch path launches a
	// replacement of the same attempt (outcome RELAUNCHED).
	stepRelaunch
	// stepRetry: the exit is retried (outcome RETRIED); the relaunch path
	// launches the next attempt.
	stepRetry
	// stepNeedRef: the decision needs the task's unit and attempt, which
	// the launcher has not recorded yet: the event is redelivered.
	stepNeedRef
)

// taskDecision is decideTask's answer.
type taskDecision struct {
	Step    taskStep
	Outcome string
	Why     string
}

// decideTask is the one decision of what a task's state means, given its
// request and its record (the observation already stored):
//   - not stopped: record only;
//   - outcome decided already: RETRIED / RELAUNCHED continue their
//     relaunch (the relaunch claims make that idempotent), others end here;
//   - TaskFailedToStart: relaunched, same attempt (a launch failure spends
//     no attempt); a waiting request needs the attempt recorded first;
//   - without waitForCompletion: the exit alone decides (SUCCEEDED on exit
//     code 0, else FAILED), nothing is retried;
//   - with waitForCompletion: retryStrategy decides from the attempt and
//     the essential container's exit (launch.RetryStrategy.Decide).
func decideTask(r launch.Request, rec launch.TaskRecord) taskDecision {
	if !rec.Stopped() {
		return taskDecision{Step: stepRecord, Why: "task is " + rec.Observation.LastStatus}
	}
	switch rec.Outcome {
	case "":
	case launch.OutcomeRetried:
		return taskDecision{Step: stepRetry, Outcome: rec.Outcome, Why: rec.Why}
	case launch.OutcomeRelaunched:
		return taskDecision{Step: stepRelaunch, Outcome: rec.Outcome, Why: rec.Why}
	default:
		return taskDecision{Step: stepRecord, Outcome: rec.Outcome, Why: "outcome already " + rec.Outcome}
	}
	o := rec.Observation
	needRef := taskDecision{Step: stepNeedRef, Why: "the launcher has not recorded the task's unit and attempt yet"}
	if o.StopCode == launch.StopCodeFailedToStart {
		if r.WaitForCompletion && !rec.Referenced {
			return needRef
		}
		return taskDecision{Step: stepRelaunch, Outcome: launch.OutcomeRelaunched, Why: "TaskFailedToStart: " + o.StoppedReason}
	}
	if !r.WaitForCompletion {
		return exitOutcome(o, "")
	}
	if !rec.Referenced {
		return needRef
	}
	var s launch.RetryStrategy
	if r.RetryStrategy != nil {
		s = *r.RetryStrategy
	}
	d := s.Decide(taskExit(rec))
	if d.Retry {
		return taskDecision{Step: stepRetry, Outcome: launch.OutcomeRetried, Why: d.Why}
	}
	return exitOutcome(o, d.Why)
}

// exitOutcome: SUCCEEDED when the essential container exited 0 (a Spot
// interruption never succeeds), else FAILED.
func exitOutcome(o launch.TaskObservation, why string) taskDecision {
	if o.ExitCode != nil && *o.ExitCode == 0 && o.StopCode != launch.StopCodeSpot {
		return taskDecision{Step: stepFinal, Outcome: launch.OutcomeSucceeded, Why: "exit code 0"}
	}
	if why == "" {
		why = "stopped: " + o.StopCode + ": " + o.StoppedReason
	}
	return taskDecision{Step: stepFinal, Outcome: launch.OutcomeFailed, Why: why}
}

// taskExit is a stopped task's record as retryStrategy reads it.
func taskExit(rec launch.TaskRecord) launch.TaskExit {
	o := rec.Observation
	return launch.TaskExit{Attempt: max(1, rec.Attempt), ExitCode: o.ExitCode, Reason: o.Reason,
		StatusReason: o.StoppedReason, StopCode: o.StopCode}
}

// taskObservation is an ECS task's state as a record stores it; the exit
// code and reason are the essential container's (essentialNames), whose
// name it returns.
func taskObservation(r launch.Request, t failure.ECSTask, now time.Time) (launch.TaskObservation, string) {
	o := launch.TaskObservation{ARN: t.TaskArn, LastStatus: t.LastStatus, Version: t.Version, StopCode: t.StopCode,
		StoppedReason: t.StoppedReason, StartedAt: t.StartedAt, StoppedAt: t.StoppedAt, ObservedAt: now}
	c, ok := t.Essential(essentialNames(r, t)...)
	if ok {
		o.ExitCode, o.Reason = c.ExitCode, c.Reason
	}
	return o, c.Name
}

// essentialNames are the containers whose exit is the task's, in order of
// preference: ECS does not say which containers are essential, so the
// one the request names for its items (ecs.itemContainer), else the first
// of ecs.overrides, else the first of the task's own overrides; when the
// task has none of them, failure.ECSTask.Essential takes the first
// container that has an exit code.
func essentialNames(r launch.Request, t failure.ECSTask) []string {
	var names []string
	if s := r.ECS; s != nil {
		names = append(names, s.ItemContainer)
		if s.Overrides != nil && len(s.Overrides.ContainerOverrides) > 0 {
			names = append(names, s.Overrides.ContainerOverrides[0].Name)
		}
	}
	if len(t.OverrideContainers) > 0 {
		names = append(names, t.OverrideContainers[0])
	}
	return names
}
