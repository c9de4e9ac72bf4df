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
	if r.ECS != nil {
		p.ECSChunks = ceilDiv(r.ECS.Count, ChunkSizeECS)
	}
	if r.EC2 != nil {
		p.EC2Chunks = ceilDiv(r.EC2.Count, ChunkSizeEC2)
	}
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
	ecsChunks, ec2Chunks := 0, 0
	if r.ECS != nil {
		ecsChunks = ceilDiv(r.ECS.Count, ChunkSizeECS)
	}
	if r.EC2 != nil {
		ec2Chunks = ceilDiv(r.EC2.Count, ChunkSizeEC2)
	}
	switch {
	case i >= 0 && i < ecsChunks:
		off := i * ChunkSizeECS
		return ChunkSpec{Index: i, Kind: KindECS, Offset: off, Size: min(ChunkSizeECS, r.ECS.Count-off)}, nil
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
		n += r.ECS.Count
	}
	if r.EC2 != nil {
		n += r.EC2.Count
	}
	return n
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
