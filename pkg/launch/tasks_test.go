package launch_test

import (
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

// TestRefFromChunk: a task's unit is the units its chunk's lower attempts
// launched plus its position in its attempt's ids; a task the chunk's
// attempts do not hold (a replacement) has none.
func TestRefFromChunk(t *testing.T) {
	r := launchtest.ECSRequest("r1", 25)
	spec, err := r.Chunk(1) // units 10..19
	if err != nil {
		t.Fatal(err)
	}
	state := launch.ChunkState{Index: 1, LaunchedAt: t0, Attempts: map[int]launch.AttemptRecord{
		// Map order must not matter: attempt 2 follows attempt 1's 3 units.
		2: {Attempt: 2, Launched: 2, IDs: []string{"d", "e"}},
		1: {Attempt: 1, Launched: 3, IDs: []string{"c", "a", "b"}},
		3: {Attempt: 3, State: launch.AttemptFailed},
	}}
	for _, c := range []struct {
		arn   string
		index int
		ok    bool
	}{{"c", 10, true}, {"a", 11, true}, {"b", 12, true}, {"d", 13, true}, {"e", 14, true}, {"replacement", 0, false}} {
		got, ok := launch.RefFromChunk(r, spec, state, c.arn)
		if ok != c.ok || (ok && (got.Index != c.index || got.Attempt != 1 || got.Chunk != 1 || !got.LaunchedAt.Equal(t0))) {
			t.Errorf("%s: %+v %v, want index %d ok %v", c.arn, got, ok, c.index, c.ok)
		}
	}
}

// TestWithChunkRefs: records lacking the launcher's fields get them from
// the chunk, tasks without a record get one, and referenced records are
// left as they are.
func TestWithChunkRefs(t *testing.T) {
	sr := storedOf(launchtest.ECSRequest("r1", 12))
	chunks := []launch.ChunkState{
		{Index: 0, Attempts: map[int]launch.AttemptRecord{1: {Attempt: 1, Launched: 2, IDs: []string{"x", "y"}}}},
		{Index: 1, Attempts: map[int]launch.AttemptRecord{1: {Attempt: 1, Launched: 1, IDs: []string{"z"}}}},
	}
	replacement := launch.TaskRecord{TaskRef: launch.TaskRef{ARN: "w", Index: 1, Attempt: 2, Predecessor: "y"}, Referenced: true}
	observed := launch.TaskRecord{TaskRef: launch.TaskRef{ARN: "x"}, Observation: launch.TaskObservation{ARN: "x", LastStatus: "RUNNING"}}
	got := launch.WithChunkRefs(sr, chunks, []launch.TaskRecord{replacement, observed})
	byARN := map[string]launch.TaskRecord{}
	for _, g := range got {
		byARN[g.ARN] = g
	}
	if len(got) != 4 || got[0].ARN != "w" || got[1].ARN != "x" {
		t.Fatalf("records %+v: want w, x first, then y and z", got)
	}
	for arn, want := range map[string]int{"w": 1, "x": 0, "y": 1, "z": 10} {
		if g := byARN[arn]; !g.Referenced || g.Index != want {
			t.Errorf("%s: %+v, want referenced with index %d", arn, g, want)
		}
	}
	if byARN["x"].Observation.LastStatus != "RUNNING" || byARN["w"].Attempt != 2 {
		t.Errorf("existing fields changed: x %+v, w %+v", byARN["x"], byARN["w"])
	}
}
