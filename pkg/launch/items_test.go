package launch_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

// itemsRequest is a valid version-2 request: 3 inline items over a base
// override naming the container "main".
func itemsRequest(t *testing.T) launch.Request {
	t.Helper()
	r := launchtest.ECSRequest("job-1", 3)
	r.WaitForCompletion = true
	r.ECS.Overrides = &launch.TaskOverride{Cpu: "512", ContainerOverrides: []launch.ContainerOverride{
		{Name: "main", Command: []string{"run"}, Environment: map[string]string{"MODE": "batch", "SHARD": "none"}}}}
	r.ECS.Items = []launch.TaskOverride{
		{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Environment: map[string]string{"SHARD": "0"}}}},
		{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Command: []string{"run", "--shard", "1"}}}, Memory: "2048"},
		{},
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("the base items request is invalid: %v", err)
	}
	return r
}

// validationCase mutates itemsRequest; want is a problem's substring, or
// "" for valid.
type validationCase struct {
	name   string
	mutate func(r *launch.Request)
	want   string
}

func runValidationCases(t *testing.T, tests []validationCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := itemsRequest(t)
			tt.mutate(&r)
			checkProblem(t, r.Validate(), tt.want)
		})
	}
}

// parseFile parses a request of testdata.
func parseFile(t *testing.T, name string) launch.Request {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := launch.ParseRequest(b)
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", name, err)
	}
	return r
}

// checkProblem: want "" means valid; else some problem contains want.
func checkProblem(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("got %v, want valid", err)
		}
		return
	}
	var v *launch.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("got %v, want a *ValidationError containing %q", err, want)
	}
	for _, p := range v.Problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Fatalf("problems %q: none contains %q", v.Problems, want)
}

func TestMergeOverrides(t *testing.T) {
	t.Parallel()
	base := launch.TaskOverride{Cpu: "512", Memory: "1024", TaskRoleArn: "arn:role/base", ContainerOverrides: []launch.ContainerOverride{
		{Name: "main", Command: []string{"run"}, Environment: map[string]string{"A": "1", "B": "2"}},
		{Name: "sidecar", Environment: map[string]string{"S": "x"}}}}
	tests := []struct {
		name string
		item launch.TaskOverride
		want launch.TaskOverride
	}{
		{"empty item keeps base", launch.TaskOverride{}, base},
		{"env merged by name, item wins; command kept", launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Environment: map[string]string{"B": "20", "C": "3"}}}},
			launch.TaskOverride{Cpu: "512", Memory: "1024", TaskRoleArn: "arn:role/base", ContainerOverrides: []launch.ContainerOverride{
				{Name: "main", Command: []string{"run"}, Environment: map[string]string{"A": "1", "B": "20", "C": "3"}},
				{Name: "sidecar", Environment: map[string]string{"S": "x"}}}}},
		{"command replaced; cpu and memory replaced", launch.TaskOverride{Cpu: "1024", Memory: "4096", ContainerOverrides: []launch.ContainerOverride{{Name: "main", Command: []string{"other", "x"}}}},
			launch.TaskOverride{Cpu: "1024", Memory: "4096", TaskRoleArn: "arn:role/base", ContainerOverrides: []launch.ContainerOverride{
				{Name: "main", Command: []string{"other", "x"}, Environment: map[string]string{"A": "1", "B": "2"}},
				{Name: "sidecar", Environment: map[string]string{"S": "x"}}}}},
		{"new container appended", launch.TaskOverride{TaskRoleArn: "arn:role/item", ContainerOverrides: []launch.ContainerOverride{{Name: "extra", Command: []string{"go"}}}},
			launch.TaskOverride{Cpu: "512", Memory: "1024", TaskRoleArn: "arn:role/item", ContainerOverrides: []launch.ContainerOverride{
				{Name: "main", Command: []string{"run"}, Environment: map[string]string{"A": "1", "B": "2"}},
				{Name: "sidecar", Environment: map[string]string{"S": "x"}},
				{Name: "extra", Command: []string{"go"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := launch.MergeOverrides(base, tt.item); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestMergeOverridesSharesNothing: merging must not write into the
// request's overrides (every task's merge starts from the same base).
func TestMergeOverridesSharesNothing(t *testing.T) {
	t.Parallel()
	base := launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Command: []string{"run"}, Environment: map[string]string{"A": "1"}}}}
	got := launch.MergeOverrides(base, launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Environment: map[string]string{"A": "2"}}}})
	got.ContainerOverrides[0].Command[0] = "changed"
	if base.ContainerOverrides[0].Environment["A"] != "1" || base.ContainerOverrides[0].Command[0] != "run" {
		t.Fatalf("base changed: %+v", base)
	}
}

