package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Runs makes started tasks finish on their own, as workloads do: a seeded
// run time, a share that exit 1, and Fargate Spot interruptions. Every draw
// is made from the task's ID and Config.Seed, so it neither shifts the
// simulator's ID sequence nor depends on the order of events. The zero
// value keeps tasks running until StopTask (or Lifecycle.RunSeconds).
type Runs struct {
	// MeanSeconds is the mean run time of a RUNNING task, drawn uniformly
	// from [0.5, 1.5) × MeanSeconds. 0: Lifecycle.RunSeconds (a fixed run
	// time; 0 runs until StopTask).
	MeanSeconds float64 `json:"meanSeconds,omitempty"`
	// FailureRate in [0, 1] is the share of tasks whose essential container
	// exits 1 at the end of its run (stopCode EssentialContainerExited);
	// the others exit 0. When tasks have no run time, a failing task exits
	// after a draw from [0.5, 1.5) × DefaultFailSeconds.
	FailureRate float64 `json:"failureRate,omitempty"`
	// SpotInterruptionRate in [0, 1] is the share of Fargate Spot tasks
	// interrupted while RUNNING, after a draw from [0.5, 1.5) ×
	// SpotInterruptionSeconds (default 60); a task whose run ends before
	// its interruption is not interrupted. The interruption is the
	// two-minute warning (desiredStatus STOPPED, stopCode SpotInterruption,
	// lastStatus still RUNNING); the task reaches STOPPED
	// SpotWarningSeconds later (default 120).
	SpotInterruptionRate    float64 `json:"spotInterruptionRate,omitempty"`
	SpotInterruptionSeconds float64 `json:"spotInterruptionSeconds,omitempty"`
	SpotWarningSeconds      float64 `json:"spotWarningSeconds,omitempty"`
	// NoStopExitCode turns off the exit code of a task StopTask stops
	// after its container started: by default its container exits
	// StopTaskExitCode, as a container that does not stop on SIGTERM is
	// killed (SIGKILL) when the stop timeout passes.
	NoStopExitCode bool `json:"noStopExitCode,omitempty"`
}

// StopTaskExitCode is the exit code of a container StopTask killed
// (128 + SIGKILL). Amazon ECS API Reference: "StopTask": a SIGTERM, then
// after the stop timeout a SIGKILL.
const StopTaskExitCode = 137

// AWSLogsStreamPrefix is the awslogs-stream-prefix of the simulator's task
// definitions (Config.NoAWSLogs turns their log configuration off).
const AWSLogsStreamPrefix = "ecs"

// DefaultFailSeconds is the mean time to a failing task's exit when tasks
// otherwise run until stopped.
const DefaultFailSeconds = 10

// Spot interruption as ECS reports it (Amazon ECS Developer Guide: "AWS
// Fargate capacity providers", Fargate Spot termination notices).
const (
	StopSpotInterruption  = "SpotInterruption"
	SpotInterruptedReason = "Your Spot Task was interrupted."
	// EssentialExitedReason is the stoppedReason of a task whose essential
	// container exited (Amazon ECS Developer Guide: "Amazon ECS task state
	// change events").
	EssentialExitedReason = "Essential container in task exited"
)

// ArrayIndexEnv is the environment variable whose container override value
// the ledger records as a task's array index.
const ArrayIndexEnv = "TH_ARRAY_INDEX"

func (r Runs) withDefaults() Runs {
	if r.SpotInterruptionSeconds == 0 {
		r.SpotInterruptionSeconds = 60
	}
	if r.SpotWarningSeconds == 0 {
		r.SpotWarningSeconds = 120
	}
	return r
}

func (r Runs) validate() error {
	for name, v := range map[string]float64{"FailureRate": r.FailureRate, "SpotInterruptionRate": r.SpotInterruptionRate} {
		if v < 0 || v > 1 {
			return fmt.Errorf("sim: Runs.%s must be in [0, 1], got %v", name, v)
		}
	}
	for name, v := range map[string]float64{"MeanSeconds": r.MeanSeconds,
		"SpotInterruptionSeconds": r.SpotInterruptionSeconds, "SpotWarningSeconds": r.SpotWarningSeconds} {
		if v < 0 {
			return fmt.Errorf("sim: Runs.%s must be ≥ 0, got %v", name, v)
		}
	}
	return nil
}

