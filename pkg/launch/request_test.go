package launch_test

import (
	"errors"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseRequestExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/request-ecs-ec2.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := launch.ParseRequest(b)
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	if got, want := r.Requested(), 2540; got != want {
		t.Fatalf("Requested: got %d, want %d", got, want)
	}
	if !r.ECS.Fargate() {
		t.Error("Fargate: got false, want true")
	}
}

// TestParseRequestExamplePriority: the README's priority example parses,
// runs in the high lane, and is a version-1 request (priority is valid in
// both versions).
func TestParseRequestExamplePriority(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/request-priority.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := launch.ParseRequest(b)
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	if r.Lane() != launch.PriorityHigh || r.SchemaVersion() != 1 || r.Requested() != 50 {
		t.Errorf("lane %q, version %d, requested %d: want high, 1, 50", r.Lane(), r.SchemaVersion(), r.Requested())
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func() launch.Request {
		r := launchtest.ECSRequest("r-1", 25)
		e := launchtest.EC2Request("r-1", 5).EC2
		r.EC2 = e
		return r
	}
	notAfter := launchtest.T0.Add(time.Minute)
	tests := []struct {
		name   string
		mutate func(*launch.Request)
		want   []string // substrings of the error, one per problem; none: valid
	}{
		{"valid", func(*launch.Request) {}, nil},
		{"count zero", func(r *launch.Request) { r.ECS.Count = 0 }, []string{"ecs.count: must be 1..100000, got 0"}},
		{"count too large", func(r *launch.Request) { r.ECS.Count = 100001 }, []string{"ecs.count: must be 1..100000, got 100001"}},
		{"no part", func(r *launch.Request) { r.ECS, r.EC2 = nil, nil }, []string{"ecs, ec2: at least one is required"}},
		{"no request id", func(r *launch.Request) { r.RequestID = "" }, []string{"requestId: required"}},
		{"bad request id", func(r *launch.Request) { r.RequestID = "a b" }, []string{"requestId: must use only"}},
		{"version", func(r *launch.Request) { r.Version = 3 }, []string{"version: must be 1 or 2, got 3"}},
		{"version 2 without new fields", func(r *launch.Request) { r.Version = 2 }, nil},
		{"launch type", func(r *launch.Request) { r.ECS.LaunchType = "LAMBDA" }, []string{`ecs.launchType: must be FARGATE, EC2 or EXTERNAL, got "LAMBDA"`}},
		{"fargate without network", func(r *launch.Request) { r.ECS.NetworkConfiguration = nil }, []string{"ecs.networkConfiguration.awsvpcConfiguration: required for launchType FARGATE"}},
		{"cap", func(r *launch.Request) { r.Caps = &launch.Caps{MaxTasks: 10} }, []string{"ecs.count: must not exceed caps.maxTasks 10, got 25"}},
		{"reserved tag", func(r *launch.Request) { r.ECS.Tags = map[string]string{"th:x": "1"} }, []string{`ecs.tags: key "th:x" uses a reserved prefix`}},
		{"two problems", func(r *launch.Request) { r.EC2.Count = 0; r.EC2.SubnetIDs = []string{"sn-1"} }, []string{
			`ec2.subnetIds[0]: must be a subnet id (subnet-…), got "sn-1"`, "ec2.count: must be 1..10000, got 0"}},
		{"template", func(r *launch.Request) { r.EC2.LaunchTemplate = launch.LaunchTemplate{} }, []string{"ec2.launchTemplate: exactly one of"}},
		{"attempts", func(r *launch.Request) { r.MaxAttempts = 51 }, []string{"maxAttempts: must be 1..50, got 51"}},
		{"deadline", func(r *launch.Request) { r.DeadlineSeconds = -1 }, []string{"deadlineSeconds: must be"}},
		{"not after ok", func(r *launch.Request) { r.Caps = &launch.Caps{NotAfter: &notAfter} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := valid()
			tt.mutate(&r)
			err := r.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var v *launch.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("got %v, want *ValidationError", err)
			}
			if len(v.Problems) != len(tt.want) {
				t.Fatalf("got problems %q, want %d", v.Problems, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(v.Problems[i], w) {
					t.Errorf("problem %d: got %q, want it to contain %q", i, v.Problems[i], w)
				}
			}
		})
	}
}

func TestParseRequestRejectsUnknownField(t *testing.T) {
	t.Parallel()
	_, err := launch.ParseRequest([]byte(`{"requestId":"r","ecs":{"cluster":"c","taskDefinition":"t","cout":3}}`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "cout"`) {
		t.Fatalf("got %v, want an unknown field error", err)
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	r := launchtest.ECSRequest("r", 1)
	if got, want := r.Deadline(launchtest.T0), launchtest.T0.Add(launch.DefaultDeadline); !got.Equal(want) {
		t.Errorf("default: got %v, want %v", got, want)
	}
	r.DeadlineSeconds = 60
	if got, want := r.Deadline(launchtest.T0), launchtest.T0.Add(time.Minute); !got.Equal(want) {
		t.Errorf("60 s: got %v, want %v", got, want)
	}
	na := launchtest.T0.Add(10 * time.Second)
	r.Caps = &launch.Caps{NotAfter: &na}
	if got := r.Deadline(launchtest.T0); !got.Equal(na) {
		t.Errorf("capped: got %v, want %v", got, na)
	}
}