// TestItemOverrides: task i gets the merge plus TH_REQUEST_ID and
// TH_ARRAY_INDEX in every named container and in ecs.itemContainer.
func TestItemOverrides(t *testing.T) {
	t.Parallel()
	r := itemsRequest(t)
	r.ECS.ItemContainer = "agent"
	for i, want := range []launch.TaskOverride{
		{Cpu: "512", ContainerOverrides: []launch.ContainerOverride{
			{Name: "main", Command: []string{"run"}, Environment: map[string]string{"MODE": "batch", "SHARD": "0", "TH_REQUEST_ID": "job-1", "TH_ARRAY_INDEX": "0"}},
			{Name: "agent", Environment: map[string]string{"TH_REQUEST_ID": "job-1", "TH_ARRAY_INDEX": "0"}}}},
		{Cpu: "512", Memory: "2048", ContainerOverrides: []launch.ContainerOverride{
			{Name: "main", Command: []string{"run", "--shard", "1"}, Environment: map[string]string{"MODE": "batch", "SHARD": "none", "TH_REQUEST_ID": "job-1", "TH_ARRAY_INDEX": "1"}},
			{Name: "agent", Environment: map[string]string{"TH_REQUEST_ID": "job-1", "TH_ARRAY_INDEX": "1"}}}},
	} {
		got, err := r.ItemOverrides(i)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ItemOverrides(%d) = %+v, %v\nwant %+v", i, got, err, want)
		}
	}
	if r.ECS.Overrides.ContainerOverrides[0].Environment["TH_ARRAY_INDEX"] != "" {
		t.Error("ItemOverrides wrote into ecs.overrides")
	}
	for _, bad := range []int{-1, 3} {
		if _, err := r.ItemOverrides(bad); err == nil {
			t.Errorf("ItemOverrides(%d): got nil error", bad)
		}
	}
}

// TestItemOverridesInjectedWin: a user value for the product's variables
// is replaced (the task must learn its true index).
func TestItemOverridesInjectedWin(t *testing.T) {
	t.Parallel()
	r := itemsRequest(t)
	item := launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Environment: map[string]string{"TH_ARRAY_INDEX": "99"}}}}
	got, err := r.ItemOverridesWith(2, item)
	if err != nil || got.ContainerOverrides[0].Environment["TH_ARRAY_INDEX"] != "2" {
		t.Fatalf("got %+v, %v; want TH_ARRAY_INDEX 2", got, err)
	}
}

// TestItemOverridesWithChecksS3Items: an item read from S3 is checked
// when merged: RunTask's 8 KiB and a container to inject into.
func TestItemOverridesWithChecksS3Items(t *testing.T) {
	t.Parallel()
	r := launchtest.ECSRequest("job-s3", 5)
	r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "inputs", Key: "jobs/1.jsonl"}
	if _, err := r.ItemOverridesWith(0, launch.TaskOverride{}); err == nil || !strings.Contains(err.Error(), "names no container") {
		t.Errorf("no container: got %v", err)
	}
	r.ECS.ItemContainer = "main"
	big := launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Command: []string{strings.Repeat("x", 8200)}}}}
	if _, err := r.ItemOverridesWith(4, big); err == nil || !strings.Contains(err.Error(), "8192") {
		t.Errorf("oversized: got %v", err)
	}
	if _, err := r.ItemOverridesWith(5, launch.TaskOverride{}); err == nil {
		t.Error("index 5 of 5: got nil error")
	}
	if o, err := r.ItemOverridesWith(4, launch.TaskOverride{}); err != nil || o.ContainerOverrides[0].Environment["TH_ARRAY_INDEX"] != "4" {
		t.Errorf("got %+v, %v", o, err)
	}
}

