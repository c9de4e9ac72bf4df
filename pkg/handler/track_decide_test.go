package handler

import (
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

func stoppedRec(attempt int, stopCode string, exit *int, reason string) launch.TaskRecord {
	return launch.TaskRecord{TaskRef: launch.TaskRef{ARN: "arn:t", Index: 4, Attempt: attempt}, Referenced: attempt > 0,
		Observation: launch.TaskObservation{ARN: "arn:t", LastStatus: "STOPPED", StopCode: stopCode, ExitCode: exit, StoppedReason: reason}}
}

func TestDecideTask(t *testing.T) {
	t.Parallel()
	one, zero, oom := 1, 0, 137
	plain := launch.Request{}
	waiting := launch.Request{WaitForCompletion: true}
	retry3 := launch.Request{WaitForCompletion: true, RetryStrategy: &launch.RetryStrategy{Attempts: 3,
		EvaluateOnExit: []launch.EvaluateOnExit{{OnExitCode: "137", Action: "exit"}}}}
	running := launch.TaskRecord{Observation: launch.TaskObservation{LastStatus: "RUNNING"}}
	decided := func(r launch.TaskRecord, outcome string) launch.TaskRecord { r.Outcome = outcome; return r }
	for name, tc := range map[string]struct {
		req     launch.Request
		rec     launch.TaskRecord
		step    taskStep
		outcome string
	}{
		"running: record only":                      {retry3, running, stepRecord, ""},
		"failed to start: relaunched":               {plain, stoppedRec(0, launch.StopCodeFailedToStart, nil, "x"), stepRelaunch, launch.OutcomeRelaunched},
		"failed to start, waiting, unreferenced":    {waiting, stoppedRec(0, launch.StopCodeFailedToStart, nil, "x"), stepNeedRef, ""},
		"failed to start, waiting, referenced":      {waiting, stoppedRec(2, launch.StopCodeFailedToStart, nil, "x"), stepRelaunch, launch.OutcomeRelaunched},
		"no wait: exit 0 succeeds":                  {plain, stoppedRec(0, "EssentialContainerExited", &zero, ""), stepFinal, launch.OutcomeSucceeded},
		"no wait: exit 1 fails, never retried":      {plain, stoppedRec(0, "EssentialContainerExited", &one, ""), stepFinal, launch.OutcomeFailed},
		"no wait: spot fails":                       {plain, stoppedRec(0, launch.StopCodeSpot, nil, ""), stepFinal, launch.OutcomeFailed},
		"waiting: unreferenced needs the ref":       {retry3, stoppedRec(0, "EssentialContainerExited", &one, ""), stepNeedRef, ""},
		"waiting, no strategy: one attempt":         {waiting, stoppedRec(1, "EssentialContainerExited", &one, ""), stepFinal, launch.OutcomeFailed},
		"waiting: exit 0 succeeds":                  {retry3, stoppedRec(1, "EssentialContainerExited", &zero, ""), stepFinal, launch.OutcomeSucceeded},
		"waiting: no entry matches, retried":        {retry3, stoppedRec(1, "EssentialContainerExited", &one, ""), stepRetry, launch.OutcomeRetried},
		"waiting: EXIT entry matches":               {retry3, stoppedRec(1, "UserInitiated", &oom, ""), stepFinal, launch.OutcomeFailed},
		"waiting: last attempt":                     {retry3, stoppedRec(3, "EssentialContainerExited", &one, ""), stepFinal, launch.OutcomeFailed},
		"waiting: spot retried":                     {retry3, stoppedRec(2, launch.StopCodeSpot, nil, ""), stepRetry, launch.OutcomeRetried},
		"decided RETRIED: continue the retry":       {retry3, decided(stoppedRec(1, "EssentialContainerExited", &one, ""), launch.OutcomeRetried), stepRetry, launch.OutcomeRetried},
		"decided RELAUNCHED: continue the relaunch": {plain, decided(stoppedRec(0, launch.StopCodeFailedToStart, nil, ""), launch.OutcomeRelaunched), stepRelaunch, launch.OutcomeRelaunched},
		"decided FAILED: nothing more":              {retry3, decided(stoppedRec(1, "EssentialContainerExited", &one, ""), launch.OutcomeFailed), stepRecord, launch.OutcomeFailed},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := decideTask(tc.req, tc.rec)
			if d.Step != tc.step || d.Outcome != tc.outcome {
				t.Errorf("got step %d outcome %q (%s), want step %d outcome %q", d.Step, d.Outcome, d.Why, tc.step, tc.outcome)
			}
		})
	}
}

func TestTaskObservationEssentialContainer(t *testing.T) {
	t.Parallel()
	one, two, three := 1, 2, 3
	task := failure.ECSTask{TaskArn: "arn:t", LastStatus: "STOPPED", OverrideContainers: []string{"side"},
		Containers: []failure.ECSContainer{{Name: "log", ExitCode: &one}, {Name: "app", ExitCode: &two, Reason: "r"}, {Name: "side", ExitCode: &three}}}
	for name, tc := range map[string]struct {
		spec *launch.ECSSpec
		want int
	}{
		"ecs.itemContainer":              {&launch.ECSSpec{ItemContainer: "app"}, 2},
		"ecs.overrides' first container": {&launch.ECSSpec{Overrides: &launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "log"}}}}, 1},
		"the task's overrides":           {&launch.ECSSpec{}, 3},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o, _ := taskObservation(launch.Request{ECS: tc.spec}, task, t0)
			if o.ExitCode == nil || *o.ExitCode != tc.want {
				t.Errorf("exit code %v, want %d", o.ExitCode, tc.want)
			}
		})
	}
}
