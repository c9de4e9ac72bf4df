package launch_test

import (
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"testing"
)

func TestPlanChunks(t *testing.T) {
	t.Parallel()
	r := launchtest.ECSRequest("r", 25)
	r.EC2 = launchtest.EC2Request("r", 250).EC2
	p := launch.NewPlan(r, launchtest.T0)
	if p.ECSChunks != 3 || p.EC2Chunks != 3 || p.Count != 6 || len(p.Chunks) != 6 {
		t.Fatalf("got %+v, want 3 ECS + 3 EC2 chunks", p)
	}
	want := []launch.ChunkSpec{
		{0, launch.KindECS, 0, 10}, {1, launch.KindECS, 10, 10}, {2, launch.KindECS, 20, 5},
		{3, launch.KindEC2, 0, 100}, {4, launch.KindEC2, 100, 100}, {5, launch.KindEC2, 200, 50},
	}
	total := 0
	for i, w := range want {
		got, err := r.Chunk(i)
		if err != nil || got != w {
			t.Errorf("Chunk(%d) = %+v, %v; want %+v", i, got, err, w)
		}
		total += got.Size
	}
	if total != r.Requested() {
		t.Errorf("chunks cover %d units, want %d", total, r.Requested())
	}
	for _, bad := range []int{-1, 6} {
		if _, err := r.Chunk(bad); err == nil {
			t.Errorf("Chunk(%d): got nil error", bad)
		}
	}
}

func TestPlanLargestRequestStaysSmall(t *testing.T) {
	t.Parallel()
	p := launch.NewPlan(launchtest.ECSRequest("r", launch.MaxECSCount), launchtest.T0)
	if p.Count != 10000 {
		t.Fatalf("got %d chunks, want 10000", p.Count)
	}
}

// TestPlanItemsOneTaskPerChunk: RunTask applies one overrides object per
// call, so an items request has one chunk per task.
func TestPlanItemsOneTaskPerChunk(t *testing.T) {
	t.Parallel()
	r := launchtest.ECSRequest("r", 25)
	r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "inputs", Key: "k"}
	r.ECS.ItemContainer = "main"
	r.EC2 = launchtest.EC2Request("r", 150).EC2
	p := launch.NewPlan(r, launchtest.T0)
	if p.ECSChunks != 25 || p.EC2Chunks != 2 || p.Count != 27 {
		t.Fatalf("got %+v, want 25 ECS chunks of one task + 2 EC2", p)
	}
	for i, w := range map[int]launch.ChunkSpec{0: {0, launch.KindECS, 0, 1}, 24: {24, launch.KindECS, 24, 1}, 25: {25, launch.KindEC2, 0, 100}, 26: {26, launch.KindEC2, 100, 50}} {
		if got, err := r.Chunk(i); err != nil || got != w {
			t.Errorf("Chunk(%d) = %+v, %v; want %+v", i, got, err, w)
		}
	}
	if p := launch.NewPlan(launchtest.ECSRequest("r", launch.MaxItems), launchtest.T0); p.Count != 1000 {
		t.Errorf("10,000 tasks without items: got %d chunks, want 1000", p.Count)
	}
}

func TestIdealECSMakespan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tasks   int
		perCall int
		fargate bool
		want    float64
	}{
		{"1000 Fargate items: calls bucket", 1000, 1, true, (1000 - 20) / 20.0},
		{"1000 Fargate tasks in 100 calls: tasks bucket", 1000, 10, true, (1000 - 100) / 20.0},
		{"within the bursts", 100, 10, true, 0},
		{"20 Fargate items: calls burst", 20, 1, true, 0},
		{"1000 EC2-launch items: RunTask bucket", 1000, 1, false, (1000 - 100) / 40.0},
		{"1000 EC2-launch tasks in 100 calls", 1000, 10, false, 0},
		{"10000 Fargate items", 10000, 1, true, (10000 - 20) / 20.0},
	}
	for _, tt := range tests {
		if got := launch.IdealECSMakespan(tt.tasks, tt.perCall, tt.fargate); got != tt.want {
			t.Errorf("%s: got %g, want %g", tt.name, got, tt.want)
		}
	}
	r := launchtest.ECSRequest("r", 1000)
	if got := r.IdealMakespan(); got != 45 {
		t.Errorf("request without items: got %g, want 45", got)
	}
	r.ECS.ItemsFrom = &launch.S3Ref{Bucket: "inputs", Key: "k"}
	if got := r.IdealMakespan(); got != 49 {
		t.Errorf("request with items: got %g, want 49", got)
	}
}
