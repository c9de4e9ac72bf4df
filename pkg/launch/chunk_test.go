package launch

import "testing"

func TestChunkMayBeRunning(t *testing.T) {
	for name, tc := range map[string]struct {
		states []string
		want   bool
	}{
		"no attempt":               {nil, false},
		"answered and refused":     {[]string{AttemptDone, AttemptFailed}, false},
		"one still unknown (sent)": {[]string{AttemptDone, AttemptSent}, true},
		"one settled as unknown":   {[]string{AttemptFailed, AttemptUnknown}, true},
	} {
		c := ChunkState{Attempts: map[int]AttemptRecord{}}
		for i, s := range tc.states {
			c.Attempts[i+1] = AttemptRecord{Attempt: i + 1, State: s}
		}
		if got := c.MayBeRunning(); got != tc.want {
			t.Errorf("%s: MayBeRunning %v, want %v", name, got, tc.want)
		}
	}
}