func TestItemsValidation(t *testing.T) {
	t.Parallel()
	item := func(cmdBytes int) launch.TaskOverride {
		return launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "main", Command: []string{strings.Repeat("c", cmdBytes)}}}}
	}
	many := func(n, cmdBytes int) []launch.TaskOverride {
		out := make([]launch.TaskOverride, n)
		for i := range out {
			out[i] = item(cmdBytes)
		}
		return out
	}
	tests := []validationCase{
		{"valid", func(*launch.Request) {}, ""},
		{"count disagrees", func(r *launch.Request) { r.ECS.Count = 4 }, "ecs.count: must equal the number of ecs.items (3), got 4"},
		{"empty items", func(r *launch.Request) { r.ECS.Items = []launch.TaskOverride{}; r.ECS.Count = 0 }, "ecs.items: must have 1..10000 entries, got 0"},
		{"item oversized", func(r *launch.Request) { r.ECS.Items[1] = item(8200) }, "ecs.items[1]: must be at most 8192 bytes as JSON"},
		{"merged oversized", func(r *launch.Request) {
			r.ECS.Overrides.ContainerOverrides[0].Environment["BIG"] = strings.Repeat("b", 5000)
			r.ECS.Items[2] = launch.TaskOverride{ContainerOverrides: []launch.ContainerOverride{{Name: "side", Environment: map[string]string{"X": strings.Repeat("x", 4000)}}}}
		}, "ecs.items[2]: merged with ecs.overrides must be at most 8192 bytes"},
		{"inline items over 200 KB", func(r *launch.Request) { r.ECS.Items = many(30, 7000); r.ECS.Count = 30 }, "put larger arrays in S3 and name them with ecs.itemsFrom"},
		{"no container named", func(r *launch.Request) { r.ECS.Overrides = nil }, "ecs.items[2]: names no container"},
		{"itemContainer names one", func(r *launch.Request) { r.ECS.Overrides = nil; r.ECS.ItemContainer = "main" }, ""},
		{"item container without name", func(r *launch.Request) { r.ECS.Items[0].ContainerOverrides[0].Name = "" }, "ecs.items[0].containerOverrides[0].name: required"},
		{"more than 10000 tasks", func(r *launch.Request) {
			r.ECS.Items = nil
			r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "in", Key: "k"}
			r.ECS.Count = 10001
		}, "ecs.count: must be at most 10000 with items"},
		{"both items and itemsFrom", func(r *launch.Request) { r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "inputs", Key: "k"} }, "ecs.items: must not be set with ecs.itemsFrom"},
		{"itemContainer without items", func(r *launch.Request) { r.ECS.Items = nil; r.ECS.ItemContainer = "main" }, "ecs.itemContainer: only with ecs.items or ecs.itemsFrom"},
		{"itemsFrom without count", func(r *launch.Request) {
			r.ECS.Items = nil
			r.ECS.Count = 0
			r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "inputs", Key: "k"}
		}, "ecs.count: required with ecs.itemsFrom"},
		{"itemsFrom without container", func(r *launch.Request) {
			r.ECS.Items, r.ECS.Overrides = nil, nil
			r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "inputs", Key: "k"}
		}, "ecs.itemContainer: required with ecs.itemsFrom"},
	}
	runValidationCases(t, tests)
}

// TestItemsFromReference: S3's bucket naming rules and the key's length.
func TestItemsFromReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		bucket, key, want string
	}{
		{"inputs", "jobs/2026/1.jsonl", ""},
		{"my.inputs-1", strings.Repeat("k", 1024), ""},
		{"ab", "k", "ecs.itemsFrom.bucket: must be 3..63"},
		{strings.Repeat("a", 64), "k", "ecs.itemsFrom.bucket: must be 3..63"},
		{"Inputs", "k", "ecs.itemsFrom.bucket: must be 3..63 lowercase"},
		{"-inputs", "k", "ecs.itemsFrom.bucket"},
		{"inputs.", "k", "ecs.itemsFrom.bucket"},
		{"in..puts", "k", "ecs.itemsFrom.bucket: must not contain two adjacent periods"},
		{"192.168.5.4", "k", "ecs.itemsFrom.bucket: must not be formatted as an IP address"},
		{"xn--inputs", "k", "ecs.itemsFrom.bucket: uses a prefix or suffix S3 reserves"},
		{"inputs-s3alias", "k", "ecs.itemsFrom.bucket: uses a prefix"},
		{"inputs", "", "ecs.itemsFrom.key: must be 1..1024 bytes, got 0"},
		{"inputs", strings.Repeat("k", 1025), "ecs.itemsFrom.key: must be 1..1024 bytes, got 1025"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20s/%d", tt.bucket, len(tt.key)), func(t *testing.T) {
			t.Parallel()
			r := launchtest.ECSRequest("job-s3", 100)
			r.ECS.ItemsFrom = &launch.S3Ref{Bucket: tt.bucket, Key: tt.key}
			r.ECS.ItemContainer = "main"
			checkProblem(t, r.Validate(), tt.want)
		})
	}
}
