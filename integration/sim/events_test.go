package sim_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"quamina.net/go/quamina"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// taskDetail is the part of an "ECS Task State Change" detail the product
// reads.
type taskDetail struct {
	ClusterArn    string `json:"clusterArn"`
	TaskArn       string `json:"taskArn"`
	LastStatus    string `json:"lastStatus"`
	DesiredStatus string `json:"desiredStatus"`
	StartedBy     string `json:"startedBy"`
	Group         string `json:"group"`
	LaunchType    string `json:"launchType"`
	StopCode      string `json:"stopCode"`
	StoppedReason string `json:"stoppedReason"`
	CreatedAt     string `json:"createdAt"`
	StoppedAt     string `json:"stoppedAt"`
	StartedAt     string `json:"startedAt"`
	StoppingAt    string `json:"stoppingAt"`
	Version       int    `json:"version"`
	Overrides     struct {
		ContainerOverrides []struct {
			Environment []struct{ Name, Value string }
		}
	} `json:"overrides"`
	Containers []struct {
		Name       string `json:"name"`
		LastStatus string `json:"lastStatus"`
		ExitCode   *int   `json:"exitCode"`
		Reason     string `json:"reason"`
	} `json:"containers"`
}

func taskEvents(t *testing.T, s *sim.Sim) []taskDetail {
	t.Helper()
	var out []taskDetail
	for _, e := range s.Events().Events("ECS Task State Change") {
		var d taskDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if e.Version != "0" || e.Source != "aws.ecs" || e.Account != "000000000000" || e.Region != "us-east-1" ||
			len(e.Resources) != 1 || e.Resources[0] != d.TaskArn || e.ID == "" {
			t.Fatalf("envelope: got %+v", e)
		}
		if _, err := time.Parse(time.RFC3339, e.Time); err != nil {
			t.Fatalf("envelope time %q: %v", e.Time, err)
		}
		out = append(out, d)
	}
	return out
}

// TestTaskLifecycleEvents: a Fargate task's state changes arrive in order,
// one event per change, in the documented envelope, with increasing
// versions, and DescribeTasks agrees at each step.
func TestTaskLifecycleEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Lifecycle: sim.Lifecycle{ProvisioningSeconds: 5, PendingSeconds: 10, RunSeconds: 30, StoppingSeconds: 2}})
	in := fargate10()
	in.Count = aws.Int32(1)
	in.StartedBy = aws.String("th/0123456789ab/7/1")
	in.Group = aws.String("nightly")
	out, err := e.ecs.RunTask(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	e.settle(t, time.Hour)
	got := taskEvents(t, e.sim)
	want := []struct {
		last, desired, stopCode string
		at                      time.Duration
	}{
		{"PROVISIONING", "RUNNING", "", 0},
		{"PENDING", "RUNNING", "", 5 * time.Second},
		{"RUNNING", "RUNNING", "", 15 * time.Second},
		{"RUNNING", "STOPPED", "EssentialContainerExited", 45 * time.Second},
		{"STOPPED", "STOPPED", "EssentialContainerExited", 47 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.LastStatus != w.last || g.DesiredStatus != w.desired || g.StopCode != w.stopCode || g.Version != i+1 {
			t.Errorf("event %d: got %s/%s %q v%d, want %s/%s %q v%d", i, g.LastStatus, g.DesiredStatus, g.StopCode, g.Version, w.last, w.desired, w.stopCode, i+1)
		}
		if g.TaskArn != *out.Tasks[0].TaskArn || g.StartedBy != "th/0123456789ab/7/1" || g.Group != "nightly" || g.LaunchType != "FARGATE" || g.Containers[0].Name != "job" {
			t.Errorf("event %d: got %+v", i, g)
		}
		if g.CreatedAt != "2026-11-22T12:00:00.000Z" {
			t.Errorf("event %d: createdAt %q, want ISO 8601 with milliseconds", i, g.CreatedAt)
		}
	}
	last := got[len(got)-1]
	if last.StoppedAt != t0.Add(47*time.Second).Format("2006-01-02T15:04:05.000Z") || last.Containers[0].ExitCode == nil || *last.Containers[0].ExitCode != 0 {
		t.Errorf("final event: stoppedAt %q exit %v", last.StoppedAt, last.Containers[0].ExitCode)
	}
	entry, _ := e.sim.Ledger().Get(*out.Tasks[0].TaskArn)
	if entry.StopCode != "EssentialContainerExited" || entry.FailedToStart {
		t.Errorf("ledger: got %+v", entry)
	}
}

// ruleMatcher loads one of the product's EventBridge rules
// (statemachines/rules) into quamina, as the local event bus does.
func ruleMatcher(t *testing.T, name string) *quamina.Quamina {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "statemachines", "rules", name))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Pattern json.RawMessage `json:"pattern"`
	}
	if err := json.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	q, err := quamina.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := q.AddPattern(name, string(rule.Pattern)); err != nil {
		t.Fatal(err)
	}
	return q
}

func matching(t *testing.T, q *quamina.Quamina, raw [][]byte) int {
	t.Helper()
	n := 0
	for _, ev := range raw {
		m, err := q.MatchesForEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		n += len(m)
	}
	return n
}
