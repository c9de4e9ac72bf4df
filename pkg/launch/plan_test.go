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