// Salts of the per-task draws.
const (
	drawList uint64 = iota
	drawRun
	drawFail
	drawSpot
	drawSpotAt
)

// draw returns a seeded value in [0, 1) for one of a task's decisions.
func (s *Sim) draw(id string, salt uint64) float64 {
	h := s.cfg.Seed
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	if salt != drawList {
		h = splitmix64(h ^ salt*0x9E3779B97F4A7C15)
	}
	return float64(splitmix64(h)>>11) / (1 << 53)
}

// around is a uniform draw from [0.5, 1.5) × mean.
func around(mean, u float64) float64 { return mean * (0.5 + u) }

// scheduleEnd plans how a task that just reached RUNNING ends on its own:
// its essential container exiting, or a Spot interruption, whichever comes
// first. Callers hold s.mu.
func (s *Sim) scheduleEnd(at time.Time, t *task) {
	r := s.cfg.Runs
	run := s.cfg.Lifecycle.RunSeconds
	if r.MeanSeconds > 0 {
		run = around(r.MeanSeconds, s.draw(t.id, drawRun))
	}
	exit := 0
	if s.draw(t.id, drawFail) < r.FailureRate {
		exit = 1
		if run <= 0 {
			run = around(DefaultFailSeconds, s.draw(t.id, drawRun))
		}
	}
	if t.kind.spot && s.draw(t.id, drawSpot) < r.SpotInterruptionRate {
		if in := around(r.SpotInterruptionSeconds, s.draw(t.id, drawSpotAt)); run <= 0 || in < run {
			s.sched.at(at.Add(secs(in)), func(at time.Time) { s.interruptSpot(at, t) })
			return
		}
	}
	if run > 0 {
		s.sched.at(at.Add(secs(run)), func(at time.Time) { s.containerExited(at, t, exit) })
	}
}

// containerExited stops a task whose essential container exited with code.
func (s *Sim) containerExited(at time.Time, t *task, code int) {
	if t.desiredStatus == StatusStopped {
		return
	}
	t.exitCode = &code
	s.beginStop(at, t, StopEssentialContainerExit, EssentialExitedReason)
}

// interruptSpot sends the two-minute warning: desiredStatus STOPPED with
// stopCode SpotInterruption while the task still runs; it stops
// SpotWarningSeconds later.
func (s *Sim) interruptSpot(at time.Time, t *task) {
	if t.desiredStatus == StatusStopped {
		return
	}
	s.stopAfter(at, t, StopSpotInterruption, SpotInterruptedReason, s.cfg.Runs.SpotWarningSeconds)
}

// arrayIndex reads ArrayIndexEnv from a RunTask's container overrides.
func arrayIndex(overrides json.RawMessage) *int {
	var o struct {
		ContainerOverrides []struct {
			Environment []nameValue `json:"environment"`
		} `json:"containerOverrides"`
	}
	if len(overrides) == 0 || json.Unmarshal(overrides, &o) != nil {
		return nil
	}
	for _, c := range o.ContainerOverrides {
		for _, e := range c.Environment {
			if e.Name != ArrayIndexEnv {
				continue
			}
			if n, err := strconv.Atoi(e.Value); err == nil {
				return &n
			}
		}
	}
	return nil
}

// taskOverrides is the overrides a task reports: the RunTask's own, or
// ECS's empty form.
func taskOverrides(in json.RawMessage) json.RawMessage {
	var probe map[string]json.RawMessage
	if len(in) == 0 || json.Unmarshal(in, &probe) != nil || probe == nil {
		return json.RawMessage(`{"containerOverrides":[]}`)
	}
	if _, ok := probe["containerOverrides"]; !ok {
		probe["containerOverrides"] = json.RawMessage(`[]`)
		b, _ := json.Marshal(probe)
		return b
	}
	return in
}
