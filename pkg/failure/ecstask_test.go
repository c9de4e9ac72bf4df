package failure

import (
	"reflect"
	"testing"
	"time"
)

func ptr(n int) *int { return &n }

// TestParseECSTaskTracking reads the fields tracking needs from details
// shaped as in "Amazon ECS Developer Guide: Amazon ECS task state change
// events" (ISO times, containers with exitCode, version, overrides).
func TestParseECSTaskTracking(t *testing.T) {
	t.Parallel()
	start := time.Date(2020, 1, 23, 17, 57, 58, 103e6, time.UTC)
	stop := time.Date(2020, 1, 23, 17, 58, 10, 103e6, time.UTC)
	for name, tc := range map[string]struct {
		detail string
		want   ECSTask
	}{
		"failed to start (the guide's example)": {
			detail: `{"clusterArn":"arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster","containers":[{"name":"FargateApp","lastStatus":"STOPPED"}],"launchType":"FARGATE","lastStatus":"STOPPED","stopCode":"TaskFailedToStart","stoppedReason":"Timeout waiting for network interface provisioning to complete.","stoppedAt":"2020-01-23T17:58:10.103Z","taskArn":"arn:t","taskDefinitionArn":"arn:td","version":3}`,
			want: ECSTask{TaskArn: "arn:t", LastStatus: "STOPPED", StopCode: "TaskFailedToStart",
				StoppedReason: "Timeout waiting for network interface provisioning to complete.",
				ClusterArn:    "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster", TaskDefinitionArn: "arn:td", Version: 3, StoppedAt: stop,
				Containers: []ECSContainer{{Name: "FargateApp"}}},
		},
		"essential container exited": {
			detail: `{"clusterArn":"arn:c","taskArn":"arn:t","startedBy":"th/h/0/1","lastStatus":"STOPPED","stopCode":"EssentialContainerExited","stoppedReason":"Essential container in task exited","startedAt":"2020-01-23T17:57:58.103Z","stoppedAt":"2020-01-23T17:58:10.103Z","version":5,"containers":[{"name":"sidecar","lastStatus":"STOPPED","exitCode":0},{"name":"app","lastStatus":"STOPPED","exitCode":2,"reason":"OutOfMemoryError: Container killed due to memory usage"}],"overrides":{"containerOverrides":[{"name":"app","environment":[{"name":"TH_ARRAY_INDEX","value":"4"}]}]}}`,
			want: ECSTask{TaskArn: "arn:t", StartedBy: "th/h/0/1", LastStatus: "STOPPED", StopCode: "EssentialContainerExited",
				StoppedReason: "Essential container in task exited", ClusterArn: "arn:c", Version: 5, StartedAt: start, StoppedAt: stop,
				Containers:         []ECSContainer{{Name: "sidecar", ExitCode: ptr(0)}, {Name: "app", ExitCode: ptr(2), Reason: "OutOfMemoryError: Container killed due to memory usage"}},
				OverrideContainers: []string{"app"}},
		},
		"running, API epoch times": {
			detail: `{"taskArn":"arn:t","lastStatus":"RUNNING","startedAt":1579802278.103,"version":2,"containers":[{"name":"app","lastStatus":"RUNNING"}],"overrides":{"containerOverrides":[]}}`,
			want:   ECSTask{TaskArn: "arn:t", LastStatus: "RUNNING", Version: 2, StartedAt: start, Containers: []ECSContainer{{Name: "app"}}},
		},
		"unreadable time reads as zero": {
			detail: `{"taskArn":"arn:t","lastStatus":"STOPPED","stoppedAt":"yesterday","version":1}`,
			want:   ECSTask{TaskArn: "arn:t", LastStatus: "STOPPED", Version: 1},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseECSEvent([]byte(`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":` + tc.detail + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev.Task, tc.want) {
				t.Errorf("got  %+v\nwant %+v", ev.Task, tc.want)
			}
		})
	}
}

func TestECSTaskEssential(t *testing.T) {
	t.Parallel()
	task := ECSTask{Containers: []ECSContainer{{Name: "init"}, {Name: "log", ExitCode: ptr(0)}, {Name: "app", ExitCode: ptr(3)}}}
	for name, tc := range map[string]struct {
		task  ECSTask
		names []string
		want  string
		ok    bool
	}{
		"named first":                  {task, []string{"app"}, "app", true},
		"first name the task has":      {task, []string{"", "nope", "init", "app"}, "init", true},
		"else first with an exit code": {task, []string{"nope"}, "log", true},
		"else first container":         {ECSTask{Containers: []ECSContainer{{Name: "a"}, {Name: "b"}}}, nil, "a", true},
		"no containers":                {ECSTask{}, []string{"app"}, "", false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, ok := tc.task.Essential(tc.names...)
			if c.Name != tc.want || ok != tc.ok {
				t.Errorf("got %q %v, want %q %v", c.Name, ok, tc.want, tc.ok)
			}
		})
	}
}
