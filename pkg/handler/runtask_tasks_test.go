package handler

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// indexByARN derives the unit index and attempt of every task request id
// launched from its chunks (launch.WithChunkRefs), as the tracker and the
// results do.
func indexByARN(t *testing.T, st launchstore.Store, id string) map[string]launch.TaskRef {
	t.Helper()
	ctx := context.Background()
	sr, err := st.Request(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	chunks, _, err := st.Chunks(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]launch.TaskRef{}
	for _, r := range launch.WithChunkRefs(sr, chunks, nil) {
		out[r.ARN] = r.TaskRef
	}
	return out
}

// TestRunTaskRecordsUnitIndex: every launched task has its unit index in
// the chunk's attempts: unit k of a chunk counts the units its lower attempts
// launched, then the position in the answer; instances too (by id).
func TestRunTaskRecordsUnitIndex(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 25), t0)
	e.ecs.respond = func(n int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		if n == 1 { // chunk 1, attempt 1: 6 of 10
			out := e.ecs.launch(6)
			for range 4 {
				out.Failures = append(out.Failures, ecstypes.Failure{Reason: aws.String("RESOURCE:MEMORY")})
			}
			return out, nil
		}
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	for _, in := range []RunTaskInput{{RequestID: "r1", Chunk: 1, Attempt: 1}, {RequestID: "r1", Chunk: 1, Attempt: 2}, {RequestID: "r1", Chunk: 2, Attempt: 1}} {
		if _, err := e.run(t, in); err != nil {
			t.Fatal(err)
		}
	}
	refs := indexByARN(t, e.st, "r1")
	if len(refs) != 15 {
		t.Fatalf("%d task records, want 15", len(refs))
	}
	seen := map[int]bool{}
	for arn, r := range refs {
		seen[r.Index] = true
		if r.Attempt != 1 || r.LaunchedAt.IsZero() || (r.Chunk == 1) != (r.Index >= 10 && r.Index < 20) {
			t.Errorf("%s: %+v", arn, r)
		}
	}
	for i := 10; i < 25; i++ {
		if !seen[i] {
			t.Errorf("no task of unit %d", i)
		}
	}
	// Attempt 2's tasks follow attempt 1's six units.
	for k, arn := range taskARNs(7, 4) { // the fake's tasks 7-10
		if refs[arn].Index != 16+k {
			t.Errorf("attempt 2's task %s: index %d, want %d", arn, refs[arn].Index, 16+k)
		}
	}

	ec := newRunTaskEnv(t)
	r := launchtest.EC2Request("r2", 3)
	plan(t, ec.st, r, t0)
	if _, err := ec.run(t, RunTaskInput{RequestID: "r2", Chunk: 0, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	refs = indexByARN(t, ec.st, "r2")
	if len(refs) != 3 || refs["i-00000001"].Index != 0 || refs["i-00000003"].Index != 2 {
		t.Fatalf("instances: %+v", refs)
	}
}

// taskARNs are the fake ECS's ARNs of its tasks first..first+n-1 (1-based).
func taskARNs(first, n int) []string {
	var out []string
	for k := range n {
		f := &fakeECS{seq: first - 1 + k}
		out = append(out, aws.ToString(f.launch(1).Tasks[0].TaskArn))
	}
	return out
}

// TestEvidenceRecordsUnitIndex: units an expired attempt is settled with
// by evidence have their unit index too (ids sorted: the listing has no
// answer order), including when fewer than asked are found.
func TestEvidenceRecordsUnitIndex(t *testing.T) {
	t.Parallel()
	sc := &scriptECS{hidden: 4, hideLooks: 99}
	e := newScriptEnv(t, sc, func(o *RunTaskOptions) { o.TokenLifetime = time.Hour })
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 4 * 3600
	plan(t, e.st, r, t0)
	e.ecs.loseResponse = map[int]bool{1: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err == nil {
		t.Fatal("lost response: want an error")
	}
	e.clk.Advance(time.Hour)
	_, _ = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true}) // OutcomeUnknown for 4
	refs := indexByARN(t, e.st, "r1")
	arns := slices.Sorted(maps.Keys(refs))
	if len(arns) != 6 {
		t.Fatalf("%d records, want the 6 found", len(arns))
	}
	for k, arn := range arns {
		if refs[arn].Index != k || refs[arn].Attempt != 1 {
			t.Errorf("%s: %+v, want index %d attempt 1", arn, refs[arn], k)
		}
	}
}
