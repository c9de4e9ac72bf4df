package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// A unit dead-lettered as OutcomeUnknown may be running: redrive leaves it
// out unless --include-unknown, and says how many it left out. The units
// the summary dead-lettered because their chunk ended undecided are
// redriven like any other.
func TestRedriveSkipsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	req := launch.Request{RequestID: "r1", ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:1", Count: 50, LaunchType: "FARGATE",
		NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a"}}}}}
	sr := launch.StoredRequest{Request: req, Plan: launch.NewPlan(req, time.Now().Add(time.Hour))}
	chunks := []launch.ChunkState{
		{Index: 0, GaveUp: true, DeadLettered: 10, Class: "capacity", Code: "RESOURCE:ENI"},
		{Index: 1, GaveUp: true, DeadLettered: 4, Class: launch.ClassUnfinished, Code: launch.CodeOutcomeUnknown},
		{Index: 2, GaveUp: true, DeadLettered: 3, Class: "transient", Code: "ServerException", Reason: launch.CodeOutcomeUnknown + ": lost response"},
		{Index: 3, GaveUp: true, DeadLettered: 2, Class: launch.ClassUnfinished, Code: launch.CodeChunkUnfinished}, // the summary's: nothing of it runs
		// Given up with a plain code while an attempt's outcome was never
		// settled: its units may run all the same.
		{Index: 4, GaveUp: true, DeadLettered: 5, Class: "transient", Code: "ServerException",
			Attempts: map[int]launch.AttemptRecord{2: {Attempt: 2, Count: 10, State: launch.AttemptSent}}},
	}
	lost := []launch.LostRecord{{Chunk: 0, Reason: "deadline passed", Units: 1}, {Chunk: 3, Reason: launch.CodeOutcomeUnknown + ": relaunch call", Units: 1}}
	tests := []struct {
		name           string
		includeUnknown bool
		wantCount      int
		wantSkipped    int
	}{
		{name: "skipped by default", wantCount: 13, wantSkipped: 13},
		{name: "included when asked", includeUnknown: true, wantCount: 26},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, skipped := redriveRequest(sr, chunks, lost, tt.includeUnknown)
			if r.ECS == nil || r.ECS.Count != tt.wantCount || skipped != tt.wantSkipped || r.RequestID != "r1"+RedriveSuffix {
				t.Errorf("got %+v, skipped %d; want %d units as r1%s, %d skipped", r.ECS, skipped, tt.wantCount, RedriveSuffix, tt.wantSkipped)
			}
		})
	}
	note := skippedNote("r1", 8)
	for _, want := range []string{"8 unit(s)", launch.CodeOutcomeUnknown, "may be running", "--include-unknown", "throttlectl status r1"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q does not say %q", note, want)
		}
	}
}
