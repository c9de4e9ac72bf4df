package launch

import (
	"fmt"
	"time"
)

// Chunk sizes. ChunkSizeECS is RunTask's own limit (count ≤ 10).
// ChunkSizeEC2 is sized against the RunInstances buckets: requests are the
// scarce bucket (5 burst, 2 per s) and instances are plentiful in burst
// (1,000, 2 per s), so a call should carry many instances; 100 keeps ten
// batches admissible within one instance-bucket burst and bounds what one
// capacity failure or one lost response leaves to retry.
const (
	ChunkSizeECS = 10
	ChunkSizeEC2 = 100
)

// Kind says which API a chunk calls.
type Kind string

// Chunk kinds.
const (
	KindECS Kind = "ecs"
	KindEC2 Kind = "ec2"
)

// Plan is the deterministic split of a request into chunks: ECS chunks take
// indices 0..ECSChunks-1, EC2 chunks follow. Any function recomputes a chunk
// from (request, index); Step Functions carries only indices and counts.
type Plan struct {
	RequestID string    `json:"requestId"`
	Chunks    []int     `json:"chunks"`
	Count     int       `json:"chunkCount"`
	ECSChunks int       `json:"ecsChunks"`
	EC2Chunks int       `json:"ec2Chunks"`
	Deadline  time.Time `json:"deadline"`
}

// ChunkSpec is one chunk: Size units of Kind, starting at unit Offset of
// that kind's count.
type ChunkSpec struct {
	Index  int
	Kind   Kind
	Offset int
	Size   int
}

// NewPlan splits r (already validated) into chunks; deadline is stored with it.
func NewPlan(r Request, deadline time.Time) Plan {
	p := Plan{RequestID: r.RequestID, Deadline: deadline.UTC()}
	p.ECSChunks, p.EC2Chunks = r.chunkCounts()
	p.Count = p.ECSChunks + p.EC2Chunks
	p.Chunks = make([]int, p.Count)
	for i := range p.Chunks {
		p.Chunks[i] = i
	}
	return p
}

// Chunk returns chunk i of r, or an error naming the index if r has no such
// chunk.
func (r Request) Chunk(i int) (ChunkSpec, error) {
	ecsChunks, ec2Chunks := r.chunkCounts()
	switch {
	case i >= 0 && i < ecsChunks:
		size := r.ECSChunkSize()
		off := i * size
		return ChunkSpec{Index: i, Kind: KindECS, Offset: off, Size: min(size, r.ECS.taskCount()-off)}, nil
	case i >= ecsChunks && i < ecsChunks+ec2Chunks:
		off := (i - ecsChunks) * ChunkSizeEC2
		return ChunkSpec{Index: i, Kind: KindEC2, Offset: off, Size: min(ChunkSizeEC2, r.EC2.Count-off)}, nil
	}
	return ChunkSpec{}, fmt.Errorf("chunk: %d is not a chunk of request %q (0..%d)", i, r.RequestID, ecsChunks+ec2Chunks-1)
}

// Requested returns the number of units (tasks plus instances) r asks for.
func (r Request) Requested() int {
	n := 0
	if r.ECS != nil {
		n += r.ECS.taskCount()
	}
	if r.EC2 != nil {
		n += r.EC2.Count
	}
	return n
}

func (r Request) chunkCounts() (ecs, ec2 int) {
	if r.ECS != nil {
		ecs = ceilDiv(r.ECS.taskCount(), r.ECSChunkSize())
	}
	if r.EC2 != nil {
		ec2 = ceilDiv(r.EC2.Count, ChunkSizeEC2)
	}
	return ecs, ec2
}

// ECSChunkSize is the tasks of one ECS chunk: ChunkSizeECS, or 1 for an
// items request. RunTask applies one overrides object to every task of a
// call, so tasks with their own input cost one call each; a chunk of one
// task keeps one attempt record (one conditional write) and one call per
// runtask invocation. The price is the call rate: on Fargate RunTask's
// 20 calls/s, not the 20 tasks/s, then binds (IdealECSMakespan).
func (r Request) ECSChunkSize() int {
	if r.ECS.HasItems() {
		return 1
	}
	return ChunkSizeECS
}

// Token buckets an ECS launch draws on (Amazon ECS Developer Guide:
// "Amazon ECS API request throttling" and "Fargate throttling quotas"):
// RunTask shares the cluster-modify bucket (100 burst, 40/s); on Fargate
// calls are also capped at 20/s and tasks at 100 burst, 20/s.
var (
	bucketRunTask      = bucket{100, 40}
	bucketFargateCalls = bucket{20, 20}
	bucketFargateTasks = bucket{100, 20}
)

type bucket struct{ burst, rate float64 }

func (b bucket) bound(units float64) float64 { return max(0, (units-b.burst)/b.rate) }

// IdealECSMakespan is the benchmark's ideal makespan (simulated seconds)
// of launching tasks at perCall tasks a call: the largest, over the
// buckets drawn on, of (units − burst) / rate. 1,000 Fargate tasks with
// items (1 a call) take (1000 − 20) / 20 = 49 s; without, in 100 calls,
// the task bucket binds: (1000 − 100) / 20 = 45 s.
func IdealECSMakespan(tasks, perCall int, fargate bool) float64 {
	calls := float64(ceilDiv(tasks, perCall))
	t := bucketRunTask.bound(calls)
	if fargate {
		t = max(t, bucketFargateCalls.bound(calls), bucketFargateTasks.bound(float64(tasks)))
	}
	return t
}

// IdealMakespan is IdealECSMakespan for r's ECS part (0 without one).
func (r Request) IdealMakespan() float64 {
	if r.ECS == nil {
		return 0
	}
	return IdealECSMakespan(r.ECS.taskCount(), r.ECSChunkSize(), r.ECS.Fargate())
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
